//! The GAN training loop of the tutorial: each step, D learns real = 1 and
//! fake = 0 on one mixed batch of real and generated images, then G learns
//! to make D say real (the non-saturating loss). Two weight sets, two Adam
//! optimizers; the fakes are detached for the D step.
//!
//! A run directory holds `config.json`, `history.csv` (losses, mean D(x)
//! and D(G(z)), Fréchet distance), `samples/step_NNNNNN.png` grids from fixed
//! noise (one row per class for a conditional GAN), `checkpoint.safetensors`
//! (G, D and both optimizers; `--resume` continues exactly), `grid.png` and
//! `losses.png`.

use std::fmt::Write as _;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use forger_data::png::encode_grid;
use forger_data::{rng, BatchConfig, Dataset, Loader, PixelScale};
use forger_models::{seeded_vars, Discriminator, GanConfig, Generator, Mode};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::atomic::{read_json, write_atomic, write_json};
use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::loss::bce_with_logits;
use crate::optim::{named_vars, OptimizerConfig};
use crate::plot::{self, Panel, Series};
use crate::quality::{sample_subset, FeatureSpace};
use crate::{Progress, Result, RunDir, TrainError};

/// Images per class in the sample grids.
const GRID_COLUMNS: usize = 8;
/// Generated (and real) images per Fréchet-distance measurement.
const FRECHET_SAMPLES: usize = 1000;

/// Everything that defines a GAN training run (its `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanTrainConfig {
    pub gan: GanConfig,
    pub steps: u64,
    /// Real images per step (the D step sees as many generated ones too).
    pub batch_size: usize,
    /// Both optimizers; DCGAN's Adam 2e-4, betas (0.5, 0.999) by default.
    pub optimizer: OptimizerConfig,
    /// D's target for real images: 1, or e.g. 0.9 for one-sided label smoothing.
    pub real_target: f64,
    /// Steps between history rows (and checkpoints).
    pub log_every: u64,
    /// Steps between sample grids (and Fréchet distances, when measured).
    pub sample_every: u64,
    /// Measure the Fréchet distance at each sample grid.
    pub frechet: bool,
    pub seed: u64,
}

impl GanTrainConfig {
    /// The tutorial's settings for `gan`: batch 64, Adam 2e-4 (0.5, 0.999).
    pub fn new(gan: GanConfig, steps: u64) -> Self {
        Self {
            gan,
            steps,
            batch_size: 64,
            optimizer: OptimizerConfig::Adam {
                lr: 2e-4,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
            },
            real_target: 1.0,
            log_every: 50,
            sample_every: 250,
            frechet: false,
            seed: 0,
        }
    }
}

/// A GAN run's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanRunConfig {
    pub train: GanTrainConfig,
    pub classes: Vec<String>,
    pub data: String,
}

/// One row of a GAN's `history.csv`: means over the steps since the last row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanHistoryRow {
    pub step: u64,
    pub d_loss: f64,
    pub g_loss: f64,
    /// Mean sigmoid(D(x)) on real images.
    pub d_real: f64,
    /// Mean sigmoid(D(G(z))) on generated images (in the D step).
    pub d_fake: f64,
    /// Fréchet distance of generated to real images, when measured at this step.
    pub frechet: Option<f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GanProgress {
    config: GanRunConfig,
    step: u64,
    seconds: f64,
    history: Vec<GanHistoryRow>,
    /// The real-vs-real Fréchet distance (two halves of the real images).
    frechet_baseline: Option<f64>,
}

/// The outcome of [`train_gan`].
pub struct GanReport {
    pub history: Vec<GanHistoryRow>,
    pub frechet_baseline: Option<f64>,
}

/// A generator and discriminator with their weights and optimizers.
struct GanPair {
    g: Generator,
    d: Discriminator,
    g_vars: VarMap,
    d_vars: VarMap,
}

impl GanPair {
    fn new(config: &GanTrainConfig, device: &Device) -> Result<Self> {
        let (g_vars, d_vars) = (VarMap::new(), VarMap::new());
        let (g, d) = config.gan.init(
            seeded_vars(&g_vars, rng::derive(config.seed, "init-g", 0), device),
            seeded_vars(&d_vars, rng::derive(config.seed, "init-d", 0), device),
        )?;
        Ok(Self {
            g,
            d,
            g_vars,
            d_vars,
        })
    }
}

