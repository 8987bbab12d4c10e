//! GAN training: [`train_gan`] runs the [`GanStep`] (module `step`: the
//! tutorial's D and G updates) through the [`Learner`] with the sample-grid
//! and, when asked, the [`Frechet`] hooks (module `hooks`), and returns the
//! trained generator ([`TrainedGan`]), which also loads from a run directory
//! to generate labelled synthetic sets. For small data sets, two options of
//! the step: [`DiffAugment`] (module `diff_augment`) and [`LeCam`]
//! regularisation (module `lecam`); `cutout_leak` checks generated images
//! for DiffAugment's cutout squares ([`cutout_leaks`]).

mod cutout_leak;
mod diff_augment;
mod hooks;
mod lecam;
mod step;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use forger_data::png::encode_grid;
use forger_data::{rng, BatchConfig, Dataset, Loader, PixelScale};
use forger_models::{GanConfig, Generator, Mode};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

pub use cutout_leak::{cutout_fill, cutout_leaks, largest_fill_square, CUTOUT_TOLERANCE};
pub use diff_augment::{DiffAugment, DIFF_AUGMENT_OPS};
pub use hooks::Frechet;
pub use lecam::LeCam;
use lecam::LeCamState;
pub use step::GanStep;

use crate::atomic::write_atomic;
use crate::checkpoint::Checkpoint;
use crate::history::Record;
use crate::learner::{Hook, Learner, RunRecord, Schedule};
use crate::optim::OptimizerConfig;
use crate::plot::{self, Panel, Series, Tile};
use crate::run_dir::RunKind;
use crate::{Result, RunDir, TrainError};

/// Images per class in the sample grids.
const GRID_COLUMNS: usize = 8;

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
    pub seed: u64,
    /// DiffAugment of every image D sees, real and generated, in both
    /// steps; `None` (the default): off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_augment: Option<DiffAugment>,
    /// LeCam regularisation of D's loss; `None` (the default): off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lecam: Option<LeCam>,
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
            seed: 0,
            diff_augment: None,
            lecam: None,
        }
    }
}

/// A GAN run's `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanRunConfig {
    pub train: GanTrainConfig,
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub data: String,
    /// The command's data flags, so that `--config config.json` re-makes the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

/// Where a GAN's images came from: a description, and the command's data
/// flags when a command made the run (a plain `&str` converts).
#[derive(Debug, Clone, Default)]
pub struct DataRecord {
    pub description: String,
    pub inputs: Option<serde_json::Value>,
}

impl From<&str> for DataRecord {
    fn from(description: &str) -> Self {
        Self {
            description: description.to_string(),
            inputs: None,
        }
    }
}

