//! quayside: releases container images the way terraform changes
//! infrastructure. `releases.toml` declares which digest each release tag must
//! point at; the planner compares it with the live registries; apply copies,
//! signs, and only then tags.

pub mod config;
pub mod digest;
pub mod registry;
pub mod signing;
