//! The verify report: one line per declared release (`ok`, `MISSING`,
//! `WRONG`, `UNSIGNED` and why), then a summary line.

use crate::config::model::SignatureFormat;
use crate::render::plural;
use crate::verify::{Finding, Protection, RegistryCheck, ReleaseCheck};
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
                "UNSIGNED    no valid {} signature (signed as {} only); run quayside apply to add it",
                names(missing),
                names(present)
            ),
        };
        let _ = writeln!(out, "{}:{}  {status}", check.target, check.tag);
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

    fn check(tag: &str, finding: Finding) -> ReleaseCheck {
        ReleaseCheck {
            service: "gateway".into(),
            tag: tag.into(),
            digest: Digest::of_bytes(tag.as_bytes()),
            target: "quay.io/kubernaut/gateway".into(),
            finding,
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

    #[test]
    fn one_verified_release_is_singular() {
        let report = render(&every_finding()[..1]);
        assert!(report.contains("3 signed manifests\n"), "{report}");
        assert!(report.ends_with("\n1 release checked, 1 verified, 0 failing.\n"));
    }
}
