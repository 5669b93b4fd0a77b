//! The SemVer tag grammar (`[policy] tag_grammar = "semver"`): a SemVer 2.0
//! version (parsed by the `semver` crate) whose prerelease, if any, is
//! exactly `<word>.<N>` with a word `policy.prerelease` allows, as the
//! Kubernetes image promoter's tags read (`v1.30.0-rc.1`, `-alpha.0`).
//! Build metadata (`+...`) is refused: registries do not allow `+` in tags.

use crate::config::model::ReleaseTag;
use crate::config::tag::one_of;

/// Checks `tag`; the error says what is wrong (the caller adds the rules).
pub(crate) fn parse(tag: &str, allowed: &[String], require_v: bool) -> Result<ReleaseTag, String> {
    if !tag.is_ascii() {
        return Err("contains non-ASCII characters (look-alikes of ASCII are refused)".into());
    }
    let version = match tag.strip_prefix('v') {
        Some(rest) => rest,
        None if require_v => return Err("does not start with `v`".into()),
        None => tag,
    };
    if version.contains('+') {
        return Err("carries build metadata (`+...`), which tags cannot hold".into());
    }
    let parsed = semver::Version::parse(version)
        .map_err(|error| format!("is not a SemVer version: {error}"))?;
    let prerelease = if parsed.pre.is_empty() {
        None
    } else {
        Some(prerelease(parsed.pre.as_str(), allowed)?)
    };
    Ok(ReleaseTag {
        major: parsed.major,
        minor: parsed.minor,
        patch: parsed.patch,
        prerelease,
    })
}

/// `rc.1` → `("rc", 1)`; anything else is refused with the form to write.
fn prerelease(pre: &str, allowed: &[String]) -> Result<(String, u64), String> {
    let Some((word, number)) = pre.split_once('.') else {
        let word: String = pre.chars().take_while(|c| c.is_ascii_lowercase()).collect();
        let digits = &pre[word.len()..];
        if !word.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "the prerelease `-{pre}` needs a dot before its number: `-{word}.{digits}`"
            ));
        }
        return Err(format!(
            "the prerelease `-{pre}` is not `-<word>.<N>` (as in `-rc.1`)"
        ));
    };
    if !allowed.iter().any(|a| a == word) {
        return Err(format!(
            "the prerelease `{word}` is not in policy.prerelease"
        ));
    }
    // semver has already refused empty identifiers and leading zeros.
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the prerelease `-{pre}` must be `-{word}.` followed by a number only"
        ));
    }
    let number = number
        .parse()
        .map_err(|_| format!("the number in `-{pre}` is too large"))?;
    Ok((word.to_string(), number))
}

/// What the grammar allows, for messages.
pub(crate) fn rules(allowed: &[String], require_v: bool) -> String {
    let v = if require_v {
        "v<major>.<minor>.<patch>"
    } else {
        "[v]<major>.<minor>.<patch> (the `v` optional, policy.require_v = false)"
    };
    let suffixes: Vec<String> = allowed.iter().map(|s| format!("-{s}.<N>")).collect();
    let suffix = if suffixes.is_empty() {
        " and no prerelease (policy.prerelease is empty)".to_string()
    } else {
        format!(
            " with an optional {} prerelease (policy.prerelease)",
            one_of(&suffixes)
        )
    };
    format!("under tag_grammar \"semver\" release tags are {v}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Vec<String> {
        vec!["alpha".into(), "beta".into(), "rc".into()]
    }

    fn tag(major: u64, minor: u64, patch: u64, pre: Option<(&str, u64)>) -> ReleaseTag {
        ReleaseTag {
            major,
            minor,
            patch,
            prerelease: pre.map(|(w, n)| (w.to_string(), n)),
        }
    }

    #[test]
    fn accepts_kubernetes_style_prereleases() {
        let accepted = [
            ("v1.30.0-rc.1", tag(1, 30, 0, Some(("rc", 1)))),
            ("v1.30.0-alpha.0", tag(1, 30, 0, Some(("alpha", 0)))),
            ("v1.30.0-beta.2", tag(1, 30, 0, Some(("beta", 2)))),
            ("v1.30.0", tag(1, 30, 0, None)),
        ];
        for (text, want) in accepted {
            assert_eq!(parse(text, &words(), true), Ok(want), "{text}");
        }
        assert_eq!(
            parse("1.2.3-rc.4", &words(), false),
            Ok(tag(1, 2, 3, Some(("rc", 4))))
        );
    }

    #[test]
    fn refuses_with_the_form_to_write() {
        let cases = [
            ("1.2.3", true, "does not start with `v`"),
            ("v1.2.3-rc1", true, "needs a dot before its number: `-rc.1`"),
            (
                "v1.2.3-gamma.1",
                true,
                "`gamma` is not in policy.prerelease",
            ),
            ("v1.2.3-rc.01", true, "is not a SemVer version"),
            ("v1.2.3-rc.x", true, "followed by a number only"),
            ("v1.2.3-rc.1.2", true, "followed by a number only"),
            ("v1.2.3+build.5", true, "build metadata"),
            ("v1.2", true, "is not a SemVer version"),
            ("v01.2.3", true, "is not a SemVer version"),
            ("latest", false, "is not a SemVer version"),
            ("v1.2.3-r\u{0441}.1", true, "non-ASCII"),
            ("v1.2.3-rc", true, "is not `-<word>.<N>`"),
        ];
        for (text, require_v, want) in cases {
            let problem = parse(text, &words(), require_v).expect_err(text);
            assert!(problem.contains(want), "{text}: {problem}");
        }
    }

    #[test]
    fn orders_by_semver_precedence_as_the_semver_crate_does() {
        let texts = [
            "1.0.0-alpha.0",
            "1.0.0-alpha.1",
            "1.0.0-alpha.10",
            "1.0.0-beta.2",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1-alpha.0",
            "1.1.0",
            "2.0.0-rc.3",
        ];
        let ours: Vec<ReleaseTag> = texts
            .iter()
            .map(|t| parse(t, &words(), false).unwrap())
            .collect();
        let theirs: Vec<semver::Version> = texts
            .iter()
            .map(|t| semver::Version::parse(t).unwrap())
            .collect();
        for i in 0..texts.len() {
            for j in 0..texts.len() {
                assert_eq!(
                    ours[i].cmp(&ours[j]),
                    theirs[i].cmp(&theirs[j]),
                    "{} vs {}",
                    texts[i],
                    texts[j]
                );
            }
        }
    }

    #[test]
    fn rules_name_the_grammar_and_the_suffixes() {
        assert_eq!(
            rules(&words(), true),
            "under tag_grammar \"semver\" release tags are v<major>.<minor>.<patch> with an optional -alpha.<N>, -beta.<N> or -rc.<N> prerelease (policy.prerelease)"
        );
        assert!(rules(&[], false).contains("the `v` optional"));
    }
}
