//! The checked desired state: what `releases.toml` says once it has passed
//! validation. Every later stage (planner, apply, verify) reads only this.

use crate::config::location::RepositoryLocation;
use crate::day::Day;
use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A place in `releases.toml`, 1-based, for diagnostics and refusals.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Clone, Debug)]
pub struct Desired {
    /// The file as the user named it (used in every diagnostic).
    pub file: String,
    /// The folder holding the file; relative paths resolve from here.
    pub base_dir: PathBuf,
    pub policy: Policy,
    /// `None` when the file has no `[signing]` table: creates are refused `unsigned`.
    pub signing: Option<SigningConfig>,
    /// In the order the file declares them.
    pub services: Vec<Service>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Allowed prerelease suffixes (`rc`, `beta`): `v1.2.3-rc1`, or
    /// `v1.2.3-rc.1` under the SemVer grammar.
    pub prerelease: Vec<String>,
    /// Which form release tags take (`tag_grammar`).
    pub tag_grammar: TagGrammar,
    pub require_rc: bool,
    pub block_severities: Vec<Severity>,
    pub vulnerability_source: VulnerabilitySource,
    /// Base URL of the Quay instance (`https://quay.io`), without `/api/v1`.
    pub quay_api: Option<String>,
    pub waivers: Vec<Waiver>,
    /// `registry_immutability`: whether the target registry itself must
    /// freeze release tags (Quay immutability policies).
    pub registry_immutability: RegistryImmutability,
}

/// `policy.registry_immutability`. Off unless the file asks: managing Quay's
/// policies needs an organization-admin OAuth token, which a plan job with
/// only a read robot does not hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RegistryImmutability {
    #[default]
    Off,
    /// `"require"`, written at this place in the file.
    Require(SourceLocation),
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            prerelease: vec!["rc".into(), "beta".into()],
            tag_grammar: TagGrammar::DdRegistry,
            require_rc: false,
            block_severities: vec![Severity::Critical, Severity::High],
            vulnerability_source: VulnerabilitySource::Quay,
            quay_api: None,
            waivers: Vec::new(),
            registry_immutability: RegistryImmutability::Off,
        }
    }
}

/// The form of production tags (`[policy] tag_grammar`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagGrammar {
    /// DD-REGISTRY-001: `vX.Y.Z`, `vX.Y.Z-rcN`, `vX.Y.Z-betaN` (the default).
    DdRegistry,
    /// SemVer 2.0 without build metadata: `vX.Y.Z-rc.N`, `-alpha.N`,
    /// `-beta.N`; with `require_v = false` also `X.Y.Z-rc.N`.
    Semver { require_v: bool },
}

impl TagGrammar {
    /// As written in `[policy]`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            TagGrammar::DdRegistry => "dd-registry",
            TagGrammar::Semver { .. } => "semver",
        }
    }
}

/// Quay's severity scale, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Negligible,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VulnerabilitySource {
    Quay,
    /// Scanning disabled: every plan carries a `scan-disabled` warning.
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    pub id: String,
    pub service: Option<String>,
    pub reason: String,
    /// The last day (UTC) the waiver counts.
    pub expires: Option<Day>,
    pub location: SourceLocation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningConfig {
    /// Private key for `apply`; `None` when only verification is configured.
    pub key: Option<KeySource>,
    /// Public key for `plan` and `verify`, resolved against the file's folder.
    pub public_key: Option<PathBuf>,
    /// The signature formats apply writes and plan requires (`formats`):
    /// [`SignatureFormat::DEFAULT`] unless the file says otherwise.
    pub formats: Vec<SignatureFormat>,
    /// Where the `[signing]` table starts.
    pub location: SourceLocation,
    /// Where the `key` and `public_key` values are written (for `validate`'s
    /// problems with the key files they name).
    pub key_location: Option<SourceLocation>,
    pub public_key_location: Option<SourceLocation>,
}

/// A way a signature is stored next to an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignatureFormat {
    /// cosign's `sha256-<hex>.sig` tag (simple signing), read by cosign v2
    /// and v3, policy.json verifiers and older policy engines.
    Legacy,
    /// A Sigstore bundle attached as an OCI 1.1 referrer (cosign v3's default).
    Bundle,
}

impl SignatureFormat {
    pub const ALL: [SignatureFormat; 2] = [SignatureFormat::Legacy, SignatureFormat::Bundle];
    /// Without `signing.formats`: both, what cosign v2 and policy.json
    /// verifiers read and what cosign v3 writes (issue 17). A release signed
    /// before in the legacy format only is planned `sign` (its bundle is
    /// added); `formats = ["legacy"]` keeps the old requirement.
    pub const DEFAULT: [SignatureFormat; 2] = SignatureFormat::ALL;

    /// The name in `signing.formats` and in output.
    pub fn name(self) -> &'static str {
        match self {
            SignatureFormat::Legacy => "legacy",
            SignatureFormat::Bundle => "bundle",
        }
    }
}

impl SigningConfig {
    pub fn requires(&self, format: SignatureFormat) -> bool {
        self.formats.contains(&format)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `env:NAME`: the variable holds the PEM key itself.
    Env(String),
    /// A path, resolved against the file's folder.
    Path(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub source: RepositoryLocation,
    pub target: RepositoryLocation,
    pub releases: Vec<Release>,
    pub location: SourceLocation,
}

#[derive(Clone, Debug)]
pub struct Release {
    /// The tag exactly as written.
    pub tag: String,
    /// `Err` with the reason when the tag is outside the production pattern.
    /// `validate` reports it as an error; `plan` refuses it `invalid-tag`.
    pub tag_check: Result<ReleaseTag, String>,
    pub digest: Digest,
    /// Where the `"tag" = "digest"` line starts.
    pub location: SourceLocation,
}

/// A production tag: `vMAJOR.MINOR.PATCH` with an optional `-<suffix><n>`
/// (or `-<suffix>.<n>`), ordered by SemVer precedence: a prerelease comes
/// before its final version, suffixes compare as ASCII (`alpha` < `beta` <
/// `rc`), then their numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReleaseTag {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `("rc", 1)` for `-rc1`; `None` for a final release.
    pub prerelease: Option<(String, u64)>,
}

impl ReleaseTag {
    pub fn is_final(&self) -> bool {
        self.prerelease.is_none()
    }
}

impl Ord for ReleaseTag {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let core = |tag: &ReleaseTag| (tag.major, tag.minor, tag.patch);
        core(self)
            .cmp(&core(other))
            .then_with(|| match (&self.prerelease, &other.prerelease) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(ours), Some(theirs)) => ours.cmp(theirs),
            })
    }
}

impl PartialOrd for ReleaseTag {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
