//! Authentication with one registry: which scheme it asked for, the
//! credential looked up for each repository (once), and bearer tokens cached
//! per credential and scope until they expire.
//!
//! Credentials are per repository, not per host: a containers `auth.json`
//! may hold different keys for `host/team-a` and `host/team-b`. A token is
//! therefore only reused for the credential that fetched it.

use super::challenge::Challenge;
use super::credentials::{self, CredentialEnv, HelperCache, Lookup, Secret};
use super::errors::{self, Context, DistributionFailure};
use super::transport::{Authorization, Call, Registry, RequestBody, read_capped};
use crate::registry::RegistryError;
use base64::Engine as _;
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
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
    /// and requests go out anonymously.
    challenge: std::sync::Mutex<Option<Challenge>>,
    /// Bearer tokens by credential identity and space-joined scopes. Held
    /// across a token fetch so that concurrent requests wait for one fetch
    /// instead of each making their own.
    tokens: tokio::sync::Mutex<HashMap<String, Token>>,
}

type CredentialCell = tokio::sync::OnceCell<Result<Lookup, String>>;

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
            tokens: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn credential_cell(&self, repository: &str) -> Arc<CredentialCell> {
        self.credentials
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(repository.to_string())
            .or_default()
            .clone()
    }

    /// The lookup already made for `repository`, if any.
    fn known(&self, repository: &str) -> Option<Result<Lookup, String>> {
        self.credentials
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(repository)
            .and_then(|cell| cell.get().cloned())
    }

    async fn credential(&self, registry: &Registry, repository: &str) -> Result<Lookup, String> {
        self.credential_cell(repository)
            .get_or_init(|| async {
                credentials::lookup(&self.env, &registry.host, repository, &self.helpers)
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

    /// The `Authorization` header for a request needing `scopes`, fetching a
    /// bearer token if the registry uses them and none is cached.
    ///
    /// Boxed: `Registry::send` calls this, and this may call `send` for a
    /// token, so one function of the cycle must have a nameable future type.
    pub fn authorization<'a>(
        &'a self,
        registry: &'a Registry,
        scopes: &'a [String],
        context: &'a Context<'a>,
    ) -> BoxFuture<'a, Result<Option<HeaderValue>, RegistryError>> {
        Box::pin(self.authorization_inner(registry, scopes, context))
    }

    async fn authorization_inner(
        &self,
        registry: &Registry,
        scopes: &[String],
        context: &Context<'_>,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        match self.current_challenge() {
            None => Ok(None),
            Some(Challenge::Basic) => {
                let lookup = self.lookup_or_error(registry, context).await?;
                Ok(match &lookup.secret {
                    Some(Secret::Basic { username, password }) => {
                        Some(basic_header(username, password))
                    }
                    _ => None,
                })
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let lookup = self.lookup_or_error(registry, context).await?;
                let key = token_key(&lookup, scopes);
                let mut tokens = self.tokens.lock().await;
                if let Some(token) = tokens.get(&key).filter(|t| t.valid_until > Instant::now()) {
                    return Ok(Some(bearer_header(&token.value)));
                }
                let mut wanted = scopes.to_vec();
                if let Some(scope) = scope.filter(|scope| !wanted.contains(scope)) {
                    wanted.push(scope);
                }
                let token = self
                    .fetch_token(
                        &lookup,
                        registry,
                        &realm,
                        service.as_deref(),
                        &wanted,
                        context,
                    )
                    .await?;
                let header = bearer_header(&token.value);
                tokens.insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// Records a 401's challenge; `true` if a retry can now succeed.
    pub async fn on_challenge(
        &self,
        challenge: Challenge,
        repository: &str,
        scopes: &[String],
    ) -> Result<bool, RegistryError> {
        let previous = self
            .challenge
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(challenge.clone());
        match challenge {
            Challenge::Bearer { .. } => {
                // The cached token (if any) was refused: fetch a fresh one.
                if let Some(Ok(lookup)) = self.known(repository) {
                    self.tokens.lock().await.remove(&token_key(&lookup, scopes));
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
        registry: &Registry,
        context: &Context<'_>,
    ) -> Result<Lookup, RegistryError> {
        self.credential(registry, context.repository)
            .await
            .map_err(|message| RegistryError::Distribution {
                repository: context.repository.to_string(),
                failure: DistributionFailure::Credentials {
                    registry: registry.host.clone(),
                    message,
                },
            })
    }

    async fn fetch_token(
        &self,
        lookup: &Lookup,
        registry: &Registry,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        context: &Context<'_>,
    ) -> Result<Token, RegistryError> {
        let token_context = Context {
            registry: context.registry,
            repository: context.repository,
            operation: "token request",
        };
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
                (
                    Method::POST,
                    RequestBody::Bytes(form_encode(&form).into()),
                    None,
                )
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
                (Method::GET, RequestBody::Empty, header)
            }
        };
        registry.counters.count_token();
        let answer = registry
            .send(Call {
                method,
                url,
                headers,
                body,
                authorization: Authorization::Fixed(authorization),
                context: token_context.clone(),
                streamed_response: false,
            })
            .await?;
        if !answer.response.status().is_success() {
            return Err(registry.failure(&token_context, answer).await);
        }
        let malformed = |what: &str| {
            errors::transport(
                &token_context,
                format!("the token realm answered {what}"),
                "The registry's token service misbehaves; try again later",
            )
        };
        let body = read_capped(answer.response, 1024 * 1024)
            .await
            .map_err(|error| errors::reqwest_error(&token_context, error, answer.retries))?
            .ok_or_else(|| malformed("more than 1 MiB"))?;
        let parsed: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| malformed("something that is not JSON"))?;
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

/// `application/x-www-form-urlencoded` without a dependency for it.
fn form_encode(pairs: &[(&str, String)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
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
    fn auth_headers_are_sensitive() {
        let header = basic_header("user", &SecretString::from("pass".to_string()));
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("Basic dXNlcjpwYXNz"));
    }
}
