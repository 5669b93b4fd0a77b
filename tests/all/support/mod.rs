//! Test harness shared by the integration tests: a real `docker-registry`
//! process per test, an in-process fake registry for misbehaviour the real one
//! cannot show, a counting and fault-injecting proxy, deterministic test images,
//! scratch `releases.toml` directories, and the real Quay with a Clair v4
//! stand-in behind it.

#![allow(dead_code)] // each test module uses a different part of the harness

pub mod clair;
pub mod client;
pub mod fake;
pub mod faults;
pub mod git;
pub mod github;
pub mod images;
pub mod promotion;
pub mod proxy;
pub mod quay;
pub mod quay_promotion;
pub mod rate_limits;
pub mod real_quay;
pub mod registry;
pub mod releases;
pub mod rng;
pub mod seeded;
pub mod tools;
pub mod verifiers;
pub mod watcher;
