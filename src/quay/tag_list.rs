//! Quay's REST tag list with digests
//! (`GET /api/v1/repository/{ns}/{repo}/tag/?onlyActiveTags=true&limit=100&page=N`):
//! every active tag of a repository, 100 per request, each with the digest
//! it points at. Quay answers it from its database, not from the 120 s cache
//! of `/v2/<repo>/tags/list`, so a tag put a moment ago is in it: it is
//! evidence both that a tag exists and that it does not.
//!
//! (`immutability` reads the same API for the `immutable` flags; the two are
//! meant to become one listing.)

use super::{QuayClient, QuayRepository};
use crate::digest::Digest;
use crate::registry::RegistryError;
use serde::Deserialize;

/// Pages read at most (100 tags each): 10,000 tags. A repository with more
/// is read through the registry API instead.
const MAX_PAGES: usize = 100;

/// One active tag as Quay's REST API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedTag {
    pub name: String,
    pub digest: Digest,
    /// The tag points at an index (manifest list): it has children.
    pub is_index: bool,
}

#[derive(Deserialize)]
struct Page {
    tags: Vec<Tag>,
    #[serde(default)]
    has_additional: bool,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    manifest_digest: String,
    #[serde(default)]
    is_manifest_list: bool,
}

impl QuayClient<'_> {
    /// Every active tag of `repository` with its digest; `None` when the API
    /// does not give the list (not a Quay, a repository it does not show
    /// this credential, a tag it lists without a usable digest, more than
    /// [`MAX_PAGES`] pages): the caller then reads the registry API. An
    /// error only when the request itself could not be made.
    pub async fn tag_list(
        &self,
        repository: &QuayRepository,
    ) -> Result<Option<Vec<ListedTag>>, RegistryError> {
        let mut tags = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!(
                "{}/api/v1/repository/{}/tag/?onlyActiveTags=true&limit=100&page={page}",
                repository.api, repository.name
            );
            let answer = self
                .get_json(&url, &repository.name, "listing tags with digests")
                .await?;
            if answer.status != 200 {
                tracing::debug!(
                    status = answer.status,
                    repository = %repository.name,
                    "no REST tag list; reading the registry API"
                );
                return Ok(None);
            }
            let Some(page) = parse_page(&answer.body) else {
                tracing::debug!(repository = %repository.name, "the REST tag list is not Quay's; reading the registry API");
                return Ok(None);
            };
            let Some(listed) = page.0 else {
                return Ok(None);
            };
            tags.extend(listed);
            if !page.1 {
                return Ok(Some(tags));
            }
        }
        Ok(None)
    }
}

/// One page: its tags (`None` if a tag has no valid digest) and whether
/// more pages follow; `None` when the body is not Quay's tag page.
fn parse_page(body: &[u8]) -> Option<(Option<Vec<ListedTag>>, bool)> {
    let page: Page = serde_json::from_slice(body).ok()?;
    let tags = page
        .tags
        .into_iter()
        .map(|tag| {
            Some(ListedTag {
                digest: Digest::parse(&tag.manifest_digest).ok()?,
                name: tag.name,
                is_index: tag.is_manifest_list,
            })
        })
        .collect();
    Some((tags, page.has_additional))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gives_names_digests_and_whether_more_follow() {
        let digest = Digest::of_bytes(b"index");
        let body = format!(
            r#"{{"tags":[{{"name":"v1.0.0","manifest_digest":"{digest}","is_manifest_list":true,"immutable":false}},{{"name":"{}","manifest_digest":"{digest}"}}],"page":1,"has_additional":true}}"#,
            digest.signature_tag()
        );
        let (tags, more) = parse_page(body.as_bytes()).expect("Quay's page");
        let tags = tags.expect("valid digests");
        assert!(more);
        assert_eq!(tags.len(), 2);
        assert_eq!(
            tags[0],
            ListedTag {
                name: "v1.0.0".into(),
                digest: digest.clone(),
                is_index: true
            }
        );
        assert!(!tags[1].is_index);
    }

    #[test]
    fn other_bodies_and_bad_digests_give_no_list() {
        assert!(parse_page(b"<html>not found</html>").is_none());
        assert!(parse_page(br#"{"repositories":[]}"#).is_none());
        let (tags, more) =
            parse_page(br#"{"tags":[{"name":"v1","manifest_digest":"md5:00"}]}"#).expect("a page");
        assert!(tags.is_none());
        assert!(!more);
    }
}
