//! `verify` as a pure check: for each declared release, whether the target
//! holds the tag, at the declared digest, validly signed on the index and on
//! every child. The `verify` command reads every signature (`Scope::Audit`);
//! apply's confirmation reads as a plan does, and the finding says how many
//! children were only checked by signature tag. `crate::render::verify` words
//! the report.

use crate::config::model::Desired;
use crate::digest::Digest;
use crate::live::LiveState;
use crate::plan::SignatureCheck;
use crate::plan::signatures::unsigned_manifests;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// `verified` manifests carry a signature the key accepts; `tag_listed`
    /// children were checked by the presence of their signature tag only.
    Verified {
        verified: usize,
        tag_listed: usize,
    },
    Missing,
    WrongDigest {
        found: Digest,
    },
    Unsigned {
        manifests: Vec<Digest>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseCheck {
    pub service: String,
    pub tag: String,
    pub digest: Digest,
    pub target: String,
    pub finding: Finding,
}

impl ReleaseCheck {
    pub fn holds(&self) -> bool {
        matches!(self.finding, Finding::Verified { .. })
    }
}

pub fn check(
    desired: &Desired,
    live: &LiveState,
    verifier: &dyn SignatureCheck,
) -> Vec<ReleaseCheck> {
    let mut checks = Vec::new();
    for service in &desired.services {
        let live_service = live.services.get(&service.name);
        let identity = service.target.signed_identity();
        for release in &service.releases {
            let found = live_service.and_then(|l| l.declared_tags.get(&release.tag));
            let finding = match found {
                None => Finding::Missing,
                Some(found) if found != &release.digest => Finding::WrongDigest {
                    found: found.clone(),
                },
                Some(_) => {
                    let image = live_service.and_then(|l| l.signatures.get(&release.digest));
                    match image {
                        Some(image) if !image.manifests.is_empty() => {
                            let unsigned = unsigned_manifests(image, &identity, verifier);
                            if unsigned.is_empty() {
                                let (verified, tag_listed) = image.check_counts();
                                Finding::Verified {
                                    verified,
                                    tag_listed,
                                }
                            } else {
                                Finding::Unsigned {
                                    manifests: unsigned.into_iter().cloned().collect(),
                                }
                            }
                        }
                        _ => Finding::Unsigned {
                            manifests: vec![release.digest.clone()],
                        },
                    }
                }
            };
            checks.push(ReleaseCheck {
                service: service.name.clone(),
                tag: release.tag.clone(),
                digest: release.digest.clone(),
                target: service.target.reference(),
                finding,
            });
        }
    }
    checks
}
