//! The OCI distribution API backend: live registries reached over HTTP(S).
//!
//! One [`DistributionClient`] is shared by every repository a run opens, so
//! that registries share their HTTP connections, credentials, bearer tokens,
//! concurrency limits and request counters.

mod api;
mod auth;
mod challenge;
mod credentials;
mod errors;
mod pacing;
mod referrers;
mod repository;
mod retry;
mod transport;

pub use api::{HostAnswer, HostRequest, host_of};
pub use credentials::CredentialEnv;
pub use errors::{DistributionFailure, OciErrors};

use crate::config::location::{RepositoryLocation, Scheme};
use crate::registry::Repository;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use transport::Registry;

/// Requests in flight per registry host unless `--concurrency` says
/// otherwise: the library's default and the CLI's. A release is a chain of
/// dependent requests (manifest, blobs, signature, tag), each waiting for
/// the one before, so a far registry (20 ms and more) needs many chains
/// going at once to stay busy; 16 is what the benchmarks (`bench/`) ran
/// with. The pacing keeps each request class under a registry's rate limits
/// whatever the number; `--concurrency` lowers it for one that is small.
pub const DEFAULT_CONCURRENCY_PER_HOST: usize = 16;

/// How the client talks to registries. `Default` reads credential locations
/// from the process environment and uses settings that suit public registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Requests in flight at once to one registry host.
    pub max_concurrency_per_host: usize,
    /// Attempts per request, the first included, for retryable failures
    /// (429, 408, 500, 502, 503, 504, connection errors, timeouts).
    pub max_attempts: u32,
    /// First backoff delay; doubled each retry, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff delay.
    pub max_backoff: Duration,
    /// Upper bound on a registry's `Retry-After`, so that a hostile or broken
    /// registry cannot stall a run for hours.
    pub max_retry_after: Duration,
    /// Whole-request limit for small requests, and the idle limit between two
    /// reads of a streamed blob.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Whether requests are paced per host and request class by the rates
    /// the registry's 429s and `RateLimit-*` headers teach (`pacing`).
    pub pacing: bool,
    /// Tags asked per page of a tag listing (Quay serves at most 100).
    pub tags_page_size: u32,
    pub user_agent: String,
    /// Where credentials are looked up (SPEC section 6).
    pub credentials: CredentialEnv,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_concurrency_per_host: DEFAULT_CONCURRENCY_PER_HOST,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(15),
            pacing: true,
            tags_page_size: 100,
            user_agent: concat!("quayside/", env!("CARGO_PKG_VERSION")).to_string(),
            credentials: CredentialEnv::from_process(),
        }
    }
}

/// Requests sent so far (every attempt counts, token requests included), and
/// blob and manifest bytes uploaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub get: u64,
    pub head: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
    /// Requests to a bearer token realm (also counted under their method).
    pub token: u64,
    pub total: u64,
    pub bytes_uploaded: u64,
}

