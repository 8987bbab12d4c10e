//! forger: train image classifiers and GANs on Candle, on CPU or CUDA.
//!
//! This umbrella crate re-exports the focused crates so that a user can depend
//! on one name; each crate can also be imported on its own: [`data`]
//! (sources, the loader, augmentation), [`kernels`] (the CPU kernels),
//! [`models`] (CNNs, GANs, the traits a model of your own implements),
//! [`train`] (the Learner, fit, GAN training, optimizers, metrics) and
//! [`lab`] (the experiments).

pub use forger_data as data;
pub use forger_kernels as kernels;
pub use forger_lab as lab;
pub use forger_models as models;
pub use forger_train as train;
