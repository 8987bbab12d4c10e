//! End-to-end tests of the classifier workflow on real data: training,
//! resuming, reproducibility, evaluation and prediction from a run directory.

use std::path::{Path, PathBuf};

use candle_core::Device;
use forger::data::{load, LoadConfig, Splits};
use forger::models::{ClassifierConfig, MnistCnnConfig};
use forger::train::{fit, FitConfig, FitData, RunDir, Schedule, Selection, TrainedClassifier};

mod common;
use common::without_time;

fn pneumonia() -> Splits {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/pneumoniamnist.npz");
    load(&path, &LoadConfig::default())
        .expect("the vendored PneumoniaMNIST loads")
        .splits
}

fn two_class_config(steps: u64, eval_every: u64) -> FitConfig {
    let model = ClassifierConfig::MnistCnn(MnistCnnConfig {
        classes: 2,
        ..Default::default()
    });
    FitConfig {
        schedule: Schedule::Steps(steps),
        eval_every: Some(eval_every),
        ..FitConfig::mnist_tutorial(model)
    }
}

#[test]
fn pneumonia_cnn_learns_well_above_chance_and_writes_its_run() {
    let splits = pneumonia();
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let config = FitConfig {
        selection: Some(Selection::Auc),
        ..two_class_config(200, 50)
    };
    let report = fit(
        &config,
        &FitData::from_splits(&splits, "pneumoniamnist"),
        &run,
        &Device::Cpu,
        false,
    )
    .unwrap();
    // 62.5% of the test images are pneumonia: a constant guess scores 0.625 and AUC 0.5.
    let m = &report.metrics;
    assert!(m.test_auc.unwrap() > 0.85, "test AUC {:?}", m.test_auc);
    assert!(m.test_accuracy > 0.75, "test accuracy {}", m.test_accuracy);
    assert_eq!(report.history.len(), 4);
    for file in [
        run.config(),
        run.history(),
        run.checkpoint(),
        run.model(),
        run.metrics(),
        run.curves(),
    ] {
        assert!(file.is_file(), "{} missing", file.display());
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.metrics()).unwrap()).unwrap();
    for key in [
        "test_accuracy",
        "test_loss",
        "steps",
        "train_seconds",
        "test_auc",
    ] {
        assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
    }
    let csv = std::fs::read_to_string(run.history()).unwrap();
    assert!(csv.starts_with("step,epoch,loss,accuracy,val_loss,val_accuracy"));
    assert_eq!(csv.lines().count(), 5);

    // The saved run evaluates to the same test metrics and predicts files.
    let trained: TrainedClassifier = TrainedClassifier::load(&run, &Device::Cpu).unwrap();
    let again = trained.evaluate(&splits.test, &Device::Cpu).unwrap();
    assert!((again.accuracy - m.test_accuracy).abs() < 1e-9);
    let png = dir.path().join("case.png");
    let img = image::GrayImage::from_raw(28, 28, splits.test.image(0).to_vec()).unwrap();
    img.save(&png).unwrap();
    let prediction = trained.predict_file(&png, &Device::Cpu).unwrap();
    let (class, p) = (prediction.class, prediction.probability);
    assert!(
        ["normal", "pneumonia"].contains(&class.as_str()) && (0.5..=1.0).contains(&p),
        "{class} {p}"
    );
    let err = trained
        .predict_file(&dir.path().join("missing.png"), &Device::Cpu)
        .unwrap_err();
    assert!(err.to_string().contains("missing.png"), "{err}");
}

