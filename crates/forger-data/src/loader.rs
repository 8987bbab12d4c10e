//! The one way batches are made: a [`Loader`] cuts a [`Source`] into seeded
//! mini-batches, epoch by epoch, optionally augmenting each image
//! ([`AugmentConfig`]) before its pixels are scaled ([`PixelScale`]).
//!
//! Without workers, each batch is read on the calling thread when it is
//! asked for. With `workers(n)`, `n` threads make the batches ahead of the
//! consumer (worker `w` makes batches `w, w + n, ...`), each at most
//! `prefetch` finished batches ahead, so at most about
//! `workers * (prefetch + 1)` batches are in memory however large the data
//! set is; what grows with the data set is the epoch's permutation, 4 bytes
//! per image. Either way the batches are the same, bit for bit:
//! - epoch `e` visits the images in the permutation drawn from
//!   `rng::derive(seed, "shuffle", e)` (or in order, unshuffled);
//! - the image at position `p` of epoch `e` of a source of `len` images is
//!   augmented with `rng::derive(seed, "augment", e * len + p)`;
//! - a batch is a run of `batch_size` positions; the last, smaller one is
//!   kept or dropped (`drop_last`); images the source skips as undecodable
//!   are left out of their batch (see [`Loader::skipped`]).

use std::collections::BTreeSet;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;

use crate::augment::AugmentConfig;
use crate::source::{IntoSource, Source};
use crate::{rng, Batch, BatchConfig, DataError, Result};

/// Seeded mini-batches of a [`Source`], epoch by epoch. Cheap to clone.
#[derive(Clone)]
pub struct Loader {
    source: Arc<dyn Source>,
    config: BatchConfig,
    augment: Option<Arc<AugmentConfig>>,
    workers: usize,
    prefetch: usize,
    /// Indices of the images the source skipped so far.
    skipped: Arc<Mutex<BTreeSet<usize>>>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("len", &self.source.len())
            .field("config", &self.config)
            .field("augment", &self.augment)
            .field("workers", &self.workers)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl Loader {
    /// Batches of `source` (a [`Source`], an `Arc<dyn Source>` or a
    /// `&Dataset`) as `config` says, made on the calling thread, not
    /// augmented. A batch size of 0 is treated as 1. Fails for sources of
    /// more than `u32::MAX` images.
    pub fn new(source: impl IntoSource, mut config: BatchConfig) -> Result<Self> {
        let source = source.into_source();
        if u32::try_from(source.len()).is_err() {
            return Err(DataError::Invalid(format!(
                "{} images are more than a loader indexes (at most {})",
                source.len(),
                u32::MAX
            )));
        }
        config.batch_size = config.batch_size.max(1);
        Ok(Self {
            source,
            config,
            augment: None,
            workers: 0,
            prefetch: 2,
            skipped: Arc::default(),
        })
    }

    /// Augments every image with `augment`; fails when it is invalid (the
    /// error names the field).
    pub fn augment(mut self, augment: AugmentConfig) -> Result<Self> {
        augment.validate()?;
        self.augment = Some(Arc::new(augment));
        Ok(self)
    }

    /// Makes the batches on `workers` threads ahead of the consumer (0, the
    /// default: on the calling thread, when asked for).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How many finished batches each worker may hold ahead of the consumer
    /// (2 by default).
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// The source.
    pub fn source(&self) -> &dyn Source {
        self.source.as_ref()
    }

    /// The batch settings.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.source.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order in which epoch `epoch` visits the source.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        self.permutation(epoch)
            .into_iter()
            .map(|i| i as usize)
            .collect()
    }

