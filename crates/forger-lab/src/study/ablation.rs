//! The GAN-training ablation: the study's GAN trained plain, with
//! DiffAugment, and with DiffAugment and LeCam, on the same budgets,
//! replicates and seeds, each judged by its synthetic arm (the classifier
//! trained on its images only, scored on the real test set) and by its
//! images' Fréchet and kernel distances to the real test set.
//!
//! Every variant runs the study's plan: replicate `r` of a budget draws the
//! same real images, validation images and seeds in every variant, so the
//! variants are compared paired on the same test images (DeLong, and the
//! pigeonhole bootstrap of the difference), each against the first variant,
//! Holm-adjusted. Files: `<variant>/variant.json` (the variant's study
//! settings), `<variant>/jobs/<budget>-r<replicate>/` (GAN and synthetic
//! arm, resumable), `features/`, and `ablation.json` and `ablation.md`.

use std::fmt::Write as _;

use candle_core::Device;
use forger_data::Splits;
use serde::{Deserialize, Serialize};

use forger_train::atomic::{read_json, write_atomic, write_json};
use forger_train::gan::{DiffAugment, LeCam};
use forger_train::metrics::{
    bootstrap_auc_difference, bootstrap_mean_auc, paired_delong, BootstrapInterval,
    PairedComparison,
};
use forger_train::quality::Kid;
use forger_train::{Result, RunDir, TrainError};

use super::assemble::{distances, feature_space, holm_adjust, job_images, mean_sd};
use super::job::{run_job, JobDir};
use super::plan::{plan, Job};
use super::report::{p_value, pct};
use super::{check_same, data_digests, Arm, Manifest, Shard, StudyConfig};

/// One way of training the study's GAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// A folder-safe name, e.g. `diffaugment-lecam`.
    pub name: String,
    pub diff_augment: Option<DiffAugment>,
    pub lecam: Option<LeCam>,
}

impl Variant {
    /// The variants by name: `plain`, `diffaugment`, `diffaugment-lecam`
    /// (the papers' settings: [`DiffAugment::default`], [`LeCam::default`]).
    pub fn named(name: &str) -> Result<Self> {
        let (diff_augment, lecam) = match name {
            "plain" => (None, None),
            "diffaugment" => (Some(DiffAugment::default()), None),
            "diffaugment-lecam" => (Some(DiffAugment::default()), Some(LeCam::default())),
            _ => {
                return Err(TrainError::Invalid(format!(
                    "unknown GAN variant {name:?}: expected one of {}",
                    Self::NAMES.join(", ")
                )))
            }
        };
        Ok(Self {
            name: name.to_string(),
            diff_augment,
            lecam,
        })
    }

    /// The names [`Variant::named`] takes, the ablation's default order.
    pub const NAMES: [&'static str; 3] = ["plain", "diffaugment", "diffaugment-lecam"];

    /// `base` with this variant's GAN training.
    fn apply(&self, base: &StudyConfig) -> StudyConfig {
        let mut config = base.clone();
        config.gan.diff_augment = self.diff_augment;
        config.gan.lecam = self.lecam;
        config
    }
}

/// One variant at one budget, over its replicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSummary {
    pub variant: String,
    pub real_fraction: f64,
    pub replicates: usize,
    /// The synthetic arm's test AUC: mean and sd over replicates, and the
    /// 95% pigeonhole-bootstrap interval of the mean.
    pub mean_auc: f64,
    pub sd_auc: f64,
    pub interval: BootstrapInterval,
    /// Fréchet distance of the synthetic images to the real test set: mean
    /// and sd over replicates; the budget's real images give the baseline.
    pub frechet_mean: f64,
    pub frechet_sd: f64,
    pub frechet_real: f64,
    /// KID of the synthetic images (the mean over replicates of each one's
    /// subset mean, and the sd of those means), and the real baseline's.
    pub kid_mean: f64,
    pub kid_sd: f64,
    pub kid_real: f64,
    /// Seconds of GAN training, summed over replicates.
    pub gan_seconds: f64,
}

/// A variant against the first one at one budget (`difference` = variant - first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantComparison {
    pub real_fraction: f64,
    pub variant: String,
    pub against: String,
    /// Paired DeLong test of the synthetic arms' mean AUCs on the same test images.
    pub paired: PairedComparison,
    /// Holm-adjusted over every comparison of the ablation.
    pub p_holm: f64,
    /// The paired pigeonhole-bootstrap interval of the difference.
    pub interval: BootstrapInterval,
}

/// One GAN of the ablation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantGan {
    pub variant: String,
    pub real_fraction: f64,
    pub replicate: usize,
    pub synthetic_auc: f64,
    /// Images in each compared set.
    pub images: usize,
    pub frechet_synthetic: f64,
    pub frechet_real: f64,
    pub kid_synthetic: Kid,
    pub kid_real: Kid,
}

