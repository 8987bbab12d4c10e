//! Assembling a study: the job records of one run or of several shards
//! become the statistics (`results.json`), the report, the ROC figure, the
//! sample grids, the image-quality measures and the teaching set.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use forger_data::png::write_image_folder;
use forger_data::{Dataset, Splits};
use forger_train::atomic::{read_json, write_atomic, write_json};
use forger_train::audit::{audit, write_figures, Audit, AuditInputs};
use forger_train::gan::{cutout_leaks, discriminator_scores, TrainedGan};
use forger_train::metrics::{
    bootstrap_auc_difference, bootstrap_mean_auc, delong_mean, holm, paired_delong, roc_curve,
};
use forger_train::plot::{self, Panel, Series};
use forger_train::quality::{
    density_coverage, frechet_distance, kernel_distance, sample_subset, FeatureSpace, Kid,
};
use forger_train::{Result, RunDir, TrainError, TrainedClassifier};
use nalgebra::DMatrix;

use super::job::{synthetic_set, threshold_accuracy, ClassifierRecord, ClassifierResult, JobDir};
use super::plan::{budget_tag, plan, Job};
use super::results::{ArmSummary, BudgetImages, Comparison, GanQuality, StudyReport};
use super::{data_digests, report, Arm, Manifest, StudyConfig};

/// Closest pairs in an audit's gallery.
const GALLERY_PAIRS: usize = 16;
/// Neighbours of density and coverage (Naeem et al. 2020's default).
const NEIGHBOURS: usize = 5;
/// Subsets of the kernel distance.
const KID_SUBSETS: usize = 100;

/// A finished job and the folder it was found in.
struct Found {
    job: Job,
    dir: JobDir,
    records: Vec<ClassifierRecord>,
}

/// Builds the report of `config`'s study into `out` from the job folders
/// under `sources` (one study folder, or the folders of its shards); every
/// job of the plan must be finished in exactly one of them. `command` is
/// quoted in the report.
pub fn assemble(
    config: &StudyConfig,
    splits: &Splits,
    sources: &[&Path],
    out: &RunDir,
    device: &Device,
    command: &str,
) -> Result<StudyReport> {
    let started = Instant::now();
    let found = find_jobs(config, splits, sources)?;
    let labels = splits.test.labels();
    let mut classifiers = Vec::new();
    let mut arms = Vec::new();
    let mut comparisons = Vec::new();
    let mut budgets = Vec::new();
    let mut roc_panels = Vec::new();
    for (b, &fraction) in config.budgets.iter().enumerate() {
        let jobs: Vec<&Found> = found
            .iter()
            .filter(|f| f.job.real_fraction == fraction)
            .collect();
        budgets.push(BudgetImages {
            real_fraction: fraction,
            train: jobs[0].job.train_indices.len(),
            selection: jobs[0].job.val_indices.len(),
        });
        let scores = |a: usize| -> Vec<Vec<f64>> {
            jobs.iter()
                .map(|f| f.records[a].test_scores.clone())
                .collect()
        };
        for (a, arm) in Arm::ALL.into_iter().enumerate() {
            let results: Vec<&ClassifierResult> =
                jobs.iter().map(|f| &f.records[a].result).collect();
            classifiers.extend(results.iter().map(|&r| r.clone()));
            let aucs: Vec<f64> = results.iter().map(|r| r.auc).collect();
            let (mean_auc, sd_auc) = mean_sd(&aucs);
            let seed = config.seed ^ ((b * 3 + a) as u64) << 32;
            arms.push(ArmSummary {
                arm,
                real_fraction: fraction,
                replicates: results.len(),
                mean_auc,
                sd_auc,
                interval: bootstrap_mean_auc(labels, &scores(a), config.bootstrap_resamples, seed)?,
                test_sampling: delong_mean(labels, &scores(a))?,
                sensitivity: mean_sd(&results.iter().map(|r| r.sensitivity).collect::<Vec<_>>()).0,
                specificity: mean_sd(&results.iter().map(|r| r.specificity).collect::<Vec<_>>()).0,
            });
            if arm != Arm::Real {
                comparisons.push(Comparison {
                    real_fraction: fraction,
                    arm,
                    paired: paired_delong(labels, &scores(a), &scores(0))?,
                    p_holm: f64::NAN,
                    interval: bootstrap_auc_difference(
                        labels,
                        &scores(a),
                        &scores(0),
                        config.bootstrap_resamples,
                        seed ^ 1,
                    )?,
                });
            }
        }
        roc_panels.push(roc_panel(fraction, labels, &jobs[0].records)?);
        let tag = budget_tag(fraction);
        copy(
            &jobs[0].dir.gan_run().file("grid.png"),
            &out.file(&format!("samples_{tag}.png")),
        )?;
    }
    holm_adjust(&mut comparisons, |c| (c.paired.p_value, &mut c.p_holm));
    let (gans, feature_dimension) = gan_quality(config, splits, &found, out, device)?;
    let report = StudyReport {
        budgets,
        classifiers,
        arms,
        comparisons,
        gans,
        feature_dimension,
    };
    plot::draw(&out.file("roc.png"), &roc_panels)?;
    let indices: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            serde_json::json!({
                "job": f.job.name(),
                "real_fraction": f.job.real_fraction,
                "replicate": f.job.replicate,
                "seed": f.job.seed,
                "train_indices": f.job.train_indices,
                "val_indices": f.job.val_indices,
            })
        })
        .collect();
    write_json(&out.file("indices.json"), &indices)?;
    write_json(&out.file("results.json"), &report)?;
    write_timings(&found, out, started)?;
    write_atomic(
        &out.file("report.md"),
        report::render(config, splits, &report, command).as_bytes(),
    )?;
    write_atomic(
        &out.file("audit.md"),
        report::audit(config, splits, &report).as_bytes(),
    )?;
    Ok(report)
}

