//! Candle's data sets as forger's (feature `candle-datasets`): a
//! [`candle_datasets::vision::Dataset`], as `candle_datasets`' MNIST,
//! Fashion-MNIST and CIFAR loaders return it, becomes [`Splits`] whose
//! training and test sets are forger [`Dataset`]s (it has no validation
//! split).

use candle_core::{DType, Tensor};

use crate::{DataError, Dataset, Result, Splits};

/// Forger's splits of a Candle vision data set. Its images are `f32` in
/// `[0, 1]`, either `(N, C, H, W)` or flattened `(N, F)` (Candle's MNIST
/// loaders give `(N, 784)`); flattened images take `shape` (`[C, H, W]`),
/// or, without one, are square and grey. Pixels are scaled back to 8 bits
/// (rounded), so 8-bit sources come back exactly. Classes are numbered
/// `0..labels`.
pub fn from_candle(
    data: &candle_datasets::vision::Dataset,
    shape: Option<[usize; 3]>,
) -> Result<Splits> {
    let classes = Dataset::numbered_classes(data.labels);
    let set = |name: &str, images: &Tensor, labels: &Tensor| -> Result<Dataset> {
        let invalid =
            |what: String| DataError::Invalid(format!("candle data set, {name} images: {what}"));
        let dims = images.dims();
        let shape = match (dims, shape) {
            (&[_, c, h, w], None) => [c, h, w],
            (&[_, f], Some([c, h, w])) if f == c * h * w => [c, h, w],
            (&[_, f], None) => {
                let side = (f as f64).sqrt().round() as usize;
                if side * side != f {
                    return Err(invalid(format!(
                        "{f} values per image are not a square image: pass its shape"
                    )));
                }
                [1, side, side]
            }
            (dims, shape) => {
                return Err(invalid(format!(
                    "dimensions {dims:?} do not fit the shape {shape:?} (want (N, C, H, W), or (N, C*H*W) with a shape)"
                )))
            }
        };
        let values = images
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let pixels = values
            .iter()
            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        let labels = labels
            .to_dtype(DType::U32)?
            .flatten_all()?
            .to_vec1::<u32>()?;
        Dataset::new(pixels, labels, shape, classes.clone()).map_err(|e| invalid(e.to_string()))
    };
    let train = set("training", &data.train_images, &data.train_labels)?;
    let test = set("test", &data.test_images, &data.test_labels)?;
    let val = train.subset(&[])?;
    Ok(Splits { train, val, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx;

    /// IDX files as `candle_datasets::vision::mnist::load_dir` reads them
    /// (uncompressed, by their official names), of `n` 28x28 images each.
    fn write_mnist_dir(dir: &std::path::Path, n: usize) -> Vec<u8> {
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 7 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for split in ["train", "t10k"] {
            let images = idx::encode(0x0803, &[n as u32, 28, 28], &pixels);
            std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
            let labels = idx::encode(0x0801, &[n as u32], &labels);
            std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), labels).unwrap();
        }
        pixels
    }

    #[test]
    fn candle_mnist_becomes_forger_splits_with_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let pixels = write_mnist_dir(dir.path(), 12);
        let candle = candle_datasets::vision::mnist::load_dir(dir.path()).unwrap();
        let splits = from_candle(&candle, None).unwrap();
        assert_eq!(splits.train.len(), 12);
        assert_eq!(splits.test.len(), 12);
        assert!(splits.val.is_empty());
        assert_eq!(splits.train.image_shape(), [1, 28, 28]);
        assert_eq!(splits.train.classes().len(), 10);
        assert_eq!(splits.train.image(3), &pixels[3 * 784..4 * 784]);
        assert_eq!(splits.test.labels()[..4], [0, 1, 2, 3]);
        // A shape that does not fit is refused, naming the split.
        let err = from_candle(&candle, Some([3, 28, 28]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("training images"), "{err}");
    }
}
