//! The plan: what quayside would do for each declared release, and what it
//! refuses to do. A value computed without IO (see `planner`), rendered by the
//! pure functions in `crate::render`, and executed by `apply`.

mod code;
pub mod planner;
mod release;
pub mod signatures;
pub mod strict;

use crate::config::model::{Severity, SourceLocation};
use crate::digest::Digest;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use code::{ActionKind, Code};
pub use planner::{Criteria, HistoryCheck, plan};
pub use signatures::SignatureCheck;

/// Version of the JSON form. Fields may be added, never renamed.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub schema: u32,
    pub summary: Summary,
    pub actions: Vec<Action>,
    pub refusals: Vec<Refusal>,
    pub warnings: Vec<Warning>,
    /// The `releases.toml` the plan was made from, as the user named it.
    pub file: String,
    /// With `--base`: the full commit id of the base revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The full commit id the file was read at, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub sign: usize,
    pub unchanged: usize,
    pub refused: usize,
    pub warnings: usize,
    /// With `--base` (not `--full`): releases unchanged since the base,
    /// left out of this plan's registry reads.
    #[serde(default, skip_serializing_if = "is_zero")]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: Code,
    pub service: String,
    pub tag: String,
    /// What is wrong and what to do about it.
    pub message: String,
    pub location: SourceLocation,
    /// For `vulnerable`: every blocking vulnerability, per platform.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Finding>,
}

/// One vulnerability that blocks a release (`vulnerable` refusals).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The advisory, e.g. `CVE-2024-1234`.
    pub id: String,
    pub severity: Severity,
    pub package: String,
    pub installed: String,
    /// The first fixed version; `None` when no fix exists yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// `os/arch[/variant]`, or a single-platform image's short digest.
    pub platform: String,
    /// The platform manifest that was scanned.
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A waiver for this id exists but expired on this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver_expired: Option<NaiveDate>,
}

impl Finding {
    /// One line for people: `CVE-… (critical) openssl 3.0.2 -> 3.0.7 on linux/amd64`.
    pub fn summary(&self) -> String {
        let fixed = match &self.fixed {
            Some(fixed) => format!("fixed in {fixed}"),
            None => "no fix yet".to_string(),
        };
        let expired = self
            .waiver_expired
            .as_ref()
            .map(|day| format!(" [waiver expired {day}]"))
            .unwrap_or_default();
        format!(
            "{} ({}) {} {}, {fixed}, on {}{expired}",
            self.id,
            self.severity.name(),
            self.package,
            self.installed,
            self.platform
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: Code,
    /// Empty for a warning about the whole file (`scan-disabled`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub message: String,
    /// Where in the file the warning points, when one line is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl Plan {
    /// Something to write: a create or a sign.
    pub fn has_changes(&self) -> bool {
        self.summary.create + self.summary.sign > 0
    }

    pub fn is_refused(&self) -> bool {
        !self.refusals.is_empty()
    }
}

#[cfg(test)]
mod tests;
