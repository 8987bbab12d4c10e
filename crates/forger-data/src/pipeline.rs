//! A prefetching batch pipeline: images are decoded (for a file source) and
//! augmented on rayon's worker threads, batch by batch, by a producer thread
//! that runs up to `prefetch` batches ahead of the trainer through a bounded
//! channel. Results are reassembled in order, and the augmentation of the
//! image at position `p` of epoch `e` is drawn from
//! `rng::derive(seed, "augment", e * len + p)`, so a seed gives the same
//! batches however the threads are scheduled.

use std::collections::BTreeSet;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::augment::AugmentConfig;
use crate::batch::{batch_count, epoch_order};
use crate::image_folder::{FolderIndex, ImageFolderConfig};
use crate::{rng, Batch, DataError, Dataset, Result};

/// Where a pipeline's images come from.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// Images already decoded.
    Memory(Dataset),
    /// Image files, decoded every time they are visited (as Keras'
    /// `flow_from_directory` does).
    Files {
        index: FolderIndex,
        config: ImageFolderConfig,
    },
}

impl ImageSource {
    /// Number of images.
    pub fn len(&self) -> usize {
        match self {
            Self::Memory(d) => d.len(),
            Self::Files { index, .. } => index.len(),
        }
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Labels, indexed like the images.
    pub fn labels(&self) -> &[u32] {
        match self {
            Self::Memory(d) => d.labels(),
            Self::Files { index, .. } => index.labels(),
        }
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        match self {
            Self::Memory(d) => d.classes(),
            Self::Files { index, .. } => index.classes(),
        }
    }

    /// `[channels, height, width]` of the images.
    pub fn image_shape(&self) -> [usize; 3] {
        match self {
            Self::Memory(d) => d.image_shape(),
            Self::Files { config, .. } => config.image_shape(),
        }
    }

    /// Image `i`; `None` when it is a bad file skipped by the config.
    fn image(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Memory(d) => Ok(Some(d.image(i).to_vec())),
            Self::Files { index, config } => index.decode(i, config),
        }
    }
}

/// Pipeline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Images per batch (0 is treated as 1).
    pub batch_size: usize,
    /// Visit the images in a new seeded order each epoch.
    pub shuffle: bool,
    /// Drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Seed of the shuffles and the augmentation.
    pub seed: u64,
    /// Augmentation, and the `rescale` from pixels to `f32`.
    pub augment: AugmentConfig,
    /// Batches prepared ahead of the consumer (at least 1).
    pub prefetch: usize,
}

impl PipelineConfig {
    /// Training batches: shuffled, last partial batch kept, 4 batches ahead.
    pub fn train(batch_size: usize, augment: AugmentConfig, seed: u64) -> Self {
        Self {
            batch_size,
            shuffle: true,
            drop_last: false,
            seed,
            augment,
            prefetch: 4,
        }
    }

    /// Evaluation batches: in order, no augmentation, pixels scaled by `1/255`.
    pub fn eval(batch_size: usize) -> Self {
        Self {
            shuffle: false,
            ..Self::train(batch_size, AugmentConfig::none(), 0)
        }
    }
}

/// Batches of an [`ImageSource`], prepared on worker threads. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    source: ImageSource,
    config: PipelineConfig,
    /// Indices of the bad files skipped so far.
    skipped: Mutex<BTreeSet<usize>>,
}

impl Pipeline {
    /// A pipeline over `source`; fails when the augmentation is invalid.
    pub fn new(source: ImageSource, mut config: PipelineConfig) -> Result<Self> {
        config.augment.validate()?;
        config.batch_size = config.batch_size.max(1);
        config.prefetch = config.prefetch.max(1);
        Ok(Self {
            shared: Arc::new(Shared {
                source,
                config,
                skipped: Mutex::default(),
            }),
        })
    }

    /// The image source.
    pub fn source(&self) -> &ImageSource {
        &self.shared.source
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.shared.config
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let c = &self.shared.config;
        batch_count(self.shared.source.len(), c.batch_size, c.drop_last)
    }

