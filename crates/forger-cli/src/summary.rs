//! What the training subcommands print when a run is done.

use forger_train::{FitMetrics, RunDir};

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
