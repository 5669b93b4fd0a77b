//! Logs go to stderr, quiet by default; `-v` and `-vv` raise the level and
//! `QUAYSIDE_LOG` (comma-separated `target=level` directives or a bare level,
//! e.g. `quayside=debug,reqwest=trace`) overrides it. Colour only on a
//! terminal.

use std::io::IsTerminal;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "quayside=info",
        _ => "quayside=debug",
    };
    // `Targets` takes the directives users write without pulling in a regex
    // engine (EnvFilter's span and field filters, which quayside never needed).
    let filter = std::env::var("QUAYSIDE_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| default.parse().expect("the built-in directives parse"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