/// Noise `(n, latent)` from N(0, 1), seeded.
pub fn noise(
    n: usize,
    latent: usize,
    seed: u64,
    stream: &str,
    counter: u64,
    device: &Device,
) -> Result<Tensor> {
    let mut r = rng::derive(seed, stream, counter);
    let values: Vec<f32> = (0..n * latent)
        .map(|_| StandardNormal.sample(&mut r))
        .collect();
    Ok(Tensor::from_vec(values, (n, latent), device)?)
}

/// Trains a GAN on `data` (labels are used only by a conditional GAN) and
/// writes the run directory. With `resume`, continues from the checkpoint
/// in `run` (the number of steps may be extended).
pub fn train_gan(
    config: &GanTrainConfig,
    data: &Dataset,
    source: &str,
    run: &RunDir,
    device: &Device,
    resume: bool,
) -> Result<GanReport> {
    check(config, data)?;
    let run_config = GanRunConfig {
        train: config.clone(),
        classes: data.classes().to_vec(),
        data: source.to_string(),
    };
    let pair = GanPair::new(config, device)?;
    let mut opt_g = config.optimizer.build(named_vars(&pair.g_vars))?;
    let mut opt_d = config.optimizer.build(named_vars(&pair.d_vars))?;
    let mut state = GanProgress {
        config: run_config.clone(),
        step: 0,
        seconds: 0.0,
        history: Vec::new(),
        frechet_baseline: None,
    };
    if resume && run.checkpoint().exists() {
        let ck = Checkpoint::read(&run.checkpoint(), device)?;
        state = ck.meta()?;
        let extendable = |c: &GanRunConfig| GanRunConfig {
            train: GanTrainConfig {
                steps: config.steps,
                ..c.train.clone()
            },
            ..c.clone()
        };
        if extendable(&state.config) != run_config {
            return Err(TrainError::file(
                &run.checkpoint(),
                "the GAN run was started with other settings or data; start a new run directory instead of --resume",
            ));
        }
        state.config = run_config.clone();
        ck.restore_vars("g", &pair.g_vars)?;
        ck.restore_vars("d", &pair.d_vars)?;
        ck.restore_optimizer("opt_g", &mut opt_g)?;
        ck.restore_optimizer("opt_d", &mut opt_d)?;
        tracing::info!(
            "resuming GAN {} at step {}",
            run.root().display(),
            state.step
        );
    } else if run.checkpoint().exists() {
        return Err(TrainError::Invalid(format!(
            "{} already holds a run: pass --resume to continue it, or choose another output folder",
            run.root().display()
        )));
    }
    write_json(&run.config(), &run_config)?;

    let features = if config.frechet {
        let space = FeatureSpace::train(
            data,
            data,
            &RunDir::new(run.file("feature-classifier")),
            config.seed,
            device,
        )?;
        let (a, b) = data.split_at(data.len() / 2)?;
        let baseline = space.distance(
            &sample_subset(&a, FRECHET_SAMPLES, 1)?,
            &sample_subset(&b, FRECHET_SAMPLES, 2)?,
        )?;
        state.frechet_baseline = Some(baseline);
        Some(space)
    } else {
        None
    };

    let batcher = Loader::new(
        data,
        BatchConfig::new(config.batch_size)
            .seed(config.seed)
            .drop_last(true)
            .scale(PixelScale::Symmetric),
    )?;
    let per_epoch = batcher.batches_per_epoch() as u64;
    let conditional = config.gan.classes.is_some();
    let real_target = Tensor::full(config.real_target as f32, (config.batch_size, 1), device)?;
    let d_targets = Tensor::cat(
        &[
            &real_target,
            &Tensor::zeros((config.batch_size, 1), DType::F32, device)?,
        ],
        0,
    )?;
    let g_targets = Tensor::ones((config.batch_size, 1), DType::F32, device)?;
    let progress = Progress::new(config.steps, "gan");
    let mut sums = [0f64; 4];
    let mut counted = 0u64;
    while state.step < config.steps {
        let epoch = state.step / per_epoch;
        for batch in batcher.epoch_from(epoch, (state.step % per_epoch) as usize, device) {
            let batch = batch?;
            let started = Instant::now();
            let labels = conditional.then_some(&batch.labels);
            let z = noise(
                config.batch_size,
                config.gan.latent,
                config.seed,
                "noise",
                state.step,
                device,
            )?;
            let fake = pair.g.forward(&z, labels, true)?;

            // D: real = 1, fake = 0, on one mixed batch.
            let mixed = Tensor::cat(&[&batch.images, &fake.detach()], 0)?;
            let mixed_labels = labels.map(|y| Tensor::cat(&[y, y], 0)).transpose()?;
            let mut d_rng = rng::derive(config.seed, "dropout-d", state.step);
            let d_logits =
                pair.d
                    .forward(&mixed, mixed_labels.as_ref(), Mode::Train(&mut d_rng))?;
            let d_loss = bce_with_logits(&d_logits, &d_targets)?;
            guard(&d_loss, "D", state.step, run)?;
            opt_d.step(&d_loss.backward()?)?;

            // G: make D say real (non-saturating). D's weights are constants
            // here: this step updates only G's.
            let mut g_rng = rng::derive(config.seed, "dropout-g", state.step);
            let g_logits = pair
                .d
                .frozen()
                .forward(&fake, labels, Mode::Train(&mut g_rng))?;
            let g_loss = bce_with_logits(&g_logits, &g_targets)?;
            guard(&g_loss, "G", state.step, run)?;
            opt_g.step(&g_loss.backward()?)?;

            let probs = candle_nn::ops::sigmoid(&d_logits.detach())?;
            let d_real = probs
                .narrow(0, 0, config.batch_size)?
                .mean_all()?
                .to_scalar::<f32>()?;
            let d_fake = probs
                .narrow(0, config.batch_size, config.batch_size)?
                .mean_all()?
                .to_scalar::<f32>()?;
            for (s, v) in sums.iter_mut().zip([
                d_loss.to_scalar::<f32>()?,
                g_loss.to_scalar::<f32>()?,
                d_real,
                d_fake,
            ]) {
                *s += f64::from(v);
            }
            counted += 1;
            state.step += 1;
            state.seconds += started.elapsed().as_secs_f64();
            progress.set(state.step);

            let last = state.step == config.steps;
            let mut frechet = None;
            if state.step.is_multiple_of(config.sample_every) || last {
                write_grid(
                    &pair.g,
                    config,
                    data.classes().len(),
                    &run.file(&format!("samples/step_{:06}.png", state.step)),
                    device,
                )?;
                if let Some(space) = &features {
                    let labels = balanced_labels(data, FRECHET_SAMPLES);
                    let generated = generate(
                        &pair.g,
                        config.seed,
                        state.step,
                        &labels,
                        data.classes(),
                        device,
                    )?;
                    frechet = Some(
                        space.distance(&generated, &sample_subset(data, FRECHET_SAMPLES, 3)?)?,
                    );
                }
            }
            if state.step.is_multiple_of(config.log_every) || last || frechet.is_some() {
                let n = counted.max(1) as f64;
                let row = GanHistoryRow {
                    step: state.step,
                    d_loss: sums[0] / n,
                    g_loss: sums[1] / n,
                    d_real: sums[2] / n,
                    d_fake: sums[3] / n,
                    frechet,
                    seconds: state.seconds,
                };
                progress.report(&describe(&row, state.frechet_baseline));
                state.history.push(row);
                (sums, counted) = ([0.0; 4], 0);
                // Never replace a good checkpoint with a broken one.
                for vars in [&pair.g_vars, &pair.d_vars] {
                    all_finite(vars, state.step, run)?;
                }
                CheckpointWriter::new()
                    .vars("g", &pair.g_vars)
                    .vars("d", &pair.d_vars)
                    .optimizer("opt_g", &opt_g)
                    .optimizer("opt_d", &opt_d)
                    .write(&run.checkpoint(), &state)?;
                write_history(&run.history(), &state.history)?;
            }
            if last {
                break;
            }
        }
    }
    progress.finish();
    write_grid(
        &pair.g,
        config,
        data.classes().len(),
        &run.file("grid.png"),
        device,
    )?;
    plot_losses(
        &run.file("losses.png"),
        &state.history,
        state.frechet_baseline,
    )?;
    Ok(GanReport {
        history: state.history,
        frechet_baseline: state.frechet_baseline,
    })
}

