//! End-to-end tests of the study on tiny generated data: every file of the
//! report is written; no arm trains or selects on real images outside its
//! budget (asserted on the indices and on the digest of the images each
//! classifier selected on); a study killed mid-GAN and resumed, and one run
//! in two shards, give the same results as an unbroken run.

use std::path::Path;
use std::sync::OnceLock;

use candle_core::Device;
use forger::data::{Dataset, Splits};
use forger::lab::study::job::{gan_config, JobDir};
use forger::lab::study::{
    assemble, budget_indices, plan, run_study, Arm, RunOptions, Shard, StudyConfig, StudyReport,
};
use forger::models::{ClassifierConfig, GanConfig, MnistCnnConfig};
use forger::train::gan::{train_gan, GanTrainConfig};
use forger::train::{FitConfig, RunDir, Schedule, Selection};

/// Dark images are class 0, bright ones class 1, with a little texture.
fn dark_and_bright(n: usize, offset: usize) -> Dataset {
    let mut pixels = Vec::with_capacity(n * 784);
    let labels: Vec<u32> = (0..n)
        .map(|i| u32::from((i + offset).is_multiple_of(3)))
        .collect();
    for (i, &l) in labels.iter().enumerate() {
        let base = if l == 0 { 60 } else { 190 };
        pixels.extend(
            (0..784).map(|p| (base + ((p * 7 + (i + offset) * 13) % 41) as i32 - 20) as u8),
        );
    }
    Dataset::new(
        pixels,
        labels,
        [1, 28, 28],
        vec!["normal".into(), "finding".into()],
    )
    .unwrap()
}

fn splits() -> Splits {
    Splits {
        train: dark_and_bright(240, 0),
        val: dark_and_bright(60, 1000),
        test: dark_and_bright(60, 2000),
    }
}

fn config() -> StudyConfig {
    let gan = GanConfig {
        latent: 8,
        generator_widths: [16, 8, 4],
        discriminator_widths: [4, 8],
        classes: Some(2),
        ..Default::default()
    };
    let classifier = ClassifierConfig::MnistCnn(MnistCnnConfig {
        classes: 2,
        ..Default::default()
    });
    StudyConfig {
        budgets: vec![1.0, 0.25],
        replicates: 2,
        seed: 3,
        validation_floor: 10,
        gan: GanTrainConfig {
            batch_size: 16,
            log_every: 2,
            sample_every: 4,
            ..GanTrainConfig::new(gan, 6)
        },
        classifier: FitConfig {
            schedule: Schedule::Steps(4),
            eval_every: Some(2),
            batch_size: 16,
            selection: Some(Selection::Auc),
            ..FitConfig::mnist_tutorial(classifier)
        },
        synthetic_size: Some(90),
        synthetic_class_shares: None,
        bootstrap_resamples: 200,
        data_description: "generated dark and bright squares".into(),
        reference_auc: Some("0.9 for a model of the test's own".into()),
    }
}

