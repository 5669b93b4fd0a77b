//! Whether a saved plan (`plan --out`) still holds when `apply PLAN.json`
//! runs: apply makes a fresh plan and carries out the saved one only if the
//! two agree. Pure; the words are `render::apply::stale`'s.

use crate::plan::{ActionKind, DeclaredRelease, Plan, SavedPlan};

/// Why a saved plan no longer holds, naming the first release concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// The file declares other releases than when the plan was made.
    FileChanged { release: String, change: FileChange },
    /// A release the saved plan checked would now be done differently.
    RegistriesChanged { release: String, now: ActionKind },
    /// A release the saved plan left unchecked (`--base` without `--full`)
    /// would now be created or signed: nobody reviewed that.
    NotChecked { release: String, now: ActionKind },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileChange {
    Added,
    Removed,
    DigestChanged,
}

/// `None` when the fresh plan does what the saved one said (releases the
/// saved plan did not check may be found unchanged).
pub fn staleness(saved: &SavedPlan, fresh: &Plan) -> Option<Staleness> {
    if !saved.declared.is_empty()
        && let Some(stale) = file_change(&saved.declared, &fresh.declared)
    {
        return Some(stale);
    }
    let saved_action = |service: &str, tag: &str| {
        saved
            .actions
            .iter()
            .find(|a| a.service == service && a.tag == tag)
    };
    let unchecked = |service: &str, tag: &str| {
        saved
            .declared
            .iter()
            .any(|d| d.service == service && d.tag == tag && !d.checked)
    };
    for action in &fresh.actions {
        let release = format!("{} {}", action.service, action.tag);
        match saved_action(&action.service, &action.tag) {
            Some(before)
                if before.kind == action.kind
                    && before.digest == action.digest
                    && before.target == action.target => {}
            Some(_) => {
                return Some(Staleness::RegistriesChanged {
                    release,
                    now: action.kind,
                });
            }
            None if unchecked(&action.service, &action.tag) => {
                if action.kind != ActionKind::Unchanged {
                    return Some(Staleness::NotChecked {
                        release,
                        now: action.kind,
                    });
                }
            }
            None => {
                return Some(Staleness::RegistriesChanged {
                    release,
                    now: action.kind,
                });
            }
        }
    }
    // A saved action the fresh plan no longer holds (its release refused
    // now, which apply reports before this comparison).
    saved
        .actions
        .iter()
        .find(|before| {
            !fresh
                .actions
                .iter()
                .any(|a| a.service == before.service && a.tag == before.tag)
        })
        .map(|before| Staleness::RegistriesChanged {
            release: format!("{} {}", before.service, before.tag),
            now: before.kind,
        })
}

/// The first release declared differently in `now` than in `then`.
fn file_change(then: &[DeclaredRelease], now: &[DeclaredRelease]) -> Option<Staleness> {
    let find = |list: &[DeclaredRelease], d: &DeclaredRelease| {
        list.iter()
            .find(|other| other.service == d.service && other.tag == d.tag)
            .map(|other| other.digest == d.digest)
    };
    let name = |d: &DeclaredRelease| format!("{} {}", d.service, d.tag);
    for before in then {
        match find(now, before) {
            None => {
                return Some(Staleness::FileChanged {
                    release: name(before),
                    change: FileChange::Removed,
                });
            }
            Some(false) => {
                return Some(Staleness::FileChanged {
                    release: name(before),
                    change: FileChange::DigestChanged,
                });
            }
            Some(true) => {}
        }
    }
    now.iter()
        .find(|after| find(then, after).is_none())
        .map(|after| Staleness::FileChanged {
            release: name(after),
            change: FileChange::Added,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::plan::{Action, SCHEMA_VERSION};

    fn action(tag: &str, kind: ActionKind) -> Action {
        Action {
            service: "gateway".into(),
            tag: tag.into(),
            kind,
            digest: Digest::of_bytes(tag.as_bytes()),
            source: "dev/gateway".into(),
            target: "prod/gateway".into(),
        }
    }

    fn declared(tag: &str, checked: bool) -> DeclaredRelease {
        DeclaredRelease {
            service: "gateway".into(),
            tag: tag.into(),
            digest: Digest::of_bytes(tag.as_bytes()),
            checked,
        }
    }

    fn saved(actions: Vec<Action>, declared: Vec<DeclaredRelease>) -> SavedPlan {
        SavedPlan {
            schema: SCHEMA_VERSION,
            file: "releases.toml".into(),
            actions,
            declared,
        }
    }

    fn fresh(actions: Vec<Action>) -> Plan {
        let declared = actions.iter().map(|a| declared(&a.tag, true)).collect();
        Plan {
            schema: SCHEMA_VERSION,
            summary: Default::default(),
            actions,
            policies: Vec::new(),
            refusals: Vec::new(),
            warnings: Vec::new(),
            declared,
            file: "releases.toml".into(),
            base: None,
            revision: None,
        }
    }

    #[test]
    fn unchecked_releases_found_unchanged_keep_the_saved_plan_valid() {
        let plan = saved(
            vec![action("v2.0.0", ActionKind::Create)],
            vec![declared("v1.0.0", false), declared("v2.0.0", true)],
        );
        let now = fresh(vec![
            action("v1.0.0", ActionKind::Unchanged),
            action("v2.0.0", ActionKind::Create),
        ]);
        assert_eq!(staleness(&plan, &now), None);
    }

    #[test]
    fn an_unchecked_release_to_create_is_named() {
        let plan = saved(Vec::new(), vec![declared("v1.0.0", false)]);
        let now = fresh(vec![action("v1.0.0", ActionKind::Create)]);
        assert_eq!(
            staleness(&plan, &now),
            Some(Staleness::NotChecked {
                release: "gateway v1.0.0".into(),
                now: ActionKind::Create
            })
        );
    }

    #[test]
    fn a_file_edit_is_told_from_a_registry_change() {
        let plan = saved(
            vec![
                action("v1.0.0", ActionKind::Create),
                action("v2.0.0", ActionKind::Create),
            ],
            vec![declared("v1.0.0", true), declared("v2.0.0", true)],
        );
        let removed = fresh(vec![action("v1.0.0", ActionKind::Create)]);
        assert_eq!(
            staleness(&plan, &removed),
            Some(Staleness::FileChanged {
                release: "gateway v2.0.0".into(),
                change: FileChange::Removed
            })
        );
        let created_meanwhile = fresh(vec![
            action("v1.0.0", ActionKind::Create),
            action("v2.0.0", ActionKind::Unchanged),
        ]);
        assert_eq!(
            staleness(&plan, &created_meanwhile),
            Some(Staleness::RegistriesChanged {
                release: "gateway v2.0.0".into(),
                now: ActionKind::Unchanged
            })
        );
    }
}
