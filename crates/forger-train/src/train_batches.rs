//! Where [`crate::fit`] takes its training batches from: a
//! [`forger_data::Loader`] over the training set, shuffled by the run seed,
//! and, with augmentation, prepared on worker threads ahead of the trainer.
//! The images are visited in the same seeded order either way, so turning
//! augmentation off changes nothing else.

use forger_data::augment::AugmentConfig;
use forger_data::{BatchConfig, Dataset, Loader};

use crate::Result;

/// Batches of `batch_size` from `train`, shuffled by `seed`, augmented
/// (on one worker per core) when `augment` is given.
pub fn train_loader(
    train: &Dataset,
    batch_size: usize,
    seed: u64,
    augment: Option<&AugmentConfig>,
) -> Result<Loader> {
    let loader = Loader::new(train, BatchConfig::new(batch_size).seed(seed))?;
    let Some(augment) = augment else {
        return Ok(loader);
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(loader.augment(augment.clone())?.workers(workers))
}
