//! The GAN subcommands: `gan train` and `gan sample`, and `teach`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::png::{encode_grid, write_image_folder};
use forger_data::{atomic::write_atomic, load, LoadConfig};
use forger_models::{GanArchitecture, GanConfig};
use forger_teach::{build_site, SiteInputs, SiteOptions};
use forger_train::gan::{train_gan, DiffAugment, Frechet, GanTrainConfig, LeCam, TrainedGan};
use forger_train::RunDir;

use crate::gan_data::{gan_data, sample};

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

#[derive(Args)]
pub struct GanTrainArgs {
    /// An IDX folder, a MedMNIST `.npz`, or a class-per-folder image tree.
    #[arg(long)]
    data: PathBuf,
    /// Condition G and D on the class (embedding into G, projection D).
    #[arg(long)]
    conditional: bool,
    /// Image side for image folders: 28 or 64.
    #[arg(long, default_value_t = 28, value_parser = crate::ranges::gan_side)]
    image_size: usize,
    /// Keep colour when reading an image folder (default: grey).
    #[arg(long)]
    rgb: bool,
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: u64,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    batch_size: u32,
    /// D's target for real images (e.g. 0.9: one-sided label smoothing).
    #[arg(long, default_value_t = 1.0, value_parser = crate::ranges::target)]
    real_target: f64,
    /// Measure the Fréchet distance at every sample grid.
    #[arg(long)]
    frechet: bool,
    /// The networks: `dcgan` (28 or 64 px) or `scaled` (one block per
    /// doubling of the side from 4x4 or 7x7: 28, 32, 64, 128, 256 px).
    #[arg(long, value_enum, default_value_t = Architecture::Dcgan)]
    architecture: Architecture,
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
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    sample_every: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "runs/gan")]
    out: PathBuf,
    #[arg(long)]
    resume: bool,
    #[arg(long)]
    cuda: bool,
}

/// `--architecture`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Architecture {
    Dcgan,
    Scaled,
}

pub fn train(args: GanTrainArgs) -> anyhow::Result<()> {
    let architecture = match args.architecture {
        Architecture::Scaled => GanArchitecture::scaled(args.spectral_norm),
        Architecture::Dcgan if args.spectral_norm => {
            anyhow::bail!("--spectral-norm is an option of --architecture scaled, not of the DCGAN")
        }
        Architecture::Dcgan => GanArchitecture::Dcgan,
    };
    let run = RunDir::new(&args.out);
    if args.resume {
        run.require_checkpoint()?;
    }
    let data = gan_data(&args.data, args.image_size, args.rgb)?.train;
    let gan = GanConfig {
        image: data.image_shape(),
        classes: args.conditional.then_some(data.classes().len()),
        architecture,
        ..Default::default()
    };
    let config = GanTrainConfig {
        diff_augment: args.diff_augment,
        lecam: args.lecam.map(|weight| LeCam {
            weight,
            ..LeCam::default()
        }),
        batch_size: args.batch_size as usize,
        real_target: args.real_target,
        sample_every: args.sample_every,
        seed: args.seed,
        ..GanTrainConfig::new(gan, args.steps)
    };
    let device = forger_train::device(args.cuda)?;
    let mut frechet = args
        .frechet
        .then(|| Frechet::train(&data, &run, config.sample_every, config.seed, &device))
        .transpose()?;
    let report = train_gan(
        &config,
        &data,
        &args.data.display().to_string(),
        &run,
        &device,
        args.resume,
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
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Generate only this class.
    #[arg(long)]
    class: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The image folder to write (`OUT/<class>/NNNNN.png`); its grid goes to `OUT.grid.png`.
    #[arg(long)]
    out: PathBuf,
    /// Leave out the images `forger gan audit` flags as near copies of the
    /// training images of `--real` (and say how many).
    #[arg(long, requires = "real")]
    exclude_near_copies: bool,
    /// The data the GAN trained on, for --exclude-near-copies.
    #[arg(long)]
    real: Option<PathBuf>,
    #[arg(long)]
    cuda: bool,
}

pub fn sample_command(args: GanSampleArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let gan = TrainedGan::load(&RunDir::new(&args.run), &device)?;
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not empty: choose a new folder for the samples",
            args.out.display()
        );
    }
    let mut images = sample(&gan, args.n as usize, args.class.as_deref(), args.seed)?;
    if let (true, Some(real)) = (args.exclude_near_copies, &args.real) {
        let splits = crate::audit::real_data(&gan, real)?;
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
    write_image_folder(&images, &args.out)?;
    let shown: Vec<&[u8]> = (0..images.len().min(64)).map(|i| images.image(i)).collect();
    let rows: Vec<Vec<&[u8]>> = shown.chunks(8).map(<[&[u8]]>::to_vec).collect();
    let grid = PathBuf::from(format!("{}.grid.png", args.out.display()));
    write_atomic(&grid, &encode_grid(&rows, images.image_shape(), 3)?)?;
    println!(
        "{} images in {}; grid {}",
        images.len(),
        args.out.display(),
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
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    cuda: bool,
}

pub fn teach(args: TeachArgs) -> anyhow::Result<()> {
    let device = forger_train::device(args.cuda)?;
    let gan = TrainedGan::load(&RunDir::new(&args.gan), &device)?;
    // Real images decode to the GAN's size and channels, so that no case
    // can be told real or synthetic from its size alone.
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
