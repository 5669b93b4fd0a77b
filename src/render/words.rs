//! The words of refusals and warnings, chosen from their typed reasons: one
//! wording for every form. Text and Markdown show names and values as code
//! spans (the terminal and a pull-request comment read alike); JSON messages
//! are plain words, without Markdown.

use crate::config::diagnostic::quoted;
use crate::digest::Digest;
use crate::plan::{Finding, Refusal, RefusalReason, ScanGap, Unscanned, Warning, WarningReason};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// How a form marks names and values inside its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Text and Markdown: code spans.
    Marked,
    /// JSON: plain words.
    Plain,
}

impl Style {
    /// A name quayside writes itself (`key`, a TOML line).
    fn code(self, name: &str) -> String {
        match self {
            Style::Marked => format!("`{name}`"),
            Style::Plain => name.to_string(),
        }
    }

    /// Text from the file or a registry: when marked, escaped, cut short and
    /// fenced so that it cannot end its code span (`quoted`).
    fn value(self, text: &str) -> String {
        match self {
            Style::Marked => quoted(text),
            Style::Plain => text.to_string(),
        }
    }

    /// Words another module wrote with code spans (the tag grammar, the scan
    /// adapter): plain, they lose their backticks.
    fn prose(self, words: &str) -> Cow<'_, str> {
        match self {
            Style::Marked => Cow::Borrowed(words),
            Style::Plain => Cow::Owned(words.replace('`', "")),
        }
    }
}

/// What is wrong with the refused release, and what to do about it.
pub fn refusal(refusal: &Refusal, style: Style) -> String {
    let Refusal {
        service,
        tag,
        reason,
        ..
    } = refusal;
    match reason {
        RefusalReason::InvalidTag { problem } => format!(
            "{} cannot be a production tag: {}",
            style.value(tag),
            style.prose(problem)
        ),
        RefusalReason::Retag {
            target,
            found,
            declared,
        } => format!(
            "{target}:{tag} already points at {found}; production tags are immutable. Declare a new version for {declared}, or restore the digest {found}"
        ),
        RefusalReason::Unsigned {
            target,
            file,
            exists: true,
            checkable,
        } => format!(
            "{target}:{tag} exists but carries no valid signature{}, and no signing key is configured: add {} to [signing] in {file} so apply can sign it",
            if *checkable {
                String::new()
            } else {
                format!(
                    " that can be checked (no {} in [signing])",
                    style.code("public_key")
                )
            },
            style.code("key")
        ),
        RefusalReason::Unsigned {
            target,
            file,
            exists: false,
            ..
        } => format!(
            "creating {target}:{tag} would leave a production tag unsigned: configure [signing] {} (and {}) in {file}",
            style.code("key"),
            style.code("public_key")
        ),
        RefusalReason::SourceMissing {
            source,
            digest,
            missing: None,
        } => format!(
            "{source} has no image {digest}: push it to the source first, or correct the digest"
        ),
        RefusalReason::SourceMissing {
            source,
            missing: Some(missing),
            ..
        } => {
            let near = match &missing.near {
                Some(near) => format!(
                    "; the registry has {}: did you mean [services.{near}]?",
                    style.code(near)
                ),
                None => String::new(),
            };
            format!(
                "the repository {source} does not exist{near} Check the service name in [services.{}] (repositories are named after it) and the source registry, or push the image first",
                refusal.service
            )
        }
        RefusalReason::RcRequired { version } => format!(
            "policy.require_rc: {tag} must point at the digest of a declared {version}-rcN; declare the release candidate first and promote the same digest"
        ),
        RefusalReason::Vulnerable { digest, unscanned } => {
            vulnerable(digest, &refusal.details, unscanned, style)
        }
        RefusalReason::ScanUnavailable { digest, gap } => scan_unavailable(digest, gap, style),
        RefusalReason::Changed { base, was, now } => format!(
            "was {was} at {base}, now {now}: a released tag never moves. Restore {was} and declare a new version for {now}"
        ),
        RefusalReason::Removed { base, digest } => format!(
            "declared at {base} (= {digest}) and now gone: releases are permanent. Put the line {} back in [services.{service}.releases]",
            style.code(&format!("\"{tag}\" = \"{digest}\""))
        ),
        RefusalReason::FreezesSignatures(frozen) => format!(
            "{}: the immutability policy {} of {} (tagPattern {}) {}; signing extends cosign's sha256-<hex>.sig tags, so no policy may freeze them. Narrow the pattern to the release tags (policy.registry_immutability = \"require\" creates one) or delete that policy",
            frozen.registry,
            frozen.uuid,
            frozen.scope,
            style.value(&frozen.pattern),
            match &frozen.verdict {
                Ok(tag) => format!("freezes the signature tag {tag}"),
                Err(why) => format!("may freeze signature tags: {why}"),
            }
        ),
        RefusalReason::Strict(warning) => format!(
            "{} (a warning, refused because of --strict)",
            warning_reason(warning, service, tag)
        ),
    }
}

/// What the warning is about, and what to do about it.
pub fn warning(warning: &Warning) -> String {
    let tag = warning.tag.as_deref().unwrap_or_default();
    warning_reason(&warning.reason, &warning.service, tag)
}

