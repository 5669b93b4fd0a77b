//! Apply: walks a `Plan` and makes the registries match it, in the safety
//! order of SPEC section 5. It makes no decisions of its own: what to do was
//! decided by the planner; this only carries it out, one release at a time,
//! so that one failing release does not block the others.

pub mod attest;
pub mod copy;
mod error;
pub mod policies;
pub mod sign;

pub use error::ApplyError;

use crate::config::model::{Desired, Service, SignatureFormat};
use crate::digest::Digest;
use crate::plan::{Action, ActionKind, Plan, SignatureCheck};
use crate::progress::Progress;
use crate::registry::race::put_manifest_racing;
use crate::registry::{Connector, RegistryError};
use crate::registry::{ManifestRef, RawManifest, Repository};
use crate::signing::Signer;
use crate::signing::bundles::{StoredBundles, attach, confirm_referrer};
use attest::{Attester, PromotionContext};
use copy::Copier;
use futures::{StreamExt, stream};
use sign::{
    BundlesWritten, Provenance, SignatureLocks, WrittenBundle, bundle_signature, sign_image,
    stored_referrers,
};

/// Releases worked on at once (those of one digest in one repository count as
/// one); each also copies several blobs and signs several manifests at once.
/// A release is mostly a chain of dependent requests, so this is set well
/// above the per-host request limit (`--concurrency`), which is what bounds
/// the registry's load: at 20 ms per request, 8 releases in flight left that
/// limit idle (`bench/run.sh`: 20 releases took 2.76 s with 8, 1.87 s with 32).
const RELEASES_IN_FLIGHT: usize = 32;

pub struct Apply<'a> {
    pub desired: &'a Desired,
    pub connector: &'a Connector,
    pub signer: &'a dyn Signer,
    pub verifier: &'a dyn SignatureCheck,
    /// Names the signing key in bundles (`verificationMaterial.publicKey.hint`).
    pub key_hint: String,
    /// The git commit of the file, recorded in signatures.
    pub commit: Option<String>,
    /// The file, commit and plan each promotion attestation records.
    pub promotion: PromotionContext,
    pub copier: Copier,
    pub signature_locks: SignatureLocks,
    pub bundles_written: BundlesWritten,
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
    Failed(ApplyError),
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

