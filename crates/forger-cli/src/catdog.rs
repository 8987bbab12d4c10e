//! The cats-vs-dogs tutorial's subcommands: `train catdog-cnn` and
//! `augment-preview`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use forger_data::augment::AugmentConfig;
use forger_data::image_folder::ImageFolderConfig;
use forger_data::limits::DEFAULT_MAX_IMAGE_PIXELS;
use forger_data::preview::{write_augment_preview, PreviewConfig};
use forger_data::{load, LoadConfig};
use forger_models::{CatDogCnnConfig, ClassifierConfig};
use forger_train::{fit, EarlyStopping, FitConfig, FitData, RunConfig, RunKind, Schedule};
use serde::{Deserialize, Serialize};

use crate::run_args::{fill_from, Color, RunArgs};
use crate::summary::{print_model, print_summary};

/// Which augmentation the training images get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AugmentChoice {
    /// The tutorial's: rotation 20, shifts 0.1, zoom 0.2, shear 0.2,
    /// brightness 0.8-1.2, horizontal flip.
    Default,
    /// None: the images are only scaled to [0, 1].
    None,
}

impl AugmentChoice {
    fn config(self) -> Option<AugmentConfig> {
        match self {
            Self::Default => Some(AugmentConfig::tutorial()),
            Self::None => None,
        }
    }
}

/// A class-per-folder data set and how its images are decoded (recorded in
/// a run's `config.json` as `inputs`).
#[derive(Args, Serialize, Deserialize)]
pub struct FolderArgs {
    /// A root with `training_set/` and `test_set/` (one subfolder per class
    /// in each), or a single class-per-folder tree (required unless
    /// `--config` records it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Images are resized to this side (default 64).
    #[arg(long, value_parser = clap::value_parser!(u16).range(8..=1024))]
    image_size: Option<u16>,
    /// Decode to RGB or to one grey channel (default rgb).
    #[arg(long, value_enum)]
    color: Option<Color>,
    /// Log and leave out images that cannot be decoded, instead of stopping.
    #[arg(long)]
    skip_bad_images: bool,
    /// Decode every JPEG at full size before resizing, instead of at the
    /// smallest of 1/2, 1/4, 1/8 of its size that still covers the image
    /// size (several times faster; pixels differ by a level or two).
    #[arg(long)]
    full_size_jpeg: bool,
    /// Refuse images whose header claims more pixels than this, before
    /// decoding them (memory stays bounded by it) (default 40,000,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    max_image_pixels: Option<u64>,
}

impl FolderArgs {
    fn path(&self) -> anyhow::Result<&PathBuf> {
        self.data
            .as_ref()
            .context("--data is required (or --config naming a run whose config.json records it)")
    }

    fn folder_config(&self) -> ImageFolderConfig {
        ImageFolderConfig {
            size: [usize::from(self.image_size.unwrap_or(64)); 2],
            color: self.color.unwrap_or(Color::Rgb).into(),
            skip_bad_images: self.skip_bad_images,
            jpeg_dct_scaling: !self.full_size_jpeg,
            max_image_pixels: self.max_image_pixels.unwrap_or(DEFAULT_MAX_IMAGE_PIXELS),
            ..Default::default()
        }
    }
}

/// The data flags of `train catdog-cnn`: the folder, its splits and the
/// class names.
#[derive(Args, Serialize, Deserialize)]
pub struct CatDogDataArgs {
    #[command(flatten)]
    #[serde(flatten)]
    folder: FolderArgs,
    /// Fraction of each class of the training images kept for validation (default 0.1).
    #[arg(long, value_parser = crate::ranges::split_fraction)]
    val_split: Option<f64>,
    /// For a single tree: fraction of each class held out as the test set (default 0.2).
    #[arg(long, value_parser = crate::ranges::split_fraction)]
    test_split: Option<f64>,
    /// Names for the classes, in label order (default: the folder names).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
}

