//! Data for forger: readers for the formats the tutorials use (IDX for MNIST
//! and Fashion-MNIST, NPZ for MedMNIST, class-per-folder image trees), an
//! in-memory data set of 8-bit images, stratified hold-out splits, a seeded
//! mini-batch iterator that yields NCHW `f32` tensors, Keras-style
//! augmentation, and a prefetching pipeline that decodes and augments on
//! worker threads; for data larger than memory, [`Stream`] reads
//! mini-batches from disk with worker threads.
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

mod area_shrink;
pub mod atomic;
pub mod augment;
mod batch;
pub mod bench;
mod dataset;
mod decode;
mod error;
pub mod idx;
pub mod image_folder;
pub mod npz;
pub mod pipeline;
pub mod png;
pub mod preview;
pub mod rng;
pub mod scaled_jpeg;
pub mod source;
mod spec;
pub mod split;
pub mod stream;

pub use batch::{Batch, BatchConfig, Batcher, PixelScale};
pub use dataset::{Dataset, Splits};
pub use decode::load_image;
pub use error::{DataError, Result};
pub use source::{FolderSource, IdxSource, ImageSource, NpzSource};
pub use spec::{load_holdout, load_part, load_spec, Part};
pub use stream::{Augment, EpochStream, Stream, StreamConfig};
