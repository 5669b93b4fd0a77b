//! Everything quayside prints for people and programs, as pure functions of
//! data: the plan in its three forms (`plan`), the verify report (`verify`),
//! the apply summary (`apply`), and the words of refusals and warnings
//! (`words`), chosen here rather than where they are decided. Problems in
//! `releases.toml` render with their diagnostics (`config::diagnostic`).

pub mod apply;
pub mod plan;
pub mod verify;
pub mod words;

/// Problems, refusals and warnings listed one by one in text; past this many
/// the text says how many more there are (a file of 9,000 refused tags must
/// not print megabytes: the plan's JSON form holds them all).
pub(crate) const MAX_LISTED: usize = 200;

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
