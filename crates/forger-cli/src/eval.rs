//! `forger eval`: a trained classifier's scores on a data set.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use forger_data::image_folder::ImageFolderConfig;
use forger_data::{layout, load, Layout, LoadConfig};
use forger_train::plot;
use forger_train::scores::{class_rocs, write_predictions};
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
    /// Write each image's scores as CSV to this file: its index in the
    /// evaluated split, true and predicted class, and one probability
    /// column per class (named by class).
    #[arg(long, value_name = "FILE")]
    predictions: Option<PathBuf>,
    /// Write roc.png (one curve for two classes, one-vs-rest per class for
    /// more, each with its AUC and 95% DeLong interval) and confusion.png
    /// into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Evaluate on the first CUDA GPU (needs the `cuda` feature).
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
    let classes = &trained.config.classes;
    let rocs = class_rocs(&eval, classes)?;
    println!(
        "{} images: accuracy {:.4}, loss {:.4}",
        data.len(),
        eval.accuracy,
        eval.loss
    );
    for roc in &rocs {
        let which = if classes.len() == 2 {
            format!("positive class {}", roc.class)
        } else {
            format!("{} vs rest", roc.class)
        };
        println!(
            "AUC ({which}) {:.4}, 95% DeLong interval {:.4} to {:.4}",
            roc.auc.auc, roc.auc.low, roc.auc.high
        );
    }
    println!("confusion matrix (rows: true class, columns: predicted):");
    print!("{}", confusion_table(&eval.confusion.matrix, classes));
    if let Some(path) = &args.json {
        forger_train::atomic::write_json(path, &eval)?;
    }
    if let Some(path) = &args.predictions {
        write_predictions(path, &eval, classes)?;
        println!("wrote {}", path.display());
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        let (roc_png, confusion_png) = (dir.join("roc.png"), dir.join("confusion.png"));
        let title = format!("ROC, {} images", data.len());
        plot::roc(&roc_png, &title, &rocs)?;
        plot::confusion_matrix(&confusion_png, &eval.confusion, classes)?;
        println!(
            "wrote {} and {}",
            roc_png.display(),
            confusion_png.display()
        );
    }
    Ok(())
}

/// The confusion matrix as aligned text, class names heading rows and columns.
fn confusion_table(matrix: &[Vec<u64>], classes: &[String]) -> String {
    let width = classes
        .iter()
        .map(|c| c.chars().count())
        .chain(matrix.iter().flatten().map(|n| n.to_string().len()))
        .max()
        .unwrap_or(1);
    let mut out = format!("  {:width$}", "");
    for c in classes {
        out.push_str(&format!(" {c:>width$}"));
    }
    out.push('\n');
    for (c, row) in classes.iter().zip(matrix) {
        out.push_str(&format!("  {c:>width$}"));
        for n in row {
            out.push_str(&format!(" {n:>width$}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_table_aligns_counts_under_class_names() {
        let names = vec!["normal".to_string(), "pneumonia".to_string()];
        let table = confusion_table(&[vec![200, 34], vec![5, 385]], &names);
        assert_eq!(
            table,
            "               normal pneumonia\n     normal       200        34\n  pneumonia         5       385\n"
        );
    }
}
