use std::sync::Arc;

use crate::{DataError, Result};

/// Labelled 8-bit images held in memory, channel-first (`C x H x W` per image).
///
/// All images share one size. Labels are class indices into `classes`. The
/// pixels and labels are shared behind an [`Arc`], so a clone is cheap: that
/// is how a [`crate::Loader`] over a borrowed data set avoids copying it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u32>>,
    channels: usize,
    height: usize,
    width: usize,
    classes: Vec<String>,
}

/// The splits of a data set as its source defines them. `val` is empty when
/// the source has no validation split (IDX files).
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
}

/// Which images of a data set to use: one of its [`Splits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Val,
    Test,
}

impl Splits {
    /// The same splits with other class names (one per class), or as they
    /// are when `names` is `None` (a `--class-names` flag left out).
    pub fn with_class_names<S: AsRef<str>>(self, names: Option<&[S]>) -> Result<Self> {
        let Some(names) = names else {
            return Ok(self);
        };
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        Ok(Self {
            train: self.train.with_class_names(&names)?,
            val: self.val.with_class_names(&names)?,
            test: self.test.with_class_names(&names)?,
        })
    }
}

impl Dataset {
    /// Builds a data set from channel-first pixels. Fails when the pixel count
    /// does not match `labels.len() * channels * height * width`, or when a
    /// label is not an index into `classes`.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u32>,
        [channels, height, width]: [usize; 3],
        classes: Vec<String>,
    ) -> Result<Self> {
        let per_image = channels * height * width;
        if per_image == 0 {
            return Err(DataError::Invalid(format!(
                "image shape {channels}x{height}x{width} has no pixels"
            )));
        }
        if pixels.len() != labels.len() * per_image {
            return Err(DataError::Invalid(format!(
                "{} pixels do not make {} images of {channels}x{height}x{width}",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(DataError::Invalid(format!(
                "label {bad} is out of range for {} classes",
                classes.len()
            )));
        }
        Ok(Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            channels,
            height,
            width,
            classes,
        })
    }

    /// Class names `"0"`, `"1"`, ... for sources that carry no names.
    pub fn numbered_classes(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    /// The same data with other class names (one per class).
    pub fn with_class_names(mut self, names: &[&str]) -> Result<Self> {
        if names.len() != self.classes.len() {
            return Err(DataError::Invalid(format!(
                "{} class names given for {} classes",
                names.len(),
                self.classes.len()
            )));
        }
        self.classes = names.iter().map(|n| n.to_string()).collect();
        Ok(self)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[channels, height, width]` of every image.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// All labels, in order.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The pixels of image `i`, channel-first.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.channels * self.height * self.width;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Number of images per class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in self.labels.iter() {
            counts[l as usize] += 1;
        }
        counts
    }

    /// An error unless `i` is the index of an image.
    pub(crate) fn check_index(&self, i: usize) -> Result<()> {
        if i >= self.len() {
            return Err(DataError::Invalid(format!(
                "index {i} is out of range for a data set of {} images",
                self.len()
            )));
        }
        Ok(())
    }

    /// A new data set of the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let n = self.channels * self.height * self.width;
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            self.check_index(i)?;
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Ok(Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
            classes: self.classes.clone(),
            ..*self
        })
    }

    /// A 64-bit FNV-1a digest of the image shape, class names, labels and
    /// pixels: two data sets with the same digest hold the same images (for
    /// records of which images a run saw; not a cryptographic hash).
    pub fn digest(&self) -> u64 {
        let mut h = Fnv1a::default();
        for d in self.image_shape() {
            h.write(&(d as u64).to_le_bytes());
        }
        for c in &self.classes {
            h.write(&(c.len() as u64).to_le_bytes());
            h.write(c.as_bytes());
        }
        for &l in self.labels.iter() {
            h.write(&l.to_le_bytes());
        }
        h.write(&self.pixels);
        h.0
    }

    /// Splits off the first `n` images and the rest, in order.
    pub fn split_at(&self, n: usize) -> Result<(Self, Self)> {
        let n = n.min(self.len());
        let head: Vec<usize> = (0..n).collect();
        let tail: Vec<usize> = (n..self.len()).collect();
        Ok((self.subset(&head)?, self.subset(&tail)?))
    }

    /// Appends another data set of the same image shape and classes.
    pub fn concat(&self, other: &Self) -> Result<Self> {
        if self.image_shape() != other.image_shape() || self.classes != other.classes {
            return Err(DataError::Invalid(format!(
                "cannot join data sets of shape {:?} with classes {:?} and shape {:?} with classes {:?}",
                self.image_shape(),
                self.classes,
                other.image_shape(),
                other.classes
            )));
        }
        Ok(Self {
            pixels: Arc::new([&self.pixels[..], &other.pixels[..]].concat()),
            labels: Arc::new([&self.labels[..], &other.labels[..]].concat()),
            classes: self.classes.clone(),
            ..*self
        })
    }
}

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo).
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_fnv1a_and_sees_every_part() {
        // FNV-1a of the empty input and of "a" (the published test vectors).
        let mut h = Fnv1a::default();
        assert_eq!(h.0, 0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
        let d = tiny();
        assert_eq!(d.digest(), d.subset(&[0, 1, 2]).unwrap().digest());
        assert_ne!(d.digest(), d.subset(&[0, 2, 1]).unwrap().digest());
        assert_ne!(d.digest(), d.subset(&[0, 1]).unwrap().digest());
        let renamed = d.clone().with_class_names(&["a", "b"]).unwrap();
        assert_ne!(d.digest(), renamed.digest());
    }

    fn tiny() -> Dataset {
        let pixels = (0..12).collect();
        Dataset::new(
            pixels,
            vec![0, 1, 1],
            [1, 2, 2],
            Dataset::numbered_classes(2),
        )
        .unwrap()
    }

    #[test]
    fn rejects_mismatched_pixels_and_bad_labels() {
        assert!(Dataset::new(
            vec![0; 11],
            vec![0, 1, 1],
            [1, 2, 2],
            Dataset::numbered_classes(2)
        )
        .is_err());
        let err = Dataset::new(
            vec![0; 12],
            vec![0, 2, 1],
            [1, 2, 2],
            Dataset::numbered_classes(2),
        )
        .unwrap_err();
        assert!(err.to_string().contains("label 2"), "{err}");
    }

    #[test]
    fn subset_split_and_concat_keep_images_with_labels() {
        let d = tiny();
        let s = d.subset(&[2, 0]).unwrap();
        assert_eq!(s.image(0), &[8, 9, 10, 11]);
        assert_eq!(s.labels(), &[1, 0]);
        let (a, b) = d.split_at(1).unwrap();
        assert_eq!((a.len(), b.len()), (1, 2));
        assert_eq!(a.concat(&b).unwrap(), d);
        assert_eq!(d.class_counts(), vec![1, 2]);
        assert!(d.subset(&[3]).is_err());
    }
}
