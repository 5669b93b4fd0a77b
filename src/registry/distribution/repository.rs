//! The `Repository` trait over the OCI distribution API v2: tag listing with
//! pagination, manifests by tag or digest as original bytes, streamed blobs,
//! monolithic or streamed uploads, and cross-repository mounts.

use super::errors::{self, Context, DistributionFailure};
use super::referrers::{
    MAX_REFERRER_PAGES, ReferrersSupport, join_pages, referrers_probe_digest, same_origin,
};
use super::transport::{Answer, Authorization, Call, Registry, RequestBody, read_capped};
use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::digest::Hasher;
#[cfg(test)]
use crate::registry::manifest::ACCEPTED;
use crate::registry::manifest::{MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LINK, LOCATION,
};
use reqwest::{Method, Url};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A listing stops after this many pages: a registry whose `Link` headers
/// never end must not keep us looping.
const MAX_TAG_PAGES: usize = 10_000;

pub(crate) struct DistributionRepository {
    location: RepositoryLocation,
    /// `None` when opened with a layout location by mistake.
    registry: Option<Arc<Registry>>,
    reference: String,
    path: String,
    /// Shared by the run's repositories: which have the referrers API.
    referrers_support: Arc<ReferrersSupport>,
}

/// What `GET /v2/<name>/referrers/<digest>` answered.
enum ReferrersAnswer {
    /// The index (every page joined).
    Index(Bytes),
    /// 404 from a registry without the API.
    NoApi,
    /// 404 `NAME_UNKNOWN`: no such repository (says nothing of the API).
    NoRepository,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Blobs up to this size (signature payloads, configs, small layers) are
/// buffered before upload so that a 429 or 5xx on the PUT can be retried;
/// larger ones stream and are never held in memory.
const REPLAYABLE_BLOB_BYTES: u64 = 1024 * 1024;

impl DistributionRepository {
    pub fn new(
        location: RepositoryLocation,
        registry: Option<Arc<Registry>>,
        referrers_support: Arc<ReferrersSupport>,
    ) -> Self {
        let path = match &location {
            RepositoryLocation::Remote { path, .. } => path.clone(),
            RepositoryLocation::Layout { .. } => String::new(),
        };
        DistributionRepository {
            reference: location.reference(),
            location,
            registry,
            path,
            referrers_support,
        }
    }

