//! `quayside apply` through proxies that inject every fault kind of
//! `support::faults` (5xx, 429, resets, cut bodies, slow answers, wrong
//! bytes) into about 20 % of requests, on the source and on the target side,
//! while a watcher polls the target. Apply is rerun until it exits 0 (the
//! test counts the runs); then the target holds exactly the declared tags,
//! every one signed, and the watcher never saw a tag unsigned (in either of
//! the default formats), at a wrong digest, or outside the file.
//!
//! Source and target are one registry behind two proxies: two hosts, so
//! blobs are streamed through quayside (no cross-repository mount) and the
//! body faults reach blob reads too.

use crate::quayside::{Outcome, Quayside};
use crate::support::client::anonymous_connector;
use crate::support::faults::{FaultCounts, FaultKind, FaultPlan};
use crate::support::promotion::run_async;
use crate::support::proxy::Proxy;
use crate::support::registry::TestRegistry;
use crate::support::releases::{demo_public_key, scratch_dir};
use crate::support::seeded::{Release, push_images, write_file};
use crate::support::watcher::{Watched, Watcher, is_fallback_tag, is_signature_tag};
use quayside::config::model::SignatureFormat;
use quayside::digest::Digest;
use quayside::registry::Connector;
use std::sync::Arc;
use std::time::Instant;

/// Apply runs a faulty test may take before it counts as not converging.
const MAX_RUNS: usize = 12;

struct Faulty {
    registry: TestRegistry,
    source: Proxy,
    target: Proxy,
    dir: tempfile::TempDir,
    releases: Vec<Release>,
    connector: Arc<Connector>,
}

/// What a converged faulty promotion took.
struct Converged {
    runs: usize,
    faults: FaultCounts,
    requests: u64,
    polls: u64,
    tags_seen: u64,
}

impl Faulty {
    /// `services` x `per_service` two-platform images in `dev/`, declared
    /// for `prod/`; the proxies pass everything until `inject` is called.
    async fn start(services: usize, per_service: usize) -> Self {
        let registry = TestRegistry::start();
        let source = Proxy::start(&registry.host()).await;
        let target = Proxy::start(&registry.host()).await;
        let connector = Arc::new(anonymous_connector());
        let releases = push_images(&connector, &registry.host(), services, per_service).await;
        let dir = scratch_dir();
        write_file(dir.path(), &source.host(), &target.host(), &releases);
        Faulty {
            registry,
            source,
            target,
            dir,
            releases,
            connector,
        }
    }

    fn inject(&self, seed: u64, percent: u32) {
        self.source
            .set_faults(FaultPlan::spread(seed, percent, &FaultKind::ALL));
        self.target.set_faults(FaultPlan::spread(
            seed.rotate_left(17) ^ 0x7a26,
            percent,
            &FaultKind::ALL,
        ));
    }

    fn quiet(&self) {
        self.source.set_faults(FaultPlan::none());
        self.target.set_faults(FaultPlan::none());
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        run_async(
            Quayside::new(self.dir.path())
                .env_remove("COSIGN_PASSWORD")
                .env_remove("COSIGN_PRIVATE_KEY")
                .args(args),
        )
        .await
    }

    fn services(&self) -> Vec<(String, Vec<(String, Digest)>)> {
        let mut services: Vec<(String, Vec<(String, Digest)>)> = Vec::new();
        for release in &self.releases {
            let digest = Digest::parse(&release.digest).expect("a pushed digest");
            let entry = (release.tag.clone(), digest);
            match services
                .iter_mut()
                .find(|(name, _)| *name == release.service)
            {
                Some((_, releases)) => releases.push(entry),
                None => services.push((release.service.clone(), vec![entry])),
            }
        }
        services
    }

    fn watch(&self) -> Watcher {
        let watched = self
            .services()
            .into_iter()
            .map(|(service, releases)| Watched {
                repository: self.registry.location(&format!("prod/{service}")),
                identity: format!("{}/prod/{service}", self.target.host()),
                releases,
            })
            .collect();
        let key = demo_public_key(self.dir.path());
        // The default formats: legacy, and bundles in the fallback index.
        Watcher::start(
            self.connector.clone(),
            key,
            &SignatureFormat::DEFAULT,
            watched,
        )
    }

