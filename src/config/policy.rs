//! Validation of the `[policy]` and `[signing]` tables: the release rules and
//! the keys that sign and recognise production images.

use crate::config::diagnostic::{Diagnostic, quoted};
use crate::config::model::{
    KeySource, Policy, RegistryImmutability, Severity, SignatureFormat, SigningConfig, TagGrammar,
    VulnerabilitySource, Waiver,
};
use crate::config::raw::{self, Source, Value, entries, key_name};
use crate::day::Day;
use std::ops::Range;
use std::path::Path;
use toml::de::DeValue;

const POLICY_KEYS: &[&str] = &[
    "tag_grammar",
    "require_v",
    "prerelease",
    "require_rc",
    "block_severities",
    "vulnerability_source",
    "quay_api",
    "waivers",
    "registry_immutability",
];
const WAIVER_KEYS: &[&str] = &["id", "service", "reason", "expires"];
const SIGNING_KEYS: &[&str] = &["key", "public_key", "formats"];

/// A waiver's `service`, checked once the services are known.
pub(crate) struct WaiverService {
    pub name: String,
    pub span: Range<usize>,
}

/// Reads `[policy]`; absent keys keep their defaults.
pub(crate) fn check_policy(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
) -> (Policy, Vec<WaiverService>) {
    let mut policy = Policy::default();
    let mut waiver_services = Vec::new();
    let Some(table) = raw::table(src, diags, value, "`policy`") else {
        return (policy, waiver_services);
    };
    let mut grammar = GrammarKeys::default();
    for (key, value) in entries(table) {
        match key_name(key) {
            "tag_grammar" => {
                if let Some(text) = raw::string(src, diags, value, "`policy.tag_grammar`") {
                    match text {
                        "dd-registry" => grammar.semver = false,
                        "semver" => grammar.semver = true,
                        other => diags.push(
                            src.diag(
                                "invalid-tag-grammar",
                                format!("{} is not a tag grammar", quoted(other)),
                                &value.span(),
                                "expected \"dd-registry\" or \"semver\"",
                            )
                            .with_help("\"dd-registry\" (the default) allows v1.2.3, v1.2.3-rc1, v1.2.3-beta1; \"semver\" allows v1.2.3, v1.2.3-alpha.0, v1.2.3-beta.1, v1.2.3-rc.1"),
                        ),
                    }
                }
            }
            "require_v" => match value.get_ref() {
                DeValue::Boolean(b) => grammar.require_v = Some((*b, value.span())),
                _ => diags.push(raw::wrong_type(
                    src,
                    value,
                    "`policy.require_v`",
                    "a boolean",
                )),
            },
            "prerelease" => {
                if let Some(words) = raw::string_array(src, diags, value, "`policy.prerelease`") {
                    policy.prerelease = prerelease(src, diags, words);
                    grammar.prerelease_set = true;
                }
            }
            "require_rc" => match value.get_ref() {
                DeValue::Boolean(b) => policy.require_rc = *b,
                _ => diags.push(raw::wrong_type(
                    src,
                    value,
                    "`policy.require_rc`",
                    "a boolean",
                )),
            },
            "block_severities" => {
                if let Some(names) =
                    raw::string_array(src, diags, value, "`policy.block_severities`")
                {
                    policy.block_severities = severities(src, diags, names);
                }
            }
            "vulnerability_source" => {
                if let Some(text) = raw::string(src, diags, value, "`policy.vulnerability_source`")
                {
                    match text {
                        "quay" => policy.vulnerability_source = VulnerabilitySource::Quay,
                        "none" => policy.vulnerability_source = VulnerabilitySource::None,
                        other => diags.push(
                            src.diag(
                                "invalid-vulnerability-source",
                                format!("{} is not a vulnerability source", quoted(other)),
                                &value.span(),
                                "expected \"quay\" or \"none\"",
                            )
                            .with_help("write \"quay\" to read Quay's scans, or \"none\" to release without a scan gate (plans then carry a warning)"),
                        ),
                    }
                }
            }
            "quay_api" => {
                if let Some(text) = raw::string(src, diags, value, "`policy.quay_api`") {
                    match quay_api(text) {
                        Ok(url) => policy.quay_api = Some(url),
                        Err(problem) => {
                            if problem.secret {
                                src.redact(&value.span());
                            }
                            diags.push(
                                src.diag(
                                    "invalid-url",
                                    problem.message,
                                    &value.span(),
                                    "not a Quay base URL",
                                )
                                .with_help(problem.help),
                            );
                        }
                    }
                }
            }
            "registry_immutability" => {
                if let Some(text) = raw::string(src, diags, value, "`policy.registry_immutability`")
                {
                    match text {
                        "require" => {
                            policy.registry_immutability =
                                RegistryImmutability::Require(src.location(&key.span()))
                        }
                        "off" => policy.registry_immutability = RegistryImmutability::Off,
                        other => diags.push(
                            src.diag(
                                "invalid-registry-immutability",
                                format!("{} is not a registry immutability setting", quoted(other)),
                                &value.span(),
                                "expected \"require\" or \"off\"",
                            )
                            .with_help("write \"require\" to have the target Quay freeze release tags with an immutability policy, or \"off\""),
                        ),
                    }
                }
            }
            "waivers" => {
                policy.waivers = waivers(src, diags, value, &mut waiver_services);
            }
            _ => diags.push(raw::unknown_key(src, key, "`[policy]`", POLICY_KEYS)),
        }
    }
    grammar.apply(src, diags, &mut policy);
    (policy, waiver_services)
}

