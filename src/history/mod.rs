//! Git-aware plans (`--base REV`): the base revision's `releases.toml` is the
//! record of what was released. Compared with it, a plan refuses `changed` and
//! `removed` releases, reads the registries only for the releases the change
//! adds (the cost of a PR's plan grows with the PR, not with the file), and
//! shows the diff under review. Also the commit `apply` records as provenance.
//!
//! `git` is the adapter, `rules` and `diff` are pure; this module turns their
//! findings into the [`HistoryCheck`] the planner takes, without making the
//! planner aware of git.

pub mod diff;
pub mod git;
pub mod rules;

use crate::config::model::Desired;
use crate::plan::{Code, HistoryCheck};
use git::{CommitId, FileHistory, GitError};
use rules::Comparison;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(
        "{label} (the base revision's file) is not valid, so the change cannot be checked against it:\n{diagnostics}"
    )]
    BaseInvalid { label: String, diagnostics: String },
    #[error("cannot read {file} for the diff: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "{path} has uncommitted changes (in the work tree or the index, or it is not tracked): apply releases what git records. Commit the file first, or pass --allow-dirty to apply it as it is (the signatures then record {} without these changes); nothing was written",
        head.as_ref().map_or("no commit".to_string(), |oid| format!("commit {oid}"))
    )]
    Uncommitted {
        path: String,
        head: Option<CommitId>,
    },
}

/// The base revision and what the change does relative to it.
#[derive(Clone, Debug)]
pub struct Baseline {
    pub base: CommitId,
    /// The commit checked out, when there is one.
    pub head: Option<CommitId>,
    /// `releases.toml@abc1234`: how locations in the base file are named.
    pub label: String,
    /// Unified diff base → work tree; empty when the file is unchanged.
    pub diff: String,
    pub comparison: Comparison,
    /// The file's path at the base, when it had another name there.
    pub renamed_from: Option<String>,
}

/// The part of the desired state a plan reads the registries for, and what
/// the comparison with the base adds to that plan.
#[derive(Clone, Debug)]
pub struct Scoped {
    pub desired: Desired,
    pub history: HistoryCheck,
}

impl Baseline {
    /// Reads `file` at `rev` and compares it with `desired` (the work tree's).
    pub fn load(file: &Path, rev: &str, desired: &Desired) -> Result<Self, HistoryError> {
        let history = FileHistory::open(file)?;
        let base = history.resolve(rev)?;
        let head = history.head()?;
        let at = history.read_at(base.clone())?;
        let name = match &at.renamed_from {
            Some(old) => old.clone(),
            None => desired.file.clone(),
        };
        let label = format!("{name}@{}", base.short());
        let base_desired = match &at.text {
            Some(text) => Some(
                crate::config::parse_str(text, &label, &desired.base_dir).map_err(
                    |diagnostics| HistoryError::BaseInvalid {
                        label: label.clone(),
                        diagnostics: diagnostics.to_string(),
                    },
                )?,
            ),
            None => None,
        };
        let current = std::fs::read_to_string(file).map_err(|source| HistoryError::Io {
            file: desired.file.clone(),
            source,
        })?;
        let old_name = if at.text.is_some() {
            label.as_str()
        } else {
            "/dev/null"
        };
        let diff = diff::unified(
            at.text.as_deref().unwrap_or(""),
            &current,
            old_name,
            &desired.file,
        );
        let comparison = rules::compare(base_desired.as_ref(), desired, base.short());
        Ok(Baseline {
            base,
            head,
            label,
            diff,
            comparison,
            renamed_from: at.renamed_from,
        })
    }

    /// The releases to read and plan: those the change adds (every release
    /// not refused by the history rules, with `full`). With
    /// `policy.require_rc`, the releases sharing a digest with one in scope
    /// come along, so the rc that validates a new final is there to see.
    pub fn scope(&self, desired: &Desired, full: bool) -> Scoped {
        let refused: Vec<(&str, &str)> = self
            .comparison
            .refusals
            .iter()
            .filter(|r| r.code() == Code::Changed)
            .map(|r| (r.service.as_str(), r.tag.as_str()))
            .collect();
        let mut scoped = desired.clone();
        let mut left_out = BTreeMap::new();
        for service in &mut scoped.services {
            let wanted = |tag: &str| {
                let key = (service.name.clone(), tag.to_string());
                !refused.contains(&(service.name.as_str(), tag))
                    && (full || self.comparison.added.contains(&key))
            };
            let digests: Vec<_> = service
                .releases
                .iter()
                .filter(|r| wanted(&r.tag))
                .map(|r| r.digest.clone())
                .collect();
            let keep: Vec<bool> = service
                .releases
                .iter()
                .map(|r| {
                    wanted(&r.tag)
                        || (desired.policy.require_rc
                            && !refused.contains(&(service.name.as_str(), r.tag.as_str()))
                            && digests.contains(&r.digest))
                })
                .collect();
            for (release, _) in service.releases.iter().zip(&keep).filter(|(_, k)| !**k) {
                left_out.insert(
                    (service.name.clone(), release.tag.clone()),
                    release.digest.clone(),
                );
            }
            let mut flags = keep.into_iter();
            service.releases.retain(|_| flags.next().unwrap_or(false));
        }
        // Changed releases are refused, not "not checked".
        let not_checked = left_out.len().saturating_sub(refused.len());
        scoped.services.retain(|s| !s.releases.is_empty());
        Scoped {
            desired: scoped,
            history: HistoryCheck {
                base: self.base.to_string(),
                revision: self.head.as_ref().map(|oid| oid.to_string()),
                refusals: self.comparison.refusals.clone(),
                not_checked,
                left_out,
            },
        }
    }
}

