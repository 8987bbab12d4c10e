//! `cargo xtask experiment batch-vs-online`: the tutorial CNN trained on the
//! same subset with full-batch gradient descent, mini-batches and online
//! updates ([`forger_lab::batch_vs_online::train_mode`]); each mode runs in its own child
//! process so that its peak memory is its own. Writes `report.md`,
//! `batch_vs_online.png` and `results.json` to the run directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use clap::Args;
use forger_data::{load, rng, Dataset, LoadConfig};
use forger_lab::batch_vs_online::{
    plot_runs, render_report, train_mode, Measured, ModeConfig, Setup, UpdateMode,
};
use forger_models::{ClassifierConfig, MnistCnnConfig};
use forger_train::{LossKind, OptimizerConfig};
use rand::seq::SliceRandom;

use crate::{new_run_dir, workspace_root};

/// Settings of the batch-vs-online experiment.
#[derive(Args, Clone)]
pub struct BatchVsOnlineArgs {
    /// batch-vs-online: training images (a seeded subset of the training split).
    #[arg(long, default_value_t = 1000)]
    subset: usize,
    /// batch-vs-online: validation images (a subset of the validation split).
    #[arg(long, default_value_t = 500)]
    val_subset: usize,
    /// batch-vs-online: passes over the subset, the same for every mode.
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// batch-vs-online: the mini-batch size.
    #[arg(long, default_value_t = 32)]
    mini_batch: usize,
    /// batch-vs-online: Adam's learning rate, the same for every mode.
    #[arg(long, default_value_t = 0.001)]
    lr: f64,
    /// Run only this mode (full-batch, mini-batch, online) and write its
    /// result to --mode-result: how the experiment runs each mode.
    #[arg(long, hide = true)]
    only_mode: Option<String>,
    #[arg(long, hide = true)]
    mode_result: Option<PathBuf>,
}

const MODES: [&str; 3] = ["full-batch", "mini-batch", "online"];

/// Runs the experiment (or, with `--only-mode`, one mode of it).
pub fn run(
    args: &BatchVsOnlineArgs,
    data: Option<PathBuf>,
    seed: u64,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let data_path = data.unwrap_or_else(|| workspace_root().join("datasets/pneumoniamnist.npz"));
    if let (Some(mode), Some(result)) = (&args.only_mode, &args.mode_result) {
        return run_one(args, &data_path, seed, mode, result);
    }
    let out = out.unwrap_or_else(|| new_run_dir("batch-vs-online"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let exe = std::env::current_exe().context("finding the xtask binary")?;
    let mut measured = Vec::new();
    for mode in MODES {
        tracing::info!("batch-vs-online: training {mode} in a child process");
        let result = out.join(format!("{mode}.json"));
        let status = Command::new(&exe)
            .args(["experiment", "batch-vs-online", "--data"])
            .arg(&data_path)
            .args(["--seed", &seed.to_string()])
            .args(["--subset", &args.subset.to_string()])
            .args(["--val-subset", &args.val_subset.to_string()])
            .args(["--epochs", &args.epochs.to_string()])
            .args(["--mini-batch", &args.mini_batch.to_string()])
            .args(["--lr", &args.lr.to_string()])
            .args(["--only-mode", mode, "--mode-result"])
            .arg(&result)
            .status()
            .context("running a mode")?;
        if !status.success() {
            bail!("the {mode} run failed ({status})");
        }
        let text = std::fs::read_to_string(&result)
            .with_context(|| format!("reading {}", result.display()))?;
        measured.push(serde_json::from_str::<Measured>(&text)?);
    }
    forger_train::atomic::write_json(&out.join("results.json"), &measured)?;
    plot_runs(&out.join("batch_vs_online.png"), &measured)?;
    let setup = Setup {
        seed,
        subset: args.subset,
        val_subset: args.val_subset,
        data: data_path.clone(),
        epochs: args.epochs,
        lr: args.lr,
        mini_batch: args.mini_batch,
    };
    let report = render_report(&setup, &measured);
    forger_train::atomic::write_atomic(&out.join("report.md"), report.as_bytes())?;
    print!("{report}");
    println!("\nrun directory {}", out.display());
    Ok(())
}

fn run_one(
    args: &BatchVsOnlineArgs,
    data_path: &Path,
    seed: u64,
    mode: &str,
    result: &Path,
) -> anyhow::Result<()> {
    let mode = match mode {
        "full-batch" => UpdateMode::FullBatch,
        "mini-batch" => UpdateMode::MiniBatch(args.mini_batch),
        "online" => UpdateMode::Online,
        other => bail!("unknown mode `{other}`: expected one of {MODES:?}"),
    };
    let splits = load(data_path, &LoadConfig::default())?.splits;
    let val = if splits.val.is_empty() {
        &splits.test
    } else {
        &splits.val
    };
    let train = seeded_subset(&splits.train, args.subset, seed, "subset")?;
    let val = seeded_subset(val, args.val_subset, seed, "val-subset")?;
    let config = ModeConfig {
        model: ClassifierConfig::MnistCnn(MnistCnnConfig {
            input: train.image_shape(),
            classes: train.classes().len(),
            ..Default::default()
        }),
        loss: LossKind::SoftmaxCrossEntropy,
        optimizer: OptimizerConfig::adam(args.lr),
        epochs: args.epochs,
        points: 25,
        seed,
    };
    let device = candle_core::Device::Cpu;
    let run = train_mode(mode, &config, &train, &val, &device)?;
    let measured = Measured {
        run,
        peak_rss_bytes: forger_train::memory::peak_rss_bytes(),
    };
    forger_train::atomic::write_json(result, &measured)?;
    Ok(())
}

/// `n` images of `data` picked by a seeded permutation (all when `n` is larger).
fn seeded_subset(data: &Dataset, n: usize, seed: u64, stream: &str) -> anyhow::Result<Dataset> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng::derive(seed, stream, 0));
    order.truncate(n);
    Ok(data.subset(&order)?)
}
