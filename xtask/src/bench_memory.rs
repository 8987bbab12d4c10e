//! `cargo xtask bench --workloads stream-memory`: peak memory of one epoch
//! of mini-batches over N and 10N images in raw IDX files, streamed from
//! disk and, for contrast, loaded into memory; and over N/10 and N PNG files
//! in an image folder, streamed. Each run is a child process that reports
//! its own peak RSS (`VmHWM`), so the runs do not share a high-water mark.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{idx, BatchConfig, FolderSource, IdxSource, Loader};
use rand::RngCore;
use serde_json::{json, Value};

/// Side of the synthetic square images.
const SIDE: usize = 28;
/// Peak RSS of the 10N stream over the N stream must stay below this.
const FLAT_RATIO: f64 = 1.2;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Loading {
    /// `forger_data::Loader` with workers over raw IDX files read by offset.
    Stream,
    /// The whole IDX file read into a `Dataset`, then batched.
    Memory,
    /// `forger_data::Loader` with workers over a folder of PNG files, decoded by the workers.
    Folder,
}

impl Loading {
    fn flag(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Memory => "memory",
            Self::Folder => "folder",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Memory => "in-memory",
            Self::Folder => "png folder",
        }
    }
}

/// One measured epoch, run in a child process.
#[derive(Args)]
pub struct ChildArgs {
    /// The IDX image file, or the image folder.
    #[arg(long)]
    images: PathBuf,
    /// The IDX label file.
    #[arg(long)]
    labels: Option<PathBuf>,
    #[arg(long, value_enum)]
    loading: Loading,
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// Runs the benchmark on `n` and `10 n` images; returns the JSON record.
pub fn run(n: usize, workers: usize) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("forger-stream-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = measure_all(&dir, n, workers);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure_all(dir: &Path, n: usize, workers: usize) -> anyhow::Result<Value> {
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    let mut rows = Vec::new();
    println!("stream-memory: one epoch of batch-64 mini-batches, {SIDE}x{SIDE} images, {workers} workers");
    println!(
        "{:<10} {:>9} {:>10} {:>14} {:>10}",
        "loading", "images", "data MB", "peak RSS MB", "images/s"
    );
    let mut measure = |loading: Loading, count: usize, files: &[&Path]| -> anyhow::Result<()> {
        let mut command = Command::new(&exe);
        command.arg("memory-child").arg("--images").arg(files[0]);
        if let Some(labels) = files.get(1) {
            command.arg("--labels").arg(labels);
        }
        let out = command
            .args(["--loading", loading.flag()])
            .args(["--workers", &workers.to_string()])
            .output()
            .context("running the measuring child")?;
        if !out.status.success() {
            bail!(
                "the measuring child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let record: Value = serde_json::from_slice(&out.stdout).context("child output")?;
        let peak = record["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<10} {:>9} {:>10.1} {:>14.1} {:>10.0}",
            loading.name(),
            count,
            (count * SIDE * SIDE) as f64 / 1e6,
            peak / 1e6,
            record["images_per_s"].as_f64().unwrap_or(f64::NAN)
        );
        rows.push(json!({"loading": loading.name(), "images": count, "peak_rss_bytes": peak, "images_per_s": record["images_per_s"]}));
        Ok(())
    };
    for count in [n, 10 * n] {
        let (images, labels) = write_idx(dir, count)?;
        measure(Loading::Stream, count, &[&images, &labels])?;
        measure(Loading::Memory, count, &[&images, &labels])?;
        let _ = std::fs::remove_file(&images);
        let _ = std::fs::remove_file(&labels);
    }
    // PNG folders are slower to write and decode: N/10 and N images.
    for count in [n / 10, n] {
        let folder = write_folder(dir, count)?;
        measure(Loading::Folder, count, &[&folder])?;
        let _ = std::fs::remove_dir_all(&folder);
    }
    let peak = |loading: &str, count: usize| {
        rows.iter()
            .find(|r| r["loading"] == loading && r["images"] == count)
            .and_then(|r| r["peak_rss_bytes"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let stream_ratio = peak("stream", 10 * n) / peak("stream", n);
    let memory_ratio = peak("in-memory", 10 * n) / peak("in-memory", n);
    let folder_ratio = peak("png folder", n) / peak("png folder", n / 10);
    let flat = stream_ratio < FLAT_RATIO && folder_ratio < FLAT_RATIO;
    println!(
        "peak RSS 10x images / 1x: stream {stream_ratio:.3}, png folder {folder_ratio:.3} \
         ({}: both must stay below {FLAT_RATIO}); in-memory {memory_ratio:.3}",
        if flat { "flat" } else { "NOT FLAT" }
    );
    Ok(json!({
        "workload": "stream-memory", "n": n, "runs": rows, "stream_ratio": stream_ratio,
        "folder_ratio": folder_ratio, "memory_ratio": memory_ratio, "flat": flat
    }))
}

/// Writes raw IDX files of `count` random images (in bounded chunks).
fn write_idx(dir: &Path, count: usize) -> anyhow::Result<(PathBuf, PathBuf)> {
    let images = dir.join(format!("images-{count}"));
    let labels = dir.join(format!("labels-{count}"));
    let mut rng = forger_data::rng::derive(0, "stream-memory", count as u64);
    let mut out = BufWriter::new(std::fs::File::create(&images)?);
    out.write_all(&0x803u32.to_be_bytes())?;
    for d in [count, SIDE, SIDE] {
        out.write_all(&(d as u32).to_be_bytes())?;
    }
    let mut chunk = vec![0u8; 1000 * SIDE * SIDE];
    let mut left = count;
    while left > 0 {
        let k = left.min(1000);
        rng.fill_bytes(&mut chunk[..k * SIDE * SIDE]);
        out.write_all(&chunk[..k * SIDE * SIDE])?;
        left -= k;
    }
    out.flush()?;
    let mut out = BufWriter::new(std::fs::File::create(&labels)?);
    out.write_all(&0x801u32.to_be_bytes())?;
    out.write_all(&(count as u32).to_be_bytes())?;
    for i in 0..count {
        out.write_all(&[(i % 10) as u8])?;
    }
    out.flush()?;
    Ok((images, labels))
}

/// Writes `count` random grey PNGs into ten class folders.
fn write_folder(dir: &Path, count: usize) -> anyhow::Result<PathBuf> {
    let root = dir.join(format!("folder-{count}"));
    let mut rng = forger_data::rng::derive(0, "stream-memory-png", count as u64);
    let mut pixels = vec![0u8; SIDE * SIDE];
    for i in 0..count {
        let class = root.join(format!("class{}", i % 10));
        std::fs::create_dir_all(&class)?;
        rng.fill_bytes(&mut pixels);
        image::GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels.clone())
            .context("image buffer")?
            .save(class.join(format!("{i:07}.png")))?;
    }
    Ok(root)
}

/// The child: one epoch, then its peak RSS as JSON on stdout.
pub fn child(args: ChildArgs) -> anyhow::Result<()> {
    let device = candle_core::Device::Cpu;
    let config = BatchConfig::new(64).seed(1);
    let started = Instant::now();
    let mut checksum = 0f64;
    let mut images = 0usize;
    let mut visit = |batch: forger_data::Batch| -> anyhow::Result<()> {
        checksum += f64::from(batch.images.sum_all()?.to_scalar::<f32>()?);
        images += batch.indices.len();
        Ok(())
    };
    match args.loading {
        Loading::Folder => {
            let decode = ImageFolderConfig::for_shape([1, SIDE, SIDE])?;
            let source = FolderSource::open(&args.images, decode)?;
            let loader = Loader::new(source, config)?.workers(args.workers);
            for batch in loader.epoch(0, &device) {
                visit(batch?)?;
            }
        }
        Loading::Stream => {
            let labels = args.labels.as_deref().context("--labels is needed")?;
            let source = IdxSource::open(&args.images, labels)?;
            let loader = Loader::new(source, config)?.workers(args.workers);
            for batch in loader.epoch(0, &device) {
                visit(batch?)?;
            }
        }
        Loading::Memory => {
            let labels = args.labels.as_deref().context("--labels is needed")?;
            let data = idx::read_pair(&args.images, labels)?;
            for batch in Loader::new(&data, config)?.epoch(0, &device) {
                visit(batch?)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = forger_train::memory::peak_rss_bytes().context("no /proc/self/status")?;
    println!(
        "{}",
        json!({"peak_rss_bytes": peak, "images": images, "images_per_s": images as f64 / seconds, "checksum": checksum})
    );
    Ok(())
}
