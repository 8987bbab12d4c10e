//! `forger train mnist-cnn`: the MNIST tutorial's CNN on IDX or `.npz` data.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use forger_data::{load, LoadConfig, Splits};
use forger_models::layers::InitScheme;
use forger_models::{ClassifierConfig, MnistCnnConfig};
use forger_train::{fit, FitConfig, FitData, RunConfig, RunKind, Schedule};
use serde::{Deserialize, Serialize};

use crate::run_args::{fill_from, RunArgs};
use crate::summary::{print_model, print_summary};

/// Where the data comes from (recorded in the run's `config.json` as `inputs`).
#[derive(Args, Serialize, Deserialize)]
pub struct DataArgs {
    /// A folder of the four MNIST IDX files, or a MedMNIST `.npz` file
    /// (required unless `--config` records it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use only the data's test split: train on all but its last N images
    /// and test on those N (for a folder that holds only the t10k files).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    holdout: Option<u32>,
    /// Names for the classes, in label order (default: the data's own, or
    /// the known names of a known data set).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
}

impl DataArgs {
    fn path(&self) -> anyhow::Result<&PathBuf> {
        self.data
            .as_ref()
            .context("--data is required (or --config naming a run whose config.json records it)")
    }

    fn load(&self) -> anyhow::Result<Splits> {
        let path = self.path()?;
        let config = LoadConfig {
            holdout: self.holdout.map(|n| n as usize),
            ..Default::default()
        };
        let splits = load(path, &config)?
            .splits
            .with_class_names(self.class_names.as_deref())?;
        tracing::info!(
            "{}: {} training, {} validation, {} test images of {:?}, classes {:?}",
            path.display(),
            splits.train.len(),
            splits.val.len(),
            splits.test.len(),
            splits.train.image_shape(),
            splits.train.classes()
        );
        Ok(splits)
    }
}

#[derive(Args)]
pub struct MnistCnnArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Optimizer steps (mini-batches) (default 10,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: Option<u64>,
    /// Images per mini-batch (default 64).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: Option<u32>,
    /// Adam learning rate (default 0.005).
    #[arg(long, value_parser = crate::ranges::learning_rate)]
    lr: Option<f64>,
    /// Evaluate, log and checkpoint every this many steps (default 100).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    eval_every: Option<u64>,
    /// How the weights start: `torch` (PyTorch's default, uniform in
    /// +-1/sqrt(fan_in); the default) or `tf1` (the TensorFlow 1 tutorial's
    /// truncated normals: stddev 0.1 for the convolutions, 1.0 for the output layer).
    #[arg(long, value_enum)]
    init: Option<Init>,
}

/// `--init`: the MNIST CNN's initialisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Init {
    /// PyTorch's default.
    Torch,
    /// The TensorFlow 1 tutorial's truncated normals.
    Tf1,
}

pub fn train(args: MnistCnnArgs) -> anyhow::Result<()> {
    let file: Option<RunConfig> = args.run.config_file(RunKind::Classifier)?;
    let data_args = fill_from(args.data, file.as_ref().and_then(|f| f.inputs.as_ref()))?;
    let run = args.run.run_dir("mnist-cnn")?;
    let splits = data_args.load()?;
    let mut config = match file {
        Some(file) => file.fit,
        None => FitConfig::mnist_tutorial(ClassifierConfig::MnistCnn(MnistCnnConfig {
            input: splits.train.image_shape(),
            classes: splits.train.classes().len(),
            ..Default::default()
        })),
    };
    if let Some(lr) = args.lr {
        config.optimizer = config.optimizer.with_lr(lr);
    }
    if let Some(steps) = args.steps {
        config.schedule = Schedule::Steps(steps);
    }
    if let Some(n) = args.batch_size {
        config.batch_size = n as usize;
    }
    if let Some(n) = args.eval_every {
        config.eval_every = Some(n);
    }
    if let Some(seed) = args.run.seed {
        config.seed = seed;
    }
    if let (Some(init), ClassifierConfig::MnistCnn(model)) = (args.init, &mut config.model) {
        model.init = match init {
            Init::Torch => InitScheme::Torch,
            Init::Tf1 => InitScheme::Tf1,
        };
    }
    let device = forger_train::device(args.run.cuda)?;
    let data = FitData {
        inputs: Some(serde_json::to_value(&data_args)?),
        ..FitData::from_splits(&splits, data_args.path()?.display().to_string())
    };
    print_model(&config.model, &device)?;
    let report = fit(&config, &data, &run, &device, args.run.resume)?;
    print_summary(&report.metrics, &run);
    Ok(())
}
