//! The promotion provenance attestation of a release `apply` creates: built
//! (`signing::provenance`), signed with the release key and attached to the
//! image beside its bundle signature, before the tag is put. Only creates
//! get one: an attestation records a promotion when it happens, so a tag
//! that existed before (a `sign` action, an imported release) never does.
//!
//! A rerun after a crash between the attestation and the tag finds the one
//! already attached (same digest, target repository and tag, this key)
//! wherever the referrers are read before writing, and writes no second
//! one: always without the referrers API (the fallback tag is read anyway).
//! With the API (Quay) a create does not list the referrers first, as the
//! registry would cache that list for 60 s and hide what apply attaches
//! next from the `verify` that follows; such a rerun attaches a second,
//! equally valid attestation with a later time (`verify` shows the first).

use crate::apply::ApplyError;
use crate::config::model::Service;
use crate::plan::{Action, SignatureCheck};
use crate::registry::RawManifest;
use crate::signing::Signer;
use crate::signing::bundles::StoredBundles;
use crate::signing::provenance::{
    self, AttestedRelease, PROMOTION_PREDICATE_TYPE, PlanDigest, Promoter, Promotion, ReleasesFile,
    SourceImage, TargetTag,
};
use crate::signing::referrer::{ReferrerManifest, bundle_manifest};
use bytes::Bytes;

/// What every attestation of one apply run records besides the release:
/// the file and commit, and the plan carried out.
#[derive(Clone, Debug)]
pub struct PromotionContext {
    pub releases_file: ReleasesFile,
    pub plan: PlanDigest,
}

/// Signs promotion attestations with the release key.
pub struct Attester<'a> {
    pub context: &'a PromotionContext,
    pub signer: &'a dyn Signer,
    /// Recognises an attestation already attached (a rerun's).
    pub verifier: &'a dyn SignatureCheck,
    /// Names the key in the bundle (`verificationMaterial.publicKey.hint`).
    pub key_hint: &'a str,
}

impl Attester<'_> {
    /// The attestation referrer to attach for `action` (a create) of
    /// `service`, or `None` when `stored` already holds one the verifier
    /// accepts for this release. `now`: RFC 3339 UTC, the promotion's time.
    pub fn attestation_for(
        &self,
        service: &Service,
        action: &Action,
        root: &RawManifest,
        stored: &StoredBundles,
        now: &str,
    ) -> Result<Option<ReferrerManifest>, Box<ApplyError>> {
        let repository = service.target.signed_identity();
        let release = AttestedRelease {
            digest: &root.digest,
            repository: &repository,
            tag: &action.tag,
        };
        if stored
            .bundles
            .iter()
            .any(|bundle| self.verifier.promotion(bundle, release).is_ok())
        {
            return Ok(None);
        }
        let promotion = self.promotion(service, action, root, repository, now);
        let signed =
            provenance::attest(self.signer, self.key_hint, &promotion).map_err(|source| {
                Box::new(ApplyError::Sign {
                    repository: service.target.reference(),
                    digest: root.digest.clone(),
                    source,
                })
            })?;
        bundle_manifest(root, Bytes::from(signed), PROMOTION_PREDICATE_TYPE, now)
            .map(Some)
            .map_err(|error| {
                Box::new(ApplyError::referrer(
                    service.target.reference(),
                    &root.digest,
                    error,
                ))
            })
    }

    fn promotion(
        &self,
        service: &Service,
        action: &Action,
        root: &RawManifest,
        repository: String,
        now: &str,
    ) -> Promotion {
        Promotion {
            source: SourceImage {
                repository: service.source.reference(),
                digest: root.digest.clone(),
            },
            target: TargetTag {
                repository,
                tag: action.tag.clone(),
            },
            releases_file: self.context.releases_file.clone(),
            plan: self.context.plan.clone(),
            promoted_at: now.to_string(),
            promoter: Promoter::this_build(),
        }
    }
}
