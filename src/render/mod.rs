//! Everything quayside prints for people and programs, as pure functions of
//! data: the plan in its three forms (`plan`), the verify report (`verify`),
//! the apply summary (`apply`), and the words of refusals and warnings
//! (`words`), chosen here rather than where they are decided.

pub mod apply;
pub mod plan;
pub mod verify;
pub mod words;

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
