//! Training for forger. [`learner`] is the one training loop: a
//! [`TrainStep`] (one update, its history row, its weights and optimizers)
//! driven by the [`Learner`] with [`Hook`]s between updates. Two steps:
//! `classifier_step` ([`ClassifierStep`] and the [`Validation`] hook),
//! which `fit` drives for any [`forger_models::ModelConfig`] ([`fit()`]),
//! and [`gan`] (the GAN's step, its sample-grid and Fréchet hooks,
//! [`gan::train_gan`]). `trained` is a trained classifier as `fit` returns
//! it or a run folder holds it ([`TrainedClassifier`]); `train_batches`
//! the loader `fit` trains from. Around them: [`optim`] (Adam, AdamW, SGD,
//! learning-rate schedules, gradient clipping, all state saveable),
//! [`checkpoint`] (forger's one checkpoint format; `checksum` verifies its
//! tensors), [`history`] (one CSV
//! writer for every kind of row), `evaluate` and [`metrics`] (accuracy,
//! confusion matrix, ROC AUC with DeLong intervals, operating points,
//! paired DeLong tests and the pigeonhole bootstrap for replicated
//! classifiers), [`quality`] (Fréchet distance, KID, density/coverage,
//! GAN-train/GAN-test), [`loss`], [`plot`], [`memory`] (peak
//! RSS), `progress` (bars on a terminal, log lines elsewhere), [`provenance`]
//! (what every run's `config.json` records of how it was made), [`scores`]
//! (per-image scores as CSV, ROC curves per class), `run_dir` and `error`.
//!
//! Every run writes the same directory layout ([`RunDir`]); all files are
//! written atomically.

pub mod audit;
pub mod checkpoint;
mod checksum;
mod classifier_step;
mod error;
mod evaluate;
mod fit;
pub mod gan;
pub mod history;
pub mod learner;
pub mod loss;
pub mod memory;
pub mod metrics;
pub mod optim;
pub mod plot;
mod progress;
pub mod provenance;
pub mod quality;
mod run_dir;
pub mod scores;
mod train_batches;
mod trained;

pub use classifier_step::{init_classifier, ClassifierStep, Validation};
pub use error::{Result, TrainError};
pub use evaluate::{
    argmax, check_image_shape, evaluate, positive_score, predict_probabilities, Evaluation,
};
pub use fit::{
    fit, plot_curves, FitConfig, FitData, FitMetrics, FitReport, RunConfig, Selection, TestScores,
};
pub use forger_data::atomic;
pub use learner::{EarlyStopping, Hook, Learner, Schedule, TrainStep};
pub use loss::LossKind;
pub use optim::{LrSchedule, Optimizer, OptimizerConfig, PlateauMode};
pub use progress::{init_logging, Progress};
pub use provenance::Provenance;
pub use run_dir::{read_run_config, RunDir, RunKind};
pub use train_batches::train_loader;
pub use trained::{load_weights, run_summary, save_weights, Prediction, TrainedClassifier};

/// The device to train on: the first CUDA GPU when `cuda` is set (an error
/// if forger was built without the `cuda` feature or none is present),
/// otherwise the CPU.
pub fn device(cuda: bool) -> Result<candle_core::Device> {
    if cuda {
        Ok(candle_core::Device::new_cuda(0)?)
    } else {
        Ok(candle_core::Device::Cpu)
    }
}