/// Everything the ablation measured (`ablation.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationReport {
    pub variants: Vec<Variant>,
    pub summaries: Vec<VariantSummary>,
    pub comparisons: Vec<VariantComparison>,
    pub gans: Vec<VariantGan>,
    /// Width of the feature space of the distances.
    pub feature_dimension: usize,
}

/// A finished job of one variant.
struct Done {
    job: Job,
    scores: Vec<f64>,
    auc: f64,
    gan_seconds: f64,
    dir: JobDir,
}

/// Runs (or, with `resume`, continues) the ablation of `variants` on
/// `base`'s plan into `out`, and writes its report (which quotes `command`).
pub fn run_ablation(
    base: &StudyConfig,
    variants: &[Variant],
    splits: &Splits,
    out: &RunDir,
    device: &Device,
    resume: bool,
    command: &str,
) -> Result<AblationReport> {
    if variants.is_empty() {
        return Err(TrainError::Invalid(
            "an ablation needs at least one GAN variant".into(),
        ));
    }
    let mut runs = Vec::new();
    for variant in variants {
        let config = variant.apply(base);
        let root = out.root().join(&variant.name);
        let manifest = Manifest {
            config: config.clone(),
            shard: Shard::ALL,
            data: data_digests(splits),
        };
        let path = root.join("variant.json");
        if path.exists() {
            if !resume {
                return Err(TrainError::Invalid(format!(
                    "{} already holds an ablation: pass --resume to continue it, or choose another output folder",
                    out.root().display()
                )));
            }
            check_same(&path, &read_json(&path)?, &manifest)?;
        }
        write_json(&path, &manifest)?;
        let jobs = plan(&config, splits)?;
        let mut done = Vec::new();
        for (k, job) in jobs.into_iter().enumerate() {
            let dir = JobDir::new(&root, &job);
            if !dir.is_done(&[Arm::Synthetic]) {
                tracing::info!("{}: job {} ({})", variant.name, k + 1, job.name());
                run_job(&config, splits, &job, &dir, &[Arm::Synthetic], device)?;
            }
            let record = dir.read_classifier(Arm::Synthetic)?;
            done.push(Done {
                scores: record.test_scores,
                auc: record.result.auc,
                gan_seconds: dir.read_gan()?.seconds,
                job,
                dir,
            });
        }
        runs.push((config, done));
    }
    let report = measure(base, variants, &runs, splits, out, device)?;
    write_json(&out.file("ablation.json"), &report)?;
    write_atomic(
        &out.file("ablation.md"),
        render(base, splits, &report, command).as_bytes(),
    )?;
    Ok(report)
}

/// The summaries, the paired comparisons and each GAN's distances, in one
/// feature space trained on the real validation split (`out/features`).
fn measure(
    base: &StudyConfig,
    variants: &[Variant],
    runs: &[(StudyConfig, Vec<Done>)],
    splits: &Splits,
    out: &RunDir,
    device: &Device,
) -> Result<AblationReport> {
    let (space, test) = feature_space(splits, out, base.seed, device)?;
    let labels = splits.test.labels();
    let mut gans = Vec::new();
    for ((config, done), variant) in runs.iter().zip(variants) {
        for d in done {
            let (synthetic, real) = job_images(config, splits, &d.job, &d.dir, device)?;
            let m = distances(&space, &test, &synthetic, &real, d.job.seed)?;
            gans.push(VariantGan {
                variant: variant.name.clone(),
                real_fraction: d.job.real_fraction,
                replicate: d.job.replicate,
                synthetic_auc: d.auc,
                images: m.images,
                frechet_synthetic: m.frechet_synthetic,
                frechet_real: m.frechet_real,
                kid_synthetic: m.kid_synthetic,
                kid_real: m.kid_real,
            });
        }
    }
    let mut summaries = Vec::new();
    let mut comparisons = Vec::new();
    for (b, &fraction) in base.budgets.iter().enumerate() {
        let scores = |v: usize| -> Vec<Vec<f64>> {
            runs[v]
                .1
                .iter()
                .filter(|d| d.job.real_fraction == fraction)
                .map(|d| d.scores.clone())
                .collect()
        };
        for (v, variant) in variants.iter().enumerate() {
            let seed = base.seed ^ ((b * variants.len() + v) as u64) << 32;
            let mine = |f: fn(&VariantGan) -> f64| -> Vec<f64> {
                gans.iter()
                    .filter(|g| g.variant == variant.name && g.real_fraction == fraction)
                    .map(f)
                    .collect()
            };
            let (mean_auc, sd_auc) = mean_sd(&mine(|g| g.synthetic_auc));
            let (frechet_mean, frechet_sd) = mean_sd(&mine(|g| g.frechet_synthetic));
            let (kid_mean, kid_sd) = mean_sd(&mine(|g| g.kid_synthetic.mean));
            summaries.push(VariantSummary {
                variant: variant.name.clone(),
                real_fraction: fraction,
                replicates: base.replicates,
                mean_auc,
                sd_auc,
                interval: bootstrap_mean_auc(labels, &scores(v), base.bootstrap_resamples, seed)?,
                frechet_mean,
                frechet_sd,
                frechet_real: mean_sd(&mine(|g| g.frechet_real)).0,
                kid_mean,
                kid_sd,
                kid_real: mean_sd(&mine(|g| g.kid_real.mean)).0,
                gan_seconds: runs[v]
                    .1
                    .iter()
                    .filter(|d| d.job.real_fraction == fraction)
                    .map(|d| d.gan_seconds)
                    .sum(),
            });
            if v > 0 {
                comparisons.push(VariantComparison {
                    real_fraction: fraction,
                    variant: variant.name.clone(),
                    against: variants[0].name.clone(),
                    paired: paired_delong(labels, &scores(v), &scores(0))?,
                    p_holm: f64::NAN,
                    interval: bootstrap_auc_difference(
                        labels,
                        &scores(v),
                        &scores(0),
                        base.bootstrap_resamples,
                        seed ^ 1,
                    )?,
                });
            }
        }
    }
    holm_adjust(&mut comparisons, |c| (c.paired.p_value, &mut c.p_holm));
    Ok(AblationReport {
        variants: variants.to_vec(),
        summaries,
        comparisons,
        gans,
        feature_dimension: test.ncols(),
    })
}

