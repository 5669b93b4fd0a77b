//! The history rules, pure: compared with the base revision's file, a release
//! may be added but never `changed` (another digest) nor `removed`. Git is the
//! record, so these hold even when the registry has not caught up yet.

use crate::config::model::{Desired, Release, Service};
use crate::plan::{Refusal, RefusalReason};
use std::collections::{BTreeMap, BTreeSet};

/// A release's identity across revisions.
pub type Key = (String, String);

/// How the new file's releases relate to the base file's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// New in this revision, or moved to another target repository: to be checked.
    pub added: BTreeSet<Key>,
    /// Same digest and target as at the base.
    pub unchanged: BTreeSet<Key>,
    /// Refused `changed` or `removed`.
    pub refusals: Vec<Refusal>,
}

/// Compares the new desired state with the base's (`None`: the base had no
/// file, so everything is new). `base_label` names the base revision in
/// messages (`abc1234`).
pub fn compare(base: Option<&Desired>, new: &Desired, base_label: &str) -> Comparison {
    let before: BTreeMap<Key, (&Service, &Release)> = base
        .map(|base| releases(base).collect())
        .unwrap_or_default();
    let mut comparison = Comparison::default();
    for (key, (service, release)) in releases(new) {
        let Some((old_service, old)) = before.get(&key) else {
            comparison.added.insert(key);
            continue;
        };
        if old.digest != release.digest {
            comparison.refusals.push(Refusal {
                service: key.0.clone(),
                tag: key.1.clone(),
                reason: RefusalReason::Changed {
                    base: base_label.to_string(),
                    was: old.digest.clone(),
                    now: release.digest.clone(),
                },
                location: release.location.clone(),
                details: Vec::new(),
            });
        } else if old_service.target != service.target {
            comparison.added.insert(key);
        } else {
            comparison.unchanged.insert(key);
        }
    }
    let now: BTreeSet<Key> = releases(new).map(|(key, _)| key).collect();
    for (key, (_, old)) in &before {
        if now.contains(key) {
            continue;
        }
        comparison.refusals.push(Refusal {
            service: key.0.clone(),
            tag: key.1.clone(),
            reason: RefusalReason::Removed {
                base: base_label.to_string(),
                digest: old.digest.clone(),
            },
            location: old.location.clone(),
            details: Vec::new(),
        });
    }
    comparison
}

fn releases(desired: &Desired) -> impl Iterator<Item = (Key, (&Service, &Release))> {
    desired.services.iter().flat_map(|service| {
        service.releases.iter().map(move |release| {
            (
                (service.name.clone(), release.tag.clone()),
                (service, release),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Code;
    use std::path::Path;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn desired(file: &str, releases: &str) -> Desired {
        let text = format!(
            "version = 1\n[registries]\nsource = \"oci:src\"\ntarget = \"oci:dst\"\n[services.gateway.releases]\n{releases}"
        );
        crate::config::parse_str(&text, file, Path::new(".")).expect("valid test file")
    }

    fn key(tag: &str) -> Key {
        ("gateway".to_string(), tag.to_string())
    }

    #[test]
    fn added_release_is_the_only_one_to_check() {
        let base = desired("r@b", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let new = desired(
            "r",
            &format!("\"v1.0.0\" = \"{A}\"\n\"v1.1.0\" = \"{B}\"\n"),
        );
        let c = compare(Some(&base), &new, "b");
        assert_eq!(c.added, BTreeSet::from([key("v1.1.0")]));
        assert_eq!(c.unchanged, BTreeSet::from([key("v1.0.0")]));
        assert!(c.refusals.is_empty());
    }

    #[test]
    fn changed_digest_is_refused_at_the_new_line() {
        let base = desired("r@b", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let new = desired("r", &format!("\n\"v1.0.0\" = \"{B}\"\n"));
        let c = compare(Some(&base), &new, "b");
        assert_eq!(c.refusals.len(), 1);
        let refusal = &c.refusals[0];
        assert_eq!(refusal.code(), Code::Changed);
        assert_eq!(
            (refusal.location.file.as_str(), refusal.location.line),
            ("r", 7)
        );
        let message = crate::render::words::refusal(refusal, crate::render::words::Style::Marked);
        assert!(message.contains(A) && message.contains(B));
        assert!(c.added.is_empty() && c.unchanged.is_empty());
    }

    #[test]
    fn removed_release_is_refused_at_the_base_line() {
        let base = desired(
            "r@b",
            &format!("\"v1.0.0\" = \"{A}\"\n\"v1.1.0\" = \"{B}\"\n"),
        );
        let new = desired("r", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let c = compare(Some(&base), &new, "b");
        assert_eq!(c.refusals.len(), 1);
        let refusal = &c.refusals[0];
        assert_eq!(refusal.code(), Code::Removed);
        assert_eq!(refusal.tag, "v1.1.0");
        assert_eq!(
            (refusal.location.file.as_str(), refusal.location.line),
            ("r@b", 7)
        );
    }

    #[test]
    fn no_base_file_means_everything_is_new() {
        let new = desired("r", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let c = compare(None, &new, "b");
        assert_eq!(c.added, BTreeSet::from([key("v1.0.0")]));
        assert!(c.refusals.is_empty());
    }

    #[test]
    fn reordering_changes_nothing() {
        let base = desired(
            "r@b",
            &format!("\"v1.0.0\" = \"{A}\"\n\"v1.1.0\" = \"{B}\"\n"),
        );
        let new = desired(
            "r",
            &format!("\"v1.1.0\"   =   \"{B}\"\n\n\"v1.0.0\" = \"{A}\"\n"),
        );
        let c = compare(Some(&base), &new, "b");
        assert!(c.added.is_empty() && c.refusals.is_empty());
        assert_eq!(c.unchanged.len(), 2);
    }
}