/// Every job of the plan, finished, from exactly one source folder whose
/// `study.json` matches `config` and the data.
fn find_jobs(config: &StudyConfig, splits: &Splits, sources: &[&Path]) -> Result<Vec<Found>> {
    let digests = data_digests(splits);
    for source in sources {
        let path = source.join("study.json");
        if !path.is_file() {
            return Err(TrainError::file(&path, "missing: not a study folder"));
        }
        let manifest: Manifest = read_json(&path)?;
        if manifest.data != digests {
            return Err(TrainError::file(
                &path,
                "was made on other data (the split digests differ)",
            ));
        }
        if &manifest.config != config {
            return Err(TrainError::file(
                &path,
                "was made with other settings than the other folders",
            ));
        }
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for job in plan(config, splits)? {
        let mut done = sources
            .iter()
            .map(|&s| (s, JobDir::new(s, &job)))
            .filter(|(_, d)| d.is_done(&Arm::ALL));
        match (done.next(), done.next()) {
            (None, _) => missing.push(job.name()),
            (Some((_, dir)), None) => {
                let records = Arm::ALL
                    .iter()
                    .map(|&a| dir.read_classifier(a))
                    .collect::<Result<Vec<_>>>()?;
                found.push(Found { job, dir, records });
            }
            (Some((a, _)), Some((b, _))) => {
                return Err(TrainError::Invalid(format!(
                    "job {} is finished in both {} and {}: give each shard's folder once",
                    job.name(),
                    a.display(),
                    b.display()
                )))
            }
        }
    }
    if !missing.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{} of the plan's jobs are not finished in {}: {} (run the missing shards, or --resume)",
            missing.len(),
            sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", "),
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// The ROC curves of a budget's first replicate.
fn roc_panel(fraction: f64, labels: &[u32], records: &[ClassifierRecord]) -> Result<Panel> {
    let mut series = Vec::new();
    for r in records {
        let curve = roc_curve(labels, &r.test_scores)?;
        series.push(Series::new(
            format!("{} (AUC {:.3})", r.result.arm.name(), r.result.auc),
            curve
                .iter()
                .map(|p| (p.false_positive_rate, p.true_positive_rate)),
        ));
    }
    series.push(Series::new("chance", [(0.0, 0.0), (1.0, 1.0)]));
    let mut panel = Panel::new(
        &format!("ROC, real budget {:.0}%, replicate 0", fraction * 100.0),
        "false positive rate",
        "true positive rate",
        series,
    );
    panel.y_range = Some((0.0, 1.0));
    Ok(panel)
}

/// Sets every comparison's Holm-adjusted p-value (the second of `fields`)
/// from its p-value (the first), over all of `comparisons`.
pub(super) fn holm_adjust<T>(comparisons: &mut [T], fields: impl Fn(&mut T) -> (f64, &mut f64)) {
    let p: Vec<f64> = comparisons.iter_mut().map(|c| fields(c).0).collect();
    for (c, adjusted) in comparisons.iter_mut().zip(holm(&p)) {
        *fields(c).1 = adjusted;
    }
}

/// The study's feature space, trained on the real validation split (into
/// `out/features`), and the real test images' features in it.
pub(super) fn feature_space(
    splits: &Splits,
    out: &RunDir,
    seed: u64,
    device: &Device,
) -> Result<(FeatureSpace, DMatrix<f64>)> {
    let space = FeatureSpace::train(
        &splits.val,
        &splits.val,
        &RunDir::new(out.file("features")),
        seed,
        device,
    )?;
    let test = space.features(&splits.test)?;
    Ok((space, test))
}

/// A finished job's synthetic set, from its GAN, and its real training images.
pub(super) fn job_images(
    config: &StudyConfig,
    splits: &Splits,
    job: &Job,
    dir: &JobDir,
    device: &Device,
) -> Result<(Dataset, Dataset)> {
    let generator = TrainedGan::load(&dir.gan_run(), device)?;
    let synthetic = synthetic_set(config, splits, &generator, job)?;
    let (real, _) = job.data(splits)?;
    Ok((synthetic, real))
}

/// The quality of every GAN in one feature space, trained on the real
/// validation split (`out/features`); writes the teaching set from the
/// first full-budget GAN. Returns the measures and the feature width.
fn gan_quality(
    config: &StudyConfig,
    splits: &Splits,
    found: &[Found],
    out: &RunDir,
    device: &Device,
) -> Result<(Vec<GanQuality>, usize)> {
    let (space, test) = feature_space(splits, out, config.seed, device)?;
    let mut quality = Vec::new();
    for f in found {
        let (synthetic, real) = job_images(config, splits, &f.job, &f.dir, device)?;
        let audit = audit_job(f, &synthetic, &real, splits, &space, out, device)?;
        if f.job.real_fraction == 1.0 && f.job.replicate == 0 {
            let teaching = teaching_set(config, &audit.without_flagged(&synthetic)?)?;
            write_image_folder(&teaching, &out.file("synthetic"))?;
        }
        let d = distances(&space, &test, &synthetic, &real, f.job.seed)?;
        let real_clf: TrainedClassifier =
            TrainedClassifier::load(&f.dir.classifier_run(Arm::Real), device)?;
        let threshold = f.records[0].result.threshold;
        quality.push(GanQuality {
            real_fraction: f.job.real_fraction,
            replicate: f.job.replicate,
            images: d.images,
            frechet_synthetic: d.frechet_synthetic,
            frechet_real: d.frechet_real,
            kid_synthetic: d.kid_synthetic,
            kid_real: d.kid_real,
            synthetic_manifold: density_coverage(&test, &d.synthetic, NEIGHBOURS)?,
            real_manifold: density_coverage(&test, &d.real, NEIGHBOURS)?,
            gan_train_accuracy: f.records[1].result.accuracy,
            gan_test_accuracy: accuracy_at(&real_clf, &synthetic, threshold, device)?,
            audit,
        });
    }
    Ok((quality, test.ncols()))
}

/// A synthetic set and, as the baseline, equally many of the budget's real
/// images, in a study's feature space, each against the real test set.
pub(super) struct Distances {
    /// Images in each compared set.
    pub images: usize,
    pub frechet_synthetic: f64,
    pub frechet_real: f64,
    pub kid_synthetic: Kid,
    pub kid_real: Kid,
    /// The compared sets' features.
    pub synthetic: DMatrix<f64>,
    pub real: DMatrix<f64>,
}

/// The Fréchet and kernel distances of `synthetic` and of the budget's
/// `real` images (subsets of equal size, seeded) to the test features.
pub(super) fn distances(
    space: &FeatureSpace,
    test: &DMatrix<f64>,
    synthetic: &Dataset,
    real: &Dataset,
    seed: u64,
) -> Result<Distances> {
    let n = real.len().min(synthetic.len());
    let fake = space.features(&sample_subset(synthetic, n, seed)?)?;
    let baseline = space.features(&sample_subset(real, n, seed)?)?;
    let subset = (n.min(test.nrows()) / 2).clamp(2, 1000);
    Ok(Distances {
        images: n,
        frechet_synthetic: frechet_distance(&fake, test)?,
        frechet_real: frechet_distance(&baseline, test)?,
        kid_synthetic: kernel_distance(&fake, test, KID_SUBSETS, subset, seed)?,
        kid_real: kernel_distance(&baseline, test, KID_SUBSETS, subset, seed)?,
        synthetic: fake,
        real: baseline,
    })
}

/// The teaching set: `cases` less, when the GAN trained with DiffAugment's
/// cutout, the images holding a flat square of the cutout's fill a quarter
/// of the side or more (cutout leaking into generated images).
fn teaching_set(config: &StudyConfig, cases: &Dataset) -> Result<Dataset> {
    let cutout = config
        .gan
        .diff_augment
        .as_ref()
        .is_some_and(|d| d.cutout > 0.0);
    if !cutout {
        return Ok(cases.clone());
    }
    let leaks = cutout_leaks(cases, 0.25)?;
    tracing::info!(
        "teaching set: left out {} of {} synthetic images with a cutout-like square",
        leaks.len(),
        cases.len()
    );
    let kept: Vec<usize> = (0..cases.len())
        .filter(|i| leaks.binary_search(i).is_err())
        .collect();
    Ok(cases.subset(&kept)?)
}

/// The memorisation audit of a job's synthetic set against its budget's
/// real images, with the real test split held out (pixels, the study's
/// feature space, and the discriminator's scores of equally many budget
/// and test images); replicate 0 also draws its figures
/// (`audit_<budget>.png`, `audit_gallery_<budget>.png`).
fn audit_job(
    f: &Found,
    synthetic: &Dataset,
    real: &Dataset,
    splits: &Splits,
    space: &FeatureSpace,
    out: &RunDir,
    device: &Device,
) -> Result<Audit> {
    let m = real.len().min(splits.test.len());
    let gan_run = f.dir.gan_run();
    let members = discriminator_scores(&gan_run, &sample_subset(real, m, f.job.seed)?, device)?;
    let others = discriminator_scores(
        &gan_run,
        &sample_subset(&splits.test, m, f.job.seed)?,
        device,
    )?;
    let audit = audit(&AuditInputs {
        synthetic,
        train: real,
        held_out: &splits.test,
        features: Some(space),
        membership: Some((&members, &others)),
    })?;
    if f.job.replicate == 0 {
        let tag = budget_tag(f.job.real_fraction);
        write_figures(
            &audit,
            synthetic,
            real,
            &out.file(&format!("audit_{tag}.png")),
            &out.file(&format!("audit_gallery_{tag}.png")),
            GALLERY_PAIRS,
        )?;
    }
    Ok(audit)
}

/// Accuracy of `classifier` on `data` at `threshold`.
fn accuracy_at(
    classifier: &TrainedClassifier,
    data: &Dataset,
    threshold: f64,
    device: &Device,
) -> Result<f64> {
    let e = classifier.evaluate(data, device)?;
    Ok(threshold_accuracy(&e.labels, &e.positive_scores, threshold))
}

/// `timings.json`: the seconds each unit took (not in `results.json`, so
/// that a resumed or sharded study gives the same results as one run).
fn write_timings(found: &[Found], out: &RunDir, started: Instant) -> Result<()> {
    let mut jobs = Vec::new();
    for f in found {
        jobs.push(serde_json::json!({
            "job": f.job.name(),
            "gan_seconds": f.dir.read_gan()?.seconds,
            "classifier_seconds": f.records.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        }));
    }
    let timings =
        serde_json::json!({"jobs": jobs, "assemble_seconds": started.elapsed().as_secs_f64()});
    Ok(write_json(&out.file("timings.json"), &timings)?)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| TrainError::io(from, e))?;
    Ok(write_atomic(to, &bytes)?)
}

/// Mean and sample sd (0 for one value).
pub(super) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}
