//! The single integration-test binary: one module per part of quayside.

mod validate;
