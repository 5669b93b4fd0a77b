//! Plans saved by `quayside plan --out`, read back by `quayside apply
//! PLAN.json`.

use crate::plan::{Plan, SCHEMA_VERSION};
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
}

pub fn read(path: &Path) -> Result<Plan, SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedPlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|source| SavedPlanError::NotAPlan {
        path: path.to_path_buf(),
        source,
    })?;
    if plan.schema != SCHEMA_VERSION {
        return Err(SavedPlanError::Schema {
            path: path.to_path_buf(),
            found: plan.schema,
        });
    }
    Ok(plan)
}