    /// Every page of the referrers of `digest` (at most
    /// [`MAX_REFERRER_PAGES`], each on this registry, together no larger
    /// than a manifest may be), or why there are none.
    async fn list_referrers(&self, digest: &Digest) -> Result<ReferrersAnswer, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "list referrers");
        let first = registry.url(&format!("{}/referrers/{digest}", self.path), &context)?;
        let page_failure = |page: usize, reason: String| {
            self.failure(DistributionFailure::ReferrersPage {
                digest: digest.clone(),
                page,
                reason,
            })
        };
        let mut url = first.clone();
        let mut pages = Vec::new();
        let mut total = 0;
        while pages.len() < MAX_REFERRER_PAGES {
            let mut call = self.call(Method::GET, url.clone(), self.pull(), context.clone());
            call.headers
                .insert(ACCEPT, HeaderValue::from_static(OCI_INDEX));
            let answer = registry.send(call).await?;
            match answer.response.status().as_u16() {
                200 => {}
                404 if pages.is_empty() => {
                    let error = registry.failure(&context, answer).await;
                    return Ok(if error.has_code("NAME_UNKNOWN") {
                        ReferrersAnswer::NoRepository
                    } else {
                        ReferrersAnswer::NoApi
                    });
                }
                _ => return Err(registry.failure(&context, answer).await),
            }
            let next = next_page(&answer, &url);
            let number = pages.len() + 1;
            let body = read_capped(answer.response, MAX_MANIFEST_BYTES - total)
                .await
                .map_err(|error| {
                    errors::broken_body(
                        &context,
                        &format!("page {number} of the referrers of {digest}"),
                        error,
                    )
                })?
                .ok_or_else(|| {
                    self.failure(DistributionFailure::ManifestTooLarge {
                        reference: format!("the referrers of {digest} ({number} pages)"),
                        limit: MAX_MANIFEST_BYTES,
                    })
                })?;
            total += body.len();
            pages.push(body);
            match next {
                None => {
                    let index =
                        join_pages(pages).map_err(|(page, reason)| page_failure(page, reason))?;
                    return Ok(ReferrersAnswer::Index(index));
                }
                Some(Err(error)) => {
                    return Err(page_failure(
                        number,
                        format!("links to a next page that is not a URL ({error})"),
                    ));
                }
                Some(Ok(next)) if !same_origin(&first, &next) => {
                    return Err(page_failure(
                        number,
                        format!(
                            "links to a next page on another host ({})",
                            next.origin().ascii_serialization()
                        ),
                    ));
                }
                Some(Ok(next)) if next == url => {
                    return Err(page_failure(
                        number,
                        "links to itself as the next page".into(),
                    ));
                }
                Some(Ok(next)) => url = next,
            }
        }
        Err(self.failure(DistributionFailure::ReferrersEndless {
            digest: digest.clone(),
            pages: MAX_REFERRER_PAGES,
        }))
    }

    fn registry(&self) -> Result<&Registry, RegistryError> {
        self.registry
            .as_deref()
            .ok_or_else(|| self.failure(DistributionFailure::NotRemote))
    }

    fn failure(&self, failure: DistributionFailure) -> RegistryError {
        RegistryError::Distribution {
            repository: self.reference.clone(),
            failure,
        }
    }

    fn context<'a>(&'a self, registry: &'a Registry, operation: &'a str) -> Context<'a> {
        Context {
            registry: &registry.host,
            repository: &self.path,
            operation,
        }
    }

    fn pull(&self) -> Vec<String> {
        vec![format!("repository:{}:pull", self.path)]
    }

    fn push(&self) -> Vec<String> {
        vec![format!("repository:{}:pull,push", self.path)]
    }

    fn call<'a>(
        &self,
        method: Method,
        url: Url,
        scopes: Vec<String>,
        context: Context<'a>,
    ) -> Call<'a> {
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            authorization: Authorization::Registry(scopes),
            context,
            streamed_response: false,
            token: false,
        }
    }

    fn manifest_call<'a>(
        &self,
        registry: &Registry,
        method: Method,
        reference: &str,
        context: Context<'a>,
    ) -> Result<Call<'a>, RegistryError> {
        let url = registry.url(&format!("{}/manifests/{reference}", self.path), &context)?;
        let mut call = self.call(method, url, self.pull(), context);
        call.headers
            .insert(ACCEPT, HeaderValue::from_static(accept_header()));
        Ok(call)
    }

    /// HEAD of a manifest or blob: `true` on 200, `false` on 404.
    async fn exists(
        &self,
        kind: &str,
        digest: &Digest,
        operation: &str,
    ) -> Result<bool, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, operation);
        let url = registry.url(&format!("{}/{kind}/{digest}", self.path), &context)?;
        let mut call = self.call(Method::HEAD, url, self.pull(), context.clone());
        if kind == "manifests" {
            call.headers
                .insert(ACCEPT, HeaderValue::from_static(accept_header()));
        }
        let answer = registry.send(call).await?;
        match answer.response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(registry.failure(&context, answer).await),
        }
    }

    /// Opens an upload session; the absolute URL to send the blob to.
    async fn start_upload(
        &self,
        registry: &Registry,
        context: &Context<'_>,
    ) -> Result<Url, RegistryError> {
        let url = registry.url(&format!("{}/blobs/uploads/", self.path), context)?;
        let answer = registry
            .send(self.call(Method::POST, url.clone(), self.push(), context.clone()))
            .await?;
        if answer.response.status().as_u16() != 202 {
            return Err(registry.failure(context, answer).await);
        }
        location(&url, &answer, context)
    }

    /// A blob small enough to hold in memory: read it whole, then upload it in
    /// one PUT whose body can be sent again if the registry asks to retry.
    async fn put_small_blob(
        &self,
        registry: &Registry,
        context: &Context<'_>,
        digest: &Digest,
        size: u64,
        mut blob: BlobReader,
    ) -> Result<(), RegistryError> {
        let mut buffer = Vec::with_capacity(size as usize);
        while let Some(chunk) = blob.stream.next().await {
            buffer.extend_from_slice(&chunk?);
            if buffer.len() as u64 > size {
                break;
            }
        }
        if buffer.len() as u64 != size {
            return Err(self.failure(DistributionFailure::BlobSizeMismatch {
                digest: digest.clone(),
                announced: size,
                arrived: buffer.len(),
            }));
        }
        let body = Bytes::from(buffer);
        registry.counters.uploaded(size);
        let url = registry.url(&format!("{}/blobs/uploads/", self.path), context)?;
        // One request where the registry takes it: POST with the digest and
        // the body (monolithic upload; Quay does, distribution 2.8 answers 202
        // with an upload session instead, and is then asked no more).
        let single = registry.single_post_upload.load(Ordering::Relaxed);
        let answer = if single {
            let post = with_digest(url.clone(), digest);
            registry
                .send(self.body_call(Method::POST, post, context, size, body.clone()))
                .await?
        } else {
            registry
                .send(self.call(Method::POST, url.clone(), self.push(), context.clone()))
                .await?
        };
        let answer = match answer.response.status().as_u16() {
            201 if single => return Ok(()),
            202 => {
                if single {
                    registry.single_post_upload.store(false, Ordering::Relaxed);
                }
                let upload = location(&url, &answer, context)?;
                drop(answer);
                let finish = with_digest(without_digest(upload), digest);
                registry
                    .send(self.body_call(Method::PUT, finish, context, size, body))
                    .await?
            }
            _ => answer,
        };
        match answer.response.status().as_u16() {
            201 => Ok(()),
            _ => {
                let error = registry.failure(context, answer).await;
                self.present_after_failure(digest, error).await
            }
        }
    }

    /// A request carrying a whole blob as a replayable body.
    fn body_call<'a>(
        &self,
        method: Method,
        url: Url,
        context: &Context<'a>,
        size: u64,
        body: Bytes,
    ) -> Call<'a> {
        let mut call = self.call(method, url, self.push(), context.clone());
        call.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        call.headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
        call.body = RequestBody::Bytes(body);
        call
    }

    /// An upload failed: if the blob is in the repository all the same (a
    /// concurrent writer, another `apply`, uploaded it meanwhile, and
    /// distribution then answers `DIGEST_INVALID` or `BLOB_UNKNOWN` to ours),
    /// the upload's purpose is met. The registry checked that blob's digest
    /// when it stored it.
    async fn present_after_failure(
        &self,
        digest: &Digest,
        error: RegistryError,
    ) -> Result<(), RegistryError> {
        match self.blob_exists(digest).await {
            Ok(true) => Ok(()),
            _ => Err(error),
        }
    }
}

