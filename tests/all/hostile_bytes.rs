//! The stable-toolchain counterpart of the `fuzz/` targets, run by every
//! `cargo test`: the checked-in fuzz seeds for the manifest and cosign
//! payload parsers, mutated by a seeded generator, must give errors, never a
//! panic. (`releases.toml` has its own in `validate::robustness`.)

use crate::support::rng::Xorshift;
use bytes::Bytes;
use quayside::registry::RawManifest;
use quayside::signing::Payload;
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Byte-level mutations that JSON parsers find hard: flips, JSON punctuation,
/// deletions, duplications of a slice, truncation, huge numbers.
fn mutate(rng: &mut Xorshift, input: &[u8]) -> Vec<u8> {
    const TOKENS: [&[u8]; 10] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b"null",
        b"1e999999",
        b"\\u0000",
    ];
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 if at < out.len() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 if at < out.len() => {
                let end = (at + rng.below(64)).min(out.len());
                let slice = out[at..end].to_vec();
                out.splice(at..at, slice);
            }
            4 => out.truncate(at),
            _ => out.insert(at.min(out.len()), rng.next() as u8),
        }
    }
    out
}

fn manifest(data: &[u8]) {
    const MEDIA_TYPES: [Option<&str>; 3] = [
        None,
        Some("application/vnd.oci.image.index.v1+json"),
        Some("application/vnd.docker.distribution.manifest.v2+json"),
    ];
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let media_type = MEDIA_TYPES[usize::from(pick) % MEDIA_TYPES.len()];
    if let Ok(m) = RawManifest::from_bytes(Bytes::copy_from_slice(body), media_type) {
        match m.kind() {
            Ok(kind) => drop(format!("{kind:?}")),
            Err(error) => drop(error.to_string()),
        }
    }
}

#[test]
fn mutated_manifests_are_errors_not_panics() {
    let seeds = seeds("manifest_parse");
    let mut rng = Xorshift(0x005e_ed0f_c0ff_ee00);
    for seed in &seeds {
        manifest(seed);
    }
    for _ in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        manifest(&mutate(&mut rng, seed));
    }
    // Deep nesting must not overflow the stack.
    let deep = format!("\u{1}{}{}", "[".repeat(100_000), "]".repeat(100_000));
    manifest(deep.as_bytes());
}

#[test]
fn mutated_cosign_payloads_are_errors_not_panics() {
    let seeds = seeds("payload_parse");
    assert!(
        seeds.iter().all(|s| Payload::parse(s).is_ok()),
        "the seeds are valid payloads"
    );
    let mut rng = Xorshift(0xdead_beef_1234);
    for _ in 0..20_000 {
        let seed = &seeds[rng.below(seeds.len())];
        match Payload::parse(&mutate(&mut rng, seed)) {
            Ok(payload) => drop(format!("{payload:?}")),
            Err(error) => drop(error.to_string()),
        }
    }
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert!(Payload::parse(deep.as_bytes()).is_err());
}
