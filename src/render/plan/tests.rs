//! The plan's three forms over plans that hold every kind of refusal and
//! warning, made by the planner from a `releases.toml` and a live state:
//! snapshots of each form, and the properties the forms promise.

use crate::config::model::{Desired, Severity, SourceLocation};
use crate::digest::Digest;
use crate::live::{ImageSignatures, LiveService, LiveState, ManifestSignatures};
use crate::plan::{Criteria, HistoryCheck, Plan, Refusal, RefusalReason, SavedPlan, plan};
use crate::render::plan::{json, markdown, text};
use crate::scan::{ImageScan, PlatformScan, ScanStatus, Vulnerability};
use crate::signing::SignatureEntry;
use std::path::Path;

fn digest(n: u8) -> Digest {
    Digest::of_bytes(&[n])
}

/// Accepts an entry whose signature text is `good`.
struct Accepts;

impl crate::plan::SignatureCheck for Accepts {
    fn accepts(&self, entry: &SignatureEntry, _: &Digest, _: &str) -> bool {
        entry.signature == "good"
    }

    fn accepts_bundle(&self, bundle: &[u8], _: &Digest, _: &str) -> bool {
        bundle == b"good"
    }
}

fn desired(policy: &str, signing: &str, releases: &[(&str, u8)]) -> Desired {
    let releases: String = releases
        .iter()
        .map(|(tag, n)| format!("\"{tag}\" = \"{}\"\n", digest(*n)))
        .collect();
    let text = format!(
        "version = 1\n[registries]\nsource = \"quay.io/jordigilh\"\ntarget = \"quay.io/kubernaut\"\n{policy}{signing}[services.gateway.releases]\n{releases}"
    );
    crate::config::parse_str(&text, "releases.toml", Path::new(".")).expect("a valid test file")
}

fn live(service: LiveService) -> LiveState {
    LiveState {
        services: [("gateway".to_string(), service)].into_iter().collect(),
        ..LiveState::default()
    }
}

fn tagged(service: &mut LiveService, tag: &str, n: u8, signature: &str) {
    service.target_tags.insert(tag.into());
    service.declared_tags.insert(tag.into(), digest(n));
    let entries = vec![SignatureEntry {
        payload: Default::default(),
        signature: signature.into(),
    }];
    service.signatures.insert(
        digest(n),
        ImageSignatures {
            manifests: vec![ManifestSignatures {
                digest: digest(n),
                entries,
            }],
            listed_children: Vec::new(),
            // Signed in both formats, or in neither.
            bundles: Some(vec![bytes::Bytes::from(signature.to_string())]),
        },
    );
}

fn platform(name: &str, n: u8, status: ScanStatus) -> PlatformScan {
    PlatformScan {
        platform: Some(name.into()),
        digest: digest(n),
        status,
    }
}

fn vulnerability(id: &str, severity: Severity, fixed: Option<&str>) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        severity,
        package: "openssl".into(),
        installed: "3.0.2".into(),
        fixed: fixed.map(str::to_string),
        link: Some(format!("https://example.invalid/{id}")),
    }
}

/// A plan with every refusal the planner, the gate and the history rules
/// make, and the warnings of a scanning policy.
fn every_refusal() -> Plan {
    let policy = "[policy]\nrequire_rc = true\n\
        [[policy.waivers]]\nid = \"CVE-2026-0002\"\nreason = \"accepted once\"\nexpires = 2026-01-31\n\
        [[policy.waivers]]\nid = \"CVE-1999-0001\"\nservice = \"gateway\"\nreason = \"left over\"\n";
    let signing = "[signing]\nkey = \"env:COSIGN_PRIVATE_KEY\"\npublic_key = \"cosign.pub\"\n";
    let desired = desired(
        policy,
        signing,
        &[
            ("v1.0.0", 1),
            ("v1.1.0", 2),
            ("v0.9.0", 3),
            ("v1.2.0", 4),
            ("latest", 5),
            ("v1.3.0-rc1", 6),
            ("v1.3.0", 6),
            ("v1.4.0-rc1", 7),
            ("v1.5.0-rc1", 8),
            ("v2.0.0", 10),
            ("v1.6.0-rc1", 11),
            ("v1.7.0-rc1", 12),
            ("v1.8.0-rc1", 13),
        ],
    );
    let mut service = LiveService::default();
    tagged(&mut service, "v1.0.0", 1, "good");
    tagged(&mut service, "v1.1.0", 2, "stale");
    tagged(&mut service, "v0.9.0", 9, "good");
    service.target_tags.extend([
        "v0.1.0".to_string(),
        "v0.5.0".to_string(),
        digest(1).signature_tag(),
    ]);
    for n in [5, 6, 7, 8, 10, 11, 12, 13] {
        service.source_has.insert(digest(n), true);
    }
    service.source_has.insert(digest(4), false);
    let clean = ScanStatus::Scanned(Vec::new());
    service.scans.insert(
        digest(6),
        ImageScan::Platforms(vec![platform("linux/amd64", 60, clean)]),
    );
    service.scans.insert(
        digest(7),
        ImageScan::Platforms(vec![
            platform(
                "linux/amd64",
                70,
                ScanStatus::Scanned(vec![
                    vulnerability("CVE-2026-0001", Severity::Critical, Some("3.0.7")),
                    vulnerability("CVE-2026-0002", Severity::High, None),
                    vulnerability("CVE-2026-0003", Severity::Low, None),
                ]),
            ),
            platform("linux/arm64", 71, ScanStatus::Queued),
        ]),
    );
    service.scans.insert(
        digest(8),
        ImageScan::Platforms(vec![
            platform("linux/amd64", 80, ScanStatus::Failed),
            PlatformScan {
                platform: None,
                digest: digest(81),
                status: ScanStatus::Other("manifest_layer_too_large".into()),
            },
        ]),
    );
    service.scans.insert(
        digest(12),
        ImageScan::Unavailable {
            reason: "quay.io/jordigilh is not a Quay `namespace/repository` path".into(),
        },
    );
    service
        .scans
        .insert(digest(13), ImageScan::Platforms(Vec::new()));

    let history = HistoryCheck {
        base: "0123456789abcdef0123456789abcdef01234567".into(),
        revision: Some("89abcdef0123456789abcdef0123456789abcdef".into()),
        refusals: vec![
            history_refusal(
                "v0.8.0",
                RefusalReason::Changed {
                    base: "0123456".into(),
                    was: digest(20),
                    now: digest(21),
                },
            ),
            history_refusal(
                "v0.7.0",
                RefusalReason::Removed {
                    base: "0123456".into(),
                    digest: digest(22),
                },
            ),
        ],
        not_checked: 2,
        left_out: [(
            ("gateway".to_string(), "v0.5.0".to_string()),
            crate::digest::Digest::of_bytes(b"v0.5.0"),
        )]
        .into(),
    };
    let criteria = Criteria {
        verifier: Some(&Accepts),
        today: "2026-06-15".parse().unwrap(),
        strict: false,
    };
    plan(&desired, &live(service), Some(&history), &criteria)
}

