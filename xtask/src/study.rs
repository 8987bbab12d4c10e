//! `cargo xtask experiment gan-auc`: forger's main job, the real vs
//! synthetic vs mixed study on the vendored PneumoniaMNIST by default, with
//! its teaching site.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use forger_data::augment::AugmentConfig;
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{load, LoadConfig, Splits};
use forger_lab::study::{
    assemble, read_config, run_study, Arm, RunOptions, Shard, StudyConfig, StudyReport,
};
use forger_models::{ClassifierConfig, GanArchitecture, GanConfig, MnistCnnConfig, ResNetConfig};
use forger_teach::{build_site, SiteInputs, SiteOptions};
use forger_train::gan::{DiffAugment, GanTrainConfig, LeCam};
use forger_train::{read_run_config, FitConfig, RunDir, RunKind, Schedule, Selection};

use crate::{new_run_dir, workspace_root};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small models and short schedules: under 10 minutes on 2 cores.
    Quick,
    /// The benchmark DCGAN and longer schedules, for better numbers.
    Full,
    /// 128-px images (`--image-size`), the scaled GAN with spectral norm,
    /// DiffAugment and LeCam, the residual classifier; budgets 100% and 25%,
    /// one replicate: for image folders such as BUSI or chest X-rays.
    Hires,
}

impl Preset {
    /// The image side folders are read at, unless `--image-size` says.
    fn image_size(self) -> usize {
        match self {
            Self::Quick | Self::Full => 28,
            Self::Hires => 128,
        }
    }
}

#[derive(Args)]
pub struct StudyArgs {
    /// Start from a study's settings: a study folder's `study.json`, or a
    /// TOML or JSON file of the same shape (`[config]`); flags given with it
    /// override it, and the preset is not used.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model sizes and schedules.
    #[arg(long, value_enum, default_value = "quick")]
    preset: Preset,
    /// A MedMNIST 2D `.npz` of two classes (default: the vendored PneumoniaMNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Names for the two classes, in label order (default: the data's own).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    class_names: Option<Vec<String>>,
    /// Image side for image folders (default: 28, or 128 for `--preset
    /// hires`); a `.npz` keeps its own, which must match when this is given.
    #[arg(long, value_parser = clap::value_parser!(u16).range(8..=1024))]
    image_size: Option<u16>,
    /// Real-data budgets as fractions of the training set (default
    /// 1,0.25,0.05; `--preset hires`: 1,0.25).
    #[arg(long, value_delimiter = ',')]
    budgets: Option<Vec<f64>>,
    /// Replicates per budget; each re-draws the budget's images, the GAN,
    /// its sample and the classifiers (default 3; `--preset hires`: 1).
    #[arg(long)]
    replicates: Option<usize>,
    /// Seed of replicate 0 (replicate k uses seed + k) (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// The fewest real validation images per class that select a model at
    /// any budget (default 10).
    #[arg(long)]
    validation_floor: Option<usize>,
    /// Synthetic images per job (default: as many as the real training set).
    #[arg(long)]
    synthetic_size: Option<usize>,
    /// GAN steps (overrides the preset).
    #[arg(long)]
    gan_steps: Option<u64>,
    /// Classifier steps (overrides the preset).
    #[arg(long)]
    classifier_steps: Option<u64>,
    /// Run only shard `i` of `N` of the plan (0-based, e.g. `--shard
    /// $SLURM_ARRAY_TASK_ID/4`); assemble the shards with `gan-auc-report`.
    #[arg(long, default_value = "0/1")]
    pub(crate) shard: Shard,
    /// Continue the study in `--out` (finished GANs and classifiers are
    /// kept, an interrupted one continues from its checkpoint).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Run directory (default: a new `runs/gan-auc/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train on the GPU (CUDA builds).
    #[arg(long)]
    pub(crate) cuda: bool,
}

/// `cargo xtask experiment gan-auc-report`: one report from the folders of
/// a study's shards.
#[derive(Args)]
pub struct ReportArgs {
    /// A shard's study folder (repeat for each shard).
    #[arg(long = "from", required = true)]
    from: Vec<PathBuf>,
    /// The data the shards ran on (default: the vendored PneumoniaMNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the report (default: a new `runs/gan-auc/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compute the quality measures on the GPU (CUDA builds).
    #[arg(long)]
    cuda: bool,
}

fn preset(preset: Preset, image: [usize; 3]) -> (GanTrainConfig, FitConfig) {
    if preset == Preset::Hires {
        return hires(image);
    }
    let small = preset == Preset::Quick;
    let gan = GanConfig {
        image,
        classes: Some(2),
        generator_widths: if small { [64, 32, 16] } else { [256, 128, 64] },
        discriminator_widths: if small { [32, 64] } else { [64, 128] },
        ..Default::default()
    };
    let gan = GanTrainConfig {
        log_every: 50,
        sample_every: if small { 300 } else { 500 },
        ..GanTrainConfig::new(gan, if small { 1200 } else { 3000 })
    };
    let classifier = ClassifierConfig::MnistCnn(MnistCnnConfig {
        input: image,
        classes: 2,
        channels: if small { [8, 16] } else { [16, 32] },
        ..Default::default()
    });
    let fit = FitConfig {
        schedule: Schedule::Steps(if small { 600 } else { 1500 }),
        eval_every: Some(if small { 50 } else { 100 }),
        selection: Some(Selection::Auc),
        optimizer: forger_train::OptimizerConfig::adam(if small { 0.005 } else { 0.003 }),
        augment: Some(anatomy_augment()),
        ..FitConfig::mnist_tutorial(classifier)
    };
    (gan, fit)
}

