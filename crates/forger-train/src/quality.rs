//! Measures of how good a generator's images are: the Fréchet distance in
//! the feature space of a classifier trained on the real images, the
//! Kernel Inception Distance and density/coverage in that space (both fair
//! at small sample sizes, where the Fréchet distance is biased upwards),
//! and GAN-train / GAN-test accuracy (Shmelkov et al. 2018).
//!
//! The feature space is forger's `MnistCnn` (trained briefly on the real
//! training images) and the features are its pooled second-convolution
//! activations, the 392 (for 28x28) values that feed its last layer. Inception
//! features, the usual choice, are meaningless for 28-pixel grey radiographs
//! and unavailable offline; a distance in a space learnt from the data
//! itself is comparable across runs on the same data set, not across data
//! sets. Always read it beside the real-vs-real baseline.

use candle_core::{DType, Device};
use forger_data::{rng, BatchConfig, Dataset, Loader};
use forger_models::{ClassifierConfig, ImageClassifier, MnistCnnConfig, ResNetConfig};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::{fit, FitConfig, FitData, Result, RunDir, Schedule, TrainError, TrainedClassifier};

/// Steps of training for the feature classifier.
const FEATURE_STEPS: u64 = 400;

/// Images up to this side are embedded by the tutorial CNN (392 features
/// at 28 px); larger ones by the residual network, whose 128 features do not
/// grow with the image (the tutorial CNN's would: 8,192 at 128 px, too wide
/// for a covariance of a few hundred images).
const TUTORIAL_FEATURES_UP_TO: usize = 28;

/// A classifier trained on real images, whose penultimate activations are
/// the space in which generated and real images are compared.
pub struct FeatureSpace {
    classifier: TrainedClassifier,
    device: Device,
}

impl FeatureSpace {
    /// The feature space of a trained classifier.
    pub fn new(classifier: TrainedClassifier, device: &Device) -> Self {
        Self {
            classifier,
            device: device.clone(),
        }
    }

    /// Trains the feature classifier on `train` (validated on `eval`): the
    /// tutorial CNN for images up to 28 px, the residual network above;
    /// writing its run to `run`; a run already there is continued (a
    /// finished one is only reloaded from its checkpoint).
    pub fn train(
        train: &Dataset,
        eval: &Dataset,
        run: &RunDir,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let [_, h, w] = train.image_shape();
        let model = if h.max(w) <= TUTORIAL_FEATURES_UP_TO {
            ClassifierConfig::MnistCnn(MnistCnnConfig {
                input: train.image_shape(),
                classes: train.classes().len(),
                ..Default::default()
            })
        } else {
            ClassifierConfig::ResNet(ResNetConfig::new(
                train.image_shape(),
                train.classes().len(),
            ))
        };
        let config = FitConfig {
            schedule: Schedule::Steps(FEATURE_STEPS),
            eval_every: Some(FEATURE_STEPS),
            seed,
            ..FitConfig::mnist_tutorial(model)
        };
        let data = FitData {
            train,
            eval,
            test: eval,
            source: "the GAN's real training images".into(),
            inputs: None,
            skipped: Vec::new(),
        };
        let report = fit(&config, &data, run, device, true)?;
        Ok(Self::new(report.classifier, device))
    }

    /// The classifier itself (for GAN-test: classifying generated images).
    pub fn classifier(&self) -> &dyn ImageClassifier {
        self.classifier.model.as_ref()
    }

    /// Features `(N, F)` of every image of `data`, in `f64`.
    pub fn features(&self, data: &Dataset) -> Result<DMatrix<f64>> {
        feature_matrix(self.classifier.model.as_ref(), data, &self.device)
    }

    /// Fréchet distance between the features of two image sets.
    pub fn distance(&self, a: &Dataset, b: &Dataset) -> Result<f64> {
        frechet_distance(&self.features(a)?, &self.features(b)?)
    }
}

/// The features (see [`ImageClassifier::features`]) of every image of
/// `data` as the rows of an `f64` matrix.
pub fn feature_matrix(
    model: &dyn ImageClassifier,
    data: &Dataset,
    device: &Device,
) -> Result<DMatrix<f64>> {
    let batcher = Loader::new(data, BatchConfig::sequential(512))?;
    let mut rows: Vec<f64> = Vec::new();
    let mut width = 0;
    for batch in batcher.epoch(0, device) {
        let f = model.features(&batch?.images)?;
        width = f.dim(1)?;
        rows.extend(f.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?);
    }
    Ok(DMatrix::from_row_slice(data.len(), width, &rows))
}

