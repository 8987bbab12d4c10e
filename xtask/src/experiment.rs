//! `cargo xtask experiment`: the tutorials and the main job, with their
//! default data and settings.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use forger_data::{load, LoadConfig, Splits};
use forger_models::{ClassifierConfig, MnistCnnConfig};
use forger_train::gan::{train_gan, Frechet, GanRunConfig, GanTrainConfig};
use forger_train::{
    fit, read_run_config, FitConfig, FitData, RunConfig, RunDir, RunKind, Schedule, Selection,
};

use crate::{new_run_dir, workspace_root};

#[derive(Subcommand)]
pub enum Experiment {
    /// The main job (the default): a conditional GAN and classifiers trained
    /// on real, synthetic and mixed images, compared by ROC AUC.
    GanAuc(crate::study::StudyArgs),
    /// The report of a study run in shards (`gan-auc --shard i/N`), from
    /// the shards' folders: the same report as one run.
    GanAucReport(crate::study::ReportArgs),
    /// The study's GAN trained plain, with DiffAugment, and with
    /// DiffAugment and LeCam: synthetic-only ROC AUC, FD and KID, paired.
    GanAblation(crate::ablation::AblationArgs),
    /// The tutorial CNN on the vendored PneumoniaMNIST, reporting test
    /// accuracy and ROC AUC.
    Pneumonia(ClassifierArgs),
    /// The MNIST tutorial: 10,000 Adam steps at batch 64, test accuracy every 100.
    Mnist(ClassifierArgs),
    /// The cats-vs-dogs tutorial's CNN trained with and without augmentation
    /// on a class-per-folder image tree, compared on its test set.
    CatsDogs(crate::cats_dogs::CatsDogsArgs),
    /// A GAN with its Fréchet distance tracked: by default the conditional
    /// DCGAN on the vendored PneumoniaMNIST.
    Gan(GanArgs),
    /// Full-batch, mini-batch and online training compared: loss against
    /// examples seen and wall time, peak memory per mode.
    BatchVsOnline(BatchVsOnlineCommand),
}

