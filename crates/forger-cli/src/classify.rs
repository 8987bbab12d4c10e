//! `forger train mnist-cnn`: the MNIST tutorial's CNN on IDX or `.npz` data.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use forger_data::{load, LoadConfig, Splits};
use forger_models::layers::InitScheme;
use forger_models::{ClassifierConfig, MnistCnnConfig};
use forger_train::{fit, FitConfig, FitData, OptimizerConfig, RunDir, Schedule};

use crate::summary::print_summary;

/// Where the data comes from.
#[derive(Args)]
pub struct DataArgs {
    /// A folder of the four MNIST IDX files, or a MedMNIST `.npz` file.
    #[arg(long)]
    data: PathBuf,
    /// Use only the data's test split: train on all but its last N images
    /// and test on those N (for a folder that holds only the t10k files).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    holdout: Option<u32>,
}

impl DataArgs {
    fn load(&self) -> anyhow::Result<Splits> {
        let config = LoadConfig {
            holdout: self.holdout.map(|n| n as usize),
            ..Default::default()
        };
        let splits = load(&self.data, &config)?.splits;
        tracing::info!(
            "{}: {} training, {} validation, {} test images of {:?}, classes {:?}",
            self.data.display(),
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
    /// Optimizer steps (mini-batches).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: u64,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: u32,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.005, value_parser = crate::ranges::learning_rate)]
    lr: f64,
    /// Evaluate, log and checkpoint every this many steps.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    eval_every: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How the weights start: `torch` (PyTorch's default, uniform in
    /// +-1/sqrt(fan_in)) or `tf1` (the TensorFlow 1 tutorial's truncated
    /// normals: stddev 0.1 for the convolutions, 1.0 for the output layer).
    #[arg(long, value_enum, default_value_t = Init::Torch)]
    init: Init,
    /// The run directory to write.
    #[arg(long, default_value = "runs/mnist-cnn")]
    out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Train on the first CUDA GPU (needs the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

/// `--init`: the MNIST CNN's initialisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Init {
    Torch,
    Tf1,
}

pub fn train(args: MnistCnnArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    if args.resume {
        run.require_checkpoint()?;
    }
    let splits = args.data.load()?;
    let [c, h, w] = splits.train.image_shape();
    let model = ClassifierConfig::MnistCnn(MnistCnnConfig {
        input: [c, h, w],
        classes: splits.train.classes().len(),
        init: match args.init {
            Init::Torch => InitScheme::Torch,
            Init::Tf1 => InitScheme::Tf1,
        },
        ..Default::default()
    });
    let config = FitConfig {
        optimizer: OptimizerConfig::adam(args.lr),
        schedule: Schedule::Steps(args.steps),
        batch_size: args.batch_size as usize,
        eval_every: Some(args.eval_every),
        seed: args.seed,
        ..FitConfig::mnist_tutorial(model)
    };
    let device = forger_train::device(args.cuda)?;
    let data = FitData::from_splits(&splits, args.data.data.display().to_string());
    let report = fit(&config, &data, &run, &device, args.resume)?;
    print_summary(&report.metrics, &run);
    Ok(())
}
