//! Plans saved by `quayside plan --out`, read back by `quayside apply
//! PLAN.json`.

use crate::digest::Digest;
use crate::plan::{SCHEMA_VERSION, SavedPlan};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a quayside plan (made by `quayside plan --out`): {source}",
        path.display()
    )]
    NotAPlan {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{} has plan schema {found}, this quayside reads schema {SCHEMA_VERSION}",
        path.display()
    )]
    Schema { path: PathBuf, found: u32 },
    /// `apply releases.toml`: the terraform habit of naming the config.
    #[error(
        "{} is a releases file, not a saved plan: run `quayside apply -f {}` to apply it (a plan saved by `quayside plan --out PLAN.json` is applied with `quayside apply PLAN.json`)",
        path.display(),
        path.display()
    )]
    ReleasesFile { path: PathBuf },
}

/// The saved plan and the sha256 of the file's bytes (what a promotion
/// attestation records as the plan carried out).
pub fn read(path: &Path) -> Result<(SavedPlan, Digest), SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let digest = Digest::of_bytes(text.as_bytes());
    let plan: SavedPlan = serde_json::from_str(&text).map_err(|source| {
        if looks_like_a_releases_file(&text) {
            SavedPlanError::ReleasesFile {
                path: path.to_path_buf(),
            }
        } else {
            SavedPlanError::NotAPlan {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if plan.schema != SCHEMA_VERSION {
        return Err(SavedPlanError::Schema {
            path: path.to_path_buf(),
            found: plan.schema,
        });
    }
    Ok((plan, digest))
}

/// TOML with a `version` and `[services…]`: what `releases.toml` holds.
fn looks_like_a_releases_file(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|table| table.contains_key("version") && table.contains_key("services"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_releases_file_given_as_the_plan_suggests_dash_f() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("releases.toml");
        std::fs::write(&path, "version = 1\n[services.gateway.releases]\n").unwrap();
        let error = read(&path).unwrap_err();
        assert!(matches!(error, SavedPlanError::ReleasesFile { .. }));
        assert!(error.to_string().contains("run `quayside apply -f "));
        std::fs::write(&path, "not json, not toml = = =").unwrap();
        assert!(matches!(
            read(&path).unwrap_err(),
            SavedPlanError::NotAPlan { .. }
        ));
    }
}