fn history_refusal(tag: &str, reason: RefusalReason) -> Refusal {
    Refusal {
        service: "gateway".into(),
        tag: tag.into(),
        reason,
        location: SourceLocation {
            file: "releases.toml@0123456".into(),
            line: 9,
            column: 1,
        },
        details: Vec::new(),
    }
}

/// `--strict` without a signing key or a public key, scanning off: the
/// warnings refused under their own codes, and both `unsigned` refusals.
fn strict_without_keys() -> Plan {
    let policy = "[policy]\nvulnerability_source = \"none\"\n";
    let desired = desired(policy, "", &[("v1.0.0", 1), ("v1.1.0", 2)]);
    let mut service = LiveService::default();
    tagged(&mut service, "v1.0.0", 1, "good");
    service.target_tags.insert("v0.1.0".into());
    service.source_has.insert(digest(2), true);
    let criteria = Criteria {
        verifier: None,
        today: "2026-06-15".parse().unwrap(),
        strict: true,
    };
    plan(&desired, &live(service), None, &criteria)
}

#[test]
fn every_refusal_in_every_form() {
    let plan = every_refusal();
    let codes: Vec<&str> = plan.refusals.iter().map(|r| r.code().name()).collect();
    assert_eq!(
        codes,
        [
            "changed",
            "removed",
            "retag",
            "source-missing",
            "invalid-tag",
            "vulnerable",
            "scan-unavailable",
            "rc-required",
            "scan-unavailable",
            "scan-unavailable",
            "scan-unavailable",
        ]
    );
    insta::assert_snapshot!("every_refusal_text", text::render(&plan));
    insta::assert_snapshot!("every_refusal_markdown", markdown::render(&plan));
    insta::assert_snapshot!("every_refusal_json", json::render(&plan));
}

#[test]
fn strict_refusals_in_every_form() {
    let plan = strict_without_keys();
    assert!(plan.warnings.is_empty());
    insta::assert_snapshot!("strict_text", text::render(&plan));
    insta::assert_snapshot!("strict_markdown", markdown::render(&plan));
    insta::assert_snapshot!("strict_json", json::render(&plan));
}

#[test]
fn json_messages_are_plain_words() {
    for plan in [every_refusal(), strict_without_keys()] {
        let form: serde_json::Value = serde_json::from_str(&json::render(&plan)).unwrap();
        let messages = ["refusals", "warnings"]
            .iter()
            .flat_map(|list| form[list].as_array().unwrap())
            .map(|item| item["message"].as_str().unwrap());
        for message in messages {
            assert!(!message.contains('`'), "{message}");
        }
    }
}

#[test]
fn apply_reads_back_what_the_json_form_saved() {
    let plan = every_refusal();
    let saved: SavedPlan = serde_json::from_str(&json::render(&plan)).unwrap();
    assert_eq!(saved.schema, plan.schema);
    assert_eq!(saved.file, plan.file);
    assert_eq!(saved.actions, plan.actions);
}

#[test]
fn thousands_of_refusals_do_not_print_megabytes_of_text() {
    let tags: Vec<String> = (0..9_000).map(|i| format!("build-{i}")).collect();
    let releases: Vec<(&str, u8)> = tags.iter().map(|tag| (tag.as_str(), 1)).collect();
    let desired = desired("", "", &releases);
    let criteria = Criteria {
        verifier: None,
        today: crate::day::Day::from_ymd(2026, 12, 1).unwrap(),
        strict: false,
    };
    let plan = plan(&desired, &live(LiveService::default()), None, &criteria);
    assert_eq!(plan.refusals.len(), 9_000);
    let text = text::render(&plan);
    assert!(text.len() < 100_000, "{} bytes", text.len());
    assert!(
        text.contains(
            "… 8800 more refusals not listed; `quayside plan --format json` lists them all."
        ),
        "{text}"
    );
    assert!(
        text.contains("8800 more refused releases not listed"),
        "{text}"
    );
    assert!(text.contains("9000 refused"), "{text}");
}
