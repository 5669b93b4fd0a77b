//! `releases.toml`: raw parsing with spans, validation into the checked model,
//! and diagnostics that point at file, line and column.

pub mod location;
pub mod model;
