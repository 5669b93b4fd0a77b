//! The one integration-test binary: a module per part of quayside, and the
//! shared harness (real registry processes, fake registries, test images).

mod distribution;
mod layout;
mod plan_bench;
mod plan_cli;
mod plan_faults;
mod plan_registry;
mod plan_requests;
mod quayside;
mod quickstart;
mod signing;
mod support;
mod validate;
