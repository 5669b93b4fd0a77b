//! Registry-enforced immutability, as pure rules: the Quay immutability
//! policy quayside wants (a regex freezing exactly the production tag
//! pattern), and what existing policies do to sample tags — cover the
//! release tags, or freeze cosign's `sha256-<hex>.sig` tags, which signing
//! must be able to extend.
//!
//! Quay judges a tag with Python's `regex` module, `fullmatch`, and
//! `tagPatternMatches = false` inverts the verdict. Here a pattern is run by
//! the `regex-lite` crate, anchored at both ends (tags are
//! ASCII): the two agree on the common subset (literals, classes, groups,
//! alternation, repetition). A pattern outside that subset (look-arounds,
//! back-references) cannot be judged, and is reported as such, never guessed.

use regex_lite::{Regex, RegexBuilder};

/// A policy as Quay's API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub uuid: String,
    pub pattern: String,
    /// `tagPatternMatches`: `true` freezes matching tags, `false` the others.
    pub matches: bool,
    pub scope: Scope,
}

/// Where a policy applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every repository of the organization.
    Organization(String),
    /// One repository, `namespace/name`.
    Repository(String),
}

impl Scope {
    /// How people see it named: `organization kubernaut`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Organization(org) => format!("organization {org}"),
            Scope::Repository(repo) => format!("repository {repo}"),
        }
    }
}

/// What one target repository's registry says about immutability, as read
/// by `live` for `policy.registry_immutability = "require"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPolicies {
    /// The target repository, as `RepositoryLocation::reference` names it.
    pub target: String,
    /// Its registry host (`oci:` for a layout).
    pub registry: String,
    /// Quay's API base URL, without `/api/v1`.
    pub api: String,
    /// The namespace an organization policy would be created in.
    pub organization: String,
    pub protection: Protection,
}

/// The policies that apply to a repository, or why there are none to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    /// The organization's policies, then the repository's own.
    Policies(Vec<Policy>),
    /// The registry has no immutability API: why, in words.
    NoApi(String),
}

/// The regex (Quay `tagPattern`, full match) freezing exactly the release
/// tags `config::tag` allows: `v<maj>.<min>.<patch>` without leading zeros,
/// with an optional `-<word><N>` for each allowed prerelease word.
pub fn wanted_pattern(prerelease: &[String]) -> String {
    let number = "(0|[1-9][0-9]*)";
    let core = format!(r"v{number}\.{number}\.{number}");
    let words: Vec<String> = prerelease.iter().map(|w| regex_lite::escape(w)).collect();
    match words.as_slice() {
        [] => core,
        _ => format!("{core}(-({})[1-9][0-9]*)?", words.join("|")),
    }
}

/// Release tags to judge policies with: small and large versions of every
/// allowed form, and the tags the file declares.
pub fn release_samples<'a>(
    prerelease: &[String],
    declared: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut samples = vec!["v0.0.0".to_string(), "v1.2.3".into(), "v10.20.300".into()];
    for word in prerelease {
        samples.push(format!("v1.2.3-{word}1"));
        samples.push(format!("v10.0.0-{word}12"));
    }
    for tag in declared {
        if !samples.iter().any(|s| s == tag) {
            samples.push(tag.to_string());
        }
    }
    samples
}

/// Tags cosign writes beside an image and signing extends: a policy must
/// never freeze them.
pub fn signature_samples() -> Vec<String> {
    let hex = "0123456789abcdef".repeat(4);
    ["sig", "att", "sbom"]
        .iter()
        .map(|suffix| format!("sha256-{hex}.{suffix}"))
        .collect()
}

/// Whether `policy` freezes `tag`; `Err` says why the pattern cannot be
/// judged here.
pub fn freezes(policy: &Policy, tag: &str) -> Result<bool, String> {
    let regex = compile(&policy.pattern)?;
    Ok(regex.is_match(tag) == policy.matches)
}

fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!(r"\A(?:{pattern})\z"))
        .size_limit(1 << 20)
        .build()
        .map_err(|error| {
            let why = error.to_string();
            let last = why.lines().last().unwrap_or("not understood").trim();
            format!("quayside cannot evaluate this regex ({last})")
        })
}

/// What the policies of one target repository (its organization's and its
/// own) do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Release samples no policy freezes.
    pub unprotected: Vec<String>,
    /// Policies that freeze a `sha256-*` tag, or cannot be judged (`Err`).
    pub signature_freezers: Vec<(Policy, Result<String, String>)>,
}

impl Judgement {
    pub fn covered(&self) -> bool {
        self.unprotected.is_empty()
    }
}