/// One unbroken study, shared by the tests.
fn unbroken() -> &'static (tempfile::TempDir, StudyReport) {
    static RUN: OnceLock<(tempfile::TempDir, StudyReport)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        let report = run_study(
            &config(),
            &splits(),
            &run,
            &Device::Cpu,
            RunOptions::default(),
            "cargo test",
        )
        .unwrap()
        .expect("a whole-plan run assembles its report");
        (dir, report)
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_study_writes_every_file_and_reports_its_tests() {
    let (dir, report) = unbroken();
    let run = RunDir::new(dir.path());
    for f in [
        "report.md",
        "results.json",
        "roc.png",
        "indices.json",
        "timings.json",
        "study.json",
        "samples_100pct.png",
        "samples_25pct.png",
        "audit_100pct.png",
        "audit.md",
        "audit_gallery_25pct.png",
    ] {
        assert!(run.file(f).is_file(), "{f} missing");
    }
    // The teaching set: the full-budget replicate-0 synthetic set less its flagged images.
    let teaching = report
        .gans
        .iter()
        .find(|g| g.real_fraction == 1.0 && g.replicate == 0)
        .unwrap();
    assert_eq!(
        walk(&run.file("synthetic")),
        90 - teaching.audit.flagged.count
    );
    assert_eq!(teaching.audit.synthetic_images, 90);
    assert_eq!(teaching.audit.held_out_images, 60);
    assert!(run.file("synthetic/normal").is_dir() && run.file("synthetic/finding").is_dir());

    let results: StudyReport = serde_json::from_str(&read(&run.file("results.json"))).unwrap();
    let as_written: serde_json::Value =
        serde_json::from_str(&read(&run.file("results.json"))).unwrap();
    assert_eq!(as_written, serde_json::to_value(report).unwrap());
    assert_eq!(results.classifiers.len(), 2 * 3 * 2);
    assert_eq!(results.arms.len(), 2 * 3);
    assert_eq!(results.comparisons.len(), 2 * 2);
    assert_eq!(results.gans.len(), 2 * 2);
    for a in &results.arms {
        assert_eq!(a.replicates, 2);
        assert!(
            a.interval.low <= a.mean_auc && a.mean_auc <= a.interval.high,
            "{a:?}"
        );
    }
    // Holm's adjustment never lowers a p-value.
    for c in &results.comparisons {
        assert!(c.p_holm >= c.paired.p_value && c.p_holm <= 1.0, "{c:?}");
    }
    let md = read(&run.file("report.md"));
    for needle in [
        "## What the study shows",
        "## Labelled real images per budget",
        "pigeonhole bootstrap",
        "paired DeLong",
        "Holm",
        "Youden",
        "memorisation audit",
        "membership AUC",
        "KID",
        "| real |",
        "| synthetic |",
        "| mixed |",
        "roc.png",
        "cargo test",
        "generated dark and bright",
        "published reference on this data set: test ROC AUC 0.9 for a model of the test's own",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}");
    }
}

#[test]
fn no_arm_trains_or_selects_outside_its_budget() {
    let (dir, report) = unbroken();
    let (splits, config) = (splits(), config());
    let indices: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("indices.json"))).unwrap();
    let jobs = plan(&config, &splits).unwrap();
    assert_eq!(indices.as_array().unwrap().len(), jobs.len());
    for (record, job) in indices.as_array().unwrap().iter().zip(&jobs) {
        let train: Vec<usize> = serde_json::from_value(record["train_indices"].clone()).unwrap();
        let val: Vec<usize> = serde_json::from_value(record["val_indices"].clone()).unwrap();
        let seed = config.seed + job.replicate as u64;
        assert_eq!(record["seed"], seed);
        assert_eq!(
            train,
            budget_indices(&splits.train, job.real_fraction, 0, seed, "budget")
        );
        // Stratified shares of each class, with the floor of 10 per class.
        let count = |idx: &[usize], d: &Dataset, c: u32| {
            idx.iter().filter(|&&i| d.labels()[i] == c).count()
        };
        let (t1, t0) = (
            count(&train, &splits.train, 1),
            count(&train, &splits.train, 0),
        );
        let (v1, v0) = (count(&val, &splits.val, 1), count(&val, &splits.val, 0));
        if job.real_fraction == 1.0 {
            assert_eq!((t0, t1, v0, v1), (160, 80, 40, 20));
        } else {
            // 25%: 40 and 20 training images; validation round(10) = 10 and round(5) -> the floor, 10.
            assert_eq!((t0, t1, v0, v1), (40, 20, 10, 10));
            // Nested in the full budget's draw of the same replicate.
            let full = budget_indices(&splits.val, 1.0, 10, seed, "validation");
            assert!(val.iter().all(|i| full.contains(i)));
            let half = budget_indices(&splits.val, 0.5, 10, seed, "validation");
            assert!(val.iter().all(|i| half.contains(i)));
        }
        // Every classifier selected on exactly these validation images: its
        // run records the digest of the set it was handed.
        let digest = format!("{:016x}", splits.val.subset(&val).unwrap().digest());
        let job_dir = JobDir::new(dir.path(), job);
        for arm in Arm::ALL {
            let cfg: serde_json::Value =
                serde_json::from_str(&read(&job_dir.classifier_run(arm).config())).unwrap();
            let data = cfg["data"].as_str().unwrap();
            assert!(
                data.contains(&format!(
                    "selection on {} real validation images",
                    val.len()
                )),
                "{data}"
            );
            assert!(
                data.contains(&digest),
                "{arm:?} of {}: {data} lacks {digest}",
                job.name()
            );
        }
        let gan: serde_json::Value =
            serde_json::from_str(&read(&job_dir.gan_run().config())).unwrap();
        assert!(gan["data"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} real training images", train.len())));
        for r in report
            .classifiers
            .iter()
            .filter(|r| r.real_fraction == job.real_fraction && r.replicate == job.replicate)
        {
            assert_eq!(r.selection_images, val.len());
            assert_eq!(
                r.real_images,
                if r.arm == Arm::Synthetic {
                    0
                } else {
                    train.len()
                }
            );
            assert_eq!(r.synthetic_images, if r.arm == Arm::Real { 0 } else { 90 });
        }
    }
    // The replicates drew different budgets.
    let quarter: Vec<_> = indices
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["real_fraction"] == 0.25)
        .collect();
    assert_ne!(quarter[0]["train_indices"], quarter[1]["train_indices"]);
}

