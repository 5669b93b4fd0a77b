//! Generates the seeded synthetic workload of `bench/run.sh`: S services x V
//! versions, each a 2-platform image index, as one OCI layout per service
//! (tags `build-<v>`), plus `workload.tsv` (service, dev tag, release tag,
//! index digest) for the script.
//!
//! Layers: one base layer shared by every image, one per service (shared by
//! its versions and platforms), one per version and platform, and optionally
//! one big layer (`--big-layer-mib`) in an extra service `big` for the memory
//! scenario. Each layer is a gzip-compressed tar of one file of seeded random
//! bytes, so it is incompressible like a real binary layer and gzip only
//! frames it. Layers are written to disk as they are generated, never held
//! in memory, so a 512 MiB layer costs no more memory than a 1 MiB one.
//!
//! `cargo run --release --example bench_workload -- OUT [--services 10]
//! [--versions 2] [--base-mib 8] [--layer-mib 1] [--big-layer-mib 0] [--seed 7]`

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flate2::{Compression, GzBuilder};
use futures::StreamExt;
use quayside::config::location::RepositoryLocation;
use quayside::digest::Digest;
use quayside::digest::Hasher;
use quayside::registry::layout::LayoutRepository;
use quayside::registry::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use quayside::registry::{BlobReader, RawManifest, RegistryError, Repository};
use rand::{RngCore, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const PLATFORMS: [&str; 2] = ["amd64", "arm64"];
const MIB: u64 = 1024 * 1024;

struct Options {
    out: PathBuf,
    services: usize,
    versions: usize,
    base_mib: u64,
    layer_mib: u64,
    big_layer_mib: u64,
    seed: u64,
}

/// A layer written to a file of the scratch directory, not yet in a layout.
#[derive(Clone)]
struct Layer {
    path: PathBuf,
    digest: Digest,
    size: u64,
    diff_id: Digest,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let options = parse_args()?;
    let layouts = options.out.join("layout");
    let scratch = options.out.join("scratch");
    for dir in [&layouts, &scratch] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let root = RepositoryLocation::parse("oci:layout", &options.out)?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let base = write_layer(&scratch, "base", options.base_mib * MIB, &mut rng)?;
    let mut rows = String::new();
    for s in 0..options.services {
        let service = format!("svc{s:02}");
        let own = write_layer(&scratch, &service, options.layer_mib * MIB, &mut rng)?;
        let repository = LayoutRepository::new(root.child(&service));
        for v in 0..options.versions {
            let mut platform_layers = Vec::new();
            for arch in PLATFORMS {
                let name = format!("{service}-{v}-{arch}");
                let layer = write_layer(&scratch, &name, options.layer_mib * MIB, &mut rng)?;
                platform_layers.push(vec![base.clone(), own.clone(), layer]);
            }
            let index = write_image(&repository, &service, v, &platform_layers).await?;
            let dev_tag = format!("build-{v}");
            repository.put_manifest(&index, Some(&dev_tag)).await?;
            rows.push_str(&format!(
                "{service}\t{dev_tag}\tv1.0.{v}\t{}\n",
                index.digest
            ));
        }
    }
    if options.big_layer_mib > 0 {
        let big = write_layer(&scratch, "big", options.big_layer_mib * MIB, &mut rng)?;
        let repository = LayoutRepository::new(root.child("big"));
        let layers = vec![vec![big.clone()], vec![big]];
        let index = write_image(&repository, "big", 0, &layers).await?;
        repository.put_manifest(&index, Some("build-0")).await?;
        rows.push_str(&format!("big\tbuild-0\tv1.0.0\t{}\n", index.digest));
    }
    std::fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    let table = options.out.join("workload.tsv");
    std::fs::write(&table, rows).with_context(|| format!("writing {}", table.display()))?;
    eprintln!("workload written to {}", options.out.display());
    Ok(())
}

fn parse_args() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        out: PathBuf::new(),
        services: 10,
        versions: 2,
        base_mib: 8,
        layer_mib: 1,
        big_layer_mib: 0,
        seed: 7,
    };
    let mut out = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64> {
            let text = args
                .next()
                .with_context(|| format!("{name} needs a number"))?;
            text.parse()
                .with_context(|| format!("{name} {text}: not a number"))
        };
        match arg.as_str() {
            "--services" => options.services = value(&arg)? as usize,
            "--versions" => options.versions = value(&arg)? as usize,
            "--base-mib" => options.base_mib = value(&arg)?,
            "--layer-mib" => options.layer_mib = value(&arg)?,
            "--big-layer-mib" => options.big_layer_mib = value(&arg)?,
            "--seed" => options.seed = value(&arg)?,
            flag if flag.starts_with("--") => bail!(
                "unknown option {flag}; known: --services --versions --base-mib --layer-mib --big-layer-mib --seed"
            ),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => bail!("one output directory only (got {arg} too)"),
        }
    }
    options.out = out.context("usage: bench_workload OUT_DIR [options]")?;
    Ok(options)
}

