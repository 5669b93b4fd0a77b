//! The plan: what quayside would do for each declared release, and what it
//! refuses to do. A value made by one pure function (`planner::plan`),
//! rendered by the pure functions in `crate::render`, and executed by `apply`.

mod code;
pub mod planner;
pub mod reason;
mod registry_policy;
mod release;
pub mod saved;
pub mod signatures;
mod strict;

use crate::config::model::{Severity, SourceLocation};
use crate::day::Day;
use crate::digest::Digest;
use serde::{Deserialize, Serialize};

pub use code::{ActionKind, Code};
pub use planner::{Criteria, HistoryCheck, plan};
pub use reason::{
    FrozenSignatures, RefusalReason, ScanGap, UnprotectedTags, Unscanned, WarningReason,
};
pub use signatures::SignatureCheck;

/// Version of the JSON form. Fields may be added, never renamed.
pub const SCHEMA_VERSION: u32 = 1;

/// Made only by [`planner::plan`], which derives the summary from the lists;
/// nothing edits a plan after that.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub schema: u32,
    pub summary: Summary,
    pub actions: Vec<Action>,
    /// Registry immutability policies to create, before any tag is put.
    pub policies: Vec<PolicyAction>,
    pub refusals: Vec<Refusal>,
    pub warnings: Vec<Warning>,
    /// Every release the file declared when the plan was made, and whether
    /// this plan checked it (`--base` without `--full` checks only what the
    /// change adds).
    pub declared: Vec<DeclaredRelease>,
    /// The `releases.toml` the plan was made from, as the user named it.
    pub file: String,
    /// With `--base`: the full commit id of the base revision.
    pub base: Option<String>,
    /// The full commit id the file was read at, when known.
    pub revision: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub sign: usize,
    pub unchanged: usize,
    pub refused: usize,
    pub warnings: usize,
    /// Registry immutability policies to create.
    #[serde(skip_serializing_if = "is_zero")]
    pub policies: usize,
    /// With `--base` (not `--full`): releases unchanged since the base,
    /// left out of this plan's registry reads.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_checked: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub service: String,
    pub tag: String,
    pub kind: ActionKind,
    pub digest: Digest,
    /// Repository references without scheme, or the `oci:` location as written.
    pub source: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub service: String,
    pub tag: String,
    /// What is wrong, as data; `crate::render::words` says it.
    pub reason: RefusalReason,
    pub location: SourceLocation,
    /// For `vulnerable`: every blocking vulnerability, per platform.
    pub details: Vec<Finding>,
}

impl Refusal {
    pub fn code(&self) -> Code {
        self.reason.code()
    }
}

/// A Quay organization immutability policy to create
/// (`policy.registry_immutability = "require"`): it freezes every tag fully
/// matching `tag_pattern` in `organization`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAction {
    pub kind: ActionKind,
    /// The registry host.
    pub registry: String,
    /// Quay's API base URL, without `/api/v1`.
    pub api: String,
    pub organization: String,
    pub tag_pattern: String,
    /// The target repositories whose release tags it protects.
    pub targets: Vec<String>,
}

/// One vulnerability that blocks a release (`vulnerable` refusals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The advisory, e.g. `CVE-2024-1234`.
    pub id: String,
    pub severity: Severity,
    pub package: String,
    pub installed: String,
    /// The first fixed version; `None` when no fix exists yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// `os/arch[/variant]`, or a single-platform image's short digest.
    pub platform: String,
    /// The platform manifest that was scanned.
    pub digest: Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A waiver for this id exists but expired on this day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver_expired: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Empty for a warning about the whole file (`scan-disabled`).
    pub service: String,
    pub tag: Option<String>,
    /// What was found, as data; `crate::render::words` says it.
    pub reason: WarningReason,
    /// Where in the file the warning points, when one line is to blame.
    pub location: Option<SourceLocation>,
}

impl Warning {
    pub fn code(&self) -> Code {
        self.reason.code()
    }
}

impl Plan {
    /// Something to write: a create or a sign.
    pub fn has_changes(&self) -> bool {
        self.summary.create + self.summary.sign + self.summary.policies > 0
    }

    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }
}

/// What `apply PLAN.json` reads back from a saved plan (`plan --out`, the
/// JSON form): the file it was made from and the actions it promised, which a
/// fresh plan must match. The rest of the form is for people and tools.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SavedPlan {
    pub schema: u32,
    pub file: String,
    pub actions: Vec<Action>,
    /// Absent from plans saved before it was added.
    #[serde(default)]
    pub declared: Vec<DeclaredRelease>,
}

/// One `(service, tag, digest)` of the file, and whether the plan checked it
/// against the registries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredRelease {
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub checked: bool,
}

#[cfg(test)]
mod tests;