#[test]
fn a_study_killed_mid_gan_resumes_to_the_same_results() {
    let (reference, _) = unbroken();
    let (splits, config) = (splits(), config());
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    // What a kill during job 1's GAN leaves: the first job finished, the
    // second job's GAN checkpointed half-way.
    let jobs = plan(&config, &splits).unwrap();
    let first = RunOptions {
        shard: Shard { index: 0, count: 4 },
        resume: false,
    };
    run_study(&config, &splits, &run, &Device::Cpu, first, "x").unwrap();
    std::fs::remove_file(dir.path().join("study.json")).unwrap();
    let job = &jobs[1];
    let (real, _) = job.data(&splits).unwrap();
    let half = GanTrainConfig {
        steps: config.gan.steps / 2,
        ..gan_config(&config, job)
    };
    let source = format!("{} real training images ({})", real.len(), job.name());
    let gan_run = JobDir::new(dir.path(), job).gan_run();
    train_gan(&half, &real, &source, &gan_run, &Device::Cpu, false, None).unwrap();
    // What only a resume keeps: the first GAN row's wall time, job 0's records.
    let first_row = |path: &Path| read(path).lines().nth(1).unwrap().to_string();
    let before_kill = first_row(&gan_run.history());
    let job0 = JobDir::new(dir.path(), &jobs[0]);
    let job0_record = serde_json::to_string(&job0.read_classifier(Arm::Mixed).unwrap()).unwrap();

    let resumed = RunOptions {
        resume: true,
        ..RunOptions::default()
    };
    run_study(&config, &splits, &run, &Device::Cpu, resumed, "cargo test").unwrap();
    assert_eq!(
        read(&dir.path().join("results.json")),
        read(&reference.path().join("results.json"))
    );
    assert_eq!(
        first_row(&gan_run.history()),
        before_kill,
        "the GAN was trained again, not resumed"
    );
    let after = serde_json::to_string(&job0.read_classifier(Arm::Mixed).unwrap()).unwrap();
    assert_eq!(
        after, job0_record,
        "a finished classifier was trained again"
    );

    let again = run_study(
        &config,
        &splits,
        &run,
        &Device::Cpu,
        RunOptions::default(),
        "x",
    );
    let message = again
        .expect_err("a second run without --resume is refused")
        .to_string();
    assert!(message.contains("--resume"), "{message}");
    let mut other = config.clone();
    other.replicates = 3;
    let message = run_study(&other, &splits, &run, &Device::Cpu, resumed, "x")
        .expect_err("other settings are refused")
        .to_string();
    assert!(message.contains("replicates"), "{message}");

    // A study.json from before the report's reference line still resumes.
    let manifest = dir.path().join("study.json");
    let mut older: serde_json::Value = serde_json::from_str(&read(&manifest)).unwrap();
    older["config"]
        .as_object_mut()
        .unwrap()
        .remove("reference_auc")
        .expect("the reference is recorded");
    std::fs::write(&manifest, older.to_string()).unwrap();
    run_study(&config, &splits, &run, &Device::Cpu, resumed, "cargo test").unwrap();
}