/// Where `apply` runs from: the file's path in its git repository
/// (repo-relative, `/`-separated) and the commit checked out (`None` before
/// the first commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFrom {
    pub path: String,
    pub commit: Option<String>,
}

/// The file and commit `apply` records as provenance, after checking that
/// the file holds no uncommitted change (unless `allow_dirty`). `Ok(None)`
/// outside git.
pub fn applied_from(file: &Path, allow_dirty: bool) -> Result<Option<AppliedFrom>, HistoryError> {
    let history = match FileHistory::open(file) {
        Ok(history) => history,
        Err(GitError::NotARepository(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let head = history.head()?;
    if !allow_dirty && history.is_dirty()? {
        return Err(HistoryError::Uncommitted {
            path: history.path().to_string(),
            head,
        });
    }
    Ok(Some(AppliedFrom {
        path: history.path().to_string(),
        commit: head.map(|oid| oid.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn desired(file: &str, policy: &str, releases: &str) -> Desired {
        let text = format!(
            "version = 1\n[registries]\nsource = \"oci:src\"\ntarget = \"oci:dst\"\n{policy}[services.gateway.releases]\n{releases}[services.other.releases]\n\"v3.0.0\" = \"{B}\"\n"
        );
        crate::config::parse_str(&text, file, Path::new(".")).expect("valid test file")
    }

    fn baseline(base: &Desired, new: &Desired) -> Baseline {
        Baseline {
            base: CommitId::zero(),
            head: None,
            label: "r@0000000".into(),
            diff: String::new(),
            comparison: rules::compare(Some(base), new, "0000000"),
            renamed_from: None,
        }
    }

    fn tags(scoped: &Scoped) -> Vec<String> {
        scoped
            .desired
            .services
            .iter()
            .flat_map(|s| {
                s.releases
                    .iter()
                    .map(move |r| format!("{} {}", s.name, r.tag))
            })
            .collect()
    }

    #[test]
    fn scope_holds_only_added_releases_and_drops_untouched_services() {
        let base = desired("r@b", "", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let new = desired(
            "r",
            "",
            &format!("\"v1.0.0\" = \"{A}\"\n\"v1.1.0\" = \"{B}\"\n"),
        );
        let scoped = baseline(&base, &new).scope(&new, false);
        assert_eq!(tags(&scoped), ["gateway v1.1.0"]);
        assert_eq!(scoped.history.not_checked, 2);
        let full = baseline(&base, &new).scope(&new, true);
        assert_eq!(full.history.not_checked, 0);
        assert_eq!(tags(&full).len(), 3);
    }

    #[test]
    fn a_changed_release_is_neither_planned_nor_counted_as_not_checked() {
        let base = desired("r@b", "", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let new = desired("r", "", &format!("\"v1.0.0\" = \"{B}\"\n"));
        for full in [false, true] {
            let scoped = baseline(&base, &new).scope(&new, full);
            assert!(!tags(&scoped).contains(&"gateway v1.0.0".to_string()));
            assert_eq!(scoped.history.not_checked, if full { 0 } else { 1 });
        }
    }

    #[test]
    fn the_history_check_names_what_the_scope_leaves_out() {
        let base = desired("r@b", "", &format!("\"v1.0.0\" = \"{A}\"\n"));
        let new = desired(
            "r",
            "",
            &format!("\"v1.0.0\" = \"{B}\"\n\"v1.1.0\" = \"{B}\"\n"),
        );
        let history = baseline(&base, &new).scope(&new, false).history;
        let left_out: Vec<String> = history
            .left_out
            .keys()
            .map(|(service, tag)| format!("{service} {tag}"))
            .collect();
        // The changed release (refused) and the untouched service's release.
        assert_eq!(left_out, ["gateway v1.0.0", "other v3.0.0"]);
        assert_eq!(history.not_checked, 1);
        assert_eq!(history.refusals.len(), 1);
        assert_eq!(history.base, CommitId::zero().to_string());
    }

    #[test]
    fn with_require_rc_the_validating_rc_comes_along() {
        let policy = "[policy]\nrequire_rc = true\n";
        let base = desired("r@b", policy, &format!("\"v1.0.0-rc1\" = \"{A}\"\n"));
        let new = desired(
            "r",
            policy,
            &format!("\"v1.0.0-rc1\" = \"{A}\"\n\"v1.0.0\" = \"{A}\"\n"),
        );
        let scoped = baseline(&base, &new).scope(&new, false);
        assert_eq!(tags(&scoped), ["gateway v1.0.0-rc1", "gateway v1.0.0"]);
        assert_eq!(scoped.history.not_checked, 1);
    }
}
