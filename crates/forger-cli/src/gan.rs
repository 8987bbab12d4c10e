//! The GAN subcommands: `gan train` and `gan sample`, and `teach`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::png::write_image_folder;
use forger_data::{load, LoadConfig};
use forger_models::{GanArchitecture, GanConfig};
use forger_teach::{build_site, SiteInputs, SiteOptions};
use forger_train::gan::{
    train_gan, DataRecord, DiffAugment, Frechet, GanRunConfig, GanTrainConfig, LeCam, TrainedGan,
};
use forger_train::plot::{captioned_grid, Tile};
use forger_train::RunDir;
use forger_train::RunKind;
use serde::{Deserialize, Serialize};

use crate::gan_data::{gan_data, gan_side, sample};
use crate::run_args::{fill_from, Color, RunArgs};

#[derive(Subcommand)]
pub enum GanCommand {
    /// Train a DCGAN (or a class-conditional one) on real images.
    Train(GanTrainArgs),
    /// Write generated images as an image folder (one subfolder per class) and a grid.
    Sample(GanSampleArgs),
    /// Check generated images for near copies of the training images, and
    /// the discriminator for memorised members.
    Audit(crate::audit::GanAuditArgs),
}

/// The data flags of `gan train` (recorded in the run's `config.json` as `inputs`).
#[derive(Args, Serialize, Deserialize)]
pub struct GanDataArgs {
    /// An IDX folder, a MedMNIST `.npz`, or a class-per-folder image tree
    /// (required unless `--config` records it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Image side for image folders: 28 or 64 for the DCGAN, also 32, 128
    /// or 256 for `--architecture scaled` (default 28).
    #[arg(long, value_parser = crate::ranges::gan_side)]
    image_size: Option<usize>,
    /// Decode image folders to one grey channel or to RGB (default grey).
    #[arg(long, value_enum)]
    color: Option<Color>,
    /// Names for the classes, in label order (default: the data's own, or
    /// the known names of a known data set); grids, samples and sites use them.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
}

#[derive(Args)]
pub struct GanTrainArgs {
    #[command(flatten)]
    data: GanDataArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Train a plain DCGAN instead of the class-conditional one (class
    /// embedding into G, projection D).
    #[arg(long)]
    unconditional: bool,
    /// Steps, each one D and one G update (default 5,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: Option<u64>,
    /// Real (and as many generated) images per step (default 64).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: Option<u32>,
    /// D's target for real images (e.g. 0.9: one-sided label smoothing) (default 1).
    #[arg(long, value_parser = crate::ranges::target)]
    real_target: Option<f64>,
    /// Measure the Fréchet distance at every sample grid.
    #[arg(long)]
    frechet: bool,
    /// Write a sample grid (and measure the Fréchet distance) every N steps (default 500).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    sample_every: Option<u64>,
    /// The networks: `dcgan` (28 or 64 px; the default) or `scaled` (one
    /// block per doubling of the side from 4x4 or 7x7: 28, 32, 64, 128, 256 px).
    #[arg(long, value_enum)]
    architecture: Option<Architecture>,
    /// Spectral normalisation of D's weights (`--architecture scaled` only).
    #[arg(long)]
    spectral_norm: bool,
    /// DiffAugment of every image D sees, real and generated: `all`, or a
    /// comma-separated list of translation, cutout, brightness, contrast,
    /// saturation (RGB only) and color (the last three), at the paper's
    /// strengths.
    #[arg(long, value_parser = crate::ranges::diff_augment)]
    diff_augment: Option<DiffAugment>,
    /// LeCam regularisation of D with this weight λ (0.3 in the paper's
    /// low-data runs); the moving averages decay by 0.99.
    #[arg(long, value_name = "WEIGHT", value_parser = crate::ranges::lecam_weight)]
    lecam: Option<f64>,
}

/// `--architecture`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Architecture {
    /// The DCGAN of the TensorFlow tutorial (28 or 64 px).
    Dcgan,
    /// The GAN whose depth follows the image size.
    Scaled,
}

