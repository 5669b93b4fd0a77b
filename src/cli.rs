//! Command-line arguments. Parsing only; the commands live in `commands`.

use crate::registry::distribution::DEFAULT_CONCURRENCY_PER_HOST;
use crate::render::plan::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "quayside",
    version,
    about = "Release container images declaratively: releases.toml says which digest each release tag points at; plan shows the difference, apply copies, signs, then tags."
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check releases.toml offline; report every problem with its location.
    Validate {
        /// The desired-state file.
        #[arg(short = 'f', long = "file", default_value = "releases.toml")]
        file: PathBuf,
    },
    /// Read the live registries and show what apply would do.
    Plan(PlanArgs),
    /// Make the registries match the file: copy by digest, sign, then tag.
    Apply(ApplyArgs),
    /// Audit every declared release: exists, right digest, validly signed.
    Verify(VerifyArgs),
    /// Add a release line to releases.toml from a source tag, a digest or a declared rc.
    Promote(PromoteArgs),
    /// Add the release tags already in each service's target to releases.toml.
    Import(ImportArgs),
    /// Write a cosign-compatible key pair: encrypted <prefix>.key, <prefix>.pub.
    ///
    /// The password comes from COSIGN_PASSWORD, else it is typed twice on the
    /// terminal; without either nothing is written. Existing files are never
    /// overwritten.
    GenerateKeyPair {
        /// Path and name of the files, without `.key` / `.pub`.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_key_prefix: PathBuf,
    },
}

/// How hard the commands that talk to registries may push them.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// Requests in flight per registry host (at least 1).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY_PER_HOST, value_name = "N", value_parser = at_least_one)]
    pub concurrency: usize,
}

/// `--concurrency 0` would never send a request: refused while parsing.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (requests in flight per registry host)".to_string()),
        Ok(n) => Ok(n),
        Err(error) => Err(error.to_string()),
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The desired-state file.
    #[arg(short = 'f', long = "file", default_value = "releases.toml")]
    pub file: PathBuf,

    /// Also require, for every release, a valid signature in every format
    /// (legacy and bundle, whatever signing.formats says) and a valid
    /// provenance attestation of its promotion (written by apply when it
    /// created the tag).
    #[arg(long)]
    pub strict: bool,

    #[command(flatten)]
    pub requests: RequestArgs,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The desired-state file.
    #[arg(
        short = 'f',
        long = "file",
        default_value = "releases.toml",
        conflicts_with = "plan"
    )]
    pub file: PathBuf,

    /// A plan saved by `plan --out`: apply exactly it, refusing if the
    /// registries have changed since it was made.
    #[arg(value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,

    /// Refuse releases changed or removed since this git revision (every
    /// release is still checked: apply makes the registries match the file).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,

    /// Apply a releases.toml with uncommitted changes (the signatures then
    /// record a commit that does not hold them).
    #[arg(long)]
    pub allow_dirty: bool,

    #[command(flatten)]
    pub requests: RequestArgs,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The desired-state file.
    #[arg(short = 'f', long = "file", default_value = "releases.toml")]
    pub file: PathBuf,

    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Also write the plan as JSON to this file (for `apply PLAN.json`).
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,

    /// Exit 2 when the plan has changes (0 only when there is nothing to do).
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Refuse on any warning (unmanaged target tags, scanning disabled,
    /// unused waivers), under the warning's own code.
    #[arg(long)]
    pub strict: bool,

    /// Compare with releases.toml at this git revision (`origin/main`):
    /// refuse changed or removed releases, show the diff, and read the
    /// registries only for the releases the change adds.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,

    /// With --base: check every release, not only those the change adds.
    #[arg(long, requires = "base")]
    pub full: bool,

    #[command(flatten)]
    pub requests: RequestArgs,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The service (a `[services.<name>]` of the file).
    pub service: String,

    /// The release tag to add, e.g. v1.2.0.
    pub tag: String,

    /// What to release: a tag of the source repository (`dev`, a commit
    /// tag), a release the service declares (`v1.2.0-rc1`: same digest), or
    /// a digest (sha256:...).
    #[arg(long, value_name = "TAG|DIGEST")]
    pub from: String,

    /// The desired-state file, edited in place.
    #[arg(short = 'f', long = "file", default_value = "releases.toml")]
    pub file: PathBuf,

    #[command(flatten)]
    pub requests: RequestArgs,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The desired-state file, edited in place.
    #[arg(short = 'f', long = "file", default_value = "releases.toml")]
    pub file: PathBuf,

    #[command(flatten)]
    pub requests: RequestArgs,
}
