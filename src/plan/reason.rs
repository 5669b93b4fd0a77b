//! Why a release is refused or a warning raised, as data: what was found and
//! where. The decisions are made in the planner, the gate and the history
//! rules; the words for each form are chosen by `crate::render::words`.

use crate::day::Day;
use crate::digest::Digest;
use crate::plan::Code;
use crate::scan::ScanStatus;

/// A source repository that does not exist, and the existing repository
/// beside it whose name is nearest (a typo of the service name), if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MissingRepository {
    pub near: Option<String>,
}

impl MissingRepository {
    /// What the registry lists beside `source`, judged: the name nearest to
    /// its last segment within two edits, other than itself.
    pub fn judged(source: &str, neighbours: &[String]) -> MissingRepository {
        let wanted = source.rsplit('/').next().unwrap_or(source);
        let near = neighbours
            .iter()
            .filter(|name| name.as_str() != wanted)
            .map(|name| (strsim::levenshtein(wanted, name), name))
            .filter(|(distance, _)| *distance <= 2)
            .min()
            .map(|(_, name)| name.clone());
        MissingRepository { near }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalReason {
    /// The tag is outside the production pattern; `problem` is what the tag
    /// check found (worded by `config::tag`).
    InvalidTag { problem: String },
    /// `target`'s tag points at `found`, not at the `declared` digest.
    Retag {
        target: String,
        found: Digest,
        declared: Digest,
    },
    /// No signing key in `file`, so apply could not sign the tag: it would be
    /// created unsigned, or it `exists` without a signature that verifies
    /// (`checkable`: there was a public key to check with).
    Unsigned {
        target: String,
        file: String,
        exists: bool,
        checkable: bool,
    },
    /// The `source` repository has no image `digest` to copy; `missing`
    /// when the repository itself does not exist (a mistyped service name),
    /// with the nearest name the registry lists.
    SourceMissing {
        source: String,
        digest: Digest,
        missing: Option<MissingRepository>,
    },
    /// `policy.require_rc`: no declared rc of `version` (`vX.Y.Z`) has this
    /// release's digest.
    RcRequired { version: String },
    /// Blocked vulnerabilities in `digest` (the refusal's `details`), and any
    /// platforms that could not be scanned besides.
    Vulnerable {
        digest: Digest,
        unscanned: Vec<Unscanned>,
    },
    /// No complete vulnerability scan of `digest`.
    ScanUnavailable { digest: Digest, gap: ScanGap },
    /// With `--base`: the base revision `base` (short id) declared `was`.
    Changed {
        base: String,
        was: Digest,
        now: Digest,
    },
    /// With `--base`: the base revision `base` declared the release at
    /// `digest`, and the file no longer does.
    Removed { base: String, digest: Digest },
    /// A registry immutability policy that freezes cosign's tags (boxed:
    /// the other reasons are small).
    FreezesSignatures(Box<FrozenSignatures>),
    /// `plan --strict`: a warning, refused under its own code.
    Strict(WarningReason),
}

impl RefusalReason {
    pub fn code(&self) -> Code {
        match self {
            RefusalReason::InvalidTag { .. } => Code::InvalidTag,
            RefusalReason::Retag { .. } => Code::Retag,
            RefusalReason::Unsigned { .. } => Code::Unsigned,
            RefusalReason::SourceMissing { .. } => Code::SourceMissing,
            RefusalReason::RcRequired { .. } => Code::RcRequired,
            RefusalReason::Vulnerable { .. } => Code::Vulnerable,
            RefusalReason::ScanUnavailable { .. } => Code::ScanUnavailable,
            RefusalReason::Changed { .. } => Code::Changed,
            RefusalReason::Removed { .. } => Code::Removed,
            RefusalReason::FreezesSignatures(_) => Code::FreezesSignatures,
            RefusalReason::Strict(warning) => warning.code(),
        }
    }
}

/// A registry immutability policy (`scope`, `uuid`, `pattern`) on
/// `registry` that freezes cosign's tag `Ok(tag)`, or that quayside cannot
/// evaluate (`Err(why)`); signing must be able to extend those tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrozenSignatures {
    pub registry: String,
    pub scope: String,
    pub uuid: String,
    pub pattern: String,
    pub verdict: Result<String, String>,
}

/// Why an image has no complete vulnerability scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanGap {
    /// Nothing was read for the image.
    NotRead,
    /// No scan can be read for it at all (e.g. an OCI layout source), in the
    /// scan adapter's words.
    Unreadable(String),
    /// The image has no platform manifest whose scan could be read.
    NoPlatforms,
    /// These platforms have no scan data.
    Incomplete(Vec<Unscanned>),
}

/// A platform manifest without scan data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unscanned {
    /// How the platform is named to people (`PlatformScan::label`).
    pub platform: String,
    pub digest: Digest,
    /// Any status but `Scanned`.
    pub status: ScanStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarningReason {
    /// `target` has the warning's tag, which `file` does not declare.
    UnmanagedTag { target: String, file: String },
    /// `policy.vulnerability_source = "none"` in `file`.
    ScanDisabled { file: String },
    /// The waiver for `id` (only for `service`, when set) matched no blocked
    /// vulnerability; `expired`: its last day, when that is past.
    UnusedWaiver {
        id: String,
        service: Option<String>,
        expired: Option<Day>,
    },
    /// Release tags no registry policy freezes (boxed: the other reasons
    /// are small).
    TagsUnprotected(Box<UnprotectedTags>),
    /// `registry` cannot enforce immutability (`why`), so quayside alone
    /// keeps its release tags from moving.
    ImmutabilityUnavailable { registry: String, why: String },
}

impl WarningReason {
    pub fn code(&self) -> Code {
        match self {
            WarningReason::UnmanagedTag { .. } => Code::UnmanagedTag,
            WarningReason::ScanDisabled { .. } => Code::ScanDisabled,
            WarningReason::UnusedWaiver { .. } => Code::UnusedWaiver,
            WarningReason::TagsUnprotected(_) => Code::TagsUnprotected,
            WarningReason::ImmutabilityUnavailable { .. } => Code::ImmutabilityUnavailable,
        }
    }
}

/// No policy on `registry` freezes these `unprotected` sample release tags
/// of `target`; apply creates `pattern` in `organization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnprotectedTags {
    pub target: String,
    pub registry: String,
    pub organization: String,
    pub unprotected: Vec<String>,
    pub pattern: String,
}

#[cfg(test)]
mod tests {
    use super::MissingRepository;

    fn near(source: &str, neighbours: &[&str]) -> Option<String> {
        let neighbours: Vec<String> = neighbours.iter().map(|n| n.to_string()).collect();
        MissingRepository::judged(source, &neighbours).near
    }

    #[test]
    fn the_nearest_neighbour_within_two_edits_is_suggested() {
        let listed = ["gateway", "billing", "gatekeeper"];
        assert_eq!(
            near("quay.io/dev/gatway", &listed).as_deref(),
            Some("gateway")
        );
        assert_eq!(near("oci:dev/bilings", &listed).as_deref(), Some("billing"));
        // Three edits away, itself, or nothing listed: no suggestion.
        assert_eq!(near("quay.io/dev/gtwy", &listed), None);
        assert_eq!(near("quay.io/dev/gateway", &["gateway"]), None);
        assert_eq!(near("quay.io/dev/gatway", &[]), None);
    }
}
