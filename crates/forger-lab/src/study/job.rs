//! One job of the plan: the budget's GAN, its synthetic sample and the
//! three classifiers, each written to the job's folder as it finishes
//! (`gan.json`, `<arm>.json`), so a killed study loses at most the unit
//! that was running, and that one resumes from its last checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use forger_data::{Dataset, Splits};
use serde::{Deserialize, Serialize};

use forger_train::atomic::{read_json, write_json};
use forger_train::gan::{train_gan, GanTrainConfig, TrainedGan};
use forger_train::metrics::{operating_point, roc_auc_delong, youden_point};
use forger_train::{evaluate, fit, FitConfig, FitData, Result, RunDir};

use super::plan::{synthetic_labels, Job};
use super::{Arm, StudyConfig};

/// What one classifier achieved on the real test set (a record of `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierResult {
    pub arm: Arm,
    pub real_fraction: f64,
    pub replicate: usize,
    pub seed: u64,
    /// Labelled real images the arm trained on, and those that selected its
    /// weights and threshold (the budget's validation subset).
    pub real_images: usize,
    pub synthetic_images: usize,
    pub selection_images: usize,
    pub auc: f64,
    /// DeLong 95% interval of this classifier's AUC (test-image sampling only).
    pub auc_ci_low: f64,
    pub auc_ci_high: f64,
    /// Youden's J threshold on the selection images, and the test rates and
    /// accuracy at it.
    pub threshold: f64,
    pub sensitivity: f64,
    pub specificity: f64,
    pub accuracy: f64,
}

/// A classifier's file in its job folder: its result and its test scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierRecord {
    pub result: ClassifierResult,
    /// P(class 1) per real test image, in test-split order.
    pub test_scores: Vec<f64>,
    pub seconds: f64,
}

/// The GAN's file in its job folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GanRecord {
    pub real_images: usize,
    /// The batch the GAN trained with: the configured one, or the whole
    /// budget when it has fewer images.
    pub batch_size: usize,
    pub seconds: f64,
}

/// The files of one job.
pub struct JobDir {
    root: PathBuf,
}

impl JobDir {
    /// The folder of `job` under a study folder.
    pub fn new(study: &Path, job: &Job) -> Self {
        Self {
            root: study.join("jobs").join(job.name()),
        }
    }

    /// The GAN's run directory.
    pub fn gan_run(&self) -> RunDir {
        RunDir::new(self.root.join("gan"))
    }

    /// An arm's classifier run directory.
    pub fn classifier_run(&self, arm: Arm) -> RunDir {
        RunDir::new(self.root.join(arm.name()))
    }

    fn gan_record(&self) -> PathBuf {
        self.root.join("gan.json")
    }

    fn classifier_record(&self, arm: Arm) -> PathBuf {
        self.root.join(format!("{}.json", arm.name()))
    }

    /// Whether the GAN and the classifiers of `arms` finished.
    pub fn is_done(&self, arms: &[Arm]) -> bool {
        self.gan_record().is_file() && arms.iter().all(|&a| self.classifier_record(a).is_file())
    }

    /// The GAN's record.
    pub fn read_gan(&self) -> Result<GanRecord> {
        Ok(read_json(&self.gan_record())?)
    }

    /// An arm's record.
    pub fn read_classifier(&self, arm: Arm) -> Result<ClassifierRecord> {
        Ok(read_json(&self.classifier_record(arm))?)
    }
}

/// The GAN settings of a job: the study's, seeded by the replicate, with
/// the batch capped at the budget's size.
pub fn gan_config(config: &StudyConfig, job: &Job) -> GanTrainConfig {
    GanTrainConfig {
        seed: job.seed,
        batch_size: config.gan.batch_size.min(job.train_indices.len()),
        ..config.gan.clone()
    }
}

/// The job's synthetic set, from its generator: `config.synthetic_size`
/// images (default: as many as the real training split) in the training
/// split's class shares unless others are given.
pub fn synthetic_set(
    config: &StudyConfig,
    splits: &Splits,
    generator: &TrainedGan,
    job: &Job,
) -> Result<Dataset> {
    let shares: Vec<f64> = match &config.synthetic_class_shares {
        Some(s) => s.clone(),
        None => splits
            .train
            .class_counts()
            .iter()
            .map(|&c| c as f64)
            .collect(),
    };
    let n = config.synthetic_size.unwrap_or(splits.train.len());
    generator.sample(&synthetic_labels(n, &shares), job.seed)
}