#[test]
fn two_shards_assemble_to_the_report_of_one_run() {
    let (reference, _) = unbroken();
    let (splits, config) = (splits(), config());
    let shards: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, dir) in shards.iter().enumerate() {
        let options = RunOptions {
            shard: Shard { index: i, count: 2 },
            resume: false,
        };
        let report = run_study(
            &config,
            &splits,
            &RunDir::new(dir.path()),
            &Device::Cpu,
            options,
            "x",
        )
        .unwrap();
        assert!(
            report.is_none(),
            "a shard leaves the report to the assembly"
        );
    }
    let out = tempfile::tempdir().unwrap();
    let sources: Vec<&Path> = shards.iter().map(|d| d.path()).collect();
    let missing = assemble(
        &config,
        &splits,
        &sources[..1],
        &RunDir::new(out.path()),
        &Device::Cpu,
        "x",
    )
    .expect_err("one shard alone is not the plan")
    .to_string();
    assert!(
        missing.contains("not finished") && missing.contains("25pct-r1"),
        "{missing}"
    );
    assemble(
        &config,
        &splits,
        &sources,
        &RunDir::new(out.path()),
        &Device::Cpu,
        "cargo test",
    )
    .unwrap();
    for file in ["results.json", "report.md", "indices.json"] {
        assert_eq!(
            read(&out.path().join(file)),
            read(&reference.path().join(file)),
            "{file}"
        );
    }
}

#[test]
fn budgets_too_small_are_refused_before_any_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.budgets = vec![1.0, 0.05];
    let err = run_study(
        &config,
        &splits(),
        &RunDir::new(dir.path()),
        &Device::Cpu,
        RunOptions::default(),
        "x",
    )
    .expect_err("5% of 80 images is 4, below the floor of 5")
    .to_string();
    assert!(
        err.contains("budget 0.05") && err.contains("`finding`") && err.contains("at least 5"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was written"
    );
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "png"))
            }
        })
        .sum()
}

#[test]
fn an_ablation_changes_only_the_gan_training_and_resumes() {
    use forger::lab::study::{run_ablation, Variant};
    let variants: Vec<Variant> = Variant::NAMES
        .iter()
        .map(|n| Variant::named(n).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let ablate = |resume| {
        run_ablation(
            &config(),
            &variants,
            &splits(),
            &run,
            &Device::Cpu,
            resume,
            "cargo test",
        )
    };
    let report = ablate(false).unwrap();
    assert_eq!(report.summaries.len(), 3 * 2);
    assert_eq!(report.comparisons.len(), 2 * 2);
    for c in &report.comparisons {
        assert_eq!(c.against, "plain");
        assert!(c.p_holm >= c.paired.p_value && c.p_holm <= 1.0);
        assert!(c.interval.low <= c.interval.high);
    }
    // The plain variant is the study's own GAN: its synthetic arm scores
    // what the study's synthetic arm scored, replicate by replicate.
    let (_, study) = unbroken();
    for g in report.gans.iter().filter(|g| g.variant == "plain") {
        let same = study
            .classifiers
            .iter()
            .find(|c| {
                c.arm == Arm::Synthetic
                    && c.real_fraction == g.real_fraction
                    && c.replicate == g.replicate
            })
            .unwrap();
        assert_eq!(g.synthetic_auc, same.auc);
    }
    // DiffAugment changes the GAN, and so its images.
    let frechet = |v: &str| -> Vec<f64> {
        report
            .gans
            .iter()
            .filter(|g| g.variant == v)
            .map(|g| g.frechet_synthetic)
            .collect()
    };
    assert_ne!(frechet("plain"), frechet("diffaugment"));
    let settings = read(&dir.path().join("diffaugment-lecam/variant.json"));
    assert!(settings.contains("\"lecam\":{") || settings.contains("\"lecam\": {"));
    let md = read(&dir.path().join("ablation.md"));
    for name in Variant::NAMES {
        assert!(md.contains(&format!("| {name} |")), "{md}");
    }
    // Finished jobs are kept: a resumed ablation gives the same report.
    assert_eq!(ablate(true).unwrap(), report);
    let again = ablate(false).unwrap_err().to_string();
    assert!(again.contains("--resume"), "{again}");
    assert!(md.contains(" ± ") && !md.contains("| n/a |"), "{md}");
    // One replicate has no spread: the report says so, not a zero sd.
    let single = tempfile::tempdir().unwrap();
    let one = StudyConfig {
        replicates: 1,
        budgets: vec![1.0],
        ..config()
    };
    let run_one = RunDir::new(single.path());
    run_ablation(
        &one,
        &variants[..2],
        &splits(),
        &run_one,
        &Device::Cpu,
        false,
        "x",
    )
    .unwrap();
    let md = read(&single.path().join("ablation.md"));
    assert!(md.contains("| n/a |") && !md.contains(" ± "), "{md}");
    let unknown = Variant::named("diffaug").unwrap_err().to_string();
    assert!(
        unknown.contains("\"diffaug\"") && unknown.contains("plain"),
        "{unknown}"
    );
}