    /// The order in which epoch `epoch` visits the images (the same
    /// permutation a [`crate::Batcher`] with the same seed uses).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let c = &self.shared.config;
        epoch_order(self.shared.source.len(), c.shuffle, c.seed, epoch)
    }

    /// The distinct bad image files skipped so far (a file source with
    /// `skip_bad_images`), as source indices; each is also logged whenever
    /// it is met.
    pub fn skipped(&self) -> Vec<usize> {
        let skipped = self
            .shared
            .skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        skipped.iter().copied().collect()
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64, device: &Device) -> Prefetch {
        self.epoch_from(epoch, 0, device)
    }

    /// The batches of epoch `epoch` from batch `skip` on (to resume
    /// mid-epoch). Preparation starts at once, on a producer thread.
    pub fn epoch_from(&self, epoch: u64, skip: usize, device: &Device) -> Prefetch {
        let (tx, rx) = sync_channel(self.shared.config.prefetch);
        let shared = Arc::clone(&self.shared);
        let order = self.order(epoch);
        let batches = skip..self.batches_per_epoch();
        let worker = std::thread::spawn(move || {
            let size = shared.config.batch_size;
            for b in batches {
                let positions = b * size..((b + 1) * size).min(order.len());
                let prepared = shared.prepare_batch(epoch, positions, &order);
                let failed = prepared.is_err();
                if tx.send(prepared).is_err() || failed {
                    return;
                }
            }
        });
        Prefetch {
            rx: Some(rx),
            worker: Some(worker),
            shape: self.shared.source.image_shape(),
            device: device.clone(),
        }
    }
}

/// A batch ready but for the tensors, which the consumer builds on its device.
struct Prepared {
    pixels: Vec<f32>,
    labels: Vec<u32>,
    indices: Vec<usize>,
}

impl Shared {
    /// The `f32` pixels of the image at `position` of epoch `epoch`.
    fn prepare_image(&self, epoch: u64, position: usize, index: usize) -> Result<Option<Vec<f32>>> {
        let Some(image) = self.source.image(index)? else {
            self.skipped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(index);
            return Ok(None);
        };
        let counter = epoch
            .wrapping_mul(self.source.len() as u64)
            .wrapping_add(position as u64);
        let mut rng = rng::derive(self.config.seed, "augment", counter);
        let augment = &self.config.augment;
        let image = augment.augment(&image, self.source.image_shape(), &mut rng);
        Ok(Some(
            image
                .into_iter()
                .map(|p| f32::from(p) * augment.rescale)
                .collect(),
        ))
    }

    fn prepare_batch(
        &self,
        epoch: u64,
        positions: std::ops::Range<usize>,
        order: &[usize],
    ) -> Result<Prepared> {
        let images: Vec<Result<Option<Vec<f32>>>> = positions
            .clone()
            .into_par_iter()
            .map(|p| self.prepare_image(epoch, p, order[p]))
            .collect();
        let mut prepared = Prepared {
            pixels: Vec::new(),
            labels: Vec::with_capacity(images.len()),
            indices: Vec::with_capacity(images.len()),
        };
        for (p, image) in positions.zip(images) {
            if let Some(pixels) = image? {
                prepared.pixels.extend_from_slice(&pixels);
                prepared.labels.push(self.source.labels()[order[p]]);
                prepared.indices.push(order[p]);
            }
        }
        Ok(prepared)
    }
}

/// The batches of one epoch, in order, as the producer thread prepares them.
/// A batch can be smaller than the batch size where bad files were skipped.
/// Dropping it stops the producer.
pub struct Prefetch {
    rx: Option<Receiver<Result<Prepared>>>,
    worker: Option<JoinHandle<()>>,
    shape: [usize; 3],
    device: Device,
}