/// The Fréchet distance between Gaussians fitted to the rows of `a` and
/// `b`: `|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`.
/// Non-finite features are an error. The true distance is never negative;
/// rounding can make the computed one slightly so (for two equal sets),
/// and such a result is returned as 0.
pub fn frechet_distance(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Result<f64> {
    if a.ncols() != b.ncols() || a.nrows() < 2 || b.nrows() < 2 {
        return Err(TrainError::Invalid(format!(
            "Fréchet distance needs two sets of at least 2 feature rows of one width; got {}x{} and {}x{}",
            a.nrows(),
            a.ncols(),
            b.nrows(),
            b.ncols()
        )));
    }
    check_finite(a, "Fréchet distance, first set")?;
    check_finite(b, "Fréchet distance, second set")?;
    let (mu_a, cov_a) = mean_and_covariance(a);
    let (mu_b, cov_b) = mean_and_covariance(b);
    let root_a = psd_sqrt(&cov_a);
    let middle = &root_a * &cov_b * &root_a;
    let middle = (&middle + middle.transpose()) * 0.5;
    let trace_root: f64 = middle
        .symmetric_eigenvalues()
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    let distance = (mu_a - mu_b).norm_squared() + cov_a.trace() + cov_b.trace() - 2.0 * trace_root;
    Ok(distance.max(0.0))
}

/// Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD^2
/// with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
/// `subsets` random subsets of `subset_size` rows of each set (sizes capped
/// at the smaller set), with the sd over subsets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kid {
    /// Mean of the subsets' unbiased MMD^2 (can be slightly negative when
    /// the sets come from one distribution).
    pub mean: f64,
    /// Standard deviation of the subsets' values (denominator `subsets`,
    /// as the reference implementations report it; 0 for one subset).
    pub sd: f64,
    /// Subsets drawn.
    pub subsets: usize,
    /// Rows drawn from each set per subset, after capping.
    pub subset_size: usize,
}

/// KID between feature rows `a` and `b` (see [`Kid`]); each subset draws
/// its rows of each set without replacement, seeded by `(seed, subset)`.
/// `d` is the feature width.
pub fn kernel_distance(
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    subsets: usize,
    subset_size: usize,
    seed: u64,
) -> Result<Kid> {
    check_same_width(a, b, "KID")?;
    check_finite(a, "KID, first set")?;
    check_finite(b, "KID, second set")?;
    let size = subset_size.min(a.nrows()).min(b.nrows());
    if subsets == 0 || size < 2 {
        return Err(TrainError::Invalid(format!(
            "KID needs at least 1 subset of at least 2 rows of each set (the unbiased MMD^2 \
             leaves out i = j); got {subsets} subsets of {subset_size} rows from sets of {} and {} rows",
            a.nrows(),
            b.nrows()
        )));
    }
    let values: Vec<f64> = (0..subsets as u64)
        .map(|s| {
            let mut rng = rng::derive(seed, "kid", s);
            let mut draw = |x: &DMatrix<f64>| {
                x.select_rows(
                    rand::seq::index::sample(&mut rng, x.nrows(), size)
                        .into_vec()
                        .iter(),
                )
            };
            let (x, y) = (draw(a), draw(b));
            unbiased_mmd2(&x, &y)
        })
        .collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    Ok(Kid {
        mean,
        sd,
        subsets,
        subset_size: size,
    })
}

/// The unbiased MMD^2 between equal-sized `x` and `y` with KID's cubic
/// kernel: the within-set kernel means leave out `i = j`.
fn unbiased_mmd2(x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    let (m, d) = (x.nrows() as f64, x.ncols() as f64);
    let kernel = |gram: DMatrix<f64>| gram.map(|g| (g / d + 1.0).powi(3));
    let off_diagonal = |k: DMatrix<f64>| k.sum() - k.trace();
    let kxx = off_diagonal(kernel(x * x.transpose()));
    let kyy = off_diagonal(kernel(y * y.transpose()));
    let kxy = kernel(x * y.transpose()).sum();
    (kxx + kyy) / (m * (m - 1.0)) - 2.0 * kxy / (m * m)
}