impl From<&String> for DataRecord {
    fn from(description: &String) -> Self {
        description.as_str().into()
    }
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

impl Record for GanHistoryRow {
    fn decimals(column: &str) -> usize {
        match column {
            "frechet" => 4,
            "seconds" => 3,
            _ => 6,
        }
    }
}

/// The outcome of [`train_gan`]: the history and the trained generator.
pub struct GanReport {
    pub history: Vec<GanHistoryRow>,
    pub generator: TrainedGan,
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

/// Trains a GAN on `data` (labels are used only by a conditional GAN)
/// through the [`Learner`] and writes the run directory: `config.json`,
/// `history.csv` (losses, mean D(x) and D(G(z)), and the Fréchet distance
/// when `frechet` measures it), `samples/step_NNNNNN.png` grids from fixed
/// noise (one row per class for a conditional GAN), `checkpoint.safetensors`
/// (G, D and both optimizers), `grid.png` and `losses.png`. With `resume`,
/// continues from the checkpoint in `run` (the number of steps may be
/// extended).
pub fn train_gan(
    config: &GanTrainConfig,
    data: &Dataset,
    source: impl Into<DataRecord>,
    run: &RunDir,
    device: &Device,
    resume: bool,
    frechet: Option<&mut Frechet>,
) -> Result<GanReport> {
    check(config, data)?;
    let source = source.into();
    let run_config = GanRunConfig {
        train: config.clone(),
        classes: data.classes().to_vec(),
        data: source.description,
        inputs: source.inputs,
    };
    let identity = GanRunConfig {
        train: GanTrainConfig {
            steps: 0,
            ..config.clone()
        },
        ..run_config.clone()
    };
    let to_json = |c: &GanRunConfig| {
        serde_json::to_value(c)
            .map_err(|e| TrainError::Invalid(format!("the GAN config cannot be recorded: {e}")))
    };
    let record = RunRecord {
        dir: Some(run),
        config: to_json(&run_config)?,
        identity: to_json(&identity)?,
        resume,
    }
    .with_data(&[("train", data)]);
    let mut step = GanStep::new(config, device)?;
    step.frechet_baseline = frechet.as_ref().map(|f| f.baseline());
    let mut grids = hooks::SampleGrids {
        every: config.sample_every,
        classes: data.classes().to_vec(),
        seed: config.seed,
        dir: run.root().to_path_buf(),
        device,
    };
    let mut hooks: Vec<&mut dyn Hook<GanStep>> = vec![&mut grids];
    if let Some(f) = frechet {
        hooks.push(f);
    }
    let trained = learner(config).fit(
        step,
        &gan_batches(config, data)?,
        &mut hooks,
        record,
        device,
    )?;
    let step = trained.step;
    write_grid(
        &step.g,
        config.seed,
        data.classes(),
        &run.file("grid.png"),
        device,
    )?;
    plot_losses(
        &run.file("losses.png"),
        &trained.history,
        step.frechet_baseline,
    )?;
    Ok(GanReport {
        history: trained.history,
        generator: TrainedGan {
            generator: step.g,
            config: run_config,
            _vars: step.g_vars,
            device: device.clone(),
        },
    })
}

/// The loop of a GAN run: its steps, a history row every `log_every`.
pub fn learner(config: &GanTrainConfig) -> Learner<GanHistoryRow> {
    Learner {
        schedule: Schedule::Steps(config.steps),
        log_every: Some(config.log_every),
        selection: None,
        early_stopping: None,
        label: "gan",
    }
}

/// The GAN's batches of real images: whole batches only, pixels in
/// `[-1, 1]` as G's `tanh` makes them, shuffled by the run's seed.
pub fn gan_batches(config: &GanTrainConfig, data: &Dataset) -> Result<Loader> {
    let batches = BatchConfig::new(config.batch_size)
        .seed(config.seed)
        .drop_last(true)
        .scale(PixelScale::Symmetric);
    Ok(Loader::new(data, batches)?)
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
    if let Some(augment) = &config.diff_augment {
        augment.validate()?;
    }
    if let Some(lecam) = &config.lecam {
        lecam.validate()?;
    }
    Ok(())
}

/// `n` labels in equal shares of `classes` classes (0, 1, 0, 1, ...).
fn balanced_labels(classes: usize, n: usize) -> Vec<u32> {
    let k = classes.max(1) as u32;
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
/// the same noise in each column, each image captioned with its class;
/// otherwise 8 rows of different noise.
fn write_grid(
    g: &Generator,
    seed: u64,
    class_names: &[String],
    path: &std::path::Path,
    device: &Device,
) -> Result<()> {
    let classes = class_names.len();
    let gan = g.config();
    let (z, labels) = if gan.classes.is_some() {
        let z = noise(GRID_COLUMNS, gan.latent, seed, "fixed-noise", 0, device)?;
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
                seed,
                "fixed-noise",
                0,
                device,
            )?,
            None,
        )
    };
    let values = to_pixels(&g.forward(&z, labels.as_ref(), false)?)?;
    let per = gan.image.iter().product::<usize>();
    if gan.classes.is_some() {
        let tiles: Vec<Tile> = values
            .chunks(per)
            .enumerate()
            .map(|(i, pixels)| Tile {
                pixels: pixels.to_vec(),
                caption: class_names[i / GRID_COLUMNS].clone(),
                verdict: None,
            })
            .collect();
        // Wide enough for the longest class name under each image.
        let longest = class_names
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0) as u32;
        let side = (gan.image[2] as u32 * 3).max(longest * 8).clamp(96, 256);
        return plot::captioned_grid(path, &tiles, gan.image, GRID_COLUMNS, side);
    }
    let grid: Vec<Vec<&[u8]>> = values
        .chunks(per * GRID_COLUMNS)
        .map(|row| row.chunks(per).collect())
        .collect();
    let zoom = if gan.image[1] <= 32 { 3 } else { 1 };
    Ok(write_atomic(path, &encode_grid(&grid, gan.image, zoom)?)?)
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

/// The discriminator's logit for every image of `data` (real images; their
/// labels condition a projection discriminator), from the checkpoint of
/// the GAN run `run`: high means "real" to it. For membership inference.
pub fn discriminator_scores(run: &RunDir, data: &Dataset, device: &Device) -> Result<Vec<f64>> {
    let config: GanRunConfig = run.read_config(RunKind::Gan)?;
    if data.image_shape() != config.train.gan.image {
        return Err(TrainError::Invalid(format!(
            "the images are {:?} (channels, height, width) but the GAN of {} takes {:?}",
            data.image_shape(),
            run.root().display(),
            config.train.gan.image
        )));
    }
    let step = GanStep::new(&config.train, device)?;
    Checkpoint::read(&run.checkpoint(), device)?.restore_vars("d", &step.d_vars)?;
    let conditional = config.train.gan.classes.is_some();
    let batches = Loader::new(
        data,
        BatchConfig::sequential(256).scale(PixelScale::Symmetric),
    )?;
    let mut scores = Vec::with_capacity(data.len());
    for batch in batches.epoch(0, device) {
        let batch = batch?;
        let labels = conditional.then_some(&batch.labels);
        let logits = step.d.forward(&batch.images, labels, Mode::Eval)?;
        scores.extend(
            logits
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .map(f64::from),
        );
    }
    Ok(scores)
}

/// A trained generator: as [`train_gan`] returns it, or loaded from a GAN
/// run directory.
pub struct TrainedGan {
    generator: Generator,
    pub config: GanRunConfig,
    _vars: VarMap,
    device: Device,
}

impl TrainedGan {
    /// Loads the generator of `run` from its `config.json` and checkpoint.
    pub fn load(run: &RunDir, device: &Device) -> Result<Self> {
        let config: GanRunConfig = run.read_config(RunKind::Gan)?;
        if !run.checkpoint().exists() {
            return Err(TrainError::file(
                &run.checkpoint(),
                "the GAN run has no checkpoint yet: train it first (forger gan train)",
            ));
        }
        let step = GanStep::new(&config.train, device)?;
        Checkpoint::read(&run.checkpoint(), device)?.restore_vars("g", &step.g_vars)?;
        Ok(Self {
            generator: step.g,
            config,
            _vars: step.g_vars,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_without_the_new_options_read_and_write_as_before() {
        let config = GanTrainConfig::new(GanConfig::default(), 10);
        let json = serde_json::to_value(&config).unwrap();
        for field in ["diff_augment", "lecam"] {
            assert!(json.get(field).is_none(), "{field} written: {json}");
        }
        assert!(json["gan"].get("architecture").is_none());
        let back: GanTrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
        let on = GanTrainConfig {
            diff_augment: Some(DiffAugment::from_ops("translation,cutout").unwrap()),
            lecam: Some(LeCam::default()),
            ..config
        };
        let text = serde_json::to_string(&on).unwrap();
        assert_eq!(serde_json::from_str::<GanTrainConfig>(&text).unwrap(), on);
    }
}
