//! Inserts `"tag" = "digest"` after a service's last release line and
//! checks that the result parses to exactly the old file plus that release:
//! every other byte (comments, order, alignment) is left as it was. A file
//! laid out so that a line cannot be added safely (an inline `releases = {…}`
//! table, a service without releases) is refused, never rewritten.

use crate::config::model::{Desired, Service};
use crate::digest::Digest;

/// Why the line could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditRefusal {
    /// The service declares no release yet: there is no line to follow.
    NoReleases { service: String },
    /// The file after the edit does not read back as old + the new release.
    Layout { service: String, reason: String },
}

impl std::fmt::Display for EditRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EditRefusal::NoReleases { service } => write!(
                f,
                "service `{service}` declares no release yet: add a `[services.{service}.releases]` table with its first line by hand, then promote adds the next ones"
            ),
            EditRefusal::Layout { service, reason } => write!(
                f,
                "cannot add a line to the releases of `{service}` without rewriting the file ({reason}); write the releases as a `[services.{service}.releases]` table, one `\"tag\" = \"digest\"` per line"
            ),
        }
    }
}

/// The new text: `text` with the release line inserted after the last line
/// that declares a release of `service`, with that line's indentation.
pub fn insert_release(
    text: &str,
    service: &Service,
    tag: &str,
    digest: &Digest,
) -> Result<String, EditRefusal> {
    if service.releases.is_empty() {
        return Err(EditRefusal::NoReleases {
            service: service.name.clone(),
        });
    }
    Ok(insert_releases(
        text,
        service,
        &[(tag.to_string(), digest.clone())],
    ))
}

/// `text` with one line per release added: after the service's last release
/// line; for a service without releases, after its `[services.<name>.releases]`
/// header, or else in a new such table at the end of the file. The caller
/// checks the result with [`check_all_added`].
pub fn insert_releases(text: &str, service: &Service, releases: &[(String, Digest)]) -> String {
    let lines = |indent: &str, newline: &str| -> String {
        releases
            .iter()
            .map(|(tag, digest)| format!("{indent}{} = \"{digest}\"{newline}", toml_key(tag)))
            .collect()
    };
    let header = format!("[services.{}.releases]", service.name);
    let after_line = match service.releases.iter().map(|r| r.location.line).max() {
        Some(last) => Some(last as usize),
        None => text
            .lines()
            .position(|line| line.split('#').next().unwrap_or("").trim() == header)
            .map(|index| index + 1),
    };
    let Some(after_line) = after_line else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("\n{header}\n{}", lines("", "\n")));
        return out;
    };
    let mut out = String::with_capacity(text.len() + releases.len() * 90);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        out.push_str(line);
        if index + 1 == after_line {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            let indent: String = if service.releases.is_empty() {
                String::new()
            } else {
                line.chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect()
            };
            let newline = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str(&lines(&indent, newline));
        }
    }
    out
}

/// A quoted TOML key; tags are ASCII `[A-Za-z0-9_.-]`, so quoting is plain,
/// but anything else is escaped rather than trusted.
fn toml_key(tag: &str) -> String {
    let mut key = String::from("\"");
    for c in tag.chars() {
        match c {
            '"' => key.push_str("\\\""),
            '\\' => key.push_str("\\\\"),
            c if c.is_control() => key.push_str(&format!("\\u{:04X}", c as u32)),
            c => key.push(c),
        }
    }
    key.push('"');
    key
}

/// Checks that `after` declares what `before` does plus exactly `tag` =
/// `digest` in `service`, in the same order otherwise.
pub fn check_only_added(
    before: &Desired,
    after: &Desired,
    service: &str,
    tag: &str,
    digest: &Digest,
) -> Result<(), EditRefusal> {
    check_all_added(before, after, service, &[(tag.to_string(), digest.clone())])
}