/// An upload URL without a `digest` parameter a registry may have echoed.
fn without_digest(mut url: Url) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != "digest")
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url
}

fn accept_header() -> &'static str {
    // Built from `ACCEPTED` at compile time would need const string joins;
    // the test below keeps this list and `ACCEPTED` in step.
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
}

/// The `Location` of an upload, resolved against the request URL (registries
/// answer with relative or absolute URLs).
fn location(base: &Url, answer: &Answer, context: &Context<'_>) -> Result<Url, RegistryError> {
    let value = answer
        .response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            errors::transport(
                context,
                format!(
                    "the registry answered {} without a Location header",
                    answer.response.status()
                ),
                "The registry does not follow the distribution API; report it to its operators",
            )
        })?;
    base.join(value).map_err(|error| {
        errors::transport(
            context,
            format!("the registry's Location `{value}` is not a URL: {error}"),
            "The registry does not follow the distribution API; report it to its operators",
        )
    })
}

/// The `rel="next"` target of a `Link` header.
/// The next page an answer's `Link` header names, resolved against `url`.
fn next_page(answer: &Answer, url: &Url) -> Option<Result<Url, String>> {
    answer
        .response
        .headers()
        .get(LINK)
        .and_then(|value| value.to_str().ok())
        .and_then(next_link)
        .map(|target| url.join(target).map_err(|error| error.to_string()))
}

fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|param| {
            param.trim().replace(' ', "") == "rel=\"next\"" || param.trim() == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then_some(target)
    })
}

fn media_type(answer: &Answer) -> Option<String> {
    answer
        .response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or(value).trim().to_string())
}

fn header_digest(answer: &Answer) -> Option<Digest> {
    answer
        .response
        .headers()
        .get("docker-content-digest")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Digest::parse(value.trim()).ok())
}

/// Appends `digest=<d>` to an upload URL, which may already carry a query.
fn with_digest(mut url: Url, digest: &Digest) -> Url {
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

#[async_trait]
impl Repository for DistributionRepository {
    fn location(&self) -> &RepositoryLocation {
        &self.location
    }

    async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "list tags");
        let mut url = registry.url(&format!("{}/tags/list", self.path), &context)?;
        url.query_pairs_mut()
            .append_pair("n", &registry.options.tags_page_size.max(1).to_string());
        let mut tags = Vec::new();
        for page in 0..MAX_TAG_PAGES {
            let answer = registry
                .send(self.call(Method::GET, url.clone(), self.pull(), context.clone()))
                .await?;
            match answer.response.status().as_u16() {
                200 => {}
                // A repository nobody pushed to yet has no tags.
                404 if page == 0 => return Ok(Vec::new()),
                _ => return Err(registry.failure(&context, answer).await),
            }
            let next = next_page(&answer, &url);
            let body = read_capped(answer.response, 16 * 1024 * 1024)
                .await
                .map_err(|error| {
                    errors::broken_body(
                        &context,
                        &format!("page {} of the tag list", page + 1),
                        error,
                    )
                })?
                .ok_or_else(|| self.failure(DistributionFailure::TagPageTooLarge))?;
            let list: TagList = serde_json::from_slice(&body)
                .map_err(|error| self.failure(DistributionFailure::TagListNotJson(error)))?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(Ok(next)) if next != url => url = next,
                Some(Err(error)) => {
                    return Err(self.failure(DistributionFailure::TagLinkNotUrl {
                        reason: error.to_string(),
                    }));
                }
                _ => return Ok(tags),
            }
        }
        Err(self.failure(DistributionFailure::TagListEndless {
            pages: MAX_TAG_PAGES,
        }))
    }

    /// A repository nobody pushed to answers its tag list 404 with
    /// `NAME_UNKNOWN`; one that exists answers 200 (possibly no tags).
    async fn exists(&self) -> Result<bool, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "check the repository exists");
        let mut url = registry.url(&format!("{}/tags/list", self.path), &context)?;
        url.query_pairs_mut().append_pair("n", "1");
        let answer = registry
            .send(self.call(Method::GET, url, self.pull(), context.clone()))
            .await?;
        match answer.response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(!registry
                .failure(&context, answer)
                .await
                .has_code("NAME_UNKNOWN")),
            _ => Err(registry.failure(&context, answer).await),
        }
    }

    /// The registry's catalog (`/v2/_catalog`, first 1,000 names), narrowed
    /// to this repository's namespace. Many registries refuse the catalog to
    /// ordinary accounts: then `None`.
    async fn neighbours(&self) -> Option<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Catalog {
            #[serde(default)]
            repositories: Vec<String>,
        }
        let registry = self.registry().ok()?;
        let context = self.context(registry, "list the catalog");
        let mut url = registry.url("_catalog", &context).ok()?;
        url.query_pairs_mut().append_pair("n", "1000");
        let scopes = vec!["registry:catalog:*".to_string()];
        let answer = registry
            .send(self.call(Method::GET, url, scopes, context))
            .await
            .ok()?;
        if answer.response.status().as_u16() != 200 {
            return None;
        }
        let body = read_capped(answer.response, 4 * 1024 * 1024).await.ok()??;
        let catalog: Catalog = serde_json::from_slice(&body).ok()?;
        let namespace = match self.path.rsplit_once('/') {
            Some((namespace, _)) => format!("{namespace}/"),
            None => String::new(),
        };
        Some(
            catalog
                .repositories
                .iter()
                .filter_map(|name| name.strip_prefix(&namespace))
                .filter(|rest| !rest.contains('/'))
                .map(str::to_string)
                .collect(),
        )
    }

    async fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "resolve tag");
        let call = self.manifest_call(registry, Method::HEAD, tag, context.clone())?;
        let answer = registry.send(call).await?;
        match answer.response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(registry.failure(&context, answer).await),
        }
        if let Some(digest) = header_digest(&answer) {
            return Ok(Some(digest));
        }
        // Some registries omit Docker-Content-Digest: hash the manifest.
        drop(answer);
        Ok(self
            .get_manifest(ManifestRef::Tag(tag))
            .await?
            .map(|manifest| manifest.digest))
    }

    async fn manifest_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.exists("manifests", digest, "check manifest").await
    }

    async fn get_manifest(
        &self,
        reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "get manifest");
        let text = match &reference {
            ManifestRef::Tag(tag) => tag.to_string(),
            ManifestRef::Digest(digest) => digest.to_string(),
        };
        let call = self.manifest_call(registry, Method::GET, &text, context.clone())?;
        let answer = registry.send(call).await?;
        match answer.response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            _ => return Err(registry.failure(&context, answer).await),
        }
        let media_type = media_type(&answer);
        let announced = header_digest(&answer);
        let bytes = read_capped(answer.response, MAX_MANIFEST_BYTES)
            .await
            .map_err(|error| errors::broken_body(&context, &format!("manifest {text}"), error))?
            .ok_or_else(|| {
                self.failure(DistributionFailure::ManifestTooLarge {
                    reference: text.clone(),
                    limit: MAX_MANIFEST_BYTES,
                })
            })?;
        let manifest = RawManifest::from_bytes(bytes, media_type.as_deref()).map_err(|source| {
            RegistryError::Manifest {
                repository: self.reference.clone(),
                source,
            }
        })?;
        // By digest the bytes must match it; by tag, the digest the registry
        // announces (what a HEAD would have returned) must match the bytes.
        let expected = match reference {
            ManifestRef::Digest(expected) => Some(expected.clone()),
            ManifestRef::Tag(_) => announced,
        };
        if let Some(expected) = expected
            && manifest.digest != expected
        {
            return Err(RegistryError::DigestMismatch {
                repository: self.reference.clone(),
                what: format!("manifest {text}"),
                expected,
                actual: manifest.digest,
            });
        }
        Ok(Some(manifest))
    }

    async fn put_manifest(
        &self,
        manifest: &RawManifest,
        tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "put manifest");
        let reference = tag.map_or_else(|| manifest.digest.to_string(), str::to_string);
        let url = registry.url(&format!("{}/manifests/{reference}", self.path), &context)?;
        let mut call = self.call(Method::PUT, url, self.push(), context.clone());
        let content_type = HeaderValue::from_str(&manifest.media_type).map_err(|_| {
            self.failure(DistributionFailure::UnusableMediaType {
                digest: manifest.digest.clone(),
            })
        })?;
        call.headers.insert(CONTENT_TYPE, content_type);
        call.body = RequestBody::Bytes(manifest.bytes.clone());
        let answer = registry.send(call).await?;
        match answer.response.status().as_u16() {
            200..=202 => {}
            409 => {
                let (status, retries) = (answer.response.status().as_u16(), answer.retries);
                let body = read_capped(answer.response, 64 * 1024)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let credentials = registry.auth.describe().await;
                let error = errors::http(&context, status, &body, &credentials, retries);
                if error.has_code("TAG_IMMUTABLE") {
                    return Err(RegistryError::TagImmutable {
                        repository: self.reference.clone(),
                        tag: reference,
                    });
                }
                return Err(error);
            }
            _ => return Err(registry.failure(&context, answer).await),
        }
        registry.counters.uploaded(manifest.bytes.len() as u64);
        match header_digest(&answer) {
            Some(stored) if stored != manifest.digest => Err(RegistryError::DigestMismatch {
                repository: self.reference.clone(),
                what: format!("stored manifest {}", manifest.digest),
                expected: manifest.digest.clone(),
                actual: stored,
            }),
            _ => Ok(()),
        }
    }

    async fn blob_exists(&self, digest: &Digest) -> Result<bool, RegistryError> {
        self.exists("blobs", digest, "check blob").await
    }

    async fn get_blob(&self, digest: &Digest) -> Result<BlobReader, RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "get blob");
        let url = registry.url(&format!("{}/blobs/{digest}", self.path), &context)?;
        let mut call = self.call(Method::GET, url, self.pull(), context.clone());
        call.streamed_response = true;
        let answer = registry.send(call).await?;
        if answer.response.status().as_u16() != 200 {
            return Err(registry.failure(&context, answer).await);
        }
        let size = answer.response.content_length();
        let owned = OwnedContext {
            registry: registry.host.clone(),
            repository: self.path.clone(),
            reference: self.reference.clone(),
        };
        Ok(BlobReader {
            size,
            stream: verified_stream(answer, digest.clone(), owned),
        })
    }

    async fn put_blob(&self, digest: &Digest, blob: BlobReader) -> Result<(), RegistryError> {
        let registry = self.registry()?;
        let context = self.context(registry, "put blob");
        if let Some(size) = blob.size.filter(|size| *size <= REPLAYABLE_BLOB_BYTES) {
            return self
                .put_small_blob(registry, &context, digest, size, blob)
                .await;
        }
        let upload = self.start_upload(registry, &context).await?;
        let counters = registry.counters.clone();
        // A source that breaks mid-stream (a body cut short, wrong bytes)
        // aborts the upload; its own error is kept here and reported rather
        // than the upload's, which would blame the target and the network.
        let source_failure = SourceFailure::default();
        let keep = source_failure.clone();
        let counted = blob.stream.map(move |chunk| match chunk {
            Ok(bytes) => {
                counters.uploaded(bytes.len() as u64);
                Ok(bytes)
            }
            Err(error) => Err(keep.keep(error)),
        });
        let body = reqwest::Body::wrap_stream(counted);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let finish = match blob.size {
            // Monolithic: one PUT carrying the whole blob.
            Some(size) => {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
                with_digest(upload, digest)
            }
            // Size unknown: stream it in one PATCH, then close with a PUT.
            None => {
                let mut call =
                    self.call(Method::PATCH, upload.clone(), self.push(), context.clone());
                call.headers = headers;
                call.body = RequestBody::Once(Some(body));
                let answer = registry
                    .send(call)
                    .await
                    .map_err(|error| source_failure.or(error))?;
                if answer.response.status().as_u16() != 202 {
                    let error = registry.failure(&context, answer).await;
                    return Err(source_failure.or(error));
                }
                let next = location(&upload, &answer, &context)?;
                let answer = registry
                    .send(self.call(
                        Method::PUT,
                        with_digest(next, digest),
                        self.push(),
                        context.clone(),
                    ))
                    .await?;
                return match answer.response.status().as_u16() {
                    201 => Ok(()),
                    _ => Err(registry.failure(&context, answer).await),
                };
            }
        };
        let mut call = self.call(Method::PUT, finish, self.push(), context.clone());
        call.headers = headers;
        call.body = RequestBody::Once(Some(body));
        let answer = registry
            .send(call)
            .await
            .map_err(|error| source_failure.or(error))?;
        match answer.response.status().as_u16() {
            201 => Ok(()),
            _ => {
                let error = registry.failure(&context, answer).await;
                self.present_after_failure(digest, source_failure.or(error))
                    .await
            }
        }
    }

    async fn mount_blob(
        &self,
        digest: &Digest,
        from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError> {
        let RepositoryLocation::Remote {
            path: from_path, ..
        } = from
        else {
            return Ok(Mount::Declined);
        };
        if !self.location.same_registry(from) {
            return Ok(Mount::Declined);
        }
        let registry = self.registry()?;
        let context = self.context(registry, "mount blob");
        let mut url = registry.url(&format!("{}/blobs/uploads/", self.path), &context)?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from_path);
        let mut scopes = self.push();
        scopes.push(format!("repository:{from_path}:pull"));
        let answer = registry
            .send(self.call(Method::POST, url.clone(), scopes, context.clone()))
            .await?;
        match answer.response.status().as_u16() {
            201 => Ok(Mount::Mounted),
            202 => {
                // Declined, and an upload session was opened instead: cancel
                // it so the registry does not keep it until it expires.
                if let Ok(session) = location(&url, &answer, &context) {
                    drop(answer);
                    let cancel_context = self.context(registry, "cancel upload");
                    let cancelled = registry
                        .send(self.call(Method::DELETE, session, self.push(), cancel_context))
                        .await;
                    if let Err(error) = cancelled {
                        tracing::debug!(%error, "cancelling a declined mount's upload failed");
                    }
                }
                Ok(Mount::Declined)
            }
            _ => Err(registry.failure(&context, answer).await),
        }
    }

    /// `GET /v2/<name>/referrers/<digest>`: 200 with an index where the
    /// registry has the API (Quay 3.12+), every page of it (`Link`); 404
    /// where it has none (CNCF distribution 2.8 has no such route). The
    /// first ask in a repository tells whether it has the API; once it
    /// answered 404 it is not asked again this run.
    async fn referrers(&self, digest: &Digest) -> Result<Option<Bytes>, RegistryError> {
        let (has_api, own) = self.learn_referrers_api(digest).await?;
        let answer = match (has_api, own) {
            (_, Some(answer)) => answer,
            (Some(false), None) => return Ok(None),
            (_, None) => self.list_referrers(digest).await?,
        };
        Ok(match answer {
            ReferrersAnswer::Index(index) => Some(index),
            ReferrersAnswer::NoApi | ReferrersAnswer::NoRepository => None,
        })
    }

    /// Asked about [`referrers_probe_digest`], once per repository and run
    /// (or answered by an earlier listing). A registry with the API answers
    /// it 200 or refuses the unknown subject (Quay: 400 `MANIFEST_INVALID`),
    /// never 404.
    async fn has_referrers_api(&self) -> Result<bool, RegistryError> {
        let (has_api, _) = self.learn_referrers_api(&referrers_probe_digest()).await?;
        Ok(has_api.unwrap_or(false))
    }
}