/// Judges `policies` against the release `samples` and cosign's tags.
pub fn judge(policies: &[Policy], samples: &[String]) -> Judgement {
    let unprotected = samples
        .iter()
        .filter(|tag| !policies.iter().any(|p| freezes(p, tag) == Ok(true)))
        .cloned()
        .collect();
    let signatures = signature_samples();
    let signature_freezers = policies
        .iter()
        .filter_map(|policy| {
            let verdict = signatures
                .iter()
                .map(|tag| freezes(policy, tag).map(|frozen| frozen.then(|| tag.clone())))
                .find(|verdict| !matches!(verdict, Ok(None)))?;
            Some((policy.clone(), verdict.map(|tag| tag.unwrap_or_default())))
        })
        .collect();
    Judgement {
        unprotected,
        signature_freezers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(pattern: &str, matches: bool) -> Policy {
        Policy {
            uuid: "u-1".into(),
            pattern: pattern.into(),
            matches,
            scope: Scope::Organization("prod".into()),
        }
    }

    fn words() -> Vec<String> {
        vec!["rc".into(), "beta".into()]
    }

    #[test]
    fn the_wanted_pattern_freezes_exactly_the_release_tags() {
        let wanted = policy(&wanted_pattern(&words()), true);
        for tag in release_samples(&words(), ["v3.4.5-beta2"]) {
            assert_eq!(freezes(&wanted, &tag), Ok(true), "{tag}");
        }
        for tag in [
            "latest",
            "v1.0",
            "v01.0.0",
            "v1.0.0-rc0",
            "v1.0.0-rc.1",
            "v1.0.0-alpha1",
            "v1.0.0-rc1x",
            "xv1.0.0",
            "v1.0.0\n",
        ] {
            assert_eq!(freezes(&wanted, tag), Ok(false), "{tag:?}");
        }
        for tag in signature_samples() {
            assert_eq!(freezes(&wanted, &tag), Ok(false), "{tag}");
        }
        assert_eq!(
            wanted_pattern(&[]),
            r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
        );
    }

    #[test]
    fn a_pattern_matches_the_whole_tag_as_quay_fullmatch_does() {
        assert_eq!(freezes(&policy("v1", true), "v1.0.0"), Ok(false));
        assert_eq!(freezes(&policy("v1|v2", true), "v2"), Ok(true));
        assert_eq!(
            freezes(&policy(r"v\d+\.\d+\.\d+", true), "v1.2.3"),
            Ok(true)
        );
        assert_eq!(freezes(&policy("latest", false), "v1.2.3"), Ok(true));
        assert_eq!(freezes(&policy("latest", false), "latest"), Ok(false));
    }

    #[test]
    fn a_catch_all_policy_freezes_signature_tags_and_is_named() {
        let judged = judge(&[policy(".*", true)], &release_samples(&words(), []));
        assert!(judged.covered());
        let [(freezer, verdict)] = judged.signature_freezers.as_slice() else {
            panic!("one freezer expected: {judged:?}");
        };
        assert_eq!(freezer.pattern, ".*");
        assert!(verdict.as_ref().unwrap().ends_with(".sig"));
        // an inverted policy freezing everything but `latest` freezes them too
        let inverted = judge(&[policy("latest", false)], &[]);
        assert_eq!(inverted.signature_freezers.len(), 1);
        assert!(
            judge(&[policy(r"sha256-[0-9a-f]{64}\.sig", true)], &[])
                .signature_freezers
                .len()
                == 1
        );
    }

    #[test]
    fn partial_policies_leave_named_tags_unprotected() {
        let finals = policy(r"v[0-9]+\.[0-9]+\.[0-9]+", true);
        let judged = judge(
            std::slice::from_ref(&finals),
            &release_samples(&words(), []),
        );
        assert!(!judged.covered());
        assert!(judged.unprotected.contains(&"v1.2.3-rc1".to_string()));
        assert!(!judged.unprotected.contains(&"v1.2.3".to_string()));
        assert!(judged.signature_freezers.is_empty());
        // two policies together cover the release tags
        let prereleases = policy(r"v.*-(rc|beta)[0-9]+", true);
        assert!(judge(&[finals, prereleases], &release_samples(&words(), [])).covered());
    }

    #[test]
    fn a_pattern_outside_the_shared_subset_is_not_guessed() {
        let lookahead = policy("(?!sha256-).*", true);
        let error = freezes(&lookahead, "v1.0.0").unwrap_err();
        assert!(error.contains("cannot evaluate"), "{error}");
        let judged = judge(&[lookahead], &release_samples(&words(), []));
        assert!(!judged.covered(), "an unjudged policy protects nothing");
        assert!(judged.signature_freezers[0].1.is_err());
    }
}