/// Seeded random bytes, `remaining` of them.
struct RandomBytes<'a> {
    rng: &'a mut StdRng,
    remaining: u64,
}

impl Read for RandomBytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        self.rng.fill_bytes(&mut buf[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Hasher,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn digest_of(hash: Hasher) -> Result<Digest> {
    Ok(Digest::of_hasher(hash))
}

/// Streams tar(one file of `size` random bytes) through gzip into a file,
/// hashing both the tar (diff id) and the gzip stream (blob digest).
fn write_layer(scratch: &Path, name: &str, size: u64, rng: &mut StdRng) -> Result<Layer> {
    let path = scratch.join(format!("{name}.tar.gz"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let compressed = Hashing {
        inner: std::io::BufWriter::new(file),
        hash: Hasher::new(),
        size: 0,
    };
    // Level 1: the content is random, so gzip only frames it; a higher level
    // would spend minutes on a 512 MiB layer for nothing.
    let gzip = GzBuilder::new()
        .mtime(0)
        .write(compressed, Compression::fast());
    let plain = Hashing {
        inner: gzip,
        hash: Hasher::new(),
        size: 0,
    };
    let mut builder = tar::Builder::new(plain);
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    builder.append_data(
        &mut header,
        format!("opt/{name}.bin"),
        RandomBytes {
            rng,
            remaining: size,
        },
    )?;
    let plain = builder.into_inner()?;
    let diff_id = digest_of(plain.hash)?;
    let mut compressed = plain.inner.finish()?;
    compressed.flush()?;
    Ok(Layer {
        path,
        digest: digest_of(compressed.hash)?,
        size: compressed.size,
        diff_id,
    })
}

/// Puts the layers, configs and platform manifests, then the index (untagged).
async fn write_image(
    repository: &LayoutRepository,
    service: &str,
    version: usize,
    platform_layers: &[Vec<Layer>],
) -> Result<RawManifest> {
    let mut children = Vec::new();
    for (arch, layers) in PLATFORMS.iter().zip(platform_layers) {
        for layer in layers {
            if !repository.blob_exists(&layer.digest).await? {
                let file = tokio::fs::File::open(&layer.path)
                    .await
                    .with_context(|| format!("opening {}", layer.path.display()))?;
                let blob = file_blob(file, layer.size);
                repository.put_blob(&layer.digest, blob).await?;
            }
        }
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Labels": {"org.opencontainers.image.title": service,
                                  "org.opencontainers.image.version": format!("1.0.{version}")}},
            "rootfs": {"type": "layers",
                       "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>()},
        }))?;
        let config_digest = Digest::of_bytes(&config);
        repository
            .put_blob(
                &config_digest,
                BlobReader::from_bytes(Bytes::from(config.clone())),
            )
            .await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest.as_str(), "size": config.len()},
            "layers": layers.iter().map(|l| json!({
                "mediaType": LAYER_GZIP, "digest": l.digest.as_str(), "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let manifest = to_manifest(&manifest)?;
        repository.put_manifest(&manifest, None).await?;
        children.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest.digest.as_str(),
            "size": manifest.bytes.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = to_manifest(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children,
    }))?;
    repository.put_manifest(&index, None).await?;
    Ok(index)
}

fn to_manifest(value: &Value) -> Result<RawManifest> {
    Ok(RawManifest::from_bytes(
        Bytes::from(serde_json::to_vec(value)?),
        None,
    )?)
}

/// Streams a generated layer file (never held in memory).
// The error type is the library's; its size is not this example's concern.
#[allow(clippy::result_large_err)]
fn file_blob(file: tokio::fs::File, size: u64) -> BlobReader {
    let stream = tokio_util::io::ReaderStream::new(file).map(|chunk| {
        chunk.map_err(|source| RegistryError::Io {
            repository: "bench workload".into(),
            operation: "reading".into(),
            path: "a generated layer".into(),
            source,
        })
    });
    BlobReader {
        size: Some(size),
        stream: stream.boxed(),
    }
}