    /// Applies under faults until a run exits 0; then checks the result with
    /// the faults off.
    async fn converge(&self, seed: u64, percent: u32) -> Converged {
        let watcher = self.watch();
        self.inject(seed, percent);
        let requests_before = self.source.counts().total + self.target.counts().total;
        let mut runs = 0;
        loop {
            runs += 1;
            let apply = self.run(&["apply"]).await;
            if apply.code == 0 {
                break;
            }
            assert_eq!(apply.code, 1, "a faulty apply exits 0 or 1: {apply:?}");
            eprintln!(
                "run {runs} (seed {seed:#x}) failed:\n{}",
                apply.stderr.trim_end()
            );
            assert!(
                runs < MAX_RUNS,
                "apply did not converge in {MAX_RUNS} runs (seed {seed:#x}); last: {apply:?}"
            );
        }
        let mut faults = self.source.fault_counts();
        faults.add(&self.target.fault_counts());
        let requests = self.source.counts().total + self.target.counts().total - requests_before;
        self.quiet();
        let report = watcher.stop().await;
        assert!(
            report.violations.is_empty(),
            "seed {seed:#x}: {:#?}",
            report.violations
        );
        self.assert_exactly_declared().await;
        let verify = self.run(&["verify"]).await;
        assert_eq!(verify.code, 0, "seed {seed:#x}: {verify:?}");
        let plan = self.run(&["plan", "--detailed-exitcode"]).await;
        assert_eq!(plan.code, 0, "seed {seed:#x}: nothing left to do: {plan:?}");
        Converged {
            runs,
            faults,
            requests,
            polls: report.polls,
            tags_seen: report.tags_seen,
        }
    }

    /// Every declared tag at its digest, and no other tag than signatures
    /// (`.sig` tags and the bundles' fallback index tags).
    async fn assert_exactly_declared(&self) {
        for (service, releases) in self.services() {
            let repository = self
                .connector
                .open(&self.registry.location(&format!("prod/{service}")));
            let mut tags = repository.list_tags().await.expect("list prod tags");
            tags.retain(|tag| !is_signature_tag(tag) && !is_fallback_tag(tag));
            tags.sort();
            let mut declared: Vec<String> = releases.iter().map(|(tag, _)| tag.clone()).collect();
            declared.sort();
            assert_eq!(tags, declared, "prod/{service}");
            for (tag, digest) in releases {
                let found = repository.resolve_tag(&tag).await.expect("resolve a tag");
                assert_eq!(found.as_ref(), Some(&digest), "prod/{service}:{tag}");
            }
        }
    }
}

async fn faulty_promotion(seed: u64) -> Converged {
    let started = Instant::now();
    let faulty = Faulty::start(10, 2).await;
    let converged = faulty.converge(seed, 20).await;
    eprintln!(
        "faulty apply, seed {seed:#x}: {} runs, {} requests, {}; watcher: {} polls, {} tags seen; {:.1} s",
        converged.runs,
        converged.requests,
        converged.faults,
        converged.polls,
        converged.tags_seen,
        started.elapsed().as_secs_f64()
    );
    converged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_under_twenty_percent_faults_converges_to_exactly_the_declared_signed_state() {
    let converged = faulty_promotion(0x20).await;
    // Every kind was injected, at about the rate asked for.
    for kind in FaultKind::ALL {
        assert!(
            converged.faults.get(kind) > 0,
            "no {kind:?}: {}",
            converged.faults
        );
    }
    let share = converged.faults.total() * 100 / converged.requests.max(1);
    assert!((8..=30).contains(&share), "{share} % of requests faulted");
    assert!(converged.tags_seen > 0, "the watcher never saw a tag");
}

/// More seeds, for the figures: `cargo test --test all
/// apply_under_faults_with_many_seeds -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "five faulty promotions of 20 releases (about 3.5 minutes)"]
async fn apply_under_faults_with_many_seeds_converges() {
    let mut total = FaultCounts::default();
    let mut runs = Vec::new();
    for seed in [1u64, 2, 3, 4, 5] {
        let converged = faulty_promotion(seed).await;
        total.add(&converged.faults);
        runs.push(converged.runs);
    }
    eprintln!("all seeds: {total}; runs per seed {runs:?}");
}
