//! Unit tests of the planner: one per rule and per code.

use crate::config::location::RepositoryLocation;
use crate::config::model::{
    Desired, KeySource, Policy, Release, Service, SigningConfig, SourceLocation,
    VulnerabilitySource,
};
use crate::digest::Digest;
use crate::live::{
    ImageSignatures, LiveService, LiveState, ManifestSignatures, SignatureTagPresence,
};
use crate::plan::{
    ActionKind, Code, Criteria, Plan, Refusal, SignatureCheck, Warning, WarningReason, plan,
};
use crate::signing::SignatureEntry;
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// Accepts an entry whose signature text is `good:<digest>:<identity>`, so
/// that planner tests exercise the rules, not the cryptography (which the
/// signing module tests).
struct FakeVerifier;

impl SignatureCheck for FakeVerifier {
    fn accepts(&self, entry: &SignatureEntry, digest: &Digest, identity: &str) -> bool {
        entry.signature == format!("good:{digest}:{identity}")
    }
}

fn digest(n: u8) -> Digest {
    Digest::of_bytes(&[n])
}

fn good(digest: &Digest) -> SignatureEntry {
    SignatureEntry {
        payload: Bytes::new(),
        signature: format!("good:{digest}:127.0.0.1:5000/prod/gateway"),
    }
}

fn release(tag: &str, digest: Digest, line: u32) -> Release {
    let tag_check = crate::config::tag::check_release_tag(tag, &["rc".into(), "beta".into()]);
    Release {
        tag: tag.into(),
        tag_check,
        digest,
        location: SourceLocation {
            file: "releases.toml".into(),
            line,
            column: 1,
        },
    }
}

fn desired(releases: Vec<Release>) -> Desired {
    let base = RepositoryLocation::parse("http://127.0.0.1:5000/dev", Path::new(".")).unwrap();
    let target = RepositoryLocation::parse("http://127.0.0.1:5000/prod", Path::new(".")).unwrap();
    Desired {
        file: "releases.toml".into(),
        base_dir: PathBuf::from("."),
        policy: Policy {
            vulnerability_source: VulnerabilitySource::None,
            ..Policy::default()
        },
        signing: Some(SigningConfig {
            key: Some(KeySource::Env("KEY".into())),
            public_key: Some(PathBuf::from("cosign.pub")),
            // These tests' signatures are legacy ones.
            formats: vec![crate::config::model::SignatureFormat::Legacy],
            location: SourceLocation {
                file: "releases.toml".into(),
                line: 5,
                column: 1,
            },
            key_location: None,
            public_key_location: None,
        }),
        services: vec![Service {
            name: "gateway".into(),
            source: base.child("gateway"),
            target: target.child("gateway"),
            releases,
            location: SourceLocation {
                file: "releases.toml".into(),
                line: 8,
                column: 1,
            },
        }],
    }
}

fn live(service: LiveService) -> LiveState {
    LiveState {
        services: [("gateway".to_string(), service)].into_iter().collect(),
        ..LiveState::default()
    }
}

fn signed(digest: &Digest, children: &[Digest]) -> ImageSignatures {
    ImageSignatures {
        manifests: std::iter::once(digest)
            .chain(children)
            .map(|d| ManifestSignatures {
                digest: d.clone(),
                entries: vec![good(d)],
            })
            .collect(),
        listed_children: Vec::new(),
        bundles: None,
    }
}

/// What a plan reads: the root's signatures, and for each child whether its
/// signature tag is listed.
fn root_signed(digest: &Digest, children: &[(Digest, bool)]) -> ImageSignatures {
    ImageSignatures {
        manifests: vec![ManifestSignatures {
            digest: digest.clone(),
            entries: vec![good(digest)],
        }],
        listed_children: children
            .iter()
            .map(|(digest, listed)| SignatureTagPresence {
                digest: digest.clone(),
                listed: *listed,
            })
            .collect(),
        bundles: None,
    }
}

fn criteria(verifier: Option<&dyn SignatureCheck>) -> Criteria<'_> {
    Criteria {
        verifier,
        today: "2026-06-15".parse().unwrap(),
        strict: false,
    }
}

/// A refusal's words as the text and Markdown forms show them.
fn message(refusal: &Refusal) -> String {
    crate::render::words::refusal(refusal, crate::render::words::Style::Marked)
}