    /// The order as 32-bit indices, the one structure that grows with the
    /// data set. (A shuffle draws the same swaps whatever the element type,
    /// so this is the order of [`Self::order`].)
    fn permutation(&self, epoch: u64) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.source.len() as u32).collect();
        if self.config.shuffle {
            order.shuffle(&mut rng::derive(self.config.seed, "shuffle", epoch));
        }
        order
    }

    /// The indices, in order, of the images the source skipped as
    /// undecodable in the epochs read so far; [`Source::path`] names their
    /// files.
    pub fn skipped(&self) -> Vec<usize> {
        let skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        skipped.iter().copied().collect()
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64, device: &Device) -> Epoch {
        self.epoch_from(epoch, 0, device)
    }

    /// The batches of epoch `epoch` from batch `skip` on (to resume
    /// mid-epoch): the tail of [`Self::epoch`]. With workers, they start at
    /// once; dropping the iterator early stops them.
    pub fn epoch_from(&self, epoch: u64, skip: usize, device: &Device) -> Epoch {
        let job = Arc::new(Job {
            source: Arc::clone(&self.source),
            order: self.permutation(epoch).into(),
            config: self.config.clone(),
            augment: self.augment.clone(),
            skipped: Arc::clone(&self.skipped),
            epoch,
        });
        let batches = skip..self.batches_per_epoch().max(skip);
        let workers = self.workers.min(batches.len());
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.prefetch);
            let job = Arc::clone(&job);
            let mine = (batches.start + w..batches.end).step_by(workers);
            handles.push(std::thread::spawn(move || {
                // A send fails only once the consumer is gone, which ends
                // the worker.
                for b in mine {
                    if tx.send(job.make(b)).is_err() {
                        break;
                    }
                }
            }));
            receivers.push(rx);
        }
        Epoch {
            job,
            receivers,
            handles,
            first: batches.start,
            batches,
            device: device.clone(),
        }
    }
}

/// What it takes to make any batch of one epoch.
struct Job {
    source: Arc<dyn Source>,
    order: Arc<[u32]>,
    config: BatchConfig,
    augment: Option<Arc<AugmentConfig>>,
    skipped: Arc<Mutex<BTreeSet<usize>>>,
    epoch: u64,
}

/// A batch ready but for the tensors, which the consumer builds on its device.
struct Prepared {
    pixels: Vec<f32>,
    labels: Vec<u32>,
    indices: Vec<usize>,
}

impl Job {
    /// Batch `b`: reads, augments and scales its images.
    fn make(&self, b: usize) -> Result<Prepared> {
        let size = self.config.batch_size;
        let positions = b * size..((b + 1) * size).min(self.order.len());
        let shape = self.source.image_shape();
        let mut image = vec![0u8; shape.iter().product()];
        let mut prepared = Prepared {
            pixels: Vec::with_capacity(positions.len() * image.len()),
            labels: Vec::with_capacity(positions.len()),
            indices: Vec::with_capacity(positions.len()),
        };
        let scale = self.config.scale;
        for p in positions {
            let i = self.order[p] as usize;
            let Some(label) = self.source.read(i, &mut image)? else {
                self.skipped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i);
                continue;
            };
            match &self.augment {
                Some(augment) => {
                    let counter = self
                        .epoch
                        .wrapping_mul(self.order.len() as u64)
                        .wrapping_add(p as u64);
                    let mut rng = rng::derive(self.config.seed, "augment", counter);
                    let augmented = augment.augment(&image, shape, &mut rng);
                    prepared
                        .pixels
                        .extend(augmented.iter().map(|&v| scale.apply_augmented(v)));
                }
                None => prepared
                    .pixels
                    .extend(image.iter().map(|&v| scale.apply(v))),
            }
            prepared.labels.push(label);
            prepared.indices.push(i);
        }
        Ok(prepared)
    }

    fn tensors(&self, prepared: Prepared, device: &Device) -> Result<Batch> {
        let [c, h, w] = self.source.image_shape();
        let n = prepared.labels.len();
        if n == 0 {
            return Err(DataError::Invalid(
                "every image of a batch was skipped as undecodable".into(),
            ));
        }
        Ok(Batch {
            images: Tensor::from_vec(prepared.pixels, (n, c, h, w), device)?,
            labels: Tensor::from_vec(prepared.labels, n, device)?,
            indices: prepared.indices,
        })
    }
}

