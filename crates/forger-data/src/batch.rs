//! Batch settings, the pixel scale, and the [`Batch`] a [`crate::Loader`]
//! yields.

use candle_core::{Device, Tensor};

use crate::{Dataset, Result};

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

    /// Maps one pixel of an augmented image as Keras' `ImageDataGenerator`
    /// rescales: multiplying by `1/255` (`Unit`), which the augmented
    /// tutorials follow. It differs from [`PixelScale::apply`] by at most
    /// one unit in the last place.
    pub fn apply_augmented(self, p: u8) -> f32 {
        match self {
            Self::Unit => f32::from(p) * (1.0 / 255.0),
            Self::Symmetric => self.apply(p),
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
    /// How 8-bit pixels (augmented or not) become `f32`.
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
    /// `(N, C, H, W)` `f32` pixels, scaled by the batch config's [`PixelScale`].
    pub images: Tensor,
    /// `(N,)` `u32` labels.
    pub labels: Tensor,
    /// The source indices of the `N` images, in batch order.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Dataset {
        let pixels = (0..n).map(|i| (i * 10) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 2).collect();
        Dataset::new(pixels, labels, [1, 1, 1], Dataset::numbered_classes(2)).unwrap()
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
