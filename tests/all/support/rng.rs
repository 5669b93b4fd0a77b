//! Seeded randomness for tests, so that a failure reproduces from its seed:
//! a tiny xorshift generator for the mutation loops, and kill points drawn
//! with `rand`'s `StdRng` for the crash tests.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use std::collections::BTreeSet;

/// xorshift64: deterministic and dependency-free; the seed must not be 0.
pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `points` distinct kill points in `1..=total`, drawn from `seed`, sorted.
pub fn seeded_points(seed: u64, total: u64, points: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut at = BTreeSet::new();
    while (at.len() as u64) < points.min(total) {
        at.insert(rng.gen_range(1..=total));
    }
    at.into_iter().collect()
}