fn check(config: &GanTrainConfig, data: &Dataset) -> Result<()> {
    if data.image_shape() != config.gan.image {
        return Err(TrainError::Invalid(format!(
            "the images are {:?} (channels, height, width) but the GAN makes {:?}",
            data.image_shape(),
            config.gan.image
        )));
    }
    if let Some(k) = config.gan.classes {
        if k != data.classes().len() {
            return Err(TrainError::Invalid(format!(
                "the conditional GAN has {k} classes, the data {}",
                data.classes().len()
            )));
        }
    }
    if config.batch_size == 0 || data.len() < config.batch_size {
        return Err(TrainError::Invalid(format!(
            "a batch of {} needs at least that many training images; there are {}",
            config.batch_size,
            data.len()
        )));
    }
    if config.log_every == 0 || config.sample_every == 0 {
        return Err(TrainError::Invalid(
            "log_every and sample_every must be at least 1".into(),
        ));
    }
    Ok(())
}

fn guard(loss: &Tensor, which: &str, step: u64, run: &RunDir) -> Result<()> {
    let value = loss.to_scalar::<f32>()?;
    if value.is_finite() {
        return Ok(());
    }
    Err(TrainError::Diverged {
        step: step + 1,
        what: format!(
            "the {which} loss is {value}; the last good checkpoint is {} (try a lower learning rate or label smoothing)",
            run.checkpoint().display()
        ),
    })
}

