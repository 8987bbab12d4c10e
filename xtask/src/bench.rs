//! `cargo xtask bench`: forger's training throughput on the workloads of
//! `shared/bench/WORKLOADS.md`, alternating with the PyTorch reference when
//! `--torch PYTHON` is given, and the ratio of the medians.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use clap::Args;
use forger_lab::bench;
use serde_json::json;

use crate::workspace_root;

const WORKLOADS: [&str; 8] = [
    "mnist_cnn",
    "catdog_cnn",
    "dcgan28",
    "gan128",
    "folder_pipeline",
    "stream-memory",
    "audit",
    "readers",
];

#[derive(Args)]
pub struct BenchArgs {
    /// Comma-separated workloads: `mnist_cnn` (W1), `catdog_cnn` (W2),
    /// `dcgan28` (W3) and `gan128` (W5: the scaled conditional GAN at 128
    /// px, spectral norm on D, 32 real + 32 fake) training throughput, `folder_pipeline` (W4: images/s
    /// the augmenting JPEG pipeline delivers from `--folder`), and
    /// `stream-memory` (peak RSS of streaming N and 10N images), and `audit`
    /// (the memorisation audit's nearest-neighbour search, N x N images at
    /// 28 and 128 px, and at half N to show how it grows), and `readers`
    /// (the reader-study server: 50 concurrent simulated readers over
    /// loopback, p99 latency of an answer).
    #[arg(long, default_value = "mnist_cnn,catdog_cnn,dcgan28,folder_pipeline")]
    workloads: String,
    /// Class-per-folder image tree for `folder_pipeline` (W4), e.g. the
    /// cats-vs-dogs images; without it W4 is skipped.
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Seconds of each measured `folder_pipeline` run.
    #[arg(long, default_value_t = 10.0)]
    folder_seconds: f64,
    /// Python interpreter with torch, to run the reference beside forger.
    #[arg(long)]
    torch: Option<PathBuf>,
    /// The PyTorch reference script (W1-W3).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// The PyTorch reference of W5 `gan128`.
    #[arg(long)]
    reference_w5: Option<PathBuf>,
    /// Threads for both forger and PyTorch.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Measured runs per workload and framework (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// N for `stream-memory`: it streams N and 10 N synthetic images.
    #[arg(long, default_value_t = 20_000)]
    stream_images: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Candle and rayon read this when their thread pools start, which is
    // after this point: nothing has computed yet.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    let reference = args
        .reference
        .clone()
        .unwrap_or_else(|| workspace_root().join("../shared/bench/reference_torch.py"));
    let reference_w5 = args
        .reference_w5
        .clone()
        .unwrap_or_else(|| workspace_root().join("xtask/bench/reference_w5.py"));
    let device = candle_core::Device::Cpu;
    let mut results = Vec::new();
    // Medians of W2 and W4, for their ratio when both ran.
    let (mut w2, mut w4) = (None, None);
    println!(
        "threads {}, {} runs each; images/s median (min-max)",
        args.threads, args.runs
    );
    for workload in args.workloads.split(',') {
        if !WORKLOADS.contains(&workload) {
            bail!("unknown workload `{workload}`: expected one of {WORKLOADS:?}");
        }
        if workload == "audit" {
            results.push(audit(args.runs)?);
            continue;
        }
        if workload == "readers" {
            results.push(readers(args.runs)?);
            continue;
        }
        if workload == "stream-memory" {
            results.push(crate::bench_memory::run(args.stream_images, args.threads)?);
            continue;
        }
        if workload == "folder_pipeline" {
            let Some(folder) = &args.folder else {
                println!("{workload:<16} skipped: pass --folder PATH (a class-per-folder image tree) to run W4");
                continue;
            };
            let runs = (0..args.runs)
                .map(|_| {
                    Ok(
                        forger_data::bench::folder_pipeline(folder, args.folder_seconds)?
                            .images_per_s,
                    )
                })
                .collect::<anyhow::Result<Vec<f64>>>()
                .with_context(|| format!("W4 on {}", folder.display()))?;
            let jpeg = if forger_data::scaled_jpeg::available() {
                "libjpeg, reduced scale"
            } else {
                "full size: built without libjpeg"
            };
            println!(
                "{workload:<16} forger {} (JPEG decoding: {jpeg})",
                summary(&runs)
            );
            w4 = Some(median(&runs));
            results.push(json!({"workload": workload, "threads": args.threads, "forger": runs, "jpeg_decoding": jpeg}));
            continue;
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            ours.push(forger_workload(workload, &device)?);
            if let Some(python) = &args.torch {
                let script = if workload == "gan128" {
                    &reference_w5
                } else {
                    &reference
                };
                theirs.push(torch_workload(python, script, workload, args.threads)?);
            }
        }
        let line = format!("{workload:<16} forger {}", summary(&ours));
        let mut record = json!({"workload": workload, "threads": args.threads, "forger": ours});
        if theirs.is_empty() {
            println!("{line}");
        } else {
            let ratio = median(&ours) / median(&theirs);
            println!("{line}  pytorch {}  ratio {ratio:.2}x", summary(&theirs));
            record["pytorch"] = json!(theirs);
            record["ratio"] = json!(ratio);
        }
        if workload == "catdog_cnn" {
            w2 = Some(median(&ours));
        }
        results.push(record);
    }
    if let (Some(w4), Some(w2)) = (w4, w2) {
        let ratio = w4 / w2;
        println!("W4 / W2: the pipeline delivers {ratio:.1}x the images forger's W2 trains on");
        results.push(json!({"workload": "folder_pipeline/catdog_cnn", "ratio": ratio}));
    }
    if let Some(path) = &args.json {
        forger_train::atomic::write_json(path, &results)?;
    }
    Ok(())
}

