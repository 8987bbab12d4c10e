//! End-to-end tests of the cats-vs-dogs tutorial's workflow on small
//! generated image trees: augmented training, resume, and the
//! with-versus-without-augmentation study.

use std::path::Path;

use candle_core::Device;
use forger::data::image_folder::ImageFolderConfig;
use forger::data::LoadConfig;
use forger::data::Splits;
use forger::lab::augmentation_study::{run_augmentation_study, AugmentationStudyConfig};
use forger::models::{CatDogCnnConfig, ClassifierConfig};
use forger::train::{fit, FitConfig, FitData, RunDir, Schedule};

mod common;
use common::without_time;

/// A Kaggle-layout tree of 12x12 RGB PNGs: `stripes/` has horizontal
/// stripes, `checks/` a checkerboard, each image with its own brightness.
fn write_kaggle_tree(root: &Path, train_per_class: usize, test_per_class: usize) {
    for (split, n) in [
        ("training_set", train_per_class),
        ("test_set", test_per_class),
    ] {
        for (class, pattern) in [("checks", 0u32), ("stripes", 1)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for k in 0..n {
                let level = 120 + (k * 37 % 120) as u8;
                let img = image::RgbImage::from_fn(12, 12, |x, y| {
                    let on = if pattern == 0 {
                        (x / 2 + y / 2) % 2 == 0
                    } else {
                        (y / 2) % 2 == 0
                    };
                    let v = if on { level } else { level / 4 };
                    image::Rgb([v, v / 2, 255 - v])
                });
                img.save(dir.join(format!("{k:03}.png"))).unwrap();
            }
        }
    }
}

fn load(root: &Path) -> Splits {
    let config = LoadConfig {
        folder: ImageFolderConfig {
            size: [12, 12],
            ..Default::default()
        },
        val_split: Some(0.25),
        ..Default::default()
    };
    forger::data::load(root, &config).unwrap().splits
}

fn tiny_config(epochs: u64) -> FitConfig {
    let model = ClassifierConfig::CatDogCnn(CatDogCnnConfig {
        input: [3, 12, 12],
        filters: [4, 4, 4],
        dense: [8, 8],
        ..Default::default()
    });
    FitConfig {
        schedule: Schedule::Epochs(epochs),
        batch_size: 8,
        ..FitConfig::catdog_tutorial(model)
    }
}

#[test]
fn augmented_training_resumes_exactly_and_differs_from_plain() {
    let dir = tempfile::tempdir().unwrap();
    write_kaggle_tree(&dir.path().join("data"), 16, 4);
    let splits = load(&dir.path().join("data"));
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (24, 8, 8)
    );
    let data = FitData::from_splits(&splits, "generated");
    let cpu = Device::Cpu;
    let run = |name: &str| RunDir::new(dir.path().join(name));

    let unbroken = fit(&tiny_config(3), &data, &run("a"), &cpu, false).unwrap();
    assert_eq!(unbroken.history.len(), 3, "one evaluation per epoch");
    assert!(
        unbroken.metrics.last.is_some(),
        "the last weights are scored too"
    );
    fit(&tiny_config(2), &data, &run("b"), &cpu, false).unwrap();
    let resumed = fit(&tiny_config(3), &data, &run("b"), &cpu, true).unwrap();
    assert_eq!(
        without_time(&resumed.history),
        without_time(&unbroken.history)
    );

    let plain = FitConfig {
        augment: None,
        ..tiny_config(3)
    };
    let plain = fit(&plain, &data, &run("c"), &cpu, false).unwrap();
    assert_ne!(
        unbroken.history[0].loss, plain.history[0].loss,
        "augmentation changes what the model sees"
    );
    for file in [
        "config.json",
        "history.csv",
        "model.safetensors",
        "last.safetensors",
        "metrics.json",
        "curves.png",
    ] {
        assert!(run("a").file(file).is_file(), "{file} written");
    }
    let config = std::fs::read_to_string(run("a").config()).unwrap();
    assert!(config.contains("rotation_range"), "{config}");
}

#[test]
fn augmentation_study_trains_both_arms_and_writes_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    write_kaggle_tree(&dir.path().join("data"), 12, 4);
    let splits = load(&dir.path().join("data"));
    let out = dir.path().join("study");
    let config = AugmentationStudyConfig {
        fit: tiny_config(2),
        seeds: vec![3],
        command: "cargo xtask experiment cats-dogs --data generated".into(),
    };
    let data = FitData::from_splits(&splits, "generated");
    let study = run_augmentation_study(&config, &data, &out, &Device::Cpu).unwrap();
    assert_eq!(study.runs.len(), 2);
    assert_eq!(
        study.runs.iter().map(|r| r.augmented).collect::<Vec<_>>(),
        [true, false]
    );
    for r in &study.runs {
        assert!(r.run.join("curves.png").is_file());
        assert!((0.0..=1.0).contains(&r.metrics.test_accuracy));
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for needle in [
        "| augmented | 3 |",
        "| plain | 3 |",
        "Mean test accuracy",
        "- kept weights: **augmented",
        "- last epoch's weights: **augmented",
        "--data generated",
        "](curves.png)",
        "augmented-seed3/curves.png",
    ] {
        assert!(summary.contains(needle), "{needle} in\n{summary}");
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["runs"].as_array().unwrap().len(), 2);
    assert!(out.join("curves.png").is_file());

    // Run again: the finished runs resume at their end instead of retraining.
    let again = run_augmentation_study(&config, &data, &out, &Device::Cpu).unwrap();
    assert_eq!(
        again.runs[0].metrics.test_accuracy,
        study.runs[0].metrics.test_accuracy
    );
}