/// [`check_only_added`] for several releases of one service.
pub fn check_all_added(
    before: &Desired,
    after: &Desired,
    service: &str,
    added: &[(String, Digest)],
) -> Result<(), EditRefusal> {
    let layout = |reason: &str| EditRefusal::Layout {
        service: service.to_string(),
        reason: reason.to_string(),
    };
    let releases = |desired: &Desired| -> Vec<(String, String, Digest)> {
        desired
            .services
            .iter()
            .flat_map(|s| {
                s.releases
                    .iter()
                    .map(|r| (s.name.clone(), r.tag.clone(), r.digest.clone()))
            })
            .collect()
    };
    let mut expected = releases(before);
    let mut got = releases(after);
    for (tag, digest) in added {
        let added = (service.to_string(), tag.clone(), digest.clone());
        let Some(position) = got.iter().position(|r| *r == added) else {
            return Err(layout(
                "a new line does not read as a release of the service",
            ));
        };
        got.remove(position);
    }
    expected.sort();
    got.sort();
    if expected != got || before.policy != after.policy {
        return Err(layout("the edit changed other settings or releases"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::path::Path;

    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn file(releases: &str) -> String {
        format!(
            "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n\n# gateway: the front door\n[services.gateway.releases]\n{releases}\n[services.notifier.releases]\n\"v2.0.0\" = \"{OLD}\"\n"
        )
    }

    fn parse(text: &str) -> Desired {
        config::validate_str(text, "releases.toml", Path::new("/repo")).expect("valid")
    }

    #[test]
    fn adds_one_line_after_the_last_release_and_nothing_else() {
        let text = file(&format!(
            "  \"v1.0.0-rc1\" = \"{OLD}\"   # staged\n  \"v0.9.0\"     = \"{OLD}\"\n"
        ));
        let before = parse(&text);
        let digest = Digest::parse(NEW).unwrap();
        let after_text = insert_release(&text, &before.services[0], "v1.0.0", &digest).unwrap();
        let want = text.replace(
            &format!("  \"v0.9.0\"     = \"{OLD}\"\n"),
            &format!("  \"v0.9.0\"     = \"{OLD}\"\n  \"v1.0.0\" = \"{NEW}\"\n"),
        );
        assert_eq!(after_text, want);
        let after = parse(&after_text);
        check_only_added(&before, &after, "gateway", "v1.0.0", &digest).unwrap();
    }

    #[test]
    fn an_inline_table_is_refused_not_rewritten() {
        let text = format!(
            "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n[services.gateway]\nreleases = {{ \"v1.0.0\" = \"{OLD}\" }}\n"
        );
        let before = parse(&text);
        let digest = Digest::parse(NEW).unwrap();
        let after_text = insert_release(&text, &before.services[0], "v1.1.0", &digest).unwrap();
        // The inserted line lands in [services.gateway] itself: the read-back
        // is not old + the release (or not valid at all).
        match config::validate_str(&after_text, "releases.toml", Path::new("/repo")) {
            Err(_) => {}
            Ok(after) => {
                assert!(check_only_added(&before, &after, "gateway", "v1.1.0", &digest).is_err())
            }
        }
    }

    #[test]
    fn a_service_without_releases_is_refused() {
        let text = "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n[services.gateway]\n";
        let before = parse(text);
        let digest = Digest::parse(NEW).unwrap();
        let refusal = insert_release(text, &before.services[0], "v1.0.0", &digest).unwrap_err();
        assert!(
            refusal.to_string().contains("[services.gateway.releases]"),
            "{refusal}"
        );
    }

    #[test]
    fn a_service_without_releases_gets_lines_under_its_header_or_a_new_table() {
        let digest = Digest::parse(NEW).unwrap();
        let added = [
            ("v1.0.0".to_string(), digest.clone()),
            ("v1.1.0".to_string(), digest.clone()),
        ];
        let header = "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n[services.gateway.releases]  # none yet\n\n[services.other]\n";
        let before = parse(header);
        let after_text = insert_releases(header, &before.services[0], &added);
        assert_eq!(
            after_text,
            header.replace(
                "# none yet\n",
                &format!("# none yet\n\"v1.0.0\" = \"{NEW}\"\n\"v1.1.0\" = \"{NEW}\"\n")
            )
        );
        check_all_added(&before, &parse(&after_text), "gateway", &added).unwrap();

        let bare = "version = 1\n[registries]\nsource = \"quay.io/dev\"\ntarget = \"quay.io/prod\"\n[services.gateway]";
        let before = parse(bare);
        let after_text = insert_releases(bare, &before.services[0], &added);
        assert!(after_text.starts_with(bare), "{after_text}");
        check_all_added(&before, &parse(&after_text), "gateway", &added).unwrap();
    }
}
