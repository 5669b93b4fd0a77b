//! The one integration-test binary: a module per part of quayside, and the
//! shared harness (real registry processes, fake registries, test images).

mod apply_crash;
mod apply_e2e;
mod apply_layout;
mod apply_measure;
mod ci_recipes;
mod distribution;
mod history;
mod independent_verify;
mod layout;
mod plan_cli;
mod quayside;
mod quickstart;
mod scan;
mod signing;
mod support;
mod validate;