fn run(desired: &Desired, live: &LiveState) -> Plan {
    plan(desired, live, None, &criteria(Some(&FakeVerifier)))
}

#[test]
fn absent_tag_with_source_image_is_created() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    let plan = run(&d, &live(service));
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.actions[0].kind, ActionKind::Create);
    assert_eq!(plan.actions[0].source, "127.0.0.1:5000/dev/gateway");
    assert_eq!(plan.actions[0].target, "127.0.0.1:5000/prod/gateway");
    assert_eq!(plan.summary.create, 1);
    assert!(plan.refusals.is_empty());
}

#[test]
fn present_and_fully_signed_is_unchanged() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.target_tags.insert("v1.0.0".into());
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    service
        .signatures
        .insert(digest(1), signed(&digest(1), &[digest(2), digest(3)]));
    let plan = run(&d, &live(service));
    assert_eq!(plan.actions[0].kind, ActionKind::Unchanged);
    assert!(!plan.has_changes());
}

#[test]
fn an_unsigned_child_of_an_index_needs_signing() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    let mut image = signed(&digest(1), &[digest(2)]);
    image.manifests.push(ManifestSignatures {
        digest: digest(3),
        entries: vec![],
    });
    service.signatures.insert(digest(1), image);
    let plan = run(&d, &live(service));
    assert_eq!(plan.actions[0].kind, ActionKind::Sign);
}

#[test]
fn children_checked_by_signature_tag_count_when_listed() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    service.signatures.insert(
        digest(1),
        root_signed(&digest(1), &[(digest(2), true), (digest(3), true)]),
    );
    assert_eq!(
        run(&d, &live(service)).actions[0].kind,
        ActionKind::Unchanged
    );
}

#[test]
fn a_child_without_a_signature_tag_needs_signing() {
    // `cosign sign` without `--recursive`: the index is signed, a platform
    // manifest is not, and a containers policy would reject that platform.
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    let image = root_signed(&digest(1), &[(digest(2), true), (digest(3), false)]);
    assert_eq!(
        crate::plan::signatures::unsigned_manifests(
            &image,
            "127.0.0.1:5000/prod/gateway",
            &FakeVerifier
        ),
        vec![&digest(3)]
    );
    service.signatures.insert(digest(1), image);
    assert_eq!(run(&d, &live(service)).actions[0].kind, ActionKind::Sign);
}

#[test]
fn listed_children_do_not_excuse_an_unverified_root() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    let mut image = root_signed(&digest(1), &[(digest(2), true)]);
    image.manifests[0].entries = vec![good(&digest(9))];
    service.signatures.insert(digest(1), image);
    assert_eq!(run(&d, &live(service)).actions[0].kind, ActionKind::Sign);
}

#[test]
fn a_signature_for_another_digest_or_repository_does_not_count() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    let copied = SignatureEntry {
        payload: Bytes::new(),
        signature: format!("good:{}:127.0.0.1:5000/prod/gateway", digest(9)),
    };
    let elsewhere = SignatureEntry {
        payload: Bytes::new(),
        signature: format!("good:{}:127.0.0.1:5000/other/gateway", digest(1)),
    };
    service.signatures.insert(
        digest(1),
        ImageSignatures {
            manifests: vec![ManifestSignatures {
                digest: digest(1),
                entries: vec![copied, elsewhere],
            }],
            listed_children: Vec::new(),
            bundles: None,
        },
    );
    let plan = run(&d, &live(service));
    assert_eq!(plan.actions[0].kind, ActionKind::Sign);
}

#[test]
fn without_a_public_key_no_signature_is_recognised() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    service
        .signatures
        .insert(digest(1), signed(&digest(1), &[]));
    let plan = plan(&d, &live(service), None, &criteria(None));
    assert_eq!(plan.actions[0].kind, ActionKind::Sign);
}

#[test]
fn moving_an_existing_tag_is_refused_retag() {
    let d = desired(vec![release("v1.0.0", digest(1), 12)]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(2));
    let plan = run(&d, &live(service));
    assert!(plan.actions.is_empty());
    let refusal = &plan.refusals[0];
    assert_eq!(refusal.code(), Code::Retag);
    assert_eq!(refusal.location.line, 12);
    assert!(message(refusal).contains(digest(2).as_str()));
    assert!(plan.is_refused());
}

