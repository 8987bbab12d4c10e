//! Training-throughput workloads of `shared/bench/WORKLOADS.md`, on random
//! in-memory data so that only the training step is timed. `cargo xtask
//! bench` runs them beside the PyTorch reference.

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use forger_data::rng;
use forger_models::{
    seeded_vars, CatDogCnnConfig, GanConfig, ImageClassifier, MnistCnnConfig, Mode,
};
use rand::Rng;

use crate::optim::{named_vars, OptimizerConfig};
use crate::{LossKind, Result};

/// A workload's result: images per second over the timed steps.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Throughput {
    pub images_per_s: f64,
    pub steps: usize,
    pub batch: usize,
}

/// Random images in `[0, 1)` and random labels, from a seeded generator.
fn random_batch(
    shape: (usize, usize, usize, usize),
    classes: u32,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let mut rng = rng::derive(0, "bench", 0);
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let pixels: Vec<f32> = (0..n).map(|_| rng.gen()).collect();
    let labels: Vec<u32> = (0..shape.0).map(|_| rng.gen_range(0..classes)).collect();
    Ok((
        Tensor::from_vec(pixels, shape, device)?,
        Tensor::from_vec(labels, shape.0, device)?,
    ))
}

/// A classifier training step to time: model, loss, Adam learning rate and
/// input shape `(batch, channels, height, width)`.
struct ClassifierStep<'a> {
    model: &'a dyn ImageClassifier,
    varmap: &'a VarMap,
    loss: LossKind,
    lr: f64,
    batch: (usize, usize, usize, usize),
}

impl ClassifierStep<'_> {
    /// Times `steps` training steps after `warmup` untimed ones.
    fn time(&self, steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
        let (x, y) = random_batch(self.batch, self.model.num_classes() as u32, device)?;
        let mut opt = OptimizerConfig::adam(self.lr).build(named_vars(self.varmap))?;
        let mut dropout = rng::derive(0, "bench-dropout", 0);
        let mut started = Instant::now();
        for i in 0..warmup + steps {
            if i == warmup {
                device.synchronize()?;
                started = Instant::now();
            }
            let logits = self.model.logits(&x, Mode::Train(&mut dropout))?;
            opt.backward_step(&self.loss.loss(&logits, &y)?)?;
        }
        device.synchronize()?;
        Ok(Throughput {
            images_per_s: (self.batch.0 * steps) as f64 / started.elapsed().as_secs_f64(),
            steps,
            batch: self.batch.0,
        })
    }
}

/// W1 `mnist_cnn`: the MNIST tutorial CNN, batch 64, softmax cross entropy, Adam 0.005.
pub fn mnist_cnn(steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
    let varmap = VarMap::new();
    let model =
        MnistCnnConfig::default().init(seeded_vars(&varmap, rng::derive(0, "init", 0), device))?;
    let step = ClassifierStep {
        model: &model,
        varmap: &varmap,
        loss: LossKind::SoftmaxCrossEntropy,
        lr: 0.005,
        batch: (64, 1, 28, 28),
    };
    step.time(steps, warmup, device)
}

/// W2 `catdog_cnn`: the cats-vs-dogs tutorial CNN, batch 32 of 3x64x64,
/// binary cross entropy on two sigmoid outputs, Adam 1e-3, dropout active.
pub fn catdog_cnn(steps: usize, warmup: usize, device: &Device) -> Result<Throughput> {
    let varmap = VarMap::new();
    let model =
        CatDogCnnConfig::default().init(seeded_vars(&varmap, rng::derive(0, "init", 0), device))?;
    let step = ClassifierStep {
        model: &model,
        varmap: &varmap,
        loss: LossKind::SigmoidBinaryCrossEntropy,
        lr: 1e-3,
        batch: (32, 3, 64, 64),
    };
    step.time(steps, warmup, device)
}

/// W3 `dcgan28`: the benchmark DCGAN, 64 real + 64 generated images per
/// step (one D step on the mixed batch, one G step), Adam 2e-4 (0.5,
/// 0.999), run through forger's GAN loop on random images. The time is the
/// loop's own training time, which excludes its file writes.
pub fn dcgan28(steps: usize, device: &Device) -> Result<Throughput> {
    let mut r = rng::derive(0, "bench", 0);
    let n = 640;
    let pixels: Vec<u8> = (0..n * 784).map(|_| r.gen()).collect();
    let data = forger_data::Dataset::new(pixels, vec![0; n], [1, 28, 28], vec!["random".into()])?;
    let config = crate::gan::GanTrainConfig {
        log_every: steps as u64,
        sample_every: steps as u64,
        ..crate::gan::GanTrainConfig::new(GanConfig::default(), steps as u64)
    };
    let dir = std::env::temp_dir().join(format!("forger-bench-w3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let report = crate::gan::train_gan(
        &config,
        &data,
        "random",
        &crate::RunDir::new(&dir),
        device,
        false,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let seconds = report?.history.last().map_or(f64::NAN, |row| row.seconds);
    Ok(Throughput {
        images_per_s: (config.batch_size * steps) as f64 / seconds,
        steps,
        batch: config.batch_size,
    })
}