/// `ablation.md`: one table per budget.
fn render(base: &StudyConfig, splits: &Splits, report: &AblationReport, command: &str) -> String {
    let mut md = String::new();
    let [_, h, w] = splits.train.image_shape();
    let _ = writeln!(
        md,
        "# GAN training ablation: synthetic-only ROC AUC, FD and KID\n"
    );
    let _ = writeln!(
        md,
        "Each variant trains the study's conditional GAN ({h}x{w} px, {} steps at batch {}) on a budget's real \
         training images; a classifier trained only on its {} synthetic images is scored on the {} real test \
         images. Replicate `k` (seed {} + k) draws the same real images and seeds in every variant, so the \
         variants are compared paired on the same test images. FD and KID: the synthetic images against the \
         real test set in a {}-feature space trained on the real validation split; \"real\" is the baseline of \
         as many of the budget's real images. KID is shown x 10^3.\n",
        base.gan.steps,
        base.gan.batch_size,
        base.synthetic_size.unwrap_or(splits.train.len()),
        splits.test.len(),
        base.seed,
        report.feature_dimension
    );
    let _ = writeln!(md, "Command: `{command}`\n");
    for &fraction in &base.budgets {
        let _ = writeln!(
            md,
            "## Budget {} ({})\n",
            pct(fraction),
            match base.replicates {
                1 => "1 replicate".to_string(),
                n => format!("{n} replicates"),
            }
        );
        let _ = writeln!(
            md,
            "| variant | synthetic AUC [95% CI] | sd | Δ vs {} [95% CI], p (Holm) | FD (real) | KID x 10^3 (real) | GAN s |",
            report.variants[0].name
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for s in report
            .summaries
            .iter()
            .filter(|s| s.real_fraction == fraction)
        {
            let versus = report
                .comparisons
                .iter()
                .find(|c| c.real_fraction == fraction && c.variant == s.variant)
                .map_or_else(String::new, |c| {
                    format!(
                        "{:+.3} [{:+.3}, {:+.3}], p = {}",
                        c.paired.difference,
                        c.interval.low,
                        c.interval.high,
                        p_value(c.p_holm)
                    )
                });
            // One replicate has no spread to show.
            let several = base.replicates > 1;
            let sd = if several {
                format!("{:.3}", s.sd_auc)
            } else {
                "n/a".into()
            };
            let spread = |sd: f64| {
                if several {
                    format!(" ± {sd:.2}")
                } else {
                    String::new()
                }
            };
            let _ = writeln!(
                md,
                "| {} | {:.3} [{:.3}, {:.3}] | {sd} | {versus} | {:.2}{} ({:.2}) | {:.2}{} ({:.2}) | {:.0} |",
                s.variant,
                s.mean_auc,
                s.interval.low,
                s.interval.high,
                s.frechet_mean,
                spread(s.frechet_sd),
                s.frechet_real,
                s.kid_mean * 1e3,
                spread(s.kid_sd * 1e3),
                s.kid_real * 1e3,
                s.gan_seconds
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "± is the sd over replicates. GAN s: the GAN's training wall time, comparable only between runs on \
         equally loaded machines. A difference is claimed only where the paired DeLong test, Holm-adjusted \
         over the ablation's {} comparisons, gives p < 0.05.",
        report.comparisons.len()
    );
    md
}