#[test]
fn creating_without_a_signing_key_is_refused_unsigned() {
    let mut d = desired(vec![release("v1.0.0", digest(1), 10)]);
    d.signing = None;
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals[0].code(), Code::Unsigned);
}

#[test]
fn an_unsigned_existing_tag_without_a_key_is_refused_unsigned() {
    let mut d = desired(vec![release("v1.0.0", digest(1), 10)]);
    d.signing.as_mut().unwrap().key = None;
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals[0].code(), Code::Unsigned);
}

#[test]
fn a_digest_missing_from_the_source_is_refused() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), false);
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals[0].code(), Code::SourceMissing);
    assert!(message(&plan.refusals[0]).contains("127.0.0.1:5000/dev/gateway"));
}

#[test]
fn a_tag_outside_the_production_pattern_is_refused() {
    let d = desired(vec![release("latest", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals[0].code(), Code::InvalidTag);
    assert!(plan.actions.is_empty());
}

#[test]
fn undeclared_target_tags_warn_but_signature_tags_do_not() {
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    service.target_tags.insert("v0.1.0".into());
    service
        .target_tags
        .insert(digest(5).signature_tag().to_string());
    let plan = run(&d, &live(service));
    assert_eq!(plan.warnings.len(), 2, "{:?}", plan.warnings);
    let unmanaged: Vec<_> = plan
        .warnings
        .iter()
        .filter(|w| w.code() == Code::UnmanagedTag)
        .collect();
    assert_eq!(unmanaged.len(), 1);
    assert_eq!(unmanaged[0].tag.as_deref(), Some("v0.1.0"));
    assert!(!plan.is_refused());
}

#[test]
fn scan_disabled_warns_and_default_quay_source_refuses_without_scan() {
    let mut d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    let plan_none = run(&d, &live(service.clone()));
    assert!(
        plan_none
            .warnings
            .iter()
            .any(|w| w.code() == Code::ScanDisabled)
    );
    d.policy.vulnerability_source = VulnerabilitySource::Quay;
    let plan_quay = run(&d, &live(service));
    assert_eq!(plan_quay.refusals[0].code(), Code::ScanUnavailable);
}

#[test]
fn require_rc_wants_the_final_on_an_rc_digest() {
    let mut d = desired(vec![
        release("v1.0.0-rc1", digest(1), 10),
        release("v1.0.0", digest(2), 11),
        release("v1.1.0-rc1", digest(3), 12),
        release("v1.1.0", digest(3), 13),
    ]);
    d.policy.require_rc = true;
    let mut service = LiveService::default();
    for n in 1..=3 {
        service.source_has.insert(digest(n), true);
    }
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals.len(), 1);
    assert_eq!(plan.refusals[0].code(), Code::RcRequired);
    assert_eq!(plan.refusals[0].tag, "v1.0.0");
    assert_eq!(plan.summary.create, 3);
}

/// The same rule under `tag_grammar = "semver"`: `-rc.N` is the candidate,
/// `-alpha.N` and `-beta.N` are not.
#[test]
fn require_rc_holds_under_the_semver_grammar() {
    let mut policy = crate::config::model::Policy {
        tag_grammar: crate::config::model::TagGrammar::Semver { require_v: true },
        prerelease: vec!["alpha".into(), "beta".into(), "rc".into()],
        require_rc: true,
        ..Default::default()
    };
    let semver = |tag: &str, digest: Digest, line: u32| Release {
        tag_check: crate::config::tag::check_tag(tag, &policy),
        ..release(tag, digest, line)
    };
    let releases = vec![
        semver("v1.30.0-rc.1", digest(1), 10),
        semver("v1.30.0", digest(1), 11),
        semver("v1.31.0-beta.0", digest(2), 12),
        semver("v1.31.0", digest(2), 13),
        semver("v1.32.0-alpha.0", digest(3), 14),
    ];
    assert!(releases.iter().all(|r| r.tag_check.is_ok()));
    let mut d = desired(releases);
    policy.vulnerability_source = d.policy.vulnerability_source;
    d.policy = policy;
    let mut service = LiveService::default();
    for n in 1..=3 {
        service.source_has.insert(digest(n), true);
    }
    let plan = run(&d, &live(service));
    assert_eq!(plan.refusals.len(), 1, "{:?}", plan.refusals);
    assert_eq!(plan.refusals[0].code(), Code::RcRequired);
    assert_eq!(plan.refusals[0].tag, "v1.31.0");
    assert_eq!(plan.summary.create, 4);
}

#[test]
fn every_release_appears_exactly_once() {
    let d = desired(vec![
        release("v1.0.0", digest(1), 10),
        release("v1.1.0", digest(2), 11),
        release("dev", digest(3), 12),
        release("v1.2.0", digest(4), 13),
    ]);
    let mut service = LiveService::default();
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    service
        .signatures
        .insert(digest(1), signed(&digest(1), &[]));
    service.source_has.insert(digest(2), true);
    service.source_has.insert(digest(4), false);
    let plan = run(&d, &live(service));
    let mut seen: Vec<&str> = plan
        .actions
        .iter()
        .map(|a| a.tag.as_str())
        .chain(plan.refusals.iter().map(|r| r.tag.as_str()))
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["dev", "v1.0.0", "v1.1.0", "v1.2.0"]);
    assert_eq!(
        plan.summary.unchanged + plan.summary.create + plan.summary.refused,
        4
    );
}

