//! The vulnerability gate (DD-REGISTRY-001: zero critical, zero high): a pure
//! function of the scans, the policy, its waivers and the day, deciding
//! whether one image may be released. No IO and no clock here.

use crate::config::model::{Policy, Waiver};
use crate::digest::Digest;
use crate::plan::{Code, Finding, Warning};
use crate::scan::report::{ImageScan, PlatformScan, ScanStatus, Vulnerability};
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// Why the gate refuses an image: a refusal code, a message, and for
/// `vulnerable` every blocking vulnerability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateRefusal {
    pub code: Code,
    pub message: String,
    pub details: Vec<Finding>,
}

/// Which waivers (indices into `policy.waivers`) matched a blocked
/// vulnerability during this plan, active or expired.
#[derive(Clone, Debug, Default)]
pub struct WaiverUse {
    matched: BTreeSet<usize>,
}

/// Decides whether the image `digest` of `service` may be released.
/// A waiver counts up to and including its `expires` day. `scan` is `None` when nothing was read for this image.
pub fn check_image(
    service: &str,
    digest: &Digest,
    scan: Option<&ImageScan>,
    policy: &Policy,
    today: NaiveDate,
    used: &mut WaiverUse,
) -> Result<(), GateRefusal> {
    let platforms = match scan {
        None => {
            return Err(unavailable(format!(
                "no vulnerability scan of {digest} was read: run the plan again; never released without one unless policy.vulnerability_source = \"none\""
            )));
        }
        Some(ImageScan::Unavailable { reason }) => {
            return Err(unavailable(format!(
                "no vulnerability scan of {digest} can be read: {reason}"
            )));
        }
        Some(ImageScan::Platforms(platforms)) => platforms,
    };
    if platforms.is_empty() {
        return Err(unavailable(format!(
            "{digest} has no platform manifest whose scan could be read"
        )));
    }

    let mut blocking = Vec::new();
    let mut missing = Vec::new();
    for platform in platforms {
        match &platform.status {
            ScanStatus::Scanned(found) => {
                for vulnerability in found {
                    if !policy.block_severities.contains(&vulnerability.severity) {
                        continue;
                    }
                    if let Some(finding) =
                        blocked(service, platform, vulnerability, policy, today, used)
                    {
                        blocking.push(finding);
                    }
                }
            }
            other => missing.push(format!(
                "{} ({}): {}",
                platform.label(),
                platform.digest.short(),
                other.unavailable_reason().unwrap_or_default()
            )),
        }
    }

    if !blocking.is_empty() {
        return Err(vulnerable(digest, &blocking, &missing));
    }
    if !missing.is_empty() {
        return Err(unavailable(format!(
            "no complete vulnerability scan of {digest}: {}. Wait for Quay to scan every platform and plan again; an image is never released on missing data",
            missing.join("; ")
        )));
    }
    Ok(())
}

/// Waivers that matched no blocked vulnerability in this plan.
pub fn unused_waivers(policy: &Policy, used: &WaiverUse, today: NaiveDate) -> Vec<Warning> {
    policy
        .waivers
        .iter()
        .enumerate()
        .filter(|(index, _)| !used.matched.contains(index))
        .map(|(_, waiver)| Warning {
            code: Code::UnusedWaiver,
            service: waiver.service.clone().unwrap_or_default(),
            tag: None,
            message: format!(
                "the waiver for {}{} matches no blocked vulnerability in the images this plan would release{}: remove it from [[policy.waivers]] once no release needs it",
                waiver.id,
                waiver
                    .service
                    .as_deref()
                    .map(|service| format!(" (service {service})"))
                    .unwrap_or_default(),
                match &waiver.expires {
                    Some(expires) if !is_active(waiver, today) => {
                        format!(", and it expired on {expires}")
                    }
                    _ => String::new(),
                }
            ),
            location: Some(waiver.location.clone()),
        })
        .collect()
}

/// The finding for a vulnerability that blocks, or `None` when an active
/// waiver covers it.
fn blocked(
    service: &str,
    platform: &PlatformScan,
    vulnerability: &Vulnerability,
    policy: &Policy,
    today: NaiveDate,
    used: &mut WaiverUse,
) -> Option<Finding> {
    let mut expired = None;
    for (index, waiver) in policy.waivers.iter().enumerate() {
        let applies = waiver.id.eq_ignore_ascii_case(&vulnerability.id)
            && waiver.service.as_deref().is_none_or(|only| only == service);
        if !applies {
            continue;
        }
        used.matched.insert(index);
        if is_active(waiver, today) {
            return None;
        }
        expired = waiver.expires;
    }
    Some(Finding {
        id: vulnerability.id.clone(),
        severity: vulnerability.severity,
        package: vulnerability.package.clone(),
        installed: vulnerability.installed.clone(),
        fixed: vulnerability.fixed.clone(),
        platform: platform.label(),
        digest: platform.digest.clone(),
        link: vulnerability.link.clone(),
        waiver_expired: expired,
    })
}

fn is_active(waiver: &Waiver, today: NaiveDate) -> bool {
    waiver.expires.is_none_or(|expires| today <= expires)
}

fn unavailable(message: String) -> GateRefusal {
    GateRefusal {
        code: Code::ScanUnavailable,
        message,
        details: Vec::new(),
    }
}

fn vulnerable(digest: &Digest, blocking: &[Finding], missing: &[String]) -> GateRefusal {
    let mut ids: Vec<&str> = Vec::new();
    for finding in blocking {
        if !ids.contains(&finding.id.as_str()) {
            ids.push(&finding.id);
        }
    }
    let mut platforms: Vec<&str> = blocking.iter().map(|f| f.platform.as_str()).collect();
    platforms.sort();
    platforms.dedup();
    let severities: BTreeSet<&str> = blocking.iter().map(|f| f.severity.name()).collect();
    let expired: Vec<String> = blocking
        .iter()
        .filter_map(|f| {
            Some(format!(
                "{} expired on {}",
                f.id,
                f.waiver_expired.as_ref()?
            ))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut message = format!(
        "{digest} has {} blocked vulnerabilit{} ({}) on {}: {}",
        blocking.len(),
        if blocking.len() == 1 { "y" } else { "ies" },
        severities.into_iter().collect::<Vec<_>>().join(", "),
        platforms.join(", "),
        ids.join(", ")
    );
    if !expired.is_empty() {
        message.push_str(&format!(
            ". Waivers no longer count: {}",
            expired.join(", ")
        ));
    }
    if !missing.is_empty() {
        message.push_str(&format!(". Also unscanned: {}", missing.join("; ")));
    }
    message.push_str(
        ". Rebuild on the fixed package versions and declare the new digest, or accept the risk with a [[policy.waivers]] entry (id, reason, expires)",
    );
    GateRefusal {
        code: Code::Vulnerable,
        message,
        details: blocking.to_vec(),
    }
}
