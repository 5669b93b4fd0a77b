//! Apply: walks a `Plan` and makes the registries match it, in the safety
//! order of SPEC section 5. It makes no decisions of its own: what to do was
//! decided by the planner; this only carries it out, one release at a time,
//! so that one failing release does not block the others.

pub mod copy;
pub mod sign;

use crate::config::model::{Desired, Service};
use crate::digest::Digest;
use crate::plan::{Action, ActionKind, Plan, SignatureCheck};
use crate::progress::Progress;
use crate::registry::{Connector, RegistryError};
use crate::signing::Signer;
use copy::Copier;
use futures::{StreamExt, stream};
use sign::{Provenance, sign_image};

/// Target repositories worked on at once (their releases one after another);
/// each also copies several blobs at once, and the registry client bounds
/// requests per host.
const RELEASES_IN_FLIGHT: usize = 4;

pub struct Apply<'a> {
    pub desired: &'a Desired,
    pub connector: &'a Connector,
    pub signer: &'a dyn Signer,
    pub verifier: &'a dyn SignatureCheck,
    /// The git commit of the file, recorded in signatures.
    pub commit: Option<String>,
    pub copier: Copier,
}

/// What happened to one release.
#[derive(Debug)]
pub enum Outcome {
    Created {
        signatures: usize,
    },
    Signed {
        signatures: usize,
    },
    /// The tag appeared, pointing elsewhere, or the registry refused to
    /// overwrite it: a `retag`, nothing was tagged.
    Retag {
        found: Option<Digest>,
        message: String,
    },
    Failed(RegistryError),
}

impl Outcome {
    /// A few words for progress lines.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Created { signatures } => format!("created ({signatures} signatures)"),
            Outcome::Signed { signatures } => format!("signed ({signatures} signatures)"),
            Outcome::Retag { .. } => "refused: the tag exists at another digest".to_string(),
            Outcome::Failed(_) => "failed (see the summary)".to_string(),
        }
    }
}

#[derive(Debug)]
pub struct ReleaseOutcome {
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub outcome: Outcome,
}

impl Apply<'_> {
    /// Carries out every create and sign of the plan. The caller has checked
    /// that the plan has no refusals.
    ///
    /// Releases of one target repository run one after another, repositories
    /// concurrently: two releases of one digest (an rc and its final), or
    /// indexes sharing a platform manifest, would otherwise upload the same
    /// blobs and manifests into one repository at once, and distribution 2.8
    /// rewrites a blob's link file in place on each upload, so a manifest put
    /// that reads it meanwhile fails (`DIGEST_INVALID` + `MANIFEST_BLOB_UNKNOWN`,
    /// found by `tests/all/apply_crash.rs`). It also keeps two writers off
    /// one `.sig` tag.
    pub async fn run(&self, plan: &Plan) -> Vec<ReleaseOutcome> {
        let mut by_repository: Vec<Vec<&Action>> = Vec::new();
        for action in plan
            .actions
            .iter()
            .filter(|action| action.kind != ActionKind::Unchanged)
        {
            match by_repository
                .iter_mut()
                .find(|group| group[0].target == action.target)
            {
                Some(group) => group.push(action),
                None => by_repository.push(vec![action]),
            }
        }
        let progress = &Progress::new(by_repository.iter().map(Vec::len).sum());
        stream::iter(by_repository)
            .map(|group| async move {
                let mut outcomes = Vec::with_capacity(group.len());
                for action in group {
                    let release = self.run_release(action).await;
                    progress.finished(&format!(
                        "{} {} {}",
                        action.service,
                        action.tag,
                        release.outcome.describe()
                    ));
                    outcomes.push(release);
                }
                outcomes
            })
            .buffer_unordered(RELEASES_IN_FLIGHT)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn run_release(&self, action: &Action) -> ReleaseOutcome {
        // What happened is said once per release by the progress line.
        let outcome = self.run_action(action).await;
        ReleaseOutcome {
            service: action.service.clone(),
            tag: action.tag.clone(),
            digest: action.digest.clone(),
            outcome,
        }
    }

    async fn run_action(&self, action: &Action) -> Outcome {
        let Some(service) = self
            .desired
            .services
            .iter()
            .find(|s| s.name == action.service)
        else {
            return Outcome::Failed(RegistryError::Invalid {
                repository: action.target.clone(),
                message: format!(
                    "the plan names service {} which {} does not declare; make a new plan",
                    action.service, self.desired.file
                ),
            });
        };
        let result = match action.kind {
            ActionKind::Create => self.create(service, action).await,
            ActionKind::Sign => self
                .sign(service, action)
                .await
                .map(|signatures| Outcome::Signed { signatures }),
            ActionKind::Unchanged => Ok(Outcome::Signed { signatures: 0 }),
        };
        result.unwrap_or_else(|error| match error {
            RegistryError::TagImmutable { repository, tag } => Outcome::Retag {
                found: None,
                message: format!(
                    "{repository} refused to write tag {tag}: it is immutable and already exists"
                ),
            },
            other => Outcome::Failed(other),
        })
    }

    /// Copy untagged, sign, re-check the tag is still absent, tag, read back.
    async fn create(&self, service: &Service, action: &Action) -> Result<Outcome, RegistryError> {
        let source = self.connector.open(&service.source);
        let target = self.connector.open(&service.target);
        let root = self
            .copier
            .copy_image(source.as_ref(), target.as_ref(), &action.digest)
            .await?;
        let signatures = self.sign(service, action).await?;

        match target.resolve_tag(&action.tag).await? {
            Some(found) if found == action.digest => return Ok(Outcome::Created { signatures }),
            Some(found) => {
                return Ok(Outcome::Retag {
                    message: format!(
                        "{}:{} appeared during apply, pointing at {found}; it was not changed",
                        service.target.reference(),
                        action.tag
                    ),
                    found: Some(found),
                });
            }
            None => {}
        }
        target.put_manifest(&root, Some(&action.tag)).await?;
        let read_back = target.resolve_tag(&action.tag).await?;
        if read_back.as_ref() != Some(&action.digest) {
            return Err(RegistryError::Invalid {
                repository: service.target.reference(),
                message: format!(
                    "tag {} reads back as {} instead of {}; check the registry for a concurrent writer",
                    action.tag,
                    read_back.map_or("nothing".to_string(), |d| d.to_string()),
                    action.digest
                ),
            });
        }
        Ok(Outcome::Created { signatures })
    }

    async fn sign(&self, service: &Service, action: &Action) -> Result<usize, RegistryError> {
        let target = self.connector.open(&service.target);
        let provenance =
            Provenance::for_release(&service.source, &action.digest, self.commit.as_deref());
        sign_image(
            target.as_ref(),
            &action.digest,
            self.signer,
            self.verifier,
            &provenance,
        )
        .await
    }
}