/// A warning's words mark nothing as code, so every form shares them.
fn warning_reason(reason: &WarningReason, service: &str, tag: &str) -> String {
    match reason {
        WarningReason::UnmanagedTag { target, file } => format!(
            "{target}:{tag} exists but {file} does not declare it: add it to [services.{service}.releases] to manage it"
        ),
        WarningReason::ScanDisabled { file } => format!(
            "policy.vulnerability_source = \"none\" in {file}: images are released without a vulnerability scan, while production images must carry no critical or high vulnerability"
        ),
        WarningReason::UnusedWaiver {
            id,
            service,
            expired,
        } => format!(
            "the waiver for {id}{} matches no blocked vulnerability in the images this plan would release{}: remove it from [[policy.waivers]] once no release needs it",
            service
                .as_deref()
                .map(|service| format!(" (service {service})"))
                .unwrap_or_default(),
            expired
                .map(|day| format!(", and it expired on {day}"))
                .unwrap_or_default()
        ),
        WarningReason::TagsUnprotected(tags) => format!(
            "no immutability policy on {} freezes release tags of {} (e.g. {}): anyone with a push token can move them. apply creates the policy {} in organization {} (needs QUAY_API_TOKEN with org:admin)",
            tags.registry,
            tags.target,
            tags.unprotected.join(", "),
            tags.pattern,
            tags.organization
        ),
        WarningReason::ImmutabilityUnavailable { registry, why } => format!(
            "{registry} cannot enforce immutable tags ({why}): only quayside keeps its release tags from moving; set policy.registry_immutability = \"off\" to silence this"
        ),
    }
}

/// One line for a blocking vulnerability:
/// `CVE-… (critical) openssl 3.0.2, fixed in 3.0.7, on linux/amd64`.
pub fn finding(finding: &Finding) -> String {
    let fixed = match &finding.fixed {
        Some(fixed) => format!("fixed in {fixed}"),
        None => "no fix yet".to_string(),
    };
    let expired = finding
        .waiver_expired
        .map(|day| format!(" [waiver expired {day}]"))
        .unwrap_or_default();
    format!(
        "{} ({}) {} {}, {fixed}, on {}{expired}",
        finding.id,
        finding.severity.name(),
        finding.package,
        finding.installed,
        finding.platform
    )
}

fn vulnerable(
    digest: &Digest,
    blocking: &[Finding],
    unscanned: &[Unscanned],
    style: Style,
) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for finding in blocking {
        if !ids.contains(&finding.id.as_str()) {
            ids.push(&finding.id);
        }
    }
    let platforms: BTreeSet<&str> = blocking.iter().map(|f| f.platform.as_str()).collect();
    let severities: BTreeSet<&str> = blocking.iter().map(|f| f.severity.name()).collect();
    let expired: BTreeSet<String> = blocking
        .iter()
        .filter_map(|f| Some(format!("{} expired on {}", f.id, f.waiver_expired?)))
        .collect();
    let mut message = format!(
        "{digest} has {} blocked vulnerabilit{} ({}) on {}: {}",
        blocking.len(),
        if blocking.len() == 1 { "y" } else { "ies" },
        join(severities, ", "),
        join(platforms, ", "),
        ids.join(", ")
    );
    if !expired.is_empty() {
        message.push_str(&format!(
            ". Waivers no longer count: {}",
            join(expired, ", ")
        ));
    }
    if !unscanned.is_empty() {
        message.push_str(&format!(
            ". Also unscanned: {}",
            platforms_without_data(unscanned, style)
        ));
    }
    message.push_str(
        ". Rebuild on the fixed package versions and declare the new digest, or accept the risk with a [[policy.waivers]] entry (id, reason, expires)",
    );
    message
}

fn scan_unavailable(digest: &Digest, gap: &ScanGap, style: Style) -> String {
    match gap {
        ScanGap::NotRead => format!(
            "no vulnerability scan of {digest} was read: run the plan again; never released without one unless policy.vulnerability_source = \"none\""
        ),
        ScanGap::Unreadable(reason) => format!(
            "no vulnerability scan of {digest} can be read: {}",
            style.prose(reason)
        ),
        ScanGap::NoPlatforms => {
            format!("{digest} has no platform manifest whose scan could be read")
        }
        ScanGap::Incomplete(unscanned) => format!(
            "no complete vulnerability scan of {digest}: {}. Wait for Quay to scan every platform and plan again; an image is never released on missing data",
            platforms_without_data(unscanned, style)
        ),
    }
}

/// `linux/arm64 (sha256:…): the scan is still queued; …`
fn platforms_without_data(unscanned: &[Unscanned], style: Style) -> String {
    let each: Vec<String> = unscanned
        .iter()
        .map(|platform| {
            format!(
                "{} ({}): {}",
                platform.platform,
                platform.digest.short(),
                style.prose(&platform.status.unavailable_reason().unwrap_or_default())
            )
        })
        .collect();
    each.join("; ")
}

fn join<T: AsRef<str>>(items: impl IntoIterator<Item = T>, separator: &str) -> String {
    items
        .into_iter()
        .map(|item| item.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::SourceLocation;

    fn refused(tag: &str, reason: RefusalReason) -> Refusal {
        Refusal {
            service: "gateway".into(),
            tag: tag.into(),
            reason,
            location: SourceLocation {
                file: "releases.toml".into(),
                line: 7,
                column: 1,
            },
            details: Vec::new(),
        }
    }

    #[test]
    fn marked_words_quote_values_and_plain_words_do_not() {
        let invalid = refused(
            "v1`x",
            RefusalReason::InvalidTag {
                problem: "does not start with `v`".into(),
            },
        );
        assert_eq!(
            refusal(&invalid, Style::Marked),
            "`` v1`x `` cannot be a production tag: does not start with `v`"
        );
        assert_eq!(
            refusal(&invalid, Style::Plain),
            "v1`x cannot be a production tag: does not start with v"
        );
        let removed = refused(
            "v1.0.0",
            RefusalReason::Removed {
                base: "abc1234".into(),
                digest: Digest::of_bytes(b"x"),
            },
        );
        assert!(refusal(&removed, Style::Marked).contains("Put the line `\"v1.0.0\" = "));
        assert!(refusal(&removed, Style::Plain).contains("Put the line \"v1.0.0\" = "));
    }
}
