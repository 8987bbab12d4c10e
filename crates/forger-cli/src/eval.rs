//! `forger eval`: a trained classifier's scores on a data set.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{layout, load, Layout, LoadConfig};
use forger_train::{RunDir, TrainedClassifier};

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
