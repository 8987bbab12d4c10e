//! forger's experiments, each a library call that xtask (and anyone) runs:
//! [`study`] (the main job: per real-data budget, a conditional GAN on that
//! budget's images, then classifiers on real, synthetic and mixed images,
//! compared by ROC AUC on real test images, with a report),
//! [`augmentation_study`] (the cats-vs-dogs tutorial with and without
//! augmentation), [`batch_vs_online`] (full-batch, mini-batch and online
//! updates of one model on the same examples) and [`bench`] (the
//! training-throughput workloads of `shared/bench/WORKLOADS.md`). All train
//! through forger-train's `Learner`; errors are forger-train's.

pub mod augmentation_study;
pub mod batch_vs_online;
pub mod bench;
pub mod study;

pub use forger_train::{Result, TrainError};
