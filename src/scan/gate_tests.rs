//! Tests of the vulnerability gate: each scan status and severity, waivers
//! (active, expired, scoped, unused), multi-platform images; and, through the
//! planner, how its refusals and warnings reach a plan (with `require_rc`
//! edge cases alongside, since they share the create path).

use crate::config::location::RepositoryLocation;
use crate::config::model::{
    Desired, KeySource, Policy, Release, Service, Severity, SigningConfig, SourceLocation, Waiver,
};
use crate::day::Day;
use crate::digest::Digest;
use crate::live::{LiveService, LiveState};
use crate::plan::{ActionKind, Code, Criteria, Plan, Refusal, plan};
use crate::render::words::Style;
use crate::scan::gate::{GateRefusal, WaiverUse, check_image};
use crate::scan::report::{ImageScan, PlatformScan, ScanStatus, Vulnerability};
use std::path::{Path, PathBuf};

const TODAY: &str = "2026-06-15";

fn day(text: &str) -> Day {
    text.parse().unwrap()
}

fn digest(n: u8) -> Digest {
    Digest::of_bytes(&[n])
}

fn vuln(id: &str, severity: Severity) -> Vulnerability {
    Vulnerability {
        id: id.into(),
        severity,
        package: "openssl".into(),
        installed: "3.0.2".into(),
        fixed: Some("3.0.7".into()),
        link: None,
    }
}

fn platform(name: &str, n: u8, status: ScanStatus) -> PlatformScan {
    PlatformScan {
        platform: Some(name.into()),
        digest: digest(n),
        status,
    }
}

fn single(status: ScanStatus) -> ImageScan {
    ImageScan::Platforms(vec![PlatformScan {
        platform: None,
        digest: digest(1),
        status,
    }])
}

fn location(line: u32) -> SourceLocation {
    SourceLocation {
        file: "releases.toml".into(),
        line,
        column: 1,
    }
}

fn waiver(id: &str, service: Option<&str>, expires: Option<&str>, line: u32) -> Waiver {
    Waiver {
        id: id.into(),
        service: service.map(str::to_string),
        reason: "not reachable".into(),
        expires: expires.map(day),
        location: location(line),
    }
}

/// The words of a gate refusal as the text and Markdown forms show them.
fn message(refusal: &GateRefusal) -> String {
    let refusal = Refusal {
        service: "gateway".into(),
        tag: "v1.0.0".into(),
        reason: refusal.reason.clone(),
        location: location(10),
        details: refusal.details.clone(),
    };
    crate::render::words::refusal(&refusal, Style::Marked)
}

fn check(scan: &ImageScan, policy: &Policy) -> Result<(), GateRefusal> {
    check_image(
        "gateway",
        &digest(1),
        Some(scan),
        policy,
        day(TODAY),
        &mut WaiverUse::default(),
    )
}

#[test]
fn a_clean_scan_passes() {
    let scan = single(ScanStatus::Scanned(vec![]));
    assert_eq!(check(&scan, &Policy::default()), Ok(()));
}

#[test]
fn every_status_without_data_is_refused_scan_unavailable() {
    for status in [
        ScanStatus::Queued,
        ScanStatus::Failed,
        ScanStatus::Unsupported,
        ScanStatus::Other("manifest_layer_too_large".into()),
        ScanStatus::Absent("HTTP 404".into()),
    ] {
        let refusal = check(&single(status.clone()), &Policy::default()).unwrap_err();
        assert_eq!(refusal.reason.code(), Code::ScanUnavailable, "{status:?}");
        assert!(
            message(&refusal).contains("single-platform image"),
            "{refusal:?}"
        );
    }
    let unreadable = ImageScan::Unavailable {
        reason: "the source oci:x is an OCI layout".into(),
    };
    let refusal = check(&unreadable, &Policy::default()).unwrap_err();
    assert_eq!(refusal.reason.code(), Code::ScanUnavailable);
    assert!(message(&refusal).contains("OCI layout"));
    let nothing = check_image(
        "gateway",
        &digest(1),
        None,
        &Policy::default(),
        day(TODAY),
        &mut WaiverUse::default(),
    );
    assert_eq!(nothing.unwrap_err().reason.code(), Code::ScanUnavailable);
    let empty = check(&ImageScan::Platforms(vec![]), &Policy::default());
    assert_eq!(empty.unwrap_err().reason.code(), Code::ScanUnavailable);
}