/// Small rotations, shifts and zooms; no flips, which would mirror anatomy.
fn anatomy_augment() -> AugmentConfig {
    AugmentConfig {
        rotation_range: 10.0,
        width_shift_range: 0.1,
        height_shift_range: 0.1,
        zoom_range: [0.9, 1.1],
        ..AugmentConfig::none()
    }
}

/// The hires preset: the scaled conditional GAN (spectral norm on D) with
/// DiffAugment and LeCam, the GAN-training recipe of the few-image
/// literature (Zhao et al. 2020; Tseng et al. 2021), and the residual
/// classifier, sized to finish two budgets on 2 cores within the hour.
fn hires(image: [usize; 3]) -> (GanTrainConfig, FitConfig) {
    let gan = GanConfig {
        image,
        classes: Some(2),
        architecture: GanArchitecture::scaled(true),
        ..Default::default()
    };
    let gan = GanTrainConfig {
        batch_size: 32,
        log_every: 50,
        sample_every: 200,
        diff_augment: Some(DiffAugment::default()),
        lecam: Some(LeCam::default()),
        ..GanTrainConfig::new(gan, 600)
    };
    let fit = FitConfig {
        schedule: Schedule::Steps(300),
        batch_size: 32,
        eval_every: Some(50),
        selection: Some(Selection::Auc),
        optimizer: forger_train::OptimizerConfig::adam(1e-3),
        augment: Some(anatomy_augment()),
        ..FitConfig::mnist_tutorial(ClassifierConfig::ResNet(ResNetConfig::new(image, 2)))
    };
    (gan, fit)
}

/// The data of a study with its class names (`names`, else the data's)
/// and description: a `.npz` as stored, image folders grey at `side` px.
fn study_data(
    data: Option<&Path>,
    names: Option<&[String]>,
    side: Option<usize>,
    default_side: usize,
) -> anyhow::Result<(PathBuf, Splits, String)> {
    let path = data
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("datasets/pneumoniamnist.npz"));
    let description = match forger_data::known::known_dataset(&path) {
        Some(known) => known.description.to_string(),
        None => format!("`{}` (see its source for the licence).", path.display()),
    };
    let n = side.unwrap_or(default_side);
    let config = LoadConfig {
        folder: ImageFolderConfig::for_shape([1, n, n])?,
        ..Default::default()
    };
    let splits: Splits = load(&path, &config)?.splits.with_class_names(names)?;
    let [_, h, w] = splits.train.image_shape();
    if let Some(side) = side.filter(|&s| (s, s) != (h, w)) {
        anyhow::bail!(
            "--image-size {side}: {} holds {h}x{w} images (a .npz keeps its size: for MedMNIST+ pass the \
             file of that size, e.g. pneumoniamnist_{side}.npz)",
            path.display()
        );
    }
    Ok((path, splits, description))
}

/// A study's settings, data and output folder, resolved from its flags.
pub struct Resolved {
    pub config: StudyConfig,
    /// The data file or folder.
    pub path: PathBuf,
    pub splits: Splits,
    pub out: PathBuf,
}

