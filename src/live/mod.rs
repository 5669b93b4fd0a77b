//! Live state: what the registries hold, as far as the plan needs to know.
//! `read` gathers it (IO, concurrent); the planner consumes it (pure).

pub mod read;
pub mod scans;

use crate::digest::Digest;
use crate::scan::ImageScan;
use crate::signing::SignatureEntry;
use std::collections::{BTreeMap, BTreeSet};

pub use read::{Scope, read_live_state};

#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// Keyed by service name.
    pub services: BTreeMap<String, LiveService>,
    /// The UTC day (`YYYY-MM-DD`) the state was read, against which waiver
    /// expiry is judged; `None` treats every dated waiver as expired.
    pub today: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LiveService {
    /// Every tag of the target repository (empty if it does not exist yet).
    pub target_tags: BTreeSet<String>,
    /// Declared tags that exist in the target, with the digest they point at.
    pub declared_tags: BTreeMap<String, Digest>,
    /// For declared digests already tagged in the target: the signatures of
    /// the image and of each of its child manifests.
    pub signatures: BTreeMap<Digest, ImageSignatures>,
    /// For digests that would be created: whether the source has them.
    pub source_has: BTreeMap<Digest, bool>,
    /// For digests that would be created, with `vulnerability_source =
    /// "quay"`: their vulnerability scans (see `scans`).
    pub scans: BTreeMap<Digest, ImageScan>,
}

/// The signatures stored for one image: its root manifest first, then every
/// child manifest of an index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSignatures {
    pub manifests: Vec<ManifestSignatures>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSignatures {
    pub digest: Digest,
    pub entries: Vec<SignatureEntry>,
}
