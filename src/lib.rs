//! forger: train image classifiers and GANs on Candle, on CPU or CUDA.
//!
//! This umbrella crate re-exports the focused crates so that a user can depend
//! on one name; each crate can also be imported on its own.

pub use forger_data as data;
pub use forger_kernels as kernels;
pub use forger_lab as lab;
pub use forger_models as models;
pub use forger_train as train;