/// The `[policy]` keys that together choose the tag grammar.
#[derive(Default)]
struct GrammarKeys {
    semver: bool,
    require_v: Option<(bool, Range<usize>)>,
    prerelease_set: bool,
}

impl GrammarKeys {
    fn apply(self, src: &Source<'_>, diags: &mut Vec<Diagnostic>, policy: &mut Policy) {
        if !self.semver {
            if let Some((_, span)) = self.require_v {
                diags.push(
                    src.diag(
                        "invalid-policy",
                        "`policy.require_v` applies only to the SemVer grammar".to_string(),
                        &span,
                        "tag_grammar is \"dd-registry\" here",
                    )
                    .with_help("add tag_grammar = \"semver\" to [policy], or remove require_v (dd-registry tags always start with `v`)"),
                );
            }
            return;
        }
        policy.tag_grammar = TagGrammar::Semver {
            require_v: self.require_v.is_none_or(|(required, _)| required),
        };
        // SemVer migrants' tags use alpha, beta and rc unless the file says otherwise.
        if !self.prerelease_set {
            policy.prerelease = vec!["alpha".into(), "beta".into(), "rc".into()];
        }
    }
}

fn prerelease(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    words: Vec<(&str, Range<usize>)>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (word, span) in words {
        if word.is_empty() || !word.bytes().all(|b| b.is_ascii_lowercase()) {
            diags.push(
                src.diag(
                    "invalid-prerelease",
                    format!("{} is not a prerelease word", quoted(word)),
                    &span,
                    "expected lowercase ASCII letters only",
                )
                .with_help("prerelease words are suffixes such as \"rc\" or \"beta\" (tags then read v1.2.3-rc1)"),
            );
        } else if !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

fn severities(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    names: Vec<(&str, Range<usize>)>,
) -> Vec<Severity> {
    let mut out = Vec::new();
    for (name, span) in names {
        match Severity::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
        {
            Some(severity) if !out.contains(&severity) => out.push(severity),
            Some(_) => {}
            None => {
                let valid: Vec<&str> = Severity::ALL.iter().map(|s| s.name()).collect();
                diags.push(
                    src.diag(
                        "invalid-severity",
                        format!("{} is not a severity", quoted(name)),
                        &span,
                        "unknown severity",
                    )
                    .with_help(format!("severities are {}", valid.join(", "))),
                );
            }
        }
    }
    out
}

/// Why `policy.quay_api` was refused.
struct UrlProblem {
    message: String,
    help: String,
    /// The value holds credentials: never echo it.
    secret: bool,
}

impl UrlProblem {
    fn new(message: String, help: impl Into<String>) -> Self {
        UrlProblem {
            message,
            help: help.into(),
            secret: false,
        }
    }
}

/// Normalises the Quay base URL, refusing anything the scan client could not
/// use. Credentials in the URL are refused without echoing them.
fn quay_api(text: &str) -> Result<String, UrlProblem> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(UrlProblem::new(
            format!("{} is not an http(s) URL", quoted(text)),
            "write the base URL of the Quay instance, e.g. \"https://quay.io\"",
        ));
    };
    if scheme != "https" && scheme != "http" {
        return Err(UrlProblem::new(
            format!("{} is not an http(s) URL", quoted(text)),
            "write the base URL of the Quay instance, e.g. \"https://quay.io\"",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(UrlProblem {
            message: "`policy.quay_api` must not contain credentials".into(),
            help: "remove the user and password from the URL and set QUAY_API_TOKEN instead".into(),
            secret: true,
        });
    }
    if rest.contains(['?', '#']) {
        // A query is where tokens hide (`?access_token=`): do not echo it.
        return Err(UrlProblem {
            message: "`policy.quay_api` must not have a query or fragment".into(),
            help: "write the base URL only, e.g. \"https://quay.io\"; the token comes from QUAY_API_TOKEN".into(),
            secret: true,
        });
    }
    let well_formed =
        !authority.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if !well_formed {
        return Err(UrlProblem::new(
            format!("{} is not a valid URL", quoted(text)),
            "write the base URL of the Quay instance, e.g. \"https://quay.io\"",
        ));
    }
    let trimmed = text.trim_end_matches('/');
    if trimmed.ends_with("/api/v1") {
        return Err(UrlProblem::new(
            format!("{} includes the API path", quoted(text)),
            format!(
                "write the base URL without `/api/v1`: \"{}\"",
                trimmed.trim_end_matches("/api/v1")
            ),
        ));
    }
    Ok(trimmed.to_string())
}

fn waivers(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    services: &mut Vec<WaiverService>,
) -> Vec<Waiver> {
    let DeValue::Array(items) = value.get_ref() else {
        diags.push(raw::wrong_type(
            src,
            value,
            "`policy.waivers`",
            "an array of tables",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items.iter() {
        let Some(table) = raw::table(src, diags, item, "each `[[policy.waivers]]` entry") else {
            continue;
        };
        let (mut id, mut service, mut reason, mut expires) = (None, None, None, None);
        for (key, value) in entries(table) {
            match key_name(key) {
                "id" => id = non_empty(src, diags, value, "`waivers.id`"),
                "reason" => reason = non_empty(src, diags, value, "`waivers.reason`"),
                "service" => {
                    if let Some(name) = raw::string(src, diags, value, "`waivers.service`") {
                        services.push(WaiverService {
                            name: name.to_string(),
                            span: value.span(),
                        });
                        service = Some(name.to_string());
                    }
                }
                "expires" => expires = date(src, diags, value),
                _ => diags.push(raw::unknown_key(
                    src,
                    key,
                    "`[[policy.waivers]]`",
                    WAIVER_KEYS,
                )),
            }
        }
        let span = item.span();
        for (present, name, help) in [
            (
                id.is_some() || has_key(table, "id"),
                "id",
                "name the vulnerability, e.g. id = \"CVE-2025-1234\"",
            ),
            (
                reason.is_some() || has_key(table, "reason"),
                "reason",
                "say why the risk is accepted, e.g. reason = \"not reachable: we do not use the affected parser\"",
            ),
        ] {
            if !present {
                diags.push(
                    src.diag(
                        "missing-key",
                        format!("this waiver has no `{name}`"),
                        &span,
                        format!("`{name}` is required"),
                    )
                    .with_help(help),
                );
            }
        }
        if let (Some(id), Some(reason)) = (id, reason) {
            out.push(Waiver {
                id,
                service,
                reason,
                expires,
                location: src.location(&span),
            });
        }
    }
    out
}

fn has_key(table: &toml::de::DeTable<'_>, name: &str) -> bool {
    table.iter().any(|(k, _)| key_name(k) == name)
}

fn non_empty(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    what: &str,
) -> Option<String> {
    let text = raw::string(src, diags, value, what)?;
    if text.trim().is_empty() {
        diags.push(src.diag(
            "missing-key",
            format!("{what} is empty"),
            &value.span(),
            "write some text here",
        ));
        return None;
    }
    Some(text.to_string())
}

/// A TOML local date (`2027-01-31`).
fn date(src: &Source<'_>, diags: &mut Vec<Diagnostic>, value: &Value<'_>) -> Option<Day> {
    match value.get_ref() {
        DeValue::Datetime(dt) => {
            // TOML's parser has checked the calendar (no 2027-02-30).
            let day = dt
                .date
                .and_then(|d| Day::from_ymd(d.year.into(), d.month.into(), d.day.into()));
            match (day, dt.time, dt.offset) {
                (Some(day), None, None) => Some(day),
                _ => {
                    diags.push(
                        src.diag(
                            "invalid-date",
                            format!("`waivers.expires` must be a date without a time, not `{dt}`"),
                            &value.span(),
                            "expected a date",
                        )
                        .with_help("write a bare TOML date: expires = 2027-01-31"),
                    );
                    None
                }
            }
        }
        _ => {
            diags.push(
                raw::wrong_type(src, value, "`waivers.expires`", "a TOML date")
                    .with_help("write a bare TOML date without quotes: expires = 2027-01-31"),
            );
            None
        }
    }
}

/// Reads `[signing]`. Relative key paths resolve from `base_dir`.
pub(crate) fn check_signing(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    base_dir: &Path,
) -> Option<SigningConfig> {
    let table = raw::table(src, diags, value, "`signing`")?;
    let mut config = SigningConfig {
        key: None,
        public_key: None,
        formats: SignatureFormat::DEFAULT.to_vec(),
        location: src.location(&value.span()),
        key_location: None,
        public_key_location: None,
    };
    for (key, value) in entries(table) {
        match key_name(key) {
            "key" => {
                config.key = signing_key(src, diags, value, base_dir);
                config.key_location = Some(src.location(&value.span()));
            }
            "public_key" => {
                if let Some(text) = raw::string(src, diags, value, "`signing.public_key`") {
                    if text.is_empty() || text.contains("-----BEGIN") {
                        src.redact(&value.span());
                        diags.push(src.diag(
                            "invalid-signing-key",
                            "`signing.public_key` must be the path of a PEM public key file",
                            &value.span(),
                            "expected a path",
                        ).with_help("save the key as a file (e.g. cosign.pub) next to releases.toml and write its path"));
                    } else {
                        config.public_key = Some(base_dir.join(text));
                        config.public_key_location = Some(src.location(&value.span()));
                    }
                }
            }
            "formats" => {
                if let Some(names) = raw::string_array(src, diags, value, "`signing.formats`")
                    && let Some(formats) = signature_formats(src, diags, names, &value.span())
                {
                    config.formats = formats;
                }
            }
            _ => diags.push(raw::unknown_key(src, key, "`[signing]`", SIGNING_KEYS)),
        }
    }
    Some(config)
}

/// `signing.formats`: a non-empty list of known format names.
fn signature_formats(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    names: Vec<(&str, Range<usize>)>,
    span: &Range<usize>,
) -> Option<Vec<SignatureFormat>> {
    let valid: Vec<&str> = SignatureFormat::ALL.iter().map(|f| f.name()).collect();
    let mut out = Vec::new();
    let mut known = true;
    for (name, name_span) in names {
        match SignatureFormat::ALL.into_iter().find(|f| f.name() == name) {
            Some(format) if !out.contains(&format) => out.push(format),
            Some(_) => {}
            None => {
                known = false;
                diags.push(
                    src.diag(
                        "invalid-signature-format",
                        format!("{} is not a signature format", quoted(name)),
                        &name_span,
                        "unknown format",
                    )
                    .with_help(format!("formats are {}", valid.join(", "))),
                );
            }
        }
    }
    if known && out.is_empty() {
        diags.push(
            src.diag(
                "invalid-signature-format",
                "`signing.formats` is empty: releases would never count as signed",
                span,
                "name at least one format",
            )
            .with_help("write formats = [\"legacy\", \"bundle\"] (the default), [\"legacy\"] or [\"bundle\"]"),
        );
        return None;
    }
    out.sort();
    known.then_some(out)
}

fn signing_key(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    base_dir: &Path,
) -> Option<KeySource> {
    let text = raw::string(src, diags, value, "`signing.key`")?;
    // Never echo this value back: someone may have pasted the key itself.
    if text.contains("-----BEGIN") || text.contains('\n') {
        src.redact(&value.span());
        diags.push(
            src.diag(
                "invalid-signing-key",
                "`signing.key` holds key material instead of naming where the key is",
                &value.span(),
                "a secret must not be written in releases.toml",
            )
            .with_help("remove it from the file (and rotate the key: it is in git history now); write key = \"env:COSIGN_PRIVATE_KEY\" or a path"),
        );
        return None;
    }
    if let Some(name) = text.strip_prefix("env:") {
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            return Some(KeySource::Env(name.to_string()));
        }
        diags.push(
            src.diag(
                "invalid-signing-key",
                format!("{} is not an environment variable name", quoted(name)),
                &value.span(),
                "expected env:NAME",
            )
            .with_help("write key = \"env:COSIGN_PRIVATE_KEY\" (letters, digits and `_`)"),
        );
        return None;
    }
    if text.is_empty() {
        diags.push(
            src.diag(
                "invalid-signing-key",
                "`signing.key` is empty",
                &value.span(),
                "expected env:NAME or a path",
            )
            .with_help("write key = \"env:COSIGN_PRIVATE_KEY\" or the path of a cosign key file"),
        );
        return None;
    }
    Some(KeySource::Path(base_dir.join(text)))
}
