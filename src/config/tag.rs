//! The production tag grammar: `v<major>.<minor>.<patch>` with an optional
//! `-<suffix><n>` whose suffix `policy.prerelease` allows. Anything else
//! (`latest`, `dev`, commit SHAs, `v1.0`, `v1.0.0-rc.1`) is a mutable
//! development tag that must never reach the production registry.
//! `[policy] tag_grammar = "semver"` chooses the SemVer form instead
//! (`semver_tag`); [`check_tag`] applies the grammar in force.

use crate::config::diagnostic::{Diagnostic, quoted};
use crate::config::model::{Desired, Policy, ReleaseTag, Service, TagGrammar};
use crate::config::semver_tag;

/// Checks one tag under the file's grammar. The error says what is wrong,
/// what the grammar in force allows, and what would make the tag valid.
pub fn check_tag(tag: &str, policy: &Policy) -> Result<ReleaseTag, String> {
    parse_under(tag, policy).map_err(|problem| format!("{problem}; {}", rules(tag, policy)))
}

fn parse_under(tag: &str, policy: &Policy) -> Result<ReleaseTag, String> {
    match policy.tag_grammar {
        TagGrammar::DdRegistry => parse(tag, &policy.prerelease),
        TagGrammar::Semver { require_v } => semver_tag::parse(tag, &policy.prerelease, require_v),
    }
}

/// The grammar in force, named, with a hint when the tag is valid under the
/// other grammar (a migrant's `v1.30.0-rc.1`, or `v1.0.0-rc1` under SemVer).
fn rules(tag: &str, policy: &Policy) -> String {
    match policy.tag_grammar {
        TagGrammar::DdRegistry => {
            let mut text = format!(
                "under tag_grammar \"dd-registry\" (the default) {}",
                grammar(&policy.prerelease)
            );
            if semver_tag::parse(tag, &["alpha".into(), "beta".into(), "rc".into()], false).is_ok()
            {
                text.push_str(&format!(
                    "; {} is a SemVer version: set tag_grammar = \"semver\" in [policy] to allow it",
                    quoted(tag)
                ));
            }
            text
        }
        TagGrammar::Semver { require_v } => {
            let mut text = semver_tag::rules(&policy.prerelease, require_v);
            if let Ok(ReleaseTag {
                prerelease: Some((word, n)),
                major,
                minor,
                patch,
            }) = parse(tag, &policy.prerelease)
            {
                text.push_str(&format!("; write `v{major}.{minor}.{patch}-{word}.{n}`"));
            }
            text
        }
    }
}

/// Checks one tag. The error says what is wrong and what is allowed.
pub fn check_release_tag(tag: &str, allowed_prerelease: &[String]) -> Result<ReleaseTag, String> {
    parse(tag, allowed_prerelease)
        .map_err(|problem| format!("{problem}; {}", grammar(allowed_prerelease)))
}

/// One `invalid-tag` error per release whose tag is outside the production
/// pattern. `parse_str` keeps such releases (the planner refuses them
/// `invalid-tag`); `validate` adds these to its errors.
pub fn tag_diagnostics(desired: &Desired) -> Vec<Diagnostic> {
    release_diagnostics(&desired.services, &desired.policy)
}

/// [`tag_diagnostics`] over services that may come from a file with other
/// problems, so that `validate` can report everything at once.
pub(crate) fn release_diagnostics(services: &[Service], policy: &Policy) -> Vec<Diagnostic> {
    services
        .iter()
        .flat_map(|service| service.releases.iter().map(move |r| (service, r)))
        .filter_map(|(service, release)| {
            let problem = parse_under(&release.tag, policy).err()?;
            Some(
                Diagnostic::new(
                    crate::config::diagnostic::INVALID_TAG,
                    format!(
                        "{} of service `{}` is not a production release tag",
                        quoted(&release.tag),
                        service.name
                    ),
                    release.location.clone(),
                    problem,
                )
                .with_help(format!(
                    "{}; mutable tags such as `latest`, `dev` or commit SHAs stay in the source registry",
                    rules(&release.tag, policy)
                )),
            )
        })
        .collect()
}

/// What is allowed, for messages: names the configured suffixes.
fn grammar(allowed: &[String]) -> String {
    if allowed.is_empty() {
        return "release tags are v<major>.<minor>.<patch> (policy.prerelease allows no suffix)"
            .to_string();
    }
    let suffixes: Vec<String> = allowed.iter().map(|s| format!("-{s}<N>")).collect();
    let list = one_of(&suffixes);
    format!(
        "release tags are v<major>.<minor>.<patch> with an optional {list} suffix (policy.prerelease)"
    )
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn parse(tag: &str, allowed: &[String]) -> Result<ReleaseTag, String> {
    if !tag.is_ascii() {
        return Err("contains non-ASCII characters (look-alikes of ASCII are refused)".into());
    }
    let Some(rest) = tag.strip_prefix('v') else {
        return Err("does not start with `v`".into());
    };
    let (version, prerelease) = match rest.split_once('-') {
        Some((version, suffix)) => (version, Some(suffix)),
        None => (rest, None),
    };
    let parts: Vec<&str> = version.split('.').collect();
    let [major, minor, patch] = parts.as_slice() else {
        return Err(format!(
            "has {} version number(s) where exactly three (major.minor.patch) are required",
            parts.len()
        ));
    };
    let major = number(major, "major")?;
    let minor = number(minor, "minor")?;
    let patch = number(patch, "patch")?;
    let prerelease = match prerelease {
        None => None,
        Some(suffix) => Some(parse_suffix(suffix, allowed)?),
    };
    Ok(ReleaseTag {
        major,
        minor,
        patch,
        prerelease,
    })
}

/// A version number: `0` or digits without a leading zero.
fn number(text: &str, what: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the {what} version `{text}` is not a number"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!("the {what} version `{text}` has a leading zero"));
    }
    text.parse()
        .map_err(|_| format!("the {what} version `{text}` is too large"))
}

