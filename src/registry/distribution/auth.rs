//! Authentication with one registry: which scheme it asked for, the
//! credential looked up for each repository (once), and bearer tokens cached
//! per credential and scope until they expire. It says which token request to
//! send and reads its answer; `transport` sends it.
//!
//! Credentials are per repository, not per host: a containers `auth.json`
//! may hold different keys for `host/team-a` and `host/team-b`. A token is
//! therefore only reused for the credential that fetched it.
//!
//! Token fetches for different scopes run at once (Quay's `/v2/auth` spends
//! ~0.3 s in bcrypt per token); requests waiting for the same scope share
//! one fetch. A repository that will be written asks one token for its
//! reads, writes and mounts alike (`pull,push` on it, `pull` on the
//! repository its blobs are mounted from) instead of one token for each.
//!
//! Until the registry has answered once, the scheme is unknown: the first
//! request goes out alone (a [`Probe`]) and the others wait for its answer,
//! so that a run meets one challenge per registry instead of one 401 per
//! request in flight at its start (issue 18).

use super::challenge::Challenge;
use super::credentials::{self, CredentialEnv, HelperCache, Lookup, Secret};
use super::errors::{self, Context, DistributionFailure};
use crate::registry::RegistryError;
use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Tokens are dropped this long before they expire, so that none expires
/// between being taken from the cache and reaching the registry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The distribution token spec's default lifetime when `expires_in` is absent.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

struct Token {
    value: SecretString,
    valid_until: Instant,
}

pub(crate) struct AuthState {
    env: CredentialEnv,
    /// The credential lookup of each repository path, made once.
    credentials: std::sync::Mutex<HashMap<String, Arc<CredentialCell>>>,
    helpers: HelperCache,
    /// What the registry asked for in its last challenge; `None` until then,
    /// and requests go out anonymously (the probe, or every request of a
    /// registry that answered it without a challenge).
    challenge: std::sync::Mutex<Option<Challenge>>,
    /// Held by the request that learns the challenge (see [`Probe`]).
    probe_gate: tokio::sync::Mutex<()>,
    /// Whether the registry has answered a request: its challenge, if it
    /// has one, is in `challenge`.
    answered_once: AtomicBool,
    /// Bearer tokens by credential identity and space-joined scopes. The map
    /// lock is held only to find a slot; a slot's lock is held across its
    /// token fetch, so that concurrent requests for the same scopes wait for
    /// one fetch while other scopes' fetches go ahead.
    tokens: std::sync::Mutex<HashMap<String, Arc<TokenSlot>>>,
    /// Repository paths this run will write, each with the path on this
    /// host its blobs are mounted from: their scopes are widened so that one
    /// token serves reads, writes and mounts.
    written: std::sync::Mutex<HashMap<String, Option<String>>>,
}

type TokenSlot = tokio::sync::Mutex<Option<Token>>;

type CredentialCell = tokio::sync::OnceCell<Result<Lookup, String>>;

/// What a request needs before it is sent.
pub(crate) enum Authorize {
    /// This `Authorization` header, or none (anonymous).
    Header(Option<HeaderValue>),
    /// A bearer token that must be fetched first: send `request` to the
    /// token realm, then give its answer to `pending`.
    Token {
        request: Box<TokenRequest>,
        pending: PendingToken,
    },
}

/// The first request to a registry, sent while the others wait: its answer
/// says whether the registry wants Basic credentials, a bearer token (and
/// from which realm) or nothing. Dropped without [`Probe::answered`] (the
/// request failed before an answer), the next waiting request probes.
pub(crate) struct Probe<'a> {
    answered_once: &'a AtomicBool,
    _gate: tokio::sync::MutexGuard<'a, ()>,
}

impl Probe<'_> {
    /// The registry answered the probe and its challenge, if any, has been
    /// recorded: the waiting requests may go.
    pub fn answered(self) {
        self.answered_once.store(true, Ordering::Release);
    }
}

/// A request to a bearer token realm.
pub(crate) struct TokenRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub authorization: Option<HeaderValue>,
}

/// A token being fetched. It holds its scopes' slot, so that concurrent
/// requests for the same scopes wait for this one fetch instead of each
/// making their own; dropped unfinished (a failed fetch), the next waiter
/// fetches.
pub(crate) struct PendingToken {
    slot: tokio::sync::OwnedMutexGuard<Option<Token>>,
}

