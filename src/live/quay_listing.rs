//! A plan's read of a target on Quay through its REST tag list
//! (`quay::tag_list`): 100 tags with their digests per request, answered from
//! Quay's database (not the 120 s `tags/list` cache), so it is evidence of
//! absence as well as of presence. It replaces, per service, the registry's
//! tag list, and per release the GET of its tag and the HEAD of each
//! child's `.sig` tag the cached list lacked.
//!
//! What an unchanged, signed release still costs: GET of the root's `.sig`
//! manifest (its signature is verified with the key, never assumed from the
//! tag's presence; payloads inline, else one GET each). An index's children
//! (whose `.sig` tags are looked up in the listing) are those its signature
//! names when the key verifies that signature (apply writes the names; the
//! rule is `plan::signatures::claimed_children`), else the index is read
//! (GET by digest). A `.sig` tag
//! the listing lacks is absent: no request. The tag's digest and whether it is an index are Quay's word (as
//! `cosign verify image:tag` takes the digest from the registry); `verify`
//! and apply's confirmation read and hash the manifests themselves.
//!
//! Used only where `QUAY_API_TOKEN` belongs: the target on the host of
//! `policy.quay_api` (else of the source registry, as for scans), so that
//! the token is never sent to another registry.

use crate::config::location::RepositoryLocation;
use crate::config::model::Service;
use crate::digest::Digest;
use crate::live::read::children_of;
use crate::live::{ImageSignatures, LiveService, ManifestSignatures, SignatureTagPresence};
use crate::plan::SignatureCheck;
use crate::plan::signatures::claimed_children;
use crate::quay::{ListedTag, QuayClient, QuayRepository};
use crate::registry::distribution::host_of;
use crate::registry::{ManifestRef, RegistryError, Repository};
use crate::signing::store::read_signatures;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// Manifests read at once for one service.
const READS_IN_FLIGHT: usize = 16;

/// Where a plan may list targets through Quay's REST API.
pub struct QuayListing<'a> {
    pub client: &'a QuayClient<'a>,
    /// `policy.quay_api` as configured, if any.
    pub api: Option<&'a str>,
    /// The key the plan checks signatures with: an index's children are
    /// taken from its signature's [`CHILDREN_ANNOTATION`](crate::signing::payload::CHILDREN_ANNOTATION) only when this
    /// verifies that signature; otherwise the index is read.
    pub verifier: Option<&'a dyn SignatureCheck>,
}

impl QuayListing<'_> {
    /// The target of `service` as the REST API names it, when the API may be
    /// asked about it: the target lives on the host the token belongs to.
    pub fn repository(&self, service: &Service) -> Option<QuayRepository> {
        let RepositoryLocation::Remote { scheme, host, path } = &service.target else {
            return None;
        };
        let home = match self.api {
            Some(api) => reqwest::Url::parse(api).ok().map(|url| host_of(&url))?,
            None => match &service.source {
                RepositoryLocation::Remote { host, .. } => host.clone(),
                RepositoryLocation::Layout { .. } => return None,
            },
        };
        if &home != host {
            return None;
        }
        self.client.repository(*scheme, host, path)
    }
}