/// The batches of one epoch of a [`Loader`], in order. A batch is smaller
/// than the batch size where the source skipped images. Dropping it stops
/// the loader's workers.
pub struct Epoch {
    job: Arc<Job>,
    receivers: Vec<Receiver<Result<Prepared>>>,
    handles: Vec<JoinHandle<()>>,
    /// The batches still to yield.
    batches: std::ops::Range<usize>,
    /// The epoch's first batch, which worker 0 makes.
    first: usize,
    device: Device,
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let b = self.batches.next()?;
        let prepared = if self.receivers.is_empty() {
            self.job.make(b)
        } else {
            let from = &self.receivers[(b - self.first) % self.receivers.len()];
            from.recv().unwrap_or_else(|_| {
                Err(DataError::Invalid(format!(
                    "the worker making batch {b} stopped (it panicked)"
                )))
            })
        };
        Some(prepared.and_then(|p| self.job.tensors(p, &self.device)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.batches.size_hint()
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Closing the queues makes every blocked worker's send fail.
        self.receivers.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;
    use crate::image_folder::ImageFolderConfig;
    use crate::source::FolderSource;
    use crate::{Dataset, PixelScale};

    fn data(n: usize) -> Dataset {
        let pixels = (0..n * 3 * 4 * 5).map(|i| (i * 7 % 251) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 3).collect();
        Dataset::new(pixels, labels, [3, 4, 5], Dataset::numbered_classes(3)).unwrap()
    }

    type Values = (Vec<f32>, Vec<u32>, Vec<usize>);

    fn values(batches: impl Iterator<Item = Result<Batch>>) -> Vec<Values> {
        batches
            .map(|b| {
                let b = b.unwrap();
                let x = b.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                (x, b.labels.to_vec1::<u32>().unwrap(), b.indices)
            })
            .collect()
    }

    fn indices(loader: &Loader, epoch: u64) -> Vec<Vec<usize>> {
        values(loader.epoch(epoch, &Device::Cpu))
            .into_iter()
            .map(|v| v.2)
            .collect()
    }

    #[test]
    fn partial_batch_kept_or_dropped() {
        let d = data(10);
        let keep = Loader::new(&d, BatchConfig::sequential(4)).unwrap();
        assert_eq!(
            indices(&keep, 0),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        let drop = Loader::new(&d, BatchConfig::sequential(4).drop_last(true)).unwrap();
        assert_eq!(drop.batches_per_epoch(), 2);
        assert_eq!(indices(&drop, 0).len(), 2);
        assert_eq!(drop.workers(3).epoch(0, &Device::Cpu).count(), 2);
    }

    #[test]
    fn shuffles_are_seeded_per_epoch_and_cover_every_image() {
        let d = data(50);
        let loader = |seed| Loader::new(&d, BatchConfig::new(8).seed(seed)).unwrap();
        let a = loader(3);
        assert_eq!(a.order(1), loader(3).order(1));
        assert_ne!(a.order(0), a.order(1));
        assert_ne!(a.order(0), loader(4).order(0));
        let mut seen: Vec<usize> = indices(&a, 2).concat();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(indices(&a, 2).concat(), a.order(2));
    }

    #[test]
    fn workers_give_the_batches_of_the_calling_thread_and_resume_exactly() {
        let d = data(37);
        for augment in [None, Some(AugmentConfig::tutorial())] {
            let mut plain = Loader::new(&d, BatchConfig::new(5).seed(9)).unwrap();
            if let Some(a) = &augment {
                plain = plain.augment(a.clone()).unwrap();
            }
            let whole = values(plain.epoch(1, &Device::Cpu));
            assert_eq!(whole.len(), plain.batches_per_epoch());
            assert_ne!(whole, values(plain.epoch(2, &Device::Cpu)));
            for (workers, prefetch) in [(1, 0), (3, 1), (4, 5), (20, 2)] {
                let threaded = plain.clone().workers(workers).prefetch(prefetch);
                assert_eq!(values(threaded.epoch(1, &Device::Cpu)), whole);
                for skip in [0, 1, 4, 7, 8, 9] {
                    let tail = values(threaded.epoch_from(1, skip, &Device::Cpu));
                    assert_eq!(tail, whole[skip.min(whole.len())..], "{skip}");
                }
            }
            for skip in [3, 8] {
                let tail = values(plain.epoch_from(1, skip, &Device::Cpu));
                assert_eq!(tail, whole[skip..]);
            }
        }
    }

    #[test]
    fn augmentation_is_seeded_by_epoch_and_position_then_scaled() {
        let d = data(37);
        let loader = |seed| {
            Loader::new(&d, BatchConfig::new(8).seed(seed))
                .unwrap()
                .augment(AugmentConfig::tutorial())
                .unwrap()
        };
        let a = loader(3);
        let first = values(a.epoch(2, &Device::Cpu));
        assert_eq!(first.len(), 5);
        assert_ne!(first, values(a.epoch(3, &Device::Cpu)));
        assert_ne!(first, values(loader(4).epoch(2, &Device::Cpu)));
        // Image by image, what a sequential loop computes.
        let order = a.order(2);
        let (x, labels, indices) = &first[1];
        let p = 9;
        let mut rng = rng::derive(3, "augment", 2 * 37 + p as u64);
        let expected: Vec<f32> = AugmentConfig::tutorial()
            .augment(d.image(order[p]), [3, 4, 5], &mut rng)
            .into_iter()
            .map(|v| PixelScale::Unit.apply_augmented(v))
            .collect();
        assert_eq!(&x[60..120], &expected[..]);
        assert_eq!((indices[1], labels[1]), (order[p], d.labels()[order[p]]));
        // The identity augmentation changes no pixel (augmented images are
        // scaled by `apply_augmented`, within an ulp of `apply`).
        let none = Loader::new(&d, BatchConfig::new(8).seed(3)).unwrap();
        let identity = none.clone().augment(AugmentConfig::none()).unwrap();
        let pixels = |v: Vec<Values>| -> Vec<(Vec<u8>, Vec<u32>, Vec<usize>)> {
            v.into_iter()
                .map(|(x, l, i)| {
                    (
                        x.iter().map(|&p| PixelScale::Unit.invert(p)).collect(),
                        l,
                        i,
                    )
                })
                .collect()
        };
        assert_eq!(
            pixels(values(identity.epoch(0, &Device::Cpu))),
            pixels(values(none.epoch(0, &Device::Cpu)))
        );
        let bad = AugmentConfig {
            zoom_range: [2.0, 1.0],
            ..AugmentConfig::none()
        };
        let err = none.augment(bad).unwrap_err().to_string();
        assert!(err.contains("zoom_range"), "{err}");
    }

    #[test]
    fn dropping_early_stops_the_workers_and_errors_are_passed_on() {
        let d = data(100);
        let loader = Loader::new(&d, BatchConfig::new(2))
            .unwrap()
            .workers(2)
            .prefetch(1);
        let mut epoch = loader.epoch(0, &Device::Cpu);
        assert!(epoch.next().unwrap().is_ok());
        drop(epoch); // must return: the blocked workers see the closed queue
    }

    #[test]
    fn folder_errors_name_the_file_and_skipped_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[3, 3]);
        std::fs::write(dir.path().join("dogs/zz.png"), b"not a png").unwrap();
        let folder = ImageFolderConfig {
            size: [8, 8],
            ..Default::default()
        };
        for workers in [0, 2] {
            let source = FolderSource::open(dir.path(), folder.clone()).unwrap();
            let strict = Loader::new(source, BatchConfig::sequential(4))
                .unwrap()
                .workers(workers);
            let results: Vec<Result<Batch>> = strict.epoch(0, &Device::Cpu).collect();
            assert_eq!(results.len(), 2);
            assert!(results[0].is_ok());
            let err = results[1].as_ref().unwrap_err().to_string();
            assert!(err.contains("zz.png"), "{err}");

            let skipping = ImageFolderConfig {
                skip_bad_images: true,
                ..folder.clone()
            };
            let source = FolderSource::open(dir.path(), skipping).unwrap();
            let loader = Loader::new(source, BatchConfig::sequential(4))
                .unwrap()
                .workers(workers);
            let batches: Vec<Batch> = loader.epoch(0, &Device::Cpu).map(|b| b.unwrap()).collect();
            assert_eq!(batches[0].images.dims(), &[4, 3, 8, 8]);
            assert_eq!(batches[1].indices, vec![4, 5]);
            // Skipped in both epochs, listed once.
            assert_eq!(loader.epoch(1, &Device::Cpu).count(), 2);
            assert_eq!(loader.skipped(), vec![6]);
            let path = loader.source().path(6).unwrap();
            assert!(path.ends_with("dogs/zz.png"), "{path:?}");
            let max = batches[0].images.max_all().unwrap();
            let max = max.to_scalar::<f32>().unwrap();
            assert!(max <= 1.0 && max > 0.9, "{max}");
        }
    }

    #[test]
    fn a_batch_of_only_skipped_images_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[1, 1]);
        std::fs::write(dir.path().join("dogs/zz.png"), b"not a png").unwrap();
        let config = ImageFolderConfig {
            size: [4, 4],
            skip_bad_images: true,
            ..Default::default()
        };
        let source = FolderSource::open(dir.path(), config).unwrap();
        let loader = Loader::new(source, BatchConfig::sequential(1)).unwrap();
        let results: Vec<_> = loader.epoch(0, &Device::Cpu).collect();
        assert_eq!(results.len(), 3);
        let err = results[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("skipped"), "{err}");
    }
}
