//! The cats-vs-dogs tutorial's question: does augmentation help? The same
//! classifier is trained with and without augmentation, over several seeds,
//! on the same data, and the runs are compared side by side in
//! `summary.md`, `results.json` and `curves.png`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use forger_train::atomic::{write_atomic, write_json};
use forger_train::history::HistoryRow;
use forger_train::plot::{self, Panel, Series};
use forger_train::{fit, FitConfig, FitData, FitMetrics, Result, RunDir, TrainError};

/// What to compare: `fit` (whose `augment` must be set) against the same
/// run with `augment: None`, once per seed.
#[derive(Debug, Clone)]
pub struct AugmentationStudyConfig {
    pub fit: FitConfig,
    pub seeds: Vec<u64>,
    /// The command that ran the study, quoted in `summary.md`.
    pub command: String,
}

/// One finished run of the study.
#[derive(Debug, Clone, Serialize)]
pub struct StudyRun {
    pub augmented: bool,
    pub seed: u64,
    /// Its run directory.
    pub run: PathBuf,
    pub metrics: FitMetrics,
    #[serde(skip)]
    pub history: Vec<HistoryRow>,
}

/// Every run of the study.
#[derive(Debug, Clone, Serialize)]
pub struct AugmentationStudy {
    pub runs: Vec<StudyRun>,
}

impl AugmentationStudy {
    /// Mean test accuracy of the kept weights of the runs with (`true`) or
    /// without augmentation.
    pub fn mean_test_accuracy(&self, augmented: bool) -> f64 {
        self.mean(augmented, |m| m.test_accuracy)
    }

    /// Mean test accuracy of the last weights of the runs with (`true`) or
    /// without augmentation (the kept ones where the run kept the last).
    pub fn mean_last_test_accuracy(&self, augmented: bool) -> f64 {
        self.mean(augmented, last_accuracy)
    }

    fn mean(&self, augmented: bool, f: fn(&FitMetrics) -> f64) -> f64 {
        let arm: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| r.augmented == augmented)
            .map(|r| f(&r.metrics))
            .collect();
        arm.iter().sum::<f64>() / arm.len().max(1) as f64
    }
}

fn last_accuracy(m: &FitMetrics) -> f64 {
    m.last.map_or(m.test_accuracy, |l| l.accuracy)
}

/// Trains every arm and seed into `out/<arm>-seed<S>/` (an interrupted study
/// resumes from the runs' checkpoints when run again), then writes
/// `summary.md`, `results.json` and `curves.png` in `out`.
pub fn run_augmentation_study(
    config: &AugmentationStudyConfig,
    data: &FitData,
    out: &Path,
    device: &Device,
) -> Result<AugmentationStudy> {
    if config.fit.augment.is_none() || config.seeds.is_empty() {
        return Err(TrainError::Invalid(
            "an augmentation study needs an augmentation to compare and at least one seed".into(),
        ));
    }
    let mut runs = Vec::new();
    for &seed in &config.seeds {
        for augmented in [true, false] {
            let fit_config = FitConfig {
                seed,
                augment: config.fit.augment.clone().filter(|_| augmented),
                ..config.fit.clone()
            };
            let dir = out.join(format!("{}-seed{seed}", arm_name(augmented)));
            tracing::info!("training {}", dir.display());
            let report = fit(&fit_config, data, &RunDir::new(&dir), device, true)?;
            runs.push(StudyRun {
                augmented,
                seed,
                run: dir,
                metrics: report.metrics,
                history: report.history,
            });
        }
    }
    let study = AugmentationStudy { runs };
    write_json(&out.join("results.json"), &study)?;
    plot_runs(&out.join("curves.png"), &study.runs)?;
    write_atomic(
        &out.join("summary.md"),
        summary(config, data, out, &study).as_bytes(),
    )?;
    Ok(study)
}

fn arm_name(augmented: bool) -> &'static str {
    if augmented {
        "augmented"
    } else {
        "plain"
    }
}

