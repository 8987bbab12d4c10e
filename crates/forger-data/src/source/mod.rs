//! Labelled images read one at a time, from any thread: the [`Source`]
//! trait that a [`crate::Loader`] batches, implemented by the in-memory
//! [`Dataset`], raw IDX files and uncompressed NPZ members read by offset
//! ([`IdxSource`], [`NpzSource`], module `raw`), and image folders decoded
//! on demand ([`FolderSource`], module `folder`). The
//! on-disk sources keep only what grows slowly with the data set in memory,
//! so data larger than memory can be trained on.

mod folder;
mod raw;

use std::path::PathBuf;
use std::sync::Arc;

pub use folder::FolderSource;
pub use raw::{IdxSource, NpzSource};

use crate::{Dataset, Result};

/// Labelled images that can be read one by one, from any thread.
pub trait Source: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `[channels, height, width]` of every image.
    fn image_shape(&self) -> [usize; 3];
    /// Class names, indexed by label.
    fn classes(&self) -> &[String];
    /// Writes image `i`'s channel-first pixels into `out` (of length
    /// `C * H * W`) and returns its label; `Ok(None)` when image `i` is an
    /// undecodable file that the source is configured to skip.
    fn read(&self, i: usize, out: &mut [u8]) -> Result<Option<u32>>;
    /// The file image `i` is read from, for sources with a file per image.
    fn path(&self, _i: usize) -> Option<PathBuf> {
        None
    }
}

impl Source for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn image_shape(&self) -> [usize; 3] {
        Dataset::image_shape(self)
    }
    fn classes(&self) -> &[String] {
        Dataset::classes(self)
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<Option<u32>> {
        self.check_index(i)?;
        out.copy_from_slice(self.image(i));
        Ok(Some(self.labels()[i]))
    }
}

/// What a [`crate::Loader`] can be built over: any [`Source`] (moved in), a
/// shared `Arc<dyn Source>`, or a borrowed `&Dataset`, which is cloned
/// cheaply (its pixels are shared, not copied).
pub trait IntoSource {
    /// The source, shared with the loader's worker threads.
    fn into_source(self) -> Arc<dyn Source>;
}

impl<S: Source + 'static> IntoSource for S {
    fn into_source(self) -> Arc<dyn Source> {
        Arc::new(self)
    }
}

impl IntoSource for &Dataset {
    fn into_source(self) -> Arc<dyn Source> {
        Arc::new(self.clone())
    }
}

impl IntoSource for Arc<dyn Source> {
    fn into_source(self) -> Arc<dyn Source> {
        self
    }
}