/// Runs what is left of `job` in `dir`, the GAN and the classifiers of
/// `arms`: a unit with its record is skipped, a unit with a checkpoint
/// continues from it.
pub fn run_job(
    config: &StudyConfig,
    splits: &Splits,
    job: &Job,
    dir: &JobDir,
    arms: &[Arm],
    device: &Device,
) -> Result<()> {
    let (real, selection) = job.data(splits)?;
    let name = job.name();
    let gan_config = gan_config(config, job);
    let gan_run = dir.gan_run();
    let generator = if dir.gan_record().is_file() {
        TrainedGan::load(&gan_run, device)?
    } else {
        tracing::info!("{name}: training the GAN on {} real images", real.len());
        let started = Instant::now();
        let source = format!("{} real training images ({name})", real.len());
        let generator =
            train_gan(&gan_config, &real, &source, &gan_run, device, true, None)?.generator;
        let record = GanRecord {
            real_images: real.len(),
            batch_size: gan_config.batch_size,
            seconds: started.elapsed().as_secs_f64(),
        };
        write_json(&dir.gan_record(), &record)?;
        generator
    };
    let synthetic = synthetic_set(config, splits, &generator, job)?;
    for &arm in arms {
        if dir.classifier_record(arm).is_file() {
            continue;
        }
        let train = match arm {
            Arm::Real => real.clone(),
            Arm::Synthetic => synthetic.clone(),
            Arm::Mixed => real.concat(&synthetic)?,
        };
        let record = train_classifier(config, splits, job, arm, &train, &selection, dir, device)?;
        write_json(&dir.classifier_record(arm), &record)?;
    }
    Ok(())
}

/// Trains one arm's classifier, selecting on `selection` only, and scores
/// it on the real test split at the threshold `selection` chooses.
#[allow(clippy::too_many_arguments)]
fn train_classifier(
    config: &StudyConfig,
    splits: &Splits,
    job: &Job,
    arm: Arm,
    train: &Dataset,
    selection: &Dataset,
    dir: &JobDir,
    device: &Device,
) -> Result<ClassifierRecord> {
    let started = Instant::now();
    let fit_config = FitConfig {
        seed: job.seed,
        ..config.classifier.clone()
    };
    let real_images = if arm == Arm::Synthetic {
        0
    } else {
        job.train_indices.len()
    };
    let data = FitData {
        train,
        eval: selection,
        test: &splits.test,
        source: format!(
            "{} arm of {}: {} training images ({real_images} real); selection on {} real validation images \
             (digest {:016x})",
            arm.name(),
            job.name(),
            train.len(),
            selection.len(),
            selection.digest()
        ),
        inputs: None,
        skipped: Vec::new(),
    };
    let report = fit(&fit_config, &data, &dir.classifier_run(arm), device, true)?;
    let on_selection = evaluate(
        report.classifier.model.as_ref(),
        fit_config.loss,
        selection,
        device,
    )?;
    let threshold = youden_point(&on_selection.labels, &on_selection.positive_scores)?.threshold;
    let labels = &report.test.labels;
    let scores = &report.test.positive_scores;
    let at = operating_point(labels, scores, threshold)?;
    let ci = roc_auc_delong(labels, scores)?;
    tracing::info!(
        "{} {}: test AUC {:.4} [{:.4}, {:.4}]; at the validation threshold {:.3}: sensitivity {:.3}, specificity {:.3}",
        job.name(),
        arm.name(),
        ci.auc,
        ci.low,
        ci.high,
        threshold,
        at.sensitivity,
        at.specificity
    );
    Ok(ClassifierRecord {
        result: ClassifierResult {
            arm,
            real_fraction: job.real_fraction,
            replicate: job.replicate,
            seed: job.seed,
            real_images,
            synthetic_images: train.len() - real_images,
            selection_images: selection.len(),
            auc: ci.auc,
            auc_ci_low: ci.low,
            auc_ci_high: ci.high,
            threshold,
            sensitivity: at.sensitivity,
            specificity: at.specificity,
            accuracy: threshold_accuracy(labels, scores, threshold),
        },
        test_scores: scores.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The share of images classified right when P(class 1) >= `threshold` is
/// called class 1.
pub fn threshold_accuracy(labels: &[u32], scores: &[f64], threshold: f64) -> f64 {
    let right = labels
        .iter()
        .zip(scores)
        .filter(|&(&l, &s)| (s >= threshold) == (l == 1))
        .count();
    right as f64 / labels.len().max(1) as f64
}
