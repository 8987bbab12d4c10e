//! The MNIST-style classifier subcommands: `train mnist-cnn`, `eval` and
//! `predict`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{layout, load, Layout, LoadConfig, Splits};
use forger_models::{ClassifierConfig, MnistCnnConfig};
use forger_train::plot::{captioned_grid, Tile};
use forger_train::{fit, FitConfig, FitData, RunConfig, RunDir, Schedule, TrainedClassifier};
use serde::{Deserialize, Serialize};

use crate::run_args::{fill_from, named, RunArgs};
use crate::summary::print_summary;

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
        let splits = load(path, &config)?.splits;
        let names = self.class_names.as_deref();
        let splits = Splits {
            train: named(splits.train, names)?,
            val: named(splits.val, names)?,
            test: named(splits.test, names)?,
        };
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
}

pub fn train(args: MnistCnnArgs) -> anyhow::Result<()> {
    let file: Option<RunConfig> = args.run.config_file("fit", "forger train")?;
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
    let device = forger_train::device(args.run.cuda)?;
    let data = FitData {
        inputs: Some(serde_json::to_value(&data_args)?),
        ..FitData::from_splits(&splits, data_args.path()?.display().to_string())
    };
    let report = fit(&config, &data, &run, &device, args.run.resume)?;
    print_summary(&report.metrics, &run);
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A run directory written by `forger train`.
    #[arg(long)]
    run: PathBuf,
    /// A MedMNIST `.npz`, a folder of IDX files, a Kaggle-layout root (its
    /// `test_set/`), or a class-per-folder tree (all its images), with the
    /// run's class names.
    #[arg(long)]
    data: PathBuf,
    /// Evaluate on the last N images of the data's test split (as
    /// `train --holdout N` held them out).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    holdout: Option<u32>,
    /// Which split of a `.npz` or IDX data set to evaluate on.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    split: SplitChoice,
    /// Also write the evaluation as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    cuda: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    Train,
    Val,
    Test,
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let trained: TrainedClassifier = TrainedClassifier::load(&RunDir::new(&args.run), &device)?;
    // Images decode to the model's shape; a single class-per-folder tree
    // is evaluated whole, whatever `--split` says.
    let whole_tree = args.holdout.is_none() && layout(&args.data)? == Layout::Tree;
    let config = LoadConfig {
        folder: ImageFolderConfig::for_shape(trained.config.fit.model.input_shape())?,
        test_split: if whole_tree {
            0.0
        } else {
            LoadConfig::default().test_split
        },
        holdout: args.holdout.map(|n| n as usize),
        ..Default::default()
    };
    let splits = load(&args.data, &config)?.splits;
    let data = match (whole_tree, args.holdout, args.split) {
        (true, _, _) | (_, None, SplitChoice::Train) => splits.train,
        (_, None, SplitChoice::Val) => splits.val,
        _ => splits.test,
    };
    if data.is_empty() {
        anyhow::bail!(
            "--split {}: {} has no images in that split (IDX files and image trees have no validation split)",
            format!("{:?}", args.split).to_lowercase(),
            args.data.display()
        );
    }
    let eval = trained.evaluate(&data, &device)?;
    let auc = eval
        .auc
        .map(|a| format!(", AUC {a:.4}"))
        .unwrap_or_default();
    println!(
        "{} images: accuracy {:.4}, loss {:.4}{auc}",
        data.len(),
        eval.accuracy,
        eval.loss
    );
    println!(
        "confusion matrix (rows: true class, columns: predicted), classes {:?}:",
        trained.config.classes
    );
    for row in &eval.confusion.matrix {
        println!("  {row:?}");
    }
    if let Some(path) = &args.json {
        forger_train::atomic::write_json(path, &eval)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    /// A run directory written by `forger train`.
    #[arg(long)]
    run: PathBuf,
    /// Image files (PNG, JPEG, ...), resized to the model's input.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Also draw the images with their predicted class (green when it is
    /// the true class, known from a parent folder named like a class; red
    /// when not) into this PNG.
    #[arg(long)]
    grid: Option<PathBuf>,
    #[arg(long)]
    cuda: bool,
}

pub fn predict(args: PredictArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let trained: TrainedClassifier = TrainedClassifier::load(&RunDir::new(&args.run), &device)?;
    let mut tiles = Vec::new();
    for path in &args.images {
        let prediction = trained
            .predict_file(path, &device)
            .with_context(|| format!("predicting {}", path.display()))?;
        // The true class, when the file sits in a folder named like one.
        let truth = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .filter(|n| trained.config.classes.iter().any(|c| c == n));
        println!(
            "{}\t{}\t{:.4}{}",
            path.display(),
            prediction.class,
            prediction.probability,
            truth.map(|t| format!("\ttrue {t}")).unwrap_or_default()
        );
        tiles.push(Tile {
            caption: format!("{} {:.2}", prediction.class, prediction.probability),
            verdict: truth.map(|t| t == prediction.class),
            pixels: prediction.pixels,
        });
    }
    if let Some(grid) = &args.grid {
        let shape = trained.config.fit.model.input_shape();
        captioned_grid(grid, &tiles, shape, 8, 128)?;
        println!("wrote {}", grid.display());
    }
    Ok(())
}
