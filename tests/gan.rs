//! End-to-end tests of GAN training: conditioning, resume, the divergence
//! guard, and the sample folder read back by forger's own loaders.

use candle_core::Device;
use forger::data::Dataset;
use forger::models::{GanArchitecture, GanConfig};
use forger::train::gan::{
    discriminator_scores, train_gan, DiffAugment, GanHistoryRow, GanTrainConfig, LeCam, TrainedGan,
};
use forger::train::{OptimizerConfig, RunDir, TrainError};

/// Two easy classes: dark images (class 0) and bright ones (class 1), with
/// some texture so that they are not constant.
fn dark_and_bright(n: usize) -> Dataset {
    let mut pixels = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as u32;
        let base = if class == 0 { 30 } else { 220 };
        pixels.extend((0..784).map(|p| (base + ((p * 7 + i * 13) % 31) as i32 - 15) as u8));
        labels.push(class);
    }
    Dataset::new(
        pixels,
        labels,
        [1, 28, 28],
        vec!["dark".into(), "bright".into()],
    )
    .unwrap()
}

fn small_gan(conditional: bool, steps: u64) -> GanTrainConfig {
    let gan = GanConfig {
        latent: 16,
        generator_widths: [32, 16, 8],
        discriminator_widths: [8, 16],
        classes: conditional.then_some(2),
        ..Default::default()
    };
    GanTrainConfig {
        batch_size: 32,
        log_every: 2,
        sample_every: 100,
        optimizer: OptimizerConfig::Adam {
            lr: 2e-3,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        },
        ..GanTrainConfig::new(gan, steps)
    }
}

fn mean_brightness(d: &Dataset) -> f64 {
    let total: u64 = (0..d.len())
        .flat_map(|i| d.image(i).iter().map(|&p| u64::from(p)))
        .sum();
    total as f64 / (d.len() * 784) as f64
}

#[test]
fn conditional_generator_honours_its_labels_and_samples_read_back() {
    let data = dark_and_bright(512);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    train_gan(
        &small_gan(true, 120),
        &data,
        "dark and bright",
        &run,
        &Device::Cpu,
        false,
        None,
    )
    .unwrap();
    for f in [
        "config.json",
        "history.csv",
        "checkpoint.safetensors",
        "grid.png",
        "losses.png",
        "samples/step_000100.png",
    ] {
        assert!(run.file(f).is_file(), "{f} missing");
    }
    let gan = TrainedGan::load(&run, &Device::Cpu).unwrap();
    let dark = gan.sample(&[0; 64], 9).unwrap();
    let bright = gan.sample(&[1; 64], 9).unwrap();
    let (d, b) = (mean_brightness(&dark), mean_brightness(&bright));
    assert!(
        b - d > 60.0,
        "class 'bright' samples average {b:.1}, 'dark' {d:.1}"
    );
    assert!(gan.sample(&[2], 0).is_err());
}

fn without_time(rows: &[GanHistoryRow]) -> Vec<GanHistoryRow> {
    rows.iter()
        .map(|r| GanHistoryRow {
            seconds: 0.0,
            ..r.clone()
        })
        .collect()
}

#[test]
fn resumed_gan_run_equals_an_unbroken_one() {
    let data = dark_and_bright(96);
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) = (RunDir::new(dirs[0].path()), RunDir::new(dirs[1].path()));
    // 3 batches per epoch: 8 steps cross epochs, and the break is mid-epoch.
    let gan = |steps, run: &RunDir, resume| {
        train_gan(
            &small_gan(true, steps),
            &data,
            "d",
            run,
            &Device::Cpu,
            resume,
            None,
        )
        .unwrap()
    };
    let unbroken = gan(8, &a, false);
    // Cut between rows (every 2 steps) after step 5, resumed to 7, then 8.
    gan(5, &b, false);
    assert_eq!(gan(7, &b, true).history.last().unwrap().step, 7);
    let resumed = gan(8, &b, true);
    assert_eq!(
        without_time(&resumed.history),
        without_time(&unbroken.history)
    );
    assert_eq!(unbroken.history.len(), 4);
    let sample = |r: &forger::train::gan::GanReport| {
        let d = r.generator.sample(&[0, 1], 3).unwrap();
        [d.image(0).to_vec(), d.image(1).to_vec()]
    };
    assert_eq!(sample(&resumed), sample(&unbroken));
}

