//! `cargo xtask experiment gan-auc`: forger's main job, the real vs
//! synthetic vs mixed study on the vendored PneumoniaMNIST by default, with
//! its teaching site.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use forger_data::augment::AugmentConfig;
use forger_data::{load, LoadConfig, Splits};
use forger_lab::study::{run_study, Arm, StudyConfig};
use forger_models::{ClassifierConfig, GanConfig, MnistCnnConfig};
use forger_teach::{build_site, SiteInputs, SiteOptions};
use forger_train::gan::GanTrainConfig;
use forger_train::{FitConfig, RunDir, Schedule, Selection};

use crate::{new_run_dir, workspace_root};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small models and short schedules: under 10 minutes on 2 cores (421 s measured).
    Quick,
    /// The benchmark DCGAN and longer schedules, for better numbers.
    Full,
}

#[derive(Args)]
pub struct StudyArgs {
    #[arg(long, value_enum, default_value = "quick")]
    preset: Preset,
    /// A MedMNIST 2D `.npz` of two classes (default: the vendored PneumoniaMNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Real-data budgets as fractions of the training set.
    #[arg(long, value_delimiter = ',', default_value = "1,0.25,0.05")]
    budgets: Vec<f64>,
    /// Classifier seeds per arm and budget.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Synthetic images per budget (default: as many as the real training set).
    #[arg(long)]
    synthetic_size: Option<usize>,
    /// GAN steps (overrides the preset).
    #[arg(long)]
    gan_steps: Option<u64>,
    /// Classifier steps (overrides the preset).
    #[arg(long)]
    classifier_steps: Option<u64>,
    /// Run directory (default: a new `runs/gan-auc/NNN`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    cuda: bool,
}

impl StudyArgs {
    /// The arguments of a plain `cargo xtask experiment gan-auc`.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            study: StudyArgs,
        }
        <Defaults as clap::Parser>::parse_from(["gan-auc"]).study
    }
}

/// Class names and a description of the data sets forger knows by file name.
fn describe(path: &Path) -> (Option<[&'static str; 2]>, String) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let medmnist = "MedMNIST v2 (Yang et al., Scientific Data 2023), CC BY 4.0";
    match name {
        "pneumoniamnist.npz" => (
            Some(["normal", "pneumonia"]),
            format!(
                "PneumoniaMNIST: pediatric chest X-rays at 28x28 (Kermany et al., Cell 2018), from {medmnist}; \
                 label 0 = normal, 1 = pneumonia. Vendored in forger's `datasets/`."
            ),
        ),
        "breastmnist.npz" => (
            Some(["malignant", "normal_or_benign"]),
            format!(
                "BreastMNIST: breast ultrasound at 28x28 (Al-Dhabyani et al., Data in Brief 2020), from {medmnist}; \
                 label 0 = malignant, 1 = normal or benign. Vendored in forger's `datasets/`."
            ),
        ),
        _ => (None, format!("`{}` (a MedMNIST-style .npz; see its source for the licence).", path.display())),
    }
}

fn preset(preset: Preset, image: [usize; 3]) -> (GanTrainConfig, FitConfig) {
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
    // Small rotations, shifts and zooms; no flips, which would mirror anatomy.
    let augment = AugmentConfig {
        rotation_range: 10.0,
        width_shift_range: 0.1,
        height_shift_range: 0.1,
        zoom_range: [0.9, 1.1],
        ..AugmentConfig::none()
    };
    let fit = FitConfig {
        schedule: Schedule::Steps(if small { 600 } else { 1500 }),
        eval_every: Some(if small { 50 } else { 100 }),
        selection: Some(Selection::Auc),
        optimizer: forger_train::OptimizerConfig::adam(if small { 0.005 } else { 0.003 }),
        augment: Some(augment),
        ..FitConfig::mnist_tutorial(classifier)
    };
    (gan, fit)
}

pub fn run(args: StudyArgs) -> anyhow::Result<()> {
    let path = args
        .data
        .clone()
        .unwrap_or_else(|| workspace_root().join("datasets/pneumoniamnist.npz"));
    let (names, description) = describe(&path);
    let mut splits: Splits = load(&path, &LoadConfig::default())?.splits;
    if let Some(names) = names {
        splits = Splits {
            train: splits.train.with_class_names(&names)?,
            val: splits.val.with_class_names(&names)?,
            test: splits.test.with_class_names(&names)?,
        };
    }
    let (mut gan, mut classifier) = preset(args.preset, splits.train.image_shape());
    if let Some(steps) = args.gan_steps {
        gan.steps = steps;
    }
    if let Some(steps) = args.classifier_steps {
        classifier.schedule = Schedule::Steps(steps);
    }
    let config = StudyConfig {
        budgets: args.budgets.clone(),
        seeds: args.seeds.clone(),
        gan,
        classifier,
        synthetic_size: args.synthetic_size,
        synthetic_class_shares: None,
        command: crate::invocation(),
        data_description: description,
    };
    let out = args.out.clone().unwrap_or_else(|| new_run_dir("gan-auc"));
    let run = RunDir::new(&out);
    let device = forger_train::device(args.cuda)?;
    tracing::info!("gan-auc: {} -> {}", path.display(), out.display());
    let report = run_study(&config, &splits, &run, &device)?;

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
        Err(e) => return Err(e.into()),
    }

    println!(
        "ROC AUC on the real test set (mean over seeds {:?}):",
        config.seeds
    );
    print!("{:<10}", "arm");
    for b in &config.budgets {
        print!("{:>12}", format!("{:.0}% real", b * 100.0));
    }
    println!();
    for arm in Arm::ALL {
        print!("{:<10}", format!("{arm:?}").to_lowercase());
        for &b in &config.budgets {
            let aucs: Vec<f64> = report
                .results
                .iter()
                .filter(|r| r.arm == arm && r.real_fraction == b)
                .map(|r| r.auc)
                .collect();
            print!("{:>12.4}", aucs.iter().sum::<f64>() / aucs.len() as f64);
        }
        println!();
    }
    println!(
        "wall time {:.0} s; report {}",
        report.seconds,
        run.file("report.md").display()
    );
    Ok(())
}
