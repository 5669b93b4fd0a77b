//! Turns the spanned TOML tree into the checked [`Desired`] model, collecting
//! every problem (with its location) before failing.

use crate::config::diagnostic::{Diagnostic, Diagnostics, quoted};
use crate::config::model::{Desired, Policy, Service};
use crate::config::policy::{self, WaiverService};
use crate::config::raw::{self, Source, Value, entries, key_name};
use crate::config::services::{
    Setting, check_services, location, same_repository, source_is_target,
};
use crate::config::tag::release_diagnostics;
use std::path::Path;
use toml::de::DeValue;

const TOP_KEYS: &[&str] = &["version", "registries", "policy", "signing", "services"];
const REGISTRY_KEYS: &[&str] = &["source", "target"];

/// Whether invalid release tags are errors (`quayside validate`) or are kept
/// in the model for the planner to refuse (`plan`, `apply`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tags {
    Keep,
    Report,
}

/// Checks `text` (the contents of `file`) into the desired state.
pub(crate) fn validate(
    text: &str,
    file: &str,
    base_dir: &Path,
    tags: Tags,
) -> Result<Desired, Diagnostics> {
    check(text, file, base_dir, tags).into_result()
}

/// Every problem of a file, and its model when the file is usable: when
/// the only problems are release tags outside the pattern (which `plan`
/// refuses one by one), so that `validate` can still check what the model
/// names (the key files).
pub struct Checked {
    pub desired: Option<Desired>,
    /// In file order; empty when the file is valid.
    pub problems: Diagnostics,
}

impl Checked {
    /// The model of a valid file, or every problem.
    pub fn into_result(self) -> Result<Desired, Diagnostics> {
        match self.desired {
            Some(desired) if self.problems.items.is_empty() => Ok(desired),
            _ => Err(self.problems),
        }
    }
}

pub(crate) fn check(text: &str, file: &str, base_dir: &Path, tags: Tags) -> Checked {
    let src = Source::new(file, text);
    let (root, mut diags) = match raw::parse(text, &src) {
        Ok(parsed) => parsed,
        Err(items) => {
            return Checked {
                desired: None,
                problems: rejected(&src, items),
            };
        }
    };

    let mut version = None;
    let mut registries = (Setting::Absent, Setting::Absent);
    let mut policy = (Policy::default(), Vec::new());
    let mut signing = None;
    let mut services_value = None;
    for (key, value) in entries(&root) {
        match key_name(key) {
            "version" => version = Some(value),
            "registries" => registries = check_registries(&src, &mut diags, value, base_dir),
            "policy" => policy = policy::check_policy(&src, &mut diags, value),
            "signing" => signing = policy::check_signing(&src, &mut diags, value, base_dir),
            "services" => services_value = Some(value),
            _ => diags.push(raw::unknown_key(&src, key, "the top level", TOP_KEYS)),
        }
    }
    check_version(&src, &mut diags, version);
    let (policy, waiver_services) = policy;
    let services = match services_value {
        Some(value) => check_services(&src, &mut diags, value, &registries, &policy, base_dir),
        None => Vec::new(),
    };
    check_waiver_services(&src, &mut diags, &waiver_services, &services);
    let usable = diags.is_empty();
    if tags == Tags::Report {
        diags.extend(release_diagnostics(&services, &policy));
    }
    // Report in file order, whatever order the checks ran in.
    diags.sort_by_key(|d| (d.location.line, d.location.column));
    Checked {
        desired: usable.then(|| Desired {
            file: file.to_string(),
            base_dir: base_dir.to_path_buf(),
            policy,
            signing,
            services,
        }),
        problems: rejected(&src, diags),
    }
}

fn rejected(src: &Source<'_>, items: Vec<Diagnostic>) -> Diagnostics {
    Diagnostics {
        file: src.file.to_string(),
        source: src.redacted_text(),
        items,
    }
}

fn check_version(src: &Source<'_>, diags: &mut Vec<Diagnostic>, version: Option<&Value<'_>>) {
    let Some(value) = version else {
        diags.push(
            src.diag(
                "missing-version",
                "the file has no `version`",
                &(0..0),
                "`version = 1` is required",
            )
            .with_width(1)
            .with_help("add `version = 1` as the first line (the schema version of releases.toml)"),
        );
        return;
    };
    match value.get_ref() {
        DeValue::Integer(n) if i64::from_str_radix(n.as_str(), n.radix()) == Ok(1) => {}
        DeValue::Integer(n) => diags.push(
            src.diag(
                "unsupported-version",
                format!("schema version {} is not supported", quoted(&n.to_string())),
                &value.span(),
                "expected 1",
            )
            .with_help("this quayside reads `version = 1`; upgrade quayside or rewrite the file for version 1"),
        ),
        _ => diags.push(raw::wrong_type(src, value, "`version`", "an integer").with_help("write `version = 1`")),
    }
}

fn check_registries(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    value: &Value<'_>,
    base_dir: &Path,
) -> (Setting, Setting) {
    let mut out = (Setting::Absent, Setting::Absent);
    let Some(table) = raw::table(src, diags, value, "`registries`") else {
        return (Setting::Invalid, Setting::Invalid);
    };
    for (key, value) in entries(table) {
        match key_name(key) {
            "source" => out.0 = location(src, diags, value, "`registries.source`", base_dir),
            "target" => out.1 = location(src, diags, value, "`registries.target`", base_dir),
            _ => diags.push(raw::unknown_key(src, key, "`[registries]`", REGISTRY_KEYS)),
        }
    }
    if let (Setting::Valid(source, _), Setting::Valid(target, span)) = (&out.0, &out.1)
        && same_repository(source, target)
    {
        diags.push(source_is_target(src, "`[registries]`", target, span));
    }
    out
}

fn check_waiver_services(
    src: &Source<'_>,
    diags: &mut Vec<Diagnostic>,
    waivers: &[WaiverService],
    services: &[Service],
) {
    for waiver in waivers {
        if !services.iter().any(|s| s.name == waiver.name) {
            let declared: Vec<String> = services.iter().map(|s| format!("`{}`", s.name)).collect();
            let help = if declared.is_empty() {
                "no services are declared; remove `service` to waive for every service".to_string()
            } else {
                format!(
                    "declared services: {}; remove `service` to waive for all",
                    declared.join(", ")
                )
            };
            diags.push(
                src.diag(
                    "unknown-service",
                    format!(
                        "the waiver names service {}, which is not declared",
                        quoted(&waiver.name)
                    ),
                    &waiver.span,
                    "no such service",
                )
                .with_help(help),
            );
        }
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
