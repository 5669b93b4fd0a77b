//! The immutability policy API (Quay 3.17+, `FEATURE_IMMUTABLE_TAGS`):
//! list an organization's and a repository's policies, create an
//! organization policy, and read which tags Quay marks `immutable`.
//! Organization policies need an OAuth token with the `org:admin` scope of an
//! organization administrator; repository policies a repository admin.

use super::tags::TagListError;
use super::{Answer, QuayClient, QuayRepository};
use crate::immutability::{Policy, Protection, Scope};
use crate::registry::RegistryError;
use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Reading or writing policies failed: the plan cannot say whether the
/// registry protects release tags.
#[derive(Debug, thiserror::Error)]
pub enum ImmutabilityError {
    /// Boxed: a `RegistryError` is large.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error("{api}: {operation} of {scope} failed: HTTP {status}. {hint}")]
    Http {
        api: String,
        operation: String,
        scope: String,
        status: u16,
        hint: String,
    },
    #[error(
        "{api}: the answer to {operation} of {scope} is not Quay's: {message}. Check that policy.quay_api (or the target registry) is a Quay instance, or set policy.registry_immutability = \"off\""
    )]
    Invalid {
        api: String,
        operation: String,
        scope: String,
        message: String,
    },
}

impl From<RegistryError> for ImmutabilityError {
    fn from(error: RegistryError) -> Self {
        ImmutabilityError::Registry(Box::new(error))
    }
}

#[derive(Deserialize)]
struct PolicyList {
    policies: Vec<PolicyView>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyView {
    uuid: String,
    tag_pattern: Option<String>,
    #[serde(default = "yes")]
    tag_pattern_matches: bool,
}

fn yes() -> bool {
    true
}

impl QuayClient<'_> {
    /// The organization's policies, then the repository's own (none while the
    /// repository does not exist yet); HTTP 404 for the organization's means
    /// no immutability API (not Quay, or `FEATURE_IMMUTABLE_TAGS` is off).
    pub async fn immutability_policies(
        &self,
        repository: &QuayRepository,
    ) -> Result<Protection, ImmutabilityError> {
        let org = organization(repository);
        let org_url = format!(
            "{}/api/v1/organization/{org}/immutabilitypolicy/",
            repository.api
        );
        let operation = "reading the immutability policies";
        let org_scope = Scope::Organization(org.to_string());
        let answer = self.get_json(&org_url, &repository.name, operation).await?;
        let mut policies = match answer.status {
            200 => self.policies(&answer, repository, operation, org_scope)?,
            404 => {
                return Ok(Protection::NoApi(format!(
                    "{} answers HTTP 404 to {org_url} (not Quay 3.17+, or FEATURE_IMMUTABLE_TAGS is off)",
                    repository.registry
                )));
            }
            _ => return Err(self.http_error(&answer, repository, operation, &org_scope)),
        };
        let repo_url = format!(
            "{}/api/v1/repository/{}/immutabilitypolicy/",
            repository.api, repository.name
        );
        let repo_scope = Scope::Repository(repository.name.clone());
        let answer = self
            .get_json(&repo_url, &repository.name, operation)
            .await?;
        match answer.status {
            200 => policies.extend(self.policies(&answer, repository, operation, repo_scope)?),
            404 => {}
            _ => return Err(self.http_error(&answer, repository, operation, &repo_scope)),
        }
        Ok(Protection::Policies(policies))
    }

    /// `POST` an organization policy freezing tags that fully match
    /// `pattern`; answers the new policy's uuid.
    pub async fn create_organization_policy(
        &self,
        repository: &QuayRepository,
        pattern: &str,
    ) -> Result<String, ImmutabilityError> {
        let org = organization(repository);
        let url = format!(
            "{}/api/v1/organization/{org}/immutabilitypolicy/",
            repository.api
        );
        let body = serde_json::json!({ "tagPattern": pattern, "tagPatternMatches": true });
        let operation = "creating an immutability policy";
        let scope = Scope::Organization(org.to_string());
        let answer = self
            .send_json(
                Method::POST,
                &url,
                Some(Bytes::from(body.to_string())),
                &repository.name,
                operation,
            )
            .await?;
        if answer.status != 201 {
            return Err(self.http_error(&answer, repository, operation, &scope));
        }
        #[derive(Deserialize)]
        struct Created {
            uuid: String,
        }
        serde_json::from_slice::<Created>(&answer.body)
            .map(|created| created.uuid)
            .map_err(|error| invalid(repository, operation, &scope, error))
    }

