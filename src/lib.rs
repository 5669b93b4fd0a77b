//! quayside: releases container images the way terraform changes
//! infrastructure. `releases.toml` declares which digest each release tag must
//! point at; the planner compares it with the live registries; apply copies,
//! signs, and only then tags.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod day;
pub mod digest;
pub mod error;
pub mod exit;
pub mod fsutil;
pub mod history;
pub mod immutability;
pub mod key_files;
pub mod live;
pub mod logging;
pub mod plan;
pub mod progress;
pub mod promote;
pub mod quay;
pub mod registry;
pub mod render;
pub mod scan;
pub mod signing;
pub mod verify;