#[test]
fn resume_continues_exactly_and_same_seed_reproduces() {
    let splits = pneumonia();
    let small = splits.train.subset(&(0..640).collect::<Vec<_>>()).unwrap();
    let data = FitData {
        train: &small,
        eval: &splits.val,
        test: &splits.test,
        source: "pneumoniamnist (first 640)".into(),
        inputs: None,
        skipped: Vec::new(),
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs: Vec<RunDir> = dirs.iter().map(|d| RunDir::new(d.path())).collect();
    let cpu = Device::Cpu;
    // 14 steps cross an epoch boundary (10 batches per epoch); rows every
    // 4 steps, the best validation AUC kept.
    let config = |steps| FitConfig {
        selection: Some(Selection::Auc),
        ..two_class_config(steps, 4)
    };
    let unbroken = fit(&config(14), &data, &runs[0], &cpu, false).unwrap();
    let twin = fit(&config(14), &data, &runs[1], &cpu, false).unwrap();
    assert_eq!(without_time(&unbroken.history), without_time(&twin.history));

    // Cut twice between rows (after steps 7 and 11, mid-interval and
    // mid-epoch), then resumed to the end: the run is the unbroken one.
    fit(&config(7), &data, &runs[2], &cpu, false).unwrap();
    let err = fit(&config(14), &data, &runs[2], &cpu, false)
        .err()
        .unwrap();
    assert!(err.to_string().contains("--resume"), "{err}");
    let cut = fit(&config(11), &data, &runs[2], &cpu, true).unwrap();
    assert_eq!(cut.history.last().unwrap().step, 11);
    let resumed = fit(&config(14), &data, &runs[2], &cpu, true).unwrap();
    assert_eq!(
        without_time(&resumed.history),
        without_time(&unbroken.history)
    );
    assert_eq!(resumed.metrics.kept_step, unbroken.metrics.kept_step);
    assert_eq!(
        resumed.metrics.test_accuracy,
        unbroken.metrics.test_accuracy
    );
    assert_eq!(resumed.test.positive_scores, unbroken.test.positive_scores);

    let other_seed = FitConfig {
        seed: 1,
        ..config(14)
    };
    let err = fit(&other_seed, &data, &runs[2], &cpu, true).err().unwrap();
    assert!(err.to_string().contains("other settings"), "{err}");
}

fn fashion_mnist() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install Debian's dataset-fashion-mnist for this test"
    );
    eprintln!("SKIPPED: /usr/share/datasets/fashion-mnist is absent (apt-get install dataset-fashion-mnist)");
    None
}

#[test]
fn fashion_mnist_cnn_learns_ten_classes() {
    let Some(dir) = fashion_mnist() else { return };
    let splits = load(&dir, &LoadConfig::default()).unwrap().splits;
    assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
    let train = splits.train.subset(&(0..4096).collect::<Vec<_>>()).unwrap();
    let test = splits.test.subset(&(0..2000).collect::<Vec<_>>()).unwrap();
    let data = FitData {
        train: &train,
        eval: &test,
        test: &test,
        source: dir.display().to_string(),
        inputs: None,
        skipped: Vec::new(),
    };
    let config = FitConfig {
        schedule: Schedule::Steps(150),
        eval_every: Some(150),
        ..FitConfig::mnist_tutorial(ClassifierConfig::MnistCnn(MnistCnnConfig::default()))
    };
    let dir = tempfile::tempdir().unwrap();
    let report = fit(
        &config,
        &data,
        &RunDir::new(dir.path()),
        &Device::Cpu,
        false,
    )
    .unwrap();
    // Ten balanced classes: chance is 0.1.
    assert!(
        report.metrics.test_accuracy > 0.6,
        "{}",
        report.metrics.test_accuracy
    );
}

#[test]
fn mismatched_data_and_model_are_clear_errors() {
    let splits = pneumonia();
    let dir = tempfile::tempdir().unwrap();
    let ten_classes =
        FitConfig::mnist_tutorial(ClassifierConfig::MnistCnn(MnistCnnConfig::default()));
    let err = fit(
        &ten_classes,
        &FitData::from_splits(&splits, "p"),
        &RunDir::new(dir.path()),
        &Device::Cpu,
        false,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("2 classes but the model 10"),
        "{err}"
    );
}
