//! Models for forger, built from Candle layers through a [`candle_nn::VarBuilder`]
//! whose fresh weights come from a seeded generator ([`seeded_vars`]), so
//! that the same seed gives the same network on every run.
//!
//! Modules: [`layers`] (convolutions with SAME padding, transposed
//! convolutions, batch norm, spectral normalisation, max-pooling, dropout
//! and fully connected layers, on forger's CPU kernels from `forger-kernels`), `init`
//! (PyTorch, Keras or TensorFlow-1 initialisation from a seeded generator), `mnist_cnn`
//! and `catdog_cnn` (the tutorial CNNs), `resnet` (a small residual
//! network that scales from 28 to 256 px), `architecture` (a serde choice
//! between them), `classifier` (the [`ImageClassifier`] and [`ModelConfig`] traits, which a
//! model of your own implements), `gan` (the
//! DCGAN, and the scaled GAN whose depth follows the image size, both
//! optionally class-conditional), `describe` (how configurations read in
//! reports: `Display`), `summary` (a Keras-style
//! [`ModelSummary`] of any classifier: layers, output shapes, parameter
//! counts) and `error`.
//!
//! Every model here implements [`ImageClassifier`]; forger-train's
//! `Learner` takes any of them, so adding a model touches no loop.

mod architecture;
mod catdog_cnn;
mod classifier;
mod describe;
mod error;
mod gan;
mod init;
pub mod layers;
mod mnist_cnn;
mod resnet;
mod summary;

pub use architecture::ClassifierConfig;
pub use catdog_cnn::{CatDogCnn, CatDogCnnConfig};
pub use classifier::{ImageClassifier, Mode, ModelConfig};
pub use error::{ModelError, Result};
pub use gan::{Discriminator, GanArchitecture, GanConfig, Generator};
pub use init::{seeded_vars, truncated_normal};
pub use mnist_cnn::{MnistCnn, MnistCnnConfig};
pub use resnet::{ResNet, ResNetConfig};
pub use summary::{LayerSummary, ModelSummary, Trace};