/// An image in its target and signed, as one release left it for the next
/// release of the same digest in the same repository (which only attests
/// and tags).
#[derive(Clone)]
struct Prepared {
    root: RawManifest,
    /// The image's referrers as this run last knew them (after its own
    /// writes), when the bundle format is written; `None` otherwise.
    referrers: Option<StoredBundles>,
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
    /// Releases run concurrently. Those of one digest in one repository (an
    /// rc and its final) form one group, run in order: the first copies and
    /// signs, the others only tag. Across groups, the [`Copier`] uploads each
    /// blob and puts each manifest once per repository, and
    /// [`SignatureLocks`] keeps two writers off one `.sig` tag (indexes may
    /// share a platform manifest): distribution 2.8 rewrites a blob's link
    /// file in place on each upload, so a manifest put that reads it meanwhile
    /// fails (`DIGEST_INVALID` + `MANIFEST_BLOB_UNKNOWN`, found by
    /// `tests/all/apply_crash.rs`).
    pub async fn run(&self, plan: &Plan) -> Vec<ReleaseOutcome> {
        let mut groups: Vec<Vec<&Action>> = Vec::new();
        for action in plan
            .actions
            .iter()
            .filter(|action| action.kind != ActionKind::Unchanged)
        {
            match groups
                .iter_mut()
                .find(|group| group[0].target == action.target && group[0].digest == action.digest)
            {
                Some(group) => group.push(action),
                None => groups.push(vec![action]),
            }
        }
        let progress = &Progress::new(groups.iter().map(Vec::len).sum());
        stream::iter(groups)
            .map(|group| async move {
                let mut outcomes = Vec::with_capacity(group.len());
                // The image once in place and signed, as last left.
                let mut ready: Option<Prepared> = None;
                for action in group {
                    let (outcome, prepared) =
                        self.run_release(action, ready.as_ref(), progress).await;
                    ready = prepared.or(ready);
                    outcomes.push(outcome);
                }
                outcomes
            })
            .buffer_unordered(RELEASES_IN_FLIGHT)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn run_release(
        &self,
        action: &Action,
        ready: Option<&Prepared>,
        progress: &Progress,
    ) -> (ReleaseOutcome, Option<Prepared>) {
        let (outcome, prepared) = self.run_action(action, ready).await;
        progress.finished(&format!(
            "{} {} {}",
            action.service,
            action.tag,
            outcome.describe()
        ));
        let release = ReleaseOutcome {
            service: action.service.clone(),
            tag: action.tag.clone(),
            digest: action.digest.clone(),
            outcome,
        };
        (release, prepared)
    }

    /// The outcome, and the image when it is now copied and signed (so that
    /// a later release of the same digest only attests and tags).
    async fn run_action(
        &self,
        action: &Action,
        ready: Option<&Prepared>,
    ) -> (Outcome, Option<Prepared>) {
        let Some(service) = self
            .desired
            .services
            .iter()
            .find(|s| s.name == action.service)
        else {
            let outcome = Outcome::Failed(ApplyError::UnknownService {
                target: action.target.clone(),
                service: action.service.clone(),
                file: self.desired.file.clone(),
            });
            return (outcome, None);
        };
        let mut prepared = None;
        let result = match action.kind {
            ActionKind::Create => self.create(service, action, ready, &mut prepared).await,
            // A tag that exists already: signed, never attested.
            ActionKind::Sign => self
                .sign(service, action, ready.map(|r| &r.root), false, false)
                .await
                .map(|(image, signatures)| {
                    prepared = Some(image);
                    Outcome::Signed { signatures }
                }),
            ActionKind::Unchanged => Ok(Outcome::Signed { signatures: 0 }),
        };
        let outcome = result.unwrap_or_else(|error| match error {
            ApplyError::Registry(RegistryError::TagImmutable { repository, tag }) => Outcome::Retag {
                found: None,
                message: format!(
                    "{repository} refused to write tag {tag}: it is immutable and already exists"
                ),
            },
            other => Outcome::Failed(other),
        });
        (outcome, prepared)
    }

    /// Copy untagged, sign (every configured format), attest the promotion
    /// (with the bundle format), re-check the tag is still absent, tag, read
    /// back. `ready`: the image, when an earlier release of this digest in
    /// this run copied and signed it already. `prepared` receives the image
    /// once copied, signed and attested.
    async fn create(
        &self,
        service: &Service,
        action: &Action,
        ready: Option<&Prepared>,
        prepared: &mut Option<Prepared>,
    ) -> Result<Outcome, ApplyError> {
        let target = self.connector.open(&service.target);
        let (image, signatures) = match ready {
            Some(ready) => {
                let mut image = ready.clone();
                if let Some(stored) = image.referrers.as_mut() {
                    self.attest(target.as_ref(), service, action, &image.root, stored)
                        .await?;
                }
                (image, 0)
            }
            None => {
                let source = self.connector.open(&service.source);
                let root = self
                    .copier
                    .copy_image(source.as_ref(), target.as_ref(), &action.digest)
                    .await?;
                self.sign(service, action, Some(&root), true, true).await?
            }
        };
        let root = image.root.clone();
        *prepared = Some(image);

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
        put_manifest_racing(target.as_ref(), &root, Some(&action.tag)).await?;
        let read_back = target.resolve_tag(&action.tag).await?;
        if read_back.as_ref() != Some(&action.digest) {
            return Err(ApplyError::ReadBack {
                repository: service.target.reference(),
                tag: action.tag.clone(),
                expected: action.digest.clone(),
                found: read_back,
            });
        }
        Ok(Outcome::Created { signatures })
    }

    /// Signs the image of `action` in its target; `root` is its root manifest
    /// when already at hand (read from the target otherwise); `fresh` when
    /// this run copied it; `promote`: also attest the promotion (a create),
    /// attached with the bundle signature in one fallback-index write.
    /// Returns the image as left and how many signatures were added.
    async fn sign(
        &self,
        service: &Service,
        action: &Action,
        root: Option<&RawManifest>,
        fresh: bool,
        promote: bool,
    ) -> Result<(Prepared, usize), ApplyError> {
        let target = self.connector.open(&service.target);
        let root = match root {
            Some(root) => root.clone(),
            None => read_root(target.as_ref(), &action.digest).await?,
        };
        let provenance =
            Provenance::for_release(&service.source, &action.digest, self.commit.as_deref());
        let writes = |format| {
            self.desired
                .signing
                .as_ref()
                .is_some_and(|signing| signing.requires(format))
        };
        let mut signatures = 0;
        if writes(SignatureFormat::Legacy) {
            signatures += sign_image(
                target.as_ref(),
                &root,
                self.signer,
                self.verifier,
                &provenance,
                &self.signature_locks,
            )
            .await?;
        }
        let mut referrers = None;
        if writes(SignatureFormat::Bundle) {
            let target = target.as_ref();
            let mut stored = stored_referrers(target, &root.digest, fresh).await?;
            let now = now_utc();
            let signature = bundle_signature(
                target,
                &root,
                self.signer,
                self.verifier,
                &self.key_hint,
                &stored,
                &now,
            )?;
            let attestation = if promote {
                self.attester()
                    .attestation_for(service, action, &root, &stored, &now)?
            } else {
                None
            };
            let pending: Vec<_> = signature.iter().chain(&attestation).cloned().collect();
            let shared = self.signature_locks.shared_config();
            attach(target, &root.digest, &pending, &mut stored, shared).await?;
            if let Some(signature) = signature {
                confirm_referrer(target, &root.digest, &signature.manifest.digest, &stored).await?;
                self.bundles_written.record(WrittenBundle {
                    repository: service.target.reference(),
                    subject: root.digest.clone(),
                    referrer: signature.manifest.digest.clone(),
                    read_back: stored.fallback.is_none(),
                    bundle: signature.bundle,
                });
                signatures += 1;
            }
            referrers = Some(stored);
        }
        Ok((Prepared { root, referrers }, signatures))
    }

    /// Attaches the promotion attestation of `action` unless `stored` holds
    /// it already (the second release of one digest in a run).
    async fn attest(
        &self,
        target: &dyn Repository,
        service: &Service,
        action: &Action,
        root: &RawManifest,
        stored: &mut StoredBundles,
    ) -> Result<(), ApplyError> {
        let attestation =
            self.attester()
                .attestation_for(service, action, root, stored, &now_utc())?;
        if let Some(attestation) = attestation {
            let shared = self.signature_locks.shared_config();
            attach(target, &root.digest, &[attestation], stored, shared).await?;
        }
        Ok(())
    }

    fn attester(&self) -> Attester<'_> {
        Attester {
            context: &self.promotion,
            signer: self.signer,
            verifier: self.verifier,
            key_hint: &self.key_hint,
        }
    }
}

/// Now, RFC 3339 UTC to the second (`2026-12-01T17:20:00Z`).
fn now_utc() -> String {
    format!("{}Z", crate::day::utc_seconds(std::time::SystemTime::now()))
}

async fn read_root(target: &dyn Repository, digest: &Digest) -> Result<RawManifest, ApplyError> {
    target
        .get_manifest(ManifestRef::Digest(digest))
        .await?
        .ok_or_else(|| ApplyError::SignedManifestMissing {
            repository: target.location().reference(),
            digest: digest.clone(),
        })
}
