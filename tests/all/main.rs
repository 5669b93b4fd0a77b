//! The one integration-test binary: a module per part of quayside, and the
//! shared harness (real registry processes, fake registries, test images).

mod apply_crash;
mod apply_e2e;
mod apply_measure;
mod distribution;
mod independent_verify;
mod layout;
mod plan_cli;
mod quayside;
mod quickstart;
mod signing;
mod support;
mod validate;
