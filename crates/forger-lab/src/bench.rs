//! Training-throughput workloads of `shared/bench/WORKLOADS.md`, on random
//! in-memory data, through the same Learner and steps as real training;
//! only the updates are timed. `cargo xtask
//! bench` runs them beside the PyTorch reference.

use candle_core::Device;
use forger_data::{rng, Dataset};
use forger_models::{
    CatDogCnnConfig, ClassifierConfig, GanArchitecture, GanConfig, MnistCnnConfig,
};
use rand::Rng;

use forger_train::gan::{self, GanStep, GanTrainConfig};
use forger_train::learner::RunRecord;
use forger_train::optim::{named_vars, OptimizerConfig};
use forger_train::train_loader;
use forger_train::{init_classifier, ClassifierStep, Learner, LossKind, Result, Schedule};

/// A workload's result: images per second over the timed steps.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Throughput {
    pub images_per_s: f64,
    pub steps: usize,
    pub batch: usize,
}

/// Random 8-bit images of `shape` and random labels below `classes`, from
/// a seeded generator.
fn random_images(n: usize, shape: [usize; 3], classes: u32) -> Result<Dataset> {
    let mut rng = rng::derive(0, "bench", 0);
    let pixels: Vec<u8> = (0..n * shape.iter().product::<usize>())
        .map(|_| rng.gen())
        .collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.gen_range(0..classes)).collect();
    Ok(Dataset::new(
        pixels,
        labels,
        shape,
        Dataset::numbered_classes(classes as usize),
    )?)
}

/// Images per second over the updates after the first `warmup`, from the
/// training times of the history rows at `warmup` and at the end.
fn throughput(seconds: &[(u64, f64)], warmup: usize, steps: usize, batch: usize) -> Throughput {
    let at = |step: usize| {
        seconds
            .iter()
            .find(|(s, _)| *s == step as u64)
            .map_or(0.0, |(_, t)| *t)
    };
    Throughput {
        images_per_s: (batch * steps) as f64 / (at(warmup + steps) - at(warmup)),
        steps,
        batch,
    }
}

/// Times `steps` updates of a classifier after `warmup` untimed ones,
/// through the [`Learner`] on random images (loading and evaluation are not
/// timed: the Learner times updates only).
fn classifier(
    model: ClassifierConfig,
    loss: LossKind,
    lr: f64,
    batch: usize,
    (steps, warmup): (usize, usize),
    device: &Device,
) -> Result<Throughput> {
    let data = random_images(batch * 4, model.input_shape(), model.classes() as u32)?;
    let (net, varmap) = init_classifier(&model, 0, device)?;
    let optimizer = OptimizerConfig::adam(lr).build(named_vars(&varmap))?;
    let step = ClassifierStep::new(net, varmap, optimizer, loss, 0);
    let learner = Learner {
        schedule: Schedule::Steps((warmup + steps) as u64),
        log_every: Some(warmup.max(1) as u64),
        selection: None,
        early_stopping: None,
        label: "bench",
    };
    let batches = train_loader(&data, batch, 0, None)?;
    let trained = learner.fit(step, &batches, &mut [], RunRecord::in_memory(), device)?;
    let seconds: Vec<(u64, f64)> = trained
        .history
        .iter()
        .map(|r| (r.step, r.seconds))
        .collect();
    Ok(throughput(&seconds, warmup, steps, batch))
}

/// W1 `mnist_cnn`: the MNIST tutorial CNN, batch 64, softmax cross entropy, Adam 0.005.
pub fn mnist_cnn(steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
    classifier(
        ClassifierConfig::MnistCnn(MnistCnnConfig::default()),
        LossKind::SoftmaxCrossEntropy,
        0.005,
        64,
        (steps, warmup),
        device,
    )
}

/// W2 `catdog_cnn`: the cats-vs-dogs tutorial CNN, batch 32 of 3x64x64,
/// binary cross entropy on two sigmoid outputs, Adam 1e-3, dropout active.
pub fn catdog_cnn(steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
    classifier(
        ClassifierConfig::CatDogCnn(CatDogCnnConfig::default()),
        LossKind::SigmoidBinaryCrossEntropy,
        1e-3,
        32,
        (steps, warmup),
        device,
    )
}

/// W3 `dcgan28`: the benchmark DCGAN, 64 real + 64 generated images per
/// step (one D step on the mixed batch, one G step), Adam 2e-4 (0.5,
/// 0.999), through the [`Learner`] with the [`GanStep`] on random images,
/// in memory (no files).
pub fn dcgan28(steps: usize, device: &Device) -> Result<Throughput> {
    let data = random_images(640, [1, 28, 28], 1)?;
    gan_steps(
        GanTrainConfig::new(GanConfig::default(), 0),
        &data,
        (steps, 0),
        device,
    )
}

/// W5 `gan128`: one conditional GAN step at 128 px grey, 32 real + 32
/// generated images (one D step on the mixed batch, one G step), the
/// scaled G and D of [`GanArchitecture::scaled`] with spectral norm on D,
/// two classes, Adam 2e-4 (0.5, 0.999), on random images in memory; the
/// updates after `warmup` untimed ones are timed.
pub fn gan128(steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
    let data = random_images(128, [1, 128, 128], 2)?;
    let gan = GanConfig {
        image: [1, 128, 128],
        classes: Some(2),
        architecture: GanArchitecture::scaled(true),
        ..Default::default()
    };
    let config = GanTrainConfig {
        batch_size: 32,
        ..GanTrainConfig::new(gan, 0)
    };
    gan_steps(config, &data, (steps, warmup), device)
}

/// Times `steps` GAN updates of `config` after `warmup` untimed ones,
/// through the [`Learner`] with the [`GanStep`] on `data`, in memory.
fn gan_steps(
    config: GanTrainConfig,
    data: &Dataset,
    (steps, warmup): (usize, usize),
    device: &Device,
) -> Result<Throughput> {
    let config = GanTrainConfig {
        steps: (warmup + steps) as u64,
        log_every: if warmup == 0 { steps } else { warmup } as u64,
        ..config
    };
    let step = GanStep::new(&config, device)?;
    let trained = gan::learner(&config).fit(
        step,
        &gan::gan_batches(&config, data)?,
        &mut [],
        RunRecord::in_memory(),
        device,
    )?;
    let seconds: Vec<(u64, f64)> = trained
        .history
        .iter()
        .map(|r| (r.step, r.seconds))
        .collect();
    Ok(throughput(&seconds, warmup, steps, config.batch_size))
}

/// The memorisation audit's nearest-neighbour search: seconds to find,
/// for each of `n` random `side x side` grey images, the most correlated of
/// `n` others (normalisation included), by blocked matrix products.
pub fn audit_search(n: usize, side: usize) -> Result<f64> {
    use forger_train::audit::{most_correlated, Rows};
    let shape = [1, side, side];
    let (a, b) = (random_images(n, shape, 1)?, random_images(n, shape, 1)?);
    let started = std::time::Instant::now();
    let found = most_correlated(&Rows::normalised_pixels(&a)?, &Rows::normalised_pixels(&b)?)?;
    let seconds = started.elapsed().as_secs_f64();
    debug_assert_eq!(found.len(), n);
    Ok(seconds)
}
