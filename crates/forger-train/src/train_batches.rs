//! Where [`crate::fit`] takes its training batches from: the plain seeded
//! [`Batcher`], or the augmenting [`Pipeline`] that prepares batches on
//! worker threads ahead of the trainer. Both visit the images in the same
//! seeded order, so turning augmentation off changes nothing else.

use candle_core::Device;
use forger_data::augment::AugmentConfig;
use forger_data::pipeline::{ImageSource, Pipeline, PipelineConfig};
use forger_data::{Batch, BatchConfig, Batcher, Dataset, PixelScale};

use crate::{Result, TrainError};

/// Training batches of one data set.
pub enum TrainBatches<'a> {
    Plain(Batcher<'a>),
    Augmented(Pipeline),
}

impl<'a> TrainBatches<'a> {
    /// Batches of `batch_size` from `train`, shuffled by `seed`, augmented
    /// when `augment` is given.
    pub fn new(
        train: &'a Dataset,
        batch_size: usize,
        seed: u64,
        augment: Option<&AugmentConfig>,
    ) -> Result<Self> {
        let Some(augment) = augment else {
            let config = BatchConfig::new(batch_size).seed(seed);
            return Ok(Self::Plain(Batcher::new(train, config)));
        };
        // Evaluation scales pixels to [0, 1]; training must see the same scale.
        if (augment.rescale - PixelScale::Unit.apply(1)).abs() > 1e-9 {
            return Err(TrainError::Invalid(format!(
                "augmentation rescale {} differs from the 1/255 that evaluation uses",
                augment.rescale
            )));
        }
        let config = PipelineConfig::train(batch_size, augment.clone(), seed);
        let source = ImageSource::Memory(train.clone());
        Ok(Self::Augmented(Pipeline::new(source, config)?))
    }

    /// Whole batches of `batch_size` from `train` in `[-1, 1]` (what a
    /// `tanh` generator makes), shuffled by `seed`.
    pub fn symmetric(train: &'a Dataset, batch_size: usize, seed: u64) -> Result<Self> {
        let config = BatchConfig::new(batch_size)
            .seed(seed)
            .drop_last(true)
            .scale(PixelScale::Symmetric);
        Ok(Self::Plain(Batcher::new(train, config)))
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        match self {
            Self::Plain(b) => b.batches_per_epoch(),
            Self::Augmented(p) => p.batches_per_epoch(),
        }
    }

    /// The batches of epoch `epoch` from batch `skip` on.
    pub fn epoch_from(
        &self,
        epoch: u64,
        skip: usize,
        device: &Device,
    ) -> Box<dyn Iterator<Item = forger_data::Result<Batch>> + '_> {
        match self {
            Self::Plain(b) => Box::new(b.epoch_from(epoch, skip, device)),
            Self::Augmented(p) => Box::new(p.epoch_from(epoch, skip, device)),
        }
    }
}