/// The token realm's answers are small JSON documents; a longer body is not one.
pub(crate) const MAX_TOKEN_ANSWER: usize = 1024 * 1024;

/// The context of a token request made for a request in `context`.
pub(crate) fn token_context<'a>(context: &Context<'a>) -> Context<'a> {
    Context {
        registry: context.registry,
        repository: context.repository,
        operation: "token request",
    }
}

impl PendingToken {
    /// Reads the realm's successful answer (`None`: longer than
    /// [`MAX_TOKEN_ANSWER`]), caches the token and returns its header.
    pub fn finish(
        mut self,
        body: Option<&[u8]>,
        token_context: &Context<'_>,
    ) -> Result<HeaderValue, RegistryError> {
        let token = Token::from_answer(body, token_context)?;
        let header = bearer_header(&token.value);
        *self.slot = Some(token);
        Ok(header)
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl AuthState {
    pub fn new(env: CredentialEnv) -> Self {
        AuthState {
            env,
            credentials: std::sync::Mutex::new(HashMap::new()),
            helpers: HelperCache::default(),
            challenge: std::sync::Mutex::new(None),
            probe_gate: tokio::sync::Mutex::new(()),
            answered_once: AtomicBool::new(false),
            tokens: std::sync::Mutex::new(HashMap::new()),
            written: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// `Some` for the request that must go first, while the registry has not
    /// answered any; the others wait here until it has (or has failed).
    pub async fn probe(&self) -> Option<Probe<'_>> {
        if self.answered_once.load(Ordering::Acquire) {
            return None;
        }
        let gate = self.probe_gate.lock().await;
        if self.answered_once.load(Ordering::Acquire) {
            return None;
        }
        Some(Probe {
            answered_once: &self.answered_once,
            _gate: gate,
        })
    }

    /// Says that this run will write `repository`, mounting blobs from
    /// `mounted_from` (a path on this host): its requests then ask the one
    /// token its reads, writes and mounts need. The first source said wins.
    pub fn will_write(&self, repository: &str, mounted_from: Option<&str>) {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(repository.to_string())
            .or_insert_with(|| mounted_from.map(str::to_string));
    }

    /// `scopes` with each scope on a repository this run writes widened to
    /// `pull,push` on it and `pull` on its mount source, in their order and
    /// without repeats.
    fn effective_scopes(&self, scopes: &[String]) -> Vec<String> {
        let written = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut effective: Vec<String> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let path = scope
                .strip_prefix("repository:")
                .and_then(|rest| rest.rsplit_once(':'))
                .map(|(path, _actions)| path);
            let widened = match path.and_then(|path| Some((path, written.get(path)?))) {
                Some((path, source)) => std::iter::once(format!("repository:{path}:pull,push"))
                    .chain(
                        source
                            .iter()
                            .map(|source| format!("repository:{source}:pull")),
                    )
                    .collect(),
                None => vec![scope.clone()],
            };
            for scope in widened {
                if !effective.contains(&scope) {
                    effective.push(scope);
                }
            }
        }
        effective
    }

    fn token_slot(&self, key: &str) -> Arc<TokenSlot> {
        shared_entry(&self.tokens, key)
    }

    fn credential_cell(&self, repository: &str) -> Arc<CredentialCell> {
        shared_entry(&self.credentials, repository)
    }

    /// The lookup already made for `repository`, if any.
    fn known(&self, repository: &str) -> Option<Result<Lookup, String>> {
        self.credentials
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(repository)
            .and_then(|cell| cell.get().cloned())
    }

    async fn credential(&self, host: &str, repository: &str) -> Result<Lookup, String> {
        self.credential_cell(repository)
            .get_or_init(|| async {
                credentials::lookup(&self.env, host, repository, &self.helpers)
                    .await
                    .map_err(|error| error.to_string())
            })
            .await
            .clone()
    }

    /// Which credential source `repository`'s requests use, for hints.
    pub fn describe_for(&self, repository: &str) -> String {
        describe_lookup(self.known(repository))
    }

    /// Which credential sources this registry's requests used, for hints
    /// where the repository is not at hand.
    pub async fn describe(&self) -> String {
        let cells: Vec<Arc<CredentialCell>> = self
            .credentials
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        let described: BTreeSet<String> = cells
            .iter()
            .filter_map(|cell| cell.get().cloned())
            .map(|lookup| describe_lookup(Some(lookup)))
            .collect();
        if described.is_empty() {
            return describe_lookup(None);
        }
        described.into_iter().collect::<Vec<_>>().join("; ")
    }

    fn current_challenge(&self) -> Option<Challenge> {
        self.challenge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// What a request to `host` needing `scopes` must carry: a header, or
    /// first a bearer token when the registry uses them and none is cached.
    pub async fn authorization(
        &self,
        host: &str,
        scopes: &[String],
        context: &Context<'_>,
    ) -> Result<Authorize, RegistryError> {
        match self.current_challenge() {
            None => Ok(Authorize::Header(None)),
            Some(Challenge::Basic) => {
                let lookup = self.lookup_or_error(host, context).await?;
                Ok(Authorize::Header(match &lookup.secret {
                    Some(Secret::Basic { username, password }) => {
                        Some(basic_header(username, password))
                    }
                    _ => None,
                }))
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let lookup = self.lookup_or_error(host, context).await?;
                let scopes = self.effective_scopes(scopes);
                let slot = self
                    .token_slot(&token_key(&lookup, &scopes))
                    .lock_owned()
                    .await;
                if let Some(token) = slot.as_ref().filter(|t| t.valid_until > Instant::now()) {
                    return Ok(Authorize::Header(Some(bearer_header(&token.value))));
                }
                let mut wanted = scopes;
                if let Some(scope) = scope.filter(|scope| !wanted.contains(scope)) {
                    wanted.push(scope);
                }
                let request =
                    TokenRequest::new(&lookup, &realm, service.as_deref(), &wanted, context)?;
                Ok(Authorize::Token {
                    request: Box::new(request),
                    pending: PendingToken { slot },
                })
            }
        }
    }

    /// Records a 401's challenge to a request sent with `refused` as its
    /// `Authorization`; `true` if a retry can now succeed.
    pub async fn on_challenge(
        &self,
        challenge: Challenge,
        repository: &str,
        scopes: &[String],
        refused: Option<&HeaderValue>,
    ) -> Result<bool, RegistryError> {
        let previous = self
            .challenge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(challenge.clone());
        match challenge {
            Challenge::Bearer { .. } => {
                // The cached token was refused: fetch a fresh one. Only that
                // token: another request may have cached a newer one since
                // (e.g. while this one was answered anonymously).
                if let (Some(Ok(lookup)), Some(refused)) = (self.known(repository), refused) {
                    let key = token_key(&lookup, &self.effective_scopes(scopes));
                    let slot = self.token_slot(&key);
                    let mut slot = slot.lock().await;
                    if slot
                        .as_ref()
                        .is_some_and(|token| bearer_header(&token.value) == refused)
                    {
                        *slot = None;
                    }
                }
                Ok(true)
            }
            Challenge::Basic => {
                // Retrying helps only if we did not send Basic credentials
                // already (otherwise they were refused) and we have some.
                let had_basic = previous == Some(Challenge::Basic);
                let known = self.known(repository);
                let has_credentials = matches!(
                    known,
                    Some(Ok(Lookup {
                        secret: Some(Secret::Basic { .. }),
                        ..
                    }))
                ) || known.is_none();
                Ok(!had_basic && has_credentials)
            }
        }
    }

    async fn lookup_or_error(
        &self,
        host: &str,
        context: &Context<'_>,
    ) -> Result<Lookup, RegistryError> {
        self.credential(host, context.repository)
            .await
            .map_err(|message| RegistryError::Distribution {
                repository: context.repository.to_string(),
                failure: DistributionFailure::Credentials {
                    registry: host.to_string(),
                    message,
                },
            })
    }
}

impl TokenRequest {
    /// The request for a token with `scopes` from `realm`, made with `lookup`'s
    /// credential.
    fn new(
        lookup: &Lookup,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        context: &Context<'_>,
    ) -> Result<Self, RegistryError> {
        let token_context = token_context(context);
        let mut url = Url::parse(realm).map_err(|error| {
            errors::transport(
                &token_context,
                format!("the registry's token realm `{realm}` is not a URL: {error}"),
                "The registry is misconfigured; report it to its operators",
            )
        })?;
        let mut headers = HeaderMap::new();
        let (method, body, authorization) = match &lookup.secret {
            Some(Secret::IdentityToken(refresh)) => {
                // OAuth2 refresh-token grant, as `docker login` tokens need.
                let mut form = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("client_id", "quayside".to_string()),
                    ("scope", scopes.join(" ")),
                    ("refresh_token", refresh.expose_secret().to_string()),
                ];
                if let Some(service) = service {
                    form.push(("service", service.to_string()));
                }
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, Some(Bytes::from(form_encode(&form))), None)
            }
            other => {
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in scopes {
                        query.append_pair("scope", scope);
                    }
                }
                let header = match other {
                    Some(Secret::Basic { username, password }) => {
                        Some(basic_header(username, password))
                    }
                    _ => None,
                };
                (Method::GET, None, header)
            }
        };
        Ok(TokenRequest {
            method,
            url,
            headers,
            body,
            authorization,
        })
    }
}

