//! A promotion set-up on the real Quay, the way a team runs it: a source
//! organization (CI builds land there) and a target organization (releases),
//! repositories made through Quay's API, and credentials either per
//! organization (a read-only robot on the source, a write robot on the
//! target, `auths` keys scoped per namespace) or one account for both.

use crate::quayside::{Outcome, Quayside};
use crate::support::images::{TestImage, push, two_platform_image};
use crate::support::promotion::run_async;
use crate::support::proxy::Proxy;
use crate::support::real_quay::{ADMIN, ADMIN_PASSWORD, RealQuay, Robot, shared};
use crate::support::releases::{ServiceReleases, demo_public_key, releases_toml, scratch_dir};
use quayside::registry::{Connector, Repository};
use quayside::signing::PublicKey;
use std::path::PathBuf;
use std::sync::Arc;

/// Which account quayside uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// A read robot of the source organization and a write robot of the
    /// target one, each under an `auths` key scoped to its namespace: no one
    /// token may read the source and write the target, so blobs are streamed.
    RobotPerOrganization,
    /// One account (the admin, owner of both) under the host key: blobs are
    /// mounted across organizations.
    OneForBoth,
}

pub struct QuayPromotion {
    pub quay: &'static RealQuay,
    pub source_org: String,
    pub target_org: String,
    pub dir: tempfile::TempDir,
    docker_config: PathBuf,
    /// Straight to Quay as the admin (fixtures and checks).
    pub admin: Arc<Connector>,
    pub robots: Vec<Robot>,
}

impl QuayPromotion {
    /// `None` (said once) where the real Quay is not installed.
    pub async fn start(services: &[&str], credentials: Credentials) -> Option<Self> {
        let quay = shared()?;
        let source_org = quay.organization("dev").await;
        let target_org = quay.organization("prod").await;
        for service in services {
            quay.repository(&source_org, service).await;
            quay.repository(&target_org, service).await;
        }
        let dir = scratch_dir();
        let host = quay.host();
        let (auths, robots) = match credentials {
            Credentials::RobotPerOrganization => {
                let reader = quay.robot(&source_org, "reader").await;
                let writer = quay.robot(&target_org, "writer").await;
                for service in services {
                    quay.grant(&source_org, service, &reader, "read").await;
                    quay.grant(&target_org, service, &writer, "write").await;
                }
                let auths = vec![
                    (
                        format!("{host}/{source_org}"),
                        reader.name.clone(),
                        reader.token.clone(),
                    ),
                    (
                        format!("{host}/{target_org}"),
                        writer.name.clone(),
                        writer.token.clone(),
                    ),
                ];
                (auths, vec![reader, writer])
            }
            Credentials::OneForBoth => (
                vec![(host, ADMIN.to_string(), ADMIN_PASSWORD.to_string())],
                Vec::new(),
            ),
        };
        let docker_config = quay.docker_config(dir.path(), &auths);
        Some(QuayPromotion {
            admin: quay.admin_connector(),
            quay,
            source_org,
            target_org,
            dir,
            docker_config,
            robots,
        })
    }

    pub fn source(&self, service: &str) -> Arc<dyn Repository> {
        self.admin.open(
            &self
                .quay
                .location(&format!("{}/{service}", self.source_org)),
        )
    }

    pub fn target(&self, service: &str) -> Arc<dyn Repository> {
        self.admin.open(
            &self
                .quay
                .location(&format!("{}/{service}", self.target_org)),
        )
    }

    /// The `docker-reference` apply signs for a target service.
    pub fn identity(&self, service: &str) -> String {
        format!("{}/{}/{service}", self.quay.host(), self.target_org)
    }

    pub fn demo_public_key(&self) -> PublicKey {
        demo_public_key(self.dir.path())
    }

    /// Pushes a two-platform image into the source repository, tagged `dev`.
    pub async fn push_two_platform(&self, service: &str, seed: &str) -> TestImage {
        let image = two_platform_image(seed);
        push(self.source(service).as_ref(), &image, Some("dev")).await;
        image
    }