fn all_finite(vars: &VarMap, step: u64, run: &RunDir) -> Result<()> {
    for (name, var) in named_vars(vars) {
        let total = var
            .as_tensor()
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        if !total.is_finite() {
            return Err(TrainError::Diverged {
                step,
                what: format!(
                    "weight `{name}` is no longer finite; the last good checkpoint is {} (try a lower learning rate)",
                    run.checkpoint().display()
                ),
            });
        }
    }
    Ok(())
}

fn describe(row: &GanHistoryRow, baseline: Option<f64>) -> String {
    let fd = match (row.frechet, baseline) {
        (Some(f), Some(b)) => format!(" frechet {f:.2} (real vs real {b:.2})"),
        _ => String::new(),
    };
    format!(
        "step {}: d_loss {:.4} g_loss {:.4} D(x) {:.3} D(G(z)) {:.3}{fd}",
        row.step, row.d_loss, row.g_loss, row.d_real, row.d_fake
    )
}

/// `n` labels in equal shares of the data's classes (0, 1, 0, 1, ...).
fn balanced_labels(data: &Dataset, n: usize) -> Vec<u32> {
    let k = data.classes().len().max(1) as u32;
    (0..n as u32).map(|i| i % k).collect()
}

/// Generates one image per label (labels ignored by an unconditional GAN)
/// as 8-bit images, in batches; the noise is drawn from `(seed, counter)`.
fn generate(
    g: &Generator,
    seed: u64,
    counter: u64,
    labels: &[u32],
    classes: &[String],
    device: &Device,
) -> Result<Dataset> {
    let gan = g.config();
    let mut pixels = Vec::with_capacity(labels.len() * gan.image.iter().product::<usize>());
    for (i, chunk) in labels.chunks(256).enumerate() {
        let z = noise(
            chunk.len(),
            gan.latent,
            seed,
            &format!("sample-{counter}"),
            i as u64,
            device,
        )?;
        let y = Tensor::new(chunk, device)?;
        let images = g.forward(&z, gan.classes.is_some().then_some(&y), false)?;
        pixels.extend(to_pixels(&images)?);
    }
    Ok(Dataset::new(
        pixels,
        labels.to_vec(),
        gan.image,
        classes.to_vec(),
    )?)
}

/// Generated images in `[-1, 1]` to 8-bit pixels.
fn to_pixels(images: &Tensor) -> Result<Vec<u8>> {
    let values = images.flatten_all()?.to_vec1::<f32>()?;
    Ok(values
        .into_iter()
        .map(|v| PixelScale::Symmetric.invert(v))
        .collect())
}

