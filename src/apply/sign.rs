//! Signs an image in its target repository: the root manifest and every child
//! of an index (what a containers `policy.json` verifier checks), adding to
//! existing signature manifests and skipping manifests already validly signed.

use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::live::read::read_image_signatures;
use crate::plan::SignatureCheck;
use crate::registry::{RegistryError, Repository};
use crate::signing::store::add_signature;
use crate::signing::{Payload, SignatureEntry, Signer};
use bytes::Bytes;
use std::collections::BTreeMap;

/// What the payload's `optional` field records about where a release came from.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub annotations: BTreeMap<String, String>,
}

impl Provenance {
    pub fn for_release(source: &RepositoryLocation, digest: &Digest, commit: Option<&str>) -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "dev.quayside/source".to_string(),
            format!("{}@{digest}", source.reference()),
        );
        if let Some(commit) = commit {
            annotations.insert("dev.quayside/git-commit".to_string(), commit.to_string());
        }
        Provenance { annotations }
    }
}

/// Signs every manifest of the image `digest` that lacks a valid signature.
/// Returns how many signatures were added.
pub async fn sign_image(
    target: &dyn Repository,
    digest: &Digest,
    signer: &dyn Signer,
    verifier: &dyn SignatureCheck,
    provenance: &Provenance,
) -> Result<usize, RegistryError> {
    let identity = target.location().signed_identity();
    let image = read_image_signatures(target, digest).await?;
    if image.manifests.is_empty() {
        return Err(RegistryError::Invalid {
            repository: target.location().reference(),
            message: format!("cannot sign {digest}: the manifest is not in the repository"),
        });
    }
    let mut added = 0;
    for manifest in &image.manifests {
        let valid = manifest
            .entries
            .iter()
            .any(|entry| verifier.accepts(entry, &manifest.digest, &identity));
        if valid {
            continue;
        }
        let payload = Payload {
            docker_reference: identity.clone(),
            manifest_digest: manifest.digest.clone(),
            optional: provenance.annotations.clone(),
        }
        .to_bytes();
        let signature = signer
            .sign(&payload)
            .map_err(|error| RegistryError::Invalid {
                repository: target.location().reference(),
                message: format!("signing {} failed: {error}", manifest.digest),
            })?;
        let entry = SignatureEntry {
            payload: Bytes::from(payload),
            signature,
        };
        add_signature(target, &manifest.digest, &entry).await?;
        added += 1;
    }
    Ok(added)
}
