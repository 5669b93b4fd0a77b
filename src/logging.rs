//! Logs go to stderr, quiet by default; `-v` and `-vv` raise the level and
//! `QUAYSIDE_LOG` (an `EnvFilter` directive) overrides it.

use tracing_subscriber::EnvFilter;

pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "quayside=info",
        _ => "quayside=debug",
    };
    let filter =
        EnvFilter::try_from_env("QUAYSIDE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
