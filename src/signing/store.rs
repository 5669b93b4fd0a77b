//! Reading and extending `sha256-<hex>.sig` manifests through the registry seam.

use crate::digest::Digest;
use crate::registry::{RegistryError, Repository};
use crate::signing::SignatureEntry;

/// Every signature stored for `digest`; empty when there is no `.sig` tag.
pub async fn read_signatures(
    _repository: &dyn Repository,
    _digest: &Digest,
) -> Result<Vec<SignatureEntry>, RegistryError> {
    todo!()
}

/// Adds `entry` to the signature manifest of `digest`, keeping existing ones.
pub async fn add_signature(
    _repository: &dyn Repository,
    _digest: &Digest,
    _entry: &SignatureEntry,
) -> Result<(), RegistryError> {
    todo!()
}
