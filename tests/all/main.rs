//! The one integration-test binary: a module per part of quayside, and the
//! shared harness (real registry processes, fake registries, test images).

mod apply_layout;
mod ci_recipes;
mod distribution;
mod history;
mod hostile;
mod hostile_bytes;
mod layout;
mod plan_cli;
mod quayside;
mod quickstart;
mod scan;
mod secrets;
mod signing;
mod support;
mod validate;
