//! Nearest neighbours by blocked matrix products: each block of query rows
//! is multiplied by all reference rows at once (forger's gemm, through
//! `forger_kernels::linear`), so an `n x m` search costs one `n x d x m`
//! product, in memory `block x m`.

use candle_core::{Device, Tensor};
use forger_data::Dataset;

use crate::{Result, TrainError};

/// Query rows per product: a block's similarities take `BLOCK x m` floats.
const BLOCK: usize = 256;

/// The closest reference row of one query row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Nearest {
    /// Index of the reference row.
    pub index: usize,
    /// Its score: a correlation (higher is closer) or a distance (lower is closer).
    pub score: f64,
}

/// Rows of `width` values, `f32`, one per image or feature vector.
#[derive(Debug, Clone)]
pub struct Rows {
    values: Vec<f32>,
    width: usize,
}

impl Rows {
    /// `values.len() / width` rows; an error unless that divides evenly.
    pub fn new(values: Vec<f32>, width: usize) -> Result<Self> {
        if width == 0 || !values.len().is_multiple_of(width) {
            return Err(TrainError::Invalid(format!(
                "{} values do not make rows of {width}",
                values.len()
            )));
        }
        Ok(Self { values, width })
    }

    /// Each image's pixels centred on their mean and scaled to unit length,
    /// so that dot products are normalised cross-correlations (a constant
    /// image becomes all zeros: correlation 0 with everything).
    pub fn normalised_pixels(data: &Dataset) -> Result<Self> {
        let width = data.image_shape().iter().product::<usize>();
        let mut values = Vec::with_capacity(data.len() * width);
        for i in 0..data.len() {
            let pixels = data.image(i);
            let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / width as f64;
            let norm = pixels
                .iter()
                .map(|&p| (f64::from(p) - mean).powi(2))
                .sum::<f64>()
                .sqrt();
            let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            values.extend(
                pixels
                    .iter()
                    .map(|&p| ((f64::from(p) - mean) * scale) as f32),
            );
        }
        Self::new(values, width)
    }

    /// The rows of a feature matrix.
    pub fn from_matrix(m: &nalgebra::DMatrix<f64>) -> Result<Self> {
        let values = (0..m.nrows())
            .flat_map(|r| (0..m.ncols()).map(move |c| m[(r, c)] as f32))
            .collect();
        Self::new(values, m.ncols())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.width
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    fn tensor(&self, from: usize, to: usize) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.values[from * self.width..to * self.width],
            (to - from, self.width),
            &Device::Cpu,
        )?)
    }
}

/// For every query row, the reference row with the highest dot product
/// (with normalised pixels: the highest normalised cross-correlation).
pub fn most_correlated(query: &Rows, reference: &Rows) -> Result<Vec<Nearest>> {
    best(query, reference, None, |_, s| f64::from(s))
}

/// For every query row, the reference row at the smallest Euclidean
/// distance, and that distance: `|q - r|^2 = |q|^2 + |r|^2 - 2 q.r`, the
/// largest `q.r - |r|^2 / 2` being the nearest.
pub fn nearest_euclidean(query: &Rows, reference: &Rows) -> Result<Vec<Nearest>> {
    let half_norms: Vec<f32> = (0..reference.len())
        .map(|j| reference.row(j).iter().map(|v| v * v).sum::<f32>() / 2.0)
        .collect();
    best(query, reference, Some(&half_norms), |q, s| {
        let q2: f64 = query.row(q).iter().map(|&v| f64::from(v).powi(2)).sum();
        (q2 - 2.0 * f64::from(s)).max(0.0).sqrt()
    })
}

/// The reference row maximising `q.r - offset[r]` for each query row, its
/// value mapped to a score by `score(query_row, value)`.
fn best(
    query: &Rows,
    reference: &Rows,
    offset: Option<&[f32]>,
    score: impl Fn(usize, f32) -> f64,
) -> Result<Vec<Nearest>> {
    if query.width != reference.width || reference.is_empty() {
        return Err(TrainError::Invalid(format!(
            "nearest neighbours need reference rows of the query's width: {} query values per row, {} reference \
             rows of {}",
            query.width,
            reference.len(),
            reference.width
        )));
    }
    let r = reference.tensor(0, reference.len())?;
    let mut found = Vec::with_capacity(query.len());
    for from in (0..query.len()).step_by(BLOCK) {
        let to = (from + BLOCK).min(query.len());
        let products = forger_kernels::linear(&query.tensor(from, to)?, &r, None)?;
        for (k, row) in products.to_vec2::<f32>()?.into_iter().enumerate() {
            let (index, value) = row
                .iter()
                .enumerate()
                .map(|(j, &p)| (j, p - offset.map_or(0.0, |o| o[j])))
                .fold((0, f32::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
            found.push(Nearest {
                index,
                score: score(from + k, value),
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_nearest(q: &Rows, r: &Rows) -> Vec<(usize, f64)> {
        (0..q.len())
            .map(|i| {
                (0..r.len())
                    .map(|j| {
                        let d: f64 = q
                            .row(i)
                            .iter()
                            .zip(r.row(j))
                            .map(|(a, b)| f64::from(a - b).powi(2))
                            .sum();
                        (j, d.sqrt())
                    })
                    .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
            })
            .collect()
    }

    #[test]
    fn blocked_search_agrees_with_a_pair_loop() {
        use rand::Rng;
        let mut g = forger_data::rng::derive(1, "nearest", 0);
        let mut rows =
            |n: usize| Rows::new((0..n * 7).map(|_| g.gen_range(-1.0..1.0)).collect(), 7).unwrap();
        // More queries than a block, so the blocks' offsets are exercised.
        let (q, r) = (rows(BLOCK + 37), rows(90));
        let fast = nearest_euclidean(&q, &r).unwrap();
        for (i, (j, d)) in naive_nearest(&q, &r).into_iter().enumerate() {
            assert_eq!(fast[i].index, j, "query {i}");
            assert!((fast[i].score - d).abs() < 1e-4, "{} {d}", fast[i].score);
        }
    }

    #[test]
    fn correlation_finds_an_image_under_brightness_and_contrast_changes() {
        let pixels: Vec<u8> = (0..3 * 16).map(|i| ((i * 37) % 251) as u8).collect();
        let train = Dataset::new(
            pixels.clone(),
            vec![0; 3],
            [1, 4, 4],
            Dataset::numbered_classes(1),
        )
        .unwrap();
        // Image 1, halved in contrast and brightened: correlation 1 with image 1.
        let changed: Vec<u8> = pixels[16..32].iter().map(|&p| p / 2 + 60).collect();
        let query =
            Dataset::new(changed, vec![0], [1, 4, 4], Dataset::numbered_classes(1)).unwrap();
        let found = most_correlated(
            &Rows::normalised_pixels(&query).unwrap(),
            &Rows::normalised_pixels(&train).unwrap(),
        )
        .unwrap();
        assert_eq!(found[0].index, 1);
        assert!((found[0].score - 1.0).abs() < 1e-2, "{}", found[0].score);
        let flat = Dataset::new(
            vec![9; 16],
            vec![0],
            [1, 4, 4],
            Dataset::numbered_classes(1),
        )
        .unwrap();
        assert_eq!(
            Rows::normalised_pixels(&flat).unwrap().values,
            vec![0.0; 16]
        );
        assert!(most_correlated(
            &Rows::new(vec![0.0; 3], 3).unwrap(),
            &Rows::new(vec![], 3).unwrap()
        )
        .is_err());
    }
}
