//! Logs go to stderr, quiet by default; `-v` and `-vv` raise the level and
//! `QUAYSIDE_LOG` (comma-separated `target=level` directives or a bare level,
//! e.g. `quayside=debug,reqwest=trace`) overrides it. Colour only on a
//! terminal.
//!
//! A small `tracing` subscriber of its own: events become one line each
//! (`2026-12-01T14:03:07.512Z  INFO message key=value`); spans are not
//! recorded (quayside opens none; its dependencies' spans only add context).
//! tracing-subscriber would cost four crates and seconds of every clean build.

use std::fmt::{self, Write as _};
use std::io::{IsTerminal, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "quayside=info",
        _ => "quayside=debug",
    };
    let filter = std::env::var("QUAYSIDE_LOG")
        .ok()
        .and_then(|directives| Filter::parse(&directives))
        .or_else(|| Filter::parse(default))
        .unwrap_or_default();
    let log = StderrLog {
        filter,
        colour: std::io::stderr().is_terminal(),
    };
    // Fails only when a subscriber is already set (tests): keep that one.
    let _ = tracing::subscriber::set_global_default(log);
}

/// Which events are shown: the most specific matching target directive
/// wins; a bare level applies to every other target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    /// `(target, most verbose level shown)`; `None` is `off`.
    targets: Vec<(String, Option<Level>)>,
    default: Option<Level>,
}

impl Filter {
    /// Directives as users write them; `None` if any is not understood.
    fn parse(directives: &str) -> Option<Filter> {
        let mut filter = Filter::default();
        for directive in directives
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            match directive.split_once('=') {
                Some((target, level)) => filter
                    .targets
                    .push((target.trim().to_string(), level_named(level.trim())?)),
                None => filter.default = level_named(directive)?,
            }
        }
        // Longest target first, so the first match is the most specific.
        filter
            .targets
            .sort_by_key(|(target, _)| std::cmp::Reverse(target.len()));
        Some(filter)
    }

    fn level_for(&self, target: &str) -> Option<Level> {
        self.targets
            .iter()
            .find(|(prefix, _)| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .map_or(self.default, |(_, level)| *level)
    }

    fn most_verbose(&self) -> Option<Level> {
        self.targets
            .iter()
            .map(|(_, level)| *level)
            .chain([self.default])
            .flatten()
            .max()
    }
}

/// `Some(None)` is `off`; `None` a name that is not a level.
fn level_named(name: &str) -> Option<Option<Level>> {
    match name.to_ascii_lowercase().as_str() {
        "off" => Some(None),
        "error" => Some(Some(Level::ERROR)),
        "warn" => Some(Some(Level::WARN)),
        "info" => Some(Some(Level::INFO)),
        "debug" => Some(Some(Level::DEBUG)),
        "trace" => Some(Some(Level::TRACE)),
        _ => None,
    }
}

struct StderrLog {
    filter: Filter,
    colour: bool,
}

impl Subscriber for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && self
                .filter
                .level_for(metadata.target())
                .is_some_and(|most| *metadata.level() <= most)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.filter.most_verbose().map_or(
            tracing::level_filters::LevelFilter::OFF,
            tracing::level_filters::LevelFilter::from_level,
        ))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called: `enabled` declines every span.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = format_line(
            SystemTime::now(),
            event.metadata().level(),
            self.colour,
            |v| event.record(v),
        );
        // A closed stderr loses the log line, never the run.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// One log line: UTC time, level, message, then `key=value` fields.
fn format_line(
    now: SystemTime,
    level: &Level,
    colour: bool,
    record: impl FnOnce(&mut Fields),
) -> String {
    let mut fields = Fields::default();
    record(&mut fields);
    let level_text = format!("{level:>5}");
    let level_text = match (colour, *level) {
        (false, _) => level_text,
        (true, Level::ERROR) => format!("\x1b[31m{level_text}\x1b[0m"),
        (true, Level::WARN) => format!("\x1b[33m{level_text}\x1b[0m"),
        (true, Level::INFO) => format!("\x1b[32m{level_text}\x1b[0m"),
        (true, _) => format!("\x1b[34m{level_text}\x1b[0m"),
    };
    format!(
        "{} {level_text} {}{}\n",
        timestamp(now),
        fields.message,
        fields.rest
    )
}

/// RFC 3339 UTC with milliseconds.
fn timestamp(now: SystemTime) -> String {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_millis());
    format!("{}.{millis:03}Z", crate::day::utc_seconds(now))
}

/// An event's message and its other fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_pick_the_most_specific_target() {
        let filter = Filter::parse("warn, quayside=debug ,quayside::registry=off").unwrap();
        assert_eq!(filter.level_for("quayside::plan"), Some(Level::DEBUG));
        assert_eq!(filter.level_for("quayside"), Some(Level::DEBUG));
        assert_eq!(filter.level_for("quayside::registry::transport"), None);
        assert_eq!(filter.level_for("quaysider"), Some(Level::WARN));
        assert_eq!(filter.level_for("h2::codec"), Some(Level::WARN));
        assert_eq!(filter.most_verbose(), Some(Level::DEBUG));
        assert_eq!(Filter::parse("quayside=loud"), None);
        assert_eq!(
            Filter::parse("quayside=info").unwrap().level_for("hyper"),
            None
        );
    }

    #[test]
    fn a_line_has_time_level_message_and_fields() {
        let now = UNIX_EPOCH + std::time::Duration::from_millis(1_796_083_200_000 + 3_723_456);
        let line = format_line(now, &Level::INFO, false, |fields| {
            fields.message.push_str("reading oci:prod/gateway");
            fields.rest.push_str(" tags=3");
        });
        assert_eq!(
            line,
            "2026-12-01T01:02:03.456Z  INFO reading oci:prod/gateway tags=3\n"
        );
        let coloured = format_line(now, &Level::WARN, true, |_| {});
        assert!(coloured.contains("\x1b[33m WARN\x1b[0m"), "{coloured:?}");
    }
}
