//! Training for forger: optimizers with saveable state, the classifier fit
//! loop, evaluation and metrics (including ROC AUC), checkpoints, training
//! history and plots.
//!
//! Every run writes the same directory layout ([`RunDir`]); checkpoints are
//! one safetensors file ([`checkpoint`]); all files are written atomically.

pub mod checkpoint;
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
pub mod quality;
mod run_dir;
mod train_batches;
mod trained;

pub use classifier_step::{init_classifier, ClassifierStep, Validation};
pub use error::{Result, TrainError};
pub use evaluate::{argmax, evaluate, positive_score, predict_probabilities, Evaluation};
pub use fit::{
    fit, plot_curves, FitConfig, FitData, FitMetrics, FitReport, RunConfig, Selection, TestScores,
};
pub use forger_data::atomic;
pub use learner::{EarlyStopping, Hook, Learner, Schedule, TrainStep};
pub use loss::LossKind;
pub use optim::{LrSchedule, Optimizer, OptimizerConfig, PlateauMode};
pub use progress::Progress;
pub use run_dir::RunDir;
pub use train_batches::train_loader;
pub use trained::{load_weights, save_weights, Prediction, TrainedClassifier};

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
