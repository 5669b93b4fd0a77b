//! The one integration-test binary: each module tests one part of quayside.

mod layout;
mod quickstart;
mod signing;