pub fn train(args: GanTrainArgs) -> anyhow::Result<()> {
    let file: Option<GanRunConfig> = args.run.config_file(RunKind::Gan)?;
    let data_args = fill_from(args.data, file.as_ref().and_then(|f| f.inputs.as_ref()))?;
    let run = args.run.run_dir("gan")?;
    let path = data_args
        .data
        .as_ref()
        .context("--data is required (or --config naming a run whose config.json records it)")?;
    let data = gan_data(
        path,
        data_args.image_size.unwrap_or(28),
        data_args.color == Some(Color::Rgb),
    )?
    .with_class_names(data_args.class_names.as_deref())?
    .train;
    let mut config = match file {
        Some(file) => file.train,
        None => GanTrainConfig::new(
            GanConfig {
                image: data.image_shape(),
                classes: (!args.unconditional).then_some(data.classes().len()),
                ..Default::default()
            },
            5000,
        ),
    };
    if args.unconditional {
        config.gan.classes = None;
    }
    match args.architecture {
        Some(Architecture::Scaled) => {
            config.gan.architecture = GanArchitecture::scaled(args.spectral_norm)
        }
        Some(Architecture::Dcgan) => config.gan.architecture = GanArchitecture::Dcgan,
        None => {}
    }
    if args.spectral_norm {
        match &mut config.gan.architecture {
            GanArchitecture::Scaled { spectral_norm, .. } => *spectral_norm = true,
            GanArchitecture::Dcgan => anyhow::bail!(
                "--spectral-norm is an option of --architecture scaled, not of the DCGAN"
            ),
        }
    }
    if args.diff_augment.is_some() {
        config.diff_augment = args.diff_augment;
    }
    if let Some(weight) = args.lecam {
        config.lecam = Some(LeCam {
            weight,
            ..LeCam::default()
        });
    }
    if let Some(steps) = args.steps {
        config.steps = steps;
    }
    if let Some(n) = args.batch_size {
        config.batch_size = n as usize;
    }
    if let Some(t) = args.real_target {
        config.real_target = t;
    }
    if let Some(n) = args.sample_every {
        config.sample_every = n;
    }
    if let Some(seed) = args.run.seed {
        config.seed = seed;
    }
    let device = forger_train::device(args.run.cuda)?;
    let mut frechet = args
        .frechet
        .then(|| Frechet::train(&data, &run, config.sample_every, config.seed, &device))
        .transpose()?;
    let source = DataRecord {
        description: path.display().to_string(),
        inputs: Some(serde_json::to_value(&data_args)?),
    };
    let report = train_gan(
        &config,
        &data,
        source,
        &run,
        &device,
        args.run.resume,
        frechet.as_mut(),
    )?;
    if let Some(last) = report.history.last() {
        println!(
            "step {}: D loss {:.4}, G loss {:.4}, D(x) {:.3}, D(G(z)) {:.3}; samples in {}",
            last.step,
            last.d_loss,
            last.g_loss,
            last.d_real,
            last.d_fake,
            run.file("grid.png").display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct GanSampleArgs {
    /// A run directory written by `forger gan train`.
    #[arg(long)]
    run: PathBuf,
    /// Images in all (split evenly over the classes unless --class is given).
    #[arg(long, short = 'n', default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Generate only this class.
    #[arg(long)]
    class: Option<String>,
    /// Seed of the noise (and labels) the images are generated from.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The image folder to write (`OUT/<class>/NNNNN.png`; default a new
    /// numbered `RUN/samples/NNN`); its grid goes to `OUT.grid.png`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Leave out the images `forger gan audit` flags as near copies of the
    /// training images of `--real` (and say how many).
    #[arg(long, requires = "real")]
    exclude_near_copies: bool,
    /// The data the GAN trained on, for --exclude-near-copies.
    #[arg(long)]
    real: Option<PathBuf>,
    /// Image side of the samples and of `--real`: the GAN's (the default),
    /// checked when given.
    #[arg(long, value_parser = crate::ranges::gan_side)]
    image_size: Option<usize>,
    /// Generate on the first CUDA GPU (needs a build with the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

pub fn sample_command(args: GanSampleArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let gan = TrainedGan::load(&RunDir::new(&args.run), &device)?;
    let side = gan_side(&gan, &args.run, args.image_size)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => RunDir::numbered(&args.run.join("samples"))
            .root()
            .to_path_buf(),
    };
    if out.exists() && std::fs::read_dir(&out)?.next().is_some() {
        anyhow::bail!(
            "--out {} exists and is not empty: choose a new folder for the samples",
            out.display()
        );
    }
    let mut images = sample(&gan, args.count as usize, args.class.as_deref(), args.seed)?;
    if let (true, Some(real)) = (args.exclude_near_copies, &args.real) {
        let splits = crate::audit::real_data(&gan, real, side)?;
        let scratch = tempfile::tempdir()?;
        let audit = crate::audit::audit_images(
            &RunDir::new(&args.run),
            &images,
            &splits,
            scratch.path(),
            &device,
        )?;
        println!(
            "left out {} of {} images as near copies of training images (a fresh real image is flagged at {:.1}%)",
            audit.flagged.count,
            audit.flagged.total,
            100.0 * audit.held_out_flagged.share
        );
        images = audit.without_flagged(&images)?;
    }
    write_image_folder(&images, &out)?;
    // A row of up to 8 images per class, each captioned with its class.
    let labels = images.labels();
    let tiles: Vec<Tile> = (0..images.classes().len())
        .flat_map(|class| {
            (0..labels.len())
                .filter(move |&i| labels[i] as usize == class)
                .take(8)
        })
        .map(|i| Tile {
            pixels: images.image(i).to_vec(),
            caption: images.classes()[labels[i] as usize].clone(),
            verdict: None,
        })
        .collect();
    let grid = PathBuf::from(format!("{}.grid.png", out.display()));
    let side = (images.image_shape()[2] as u32 * 3).max(128);
    captioned_grid(&grid, &tiles, images.image_shape(), 8, side)?;
    println!(
        "{} images in {}; grid {}",
        images.len(),
        out.display(),
        grid.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct TeachArgs {
    /// A GAN run directory (its generator makes the synthetic cases).
    #[arg(long)]
    gan: PathBuf,
    /// Real images (an IDX folder or `.npz`: its test split), with the GAN's class names.
    #[arg(long)]
    real: PathBuf,
    /// Names for the real data's classes, in label order (e.g.
    /// `normal,pneumonia` for PneumoniaMNIST, whose file numbers them); they
    /// must be the GAN's class names.
    #[arg(long, value_delimiter = ',')]
    class_names: Option<Vec<String>>,
    /// Image side the real cases are read (area-resized) at: the GAN's (the
    /// default), checked when given, so that no case can be told real or
    /// synthetic from its size.
    #[arg(long, value_parser = crate::ranges::gan_side)]
    image_size: Option<usize>,
    /// A study run directory whose `report.md` becomes `report.html`.
    #[arg(long)]
    study: Option<PathBuf>,
    /// The site folder to write (replaced if it is a forger site).
    #[arg(long)]
    out: PathBuf,
    /// Synthetic cases per class in the library.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=1000))]
    cases: u16,
    /// Questions in the reader test.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    quiz: u16,
    /// Share of the questions that show synthetic images.
    #[arg(long, default_value_t = 0.5, value_parser = crate::ranges::fraction)]
    synthetic_fraction: f64,
    /// Also ask for each image's class.
    #[arg(long)]
    ask_class: bool,
    /// Seed of the synthetic cases and of the reader test's order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Generate on the first CUDA GPU (needs a build with the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

pub fn teach(args: TeachArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let gan = TrainedGan::load(&RunDir::new(&args.gan), &device)?;
    // Real images decode to the GAN's size and channels, so that no case
    // can be told real or synthetic from its size alone.
    gan_side(&gan, &args.gan, args.image_size)?;
    let image = gan.config.train.gan.image;
    let real_config = LoadConfig {
        folder: ImageFolderConfig::for_shape(image)?,
        ..Default::default()
    };
    let mut real = load(&args.real, &real_config)?.splits.test;
    if real.image_shape() != image {
        anyhow::bail!(
            "--real {}: its images are {:?} (C, H, W), the GAN's {image:?}: the reader test would be answerable from the image size",
            args.real.display(),
            real.image_shape()
        );
    }
    if let Some(names) = &args.class_names {
        real = real.with_class_names(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    if real.classes() != gan.classes() {
        anyhow::bail!(
            "the real data's classes {:?} are not the GAN's {:?}: pass --class-names {}",
            real.classes(),
            gan.classes(),
            gan.classes().join(",")
        );
    }
    let options = SiteOptions {
        synthetic_per_class: args.cases.into(),
        quiz_length: args.quiz.into(),
        synthetic_fraction: args.synthetic_fraction,
        ask_class: args.ask_class,
        seed: args.seed,
        ..Default::default()
    };
    // Enough synthetic cases for the library and the quiz.
    let per_class = usize::from(args.cases) + usize::from(args.quiz);
    let synthetic = sample(&gan, per_class * gan.classes().len(), None, args.seed)?;
    let folder = tempfile::tempdir()?;
    write_image_folder(&synthetic, folder.path())?;
    let inputs = SiteInputs {
        synthetic_dir: folder.path(),
        real: &real,
        study_dir: args.study.as_deref(),
    };
    let summary = build_site(&inputs, &options, &args.out)?;
    println!(
        "teaching site: {}",
        summary.out.join("index.html").display()
    );
    Ok(())
}