impl Token {
    /// The token in a realm's answer (`None`: longer than [`MAX_TOKEN_ANSWER`]).
    fn from_answer(
        body: Option<&[u8]>,
        token_context: &Context<'_>,
    ) -> Result<Self, RegistryError> {
        let malformed = |what: &str| {
            errors::transport(
                token_context,
                format!("the token realm answered {what}"),
                "The registry's token service misbehaves; try again later",
            )
        };
        let body = body.ok_or_else(|| malformed("more than 1 MiB"))?;
        let parsed: TokenAnswer =
            serde_json::from_slice(body).map_err(|_| malformed("something that is not JSON"))?;
        let value = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| malformed("without a token"))?;
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Ok(Token {
            value: SecretString::from(value),
            valid_until: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// The entry for `key` in `map`, made empty if absent; shared, so that it
/// can be awaited without holding the map's lock.
fn shared_entry<T: Default>(map: &std::sync::Mutex<HashMap<String, Arc<T>>>, key: &str) -> Arc<T> {
    map.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone()
}

fn describe_lookup(lookup: Option<Result<Lookup, String>>) -> String {
    match lookup {
        Some(Ok(lookup)) => lookup.source.to_string(),
        Some(Err(error)) => format!("no credentials ({error})"),
        None => "no credentials (none were asked for)".to_string(),
    }
}

/// Tokens are cached per credential: a token fetched with one repository's
/// credential must not authorise requests meant to use another's.
fn token_key(lookup: &Lookup, scopes: &[String]) -> String {
    format!("{}\n{}", lookup.identity(), scopes.join(" "))
}

fn basic_header(username: &str, password: &SecretString) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose_secret()));
    sensitive(&format!("Basic {encoded}"))
}

