//! Everything quayside prints for people and programs, as pure functions of
//! data: the plan in its three forms (`plan`).

pub mod plan;

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
