//! End-to-end test of the study on tiny generated data: every file of the
//! report is written, and no arm trains on real images outside its budget.

use candle_core::Device;
use forger::data::{Dataset, Splits};
use forger::lab::study::{budget_indices, run_study, Arm, ArmResult, StudyConfig};
use forger::models::{ClassifierConfig, GanConfig, MnistCnnConfig};
use forger::train::gan::GanTrainConfig;
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

#[test]
fn tiny_study_writes_every_file_and_respects_budgets() {
    let splits = Splits {
        train: dark_and_bright(240, 0),
        val: dark_and_bright(60, 1000),
        test: dark_and_bright(60, 2000),
    };
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
    let config = StudyConfig {
        budgets: vec![1.0, 0.5],
        seeds: vec![0, 1],
        gan: GanTrainConfig {
            batch_size: 16,
            log_every: 2,
            sample_every: 4,
            ..GanTrainConfig::new(gan, 4)
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
        command: "cargo test".into(),
        data_description: "generated dark and bright squares".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let report = run_study(&config, &splits, &run, &Device::Cpu).unwrap();

    for f in [
        "report.md",
        "results.json",
        "roc.png",
        "indices.json",
        "samples_100pct.png",
        "samples_50pct.png",
    ] {
        assert!(run.file(f).is_file(), "{f} missing");
    }
    let synthetic_pngs = walk(&run.file("synthetic"));
    assert_eq!(synthetic_pngs, 90);
    assert!(run.file("synthetic/normal").is_dir() && run.file("synthetic/finding").is_dir());

    let results: Vec<ArmResult> =
        serde_json::from_str(&std::fs::read_to_string(run.file("results.json")).unwrap()).unwrap();
    assert_eq!(results.len(), 2 * 3 * 2);
    assert_eq!(results, report.results);
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.file("results.json")).unwrap()).unwrap();
    for key in [
        "arm",
        "real_fraction",
        "seed",
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "accuracy",
        "sensitivity",
        "specificity",
    ] {
        assert!(raw[0].get(key).is_some(), "results.json lacks {key}");
    }
    let md = std::fs::read_to_string(run.file("report.md")).unwrap();
    for needle in [
        "| real |",
        "| synthetic |",
        "| mixed |",
        "roc.png",
        "cargo test",
        "generated dark and bright",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}");
    }

    // No leakage: each budget used exactly its own stratified share of the
    // training split; the GAN of a budget saw exactly those images; the
    // synthetic arm saw no real image.
    let indices: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.file("indices.json")).unwrap()).unwrap();
    for (record, &fraction) in indices.as_array().unwrap().iter().zip(&config.budgets) {
        let used: Vec<usize> = serde_json::from_value(record["train_indices"].clone()).unwrap();
        assert_eq!(
            used,
            budget_indices(&splits.train, fraction, config.gan.seed)
        );
        assert!(used.iter().all(|&i| i < splits.train.len()));
        for r in results.iter().filter(|r| r.real_fraction == fraction) {
            let expected = if r.arm == Arm::Synthetic {
                0
            } else {
                used.len()
            };
            assert_eq!(r.real_images, expected, "{:?} at {fraction}", r.arm);
        }
        let tag = if fraction == 1.0 { "100pct" } else { "50pct" };
        let gan_config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run.file(&format!("gan-{tag}/config.json"))).unwrap(),
        )
        .unwrap();
        assert!(gan_config["data"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} real training images", used.len())));
    }
    let half: Vec<usize> = serde_json::from_value(indices[1]["train_indices"].clone()).unwrap();
    assert_eq!(half.len(), 120);
}

fn walk(dir: &std::path::Path) -> usize {
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