#[derive(Args)]
pub struct CatDogCnnArgs {
    #[command(flatten)]
    data: CatDogDataArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Passes over the training images (default 32).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    epochs: Option<u64>,
    /// Images per mini-batch (default 32).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: Option<u32>,
    /// Augmentation of the training images (default: the tutorial's).
    #[arg(long, value_enum)]
    augment: Option<AugmentChoice>,
    /// Adam learning rate (default 0.001).
    #[arg(long, value_parser = crate::ranges::learning_rate)]
    lr: Option<f64>,
    /// Stop when the validation loss has not improved for this many epochs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    patience: Option<u32>,
    /// The improvement that counts for `--patience`.
    #[arg(long, default_value_t = 0.0, value_parser = crate::ranges::min_delta)]
    min_delta: f64,
}

pub fn train(args: CatDogCnnArgs) -> anyhow::Result<()> {
    let file: Option<RunConfig> = args.run.config_file(RunKind::Classifier)?;
    let data_args = fill_from(args.data, file.as_ref().and_then(|f| f.inputs.as_ref()))?;
    let run = args.run.run_dir("catdog-cnn")?;
    let seed = args
        .run
        .seed
        .or(file.as_ref().map(|f| f.fit.seed))
        .unwrap_or(0);
    let split = LoadConfig {
        folder: data_args.folder.folder_config(),
        val_split: Some(data_args.val_split.unwrap_or(0.1)),
        test_split: data_args.test_split.unwrap_or(0.2),
        seed,
        holdout: None,
    };
    let path = data_args.folder.path()?;
    let loaded = load(path, &split)?;
    let splits = loaded
        .splits
        .with_class_names(data_args.class_names.as_deref())?;
    tracing::info!(
        "{}: {} training, {} validation, {} test images, classes {:?}, {} bad files skipped",
        path.display(),
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        splits.train.classes(),
        loaded.skipped.len()
    );
    let mut config = match file {
        Some(file) => file.fit,
        None => FitConfig::catdog_tutorial(ClassifierConfig::CatDogCnn(CatDogCnnConfig {
            input: splits.train.image_shape(),
            classes: splits.train.classes().len(),
            ..Default::default()
        })),
    };
    config.seed = seed;
    if let Some(lr) = args.lr {
        config.optimizer = config.optimizer.with_lr(lr);
    }
    if let Some(epochs) = args.epochs {
        config.schedule = Schedule::Epochs(epochs);
    }
    if let Some(n) = args.batch_size {
        config.batch_size = n as usize;
    }
    if let Some(augment) = args.augment {
        config.augment = augment.config();
    }
    if let Some(patience) = args.patience {
        config.early_stopping = Some(EarlyStopping {
            patience,
            min_delta: args.min_delta,
        });
    }
    let data = FitData {
        skipped: loaded.skipped.clone(),
        inputs: Some(serde_json::to_value(&data_args)?),
        ..FitData::from_splits(&splits, path.display().to_string())
    };
    let device = forger_train::device(args.run.cuda)?;
    print_model(&config.model, &device)?;
    let report = fit(&config, &data, &run, &device, args.run.resume)?;
    print_summary(&report.metrics, &run);
    Ok(())
}

#[derive(Args)]
pub struct AugmentPreviewArgs {
    #[command(flatten)]
    folder: FolderArgs,
    /// The PNG to write.
    #[arg(long, default_value = "augment-preview.png")]
    out: PathBuf,
    /// Images shown, one per row, alternating between classes.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=64))]
    rows: u8,
    /// Augmented versions of each image, right of the original.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u8).range(1..=32))]
    variants: u8,
    /// Each pixel drawn as a block of this side.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    zoom: u8,
    /// Seed of the images shown and their augmentations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn augment_preview(args: AugmentPreviewArgs) -> anyhow::Result<()> {
    let config = PreviewConfig {
        rows: args.rows.into(),
        variants: args.variants.into(),
        zoom: args.zoom.into(),
        seed: args.seed,
    };
    write_augment_preview(
        args.folder.path()?,
        &args.out,
        &args.folder.folder_config(),
        &AugmentConfig::tutorial(),
        &config,
    )?;
    println!(
        "wrote {}: each row an original, then {} augmentations",
        args.out.display(),
        args.variants
    );
    Ok(())
}