fn parse_suffix(suffix: &str, allowed: &[String]) -> Result<(String, u64), String> {
    let split = suffix
        .find(|c: char| !c.is_ascii_lowercase())
        .unwrap_or(suffix.len());
    let (word, n) = suffix.split_at(split);
    if word.is_empty() {
        return Err(format!(
            "the suffix `-{suffix}` does not start with a word such as `rc`"
        ));
    }
    if !allowed.iter().any(|a| a == word) {
        return Err(format!(
            "the prerelease `{word}` is not in policy.prerelease"
        ));
    }
    if n.is_empty() {
        return Err(format!(
            "the suffix `-{word}` needs a number, as in `-{word}1`"
        ));
    }
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the suffix `-{suffix}` must be `-{word}` followed by digits only"
        ));
    }
    if n.starts_with('0') {
        return Err(format!(
            "the number in `-{suffix}` must be positive, without a leading zero"
        ));
    }
    let n = n
        .parse()
        .map_err(|_| format!("the number in `-{suffix}` is too large"))?;
    Ok((word.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_allowed() -> Vec<String> {
        vec!["rc".into(), "beta".into()]
    }

    #[test]
    fn grammar_table() {
        let allowed = default_allowed();
        let accepted = [
            ("v1.0.0", (1, 0, 0, None)),
            ("v1.0.0-rc1", (1, 0, 0, Some(("rc", 1)))),
            ("v2.3.4-beta12", (2, 3, 4, Some(("beta", 12)))),
            ("v0.0.0", (0, 0, 0, None)),
            ("v10.20.30-rc100", (10, 20, 30, Some(("rc", 100)))),
        ];
        for (tag, (major, minor, patch, pre)) in accepted {
            let got = check_release_tag(tag, &allowed);
            let want = ReleaseTag {
                major,
                minor,
                patch,
                prerelease: pre.map(|(w, n)| (w.to_string(), n)),
            };
            assert_eq!(got, Ok(want), "{tag}");
        }
        let refused = [
            "latest",
            "dev",
            "test-20251217",
            "feature-x",
            "abc123f",
            "0123456789abcdef0123456789abcdef01234567",
            "v1.0",
            "1.0.0",
            "v1.0.0-rc.1",
            "v1.0.0-alpha1",
            "v01.0.0",
            "v1.00.0",
            "v1.0.0-rc",
            "v1.0.0-rc0",
            "v1.0.0-rc01",
            "v1.0.0-RC1",
            "v1.0.0-",
            "v1.0.0-1",
            "v1.0.0-rc1x",
            "v1.0.0.0",
            "v1..0",
            "V1.0.0",
            "v1.0.0+build",
            "v99999999999999999999.0.0",
            "",
            "v",
            "\u{0475}1.0.0",     // Cyrillic izhitsa looks like `v`
            "v1.\u{0660}.0",     // Arabic-Indic zero
            "v1.0.0-r\u{0441}1", // Cyrillic `с`
        ];
        for tag in refused {
            let err = check_release_tag(tag, &allowed);
            assert!(err.is_err(), "{tag:?} should be refused");
            let msg = err.err().unwrap_or_default();
            assert!(
                msg.contains("release tags are v<major>.<minor>.<patch>"),
                "{msg}"
            );
        }
    }

    #[test]
    fn alpha_only_when_allowed() {
        let allowed = vec!["alpha".to_string()];
        assert!(check_release_tag("v1.0.0-alpha1", &allowed).is_ok());
        assert!(check_release_tag("v1.0.0-rc1", &allowed).is_err());
    }

    #[test]
    fn message_names_the_allowed_suffixes() {
        let msg = check_release_tag("latest", &default_allowed())
            .err()
            .unwrap_or_default();
        assert_eq!(
            msg,
            "does not start with `v`; release tags are v<major>.<minor>.<patch> with an optional -rc<N> or -beta<N> suffix (policy.prerelease)"
        );
        let none = check_release_tag("v1.0.0-rc1", &[])
            .err()
            .unwrap_or_default();
        assert!(
            none.ends_with("(policy.prerelease allows no suffix)"),
            "{none}"
        );
    }

    #[test]
    fn leading_zero_is_named() {
        let msg = check_release_tag("v01.0.0", &default_allowed())
            .err()
            .unwrap_or_default();
        assert!(
            msg.starts_with("the major version `01` has a leading zero"),
            "{msg}"
        );
    }
}
