//! The residual classifier through `fit`: it learns a tiny separable set in
//! a few dozen steps, its batch-norm statistics come back with its weights,
//! and images of another size than the model's are a clear error. Two
//! ignored runs measure it: training speed at 64 and 128 px, and test AUC
//! on BUSI (`../shared/data/busi_256`) read at 64 px.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use forger_data::augment::AugmentConfig;
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{load, BatchConfig, Dataset, LoadConfig, Loader};
use forger_models::{ClassifierConfig, ResNetConfig};
use forger_train::optim::named_vars;
use forger_train::{
    check_image_shape, fit, init_classifier, ClassifierStep, FitConfig, FitData, LossKind,
    OptimizerConfig, RunDir, Schedule, TrainError, TrainStep, TrainedClassifier,
};

/// `n` grey `side x side` images of two classes: class 1 bright in its
/// left half, class 0 in its right half, with a little noise.
fn halves(n: usize, side: usize, seed: u64) -> Dataset {
    let mut pixels = Vec::with_capacity(n * side * side);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u32;
        for p in 0..side * side {
            let left = p % side < side / 2;
            let noise = ((p as u64 * 31 + i as u64 * 17 + seed * 7) % 40) as u8;
            pixels.push(if left == (label == 1) {
                180 + noise
            } else {
                40 + noise
            });
        }
        labels.push(label);
    }
    Dataset::new(
        pixels,
        labels,
        [1, side, side],
        Dataset::numbered_classes(2),
    )
    .unwrap()
}

fn config(input: [usize; 3], steps: u64) -> FitConfig {
    FitConfig {
        optimizer: OptimizerConfig::adam(1e-3),
        batch_size: 16,
        schedule: Schedule::Steps(steps),
        eval_every: Some(steps / 2),
        ..FitConfig::mnist_tutorial(ClassifierConfig::ResNet(ResNetConfig::new(input, 2)))
    }
}

#[test]
fn learns_a_separable_set_and_reloads_with_its_batch_norm_statistics() {
    let (train, val, test) = (halves(64, 28, 0), halves(16, 28, 1), halves(16, 28, 2));
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let data = FitData {
        train: &train,
        eval: &val,
        test: &test,
        source: "halves".into(),
        inputs: None,
        skipped: Vec::new(),
    };
    let report = fit(&config([1, 28, 28], 40), &data, &run, &Device::Cpu, false).unwrap();
    let (first, last) = (&report.history[0], report.history.last().unwrap());
    assert!(
        last.loss < 0.5 * first.loss,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    assert!(
        report.metrics.test_accuracy >= 0.9,
        "{}",
        report.metrics.test_accuracy
    );

    // The running statistics are weights of the run: trained, saved, and
    // used by the reloaded model, which scores exactly as the trained one.
    let reloaded: TrainedClassifier = TrainedClassifier::load(&run, &Device::Cpu).unwrap();
    let stats = named_vars(&reloaded.varmap);
    let (_, mean) = stats
        .iter()
        .find(|(n, _)| n == "stem.bn.running_mean")
        .unwrap();
    assert!(mean.to_vec1::<f32>().unwrap().iter().any(|&m| m != 0.0));
    let again = reloaded.evaluate(&test, &Device::Cpu).unwrap();
    assert_eq!(again.loss, report.test.loss);
    assert_eq!(again.positive_scores, report.test.positive_scores);
}

/// A run cut at step 10 and resumed to 20 ends with the bits of an
/// unbroken one: the checkpoint holds the batch-norm statistics too.
#[test]
fn a_resumed_run_matches_an_unbroken_one() {
    let (train, test) = (halves(48, 28, 0), halves(16, 28, 2));
    let data = FitData {
        train: &train,
        eval: &test,
        test: &test,
        source: "halves".into(),
        inputs: None,
        skipped: Vec::new(),
    };
    let run = |dir: &Path, steps, resume| {
        let mut config = config([1, 28, 28], 20);
        config.schedule = Schedule::Steps(steps);
        config.eval_every = Some(10);
        fit(&config, &data, &RunDir::new(dir), &Device::Cpu, resume).unwrap()
    };
    let (whole, cut) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let unbroken = run(whole.path(), 20, false);
    run(cut.path(), 10, false);
    let resumed = run(cut.path(), 20, true);
    assert_eq!(resumed.test.positive_scores, unbroken.test.positive_scores);
    assert_eq!(resumed.history.len(), unbroken.history.len());
}

#[test]
fn images_of_another_size_are_an_error_naming_both_sizes() {
    let err = check_image_shape("test", [1, 64, 64], [1, 128, 128]).unwrap_err();
    assert!(matches!(err, TrainError::ImageShape { .. }));
    assert_eq!(
        err.to_string(),
        "the test images are 64x64 px, 1 channel but the model was built for 128x128 px, \
         1 channel: read the images at the model's size and colour, or build the model for theirs"
    );
    assert!(check_image_shape("test", [3, 28, 28], [3, 28, 28]).is_ok());

    let small = halves(8, 64, 0);
    let dir = tempfile::tempdir().unwrap();
    let data = FitData {
        train: &small,
        eval: &small,
        test: &small,
        source: "halves".into(),
        inputs: None,
        skipped: Vec::new(),
    };
    let run = RunDir::new(dir.path());
    let err = fit(&config([1, 128, 128], 2), &data, &run, &Device::Cpu, false)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("training images are 64x64 px") && err.contains("built for 128x128 px"),
        "{err}"
    );
    let model = ClassifierConfig::ResNet(ResNetConfig::new([3, 64, 64], 2));
    let (model, _) = init_classifier(&model, 0, &Device::Cpu).unwrap();
    let err = forger_train::evaluate(
        model.as_ref(),
        LossKind::SoftmaxCrossEntropy,
        &small,
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("64x64 px, 1 channel but") && err.contains("64x64 px, 3 channels"),
        "{err}"
    );
}