#[test]
fn an_invalid_tag_with_backticks_stays_inside_its_code_span() {
    // Regression (issue 8): the message embedded the raw tag in single
    // backticks, so a backtick in the tag ended the Markdown code span.
    let d = desired(vec![release("v1`<b>x</b>", digest(1), 10)]);
    let plan = run(&d, &live(LiveService::default()));
    let refusal = &plan.refusals[0];
    assert_eq!(refusal.code(), Code::InvalidTag);
    assert!(
        message(refusal).starts_with("`` v1`<b>x</b> `` cannot be a production tag"),
        "{}",
        message(refusal)
    );
}

#[test]
fn every_warning_becomes_a_refusal_with_its_code_and_place() {
    let warning = |reason, tag: Option<&str>, line: Option<u32>| Warning {
        service: if tag.is_some() {
            "gateway".into()
        } else {
            String::new()
        },
        tag: tag.map(str::to_string),
        reason,
        location: line.map(|line| SourceLocation {
            file: "releases.toml".into(),
            line,
            column: 1,
        }),
    };
    let refusals = crate::plan::strict::escalate(
        vec![
            warning(
                WarningReason::UnmanagedTag {
                    target: "127.0.0.1:5000/prod/gateway".into(),
                    file: "releases.toml".into(),
                },
                Some("v0.1.0"),
                Some(8),
            ),
            warning(
                WarningReason::ScanDisabled {
                    file: "releases.toml".into(),
                },
                None,
                None,
            ),
            warning(
                WarningReason::UnusedWaiver {
                    id: "CVE-1".into(),
                    service: None,
                    expired: None,
                },
                None,
                Some(20),
            ),
        ],
        "releases.toml",
    );
    let codes: Vec<&str> = refusals.iter().map(|r| r.code().name()).collect();
    assert_eq!(codes, ["unmanaged-tag", "scan-disabled", "unused-waiver"]);
    assert_eq!(refusals[0].tag, "v0.1.0");
    assert_eq!(refusals[0].location.line, 8);
    assert_eq!(refusals[1].location.line, 1);
    assert!(message(&refusals[2]).contains("--strict"));

    // Through the planner: a plan with three warnings (scan-disabled, two
    // unmanaged tags) made strictly has three refusals and no warning.
    let d = desired(vec![release("v1.0.0", digest(1), 10)]);
    let mut service = LiveService::default();
    service.source_has.insert(digest(1), true);
    service
        .target_tags
        .extend(["v0.1.0".into(), "v0.2.0".into()]);
    let strict = plan(
        &d,
        &live(service),
        None,
        &Criteria {
            strict: true,
            ..criteria(Some(&FakeVerifier))
        },
    );
    assert!(strict.is_refused());
    assert!(strict.warnings.is_empty());
    assert_eq!(strict.summary.refused, 3);
    assert_eq!(strict.summary.warnings, 0);
}

