//! The one integration-test binary: a module per part of quayside, and the
//! shared harness (real registry processes, fake registries, test images).

mod apply_copy;
mod apply_crash;
mod apply_e2e;
mod apply_faults;
mod apply_layout;
mod apply_lying;
mod apply_measure;
mod apply_race;
mod broken_body;
mod ci_recipes;
mod ci_script;
mod credentials;
mod distribution;
mod history;
mod hostile;
mod hostile_bytes;
mod independent_verify;
mod layout;
mod missing_tools;
mod plan_bench;
mod plan_cli;
mod plan_faults;
mod plan_registry;
mod plan_requests;
mod plan_signature_depth;
mod quay_crash;
mod quay_flows;
mod quay_scan;
mod quayside;
mod quickstart;
mod scan;
mod secrets;
mod signing;
mod support;
mod validate;
