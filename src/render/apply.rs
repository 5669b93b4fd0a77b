//! The apply summary: what happened to each release, then the counts, the
//! blobs moved, the requests and the time taken, and the provenance the
//! signatures record.

use crate::apply::copy::CopyStats;
use crate::apply::{Outcome, ReleaseOutcome};
use crate::plan::saved::{FileChange, Staleness};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What an apply run did and cost.
pub struct ApplyReport<'a> {
    pub outcomes: &'a [ReleaseOutcome],
    pub transfer: Transfer,
    pub elapsed: Duration,
    /// The git commit the signatures record; `None` outside git.
    pub commit: Option<&'a str>,
}

/// The blobs an apply moved, and the requests it sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfer {
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    pub blobs_mounted: u64,
    pub bytes_mounted: u64,
    pub blobs_present: u64,
    pub requests: u64,
}

impl Transfer {
    /// The copier's counters once the run is over, and the requests sent.
    pub fn of(stats: &CopyStats, requests: u64) -> Self {
        Transfer {
            blobs_copied: stats.blobs_copied.load(Ordering::Relaxed),
            bytes_copied: stats.bytes_copied.load(Ordering::Relaxed),
            blobs_mounted: stats.blobs_mounted.load(Ordering::Relaxed),
            bytes_mounted: stats.bytes_mounted.load(Ordering::Relaxed),
            blobs_present: stats.blobs_present.load(Ordering::Relaxed),
            requests,
        }
    }
}

pub fn summary(report: &ApplyReport<'_>) -> String {
    let mut out = String::from("\n");
    let (mut created, mut signed, mut signatures) = (0, 0, 0);
    for o in report.outcomes {
        match &o.outcome {
            Outcome::Created { signatures: n } => {
                created += 1;
                signatures += n;
                let _ = writeln!(
                    out,
                    "  + {} {}  created and signed ({})",
                    o.service, o.tag, o.digest
                );
            }
            Outcome::Signed { signatures: n } => {
                signed += 1;
                signatures += n;
                let _ = writeln!(out, "  ~ {} {}  signed ({})", o.service, o.tag, o.digest);
            }
            Outcome::Retag { message, .. } => {
                let _ = writeln!(
                    out,
                    "  ! {} {}  refused (retag): {message}",
                    o.service, o.tag
                );
            }
            Outcome::Failed(error) => {
                let _ = writeln!(out, "  ! {} {}  failed: {error}", o.service, o.tag);
            }
        }
    }
    let failed = report.outcomes.len() - created - signed;
    let _ = writeln!(
        out,
        "\nApply: {created} created, {signed} signed, {failed} failed; {signatures} signatures written."
    );
    let t = &report.transfer;
    let _ = writeln!(
        out,
        "Blobs: {} copied ({}), {} mounted ({}), {} already present; {} requests; {:.2} s.",
        t.blobs_copied,
        human_bytes(t.bytes_copied),
        t.blobs_mounted,
        human_bytes(t.bytes_mounted),
        t.blobs_present,
        t.requests,
        report.elapsed.as_secs_f64()
    );
    match report.commit {
        Some(commit) => {
            let _ = writeln!(out, "Provenance: signatures record git commit {commit}.");
        }
        None => {
            let _ = writeln!(
                out,
                "Provenance: the file is not in a git repository; signatures record no commit."
            );
        }
    }
    out
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Why `apply PLAN.json` refused a saved plan that no longer holds.
pub fn stale(stale: &Staleness, file: &str) -> String {
    let why = match stale {
        Staleness::FileChanged { release, change } => {
            let change = match change {
                FileChange::Added => "added",
                FileChange::Removed => "removed",
                FileChange::DigestChanged => "given another digest",
            };
            format!("{file} changed since the plan was made ({release} {change})")
        }
        Staleness::RegistriesChanged { release, now } => format!(
            "the registries changed since the plan was made ({release} is now `{}`)",
            now.name()
        ),
        Staleness::NotChecked { release, now } => format!(
            "{release} was not checked by the saved plan (made with --base, without --full), and apply would now `{}` it; make the plan with --full, or run apply without a saved plan",
            now.name()
        ),
    };
    format!("apply refused: {why}; nothing was written. Make a new plan.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ApplyError;
    use crate::digest::Digest;
    use crate::registry::RegistryError;

    fn outcome(tag: &str, outcome: Outcome) -> ReleaseOutcome {
        ReleaseOutcome {
            service: "gateway".into(),
            tag: tag.into(),
            digest: Digest::of_bytes(tag.as_bytes()),
            outcome,
        }
    }

    fn every_outcome() -> Vec<ReleaseOutcome> {
        vec![
            outcome("v1.0.0", Outcome::Created { signatures: 3 }),
            outcome("v1.1.0", Outcome::Signed { signatures: 1 }),
            outcome(
                "v1.2.0",
                Outcome::Retag {
                    found: Some(Digest::of_bytes(b"elsewhere")),
                    message: "quay.io/kubernaut/gateway:v1.2.0 appeared during apply, pointing at sha256:…; it was not changed".into(),
                },
            ),
            outcome(
                "v1.3.0",
                Outcome::Failed(ApplyError::Registry(RegistryError::DigestMismatch {
                    repository: "quay.io/jordigilh/gateway".into(),
                    what: "blob".into(),
                    expected: Digest::of_bytes(b"expected"),
                    actual: Digest::of_bytes(b"actual"),
                })),
            ),
        ]
    }

    #[test]
    fn every_outcome_has_its_line_then_the_counts() {
        let outcomes = every_outcome();
        let report = ApplyReport {
            outcomes: &outcomes,
            transfer: Transfer {
                blobs_copied: 4,
                bytes_copied: 3 * 1024 * 1024 + 512 * 1024,
                blobs_mounted: 2,
                bytes_mounted: 2048,
                blobs_present: 5,
                requests: 61,
            },
            elapsed: Duration::from_millis(1_234),
            commit: Some("0123456789abcdef0123456789abcdef01234567"),
        };
        let text = summary(&report);
        assert!(text.contains("\nApply: 1 created, 1 signed, 2 failed; 4 signatures written.\n"));
        assert!(text.contains("Blobs: 4 copied (3.5 MiB), 2 mounted (2.0 KiB), 5 already present"));
        insta::assert_snapshot!("apply_summary", text);
    }

    #[test]
    fn nothing_moved_outside_git() {
        let report = ApplyReport {
            outcomes: &[],
            transfer: Transfer::default(),
            elapsed: Duration::ZERO,
            commit: None,
        };
        insta::assert_snapshot!("apply_summary_outside_git", summary(&report));
    }
}