/// `policy.registry_immutability = "require"` at line 4, with the target's
/// policies as read.
fn requiring(protection: crate::immutability::Protection) -> (Desired, LiveState) {
    use crate::config::model::RegistryImmutability;
    let mut d = desired(vec![release("v1.0.0", digest(1), 10)]);
    d.policy.registry_immutability = RegistryImmutability::Require(SourceLocation {
        file: "releases.toml".into(),
        line: 4,
        column: 1,
    });
    let mut service = LiveService::default();
    service.target_tags.insert("v1.0.0".into());
    service.declared_tags.insert("v1.0.0".into(), digest(1));
    service
        .signatures
        .insert(digest(1), signed(&digest(1), &[]));
    let mut state = live(service);
    state.immutability = vec![crate::immutability::TargetPolicies {
        target: "127.0.0.1:5000/prod/gateway".into(),
        registry: "127.0.0.1:5000".into(),
        api: "http://127.0.0.1:5000".into(),
        organization: "prod".into(),
        protection,
    }];
    (d, state)
}

fn quay_policy(pattern: &str) -> crate::immutability::Policy {
    crate::immutability::Policy {
        uuid: "uuid-1".into(),
        pattern: pattern.into(),
        matches: true,
        scope: crate::immutability::Scope::Organization("prod".into()),
    }
}

#[test]
fn unprotected_release_tags_get_a_policy_to_create_and_a_warning() {
    use crate::immutability::{Protection, wanted_pattern};
    let (d, state) = requiring(Protection::Policies(Vec::new()));
    let plan = run(&d, &state);
    assert_eq!(plan.policies.len(), 1);
    assert_eq!(plan.policies[0].organization, "prod");
    assert_eq!(
        plan.policies[0].tag_pattern,
        wanted_pattern(&d.policy.prerelease)
    );
    assert_eq!(plan.summary.policies, 1);
    assert!(plan.has_changes(), "a policy to create is a change");
    assert!(!plan.is_refused());
    let warning = registry_warnings(&plan)[0];
    assert_eq!(warning.code(), Code::TagsUnprotected);
    assert_eq!(warning.location.as_ref().unwrap().line, 4);

    let strict = plan_strict(&d, &state);
    let refusal = strict
        .refusals
        .iter()
        .find(|r| r.code() == Code::TagsUnprotected)
        .expect("--strict refuses unprotected release tags");
    assert_eq!(refusal.location.line, 4);

    // the same file once the policy exists: nothing to do
    let wanted = quay_policy(&wanted_pattern(&d.policy.prerelease));
    let (d, state) = requiring(Protection::Policies(vec![wanted]));
    let plan = run(&d, &state);
    assert!(plan.policies.is_empty() && registry_warnings(&plan).is_empty());
    assert!(!plan.has_changes());
}

#[test]
fn a_policy_freezing_signature_tags_is_refused_at_the_setting() {
    use crate::immutability::Protection;
    let (d, state) = requiring(Protection::Policies(vec![quay_policy(".*")]));
    let plan = run(&d, &state);
    assert_eq!(plan.refusals.len(), 1);
    let refusal = &plan.refusals[0];
    assert_eq!(refusal.code(), Code::FreezesSignatures);
    assert_eq!(refusal.location.line, 4);
    let words = message(refusal);
    assert!(
        words.contains("uuid-1") && words.contains("127.0.0.1:5000"),
        "{words}"
    );
    assert!(words.contains(".sig"), "{words}");
}

#[test]
fn a_registry_without_the_api_is_one_warning() {
    use crate::immutability::Protection;
    let (d, mut state) = requiring(Protection::NoApi("HTTP 404".into()));
    let second = crate::immutability::TargetPolicies {
        target: "127.0.0.1:5000/prod/other".into(),
        ..state.immutability[0].clone()
    };
    state.immutability.push(second);
    let plan = run(&d, &state);
    let codes: Vec<Code> = registry_warnings(&plan).iter().map(|w| w.code()).collect();
    assert_eq!(codes, vec![Code::ImmutabilityUnavailable]);
    assert!(plan.policies.is_empty() && plan.refusals.is_empty());
}

fn plan_strict(desired: &Desired, live: &LiveState) -> Plan {
    let mut strict = criteria(Some(&FakeVerifier));
    strict.strict = true;
    plan(desired, live, None, &strict)
}

/// The plan's warnings but `scan-disabled` (these fixtures turn scanning off).
fn registry_warnings(plan: &Plan) -> Vec<&Warning> {
    plan.warnings
        .iter()
        .filter(|w| w.code() != Code::ScanDisabled)
        .collect()
}
