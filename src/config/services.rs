//! Validation of `[services.*]`: names, source and target repositories
//! (own settings or `[registries]` defaults) and the releases they declare.

use crate::config::diagnostic::{Diagnostic, quoted};
use crate::config::location::RepositoryLocation;
use crate::config::model::{Policy, Release, Service};
use crate::config::raw::{self, Key, Source, Value, entries, key_name};
use crate::config::tag::check_tag;
use crate::digest::Digest;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use toml::de::{DeTable, DeValue};

const SERVICE_KEYS: &[&str] = &["source", "target", "releases"];

/// A location setting: absent, present but invalid (already reported), or valid.
#[derive(Clone)]
pub(crate) enum Setting {
    Absent,
    Invalid,
    Valid(RepositoryLocation, Range<usize>),
}

/// Parses a `source`/`target` string; relative `oci:` paths resolve from
/// `base_dir`. `what` names the setting in messages.
pub(crate) fn location(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    what: &str,
    base_dir: &Path,
) -> Setting {
    let Some(text) = raw::string(src, diags, value, what) else {
        return Setting::Invalid;
    };
    let help = "write `host[:port]/path` (HTTPS), `http://host:port/path` or `oci:dir`";
    // Checked before parsing because the parse error would echo the text.
    if text.contains('@') && !text.starts_with("oci:") {
        src.redact(&value.span());
        diags.push(
            src.diag("invalid-location", format!("{what} must not contain credentials"), &value.span(), "remove `user:password@`")
                .with_help("registry credentials come from docker config.json or containers auth.json, never from releases.toml"),
        );
        return Setting::Invalid;
    }
    match RepositoryLocation::parse(text, base_dir) {
        Ok(location) => Setting::Valid(location, value.span()),
        Err(e) => {
            diags.push(
                src.diag(
                    "invalid-location",
                    format!("{what}: {e}"),
                    &value.span(),
                    "not a repository location",
                )
                .with_help(help),
            );
            Setting::Invalid
        }
    }
}

pub(crate) fn check_services(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    registries: &(Setting, Setting),
    policy: &Policy,
    base_dir: &Path,
) -> Vec<Service> {
    let Some(table) = raw::table(src, diags, value, "`services`") else {
        return Vec::new();
    };
    entries(table)
        .into_iter()
        .filter_map(|(name, value)| {
            check_service(src, diags, name, value, registries, policy, base_dir)
        })
        .collect()
}

fn check_service(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    name_key: &Key<'_>,
    value: &Value<'_>,
    registries: &(Setting, Setting),
    policy: &Policy,
    base_dir: &Path,
) -> Option<Service> {
    let name = key_name(name_key);
    let name_ok = is_service_name(name);
    if !name_ok {
        diags.push(
            src.diag(
                "invalid-service-name",
                format!("{} is not a valid service name", quoted(name)),
                &name_key.span(),
                "not a repository name component",
            )
            .with_help("service names become repository names: lowercase ASCII letters and digits, with single `.`, `_`, `__` or `-` between them (e.g. `gateway`, `data-storage`)"),
        );
    }
    let table = raw::table(src, diags, value, &format!("service `{name}`"))?;
    let mut source = Setting::Absent;
    let mut target = Setting::Absent;
    let mut releases = Vec::new();
    for (key, value) in entries(table) {
        match key_name(key) {
            "source" => {
                source = location(
                    src,
                    diags,
                    value,
                    &format!("`services.{name}.source`"),
                    base_dir,
                )
            }
            "target" => {
                target = location(
                    src,
                    diags,
                    value,
                    &format!("`services.{name}.target`"),
                    base_dir,
                )
            }
            "releases" => releases = check_releases(src, diags, name, value, policy),
            _ => diags.push(raw::unknown_key(
                src,
                key,
                &format!("`[services.{name}]`"),
                SERVICE_KEYS,
            )),
        }
    }
    let header = name_key.span();
    let source = resolve(src, diags, name, &source, &registries.0, "source", &header);
    let target = resolve(src, diags, name, &target, &registries.1, "target", &header);
    let (source, target) = (source?, target?);
    if same_repository(&source.0, &target.0) && (source.1 || target.1) {
        diags.push(source_is_target(
            src,
            &format!("service `{name}`"),
            &target.0,
            &target.2,
        ));
    }
    name_ok.then(|| Service {
        name: name.to_string(),
        source: source.0,
        target: target.0,
        releases,
        location: src.location(&header),
    })
}