/// Training steps per second of the default residual network at batch 32
/// on grey images of 64 and 128 px (run with `--ignored --nocapture`).
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn steps_per_second_at_64_and_128_px() {
    for side in [64, 128] {
        let data = halves(64, side, 0);
        let model = ClassifierConfig::ResNet(ResNetConfig::new([1, side, side], 2));
        let (model, varmap) = init_classifier(&model, 0, &Device::Cpu).unwrap();
        let optimizer = OptimizerConfig::adam(1e-3)
            .build(named_vars(&varmap))
            .unwrap();
        let mut step =
            ClassifierStep::new(model, varmap, optimizer, LossKind::SoftmaxCrossEntropy, 0);
        let loader = Loader::new(&data, BatchConfig::new(32).seed(0)).unwrap();
        let batches: Vec<_> = loader.epoch(0, &Device::Cpu).map(Result::unwrap).collect();
        step.step(&batches[0], 0).unwrap();
        let (start, steps) = (Instant::now(), 10);
        for k in 0..steps {
            step.step(&batches[k % batches.len()], k as u64 + 1)
                .unwrap();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "ResNet {side} px, batch 32: {:.2} steps/s ({:.0} ms/step), {} cores",
            steps as f64 / seconds,
            1000.0 * seconds / steps as f64,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
}

/// BUSI (`../shared/data/busi_256`, train 412 / val 58 / test 118) read
/// grey at 64 px, the default residual network, Adam 1e-3, batch 32, 400
/// steps, the weights of the best validation AUC kept, without and with
/// the tutorial's augmentation: the test AUC (run with `--ignored
/// --nocapture`).
#[test]
#[ignore = "a real run of a few minutes: run with --ignored --nocapture"]
fn busi_at_64_px() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/busi_256");
    let config = LoadConfig {
        folder: ImageFolderConfig::for_shape([1, 64, 64]).unwrap(),
        ..Default::default()
    };
    let splits = load(&root, &config).unwrap().splits;
    let counts = [&splits.train, &splits.val, &splits.test].map(|d| d.len());
    assert_eq!(counts, [412, 58, 118]);
    for augment in [None, Some(AugmentConfig::tutorial())] {
        let fit_config = FitConfig {
            optimizer: OptimizerConfig::adam(1e-3),
            batch_size: 32,
            schedule: Schedule::Steps(400),
            eval_every: Some(50),
            selection: Some(forger_train::Selection::Auc),
            augment: augment.clone(),
            ..FitConfig::mnist_tutorial(ClassifierConfig::ResNet(ResNetConfig::new([1, 64, 64], 2)))
        };
        let dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let report = fit(
            &fit_config,
            &FitData::from_splits(&splits, root.display().to_string()),
            &RunDir::new(dir.path()),
            &Device::Cpu,
            false,
        )
        .unwrap();
        println!(
            "BUSI 64 px ResNet, augmented: {}: test AUC {:.3}, accuracy {:.3}, kept step {}, {:.0} s",
            augment.is_some(),
            report.metrics.test_auc.unwrap(),
            report.metrics.test_accuracy,
            report.metrics.kept_step,
            start.elapsed().as_secs_f64()
        );
        for row in &report.history {
            println!(
                "step {:>4}: loss {:.3}, val AUC {:?}",
                row.step, row.loss, row.val_auc
            );
        }
        assert!(report.metrics.test_auc.unwrap() > 0.6);
    }
}
