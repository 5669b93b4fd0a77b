//! Reads the vulnerability scans a plan needs, and only those: for each image
//! the plan would create (see `standing`) that the source has, when
//! `policy.vulnerability_source = "quay"`. The gate that judges
//! them is pure (`scan::gate`).

use crate::config::model::{Desired, VulnerabilitySource};
use crate::digest::Digest;
use crate::live::{LiveState, Standing, standing};
use crate::quay::QuayClient;
use crate::registry::Connector;
use crate::scan::quay::{QuayApi, ScanError};
use futures::{StreamExt, TryStreamExt, stream};
use secrecy::SecretString;
use std::sync::Arc;

/// Images scanned at once; each registry host also limits its own requests.
const IMAGES_IN_FLIGHT: usize = 16;

/// Fills `scans` of every service in `live` (read by `read_live_state`).
pub async fn read_scans(
    desired: &Desired,
    connector: &Connector,
    token: Option<&SecretString>,
    live: &mut LiveState,
) -> Result<(), ScanError> {
    if desired.policy.vulnerability_source != VulnerabilitySource::Quay {
        return Ok(());
    }
    let api = QuayApi {
        quay: QuayClient::new(
            connector.distribution(),
            desired.policy.quay_api.as_deref(),
            token,
        ),
    };
    let mut wanted: Vec<(&str, Digest)> = Vec::new();
    for service in &desired.services {
        let Some(state) = live.services.get(&service.name) else {
            continue;
        };
        for release in &service.releases {
            // Only an image the source has can be scanned (and copied).
            let created = standing(release, state) == Standing::ToCreate
                && state.source_has.get(&release.digest) == Some(&true);
            let pair = (service.name.as_str(), release.digest.clone());
            if created && !wanted.contains(&pair) {
                wanted.push(pair);
            }
        }
    }
    let api = &api;
    let scans: Vec<(&str, Digest, _)> = stream::iter(wanted)
        .map(|(name, digest)| async move {
            // Every name in `wanted` comes from `desired.services`.
            let service = desired.services.iter().find(|s| s.name == name);
            let source = service.map(|service| connector.open(&service.source));
            let scan = match source {
                Some(source) => api.scan_image(Arc::as_ref(&source), &digest).await?,
                None => return Ok(None),
            };
            Ok::<_, ScanError>(Some((name, digest, scan)))
        })
        .buffer_unordered(IMAGES_IN_FLIGHT)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await?;
    for (name, digest, scan) in scans {
        if let Some(state) = live.services.get_mut(name) {
            state.scans.insert(digest, scan);
        }
    }
    Ok(())
}
