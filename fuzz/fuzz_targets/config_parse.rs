//! `releases.toml` text (any bytes) through both strictness levels of the
//! parser and the diagnostics renderer: nothing may panic, overflow the stack
//! or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // The CLI rejects non-UTF-8 before parsing; fuzz the text the parser sees.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = Path::new("fuzz");
    match quayside::config::parse_str(text, "fuzz.toml", base) {
        Ok(desired) => {
            // What `plan` renders for releases it refuses `invalid-tag`.
            for diagnostic in quayside::config::tag_diagnostics(&desired) {
                drop(quayside::config::render_one(&diagnostic, text));
            }
        }
        Err(diagnostics) => drop(diagnostics.to_string()),
    }
    if let Err(diagnostics) = quayside::config::validate_str(text, "fuzz.toml", base) {
        drop(diagnostics.to_string());
    }
});