/// Density and coverage (Naeem et al. 2020, k nearest neighbours among the
/// real rows, Euclidean).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DensityCoverage {
    /// Mean over fake rows of the number of real rows' k-NN balls that
    /// hold it, over `k`: about 1 when fake matches real, above 1 when
    /// fakes crowd where real rows are dense.
    pub density: f64,
    /// Fraction of real rows whose k-NN ball holds at least one fake row.
    pub coverage: f64,
    /// Neighbours defining each real row's ball.
    pub k: usize,
}

/// Density and coverage of `fake` rows against `real` rows (see
/// [`DensityCoverage`]). Each real row's ball has the radius of its `k`-th
/// nearest other real row; a fake row is in it when strictly closer, as in
/// the authors' code. Needs more than `k` real rows.
pub fn density_coverage(
    real: &DMatrix<f64>,
    fake: &DMatrix<f64>,
    k: usize,
) -> Result<DensityCoverage> {
    check_same_width(real, fake, "density/coverage")?;
    check_finite(real, "density/coverage, real set")?;
    check_finite(fake, "density/coverage, fake set")?;
    if k == 0 || real.nrows() <= k || fake.nrows() == 0 {
        return Err(TrainError::Invalid(format!(
            "density/coverage needs k >= 1, more than k real rows and at least one fake row; \
             got k = {k} with {} real and {} fake rows",
            real.nrows(),
            fake.nrows()
        )));
    }
    let within = squared_distances(real, real);
    let radii: Vec<f64> = (0..real.nrows())
        .map(|i| {
            let mut others: Vec<f64> = (0..real.nrows())
                .filter(|&j| j != i)
                .map(|j| within[(i, j)])
                .collect();
            *others.select_nth_unstable_by(k - 1, f64::total_cmp).1
        })
        .collect();
    let cross = squared_distances(real, fake);
    let (mut inside, mut covered) = (0usize, 0usize);
    for (i, radius) in radii.iter().enumerate() {
        let held = cross.row(i).iter().filter(|&&d| d < *radius).count();
        inside += held;
        covered += usize::from(held > 0);
    }
    Ok(DensityCoverage {
        density: inside as f64 / (k * fake.nrows()) as f64,
        coverage: covered as f64 / real.nrows() as f64,
        k,
    })
}

/// Squared Euclidean distances between the rows of `a` and those of `b`,
/// `|x|^2 + |y|^2 - 2 x.y` from one matrix product, rounding below 0 cut to 0.
fn squared_distances(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let norms = |x: &DMatrix<f64>| -> Vec<f64> { x.row_iter().map(|r| r.norm_squared()).collect() };
    let (na, nb) = (norms(a), norms(b));
    let gram = a * b.transpose();
    DMatrix::from_fn(a.nrows(), b.nrows(), |i, j| {
        (na[i] + nb[j] - 2.0 * gram[(i, j)]).max(0.0)
    })
}

/// An error unless `a` and `b` have the same number of columns, at least one.
fn check_same_width(a: &DMatrix<f64>, b: &DMatrix<f64>, what: &str) -> Result<()> {
    if a.ncols() != b.ncols() || a.ncols() == 0 {
        return Err(TrainError::Invalid(format!(
            "{what} needs two sets of feature rows of one width (at least 1); got {}x{} and {}x{}",
            a.nrows(),
            a.ncols(),
            b.nrows(),
            b.ncols()
        )));
    }
    Ok(())
}

/// An error unless every feature of `x` is finite; `what` names the set.
fn check_finite(x: &DMatrix<f64>, what: &str) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(TrainError::Invalid(format!(
            "{what}: features must be finite, found {} at row {}, column {}",
            x[at],
            at % x.nrows(),
            at / x.nrows()
        ))),
    }
}

fn mean_and_covariance(x: &DMatrix<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let n = x.nrows() as f64;
    let mean = x.row_mean().transpose();
    let centred = DMatrix::from_fn(x.nrows(), x.ncols(), |r, c| x[(r, c)] - mean[c]);
    let cov = centred.transpose() * &centred / (n - 1.0);
    (mean, cov)
}

