//! `forger predict`: classify image files with a trained classifier.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use forger_train::plot::{captioned_grid, Tile};
use forger_train::{RunDir, TrainedClassifier};

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
    /// Predict on the first CUDA GPU (needs a build with the `cuda` feature).
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