#[test]
fn only_blocked_severities_refuse() {
    for severity in Severity::ALL {
        let scan = single(ScanStatus::Scanned(vec![vuln("CVE-2026-0001", severity)]));
        let result = check(&scan, &Policy::default());
        let blocked = matches!(severity, Severity::Critical | Severity::High);
        assert_eq!(result.is_err(), blocked, "{severity:?}");
        if let Err(refusal) = result {
            assert_eq!(refusal.reason.code(), Code::Vulnerable);
            assert_eq!(refusal.details.len(), 1);
            let finding = &refusal.details[0];
            assert_eq!(finding.id, "CVE-2026-0001");
            assert_eq!(finding.package, "openssl");
            assert_eq!(finding.installed, "3.0.2");
            assert_eq!(finding.fixed.as_deref(), Some("3.0.7"));
            assert!(message(&refusal).contains(severity.name()));
        }
    }
    let policy = Policy {
        block_severities: vec![Severity::Medium],
        ..Policy::default()
    };
    let medium = single(ScanStatus::Scanned(vec![vuln("CVE-1", Severity::Medium)]));
    assert!(check(&medium, &policy).is_err());
    let critical = single(ScanStatus::Scanned(vec![vuln("CVE-2", Severity::Critical)]));
    assert!(
        check(&critical, &policy).is_ok(),
        "the list is exact, not a floor"
    );
}

#[test]
fn one_vulnerable_platform_refuses_the_index_and_is_named() {
    let scan = ImageScan::Platforms(vec![
        platform("linux/amd64", 2, ScanStatus::Scanned(vec![])),
        platform(
            "linux/arm64",
            3,
            ScanStatus::Scanned(vec![vuln("CVE-2026-0002", Severity::Critical)]),
        ),
    ]);
    let refusal = check(&scan, &Policy::default()).unwrap_err();
    assert_eq!(refusal.reason.code(), Code::Vulnerable);
    assert!(message(&refusal).contains("linux/arm64"));
    assert!(!message(&refusal).contains("linux/amd64"));
    assert_eq!(refusal.details[0].platform, "linux/arm64");
    assert_eq!(refusal.details[0].digest, digest(3));
}

#[test]
fn one_unscanned_platform_makes_the_whole_image_unavailable() {
    let scan = ImageScan::Platforms(vec![
        platform("linux/amd64", 2, ScanStatus::Scanned(vec![])),
        platform("linux/arm64", 3, ScanStatus::Queued),
    ]);
    let refusal = check(&scan, &Policy::default()).unwrap_err();
    assert_eq!(refusal.reason.code(), Code::ScanUnavailable);
    assert!(message(&refusal).contains("linux/arm64"));
    assert!(message(&refusal).contains("queued"));
}

#[test]
fn vulnerable_wins_over_unavailable_and_mentions_both() {
    let scan = ImageScan::Platforms(vec![
        platform("linux/amd64", 2, ScanStatus::Failed),
        platform(
            "linux/arm64",
            3,
            ScanStatus::Scanned(vec![vuln("CVE-3", Severity::High)]),
        ),
    ]);
    let refusal = check(&scan, &Policy::default()).unwrap_err();
    assert_eq!(refusal.reason.code(), Code::Vulnerable);
    assert!(message(&refusal).contains("unscanned"));
    assert!(message(&refusal).contains("linux/amd64"));
}

#[test]
fn active_waivers_waive_and_expired_ones_say_so() {
    let scan = single(ScanStatus::Scanned(vec![
        vuln("CVE-2026-0001", Severity::Critical),
        vuln("CVE-2026-0002", Severity::High),
    ]));
    let policy = Policy {
        waivers: vec![
            // Lower case, and valid through its expiry day.
            waiver("cve-2026-0001", None, Some(TODAY), 20),
            waiver("CVE-2026-0002", None, Some("2026-06-14"), 25),
        ],
        ..Policy::default()
    };
    let mut used = WaiverUse::default();
    let refusal = check_image(
        "gateway",
        &digest(1),
        Some(&scan),
        &policy,
        day(TODAY),
        &mut used,
    )
    .unwrap_err();
    assert_eq!(refusal.reason.code(), Code::Vulnerable);
    assert_eq!(refusal.details.len(), 1);
    assert_eq!(refusal.details[0].id, "CVE-2026-0002");
    assert_eq!(refusal.details[0].waiver_expired, Some(day("2026-06-14")));
    assert!(message(&refusal).contains("CVE-2026-0002 expired on 2026-06-14"));
    assert!(
        crate::scan::gate::unused_waivers(&policy, &used, day(TODAY)).is_empty(),
        "an expired waiver that matched is reported in the refusal, not as unused"
    );

    let all_active = Policy {
        waivers: vec![
            waiver("CVE-2026-0001", None, None, 20),
            waiver("CVE-2026-0002", Some("gateway"), Some("2027-01-31"), 25),
        ],
        ..Policy::default()
    };
    assert_eq!(check(&scan, &all_active), Ok(()));
}

