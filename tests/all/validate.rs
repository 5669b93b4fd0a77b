//! `releases.toml` end to end: loading files, rendered diagnostics
//! (snapshots), and robustness against hostile input.

use quayside::config::location::RepositoryLocation;
use quayside::config::model::{KeySource, Severity};
use quayside::config::{LoadError, load, parse_str, tag_diagnostics, validate_file};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// Reads a fixture and parses it under a stable display name, so snapshots
/// do not depend on where the checkout lives.
fn parse_fixture(
    name: &str,
) -> Result<quayside::config::model::Desired, quayside::config::Diagnostics> {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_default();
    parse_str(&text, &format!("fixtures/{name}"), Path::new("fixtures"))
}

#[test]
fn valid_fixture_loads_with_paths_from_its_folder() {
    let path = fixture("valid.toml");
    let desired = match load(&path) {
        Ok(desired) => desired,
        Err(e) => panic!("valid.toml must load:\n{e}"),
    };
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config");
    assert_eq!(desired.base_dir, folder);
    let names: Vec<&str> = desired.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gateway", "data-storage", "alpha"]);

    let gateway = &desired.services[0];
    assert_eq!(gateway.source.reference(), "quay.io/jordigilh/gateway");
    assert_eq!(gateway.target.reference(), "quay.io/kubernaut/gateway");
    let tags: Vec<&str> = gateway.releases.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, ["v1.0.0-rc1", "v1.0.0"]);
    assert!(gateway.releases.iter().all(|r| r.tag_check.is_ok()));

    let storage = &desired.services[1];
    assert_eq!(
        storage.source.reference(),
        "127.0.0.1:5001/dev/data-storage"
    );
    match &storage.target {
        RepositoryLocation::Layout { dir, written } => {
            assert_eq!(written, "oci:mirror/data-storage");
            assert_eq!(dir, &desired.base_dir.join("mirror/data-storage"));
        }
        other => panic!("expected a layout, got {other:?}"),
    }

    let policy = &desired.policy;
    assert!(policy.require_rc);
    assert_eq!(
        policy.block_severities,
        [Severity::Critical, Severity::High]
    );
    assert_eq!(policy.quay_api.as_deref(), Some("https://quay.io"));
    assert_eq!(policy.waivers.len(), 2);
    assert_eq!(
        policy.waivers[0].expires.map(|d| d.to_string()).as_deref(),
        Some("2027-01-31")
    );
    let Some(signing) = &desired.signing else {
        panic!("signing lost")
    };
    assert_eq!(
        signing.key,
        Some(KeySource::Env("COSIGN_PRIVATE_KEY".into()))
    );
    assert_eq!(
        signing.public_key,
        Some(desired.base_dir.join("keys/cosign.pub"))
    );
    assert!(tag_diagnostics(&desired).is_empty());
}

#[test]
fn five_mistakes_are_all_reported_with_locations() {
    let Err(diagnostics) = parse_fixture("five-mistakes.toml") else {
        panic!("five-mistakes.toml must be refused");
    };
    assert_eq!(
        diagnostics.codes(),
        [
            "unknown-key",
            "invalid-severity",
            "invalid-service-name",
            "source-is-target",
            "invalid-digest"
        ]
    );
    insta::assert_snapshot!(diagnostics.to_string());
}

#[test]
fn invalid_tags_render_as_errors_for_validate() {
    let desired = match parse_fixture("invalid-tags.toml") {
        Ok(desired) => desired,
        Err(e) => panic!("invalid tags must not fail parsing:\n{e}"),
    };
    let items = tag_diagnostics(&desired);
    let rendered = quayside::config::Diagnostics {
        file: desired.file.clone(),
        source: std::fs::read_to_string(fixture("invalid-tags.toml")).unwrap_or_default(),
        items,
    };
    insta::assert_snapshot!(rendered.to_string());
}

#[test]
fn validate_file_reports_invalid_tags_as_errors() {
    let path = fixture("invalid-tags.toml");
    match validate_file(&path) {
        Err(LoadError::Invalid(d)) => assert_eq!(d.codes(), ["invalid-tag", "invalid-tag"]),
        other => panic!("expected two invalid-tag errors, got {other:?}"),
    }
    assert!(
        load(&path).is_ok(),
        "load keeps invalid tags for the planner"
    );
    assert!(validate_file(&fixture("valid.toml")).is_ok());
}

#[test]
fn syntax_error_is_one_diagnostic() {
    let Err(diagnostics) = parse_str(
        "version = 1\n[services.gateway\n",
        "releases.toml",
        Path::new("."),
    ) else {
        panic!("broken TOML accepted");
    };
    insta::assert_snapshot!(diagnostics.to_string());
}

