use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;

use crate::{rng, Dataset, Result};

/// How 8-bit pixels are mapped to `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelScale {
    /// `[0, 1]`: `p / 255`. What classifiers are trained on.
    #[default]
    Unit,
    /// `[-1, 1]`: `p / 127.5 - 1`. What a `tanh` generator produces.
    Symmetric,
}

impl PixelScale {
    /// Maps one pixel.
    pub fn apply(self, p: u8) -> f32 {
        match self {
            Self::Unit => f32::from(p) / 255.0,
            Self::Symmetric => f32::from(p) / 127.5 - 1.0,
        }
    }

    /// Maps a scaled value back to a pixel, clamping to `0..=255`.
    pub fn invert(self, v: f32) -> u8 {
        let p = match self {
            Self::Unit => v * 255.0,
            Self::Symmetric => (v + 1.0) * 127.5,
        };
        p.round().clamp(0.0, 255.0) as u8
    }
}

/// Mini-batch settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Shuffle with a new seeded permutation each epoch.
    pub shuffle: bool,
    /// Drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Pixel scaling.
    pub scale: PixelScale,
    /// Seed of the shuffles: epoch `e` of seed `s` is always the same order.
    pub seed: u64,
}

impl BatchConfig {
    /// Shuffled batches of `batch_size`, last partial batch kept, `[0, 1]` pixels, seed 0.
    pub fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            shuffle: true,
            drop_last: false,
            scale: PixelScale::Unit,
            seed: 0,
        }
    }

    /// In order, every image once: for evaluation.
    pub fn sequential(batch_size: usize) -> Self {
        Self {
            shuffle: false,
            ..Self::new(batch_size)
        }
    }

    /// Sets the shuffle seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets whether to drop the last partial batch.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Sets the pixel scaling.
    pub fn scale(mut self, scale: PixelScale) -> Self {
        self.scale = scale;
        self
    }
}

/// A mini-batch: images `(N, C, H, W)` `f32`, labels `(N,)` `u32`, and the
/// data set indices they came from.
#[derive(Debug, Clone)]
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
    pub indices: Vec<usize>,
}

impl Dataset {
    /// The images at `indices` as one batch on `device`.
    pub fn batch(&self, indices: &[usize], scale: PixelScale, device: &Device) -> Result<Batch> {
        let [c, h, w] = self.image_shape();
        let mut pixels = Vec::with_capacity(indices.len() * c * h * w);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            self.check_index(i)?;
            pixels.extend(self.image(i).iter().map(|&p| scale.apply(p)));
            labels.push(self.labels()[i]);
        }
        Ok(Batch {
            images: Tensor::from_vec(pixels, (indices.len(), c, h, w), device)?,
            labels: Tensor::from_vec(labels, indices.len(), device)?,
            indices: indices.to_vec(),
        })
    }
}

/// Batches in one epoch of `len` images.
pub(crate) fn batch_count(len: usize, batch_size: usize, drop_last: bool) -> usize {
    let b = batch_size.max(1);
    if drop_last {
        len / b
    } else {
        len.div_ceil(b)
    }
}

/// The order in which epoch `epoch` visits `len` images: a permutation drawn
/// from `rng::derive(seed, "shuffle", epoch)`, or `0..len` unshuffled.
pub(crate) fn epoch_order(len: usize, shuffle: bool, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if shuffle {
        order.shuffle(&mut rng::derive(seed, "shuffle", epoch));
    }
    order
}

/// Cuts a [`Dataset`] into mini-batches, epoch by epoch.
#[derive(Debug, Clone)]
pub struct Batcher<'a> {
    data: &'a Dataset,
    config: BatchConfig,
}

impl<'a> Batcher<'a> {
    /// A batcher over `data`. A batch size of 0 is treated as 1.
    pub fn new(data: &'a Dataset, mut config: BatchConfig) -> Self {
        config.batch_size = config.batch_size.max(1);
        Self { data, config }
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        batch_count(
            self.data.len(),
            self.config.batch_size,
            self.config.drop_last,
        )
    }

    /// The order in which epoch `epoch` visits the data set.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        epoch_order(
            self.data.len(),
            self.config.shuffle,
            self.config.seed,
            epoch,
        )
    }

    /// The batches of epoch `epoch`, starting at batch `skip` (to resume
    /// mid-epoch).
    pub fn epoch_from(
        &self,
        epoch: u64,
        skip: usize,
        device: &Device,
    ) -> impl Iterator<Item = Result<Batch>> + '_ {
        let order = self.order(epoch);
        let device = device.clone();
        let size = self.config.batch_size;
        (skip..self.batches_per_epoch()).map(move |b| {
            let end = ((b + 1) * size).min(order.len());
            self.data
                .batch(&order[b * size..end], self.config.scale, &device)
        })
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64, device: &Device) -> impl Iterator<Item = Result<Batch>> + '_ {
        self.epoch_from(epoch, 0, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Dataset {
        let pixels = (0..n).map(|i| (i * 10) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 2).collect();
        Dataset::new(pixels, labels, [1, 1, 1], Dataset::numbered_classes(2)).unwrap()
    }

    fn indices(b: &Batcher, epoch: u64) -> Vec<Vec<usize>> {
        b.epoch(epoch, &Device::Cpu)
            .map(|x| x.unwrap().indices)
            .collect()
    }

    #[test]
    fn partial_batch_kept_or_dropped() {
        let d = data(10);
        let keep = Batcher::new(&d, BatchConfig::sequential(4));
        assert_eq!(
            indices(&keep, 0),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
        );
        let drop = Batcher::new(&d, BatchConfig::sequential(4).drop_last(true));
        assert_eq!(drop.batches_per_epoch(), 2);
        assert_eq!(indices(&drop, 0).len(), 2);
    }

    #[test]
    fn shuffles_are_seeded_per_epoch_and_cover_every_image() {
        let d = data(50);
        let a = Batcher::new(&d, BatchConfig::new(8).seed(3));
        let b = Batcher::new(&d, BatchConfig::new(8).seed(3));
        assert_eq!(a.order(1), b.order(1));
        assert_ne!(a.order(0), a.order(1));
        assert_ne!(
            a.order(0),
            Batcher::new(&d, BatchConfig::new(8).seed(4)).order(0)
        );
        let mut seen: Vec<usize> = indices(&a, 2).concat();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        let resumed: Vec<Vec<usize>> = a
            .epoch_from(2, 3, &Device::Cpu)
            .map(|x| x.unwrap().indices)
            .collect();
        assert_eq!(resumed, indices(&a, 2)[3..].to_vec());
    }

    #[test]
    fn tensors_are_nchw_and_scaled() {
        let d = data(3);
        let batch = d.batch(&[2, 0], PixelScale::Unit, &Device::Cpu).unwrap();
        assert_eq!(batch.images.dims(), &[2, 1, 1, 1]);
        let v = batch
            .images
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(v, vec![20.0 / 255.0, 0.0]);
        assert_eq!(batch.labels.to_vec1::<u32>().unwrap(), vec![0, 0]);
        let sym = d.batch(&[0], PixelScale::Symmetric, &Device::Cpu).unwrap();
        assert_eq!(
            sym.images.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![-1.0]
        );
        assert_eq!(PixelScale::Symmetric.invert(1.0), 255);
        assert_eq!(PixelScale::Unit.invert(0.5), 128);
    }
}
