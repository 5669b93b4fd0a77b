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
//! On Quay the tags and their digests come from its REST tag API
//! (`quay::tags`, with `QUAY_API_TOKEN` when set): fresh, where
//! `/v2/…/tags/list` pages are cached for 120 s, and one request per 100
//! tags instead of one per tag. A registry without that API (HTTP 404: CNCF
//! distribution) and `oci:` layouts are read through their tag list; when
//! Quay's API refuses, import says so and reads the tag list, which may miss
//! a tag pushed within the last two minutes.

use crate::cli::ImportArgs;
use crate::commands::steps::connector;
use crate::commands::{write_stderr_line, write_stdout};
use crate::config::location::RepositoryLocation;
use crate::config::{self, model::Desired};
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::live::policies::quay_repository;
use crate::promote::edit;
use crate::quay::QuayClient;
use crate::quay::tags::TagListError;
use crate::registry::{Connector, Repository};

/// What import found in one service's target.
struct Found {
    service: String,
    imported: Vec<(String, Digest)>,
    declared: usize,
    outside: Vec<String>,
    /// Read through Quay's REST tag API rather than the tag list.
    from_quay_api: bool,
}

pub async fn run(args: &ImportArgs, concurrency: usize) -> Result<ExitStatus, Error> {
    let mut text = std::fs::read_to_string(&args.file).map_err(|source| Error::ReadFile {
        path: args.file.clone(),
        source,
    })?;
    let original = config::validate_file(&args.file)?;
    let connector = connector(concurrency);
    let token = crate::quay::token_from_env();
    let quay = QuayClient::new(
        connector.distribution(),
        original.policy.quay_api.as_deref(),
        token.as_ref(),
    );
    let mut current = original.clone();
    let mut report = Vec::new();
    for index in 0..original.services.len() {
        let found = read_target(&current, index, &connector, &quay).await?;
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
    quay: &QuayClient<'_>,
) -> Result<Found, Error> {
    let service = &desired.services[index];
    let target = connector.open(&service.target);
    let (listed, from_quay_api) = list_target(&service.target, target.as_ref(), quay).await?;
    let mut releases = Vec::new();
    let mut outside = Vec::new();
    let mut declared = 0;
    for (tag, digest) in listed {
        if tag.starts_with("sha256-") {
            continue;
        }
        match config::tag::check_tag(&tag, &desired.policy) {
            Err(_) => outside.push(tag),
            Ok(_) if service.releases.iter().any(|r| r.tag == tag) => declared += 1,
            Ok(version) => releases.push((version, tag, digest)),
        }
    }
    releases.sort();
    let mut imported = Vec::new();
    for (_, tag, digest) in releases {
        let digest = match digest {
            Some(digest) => Some(digest),
            None => target.resolve_tag(&tag).await?,
        };
        // Gone since the list was read: nothing to adopt.
        if let Some(digest) = digest {
            imported.push((tag, digest));
        }
    }
    outside.sort();
    Ok(Found {
        service: service.name.clone(),
        imported,
        declared,
        outside,
        from_quay_api,
    })
}

/// The target's tags, with their digests where Quay's REST tag API gives
/// them (`true`); else the registry's tag list, digests to be resolved.
async fn list_target(
    location: &RepositoryLocation,
    target: &dyn Repository,
    quay: &QuayClient<'_>,
) -> Result<(Vec<(String, Option<Digest>)>, bool), Error> {
    if let Some(repository) = quay_repository(quay, location) {
        let problem = match quay
            .active_tags(&repository, "listing tags to import")
            .await
        {
            Ok(tags) => {
                let tags = tags.into_iter().map(|t| (t.name, t.digest)).collect();
                return Ok((tags, true));
            }
            // No such API (not Quay) or no such repository: the tag list
            // answers for both.
            Err(TagListError::Http(answer)) if answer.status == 404 => None,
            Err(TagListError::Http(answer)) if matches!(answer.status, 401 | 403) => Some(format!(
                "HTTP {} ({}; set QUAY_API_TOKEN to a token that may read it)",
                answer.status,
                if quay.has_token() {
                    "the token in QUAY_API_TOKEN was refused"
                } else {
                    "QUAY_API_TOKEN is not set"
                }
            )),
            Err(TagListError::Http(answer)) => Some(format!("HTTP {}", answer.status)),
            Err(TagListError::Invalid(error)) => {
                Some(format!("the answer is not Quay's tag page ({error})"))
            }
            Err(TagListError::TooManyPages) => Some(format!(
                "more than {} pages of 100 tags",
                crate::quay::tags::MAX_PAGES
            )),
            Err(TagListError::Registry(error)) => Some(error.to_string()),
        };
        if let Some(problem) = problem {
            write_stderr_line(&format!(
                "note: {}: Quay's tag API ({}/api/v1/repository/{}/tag/) answered {problem}; reading the registry's tag list instead, which Quay caches for 120 s: a tag pushed in the last two minutes may be missing (run import again later)",
                repository.registry, repository.api, repository.name
            ));
        }
    }
    let tags = target.list_tags().await?;
    Ok((tags.into_iter().map(|t| (t, None)).collect(), false))
}

fn render(file: &str, report: &[Found], total: usize) -> String {
    let mut out = String::new();
    for found in report {
        out.push_str(&format!(
            "{}: {} imported, {} already declared{}\n",
            found.service,
            found.imported.len(),
            found.declared,
            if found.from_quay_api {
                " (tags from Quay's tag API)"
            } else {
                ""
            }
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
