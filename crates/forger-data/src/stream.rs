//! Mini-batches streamed from an [`ImageSource`]: worker threads read (and
//! optionally augment) the images of each batch into a bounded queue, so at
//! most `workers * (queue + 1)` batches are in memory however large the data
//! set is; what grows with the data set is the epoch's permutation, 4 bytes
//! per image (and, for an image folder, its list of paths). Each epoch
//! visits the images in the same seeded order as [`Batcher`](crate::Batcher)
//! over a data set of the same length.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;

use crate::source::ImageSource;
use crate::{rng, Batch, BatchConfig, DataError, Result};

/// An augmentation applied by the workers to each image's channel-first
/// pixels (of the source's shape), with a generator seeded by
/// `(seed, "augment", epoch * len + index)`.
pub type Augment = dyn Fn(&mut [u8], [usize; 3], &mut Pcg64) -> Result<()> + Send + Sync;

/// Streaming settings: the batching, and the threads and queue that feed it.
#[derive(Clone)]
pub struct StreamConfig {
    /// Batch size, shuffling, last batch, pixel scale and seed.
    pub batch: BatchConfig,
    /// Worker threads decoding batches (at least 1).
    pub workers: usize,
    /// Finished batches each worker may hold ahead of the consumer.
    pub queue: usize,
    /// Optional per-image augmentation, run by the workers.
    pub augment: Option<Arc<Augment>>,
}

impl StreamConfig {
    /// `batch` fed by two workers, each at most two batches ahead.
    pub fn new(batch: BatchConfig) -> Self {
        Self {
            batch,
            workers: 2,
            queue: 2,
            augment: None,
        }
    }

    /// Sets the number of worker threads.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets how many finished batches each worker may hold.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// Sets the augmentation.
    pub fn augment(mut self, augment: Arc<Augment>) -> Self {
        self.augment = Some(augment);
        self
    }
}

/// Mini-batches of a source read from disk epoch by epoch.
pub struct Stream<S: ImageSource + 'static> {
    source: Arc<S>,
    config: StreamConfig,
}

impl<S: ImageSource + 'static> Stream<S> {
    /// A stream over `source`. A batch size or worker count of 0 is treated
    /// as 1. Fails for sources of more than `u32::MAX` images.
    pub fn new(source: S, mut config: StreamConfig) -> Result<Self> {
        if u32::try_from(source.len()).is_err() {
            return Err(DataError::Invalid(format!(
                "{} images are more than a stream indexes (at most {})",
                source.len(),
                u32::MAX
            )));
        }
        config.batch.batch_size = config.batch.batch_size.max(1);
        config.workers = config.workers.max(1);
        Ok(Self {
            source: Arc::new(source),
            config,
        })
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.source.len(), self.config.batch.batch_size);
        if self.config.batch.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order in which epoch `epoch` visits the source: the same as a
    /// [`Batcher`](crate::Batcher) with this batch configuration.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        self.permutation(epoch)
            .into_iter()
            .map(|i| i as usize)
            .collect()
    }

    /// The order as 32-bit indices: the one structure that grows with the
    /// data set, kept at 4 bytes per image. (A shuffle draws the same swaps
    /// whatever the element type, so this is the order of [`Self::order`].)
    fn permutation(&self, epoch: u64) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.source.len() as u32).collect();
        if self.config.batch.shuffle {
            order.shuffle(&mut rng::derive(self.config.batch.seed, "shuffle", epoch));
        }
        order
    }

    /// The batches of epoch `epoch`, in order, as the workers finish them.
    /// Dropping the iterator early stops the workers.
    pub fn epoch(&self, epoch: u64, device: &Device) -> EpochStream {
        let order: Arc<[u32]> = self.permutation(epoch).into();
        let batches = self.batches_per_epoch();
        let workers = self.config.workers.min(batches.max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.config.queue);
            let job = Job {
                source: Arc::clone(&self.source),
                order: Arc::clone(&order),
                config: self.config.clone(),
                epoch,
            };
            handles.push(std::thread::spawn(move || {
                // Worker `w` makes batches w, w + workers, ...; a send fails
                // only once the consumer is gone, which ends the worker.
                for b in (w..batches).step_by(workers) {
                    if tx.send(job.make(b)).is_err() {
                        break;
                    }
                }
            }));
            receivers.push(rx);
        }
        EpochStream {
            receivers,
            handles,
            next: 0,
            batches,
            shape: self.source.image_shape(),
            device: device.clone(),
        }
    }
}

/// What a worker needs to make any batch of one epoch.
struct Job<S: ImageSource> {
    source: Arc<S>,
    order: Arc<[u32]>,
    config: StreamConfig,
    epoch: u64,
}

/// A batch's scaled pixels, labels and indices, ready to become tensors.
type Decoded = Result<(Vec<f32>, Vec<u32>, Vec<usize>)>;

