//! Data for forger. Readers: [`idx`] (MNIST and Fashion-MNIST), [`npz`]
//! (MedMNIST), [`image_folder`] (class-per-folder image trees: the one
//! folder listing, [`image_folder::FolderIndex`], and decoding), with
//! [`scaled_jpeg`] and `area_shrink` behind it and [`load_image`] for single
//! files; [`split_folders`], roots whose `train/`, `val/` and `test/`
//! folders are the splits; [`spec`] opens any of them from a path ([`load`] into memory,
//! [`open_source`] on demand). The in-memory [`Dataset`]
//! (`dataset`) and its stratified hold-out splits ([`split`]); [`source`],
//! the [`source::Source`] trait of images read one at a time, implemented by
//! the in-memory data set and by on-disk sources for data larger than memory;
//! [`Loader`] (`loader`), the one way to cut a source into seeded
//! mini-batches of NCHW `f32` tensors (`batch`: [`BatchConfig`],
//! [`PixelScale`], [`Batch`]), on the calling thread or prefetched by
//! worker threads, optionally with Keras-style [`augment`]ation. Also
//! [`known`] (the data sets forger names the classes of), [`rng`] (counter-based seeding), [`atomic`] file writes, [`png`] and
//! [`preview`] grids, and the [`bench`](mod@bench) of the folder loader.
//! With the `candle-datasets` feature, `candle_datasets` turns Candle's
//! vision data sets into forger's.
//!
//! ```no_run
//! use forger_data::augment::AugmentConfig;
//! use forger_data::{load, BatchConfig, LoadConfig, Loader};
//! let splits = load("datasets/pneumoniamnist.npz".as_ref(), &LoadConfig::default())?.splits;
//! let loader = Loader::new(&splits.train, BatchConfig::new(64).seed(7))?
//!     .augment(AugmentConfig::tutorial())?
//!     .workers(2);
//! for batch in loader.epoch(0, &candle_core::Device::Cpu) {
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
#[cfg(feature = "candle-datasets")]
pub mod candle_datasets;
mod dataset;
mod decode;
mod error;
pub mod idx;
pub mod image_folder;
pub mod known;
pub mod limits;
mod loader;
pub mod npz;
pub mod png;
pub mod preview;
pub mod rng;
pub mod scaled_jpeg;
pub mod source;
pub mod spec;
pub mod split;
pub mod split_folders;

pub use batch::{Batch, BatchConfig, PixelScale};
pub use dataset::{Dataset, Part, Splits};
pub use decode::load_image;
pub use error::{DataError, Result};
pub use loader::{Epoch, Loader};
pub use source::{FolderSource, IdxSource, IntoSource, NpzSource, Source};
pub use spec::{layout, load, open_source, Layout, LoadConfig, Loaded};