    /// Writes `releases.toml`: source and target organizations on Quay over
    /// plain HTTP, the demo key, scanning off (the gate has its own tests).
    pub fn write_releases(&self, services: &[ServiceReleases]) -> PathBuf {
        self.write_releases_at(
            "releases.toml",
            &self.quay.host(),
            &self.target_org,
            services,
        )
    }

    /// One account for both organizations, a two-platform `gateway` image
    /// pushed from `seed`, and `releases.toml` declaring it `v1.0.0` with
    /// `signing.formats = <formats>` (a TOML array). `None` (said once) where
    /// the real Quay is not installed.
    pub async fn one_release(seed: &str, formats: &str) -> Option<(Self, TestImage)> {
        let promotion = QuayPromotion::start(&["gateway"], Credentials::OneForBoth).await?;
        let image = promotion.push_two_platform("gateway", seed).await;
        let file = promotion.write_releases(&[ServiceReleases::new(
            "gateway",
            &[("v1.0.0", image.digest())],
        )]);
        require_formats(&file, formats);
        Some((promotion, image))
    }

    /// As [`Self::write_releases`], into the scratch folder's `file`, with
    /// both registries at `host` (e.g. a test proxy in front of Quay) and the
    /// target organization `target_org`.
    pub fn write_releases_at(
        &self,
        file: &str,
        host: &str,
        target_org: &str,
        services: &[ServiceReleases],
    ) -> PathBuf {
        let text = releases_toml(
            &format!("http://{host}/{}", self.source_org),
            &format!("http://{host}/{target_org}"),
            &ServiceReleases::declared(services),
        );
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).expect("write releases.toml");
        path
    }

    /// Replaces the credentials with the admin's (as [`Credentials::OneForBoth`])
    /// under each of `hosts` only: the hosts quayside is pointed at when test
    /// proxies stand in front of Quay.
    pub fn admin_credentials_for(&mut self, hosts: &[String]) {
        let auths: Vec<_> = hosts
            .iter()
            .map(|host| (host.clone(), ADMIN.to_string(), ADMIN_PASSWORD.to_string()))
            .collect();
        self.docker_config = self.quay.docker_config(self.dir.path(), &auths);
    }

    /// As [`Self::start`] with one account for both organizations, behind
    /// a counting proxy that also carries the token requests
    /// ([`Proxy::route_token_realm`]): `releases.toml` written with
    /// [`Self::write_releases_at`] and the proxy's host sends every request
    /// of quayside's through it.
    pub async fn behind_counting_proxy(services: &[&str]) -> Option<(Self, Proxy)> {
        let mut quay = Self::start(services, Credentials::OneForBoth).await?;
        let proxy = Proxy::start(&quay.quay.host()).await;
        proxy.route_token_realm();
        quay.admin_credentials_for(&[proxy.host()]);
        Some((quay, proxy))
    }

    /// The CLI in the scratch folder, with this set-up's credentials only.
    pub fn quayside(&self) -> Quayside {
        Quayside::new(self.dir.path())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("COSIGN_PASSWORD")
            .env_remove("COSIGN_PRIVATE_KEY")
            .env_remove("QUAY_API_TOKEN")
    }

    pub async fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        run_async(self.quayside().args(args)).await
    }

    /// `quayside <args>` with the admin's `QUAY_API_TOKEN` (Quay's REST API).
    pub async fn run_with_api_token(&self, args: &[&str]) -> Outcome {
        run_async(
            self.quayside()
                .env("QUAY_API_TOKEN", self.quay.admin_token())
                .args(args),
        )
        .await
    }

    /// Every active tag of the target organization's `service` from the REST
    /// API: `(name, digest, start_ts, immutable)`.
    pub async fn target_tags(&self, service: &str) -> Vec<(String, String, i64, bool)> {
        self.quay.rest_tags(&self.target_org, service).await
    }
}

/// Sets `signing.formats = <formats>` (a TOML array) in a `releases.toml`
/// written by [`QuayPromotion::write_releases`] or `write_releases_at`.
pub fn require_formats(file: &std::path::Path, formats: &str) {
    let text = std::fs::read_to_string(file).expect("read releases.toml");
    let signing = format!("[signing]\nformats = {formats}\n");
    std::fs::write(file, text.replacen("[signing]\n", &signing, 1)).expect("write releases.toml");
}
