//! Data for forger: readers for the formats the tutorials use (IDX for MNIST
//! and Fashion-MNIST, NPZ for MedMNIST), an in-memory data set of 8-bit
//! images, and a seeded mini-batch iterator that yields NCHW `f32` tensors;
//! for data larger than memory, [`Stream`] reads mini-batches from disk
//! with worker threads.
//!
//! ```no_run
//! use forger_data::{load_spec, BatchConfig, Batcher};
//! let splits = load_spec("datasets/pneumoniamnist.npz".as_ref())?;
//! let batcher = Batcher::new(&splits.train, BatchConfig::new(64).seed(7));
//! for batch in batcher.epoch(0, &candle_core::Device::Cpu) {
//!     let batch = batch?;
//!     assert_eq!(batch.images.dims()[1..], [1, 28, 28]);
//! }
//! # Ok::<(), forger_data::DataError>(())
//! ```

mod batch;
mod dataset;
mod decode;
mod error;
pub mod idx;
pub mod npz;
pub mod rng;
pub mod source;
mod spec;
pub mod stream;

pub use batch::{Batch, BatchConfig, Batcher, PixelScale};
pub use dataset::{Dataset, Splits};
pub use decode::load_image;
pub use error::{DataError, Result};
pub use source::{FolderSource, IdxSource, ImageSource, NpzSource};
pub use spec::{load_holdout, load_spec};
pub use stream::{Augment, EpochStream, Stream, StreamConfig};
