//! Reads the scan of an image through Quay's security API (the `quay`
//! adapter), one request per platform manifest (Quay reports indexes
//! `unsupported`), and says what each answer means for the gate.

use crate::config::location::RepositoryLocation;
use crate::digest::Digest;
use crate::quay::{QuayClient, QuayRepository};
use crate::registry::manifest::Descriptor;
use crate::registry::{ManifestRef, RegistryError, Repository};
use crate::scan::report::{ImageScan, PlatformScan, ScanStatus, parse_security};
use futures::{StreamExt, TryStreamExt, stream};

/// Platform manifests read at once per image; the registry host's own limit
/// still bounds requests in flight.
const PLATFORMS_IN_FLIGHT: usize = 8;

/// Reading a scan failed in a way that is not "no data" (which the gate
/// refuses as `scan-unavailable`): the plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "{api}: reading the vulnerability scan of {digest} in {repository} failed: HTTP {status}. {hint}"
    )]
    Http {
        api: String,
        repository: String,
        digest: Digest,
        status: u16,
        hint: String,
    },
    #[error(
        "{api}: the vulnerability scan of {digest} in {repository} cannot be read: {message}. Check that policy.quay_api (or the source registry) is a Quay instance, or set policy.vulnerability_source = \"none\""
    )]
    Invalid {
        api: String,
        repository: String,
        digest: Digest,
        message: String,
    },
}

/// Reads image scans from Quay.
pub struct QuayApi<'a> {
    pub quay: QuayClient<'a>,
}

impl QuayApi<'_> {
    /// The scan of `digest` in `source`: per platform for an index.
    pub async fn scan_image(
        &self,
        source: &dyn Repository,
        digest: &Digest,
    ) -> Result<ImageScan, ScanError> {
        let (scheme, host, path) = match source.location() {
            RepositoryLocation::Layout { written, .. } => {
                return Ok(ImageScan::Unavailable {
                    reason: format!(
                        "the source {written} is an OCI layout, which has no scan API; set policy.vulnerability_source = \"none\" to release from it (a loud warning)"
                    ),
                });
            }
            RepositoryLocation::Remote { scheme, host, path } => (*scheme, host, path),
        };
        let Some(target) = self.quay.repository(scheme, host, path) else {
            return Ok(ImageScan::Unavailable {
                reason: format!(
                    "{host}/{path} is not a Quay `namespace/repository` path; set policy.vulnerability_source = \"none\" if {host} is not Quay"
                ),
            });
        };

        let Some(manifest) = source.get_manifest(ManifestRef::Digest(digest)).await? else {
            return Ok(ImageScan::Unavailable {
                reason: format!("{} no longer has {digest}", source.location().reference()),
            });
        };
        let children = manifest
            .children()
            .map_err(|source_error| RegistryError::Manifest {
                repository: source.location().reference(),
                source: source_error,
            })?;
        let wanted: Vec<(Option<String>, Digest)> = if children.is_empty() {
            vec![(None, digest.clone())]
        } else {
            children
                .into_iter()
                .filter(|child| !is_attestation(child))
                .map(|child| {
                    let label = child
                        .platform
                        .as_ref()
                        .map(|platform| platform.to_string())
                        .unwrap_or_else(|| format!("unknown platform {}", child.digest.short()));
                    (Some(label), child.digest)
                })
                .collect()
        };
        let platforms = stream::iter(wanted)
            .map(|(platform, digest)| {
                let target = &target;
                async move {
                    let status = self.scan_manifest(target, &digest).await?;
                    Ok::<_, ScanError>(PlatformScan {
                        platform,
                        digest,
                        status,
                    })
                }
            })
            .buffered(PLATFORMS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(ImageScan::Platforms(platforms))
    }

    async fn scan_manifest(
        &self,
        target: &QuayRepository,
        digest: &Digest,
    ) -> Result<ScanStatus, ScanError> {
        let answer = self.quay.manifest_security(target, digest).await?;
        match answer.status {
            200 => parse_security(&answer.body).map_err(|message| ScanError::Invalid {
                api: target.api.clone(),
                repository: target.name.clone(),
                digest: digest.clone(),
                message,
            }),
            404 => Ok(ScanStatus::Absent(format!(
                "{} knows no scan of this manifest in {} (HTTP 404); if {} is not a Quay registry, set policy.quay_api to the Quay instance that scans it, or policy.vulnerability_source = \"none\"",
                target.api, target.name, target.registry
            ))),
            // Quay's `downstream_issue`: its scanner (Clair's matcher) failed
            // for this manifest. The image is not releasable on it, but the
            // rest of the plan is: that release alone is refused.
            520 => Ok(ScanStatus::Absent(format!(
                "{} could not read this manifest's report from its scanner (HTTP 520 downstream_issue, Clair failed); run the plan again later",
                target.api
            ))),
            status => Err(ScanError::Http {
                api: target.api.clone(),
                repository: target.name.clone(),
                digest: digest.clone(),
                status,
                hint: self.hint(status, answer.retries, target),
            }),
        }
    }

    fn hint(&self, status: u16, retries: u32, target: &QuayRepository) -> String {
        let credential = if self.quay.has_token() {
            "the token in QUAY_API_TOKEN"
        } else {
            "an anonymous request (QUAY_API_TOKEN is not set)"
        };
        match status {
            401 | 403 => format!(
                "Quay refused {credential}: set QUAY_API_TOKEN to an OAuth access token (robot tokens are not accepted as bearer tokens by Quay's API) that may read {}; if {} is not a Quay registry, set policy.vulnerability_source = \"none\"",
                target.name, target.registry
            ),
            429 => format!(
                "Quay is rate limiting us (retried {retries} times): wait and run again, or lower --concurrency"
            ),
            500..=599 => format!("Quay error, retried {retries} times: try again later"),
            _ => "Unexpected answer: check that policy.quay_api is the base URL of a Quay instance"
                .to_string(),
        }
    }
}

/// BuildKit stores provenance and SBOM attestations as extra index entries
/// (platform `unknown/unknown`); they are not runnable images and Quay does
/// not scan them.
fn is_attestation(child: &Descriptor) -> bool {
    child
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get("vnd.docker.reference.type"))
        .is_some_and(|kind| kind == "attestation-manifest")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(annotations: &str) -> Descriptor {
        serde_json::from_str(&format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}}{annotations}}}"#,
            Digest::of_bytes(b"x")
        ))
        .unwrap()
    }

    #[test]
    fn buildkit_attestations_are_not_platforms_to_scan() {
        let attestation = descriptor(
            r#","annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"sha256:00"}"#,
        );
        assert!(is_attestation(&attestation));
        assert!(!is_attestation(&descriptor("")));
    }
}
