//! Test harness shared by the integration tests: a real `docker-registry`
//! process per test, an in-process fake registry for misbehaviour the real one
//! cannot show, and deterministic test images.

#![allow(dead_code)] // each test module uses a different part of the harness

pub mod fake;
pub mod images;
pub mod promotion;
pub mod proxy;
pub mod quay;
pub mod registry;
pub mod watcher;