impl Iterator for Prefetch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let Ok(prepared) = self.rx.as_ref()?.recv() else {
            // The producer is done; pass on a panic rather than end quietly.
            self.rx = None;
            if let Some(Err(panic)) = self.worker.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
            return None;
        };
        Some(prepared.and_then(|p| {
            let [c, h, w] = self.shape;
            let n = p.labels.len();
            if n == 0 {
                return Err(DataError::Invalid(
                    "every image of a batch was skipped as bad".into(),
                ));
            }
            Ok(Batch {
                images: Tensor::from_vec(p.pixels, (n, c, h, w), &self.device)?,
                labels: Tensor::from_vec(p.labels, n, &self.device)?,
                indices: p.indices,
            })
        }))
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channel makes the producer's next send fail, so it stops.
        self.rx = None;
        if let Some(worker) = self.worker.take() {
            // A panic here was already reported by the panicking thread.
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;
    use crate::{BatchConfig, Batcher};

    fn data(n: usize) -> Dataset {
        let pixels = (0..n * 3 * 4 * 5).map(|i| (i * 7 % 251) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 2).collect();
        Dataset::new(pixels, labels, [3, 4, 5], Dataset::numbered_classes(2)).unwrap()
    }

    fn collect(pipeline: &Pipeline, epoch: u64) -> Vec<(Vec<f32>, Vec<u32>, Vec<usize>)> {
        pipeline
            .epoch(epoch, &Device::Cpu)
            .map(|b| {
                let b = b.unwrap();
                let x = b.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                (x, b.labels.to_vec1::<u32>().unwrap(), b.indices)
            })
            .collect()
    }

    #[test]
    fn deterministic_whatever_the_prefetch_depth_and_seeded() {
        let d = data(37);
        let config = |prefetch, seed| PipelineConfig {
            prefetch,
            ..PipelineConfig::train(8, AugmentConfig::tutorial(), seed)
        };
        let a = Pipeline::new(ImageSource::Memory(d.clone()), config(1, 3)).unwrap();
        let b = Pipeline::new(ImageSource::Memory(d.clone()), config(16, 3)).unwrap();
        let first = collect(&a, 2);
        assert_eq!(first.len(), 5);
        assert_eq!(first, collect(&b, 2));
        assert_ne!(first, collect(&a, 3));
        let c = Pipeline::new(ImageSource::Memory(d.clone()), config(4, 4)).unwrap();
        assert_ne!(first, collect(&c, 2));
        // Image by image, what a sequential loop computes.
        let order = a.order(2);
        let (x, labels, indices) = &first[1];
        let p = 9;
        let mut rng = rng::derive(3, "augment", 2 * 37 + p as u64);
        let expected: Vec<f32> = AugmentConfig::tutorial()
            .augment(d.image(order[p]), [3, 4, 5], &mut rng)
            .into_iter()
            .map(|v| f32::from(v) * (1.0 / 255.0))
            .collect();
        assert_eq!(&x[60..120], &expected[..]);
        assert_eq!((indices[1], labels[1]), (order[p], d.labels()[order[p]]));
    }

    #[test]
    fn unaugmented_batches_equal_the_batchers() {
        let d = data(10);
        let pipeline = Pipeline::new(
            ImageSource::Memory(d.clone()),
            PipelineConfig::train(4, AugmentConfig::none(), 5),
        )
        .unwrap();
        let batcher = Batcher::new(&d, BatchConfig::new(4).seed(5));
        let ours = collect(&pipeline, 1);
        for (mine, theirs) in ours.iter().zip(batcher.epoch(1, &Device::Cpu)) {
            let theirs = theirs.unwrap();
            let theirs_x = theirs
                .images
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            // `p * (1/255)` here, `p / 255` there: equal to rounding.
            assert!(mine
                .0
                .iter()
                .zip(&theirs_x)
                .all(|(a, b)| (a - b).abs() < 1e-6));
            assert_eq!(mine.0.len(), theirs_x.len());
            assert_eq!(mine.2, theirs.indices);
        }
        assert_eq!(ours.len(), 3);
        let resumed: Vec<_> = pipeline
            .epoch_from(1, 2, &Device::Cpu)
            .map(|b| b.unwrap().indices)
            .collect();
        assert_eq!(resumed, vec![ours[2].2.clone()]);
        // Dropping an epoch early stops its producer.
        let mut it = pipeline.epoch(0, &Device::Cpu);
        assert!(it.next().is_some());
        drop(it);
    }

    #[test]
    fn file_source_decodes_and_reports_or_skips_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[3, 3]);
        std::fs::write(dir.path().join("dogs/zz.png"), b"not a png").unwrap();
        let index = FolderIndex::discover(dir.path()).unwrap();
        let folder = ImageFolderConfig {
            size: [8, 8],
            ..Default::default()
        };
        let eval = PipelineConfig::eval(4);
        let source = ImageSource::Files {
            index: index.clone(),
            config: folder.clone(),
        };
        let results: Vec<Result<Batch>> = Pipeline::new(source, eval.clone())
            .unwrap()
            .epoch(0, &Device::Cpu)
            .collect();
        assert_eq!(results.len(), 2);
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("zz.png"), "{err}");

        let skipping = ImageSource::Files {
            index,
            config: ImageFolderConfig {
                skip_bad_images: true,
                ..folder
            },
        };
        let pipeline = Pipeline::new(skipping, eval).unwrap();
        let batches: Vec<Batch> = pipeline
            .epoch(0, &Device::Cpu)
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(batches[0].images.dims(), &[4, 3, 8, 8]);
        assert_eq!(batches[1].indices, vec![4, 5]);
        // Skipped in both epochs, counted once.
        assert_eq!(pipeline.epoch(1, &Device::Cpu).count(), 2);
        assert_eq!(pipeline.skipped(), vec![6]);
        let max = batches[0]
            .images
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max <= 1.0 && max > 0.9, "{max}");
    }
}