/// Why a repository's first referrers answer taught nothing.
enum NotLearnt {
    Failed(RegistryError),
    /// 404 `NAME_UNKNOWN`: asked again next time.
    NoRepository,
}

impl DistributionRepository {
    /// Whether the repository has the referrers API (`None`: not known, the
    /// repository does not exist), learnt once per repository and run by
    /// asking about `digest`; concurrent first askers wait for one answer.
    /// Also the answer about `digest` when this call was the one that asked.
    async fn learn_referrers_api(
        &self,
        digest: &Digest,
    ) -> Result<(Option<bool>, Option<ReferrersAnswer>), RegistryError> {
        let cell = self.referrers_support.cell(&self.reference);
        let mut own = None;
        let asked = &mut own;
        let learnt = cell
            .get_or_try_init(|| async move {
                let answer = match self.list_referrers(digest).await {
                    Ok(answer) => answer,
                    // A refused subject (not a 404): the route exists.
                    Err(RegistryError::Http { status, .. }) if status != 404 && status < 500 => {
                        return Ok(true);
                    }
                    Err(error) => return Err(NotLearnt::Failed(error)),
                };
                let has_api = match answer {
                    ReferrersAnswer::Index(_) => true,
                    ReferrersAnswer::NoApi => false,
                    ReferrersAnswer::NoRepository => {
                        *asked = Some(answer);
                        return Err(NotLearnt::NoRepository);
                    }
                };
                *asked = Some(answer);
                Ok(has_api)
            })
            .await
            .copied();
        match learnt {
            Ok(has_api) => Ok((Some(has_api), own)),
            Err(NotLearnt::NoRepository) => Ok((None, own)),
            Err(NotLearnt::Failed(error)) => Err(error),
        }
    }
}

