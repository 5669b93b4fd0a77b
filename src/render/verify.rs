//! The verify report: one line per declared release (`ok`, `MISSING`,
//! `WRONG`, `UNSIGNED`, `UNATTESTED` and why), under it the promotion its
//! provenance attestation records (or, where required or rejected, why
//! there is none), then a summary line.

use crate::config::model::SignatureFormat;
use crate::render::plural;
use crate::verify::{
    Finding, Protection, ProvenanceFinding, RegistryCheck, ReleaseCheck, Strictness,
};
use std::fmt::Write;

/// One line per release, then a summary line.
pub fn render(checks: &[ReleaseCheck]) -> String {
    let mut out = String::new();
    for check in checks {
        let status = match &check.finding {
            Finding::Verified {
                verified,
                tag_listed: 0,
                formats,
            } => format!(
                "ok          {} {} signed manifest{}",
                names(formats),
                verified,
                plural(*verified)
            ),
            Finding::Verified {
                verified,
                tag_listed,
                formats,
            } => format!(
                "ok          {} {} signed manifest{} verified, {tag_listed} by signature tag only",
                names(formats),
                verified,
                plural(*verified)
            ),
            Finding::Missing => "MISSING     the tag does not exist in the target".to_string(),
            Finding::WrongDigest { found } => {
                format!("WRONG       points at {found}, declared {}", check.digest)
            }
            Finding::Unsigned { manifests } => format!(
                "UNSIGNED    no valid signature on {}",
                manifests
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Finding::FormatMissing { missing, present } => format!(
                "UNSIGNED    no valid {} signature (signed as {} only); {}",
                names(missing),
                names(present),
                match check.strictness {
                    Strictness::Formats => "run quayside apply to add it".to_string(),
                    Strictness::Strict => format!(
                        "--strict requires every format: list {} in signing.formats and run quayside apply",
                        names(missing)
                    ),
                }
            ),
        };
        let status = match &check.finding {
            Finding::Verified { formats, .. } if check.lacks_required_provenance() => {
                unattested(check, formats)
            }
            _ => status,
        };
        let _ = writeln!(out, "{}:{}  {status}", check.target, check.tag);
        if let Some(line) = provenance_line(check) {
            let _ = writeln!(out, "    provenance  {line}");
        }
    }
    let failing = checks.iter().filter(|c| !c.holds()).count();
    let _ = writeln!(
        out,
        "\n{} release{} checked, {} verified, {} failing.",
        checks.len(),
        plural(checks.len()),
        checks.len() - failing,
        failing
    );
    out
}

/// The status of a release signed in every format but without a valid
/// provenance attestation under `--strict`: which release, and what to do.
fn unattested(check: &ReleaseCheck, formats: &[SignatureFormat]) -> String {
    format!(
        "UNATTESTED  {} {} is signed ({}) but has no valid provenance attestation{}; --strict requires one, and apply attests a release only when it creates the tag (never later): promote the image under a new tag with quayside apply, or verify without --strict",
        check.service,
        check.tag,
        names(formats),
        rejected_words(&check.provenance)
    )
}

/// The line under a release about its provenance, when there is something
/// to say: the promotion recorded; or, where the status line does not say
/// it, that none is valid (required by `--strict`, or some were rejected).
fn provenance_line(check: &ReleaseCheck) -> Option<String> {
    let rejected = match &check.provenance {
        ProvenanceFinding::Attested(promotion) => {
            return Some(format!(
                "promoted {} from {}@{} at commit {} ({}), plan {}",
                promotion.promoted_at,
                promotion.source.repository,
                promotion.source.digest,
                promotion
                    .releases_file
                    .commit
                    .as_deref()
                    .unwrap_or("none: applied outside git"),
                promotion.releases_file.path,
                promotion.plan.digest
            ));
        }
        ProvenanceFinding::NotChecked => return None,
        ProvenanceFinding::Absent { rejected } => rejected,
    };
    let required = check.lacks_required_provenance();
    let said_on_status = required && matches!(check.finding, Finding::Verified { .. });
    if said_on_status || (!required && rejected.is_empty()) {
        return None;
    }
    Some(format!(
        "{}no valid attestation{}",
        if required { "MISSING     " } else { "" },
        rejected_words(&check.provenance)
    ))
}

/// ` (2 rejected: …; …)`, or nothing.
fn rejected_words(provenance: &ProvenanceFinding) -> String {
    match provenance {
        ProvenanceFinding::Absent { rejected } if !rejected.is_empty() => {
            format!(" ({} rejected: {})", rejected.len(), rejected.join("; "))
        }
        _ => String::new(),
    }
}

/// `legacy+bundle`: format names as `signing.formats` spells them.
fn names(formats: &[SignatureFormat]) -> String {
    formats
        .iter()
        .map(|format| format.name())
        .collect::<Vec<_>>()
        .join("+")
}

/// One line per target repository: whether its registry protects the
/// release tags; empty when registry immutability is not required.
pub fn render_registry(checks: &[RegistryCheck]) -> String {
    let mut out = String::new();
    for check in checks {
        let status = match &check.protection {
            Protection::Protected { tags } => format!(
                "protected   an immutability policy freezes the release tags; {tags} present, all immutable"
            ),
            Protection::NoPolicy { unprotected } => format!(
                "UNPROTECTED no immutability policy freezes release tags such as {}: run quayside apply to create it",
                unprotected.join(", ")
            ),
            Protection::Mutable { tags } => format!(
                "MUTABLE     release tags not immutable: {}",
                tags.join(", ")
            ),
            Protection::FreezesSignatures { uuid, pattern } => format!(
                "REFUSED     immutability policy {uuid} ({}) freezes cosign's sha256-* tags",
                crate::config::hidden::one_line(pattern)
            ),
            Protection::Unavailable { why } => format!("UNAVAILABLE {why}"),
        };
        let _ = writeln!(out, "{}  registry immutability: {status}", check.target);
    }
    if !checks.is_empty() {
        let failing = checks.iter().filter(|c| !c.holds()).count();
        let _ = writeln!(
            out,
            "{} target{} checked for registry immutability, {failing} not protected.",
            checks.len(),
            plural(checks.len())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::signing::provenance::{self, Promotion};

    fn check(tag: &str, finding: Finding) -> ReleaseCheck {
        ReleaseCheck {
            service: "gateway".into(),
            tag: tag.into(),
            digest: Digest::of_bytes(tag.as_bytes()),
            target: "quay.io/kubernaut/gateway".into(),
            finding,
            provenance: ProvenanceFinding::Absent {
                rejected: Vec::new(),
            },
            strictness: Strictness::Formats,
        }
    }

    fn every_finding() -> Vec<ReleaseCheck> {
        vec![
            check(
                "v1.0.0",
                Finding::Verified {
                    verified: 3,
                    tag_listed: 0,
                    formats: vec![SignatureFormat::Legacy, SignatureFormat::Bundle],
                },
            ),
            check(
                "v1.1.0",
                Finding::Verified {
                    verified: 1,
                    tag_listed: 2,
                    formats: vec![SignatureFormat::Legacy],
                },
            ),
            check("v1.2.0", Finding::Missing),
            check(
                "v1.3.0",
                Finding::WrongDigest {
                    found: Digest::of_bytes(b"elsewhere"),
                },
            ),
            check(
                "v1.4.0",
                Finding::Unsigned {
                    manifests: vec![Digest::of_bytes(b"index"), Digest::of_bytes(b"child")],
                },
            ),
        ]
    }

    #[test]
    fn a_missing_format_fails_and_says_which() {
        let report = render(&[check(
            "v1.5.0",
            Finding::FormatMissing {
                missing: vec![SignatureFormat::Bundle],
                present: vec![SignatureFormat::Legacy],
            },
        )]);
        assert!(
            report.contains(
                "v1.5.0  UNSIGNED    no valid bundle signature (signed as legacy only); run quayside apply to add it\n"
            ),
            "{report}"
        );
        assert!(report.ends_with("\n1 release checked, 0 verified, 1 failing.\n"));
    }

    #[test]
    fn every_finding_has_its_line_and_the_failures_are_counted() {
        let report = render(&every_finding());
        assert!(report.contains("quay.io/kubernaut/gateway:v1.2.0  MISSING"));
        assert!(report.ends_with("\n5 releases checked, 2 verified, 3 failing.\n"));
        insta::assert_snapshot!("verify_report", report);
    }

    fn promotion() -> Promotion {
        provenance::example(Digest::of_bytes(b"v2.0.0"), "v2.0.0")
    }

    fn both() -> Finding {
        Finding::Verified {
            verified: 3,
            tag_listed: 0,
            formats: vec![SignatureFormat::Legacy, SignatureFormat::Bundle],
        }
    }

    fn strict(mut check: ReleaseCheck, provenance: ProvenanceFinding) -> ReleaseCheck {
        check.provenance = provenance;
        check.strictness = Strictness::Strict;
        check
    }

    #[test]
    fn an_attested_release_shows_its_promotion_under_its_line() {
        let mut attested = check("v2.0.0", both());
        attested.provenance = ProvenanceFinding::Attested(Box::new(promotion()));
        let report = render(&[attested.clone()]);
        assert!(
            report.contains(&format!(
                "quay.io/kubernaut/gateway:v2.0.0  ok          legacy+bundle 3 signed manifests\n    provenance  promoted 2026-12-01T17:20:00Z from quay.io/jordigilh/gateway@{} at commit 0123456789abcdef0123456789abcdef01234567 (deploy/releases.toml), plan {}\n",
                Digest::of_bytes(b"v2.0.0"),
                Digest::of_bytes(b"plan")
            )),
            "{report}"
        );
        // --strict: the same release holds.
        let strict_report = render(&[strict(
            attested,
            ProvenanceFinding::Attested(Box::new(promotion())),
        )]);
        assert!(strict_report.ends_with("\n1 release checked, 1 verified, 0 failing.\n"));
    }

    #[test]
    fn strict_names_the_release_without_provenance_and_says_what_to_do() {
        let unattested = strict(
            check("v1.0.0", both()),
            ProvenanceFinding::Absent {
                rejected: vec!["no signature in the bundle verifies with the public key".into()],
            },
        );
        assert!(!unattested.holds());
        let legacy_only = strict(
            check(
                "v1.5.0",
                Finding::FormatMissing {
                    missing: vec![SignatureFormat::Bundle],
                    present: vec![SignatureFormat::Legacy],
                },
            ),
            ProvenanceFinding::Absent {
                rejected: Vec::new(),
            },
        );
        let report = render(&[unattested, legacy_only]);
        assert!(
            report.contains(
                "quay.io/kubernaut/gateway:v1.0.0  UNATTESTED  gateway v1.0.0 is signed (legacy+bundle) but has no valid provenance attestation (1 rejected: no signature in the bundle verifies with the public key); --strict requires one"
            ),
            "{report}"
        );
        assert!(
            report.contains(
                "v1.5.0  UNSIGNED    no valid bundle signature (signed as legacy only); --strict requires every format: list bundle in signing.formats and run quayside apply\n    provenance  MISSING     no valid attestation\n"
            ),
            "{report}"
        );
        assert!(report.ends_with("\n2 releases checked, 0 verified, 2 failing.\n"));
        insta::assert_snapshot!("verify_strict_report", report);
    }

    #[test]
    fn rejected_attestations_are_said_without_strict_too() {
        let mut found = check("v1.0.0", both());
        found.provenance = ProvenanceFinding::Absent {
            rejected: vec![
                "it records the promotion to quay.io/kubernaut/gateway:v0.9.0, another release"
                    .into(),
            ],
        };
        assert!(found.holds());
        let report = render(&[found]);
        assert!(
            report.contains("\n    provenance  no valid attestation (1 rejected: it records the promotion to quay.io/kubernaut/gateway:v0.9.0, another release)\n"),
            "{report}"
        );
    }

    #[test]
    fn one_verified_release_is_singular() {
        let report = render(&every_finding()[..1]);
        assert!(report.contains("3 signed manifests\n"), "{report}");
        assert!(report.ends_with("\n1 release checked, 1 verified, 0 failing.\n"));
    }
}