#[test]
fn a_waiver_for_another_service_does_not_apply() {
    let scan = single(ScanStatus::Scanned(vec![vuln("CVE-9", Severity::High)]));
    let policy = Policy {
        waivers: vec![waiver("CVE-9", Some("auth"), None, 20)],
        ..Policy::default()
    };
    let mut used = WaiverUse::default();
    let refusal = check_image(
        "gateway",
        &digest(1),
        Some(&scan),
        &policy,
        day(TODAY),
        &mut used,
    );
    assert_eq!(refusal.unwrap_err().reason.code(), Code::Vulnerable);
    let unused = crate::scan::gate::unused_waivers(&policy, &used, day(TODAY));
    assert_eq!(unused.len(), 1);
    assert_eq!(unused[0].service, "auth");
    assert_eq!(unused[0].location.as_ref().unwrap().line, 20);
}

#[test]
fn unused_waivers_warn_and_say_when_they_expired() {
    let policy = Policy {
        waivers: vec![
            waiver("CVE-1", None, None, 20),
            waiver("CVE-2", None, Some("2020-01-01"), 25),
        ],
        ..Policy::default()
    };
    let warnings = crate::scan::gate::unused_waivers(&policy, &WaiverUse::default(), day(TODAY));
    assert_eq!(warnings.len(), 2);
    assert!(warnings.iter().all(|w| w.code() == Code::UnusedWaiver));
    assert!(!crate::render::words::warning(&warnings[0]).contains("expired"));
    assert!(crate::render::words::warning(&warnings[1]).contains("expired on 2020-01-01"));
}

#[test]
fn a_waived_low_severity_id_is_unused() {
    let scan = single(ScanStatus::Scanned(vec![vuln("CVE-5", Severity::Low)]));
    let policy = Policy {
        waivers: vec![waiver("CVE-5", None, None, 20)],
        ..Policy::default()
    };
    let mut used = WaiverUse::default();
    check_image(
        "gateway",
        &digest(1),
        Some(&scan),
        &policy,
        day(TODAY),
        &mut used,
    )
    .unwrap();
    assert_eq!(
        crate::scan::gate::unused_waivers(&policy, &used, day(TODAY)).len(),
        1
    );
}

// ---- through the planner ----

fn release(tag: &str, digest: Digest, line: u32) -> Release {
    Release {
        tag: tag.into(),
        tag_check: crate::config::tag::check_release_tag(tag, &["rc".into(), "beta".into()]),
        digest,
        location: location(line),
    }
}

fn desired(releases: Vec<Release>, policy: Policy) -> Desired {
    let source = RepositoryLocation::parse("quay.io/jordigilh", Path::new(".")).unwrap();
    let target = RepositoryLocation::parse("quay.io/kubernaut", Path::new(".")).unwrap();
    Desired {
        file: "releases.toml".into(),
        base_dir: PathBuf::from("."),
        policy,
        signing: Some(SigningConfig {
            key: Some(KeySource::Env("KEY".into())),
            public_key: None,
            // These tests' signatures are legacy ones.
            formats: vec![crate::config::model::SignatureFormat::Legacy],
            location: location(5),
            key_location: None,
            public_key_location: None,
        }),
        services: vec![Service {
            name: "gateway".into(),
            source: source.child("gateway"),
            target: target.child("gateway"),
            releases,
            location: location(8),
        }],
    }
}

fn live(service: LiveService) -> LiveState {
    LiveState {
        services: [("gateway".to_string(), service)].into_iter().collect(),
        ..LiveState::default()
    }
}

/// Plans `desired` on `today` without a public key.
fn plan_on(desired: &Desired, live: &LiveState, today: &str) -> Plan {
    let criteria = Criteria {
        verifier: None,
        today: day(today),
        strict: false,
    };
    plan(desired, live, None, &criteria)
}

