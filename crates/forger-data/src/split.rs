//! Stratified, seeded hold-out splits (validation or test).
//!
//! The rule: for each class `c` with `n_c` images, `k_c = round(fraction *
//! n_c)` of them are held out, but never all of them (at most `n_c - 1`, so
//! every class stays in the kept part). Which ones is decided by shuffling
//! the class's indices with `rng::derive(seed, "holdout", c)` and taking the
//! first `k_c`. Both parts keep the original order of the images. The same
//! labels, fraction and seed always give the same split.

use rand::seq::SliceRandom;

use crate::{rng, DataError, Dataset, Result};

/// Indices of a split: `kept` and `held_out` are disjoint, ascending, and
/// together cover every index once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitIndices {
    /// The images that stay (training).
    pub kept: Vec<usize>,
    /// The images held out (validation or test).
    pub held_out: Vec<usize>,
}

/// Splits the images with `labels` (class indices below `num_classes`),
/// holding out `fraction` of each class (see the module rule). `fraction`
/// must be in `[0, 1)`.
pub fn stratified_indices(
    labels: &[u32],
    num_classes: usize,
    fraction: f64,
    seed: u64,
) -> Result<SplitIndices> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::Invalid(format!(
            "split fraction {fraction} is out of range: expected a value in [0, 1)"
        )));
    }
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class
            .get_mut(l as usize)
            .ok_or_else(|| {
                DataError::Invalid(format!(
                    "label {l} is out of range for {num_classes} classes"
                ))
            })?
            .push(i);
    }
    let mut held = vec![false; labels.len()];
    for (c, mut members) in by_class.into_iter().enumerate() {
        let k = ((fraction * members.len() as f64).round() as usize)
            .min(members.len().saturating_sub(1));
        members.shuffle(&mut rng::derive(seed, "holdout", c as u64));
        for &i in &members[..k] {
            held[i] = true;
        }
    }
    let (held_out, kept): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&i| held[i]);
    Ok(SplitIndices { kept, held_out })
}

impl Dataset {
    /// Splits into `(kept, held_out)` by [`stratified_indices`]: for a
    /// validation split, `(train, val)`.
    pub fn split_stratified(&self, fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        let split = stratified_indices(self.labels(), self.classes().len(), fraction, seed)?;
        Ok((self.subset(&split.kept)?, self.subset(&split.held_out)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<u32> {
        // 30 of class 0, 10 of class 1, 3 of class 2, interleaved.
        let mut l = Vec::new();
        for i in 0..30 {
            l.push(0);
            if i % 3 == 0 {
                l.push(1);
            }
            if i % 10 == 0 {
                l.push(2);
            }
        }
        l
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let l = labels();
        let a = stratified_indices(&l, 3, 0.2, 5).unwrap();
        assert_eq!(a, stratified_indices(&l, 3, 0.2, 5).unwrap());
        assert_ne!(
            a.held_out,
            stratified_indices(&l, 3, 0.2, 6).unwrap().held_out
        );
    }

    #[test]
    fn stratified_and_disjoint() {
        let l = labels();
        let s = stratified_indices(&l, 3, 0.2, 1).unwrap();
        let count = |idx: &[usize], c: u32| idx.iter().filter(|&&i| l[i] == c).count();
        // round(0.2 * 30) = 6, round(0.2 * 10) = 2, round(0.2 * 3) = 1.
        assert_eq!([0, 1, 2].map(|c| count(&s.held_out, c)), [6, 2, 1]);
        assert_eq!([0, 1, 2].map(|c| count(&s.kept, c)), [24, 8, 2]);
        let mut all: Vec<usize> = s.kept.iter().chain(&s.held_out).copied().collect();
        all.sort();
        assert_eq!(all, (0..l.len()).collect::<Vec<_>>());
        assert!(
            s.kept.windows(2).all(|w| w[0] < w[1]) && s.held_out.windows(2).all(|w| w[0] < w[1])
        );
    }

    #[test]
    fn every_class_keeps_an_image_and_bad_fractions_fail() {
        let s = stratified_indices(&[0, 1, 1], 2, 0.9, 0).unwrap();
        assert_eq!(s.kept.len(), 2);
        assert_eq!(
            stratified_indices(&[0, 1], 2, 0.0, 0).unwrap().held_out,
            Vec::<usize>::new()
        );
        assert!(stratified_indices(&[0, 1], 2, 1.0, 0).is_err());
        assert!(stratified_indices(&[0, 1], 2, f64::NAN, 0).is_err());
        assert!(stratified_indices(&[0, 3], 2, 0.5, 0).is_err());
    }

    #[test]
    fn dataset_split_keeps_images_with_labels() {
        let l = labels();
        let pixels = (0..l.len()).map(|i| i as u8).collect();
        let d = Dataset::new(pixels, l.clone(), [1, 1, 1], Dataset::numbered_classes(3)).unwrap();
        let (train, val) = d.split_stratified(0.2, 3).unwrap();
        assert_eq!((train.len(), val.len()), (34, 9));
        for part in [&train, &val] {
            for j in 0..part.len() {
                assert_eq!(part.labels()[j], l[part.image(j)[0] as usize]);
            }
        }
    }
}
