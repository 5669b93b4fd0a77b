//! The REST tag API: a repository's active tags with the digest each points
//! at (`GET /api/v1/repository/{ns}/{repo}/tag/?onlyActiveTags=true`, 100 a
//! page). Unlike `/v2/…/tags/list`, Quay does not cache these pages for
//! 120 s, and one page names 100 tags' digests, so a reader needs no request
//! per tag. Each caller turns a failed answer into its own error.

use super::{Answer, QuayClient, QuayRepository};
use crate::digest::Digest;
use crate::registry::RegistryError;
use serde::Deserialize;

/// Pages read at most (100 tags each): 10,000 tags. More is an error, never
/// a silently shortened list (plans take the list as evidence of absence).
pub(crate) const MAX_PAGES: usize = 100;

/// One active tag as the API states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuayTag {
    pub name: String,
    /// `None` when the API gave no digest quayside can parse.
    pub digest: Option<Digest>,
    /// Whether an immutability policy freezes the tag.
    pub immutable: bool,
    /// The tag points at an index (manifest list).
    pub is_index: bool,
}

/// Why the tags could not be listed.
#[derive(Debug)]
pub enum TagListError {
    Registry(RegistryError),
    /// A status other than 200, or 404 on the first page.
    Http(Answer),
    /// A 200 answer that is not Quay's tag page.
    Invalid(serde_json::Error),
    /// Still more pages after [`MAX_PAGES`].
    TooManyPages,
}

impl From<RegistryError> for TagListError {
    fn from(error: RegistryError) -> Self {
        TagListError::Registry(error)
    }
}

#[derive(Deserialize)]
struct TagPage {
    tags: Vec<TagView>,
    #[serde(default)]
    has_additional: bool,
}

#[derive(Deserialize)]
struct TagView {
    name: String,
    #[serde(default)]
    manifest_digest: Option<String>,
    #[serde(default)]
    immutable: bool,
    #[serde(default)]
    is_manifest_list: bool,
}

impl QuayClient<'_> {
    /// Every active tag of `repository`, page by page; HTTP 404 on the first
    /// page (no such API: not Quay; or no such repository) is an
    /// [`TagListError::Http`] the caller judges, on a later page the end.
    pub async fn active_tags(
        &self,
        repository: &QuayRepository,
        operation: &str,
    ) -> Result<Vec<QuayTag>, TagListError> {
        let mut tags = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!(
                "{}/api/v1/repository/{}/tag/?onlyActiveTags=true&limit=100&page={page}",
                repository.api, repository.name
            );
            let answer = self.get_json(&url, &repository.name, operation).await?;
            if answer.status == 404 && page > 1 {
                return Ok(tags);
            }
            if answer.status != 200 {
                return Err(TagListError::Http(answer));
            }
            let page: TagPage =
                serde_json::from_slice(&answer.body).map_err(TagListError::Invalid)?;
            tags.extend(page.tags.into_iter().map(|tag| {
                QuayTag {
                    digest: tag
                        .manifest_digest
                        .as_deref()
                        .and_then(|d| Digest::parse(d).ok()),
                    name: tag.name,
                    immutable: tag.immutable,
                    is_index: tag.is_manifest_list,
                }
            }));
            if !page.has_additional {
                return Ok(tags);
            }
        }
        Err(TagListError::TooManyPages)
    }
}