#[test]
fn the_planner_refuses_vulnerable_images_with_details_and_creates_clean_ones() {
    let d = desired(
        vec![
            release("v1.0.0", digest(1), 10),
            release("v1.1.0", digest(2), 11),
        ],
        Policy {
            waivers: vec![waiver("CVE-7", None, None, 30)],
            ..Policy::default()
        },
    );
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    service.source_has.insert(digest(2), true);
    service.scans.insert(
        digest(1),
        ImageScan::Platforms(vec![platform(
            "linux/amd64",
            3,
            ScanStatus::Scanned(vec![vuln("CVE-2026-1111", Severity::Critical)]),
        )]),
    );
    service
        .scans
        .insert(digest(2), single(ScanStatus::Scanned(vec![])));
    let plan = plan_on(&d, &live(service), TODAY);
    assert_eq!(plan.refusals.len(), 1);
    let refusal = &plan.refusals[0];
    assert_eq!(refusal.code(), Code::Vulnerable);
    assert_eq!(refusal.tag, "v1.0.0");
    assert_eq!(refusal.location.line, 10);
    assert_eq!(refusal.details[0].id, "CVE-2026-1111");
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].kind, ActionKind::Create);
    assert_eq!(plan.actions[0].tag, "v1.1.0");
    let unused: Vec<_> = plan
        .warnings
        .iter()
        .filter(|w| w.code() == Code::UnusedWaiver)
        .collect();
    assert_eq!(unused.len(), 1);
    assert_eq!(plan.summary.warnings, plan.warnings.len());

    let text = crate::render::plan::text::render(&plan);
    assert!(
        text.contains("= CVE-2026-1111 (critical) openssl 3.0.2, fixed in 3.0.7, on linux/amd64"),
        "{text}"
    );
    let markdown = crate::render::plan::markdown::render(&plan);
    assert!(
        markdown
            .contains("  - CVE-2026-1111 (critical) openssl 3.0.2, fixed in 3.0.7, on linux/amd64"),
        "{markdown}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&crate::render::plan::json::render(&plan)).unwrap();
    let detail = &json["refusals"][0]["details"][0];
    assert_eq!(detail["severity"], "critical");
    assert_eq!(detail["fixed"], "3.0.7");
    assert_eq!(detail["platform"], "linux/amd64");
}

#[test]
fn with_scanning_off_no_gate_runs_and_waivers_are_not_reported() {
    let d = desired(
        vec![release("v1.0.0", digest(1), 10)],
        Policy {
            vulnerability_source: crate::config::model::VulnerabilitySource::None,
            waivers: vec![waiver("CVE-7", None, None, 30)],
            ..Policy::default()
        },
    );
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    let plan = plan_on(&d, &live(service), TODAY);
    assert_eq!(plan.actions[0].kind, ActionKind::Create);
    let codes: Vec<_> = plan.warnings.iter().map(|w| w.code()).collect();
    assert_eq!(codes, [Code::ScanDisabled]);
}

#[test]
fn the_planner_judges_waivers_on_the_day_it_is_given() {
    let d = desired(
        vec![release("v1.0.0", digest(1), 10)],
        Policy {
            waivers: vec![waiver("CVE-8", None, Some("2999-12-31"), 30)],
            ..Policy::default()
        },
    );
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    service.scans.insert(
        digest(1),
        single(ScanStatus::Scanned(vec![vuln("CVE-8", Severity::High)])),
    );
    let state = live(service);
    assert!(plan_on(&d, &state, TODAY).refusals.is_empty());
    // The day after the waiver's last one.
    assert_eq!(
        plan_on(&d, &state, "3000-01-01").refusals[0].code(),
        Code::Vulnerable
    );
}

#[test]
fn require_rc_counts_only_an_rc_of_the_same_version() {
    let policy = Policy {
        require_rc: true,
        vulnerability_source: crate::config::model::VulnerabilitySource::None,
        ..Policy::default()
    };
    let d = desired(
        vec![
            // A beta of the same version does not count.
            release("v1.0.0-beta1", digest(1), 10),
            release("v1.0.0", digest(1), 11),
            // Another version's rc does not count.
            release("v1.1.0-rc1", digest(2), 12),
            release("v1.2.0", digest(2), 13),
            // The rc of the same version does; a later rc number too.
            release("v2.0.0-rc1", digest(3), 14),
            release("v2.0.0-rc2", digest(4), 15),
            release("v2.0.0", digest(4), 16),
            // The same version's rc on another digest does not count.
            release("v3.0.0-rc1", digest(5), 17),
            release("v3.0.0", digest(6), 18),
        ],
        policy,
    );
    let mut service = LiveService::default();
    for n in 1..=6 {
        service.source_has.insert(digest(n), true);
    }
    let plan = plan_on(&d, &live(service), TODAY);
    let refused: Vec<(&str, Code)> = plan
        .refusals
        .iter()
        .map(|r| (r.tag.as_str(), r.code()))
        .collect();
    assert_eq!(
        refused,
        [
            ("v1.0.0", Code::RcRequired),
            ("v1.2.0", Code::RcRequired),
            ("v3.0.0", Code::RcRequired),
        ]
    );
    assert!(crate::render::words::refusal(&plan.refusals[0], Style::Marked).contains("v1.0.0-rcN"));
    assert_eq!(plan.summary.create, 6);
}
