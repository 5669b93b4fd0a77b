//! Manifest bytes as a registry or a layout might serve them, with each media
//! type a registry might claim: parsing and classifying must return errors,
//! never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use quayside::registry::RawManifest;

const MEDIA_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json"),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the claimed media type; the rest is the body.
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let media_type = MEDIA_TYPES[usize::from(pick) % MEDIA_TYPES.len()];
    if let Ok(manifest) = RawManifest::from_bytes(Bytes::copy_from_slice(body), media_type) {
        match manifest.kind() {
            Ok(kind) => drop(format!("{kind:?}")),
            Err(error) => drop(error.to_string()),
        }
    }
});