/// The square root of a symmetric positive semi-definite matrix.
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = nalgebra::SymmetricEigen::new(m.clone());
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// Accuracy of `classifier` on labelled `images`: GAN-test when the
/// classifier learnt from real images and the images are generated.
pub fn accuracy_on(
    classifier: &dyn ImageClassifier,
    images: &Dataset,
    device: &Device,
) -> Result<f64> {
    Ok(crate::evaluate(
        classifier,
        crate::LossKind::SoftmaxCrossEntropy,
        images,
        device,
    )?
    .accuracy)
}

/// A seeded random subset of `n` images (all of them when `n >= len`).
pub fn sample_subset(data: &Dataset, n: usize, seed: u64) -> Result<Dataset> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng::derive(seed, "subset", 0));
    order.truncate(n);
    Ok(data.subset(&order)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand_distr::StandardNormal;

    #[test]
    fn frechet_distance_of_known_gaussians() {
        // Rows spread evenly: a has mean 0, b the same shape shifted by 3.
        let a = DMatrix::from_row_slice(4, 2, &[1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0]);
        let b = a.map(|v| v + 3.0);
        let same = frechet_distance(&a, &a).unwrap();
        assert!((0.0..1e-9).contains(&same), "{same}");
        // Same covariance, means 3*sqrt(2) apart: distance 18.
        assert!((frechet_distance(&a, &b).unwrap() - 18.0).abs() < 1e-9);
        // Scaled by 2: covariances S and 4S, so tr(S + 4S - 2*2S) = tr(S).
        let c = &a * 2.0;
        let s_trace = 2.0 * (2.0 / 3.0);
        assert!((frechet_distance(&a, &c).unwrap() - s_trace).abs() < 1e-9);
        assert!(frechet_distance(&a, &DMatrix::zeros(4, 3)).is_err());
    }

    #[test]
    fn frechet_distance_refuses_non_finite_features() {
        let a = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, -1.0, 0.0, 0.0, 1.0]);
        let mut b = a.clone();
        b[(2, 1)] = f64::NAN;
        let err = frechet_distance(&a, &b).unwrap_err().to_string();
        assert!(
            err.contains("second set") && err.contains("row 2, column 1"),
            "{err}"
        );
        b[(2, 1)] = f64::NEG_INFINITY;
        assert!(frechet_distance(&b, &a).is_err());
    }

    /// `rows` x `width` standard normal features plus `shift`, seeded.
    fn normal_rows(rows: usize, width: usize, shift: f64, stream: &str) -> DMatrix<f64> {
        let mut rng = rng::derive(5, stream, 0);
        DMatrix::from_fn(rows, width, |_, _| {
            shift + rand::Rng::sample::<f64, _>(&mut rng, StandardNormal)
        })
    }

    #[test]
    fn kid_of_whole_sets_is_the_unbiased_mmd_by_loops() {
        // Bińkowski et al. (2018), eq. (1) with equal sizes m: 1/(m(m-1))
        // sum_{i != j} k(x_i, x_j) + the same for y - 2/m^2 sum_{i, j}
        // k(x_i, y_j), k(x, y) = (x.y / d + 1)^3, the dot product looped.
        let (a, b) = (normal_rows(30, 5, 0.0, "a"), normal_rows(30, 5, 0.3, "b"));
        let d = 5.0;
        let k = |x: &DMatrix<f64>, i: usize, y: &DMatrix<f64>, j: usize| {
            let dot: f64 = (0..x.ncols()).map(|c| x[(i, c)] * y[(j, c)]).sum();
            (dot / d + 1.0).powi(3)
        };
        let m = 30;
        let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
        for i in 0..m {
            for j in 0..m {
                if i != j {
                    kxx += k(&a, i, &a, j);
                    kyy += k(&b, i, &b, j);
                }
                kxy += k(&a, i, &b, j);
            }
        }
        let m = m as f64;
        let want = (kxx + kyy) / (m * (m - 1.0)) - 2.0 * kxy / (m * m);
        let kid = kernel_distance(&a, &b, 1, 30, 0).unwrap();
        assert!(
            (kid.mean - want).abs() < 1e-12 * want.abs().max(1.0),
            "{} {want}",
            kid.mean
        );
        assert_eq!((kid.sd, kid.subsets, kid.subset_size), (0.0, 1, 30));
    }

    #[test]
    fn kid_is_near_zero_for_one_distribution_and_positive_for_shifted_sets() {
        let a = normal_rows(300, 8, 0.0, "a");
        let same = kernel_distance(&a, &normal_rows(300, 8, 0.0, "b"), 10, 100, 1).unwrap();
        assert!(same.mean.abs() < 3.0 * same.sd, "{same:?}");
        let shifted = kernel_distance(&a, &normal_rows(300, 8, 0.5, "b"), 10, 100, 1).unwrap();
        assert!(
            shifted.mean > 3.0 * shifted.sd && shifted.mean > 10.0 * (same.mean.abs() + same.sd),
            "{same:?} {shifted:?}"
        );
        // Sizes are capped at the smaller set; the same seed gives the same subsets.
        let small = normal_rows(20, 8, 0.0, "c");
        let capped = kernel_distance(&a, &small, 3, 1000, 2).unwrap();
        assert_eq!(capped.subset_size, 20);
        assert_eq!(capped, kernel_distance(&a, &small, 3, 1000, 2).unwrap());
    }

    #[test]
    fn kid_and_density_coverage_refuse_bad_input() {
        let a = normal_rows(10, 3, 0.0, "a");
        assert!(kernel_distance(&a, &normal_rows(10, 4, 0.0, "b"), 1, 10, 0).is_err());
        assert!(kernel_distance(&a, &a, 0, 10, 0).is_err());
        let err = kernel_distance(&a, &a, 2, 1, 0).unwrap_err().to_string();
        assert!(err.contains("at least 2 rows"), "{err}");
        let mut bad = a.clone();
        bad[(4, 0)] = f64::INFINITY;
        assert!(kernel_distance(&a, &bad, 1, 10, 0).is_err());
        assert!(density_coverage(&bad, &a, 3).is_err());
        assert!(density_coverage(&a, &a, 0).is_err());
        let err = density_coverage(&a, &a, 10).unwrap_err().to_string();
        assert!(err.contains("more than k real rows"), "{err}");
        assert!(density_coverage(&a, &DMatrix::zeros(0, 3), 2).is_err());
    }

    #[test]
    fn density_and_coverage_by_hand() {
        // Real points on a line (a constant second feature): 0, 1, 3, 7.
        // k = 1 radii (nearest other real): 1, 1, 2, 4. Fakes 0.4, 0.6, 2.5, 20:
        //   0.4 lies in the balls of 0 (0.4 < 1) and 1 (0.6 < 1);
        //   0.6 in those of 0 (0.6) and 1 (0.4); 2.5 in that of 3 (0.5 < 2); 20 in none.
        //   density = (2 + 2 + 1 + 0) / (k 4) = 1.25; coverage = 3/4 (7's ball is empty).
        // k = 2 radii (second nearest): 3, 2, 3, 6.
        //   0.4: balls of 0, 1, 3 (2.6 < 3), not 7 (6.6); 0.6: 0, 1, 3 (2.4), not 7 (6.4);
        //   2.5: all four (2.5 < 3, 1.5 < 2, 0.5 < 3, 4.5 < 6); 20: none.
        //   density = (3 + 3 + 4 + 0) / (2 * 4) = 1.25; coverage = 4/4.
        let line =
            |xs: &[f64]| DMatrix::from_fn(xs.len(), 2, |r, c| if c == 0 { xs[r] } else { 5.0 });
        let real = line(&[0.0, 1.0, 3.0, 7.0]);
        let fake = line(&[0.4, 0.6, 2.5, 20.0]);
        let one = density_coverage(&real, &fake, 1).unwrap();
        assert_eq!((one.density, one.coverage, one.k), (1.25, 0.75, 1));
        let two = density_coverage(&real, &fake, 2).unwrap();
        assert_eq!((two.density, two.coverage, two.k), (1.25, 1.0, 2));
    }

    #[test]
    fn fakes_equal_to_the_real_rows_cover_them_all() {
        let real = normal_rows(50, 6, 0.0, "real");
        let dc = density_coverage(&real, &real, 5).unwrap();
        assert_eq!(dc.coverage, 1.0);
        let far = density_coverage(&real, &real.map(|v| v + 100.0), 5).unwrap();
        assert_eq!((far.density, far.coverage), (0.0, 0.0));
    }
}