#[test]
fn non_utf8_is_reported_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("releases.toml");
    std::fs::write(&path, b"version = 1\n# caf\xc3\xa9 ok\nx = \"\xff\"\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    match load(&path) {
        Err(LoadError::Invalid(d)) => {
            let item = &d.items[0];
            assert_eq!(item.code, "invalid-utf8");
            assert_eq!((item.location.line, item.location.column), (3, 6));
            assert!(item.message.contains("0xff"));
        }
        other => panic!("expected invalid-utf8, got {other:?}"),
    }
}

#[test]
fn unreadable_file_says_what_to_do() {
    let err = load(Path::new("/nonexistent/releases.toml"));
    let Err(err @ LoadError::Io { .. }) = err else {
        panic!("expected an I/O error");
    };
    let message = err.to_string();
    assert!(message.contains("/nonexistent/releases.toml"), "{message}");
    assert!(message.contains("-f"), "{message}");
}

#[test]
fn relative_file_name_gets_dot_as_base_dir() {
    // `load("releases.toml")` must resolve from ".", not from "".
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("releases.toml");
    std::fs::write(&path, "version = 1\n").unwrap_or_else(|e| panic!("write: {e}"));
    let Ok(desired) = load(&path) else {
        panic!("minimal file refused")
    };
    assert_eq!(desired.base_dir, dir.path());
    assert_eq!(desired.file, path.display().to_string());
}

mod robustness {
    //! No input may panic, hang or overflow the stack.

    use super::*;
    use crate::support::rng::Xorshift;

    fn survive(text: &str) {
        match parse_str(text, "fuzz.toml", Path::new(".")) {
            // Rendering must survive too (odd locations, odd characters).
            Err(diagnostics) => drop(diagnostics.to_string()),
            Ok(desired) => drop(tag_diagnostics(&desired)),
        }
        if let Err(diagnostics) = quayside::config::validate_str(text, "fuzz.toml", Path::new("."))
        {
            drop(diagnostics.to_string());
        }
    }

    #[test]
    fn mutations_of_a_valid_file() {
        let valid = std::fs::read_to_string(fixture("valid.toml")).unwrap_or_default();
        assert!(!valid.is_empty());
        let alphabet: Vec<char> = "[]{}=\"'.,#\n\\ -_:0aZé\u{0}\t".chars().collect();
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..400 {
            let mut chars: Vec<char> = valid.chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len());
                match rng.below(3) {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => chars[at] = alphabet[rng.below(alphabet.len())],
                }
            }
            survive(&chars.into_iter().collect::<String>());
        }
    }

    #[test]
    fn random_bytes() {
        let mut rng = Xorshift(42);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for i in 0..200 {
            let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            survive(&String::from_utf8_lossy(&bytes));
            if i % 20 == 0 {
                let path = dir.path().join(format!("{i}.toml"));
                std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
                if let Err(LoadError::Invalid(d)) = load(&path) {
                    let _ = d.to_string();
                }
            }
        }
    }

    #[test]
    fn deep_nesting() {
        let depth = 10_000;
        let arrays = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        survive(&arrays);
        let tables = format!("a = {}{}\n", "{b = ".repeat(depth), "}".repeat(depth));
        survive(&tables);
        let dotted = format!("{} = 1\n", vec!["k"; depth].join("."));
        survive(&dotted);
        let tag = format!(
            "version = 1\n[services.a]\nsource = \"oci:a\"\ntarget = \"oci:b\"\n[services.a.releases]\n{} = \"x\"\n",
            vec!["v"; depth].join(".")
        );
        survive(&tag);
    }

    #[test]
    fn five_megabyte_file() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut text = String::from(
            "version = 1\n[services.big]\nsource = \"oci:a\"\ntarget = \"oci:b\"\n[services.big.releases]\n",
        );
        let mut n = 0;
        while text.len() < 5 * 1024 * 1024 {
            text.push_str(&format!("\"v1.0.{n}\" = \"{digest}\"\n"));
            n += 1;
        }
        let Ok(desired) = parse_str(&text, "big.toml", Path::new(".")) else {
            panic!("a big valid file must parse");
        };
        assert_eq!(desired.services[0].releases.len(), n);
        // The same size as one line with an error at its end.
        let line = format!("version = 1\nx = \"{}\"\n", "y".repeat(5 * 1024 * 1024));
        let Err(d) = parse_str(&line, "big.toml", Path::new(".")) else {
            panic!("unknown key accepted");
        };
        assert!(
            d.to_string().len() < 2_000,
            "a huge line must not be echoed in full"
        );
    }
}