impl<S: ImageSource> Job<S> {
    fn make(&self, b: usize) -> Decoded {
        let size = self.config.batch.batch_size;
        let end = ((b + 1) * size).min(self.order.len());
        let indices = &self.order[b * size..end];
        let shape = self.source.image_shape();
        let per_image: usize = shape.iter().product();
        let mut image = vec![0u8; per_image];
        let mut pixels = Vec::with_capacity(indices.len() * per_image);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let i = i as usize;
            labels.push(self.source.read(i, &mut image)?);
            if let Some(augment) = &self.config.augment {
                let counter = self.epoch * self.source.len() as u64 + i as u64;
                let mut rng = rng::derive(self.config.batch.seed, "augment", counter);
                augment(&mut image, shape, &mut rng)?;
            }
            let scale = self.config.batch.scale;
            pixels.extend(image.iter().map(|&p| scale.apply(p)));
        }
        Ok((
            pixels,
            labels,
            indices.iter().map(|&i| i as usize).collect(),
        ))
    }
}

/// The batches of one epoch of a [`Stream`].
pub struct EpochStream {
    receivers: Vec<Receiver<Decoded>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    batches: usize,
    shape: [usize; 3],
    device: Device,
}

impl Iterator for EpochStream {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.batches {
            return None;
        }
        let b = self.next;
        self.next += 1;
        let received = self.receivers[b % self.receivers.len()].recv();
        let decoded = match received {
            Ok(decoded) => decoded,
            Err(_) => Err(DataError::Invalid(format!(
                "the worker making batch {b} stopped (it panicked)"
            ))),
        };
        Some(decoded.and_then(|(pixels, labels, indices)| {
            let [c, h, w] = self.shape;
            Ok(Batch {
                images: Tensor::from_vec(pixels, (indices.len(), c, h, w), &self.device)?,
                labels: Tensor::from_vec(labels, indices.len(), &self.device)?,
                indices,
            })
        }))
    }
}

impl Drop for EpochStream {
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
    use crate::{Batcher, Dataset};

    fn data(n: usize) -> Dataset {
        let pixels = (0..n * 4).map(|i| (i % 251) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 3).collect();
        Dataset::new(pixels, labels, [1, 2, 2], Dataset::numbered_classes(3)).unwrap()
    }

    fn values(batch: &Batch) -> (Vec<f32>, Vec<u32>) {
        (
            batch.images.flatten_all().unwrap().to_vec1().unwrap(),
            batch.labels.to_vec1().unwrap(),
        )
    }

    #[test]
    fn streams_the_same_batches_as_the_in_memory_batcher() {
        let d = data(37);
        let config = BatchConfig::new(5).seed(9);
        let batcher = Batcher::new(&d, config.clone());
        for workers in [1, 3] {
            let stream = Stream::new(
                d.clone(),
                StreamConfig::new(config.clone()).workers(workers),
            )
            .unwrap();
            assert_eq!(stream.batches_per_epoch(), batcher.batches_per_epoch());
            for epoch in [0, 1] {
                let ours: Vec<Batch> = stream
                    .epoch(epoch, &Device::Cpu)
                    .collect::<Result<_>>()
                    .unwrap();
                let theirs: Vec<Batch> = batcher
                    .epoch(epoch, &Device::Cpu)
                    .collect::<Result<_>>()
                    .unwrap();
                assert_eq!(ours.len(), theirs.len());
                for (a, b) in ours.iter().zip(&theirs) {
                    assert_eq!(a.indices, b.indices);
                    assert_eq!(values(a), values(b));
                }
            }
        }
    }

    #[test]
    fn dropping_early_stops_the_workers_and_errors_are_passed_on() {
        let stream =
            Stream::new(data(100), StreamConfig::new(BatchConfig::new(2)).queue(1)).unwrap();
        let mut epoch = stream.epoch(0, &Device::Cpu);
        assert!(epoch.next().unwrap().is_ok());
        drop(epoch); // must return: the blocked workers see the closed queue

        let fail: Arc<Augment> = Arc::new(|px, _, _| {
            if px[0] == 0 {
                Err(DataError::Invalid("augment refused image".into()))
            } else {
                Ok(())
            }
        });
        let stream = Stream::new(
            data(4),
            StreamConfig::new(BatchConfig::sequential(1)).augment(fail),
        )
        .unwrap();
        let results: Vec<_> = stream.epoch(0, &Device::Cpu).collect();
        assert_eq!(results.len(), 4);
        assert!(results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("refused"));
        assert!(results[1..].iter().all(|r| r.is_ok()));
    }

    #[test]
    fn augmentation_is_seeded_per_epoch_and_image() {
        let noise: Arc<Augment> = Arc::new(|px, _, rng| {
            use rand::Rng;
            px.iter_mut().for_each(|p| *p = rng.gen());
            Ok(())
        });
        let stream = Stream::new(
            data(6),
            StreamConfig::new(BatchConfig::new(3).seed(1)).augment(noise),
        )
        .unwrap();
        let run = |epoch| -> Vec<(Vec<f32>, Vec<u32>)> {
            stream
                .epoch(epoch, &Device::Cpu)
                .map(|b| values(&b.unwrap()))
                .collect()
        };
        assert_eq!(run(0), run(0));
        assert_ne!(run(0), run(1));
    }
}