/// The target part of a service's live state from Quay's listing `tags`.
pub async fn read_target(
    target: &dyn Repository,
    service: &Service,
    tags: Vec<ListedTag>,
    verifier: Option<&dyn SignatureCheck>,
) -> Result<LiveService, RegistryError> {
    let listed: BTreeMap<String, ListedTag> = tags
        .into_iter()
        .map(|tag| (tag.name.clone(), tag))
        .collect();
    let mut live = LiveService {
        target_tags: listed.keys().cloned().collect(),
        tags_current: true,
        ..LiveService::default()
    };
    for release in &service.releases {
        if let Some(tag) = listed.get(&release.tag) {
            live.declared_tags
                .insert(release.tag.clone(), tag.digest.clone());
        }
    }
    // Signatures matter only where the tag already has the declared digest;
    // one read per digest (an rc and its final share it).
    let in_place: BTreeMap<&Digest, bool> = service
        .releases
        .iter()
        .filter_map(|release| listed.get(&release.tag))
        .filter(|tag| {
            service
                .releases
                .iter()
                .any(|release| release.tag == tag.name && release.digest == tag.digest)
        })
        .map(|tag| (&tag.digest, tag.is_index))
        .collect();
    let names = &live.target_tags;
    let identity = &service.target.signed_identity();
    let claims = verifier.map(|verifier| (verifier, identity.as_str()));
    // The registry's auth challenge is met once per registry by the
    // transport (its first request probes while the others wait), so the
    // reads go out together.
    live.signatures = stream::iter(in_place)
        .map(|(digest, is_index)| async move {
            let image = image_signatures(target, digest, is_index, names, claims).await?;
            Ok::<_, RegistryError>((digest.clone(), image))
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(live)
}

/// The root's signatures read (none without a listed `.sig` tag), and for
/// an index each child's `.sig` tag looked up in the listing.
async fn image_signatures(
    target: &dyn Repository,
    digest: &Digest,
    is_index: bool,
    names: &BTreeSet<String>,
    claims: Option<(&dyn SignatureCheck, &str)>,
) -> Result<ImageSignatures, RegistryError> {
    let entries = if names.contains(&digest.signature_tag()) {
        read_signatures(target, digest).await?
    } else {
        Vec::new()
    };
    let mut root = ManifestSignatures {
        digest: digest.clone(),
        entries,
    };
    let children = if !is_index {
        Vec::new()
    } else if let Some(children) = claims.and_then(|claims| claimed_children(&root, claims)) {
        children
    } else if let Some(manifest) = target.get_manifest(ManifestRef::Digest(digest)).await? {
        children_of(target, &manifest)?
    } else {
        // Listed a moment ago, unreadable now: nothing may count as signed
        // (the plan says sign; apply reads everything again).
        root.entries.clear();
        Vec::new()
    };
    let listed_children = children
        .into_iter()
        .map(|child| SignatureTagPresence {
            listed: names.contains(&child.signature_tag()),
            digest: child,
        })
        .collect();
    Ok(ImageSignatures {
        manifests: vec![root],
        listed_children,
        // Read by `read::add_bundles` where the file requires them.
        bundles: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::location::RepositoryLocation;
    use crate::registry::distribution::{ClientOptions, DistributionClient};
    use std::path::Path;

    fn service(source: &str, target: &str) -> Service {
        Service {
            name: "gateway".into(),
            source: RepositoryLocation::parse(source, Path::new(".")).expect("a location"),
            target: RepositoryLocation::parse(target, Path::new(".")).expect("a location"),
            releases: Vec::new(),
            location: crate::config::model::SourceLocation {
                file: "releases.toml".into(),
                line: 1,
                column: 1,
            },
        }
    }

    #[test]
    fn the_rest_list_is_asked_only_on_the_host_the_token_belongs_to() {
        let hosts = DistributionClient::new(ClientOptions::default());
        let client = QuayClient::new(&hosts, None, None);
        let listing = |api| QuayListing {
            client: &client,
            api,
            verifier: None,
        };
        let same = service("quay.io/dev/gateway", "quay.io/prod/gateway");
        let elsewhere = service("quay.io/dev/gateway", "registry.example/prod/gateway");
        assert_eq!(
            listing(None).repository(&same).expect("same host").name,
            "prod/gateway"
        );
        assert!(listing(None).repository(&elsewhere).is_none());
        assert!(
            listing(Some("https://registry.example"))
                .repository(&elsewhere)
                .is_some()
        );
        assert!(
            listing(Some("https://registry.example"))
                .repository(&same)
                .is_none()
        );
        let layout = service("quay.io/dev/gateway", "oci:prod/gateway");
        assert!(listing(None).repository(&layout).is_none());
    }
}