/// The study `args` describe: `--config` or the preset, then the flags;
/// without `--out`, a new `runs/<kind>/NNN`.
pub fn resolve(args: &StudyArgs, kind: &str) -> anyhow::Result<Resolved> {
    let file: Option<StudyConfig> = match &args.config {
        Some(path) => {
            let mut manifest: serde_json::Value = read_run_config(path, RunKind::Study)?;
            Some(
                serde_json::from_value(manifest["config"].take()).map_err(|e| {
                    anyhow::anyhow!(
                        "--config {}: unreadable study settings: {e}",
                        path.display()
                    )
                })?,
            )
        }
        None => None,
    };
    let default_side = file
        .as_ref()
        .map_or(args.preset.image_size(), |f| f.gan.gan.image[1]);
    let (path, splits, description) = study_data(
        args.data.as_deref(),
        args.class_names.as_deref(),
        args.image_size.map(usize::from),
        default_side,
    )?;
    let (mut gan, mut classifier) = match &file {
        Some(f) => (f.gan.clone(), f.classifier.clone()),
        None => preset(args.preset, splits.train.image_shape()),
    };
    let hires = args.preset == Preset::Hires;
    if let Some(steps) = args.gan_steps {
        gan.steps = steps;
    }
    if let Some(steps) = args.classifier_steps {
        classifier.schedule = Schedule::Steps(steps);
    }
    let reference_auc = forger_data::known::known_dataset(&path)
        .and_then(|known| known.reference_auc)
        .map(String::from);
    let defaults = StudyConfig {
        budgets: if hires {
            vec![1.0, 0.25]
        } else {
            vec![1.0, 0.25, 0.05]
        },
        replicates: if hires { 1 } else { 3 },
        seed: 0,
        validation_floor: 10,
        gan: gan.clone(),
        classifier: classifier.clone(),
        synthetic_size: None,
        synthetic_class_shares: None,
        bootstrap_resamples: 2000,
        data_description: description.clone(),
        reference_auc: reference_auc.clone(),
    };
    let base = file.unwrap_or(defaults);
    let config = StudyConfig {
        budgets: args.budgets.clone().unwrap_or(base.budgets),
        replicates: args.replicates.unwrap_or(base.replicates),
        seed: args.seed.unwrap_or(base.seed),
        validation_floor: args.validation_floor.unwrap_or(base.validation_floor),
        gan,
        classifier,
        synthetic_size: args.synthetic_size.or(base.synthetic_size),
        data_description: description,
        reference_auc,
        ..base
    };
    let out = match (&args.out, args.resume) {
        (Some(out), _) => out.clone(),
        (None, false) => new_run_dir(kind),
        (None, true) => anyhow::bail!("--resume continues the study in --out DIR: name the folder"),
    };
    Ok(Resolved {
        config,
        path,
        splits,
        out,
    })
}

pub fn run(args: StudyArgs) -> anyhow::Result<()> {
    let Resolved {
        config,
        path,
        splits,
        out,
    } = resolve(&args, "gan-auc")?;
    let run = RunDir::new(&out);
    let device = forger_train::device(args.cuda)?;
    tracing::info!("gan-auc: {} -> {}", path.display(), out.display());
    let started = Instant::now();
    let options = RunOptions {
        shard: args.shard,
        resume: args.resume,
    };
    let report = run_study(
        &config,
        &splits,
        &run,
        &device,
        options,
        &crate::invocation(),
    )?;
    match report {
        Some(report) => finish(&config, &splits, &report, &run, started),
        None => {
            println!(
                "shard {} done in {:.0} s: {}; when every shard is done, run `cargo xtask experiment gan-auc-report --from DIR ...`",
                args.shard,
                started.elapsed().as_secs_f64(),
                out.display()
            );
            Ok(())
        }
    }
}

/// Assembles the report of a sharded study.
pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let config = read_config(&args.from[0])?;
    let side = config.gan.gan.image[1];
    let (_, splits, _) = study_data(args.data.as_deref(), None, Some(side), side)?;
    let out = args.out.clone().unwrap_or_else(|| new_run_dir("gan-auc"));
    let run = RunDir::new(&out);
    let device = forger_train::device(args.cuda)?;
    let started = Instant::now();
    let sources: Vec<&Path> = args.from.iter().map(PathBuf::as_path).collect();
    let report = assemble(
        &config,
        &splits,
        &sources,
        &run,
        &device,
        &crate::invocation(),
    )?;
    finish(&config, &splits, &report, &run, started)
}

/// The teaching site and the summary table of an assembled study.
fn finish(
    config: &StudyConfig,
    splits: &Splits,
    report: &StudyReport,
    run: &RunDir,
    started: Instant,
) -> anyhow::Result<()> {
    let site = build_site(
        &SiteInputs {
            synthetic_dir: &run.file("synthetic"),
            real: &splits.test,
            study_dir: Some(run.root()),
        },
        &SiteOptions::default(),
        &run.file("site"),
    );
    match site {
        Ok(s) => tracing::info!("teaching site: {}", s.out.join("index.html").display()),
        Err(e) if !config.budgets.contains(&1.0) => {
            tracing::info!("no teaching site without the full budget: {e}")
        }
        // The results are written; a teaching set the audit and the cutout
        // check emptied is reported, not fatal.
        Err(e) => tracing::warn!("no teaching site: {e}"),
    }
    println!(
        "ROC AUC on the real test set: mean over {} [95% bootstrap interval]",
        match config.replicates {
            1 => "1 replicate".to_string(),
            n => format!("{n} replicates"),
        }
    );
    print!("{:<10}", "arm");
    for b in &config.budgets {
        print!("{:>24}", format!("{:.0}% real", b * 100.0));
    }
    println!();
    for arm in Arm::ALL {
        print!("{:<10}", arm.name());
        for s in report.arms.iter().filter(|s| s.arm == arm) {
            let cell = format!(
                "{:.4} [{:.3}, {:.3}]",
                s.mean_auc, s.interval.low, s.interval.high
            );
            print!("{cell:>24}");
        }
        println!();
    }
    println!(
        "wall time {:.0} s; report {}",
        started.elapsed().as_secs_f64(),
        run.file("report.md").display()
    );
    Ok(())
}
