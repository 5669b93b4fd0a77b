//! The security API: a manifest's vulnerability scan report, as Quay's
//! security worker stored it (what the report means is `scan`'s to say).

use super::{Answer, QuayClient, QuayRepository};
use crate::digest::Digest;
use crate::registry::RegistryError;

impl QuayClient<'_> {
    /// `GET {api}/api/v1/repository/{namespace}/{repo}/manifest/{digest}/security?vulnerabilities=true`.
    pub async fn manifest_security(
        &self,
        repository: &QuayRepository,
        digest: &Digest,
    ) -> Result<Answer, RegistryError> {
        let url = format!(
            "{}/api/v1/repository/{}/manifest/{digest}/security?vulnerabilities=true",
            repository.api, repository.name
        );
        self.get_json(&url, &repository.name, "read vulnerability scan")
            .await
    }
}
