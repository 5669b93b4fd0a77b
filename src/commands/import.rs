//! `quayside import`: adopts the releases already in the target. For each
//! service of releases.toml it lists the target repository's tags, resolves
//! every release-pattern tag the file does not declare to the digest the
//! registry serves, and adds them (in SemVer order) to the service's
//! releases with the same editing guarantees as `promote`: nothing else in
//! the file changes, and the result must read back as old + the new lines.
//! Tags outside the pattern are listed, not imported; cosign's `sha256-*`
//! tags are skipped. Signatures are not read here: the plan that follows
//! says `unchanged` for signed releases and `sign` for the others.
//!
//! The tag list may lag on Quay (its `tags/list` pages are cached for 120 s):
//! a tag pushed within the last two minutes may be missed; run import again.

use crate::cli::ImportArgs;
use crate::commands::steps::connector;
use crate::commands::write_stdout;
use crate::config::{self, model::Desired};
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::promote::edit;
use crate::registry::Connector;

/// What import found in one service's target.
struct Found {
    service: String,
    imported: Vec<(String, Digest)>,
    declared: usize,
    outside: Vec<String>,
}

pub async fn run(args: &ImportArgs, concurrency: usize) -> Result<ExitStatus, Error> {
    let mut text = std::fs::read_to_string(&args.file).map_err(|source| Error::ReadFile {
        path: args.file.clone(),
        source,
    })?;
    let original = config::validate_file(&args.file)?;
    let connector = connector(concurrency);
    let mut current = original.clone();
    let mut report = Vec::new();
    for index in 0..original.services.len() {
        let found = read_target(&current, index, &connector).await?;
        if !found.imported.is_empty() {
            let service = &current.services[index];
            let after_text = edit::insert_releases(&text, service, &found.imported);
            let after = config::validate_str(&after_text, &current.file, &current.base_dir)
                .map_err(|diagnostics| Error::Load(config::LoadError::Invalid(diagnostics)))?;
            edit::check_all_added(&current, &after, &found.service, &found.imported)
                .map_err(|refusal| Error::Promote(format!("{}: {refusal}", current.file)))?;
            text = after_text;
            current = after;
        }
        report.push(found);
    }
    let total: usize = report.iter().map(|f| f.imported.len()).sum();
    if total > 0 {
        crate::fsutil::write_atomically(&args.file, text.as_bytes()).map_err(|source| {
            Error::WriteFile {
                path: args.file.clone(),
                source,
            }
        })?;
    }
    write_stdout(&render(&original.file, &report, total))?;
    Ok(ExitStatus::Success)
}

/// Lists service `index`'s target tags and resolves the release tags the
/// file does not declare.
async fn read_target(
    desired: &Desired,
    index: usize,
    connector: &Connector,
) -> Result<Found, Error> {
    let service = &desired.services[index];
    let target = connector.open(&service.target);
    let mut releases = Vec::new();
    let mut outside = Vec::new();
    let mut declared = 0;
    for tag in target.list_tags().await? {
        if tag.starts_with("sha256-") {
            continue;
        }
        match config::tag::check_tag(&tag, &desired.policy) {
            Err(_) => outside.push(tag),
            Ok(_) if service.releases.iter().any(|r| r.tag == tag) => declared += 1,
            Ok(version) => releases.push((version, tag)),
        }
    }
    releases.sort();
    let mut imported = Vec::new();
    for (_, tag) in releases {
        // Gone since the list was read: nothing to adopt.
        if let Some(digest) = target.resolve_tag(&tag).await? {
            imported.push((tag, digest));
        }
    }
    outside.sort();
    Ok(Found {
        service: service.name.clone(),
        imported,
        declared,
        outside,
    })
}

fn render(file: &str, report: &[Found], total: usize) -> String {
    let mut out = String::new();
    for found in report {
        out.push_str(&format!(
            "{}: {} imported, {} already declared\n",
            found.service,
            found.imported.len(),
            found.declared
        ));
        for (tag, digest) in &found.imported {
            out.push_str(&format!("  + \"{tag}\" = \"{digest}\"\n"));
        }
        if !found.outside.is_empty() {
            out.push_str(&format!(
                "  not release tags (left in the target, not imported): {}\n",
                found.outside.join(", ")
            ));
        }
    }
    if total == 0 {
        out.push_str(&format!("{file} was not changed.\n"));
    } else {
        out.push_str(&format!(
            "{file}: {total} release line{} added; run `quayside plan` to see which need `sign`.\n",
            crate::render::plural(total)
        ));
    }
    out
}