/// The service's own setting, else the registries default joined with the
/// service name. Returns the location, whether it needs reporting when it
/// equals its counterpart (an override is involved), and its span.
fn resolve(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    name: &str,
    own: &Setting,
    default: &Setting,
    which: &str,
    header: &Range<usize>,
) -> Option<(RepositoryLocation, bool, Range<usize>)> {
    match (own, default) {
        (Setting::Valid(location, span), _) => Some((location.clone(), true, span.clone())),
        (Setting::Invalid, _) | (Setting::Absent, Setting::Invalid) => None,
        (Setting::Absent, Setting::Valid(location, _)) => {
            // Equal defaults were already reported once, at `[registries]`.
            Some((location.child(name), false, header.clone()))
        }
        (Setting::Absent, Setting::Absent) => {
            diags.push(
                src.diag(
                    "missing-location",
                    format!("service `{name}` has no {which} repository"),
                    header,
                    format!("no `{which}` here and no `registries.{which}` default"),
                )
                .with_help(format!(
                    "add `{which} = \"…\"` to [registries] (the default for every service) or to this service"
                )),
            );
            None
        }
    }
}

fn check_releases(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    service: &str,
    value: &Value<'_>,
    policy: &Policy,
) -> Vec<Release> {
    let Some(table) = raw::table(src, diags, value, &format!("`services.{service}.releases`"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (tag_key, value) in entries(table) {
        let tag = key_name(tag_key);
        let digest = match value.get_ref() {
            DeValue::String(text) => match Digest::parse(text) {
                Ok(digest) => Some(digest),
                Err(_) => {
                    diags.push(
                        src.diag(
                            "invalid-digest",
                            format!("{} is not a digest", quoted(text)),
                            &value.span(),
                            "expected `sha256:` followed by 64 lowercase hex characters",
                        )
                        .with_help("copy the digest from `skopeo inspect` or your CI build output"),
                    );
                    None
                }
            },
            // `v1.0.0 = "…"` unquoted is a dotted key: a table `v` -> `1` -> …
            DeValue::Table(nested) if dotted_tag_end(nested).is_some() => {
                let end = dotted_tag_end(nested).unwrap_or(tag_key.span().end);
                let span = tag_key.span().start..end;
                let written = src.text.get(span.clone()).unwrap_or(tag);
                diags.push(
                    src.diag(
                        "unquoted-tag",
                        format!(
                            "the tag {} is not quoted, so TOML reads its dots as nested keys",
                            quoted(written)
                        ),
                        &span,
                        "quote the whole tag",
                    )
                    .with_help(format!(
                        "write the tag in quotes: \"{}\" = \"sha256:…\"",
                        written.escape_default()
                    )),
                );
                None
            }
            _ => {
                diags.push(
                    raw::wrong_type(
                        src,
                        value,
                        &format!("the digest of {}", quoted(tag)),
                        "a string",
                    )
                    .with_help("write \"<tag>\" = \"sha256:<64 hex>\""),
                );
                None
            }
        };
        if let Some(digest) = digest {
            out.push(Release {
                tag: tag.to_string(),
                tag_check: check_tag(tag, policy),
                digest,
                location: src.location(&tag_key.span()),
            });
        }
    }
    out
}

/// For the tree an unquoted dotted tag produces (single-key tables down to a
/// string), where its last key ends. A loop, not recursion: the key may be
/// thousands deep.
fn dotted_tag_end(mut table: &DeTable<'_>) -> Option<usize> {
    loop {
        let mut items = table.iter();
        match (items.next(), items.next()) {
            (Some((key, value)), None) => match value.get_ref() {
                DeValue::Table(inner) => table = inner,
                DeValue::String(_) => return Some(key.span().end),
                _ => return None,
            },
            _ => return None,
        }
    }
}

pub(crate) fn source_is_target(
    src: &Source<'_>,
    what: &str,
    target: &RepositoryLocation,
    span: &Range<usize>,
) -> Diagnostic {
    src.diag(
        "source-is-target",
        format!("{what} releases from and to the same repository `{target}`"),
        span,
        "same as the source",
    )
    .with_help("the target must be the production repository, distinct from the development source")
}

/// A single repository path component in the distribution grammar:
/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
pub(crate) fn is_service_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty()
        || bytes.len() > 128
        || !bytes.first().is_some_and(alnum)
        || !bytes.last().is_some_and(alnum)
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &name[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Equality that ignores spelling: host case, `./` and `..` in layout paths.
pub(crate) fn same_repository(a: &RepositoryLocation, b: &RepositoryLocation) -> bool {
    match (a, b) {
        (RepositoryLocation::Layout { dir: x, .. }, RepositoryLocation::Layout { dir: y, .. }) => {
            normalise(x) == normalise(y)
        }
        (
            RepositoryLocation::Remote {
                scheme: s,
                host: h,
                path: p,
            },
            RepositoryLocation::Remote {
                scheme: t,
                host: k,
                path: q,
            },
        ) => s == t && h.eq_ignore_ascii_case(k) && p == q,
        _ => false,
    }
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}
