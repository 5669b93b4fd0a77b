//! The OCI 1.1 referrers API as one run of quayside meets it: what each
//! repository was found to support (so the question costs one request per
//! repository and run, not one per image), and how the pages of a paged
//! answer (`Link: <…>; rel="next"`) are put back together, bounded.
//!
//! A registry without the API answers `GET /v2/<name>/referrers/<digest>`
//! 404 (CNCF distribution 2.8 has no such route: a plain-text 404); one with
//! it must not (OCI distribution spec 1.1). A 404 whose body is the OCI error
//! `NAME_UNKNOWN` says the repository does not exist, nothing about the API,
//! and is not remembered.

use crate::digest::Digest;
use crate::registry::manifest::OCI_INDEX;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Pages of one referrers answer read before giving up: thousands of
/// referrers (a few hundred per page) is far beyond signatures and
/// attestations of one image.
pub(crate) const MAX_REFERRER_PAGES: usize = 20;

/// The subject asked about to learn whether the API exists without listing
/// any image's referrers (a list read is cached by Quay for 60 s and would
/// hide a referrer written next): the OCI empty blob `{}`, which names no
/// manifest.
pub fn referrers_probe_digest() -> Digest {
    Digest::of_bytes(b"{}")
}

/// Whether each repository (by reference, `host/path`) has the referrers
/// API, as learnt in this run; one cell per repository so that concurrent
/// first askers send one probe between them.
#[derive(Default)]
pub(crate) struct ReferrersSupport {
    repositories: Mutex<HashMap<String, Arc<OnceCell<bool>>>>,
}

impl ReferrersSupport {
    pub(crate) fn cell(&self, repository: &str) -> Arc<OnceCell<bool>> {
        let mut cells = self
            .repositories
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(cells.entry(repository.to_string()).or_default())
    }
}

/// The `manifests` of one page of a referrers answer.
fn page_entries(page: &[u8]) -> Result<Vec<Value>, String> {
    let document: Value = serde_json::from_slice(page).map_err(|error| error.to_string())?;
    match document.get("manifests") {
        Some(Value::Array(entries)) => Ok(entries.clone()),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err("`manifests` is not a list".to_string()),
    }
}

/// One index holding the entries of every page, in order. A single page is
/// kept as the registry sent it. Err: the (1-based) page that is not an
/// index, and why.
pub(crate) fn join_pages(mut pages: Vec<Bytes>) -> Result<Bytes, (usize, String)> {
    if pages.len() == 1 {
        return Ok(pages.remove(0));
    }
    let mut entries = Vec::new();
    for (number, page) in pages.iter().enumerate() {
        let more = page_entries(page)
            .map_err(|reason| (number + 1, format!("is not an OCI index: {reason}")))?;
        entries.extend(more);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    });
    Ok(Bytes::from(index.to_string()))
}

/// Whether a next-page link stays on the registry that served the first
/// page (scheme, host and port): credentials for it are never sent elsewhere.
pub(crate) fn same_origin(first: &reqwest::Url, next: &reqwest::Url) -> bool {
    first.origin() == next.origin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(digests: &[&str]) -> Bytes {
        let entries: Vec<Value> = digests
            .iter()
            .map(|d| serde_json::json!({"mediaType": "m", "digest": d, "size": 1}))
            .collect();
        Bytes::from(serde_json::json!({"schemaVersion": 2, "manifests": entries}).to_string())
    }

    #[test]
    fn pages_are_joined_in_order_and_one_page_is_kept_verbatim() {
        let first = page(&["sha256:a"]);
        assert_eq!(join_pages(vec![first.clone()]).unwrap(), first);
        let joined = join_pages(vec![first, page(&[]), page(&["sha256:b", "sha256:c"])]).unwrap();
        let doc: Value = serde_json::from_slice(&joined).unwrap();
        assert_eq!(doc["mediaType"], OCI_INDEX);
        let digests: Vec<&str> = doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, ["sha256:a", "sha256:b", "sha256:c"]);
        let broken = join_pages(vec![page(&[]), Bytes::from_static(b"{\"manifests\":1}")]);
        assert_eq!(
            broken.unwrap_err(),
            (
                2,
                "is not an OCI index: `manifests` is not a list".to_string()
            )
        );
    }

    #[test]
    fn each_repository_has_its_own_cell() {
        let support = ReferrersSupport::default();
        support.cell("h/a").set(false).unwrap();
        assert_eq!(support.cell("h/a").get(), Some(&false));
        assert_eq!(support.cell("h/b").get(), None);
    }

    #[test]
    fn next_pages_stay_on_the_same_registry() {
        let first = reqwest::Url::parse("https://quay.example/v2/a/referrers/sha256:x").unwrap();
        let same = first.join("/v2/a/referrers/sha256:x?last=2").unwrap();
        let other = reqwest::Url::parse("https://evil.example/v2/a/referrers/sha256:x").unwrap();
        let port = reqwest::Url::parse("https://quay.example:8443/v2/a/referrers/x").unwrap();
        assert!(same_origin(&first, &same));
        assert!(!same_origin(&first, &other));
        assert!(!same_origin(&first, &port));
        assert_eq!(referrers_probe_digest().hex().len(), 64);
    }
}