    /// Every active tag of `repository` and whether Quay marks it immutable
    /// (the REST tag list, `tags`); none while the repository does not exist.
    pub async fn tag_immutability(
        &self,
        repository: &QuayRepository,
    ) -> Result<BTreeMap<String, bool>, ImmutabilityError> {
        let operation = "reading the tag list";
        let scope = Scope::Repository(repository.name.clone());
        match self.active_tags(repository, operation).await {
            Ok(tags) => Ok(tags.into_iter().map(|t| (t.name, t.immutable)).collect()),
            Err(TagListError::Http(answer)) if answer.status == 404 => Ok(BTreeMap::new()),
            Err(TagListError::Http(answer)) => {
                Err(self.http_error(&answer, repository, operation, &scope))
            }
            Err(TagListError::Invalid(error)) => Err(invalid(repository, operation, &scope, error)),
            Err(TagListError::TooManyPages) => Err(ImmutabilityError::Invalid {
                api: repository.api.clone(),
                operation: operation.to_string(),
                scope: scope.describe(),
                message: format!("more than {} pages of tags", super::tags::MAX_PAGES),
            }),
            Err(TagListError::Registry(error)) => Err(error.into()),
        }
    }

    fn policies(
        &self,
        answer: &Answer,
        repository: &QuayRepository,
        operation: &str,
        scope: Scope,
    ) -> Result<Vec<Policy>, ImmutabilityError> {
        let list: PolicyList = serde_json::from_slice(&answer.body)
            .map_err(|error| invalid(repository, operation, &scope, error))?;
        Ok(list
            .policies
            .into_iter()
            .map(|view| Policy {
                uuid: view.uuid,
                pattern: view.tag_pattern.unwrap_or_default(),
                matches: view.tag_pattern_matches,
                scope: scope.clone(),
            })
            .collect())
    }

    fn http_error(
        &self,
        answer: &Answer,
        repository: &QuayRepository,
        operation: &str,
        scope: &Scope,
    ) -> ImmutabilityError {
        let credential = if self.has_token() {
            "the token in QUAY_API_TOKEN"
        } else {
            "an anonymous request (QUAY_API_TOKEN is not set)"
        };
        let grant = match scope {
            Scope::Organization(org) => format!("an administrator of organization {org}"),
            Scope::Repository(repo) => format!("an administrator of repository {repo}"),
        };
        let hint = match answer.status {
            401 | 403 => format!(
                "Quay refused {credential}: set QUAY_API_TOKEN to an OAuth access token with the org:admin (Administer Organization) scope, issued to {grant} (robot tokens are not accepted by Quay's API); or set policy.registry_immutability = \"off\""
            ),
            400 => format!(
                "Quay refused the request: {}",
                String::from_utf8_lossy(&answer.body).trim()
            ),
            429 => format!(
                "Quay is rate limiting us (retried {} times): wait and run again, or lower --concurrency",
                answer.retries
            ),
            500..=599 => format!(
                "Quay error, retried {} times: try again later",
                answer.retries
            ),
            _ => "Unexpected answer: check that policy.quay_api is the base URL of a Quay instance"
                .to_string(),
        };
        ImmutabilityError::Http {
            api: repository.api.clone(),
            operation: operation.to_string(),
            scope: scope.describe(),
            status: answer.status,
            hint,
        }
    }
}

/// The organization (namespace) of `namespace/repository`.
pub fn organization(repository: &QuayRepository) -> &str {
    repository
        .name
        .split_once('/')
        .map_or(repository.name.as_str(), |(org, _)| org)
}

fn invalid(
    repository: &QuayRepository,
    operation: &str,
    scope: &Scope,
    error: serde_json::Error,
) -> ImmutabilityError {
    ImmutabilityError::Invalid {
        api: repository.api.clone(),
        operation: operation.to_string(),
        scope: scope.describe(),
        message: error.to_string(),
    }
}
