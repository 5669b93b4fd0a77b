//! Writes quayside's shell completions and man pages, generated from the
//! command line's own definition, for the release archives:
//! `cargo run --example generate_docs -- OUTPUT_DIR` writes
//! `OUTPUT_DIR/complete/{quayside.bash,quayside.fish,_quayside,_quayside.ps1}`
//! and `OUTPUT_DIR/man/quayside.1` plus one page per command
//! (`quayside-plan.1`, …). An example rather than a subcommand, so the
//! generators stay out of the binary's (and the first plan's) build.

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use clap_complete::Shell;
use quayside::cli::Cli;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        bail!("usage: generate_docs OUTPUT_DIR");
    };
    generate(&PathBuf::from(out))
}

/// Completions into `out/complete`, man pages into `out/man` (also called by
/// the tests, which include this file as a module).
pub fn generate(out: &Path) -> Result<()> {
    completions(&out.join("complete"))?;
    man_pages(&out.join("man"))
}

fn completions(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for shell in [Shell::Bash, Shell::Fish, Shell::Zsh, Shell::PowerShell] {
        let mut command = Cli::command();
        clap_complete::generate_to(shell, &mut command, "quayside", dir)
            .with_context(|| format!("writing {shell} completions into {}", dir.display()))?;
    }
    Ok(())
}

/// `quayside.1`, then `quayside-<command>.1` for each command.
fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let command = Cli::command();
    write_page(dir, "quayside", command.clone())?;
    for sub in command.get_subcommands() {
        let name = format!("quayside-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .version(env!("CARGO_PKG_VERSION"))
            .bin_name(format!("quayside {}", sub.get_name()));
        write_page(dir, &name, page)?;
    }
    Ok(())
}

fn write_page(dir: &Path, name: &str, command: clap::Command) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .with_context(|| format!("rendering the man page {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))
}