fn bearer_header(token: &SecretString) -> HeaderValue {
    sensitive(&format!("Bearer {}", token.expose_secret()))
}

/// A header value marked sensitive, so that HTTP libraries never log it.
fn sensitive(text: &str) -> HeaderValue {
    // Tokens and base64 are visible ASCII; anything else cannot be sent and
    // is replaced by an empty value the registry will refuse with a 401.
    let mut value = HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// `application/x-www-form-urlencoded`, the body of an OAuth2 token request.
fn form_encode(pairs: &[(&str, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        let encoded = form_encode(&[("scope", "repository:a/b:pull,push x".to_string())]);
        assert_eq!(encoded, "scope=repository%3Aa%2Fb%3Apull%2Cpush+x");
    }

    #[test]
    fn a_written_repository_asks_one_scope_set_for_reads_writes_and_mounts() {
        let auth = AuthState::new(CredentialEnv::default());
        auth.will_write("prod/app", Some("dev/app"));
        let scopes = |list: &[&str]| -> Vec<String> {
            auth.effective_scopes(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        let one = ["repository:prod/app:pull,push", "repository:dev/app:pull"];
        assert_eq!(scopes(&["repository:prod/app:pull"]), one);
        assert_eq!(scopes(&["repository:prod/app:pull,push"]), one);
        assert_eq!(
            scopes(&["repository:prod/app:pull,push", "repository:dev/app:pull"]),
            one
        );
        // The source's own reads, and repositories not written, are unchanged.
        assert_eq!(
            scopes(&["repository:dev/app:pull"]),
            ["repository:dev/app:pull"]
        );
        auth.will_write("prod/solo", None);
        assert_eq!(
            scopes(&["repository:prod/solo:pull"]),
            ["repository:prod/solo:pull,push"]
        );
    }

    #[test]
    fn auth_headers_are_sensitive() {
        let header = basic_header("user", &SecretString::from("pass".to_string()));
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("Basic dXNlcjpwYXNz"));
    }
}