#[derive(Args)]
pub struct GanArgs {
    /// Start from a run configuration: a run folder's `config.json`, or a
    /// TOML or JSON file of the same shape; flags given with it override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// An IDX folder or MedMNIST `.npz` (default: the vendored PneumoniaMNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Names for the classes, in label order (default: the data's own).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
    /// Train a plain DCGAN instead of the class-conditional one (class
    /// embedding into G, projection D).
    #[arg(long)]
    unconditional: bool,
    /// Steps, each one D and one G update (default 3,000).
    #[arg(long)]
    steps: Option<u64>,
    /// Write a sample grid and measure the Fréchet distance every N steps (default 500).
    #[arg(long)]
    sample_every: Option<u64>,
    /// Seed of everything random: weights, batches, noise (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory (default: a new `runs/gan/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train on the first CUDA GPU (needs a build with the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

fn gan(args: GanArgs) -> anyhow::Result<()> {
    let path = args
        .data
        .unwrap_or_else(|| workspace_root().join("datasets/pneumoniamnist.npz"));
    let data = load(&path, &LoadConfig::default())?
        .splits
        .with_class_names(args.class_names.as_deref())?
        .train;
    let file: Option<GanRunConfig> = args
        .config
        .as_deref()
        .map(|p| read_run_config(p, RunKind::Gan))
        .transpose()?;
    let mut config = match file {
        Some(file) => file.train,
        None => {
            let gan = forger_models::GanConfig {
                image: data.image_shape(),
                classes: Some(data.classes().len()),
                ..Default::default()
            };
            GanTrainConfig {
                sample_every: 500,
                ..GanTrainConfig::new(gan, 3000)
            }
        }
    };
    if args.unconditional {
        config.gan.classes = None;
    }
    config.steps = args.steps.unwrap_or(config.steps);
    config.sample_every = args.sample_every.unwrap_or(config.sample_every);
    config.seed = args.seed.unwrap_or(config.seed);
    let out = args.out.unwrap_or_else(|| new_run_dir("gan"));
    let device = forger_train::device(args.cuda)?;
    let run = RunDir::new(&out);
    let mut frechet = Frechet::train(&data, &run, config.sample_every, config.seed, &device)?;
    let report = train_gan(
        &config,
        &data,
        &path.display().to_string(),
        &run,
        &device,
        false,
        Some(&mut frechet),
    )?;
    println!(
        "GAN on {}; Fréchet distance (real vs real {:.3}):",
        path.display(),
        frechet.baseline()
    );
    for row in report.history.iter().filter(|r| r.frechet.is_some()) {
        println!(
            "  step {:>6}  {:.3}",
            row.step,
            row.frechet.unwrap_or(f64::NAN)
        );
    }
    println!("grids and losses in {}", out.display());
    Ok(())
}

#[derive(Args)]
pub struct BatchVsOnlineCommand {
    #[command(flatten)]
    modes: crate::batch_vs_online::BatchVsOnlineArgs,
    /// Data to use instead of the vendored PneumoniaMNIST.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed of everything random: weights, batches, the subset.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run directory (default: a new `runs/batch-vs-online/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `cargo xtask experiment [FLAGS]` runs the main job (`gan-auc`) with
/// those flags; `cargo xtask experiment NAME [FLAGS]` runs another.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExperimentArgs {
    #[command(subcommand)]
    experiment: Option<Experiment>,
    #[command(flatten)]
    study: crate::study::StudyArgs,
}

#[derive(Args)]
pub struct ClassifierArgs {
    /// Start from a run configuration: a run folder's `config.json`, or a
    /// TOML or JSON file of the same shape; flags given with it override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data to use instead of the experiment's default.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Names for the classes, in label order (default: the data's own).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
    /// Train on all but the last N test images and test on those N.
    #[arg(long, value_name = "N")]
    holdout: Option<usize>,
    /// Override the number of optimizer steps.
    #[arg(long)]
    steps: Option<u64>,
    /// Seed of everything random: weights, batches (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Run directory (default: a new `runs/<experiment>/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train on the first CUDA GPU (needs a build with the `cuda` feature).
    #[arg(long)]
    cuda: bool,
}

pub fn run(args: ExperimentArgs) -> anyhow::Result<()> {
    match args.experiment {
        None => crate::study::run(args.study),
        Some(Experiment::GanAuc(study)) => crate::study::run(study),
        Some(Experiment::GanAucReport(args)) => crate::study::report(args),
        Some(Experiment::GanAblation(args)) => crate::ablation::run(args),
        Some(Experiment::Gan(args)) => gan(args),
        Some(Experiment::CatsDogs(args)) => crate::cats_dogs::run(args),
        Some(Experiment::BatchVsOnline(c)) => {
            crate::batch_vs_online::run(&c.modes, c.data, c.seed, c.out)
        }
        Some(Experiment::Pneumonia(args)) => {
            let data = args
                .data
                .clone()
                .unwrap_or_else(|| workspace_root().join("datasets/pneumoniamnist.npz"));
            classifier("pneumonia-cnn", data, false, &args)
        }
        Some(Experiment::Mnist(args)) => {
            let data = match &args.data {
                Some(d) => d.clone(),
                None => default_mnist()?,
            };
            classifier("mnist-cnn", data, true, &args)
        }
    }
}

/// Trains the tutorial CNN: with the tutorial's schedule, or briefly with
/// the weights of the best validation AUC kept.
fn classifier(
    name: &str,
    data_path: PathBuf,
    tutorial: bool,
    args: &ClassifierArgs,
) -> anyhow::Result<()> {
    let config = LoadConfig {
        holdout: args.holdout,
        ..Default::default()
    };
    let splits: Splits = load(&data_path, &config)?
        .splits
        .with_class_names(args.class_names.as_deref())?;
    let model = ClassifierConfig::MnistCnn(MnistCnnConfig {
        input: splits.train.image_shape(),
        classes: splits.train.classes().len(),
        ..Default::default()
    });
    let file: Option<RunConfig> = args
        .config
        .as_deref()
        .map(|p| read_run_config(p, RunKind::Classifier))
        .transpose()?;
    let mut config = match file {
        Some(file) => file.fit,
        None if tutorial => FitConfig::mnist_tutorial(model),
        None => FitConfig {
            schedule: Schedule::Steps(1500),
            selection: Some(Selection::Auc),
            ..FitConfig::mnist_tutorial(model)
        },
    };
    config.seed = args.seed.unwrap_or(config.seed);
    if let Some(steps) = args.steps {
        config.schedule = Schedule::Steps(steps);
    }
    let out = args.out.clone().unwrap_or_else(|| new_run_dir(name));
    tracing::info!(
        "{name}: {} training / {} validation / {} test images from {}; run directory {}",
        splits.train.len(),
        splits.val.len(),
        splits.test.len(),
        data_path.display(),
        out.display()
    );
    let device = forger_train::device(args.cuda)?;
    let data = FitData::from_splits(&splits, data_path.display().to_string());
    let report = fit(&config, &data, &RunDir::new(&out), &device, false)?;
    let m = &report.metrics;
    println!("{name} on {}", data_path.display());
    println!("  test accuracy  {:.4}", m.test_accuracy);
    if let Some(auc) = m.test_auc {
        println!("  test ROC AUC   {auc:.4}");
    }
    println!("  test loss      {:.4}", m.test_loss);
    println!(
        "  steps          {} (weights of step {} kept)",
        m.steps, m.kept_step
    );
    println!("  training time  {:.1} s", m.train_seconds);
    println!("  run directory  {}", out.display());
    Ok(())
}

/// Downloaded MNIST if present, else Debian's Fashion-MNIST; says which.
fn default_mnist() -> anyhow::Result<PathBuf> {
    let downloaded = std::env::var_os("FORGER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("data"))
        .join("mnist");
    let fashion = PathBuf::from("/usr/share/datasets/fashion-mnist");
    for (dir, what) in [
        (downloaded, "MNIST"),
        (fashion, "Fashion-MNIST (Debian's dataset-fashion-mnist)"),
    ] {
        if forger_data::idx::find_file(&dir, forger_data::idx::STANDARD_FILES[0]).is_ok() {
            tracing::info!("using {what} from {}", dir.display());
            return Ok(dir);
        }
    }
    bail!(
        "no MNIST data found: place the four MNIST IDX files in data/mnist (or $FORGER_DATA/mnist), \
         or install Fashion-MNIST with `apt-get install dataset-fashion-mnist`, or pass --data DIR"
    )
}