/// Seconds of the audit's search at 5,000 x 5,000 (28 px) and 2,000 x
/// 2,000 (128 px), and at half those counts: the cost grows as `n^2 d`.
fn audit(runs: usize) -> anyhow::Result<serde_json::Value> {
    let mut rows = Vec::new();
    for (n, side) in [(2500, 28), (5000, 28), (1000, 128), (2000, 128)] {
        let times = (0..runs)
            .map(|_| Ok(bench::audit_search(n, side)?))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        let gflop = 2.0 * (n * n * side * side) as f64 / 1e9;
        let (low, high) = times
            .iter()
            .fold((f64::MAX, 0.0f64), |(a, b), &t| (a.min(t), b.max(t)));
        println!(
            "audit {n:>5} x {n:<5} at {side:>3} px: median {:.3} s ({low:.3}-{high:.3}), {:.0} GFLOP/s",
            median(&times),
            gflop / median(&times)
        );
        rows.push(json!({"n": n, "side": side, "seconds": times}));
    }
    Ok(json!({"workload": "audit", "runs": rows}))
}

/// The reader-study server under the load test's workload: 50 simulated
/// readers at once, 20 cases each, at most 30 s a run; fails on any error
/// or lost answer.
fn readers(runs: usize) -> anyhow::Result<serde_json::Value> {
    let mut reports = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir()?;
        let r =
            forger_readers::load::load_run(dir.path(), 50, 20, std::time::Duration::from_secs(30))?;
        if r.errors > 0 || r.lost > 0 {
            bail!(
                "readers: {} errors ({:?}), {} answers lost",
                r.errors,
                r.first_error,
                r.lost
            );
        }
        println!(
            "readers          {} readers, {} answers in {:.2} s: answer latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            r.readers, r.answers, r.seconds, r.p50_ms, r.p99_ms, r.max_ms
        );
        reports.push(r);
    }
    Ok(json!({"workload": "readers", "runs": reports}))
}

fn forger_workload(workload: &str, device: &candle_core::Device) -> anyhow::Result<f64> {
    let t = match workload {
        "mnist_cnn" => bench::mnist_cnn(300, 20, device)?,
        "catdog_cnn" => bench::catdog_cnn(60, 5, device)?,
        "dcgan28" => bench::dcgan28(30, device)?,
        "gan128" => bench::gan128(10, 2, device)?,
        other => bail!("unknown workload `{other}`"),
    };
    Ok(t.images_per_s)
}

fn torch_workload(
    python: &PathBuf,
    script: &PathBuf,
    workload: &str,
    threads: usize,
) -> anyhow::Result<f64> {
    let out = Command::new(python)
        .arg(script)
        .args(["--workloads", workload, "--threads", &threads.to_string()])
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        bail!(
            "the PyTorch reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .last()
        .context("the PyTorch reference printed nothing")?;
    let value: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("unreadable reference output: {line}"))?;
    value["images_per_s"]
        .as_f64()
        .context("reference output lacks images_per_s")
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(xs: &[f64]) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(0.0, f64::max);
    format!("{:>8.0} ({:.0}-{:.0})", median(xs), min, max)
}
