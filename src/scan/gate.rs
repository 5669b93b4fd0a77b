//! The vulnerability gate (DD-REGISTRY-001: zero critical, zero high): a pure
//! function of the scans, the policy, its waivers and the day, deciding
//! whether one image may be released. No IO and no clock here.

use crate::config::model::{Policy, Waiver};
use crate::day::Day;
use crate::digest::Digest;
use crate::plan::{Finding, RefusalReason, ScanGap, Unscanned, Warning, WarningReason};
use crate::scan::report::{ImageScan, PlatformScan, ScanStatus, Vulnerability};
use std::collections::BTreeSet;

/// Why the gate refuses an image, and for `vulnerable` every blocking
/// vulnerability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateRefusal {
    pub reason: RefusalReason,
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
    today: Day,
    used: &mut WaiverUse,
) -> Result<(), GateRefusal> {
    let platforms = match scan {
        None => return Err(unavailable(digest, ScanGap::NotRead)),
        Some(ImageScan::Unavailable { reason }) => {
            return Err(unavailable(digest, ScanGap::Unreadable(reason.clone())));
        }
        Some(ImageScan::Platforms(platforms)) => platforms,
    };
    if platforms.is_empty() {
        return Err(unavailable(digest, ScanGap::NoPlatforms));
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
            other => missing.push(Unscanned {
                platform: platform.label(),
                digest: platform.digest.clone(),
                status: other.clone(),
            }),
        }
    }

    if !blocking.is_empty() {
        return Err(GateRefusal {
            reason: RefusalReason::Vulnerable {
                digest: digest.clone(),
                unscanned: missing,
            },
            details: blocking,
        });
    }
    if !missing.is_empty() {
        return Err(unavailable(digest, ScanGap::Incomplete(missing)));
    }
    Ok(())
}

/// Waivers that matched no blocked vulnerability in this plan.
pub fn unused_waivers(policy: &Policy, used: &WaiverUse, today: Day) -> Vec<Warning> {
    policy
        .waivers
        .iter()
        .enumerate()
        .filter(|(index, _)| !used.matched.contains(index))
        .map(|(_, waiver)| Warning {
            service: waiver.service.clone().unwrap_or_default(),
            tag: None,
            reason: WarningReason::UnusedWaiver {
                id: waiver.id.clone(),
                service: waiver.service.clone(),
                expired: waiver.expires.filter(|_| !is_active(waiver, today)),
            },
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
    today: Day,
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

fn is_active(waiver: &Waiver, today: Day) -> bool {
    waiver.expires.is_none_or(|expires| today <= expires)
}

fn unavailable(digest: &Digest, gap: ScanGap) -> GateRefusal {
    GateRefusal {
        reason: RefusalReason::ScanUnavailable {
            digest: digest.clone(),
            gap,
        },
        details: Vec::new(),
    }
}