/// Validation accuracy and loss of every run against the epoch.
fn plot_runs(path: &Path, runs: &[StudyRun]) -> Result<()> {
    let series = |f: fn(&HistoryRow) -> f64| -> Vec<Series> {
        runs.iter()
            .map(|r| {
                let name = format!("{} seed {}", arm_name(r.augmented), r.seed);
                Series::new(name, r.history.iter().map(|h| (h.epoch, f(h))))
            })
            .collect()
    };
    let mut accuracy = Panel::new(
        "Validation accuracy",
        "epoch",
        "accuracy",
        series(|h| h.val_accuracy),
    );
    accuracy.y_range = Some((0.0, 1.0));
    let loss = Panel::new("Validation loss", "epoch", "loss", series(|h| h.val_loss));
    plot::draw(path, &[accuracy, loss])
}

fn summary(
    config: &AugmentationStudyConfig,
    data: &FitData,
    out: &Path,
    study: &AugmentationStudy,
) -> String {
    let mut s = String::new();
    let f = &config.fit;
    let _ = writeln!(s, "# Augmentation vs none\n");
    let _ = writeln!(
        s,
        "Data: `{}`: {} training, {} validation and {} test images of {:?} (channels, height, width), classes {:?}.\n",
        data.source,
        data.train.len(),
        data.eval.len(),
        data.test.len(),
        data.train.image_shape(),
        data.train.classes()
    );
    let _ = writeln!(
        s,
        "Model: {}; loss: {}; optimizer: {}; {} at batch {}; kept weights: {}. \
         The augmented arm uses {}; the plain arm only rescales.\n",
        f.model,
        f.loss,
        f.optimizer,
        f.schedule,
        f.batch_size,
        f.selection.map_or("the last".to_string(), |s| format!(
            "best validation {}",
            format!("{s:?}").to_lowercase()
        )),
        f.augment
            .as_ref()
            .map_or("no augmentation".to_string(), ToString::to_string)
    );
    let _ = writeln!(s, "Command: `{}`\n", config.command);
    let _ = writeln!(s, "## Test set\n");
    let _ = writeln!(
        s,
        "| arm | seed | test accuracy | test loss | test AUC | kept epoch | test accuracy, last epoch | training s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in &study.runs {
        let m = &r.metrics;
        let per_epoch = m.steps as f64 / m.epochs.max(f64::MIN_POSITIVE);
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {} | {:.0} | {:.4} | {:.0} |",
            arm_name(r.augmented),
            r.seed,
            m.test_accuracy,
            m.test_loss,
            m.test_auc.map_or("-".into(), |a| format!("{a:.4}")),
            m.kept_step as f64 / per_epoch,
            last_accuracy(m),
            m.train_seconds
        );
    }
    let _ = writeln!(
        s,
        "\nMean test accuracy over {} ({} test images; one image is {:.3}):\n",
        match config.seeds.len() {
            1 => "1 seed".to_string(),
            n => format!("{n} seeds"),
        },
        data.test.len(),
        1.0 / data.test.len().max(1) as f64
    );
    for (what, with, without) in [
        (
            "kept weights",
            study.mean_test_accuracy(true),
            study.mean_test_accuracy(false),
        ),
        (
            "last epoch's weights",
            study.mean_last_test_accuracy(true),
            study.mean_last_test_accuracy(false),
        ),
    ] {
        let _ =
            writeln!(
            s,
            "- {what}: **augmented {with:.4}**, **plain {without:.4}**: augmentation {} by {:.4}.",
            if with > without { "helped" } else { "did not help" },
            (with - without).abs()
        );
    }
    s.push('\n');
    let _ = writeln!(s, "## Curves\n");
    let _ = writeln!(s, "![validation curves of every run](curves.png)\n");
    for r in &study.runs {
        let rel = r.run.strip_prefix(out).unwrap_or(&r.run).display();
        let _ = writeln!(
            s,
            "- {} seed {}: ![training curves]({rel}/curves.png)",
            arm_name(r.augmented),
            r.seed
        );
    }
    s
}
