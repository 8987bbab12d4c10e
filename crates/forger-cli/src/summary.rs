//! What the training subcommands print: the model, as Keras'
//! `model.summary()` does, before training, and the test metrics when a
//! run is done.

use forger_models::{ClassifierConfig, ModelSummary};
use forger_train::{FitMetrics, RunDir};

/// Prints the layers, output shapes and parameter counts of `model`.
pub fn print_model(model: &ClassifierConfig, device: &candle_core::Device) -> anyhow::Result<()> {
    let (built, varmap) = forger_train::init_classifier(model, 0, device)?;
    println!("{model}\n{}", ModelSummary::new(built.as_ref(), &varmap)?);
    Ok(())
}

/// Prints a finished run's test metrics and where it is.
pub fn print_summary(m: &FitMetrics, run: &RunDir) {
    let auc = m
        .test_auc
        .map(|a| format!(", test AUC {a:.4}"))
        .unwrap_or_default();
    let skipped = match m.skipped_images.len() {
        0 => String::new(),
        n => format!(", {n} bad image files skipped"),
    };
    println!(
        "test accuracy {:.4}, test loss {:.4}{auc} after {} steps ({:.1} s of training{skipped}); run in {}",
        m.test_accuracy,
        m.test_loss,
        m.steps,
        m.train_seconds,
        run.root().display()
    );
}
