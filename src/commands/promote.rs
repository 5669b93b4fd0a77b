//! `quayside promote SERVICE TAG --from SOURCE`: adds `"TAG" = "<digest>"`
//! to the service's releases in releases.toml. SOURCE is a digest, a release
//! the service already declares (an rc becomes final on the same digest), or
//! a tag of the source repository, resolved to the digest the registry serves
//! for it. The new file is validated and the new line planned before it is
//! written; a line plan would refuse is shown and never written (exit 3).

use crate::cli::PromoteArgs;
use crate::commands::steps::{connector, make_plan, plan_key};
use crate::commands::write_stdout;
use crate::config::{self, model::Service};
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::plan::Criteria;
use crate::promote::holder::{self, Search};
use crate::promote::{edit, scope};
use crate::registry::manifest::ManifestKind;
use crate::registry::{Connector, ManifestRef};
use crate::render::plan::{self as render, Format};
use std::time::SystemTime;

pub async fn run(args: &PromoteArgs, concurrency: usize) -> Result<ExitStatus, Error> {
    let text = std::fs::read_to_string(&args.file).map_err(|source| Error::ReadFile {
        path: args.file.clone(),
        source,
    })?;
    let before = config::validate_file(&args.file)?;
    let Some(service) = before.services.iter().find(|s| s.name == args.service) else {
        return Err(Error::UnknownService {
            file: before.file.clone(),
            service: args.service.clone(),
            known: before.services.iter().map(|s| s.name.clone()).collect(),
        });
    };
    if let Some(existing) = service.releases.iter().find(|r| r.tag == args.tag) {
        write_stdout(&format!(
            "error[already-declared]: {} {}: {} already declares it at line {} (= {}); a release tag is written once and never moved\n",
            service.name, args.tag, before.file, existing.location.line, existing.digest
        ))?;
        return Ok(ExitStatus::Refused);
    }
    if let Err(problem) = config::tag::check_tag(&args.tag, &before.policy) {
        write_stdout(&format!(
            "error[invalid-tag]: {} {}: `{}` cannot be a production tag: {problem}; nothing was written\n",
            service.name, args.tag, args.tag
        ))?;
        return Ok(ExitStatus::Refused);
    }
    let connector = connector(concurrency);
    let (digest, origin) = resolve(&args.from, service, &connector).await?;
    let mut notes = vec![origin];
    notes.push(describe(&digest, args, service, &connector).await?);

    let after_text = edit::insert_release(&text, service, &args.tag, &digest)
        .map_err(|refusal| Error::Promote(format!("{}: {refusal}", before.file)))?;
    let after = config::validate_str(&after_text, &before.file, &before.base_dir)
        .map_err(|diagnostics| Error::Load(config::LoadError::Invalid(diagnostics)))?;
    edit::check_only_added(&before, &after, &service.name, &args.tag, &digest)
        .map_err(|refusal| Error::Promote(format!("{}: {refusal}", before.file)))?;

    let key = plan_key(&after)?;
    let criteria = Criteria {
        verifier: key.key.as_ref().map(|k| k as _),
        today: crate::scan::today_utc(SystemTime::now()),
        strict: false,
    };
    let scoped = scope::scoped_to(&after, &service.name, &args.tag);
    let plan = make_plan(&scoped, None, &connector, &criteria).await?.plan;
    let plan = scope::plan_of(plan, &service.name, &args.tag);
    let mut out = notes.join("\n");
    out.push('\n');
    if plan.is_refused() {
        out.push_str(&render::render(&plan, Format::Text));
        out.push_str(&format!("{} was not changed.\n", before.file));
        write_stdout(&out)?;
        return Ok(ExitStatus::Refused);
    }
    crate::fsutil::write_atomically(&args.file, after_text.as_bytes()).map_err(|source| {
        Error::WriteFile {
            path: args.file.clone(),
            source,
        }
    })?;
    out.push_str(&format!(
        "added to {}: \"{}\" = \"{digest}\" in [services.{}.releases]\n",
        before.file, args.tag, service.name
    ));
    out.push_str(&render::render(&plan, Format::Text));
    write_stdout(&out)?;
    Ok(ExitStatus::Success)
}

/// The digest `from` names, and a sentence saying how it was found.
async fn resolve(
    from: &str,
    service: &Service,
    connector: &Connector,
) -> Result<(Digest, String), Error> {
    if from.starts_with("sha256:") {
        let digest = Digest::parse(from).map_err(|error| {
            Error::Promote(format!("--from {from}: {error}; write sha256:<64 hex>"))
        })?;
        return Ok((digest.clone(), format!("from digest {digest}")));
    }
    if let Some(declared) = service.releases.iter().find(|r| r.tag == from) {
        return Ok((
            declared.digest.clone(),
            format!(
                "from {} {from} (line {}): {}",
                service.name, declared.location.line, declared.digest
            ),
        ));
    }
    let source = connector.open(&service.source);
    let manifest = source.get_manifest(ManifestRef::Tag(from)).await?;
    let Some(manifest) = manifest else {
        return Err(Error::Promote(format!(
            "{}: no tag `{from}` (and {} declares no release `{from}`); give a tag the source has, a declared release, or a digest",
            service.source.reference(),
            service.name
        )));
    };
    Ok((
        manifest.digest.clone(),
        format!(
            "from {}:{from}, which the registry serves as {}",
            service.source.reference(),
            manifest.digest
        ),
    ))
}

/// Says what `digest` is in the source: an index and its platforms, or a
/// single-platform manifest, with a warning when a tag of the source points
/// at an index that holds it (release the index instead); absent is left to
/// the plan (`source-missing`).
async fn describe(
    digest: &Digest,
    args: &PromoteArgs,
    service: &Service,
    connector: &Connector,
) -> Result<String, Error> {
    let source = connector.open(&service.source);
    let Some(manifest) = source.get_manifest(ManifestRef::Digest(digest)).await? else {
        return Ok(format!(
            "{} does not hold {digest}",
            service.source.reference()
        ));
    };
    let kind = manifest
        .kind()
        .map_err(|error| Error::Promote(error.to_string()))?;
    if let ManifestKind::Index { children } = kind {
        let platforms: Vec<String> = children
            .iter()
            .filter_map(|child| child.platform.as_ref())
            .filter(|p| p.os != "unknown")
            .map(|p| p.to_string())
            .collect();
        return Ok(format!("an index: {}", platforms.join(", ")));
    }
    let repository = service.source.reference();
    let from_tag = (!args.from.starts_with("sha256:")).then_some(args.from.as_str());
    Ok(
        match holder::find(source.as_ref(), digest, from_tag).await {
            Ok(Search {
                holder: Some(holder),
                ..
            }) => format!(
                "warning: a single-platform image manifest: {digest} is {} of index {}, which tag `{}` of {repository} points at; only that platform would be released. Release the index instead: `quayside promote {} {} --from {}`",
                match &holder.platform {
                    Some(platform) => format!("the {platform} manifest"),
                    None => "a platform's manifest".to_string(),
                },
                holder.index,
                holder.tag,
                service.name,
                args.tag,
                holder.index
            ),
            Ok(search) if search.searched < search.tags => format!(
                "a single-platform image manifest; no index among the {} tags of {repository} read (of {}) holds it",
                search.searched, search.tags
            ),
            Ok(_) => format!(
                "a single-platform image manifest; no tag of {repository} points at an index that holds it"
            ),
            Err(error) => format!(
                "a single-platform image manifest; could not look for an index of {repository} that holds it: {error}"
            ),
        },
    )
}