/// Shared atomic counters behind [`RequestCounts`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    token: AtomicU64,
    total: AtomicU64,
    bytes_uploaded: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, method: &reqwest::Method) {
        let counter = match *method {
            reqwest::Method::GET => &self.get,
            reqwest::Method::HEAD => &self.head,
            reqwest::Method::POST => &self.post,
            reqwest::Method::PUT => &self.put,
            reqwest::Method::PATCH => &self.patch,
            reqwest::Method::DELETE => &self.delete,
            _ => &self.total,
        };
        if !std::ptr::eq(counter, &self.total) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_token(&self) {
        self.token.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn uploaded(&self, bytes: u64) {
        self.bytes_uploaded.fetch_add(bytes, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RequestCounts {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RequestCounts {
            get: load(&self.get),
            head: load(&self.head),
            post: load(&self.post),
            put: load(&self.put),
            patch: load(&self.patch),
            delete: load(&self.delete),
            token: load(&self.token),
            total: load(&self.total),
            bytes_uploaded: load(&self.bytes_uploaded),
        }
    }
}

/// Opens repositories on live registries, one shared state per registry.
pub struct DistributionClient {
    options: Arc<ClientOptions>,
    /// Built once; a failure (e.g. TLS set-up) is reported by every request
    /// rather than at construction, which cannot fail.
    http: Result<reqwest::Client, String>,
    counters: Arc<Counters>,
    registries: Mutex<HashMap<(Scheme, String), Arc<Registry>>>,
    /// Which repositories have the referrers API, as learnt in this run.
    referrers: Arc<referrers::ReferrersSupport>,
}

/// Makes ring the process's TLS provider, once. rustls picks a provider by
/// itself only when exactly one is compiled in; test builds also carry
/// aws-lc-rs (through the sigstore dev-dependency), so say which.
pub fn install_tls_provider() {
    // Err means a provider is already installed: nothing to do.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl DistributionClient {
    pub fn new(options: ClientOptions) -> Self {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.request_timeout)
            .build()
            .map_err(|error| errors::chain(&error));
        DistributionClient {
            options: Arc::new(options),
            http,
            counters: Arc::new(Counters::default()),
            registries: Mutex::new(HashMap::new()),
            referrers: Arc::default(),
        }
    }

    /// A repository on a live registry. `location` must be `Remote`; a layout
    /// location gives a repository whose every operation reports the mistake.
    pub fn repository(&self, location: RepositoryLocation) -> Arc<dyn Repository> {
        let registry = match &location {
            RepositoryLocation::Remote { scheme, host, .. } => Some(self.registry(*scheme, host)),
            RepositoryLocation::Layout { .. } => None,
        };
        Arc::new(repository::DistributionRepository::new(
            location,
            registry,
            Arc::clone(&self.referrers),
        ))
    }

    pub fn request_counts(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// Says that this run will write the repository at `location`, copying
    /// from `source`, so that one token serves its reads, writes and (when
    /// `source` is on the same registry) mounts. A layout needs no token.
    pub fn will_write(&self, location: &RepositoryLocation, source: &RepositoryLocation) {
        let RepositoryLocation::Remote { scheme, host, path } = location else {
            return;
        };
        let mounted_from = match source {
            RepositoryLocation::Remote {
                scheme: source_scheme,
                host: source_host,
                path: source_path,
            } if source_scheme == scheme && source_host == host => Some(source_path.as_str()),
            _ => None,
        };
        self.registry(*scheme, host)
            .auth
            .will_write(path, mounted_from);
    }

    fn registry(&self, scheme: Scheme, host: &str) -> Arc<Registry> {
        // A poisoned lock only means another thread panicked while inserting;
        // the map itself is still usable.
        let mut registries = self
            .registries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        registries
            .entry((scheme, host.to_string()))
            .or_insert_with(|| {
                Arc::new(Registry::new(
                    scheme,
                    host.to_string(),
                    self.http.clone(),
                    self.options.clone(),
                    self.counters.clone(),
                ))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_by_method_and_total() {
        let counters = Counters::default();
        counters.count(&reqwest::Method::GET);
        counters.count(&reqwest::Method::GET);
        counters.count(&reqwest::Method::HEAD);
        counters.count(&reqwest::Method::OPTIONS);
        counters.uploaded(10);
        let counts = counters.snapshot();
        assert_eq!(counts.get, 2);
        assert_eq!(counts.head, 1);
        assert_eq!(counts.total, 4);
        assert_eq!(counts.bytes_uploaded, 10);
    }

    #[test]
    fn default_options_are_sane() {
        let options = ClientOptions::default();
        assert_eq!(
            options.max_concurrency_per_host,
            DEFAULT_CONCURRENCY_PER_HOST
        );
        assert_eq!(options.max_attempts, 5);
        assert!(options.max_retry_after >= options.max_backoff);
    }
}
