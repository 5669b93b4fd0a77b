//! The plan's view of Quay's REST tag list (`tags`): every active tag of a
//! repository with the digest it points at, 100 per request. Quay answers it
//! from its database, not from the 120 s cache of `/v2/<repo>/tags/list`, so
//! a tag put a moment ago is in it: it is evidence both that a tag exists
//! and that it does not. Where the API gives no complete list, the plan
//! reads the registry API instead.

use super::tags::TagListError;
use super::{QuayClient, QuayRepository};
use crate::digest::Digest;
use crate::registry::RegistryError;

/// One active tag as Quay's REST API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedTag {
    pub name: String,
    pub digest: Digest,
    /// The tag points at an index (manifest list): it has children.
    pub is_index: bool,
}

impl QuayClient<'_> {
    /// Every active tag of `repository` with its digest; `None` when the API
    /// does not give the whole list (not a Quay, a repository it does not
    /// show this credential, a tag without a usable digest, more than 10,000
    /// tags): the caller then reads the registry API. An error only when the
    /// request itself could not be made.
    pub async fn tag_list(
        &self,
        repository: &QuayRepository,
    ) -> Result<Option<Vec<ListedTag>>, RegistryError> {
        let why = match self
            .active_tags(repository, "listing tags with digests")
            .await
        {
            Ok(tags) => return Ok(complete(tags)),
            Err(TagListError::Registry(error)) => return Err(error),
            Err(TagListError::Http(answer)) => format!("HTTP {}", answer.status),
            Err(TagListError::Invalid(_)) => "not Quay's tag page".to_string(),
            Err(TagListError::TooManyPages) => "too many tags".to_string(),
        };
        tracing::debug!(repository = %repository.name, %why, "no REST tag list; reading the registry API");
        Ok(None)
    }
}

/// The listing, if every tag in it has a digest.
fn complete(tags: Vec<super::tags::QuayTag>) -> Option<Vec<ListedTag>> {
    tags.into_iter()
        .map(|tag| {
            Some(ListedTag {
                digest: tag.digest?,
                name: tag.name,
                is_index: tag.is_index,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tags::QuayTag;
    use super::*;

    fn tag(name: &str, digest: Option<Digest>, is_index: bool) -> QuayTag {
        QuayTag {
            name: name.into(),
            digest,
            immutable: false,
            is_index,
        }
    }

    #[test]
    fn a_listing_gives_names_digests_and_indexes() {
        let digest = Digest::of_bytes(b"index");
        let listed = complete(vec![
            tag("v1.0.0", Some(digest.clone()), true),
            tag(&digest.signature_tag(), Some(digest.clone()), false),
        ])
        .expect("every tag has a digest");
        assert_eq!(
            listed[0],
            ListedTag {
                name: "v1.0.0".into(),
                digest: digest.clone(),
                is_index: true
            }
        );
        assert!(!listed[1].is_index);
    }

    #[test]
    fn a_tag_without_a_digest_gives_no_list() {
        assert_eq!(complete(vec![tag("v1", None, false)]), None);
    }
}