/// The scaled GAN with spectral norm, DiffAugment and LeCam resumes
/// exactly: its spectral norms' `u`, LeCam's averages and the augmentation
/// draws all continue where the unbroken run is.
#[test]
fn resumed_scaled_gan_with_spectral_norm_diff_augment_and_lecam_equals_an_unbroken_one() {
    let data = dark_and_bright(96);
    let mut config = small_gan(true, 8);
    config.gan.architecture = GanArchitecture::Scaled {
        width: 4,
        max_width: 16,
        spectral_norm: true,
    };
    config.diff_augment = Some(DiffAugment::default());
    config.lecam = Some(LeCam::default());
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) = (RunDir::new(dirs[0].path()), RunDir::new(dirs[1].path()));
    let gan = |steps, run: &RunDir, resume| {
        let config = GanTrainConfig {
            steps,
            ..config.clone()
        };
        train_gan(&config, &data, "d", run, &Device::Cpu, resume, None).unwrap()
    };
    let unbroken = gan(8, &a, false);
    gan(5, &b, false);
    let resumed = gan(8, &b, true);
    assert_eq!(
        without_time(&resumed.history),
        without_time(&unbroken.history)
    );
    let sample = |r: &forger::train::gan::GanReport| r.generator.sample(&[0, 1], 3).unwrap();
    assert_eq!(sample(&resumed).image(1), sample(&unbroken).image(1));
    let scores = |run: &RunDir| discriminator_scores(run, &data, &Device::Cpu).unwrap();
    assert_eq!(scores(&a), scores(&b));
    let saved = forger::train::checkpoint::Checkpoint::read(&b.checkpoint(), &Device::Cpu).unwrap();
    let d = saved.group("d");
    assert!(d.contains_key("down1.weight_u") && d.contains_key("head.weight_u"));
    assert_eq!(saved.group("lecam").len(), 2);
    // The same run without the options differs: they did something.
    let plain = RunDir::new(dirs[0].path().join("plain"));
    let mut bare = config.clone();
    bare.diff_augment = None;
    bare.lecam = None;
    let plain = train_gan(&bare, &data, "d", &plain, &Device::Cpu, false, None).unwrap();
    assert_ne!(
        without_time(&plain.history),
        without_time(&unbroken.history)
    );
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let data = dark_and_bright(96);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut config = small_gan(false, 50);
    config.log_every = 1;
    config.optimizer = OptimizerConfig::Sgd {
        lr: 1e30,
        momentum: 0.0,
    };
    let err = train_gan(&config, &data, "d", &run, &Device::Cpu, false, None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("checkpoint"), "{err}");
    // Whatever checkpoint remains holds finite weights and loads.
    if run.checkpoint().exists() {
        TrainedGan::load(&run, &Device::Cpu).unwrap();
    }
}

#[test]
fn bad_settings_are_clear_errors() {
    let data = dark_and_bright(16);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let err = train_gan(
        &small_gan(true, 2),
        &data,
        "d",
        &run,
        &Device::Cpu,
        false,
        None,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("at least that many"), "{err}");
    let mut three = small_gan(true, 2);
    three.gan.classes = Some(3);
    let err = train_gan(
        &three,
        &dark_and_bright(64),
        "d",
        &run,
        &Device::Cpu,
        false,
        None,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("3 classes"), "{err}");
    let err = TrainedGan::load(&RunDir::new(dir.path().join("none")), &Device::Cpu)
        .err()
        .unwrap();
    assert!(err.to_string().contains("config.json"), "{err}");
}
