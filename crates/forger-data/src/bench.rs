//! Data-pipeline benchmarks, run by `cargo xtask bench` (never by tests).

use std::path::Path;
use std::time::Instant;

use candle_core::Device;

use crate::augment::AugmentConfig;
use crate::image_folder::ImageFolderConfig;
use crate::source::FolderSource;
use crate::split_folders::training_root;
use crate::{BatchConfig, Loader, Result};

/// Batch size of W4.
pub const W4_BATCH_SIZE: usize = 32;

/// What a pipeline benchmark measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineBench {
    /// Images delivered.
    pub images: usize,
    /// Wall-clock seconds, from asking for the first batch to the last one.
    pub seconds: f64,
    /// `images / seconds`.
    pub images_per_s: f64,
}

/// W4 `folder_pipeline`: images per second that a [`Loader`] with one
/// worker per core delivers from the class-per-folder tree at `root` (or its training folder
/// in a root of split folders): JPEG decoding, resizing to RGB 64x64, the
/// tutorial's augmentation ([`AugmentConfig::tutorial`]), batches of 32 as
/// `f32` tensors on the CPU. Runs whole batches, epoch after epoch, until
/// `seconds` have passed (at least one batch).
pub fn folder_pipeline(root: &Path, seconds: f64) -> Result<PipelineBench> {
    let source = FolderSource::open(&training_root(root)?, ImageFolderConfig::default())?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let loader = Loader::new(source, BatchConfig::new(W4_BATCH_SIZE))?
        .augment(AugmentConfig::tutorial())?
        .workers(workers);
    let start = Instant::now();
    let mut images = 0;
    'epochs: for epoch in 0.. {
        for batch in loader.epoch(epoch, &Device::Cpu) {
            images += batch?.indices.len();
            if start.elapsed().as_secs_f64() >= seconds {
                break 'epochs;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(PipelineBench {
        images,
        seconds,
        images_per_s: images as f64 / seconds,
    })
}
