//! The one integration-test binary: each module tests one part of quayside.

mod layout;
mod plan_cli;
mod quayside;
mod quickstart;
mod signing;
mod validate;