/// The first error of a blob stream being uploaded, kept while the upload
/// itself is told only that its body failed.
#[derive(Clone, Default)]
struct SourceFailure(Arc<std::sync::Mutex<Option<RegistryError>>>);

impl SourceFailure {
    /// Keeps `error` (the first one only) and gives the upload a stand-in.
    fn keep(&self, error: RegistryError) -> std::io::Error {
        let stand_in = std::io::Error::other(error.to_string());
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(error);
        }
        stand_in
    }

    /// The source's error if it failed, else the upload's `error`.
    fn or(&self, error: RegistryError) -> RegistryError {
        self.0
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or(error)
    }
}

/// What a streamed blob needs to name its errors after the request is gone.
struct OwnedContext {
    registry: String,
    repository: String,
    reference: String,
}

/// The blob's bytes, checked against `digest` as they pass: the stream ends
/// in an error if the registry sent other content.
fn verified_stream(
    answer: Answer,
    digest: Digest,
    owned: OwnedContext,
) -> futures::stream::BoxStream<'static, Result<Bytes, RegistryError>> {
    struct State {
        body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        hasher: Option<Hasher>,
        _permit: tokio::sync::OwnedSemaphorePermit,
        digest: Digest,
        owned: OwnedContext,
    }
    let state = State {
        body: answer.response.bytes_stream().boxed(),
        hasher: Some(Hasher::new()),
        _permit: answer.permit,
        digest,
        owned,
    };
    futures::stream::unfold(state, |mut state| async move {
        let hasher = state.hasher.as_mut()?;
        match state.body.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                Some((Ok(chunk), state))
            }
            Some(Err(error)) => {
                state.hasher = None;
                let context = Context {
                    registry: &state.owned.registry,
                    repository: &state.owned.repository,
                    operation: "get blob",
                };
                let object = format!("blob {}", state.digest);
                let error = errors::broken_body(&context, &object, error);
                Some((Err(error), state))
            }
            None => {
                let actual = Digest::of_hasher(state.hasher.take()?);
                if actual == state.digest {
                    return None;
                }
                let error = RegistryError::DigestMismatch {
                    repository: state.owned.reference.clone(),
                    what: format!("blob {}", state.digest),
                    expected: state.digest.clone(),
                    actual,
                };
                Some((Err(error), state))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_lists_every_accepted_type() {
        assert_eq!(accept_header(), ACCEPTED.join(", "));
    }

    #[test]
    fn next_link_reads_relative_and_absolute_targets() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=t100&n=100>; rel="next""#),
            Some("/v2/a/tags/list?last=t100&n=100")
        );
        assert_eq!(
            next_link(
                r#"<https://x/v2/a/tags/list?n=1>; rel="prev", <https://x/v2/a/tags/list?last=b>; rel="next""#
            ),
            Some("https://x/v2/a/tags/list?last=b")
        );
        assert_eq!(next_link(r#"<https://x/>; rel="prev""#), None);
    }

    #[test]
    fn digest_goes_into_upload_urls_with_or_without_query() {
        let digest = Digest::of_bytes(b"");
        let url = Url::parse("http://h/v2/a/blobs/uploads/u?_state=s").unwrap();
        assert_eq!(
            with_digest(url, &digest).as_str(),
            format!(
                "http://h/v2/a/blobs/uploads/u?_state=s&digest=sha256%3A{}",
                digest.hex()
            )
        );
    }
}
