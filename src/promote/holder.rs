//! Which index of the source repository holds a single-platform manifest,
//! so that `promote` can say "this is the linux/amd64 manifest of the index
//! tag `dev` points at; release the index" instead of releasing one
//! platform by mistake, and stay quiet when no index relates to it.
//!
//! The search reads the tags' manifests (one GET each, a few in flight),
//! at most [`MAX_TAGS`] of them: a development repository of commit tags
//! can hold thousands, and the answer is a hint, not a rule.

use crate::digest::Digest;
use crate::registry::manifest::ManifestKind;
use crate::registry::{ManifestRef, RegistryError, Repository};
use futures::StreamExt as _;

/// Tags whose manifests are read at most.
pub const MAX_TAGS: usize = 100;
/// Manifest reads in flight.
const IN_FLIGHT: usize = 8;

/// An index that lists the manifest, and the tag that points at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub tag: String,
    pub index: Digest,
    /// The manifest's platform as the index states it (`linux/amd64`).
    pub platform: Option<String>,
}

/// What the search found, and how far it looked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub holder: Option<Holder>,
    /// Tags whose manifests were read.
    pub searched: usize,
    /// Tags the repository lists.
    pub tags: usize,
}

/// Looks for an index among `repository`'s tags (`first` first: the tag the
/// user named) that lists `manifest` as a child.
pub async fn find(
    repository: &dyn Repository,
    manifest: &Digest,
    first: Option<&str>,
) -> Result<Search, RegistryError> {
    let mut tags = repository.list_tags().await?;
    // Cosign's signature tags are never indexes of images.
    tags.retain(|t| !t.starts_with("sha256-"));
    let total = tags.len();
    if let Some(first) = first
        && let Some(at) = tags.iter().position(|t| t == first)
    {
        let tag = tags.remove(at);
        tags.insert(0, tag);
    }
    tags.truncate(MAX_TAGS);
    let searched = tags.len();
    let mut reads = futures::stream::iter(tags.into_iter().enumerate())
        .map(|(order, tag)| async move {
            let read = repository.get_manifest(ManifestRef::Tag(&tag)).await;
            (order, tag, read)
        })
        .buffer_unordered(IN_FLIGHT);
    let mut found: Option<(usize, Holder)> = None;
    while let Some((order, tag, read)) = reads.next().await {
        let Some(index) = read? else { continue };
        let Ok(ManifestKind::Index { children }) = index.kind() else {
            continue;
        };
        let Some(child) = children.iter().find(|c| &c.digest == manifest) else {
            continue;
        };
        // The earliest tag in search order wins, whatever order reads end in.
        if found.as_ref().is_none_or(|(seen, _)| order < *seen) {
            let holder = Holder {
                tag,
                index: index.digest.clone(),
                platform: child.platform.as_ref().map(|p| p.to_string()),
            };
            found = Some((order, holder));
        }
    }
    Ok(Search {
        holder: found.map(|(_, holder)| holder),
        searched,
        tags: total,
    })
}
