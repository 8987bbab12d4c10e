//! The cats-vs-dogs tutorial's subcommands: `train catdog-cnn` and
//! `augment-preview`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use forger_data::augment::AugmentConfig;
use forger_data::image_folder::{ColorMode, ImageFolderConfig};
use forger_data::limits::DEFAULT_MAX_IMAGE_PIXELS;
use forger_data::preview::{write_augment_preview, PreviewConfig};
use forger_data::{load, LoadConfig};
use forger_models::{CatDogCnnConfig, ClassifierConfig};
use forger_train::{fit, EarlyStopping, FitConfig, FitData, OptimizerConfig, RunDir, Schedule};

use crate::summary::print_summary;

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

/// A class-per-folder data set and how its images are decoded.
#[derive(Args)]
pub struct FolderArgs {
    /// A root with `training_set/` and `test_set/` (one subfolder per class
    /// in each), or a single class-per-folder tree (split by `--test-split`).
    #[arg(long)]
    data: PathBuf,
    /// Images are resized to this side.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(8..=1024))]
    image_size: u16,
    /// Decode to one grey channel instead of RGB.
    #[arg(long)]
    grey: bool,
    /// Log and leave out images that cannot be decoded, instead of stopping.
    #[arg(long)]
    skip_bad_images: bool,
    /// Decode every JPEG at full size before resizing, instead of at the
    /// smallest of 1/2, 1/4, 1/8 of its size that still covers the image
    /// size (several times faster; pixels differ by a level or two).
    #[arg(long)]
    full_size_jpeg: bool,
    /// Refuse images whose header claims more pixels than this, before
    /// decoding them (memory stays bounded by it).
    #[arg(long, default_value_t = DEFAULT_MAX_IMAGE_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    max_image_pixels: u64,
}

impl FolderArgs {
    fn folder_config(&self) -> ImageFolderConfig {
        ImageFolderConfig {
            size: [usize::from(self.image_size); 2],
            color: if self.grey {
                ColorMode::Grey
            } else {
                ColorMode::Rgb
            },
            skip_bad_images: self.skip_bad_images,
            jpeg_dct_scaling: !self.full_size_jpeg,
            max_image_pixels: self.max_image_pixels,
            ..Default::default()
        }
    }
}

#[derive(Args)]
pub struct CatDogCnnArgs {
    #[command(flatten)]
    folder: FolderArgs,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    epochs: u64,
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: u32,
    /// Augmentation of the training images.
    #[arg(long, value_enum, default_value_t = AugmentChoice::Default)]
    augment: AugmentChoice,
    /// Fraction of each class of the training images kept for validation.
    #[arg(long, default_value_t = 0.1, value_parser = crate::ranges::split_fraction)]
    val_split: f64,
    /// For a single tree: fraction of each class held out as the test set.
    #[arg(long, default_value_t = 0.2, value_parser = crate::ranges::split_fraction)]
    test_split: f64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = crate::ranges::learning_rate)]
    lr: f64,
    /// Stop when the validation loss has not improved for this many epochs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    patience: Option<u32>,
    /// The improvement that counts for `--patience`.
    #[arg(long, default_value_t = 0.0, value_parser = crate::ranges::min_delta)]
    min_delta: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The run directory to write.
    #[arg(long, default_value = "runs/catdog-cnn")]
    out: PathBuf,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Train on the first CUDA GPU (needs the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

pub fn train(args: CatDogCnnArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    if args.resume {
        run.require_checkpoint()?;
    }
    let split = LoadConfig {
        folder: args.folder.folder_config(),
        val_split: Some(args.val_split),
        test_split: args.test_split,
        seed: args.seed,
        holdout: None,
    };
    let loaded = load(&args.folder.data, &split)?;
    let splits = &loaded.splits;
    tracing::info!(
        "{}: {} training, {} validation, {} test images, classes {:?}, {} bad files skipped",
        args.folder.data.display(),
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        splits.train.classes(),
        loaded.skipped.len()
    );
    let model = ClassifierConfig::CatDogCnn(CatDogCnnConfig {
        input: splits.train.image_shape(),
        classes: splits.train.classes().len(),
        ..Default::default()
    });
    let config = FitConfig {
        optimizer: OptimizerConfig::adam(args.lr),
        schedule: Schedule::Epochs(args.epochs),
        batch_size: args.batch_size as usize,
        early_stopping: args.patience.map(|patience| EarlyStopping {
            patience,
            min_delta: args.min_delta,
        }),
        seed: args.seed,
        augment: args.augment.config(),
        ..FitConfig::catdog_tutorial(model)
    };
    let data = FitData {
        skipped: loaded.skipped.clone(),
        ..FitData::from_splits(splits, args.folder.data.display().to_string())
    };
    let report = fit(
        &config,
        &data,
        &run,
        &forger_train::device(args.cuda)?,
        args.resume,
    )?;
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
        &args.folder.data,
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
