//! Live state: what the registries hold, as far as the plan needs to know.
//! `read` gathers it (IO, concurrent); the planner consumes it (pure).

pub mod policies;
pub mod quay_listing;
pub mod read;
pub mod scans;
pub mod standing;

use crate::digest::Digest;
use crate::immutability::TargetPolicies;
use crate::registry::RawManifest;
use crate::scan::ImageScan;
use crate::signing::SignatureEntry;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

pub use read::{Scope, read_live_state, read_live_state_knowing, read_live_state_listing};
pub use standing::{Standing, standing};

impl LiveState {
    /// The current tag lists the plan read, keyed for apply.
    pub fn current_tags(&self, desired: &crate::config::model::Desired) -> CurrentTags {
        desired
            .services
            .iter()
            .filter_map(|service| Some((service, self.services.get(&service.name)?)))
            .filter(|(_, live)| live.tags_current)
            .map(|(service, live)| (service.target.reference(), live.target_tags.clone()))
            .collect()
    }

    /// Every source root manifest the plan read, keyed for apply.
    pub fn source_roots(&self, desired: &crate::config::model::Desired) -> SourceRoots {
        desired
            .services
            .iter()
            .filter_map(|service| Some((service, self.services.get(&service.name)?)))
            .flat_map(|(service, live)| {
                let source = service.source.reference();
                live.source_roots
                    .iter()
                    .map(move |(digest, root)| ((source.clone(), digest.clone()), root.clone()))
            })
            .collect()
    }
}

/// Root manifests of the source read by a plan, by source repository
/// reference and digest (see [`LiveService::source_roots`]).
pub type SourceRoots = BTreeMap<(String, Digest), RawManifest>;

/// The tags of each target repository whose tag list a plan read as
/// evidence of absence (`LiveService::tags_current`), by target reference:
/// apply signs a digest whose `.sig` tag was not among them without reading
/// that tag first.
pub type CurrentTags = BTreeMap<String, BTreeSet<String>>;

#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// Keyed by service name.
    pub services: BTreeMap<String, LiveService>,
    /// With `policy.registry_immutability = "require"`: each target
    /// repository's immutability policies (`policies`).
    pub immutability: Vec<TargetPolicies>,
}

#[derive(Clone, Debug, Default)]
pub struct LiveService {
    /// Every tag of the target repository (empty if it does not exist yet).
    pub target_tags: BTreeSet<String>,
    /// `target_tags` came from a read that is evidence of absence too
    /// (Quay's REST tag list, `quay_listing`), not a possibly cached
    /// `tags/list` page.
    pub tags_current: bool,
    /// Declared tags that exist in the target, with the digest they point at.
    pub declared_tags: BTreeMap<String, Digest>,
    /// For declared digests already tagged in the target: the signatures of
    /// the image and of each of its child manifests, as far as they were read
    /// (see [`ImageSignatures`]).
    pub signatures: BTreeMap<Digest, ImageSignatures>,
    /// For digests that would be created: whether the source has them.
    pub source_has: BTreeMap<Digest, bool>,
    /// For digests that would be created: the root manifest as the source
    /// served it (its digest checked), for apply to copy without reading it
    /// again. Absent where the bytes did not arrive intact.
    pub source_roots: BTreeMap<Digest, RawManifest>,
    /// Set when a digest to create is missing from the source and the source
    /// repository itself does not exist.
    pub source_missing: Option<AbsentRepository>,
    /// For digests that would be created, with `vulnerability_source =
    /// "quay"`: their vulnerability scans (see `scans`).
    pub scans: BTreeMap<Digest, ImageScan>,
}

/// A source repository that does not exist, and the repositories beside it
/// (same namespace) that the registry lists: empty where it lists none or
/// refuses to. The planner picks a "did you mean" from them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AbsentRepository {
    pub neighbours: Vec<String>,
}

/// The signatures of one image, and how each manifest's was checked. The
/// root manifest (the digest the tag points at, what `cosign verify
/// image:tag` checks) is always read in full; children of an index are read
/// in full by an audit (`verify`), and only looked up in the tag list by a
/// plan: nothing here weakens silently, the two lists say which is which.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSignatures {
    /// Manifests whose stored signatures were read, to verify with the public
    /// key: the root first, then (in a full read) every child.
    pub manifests: Vec<ManifestSignatures>,
    /// Children of an index checked by presence only: whether their
    /// `sha256-<hex>.sig` tag is in the target's tag list. A child without
    /// one is unsigned (e.g. signed without `--recursive`); one with it is
    /// taken as signed without its signature being verified.
    pub listed_children: Vec<SignatureTagPresence>,
    /// The Sigstore bundles attached to the root manifest (as referrers or
    /// in the fallback tag), unverified: signatures, and in an audit the
    /// promotion attestations too; `None` where they were not read (a plan
    /// without the bundle format).
    pub bundles: Option<Vec<Bytes>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSignatures {
    pub digest: Digest,
    pub entries: Vec<SignatureEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureTagPresence {
    pub digest: Digest,
    /// `digest.signature_tag()` exists in the target: in its tag list, or,
    /// where the (possibly cached) list lacks it, found by asking for it.
    pub listed: bool,
}

impl ImageSignatures {
    /// How many manifests were checked each way: `(read and to be verified,
    /// only their signature tag looked up)`.
    pub fn check_counts(&self) -> (usize, usize) {
        (self.manifests.len(), self.listed_children.len())
    }
}
