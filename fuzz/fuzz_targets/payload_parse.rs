//! cosign "simple signing" payloads as read from a signature layer in a
//! registry: parsing must return errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match quayside::signing::Payload::parse(data) {
        Ok(payload) => drop(format!("{payload:?}")),
        Err(error) => drop(error.to_string()),
    }
});