/// A grid from the fixed noise: for a conditional GAN one row per class,
/// the same noise in each column; otherwise 8 rows of different noise.
fn write_grid(
    g: &Generator,
    config: &GanTrainConfig,
    classes: usize,
    path: &std::path::Path,
    device: &Device,
) -> Result<()> {
    let gan = g.config();
    let (z, labels) = if gan.classes.is_some() {
        let z = noise(
            GRID_COLUMNS,
            gan.latent,
            config.seed,
            "fixed-noise",
            0,
            device,
        )?;
        let labels: Vec<u32> = (0..classes as u32)
            .flat_map(|r| [r; GRID_COLUMNS])
            .collect();
        (
            Tensor::cat(&vec![&z; classes], 0)?,
            Some(Tensor::new(labels.as_slice(), device)?),
        )
    } else {
        (
            noise(
                GRID_COLUMNS * GRID_COLUMNS,
                gan.latent,
                config.seed,
                "fixed-noise",
                0,
                device,
            )?,
            None,
        )
    };
    let values = to_pixels(&g.forward(&z, labels.as_ref(), false)?)?;
    let per = gan.image.iter().product::<usize>();
    let grid: Vec<Vec<&[u8]>> = values
        .chunks(per * GRID_COLUMNS)
        .map(|row| row.chunks(per).collect())
        .collect();
    let zoom = if gan.image[1] <= 32 { 3 } else { 1 };
    Ok(write_atomic(path, &encode_grid(&grid, gan.image, zoom)?)?)
}

fn write_history(path: &std::path::Path, rows: &[GanHistoryRow]) -> Result<()> {
    let mut out = String::from("step,d_loss,g_loss,d_real,d_fake,frechet,seconds\n");
    for r in rows {
        let fd = r.frechet.map(|f| format!("{f:.4}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{:.6},{:.6},{:.6},{:.6},{fd},{:.3}",
            r.step, r.d_loss, r.g_loss, r.d_real, r.d_fake, r.seconds
        );
    }
    Ok(write_atomic(path, out.as_bytes())?)
}

/// Losses, D's outputs and (when measured) the Fréchet distance against step.
pub fn plot_losses(
    path: &std::path::Path,
    history: &[GanHistoryRow],
    baseline: Option<f64>,
) -> Result<()> {
    let line = |name: &str, f: fn(&GanHistoryRow) -> Option<f64>| {
        Series::new(
            name,
            history
                .iter()
                .filter_map(|r| f(r).map(|v| (r.step as f64, v))),
        )
    };
    let mut panels = vec![
        Panel::new(
            "Losses",
            "step",
            "BCE",
            vec![line("D", |r| Some(r.d_loss)), line("G", |r| Some(r.g_loss))],
        ),
        Panel::new(
            "Discriminator outputs",
            "step",
            "mean sigmoid",
            vec![
                line("D(x) real", |r| Some(r.d_real)),
                line("D(G(z)) fake", |r| Some(r.d_fake)),
            ],
        ),
    ];
    panels[1].y_range = Some((0.0, 1.0));
    if history.iter().any(|r| r.frechet.is_some()) {
        let mut series = vec![line("generated vs real", |r| r.frechet)];
        if let Some(b) = baseline {
            series.push(Series::new(
                "real vs real",
                history.iter().map(|r| (r.step as f64, b)),
            ));
        }
        panels.push(Panel::new("Fréchet distance", "step", "distance", series));
    }
    plot::draw(path, &panels)
}

/// A generator loaded from a GAN run directory.
pub struct TrainedGan {
    generator: Generator,
    pub config: GanRunConfig,
    _vars: VarMap,
    device: Device,
}

impl TrainedGan {
    /// Loads the generator of `run` from its `config.json` and checkpoint.
    pub fn load(run: &RunDir, device: &Device) -> Result<Self> {
        let config: GanRunConfig = read_json(&run.config())?;
        if !run.checkpoint().exists() {
            return Err(TrainError::file(
                &run.checkpoint(),
                "the GAN run has no checkpoint yet: train it first (forger gan train)",
            ));
        }
        let pair = GanPair::new(&config.train, device)?;
        Checkpoint::read(&run.checkpoint(), device)?.restore_vars("g", &pair.g_vars)?;
        Ok(Self {
            generator: pair.g,
            config,
            _vars: pair.g_vars,
            device: device.clone(),
        })
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.config.classes
    }

    /// One generated image per label, with this run's class names; `seed`
    /// picks the noise.
    pub fn sample(&self, labels: &[u32], seed: u64) -> Result<Dataset> {
        if let Some(&bad) = labels
            .iter()
            .find(|&&l| l as usize >= self.config.classes.len())
        {
            return Err(TrainError::Invalid(format!(
                "label {bad} is out of range for classes {:?}",
                self.config.classes
            )));
        }
        generate(
            &self.generator,
            seed,
            0,
            labels,
            &self.config.classes,
            &self.device,
        )
    }
}
