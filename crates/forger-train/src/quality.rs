//! Measures of how good a generator's images are: the Fréchet distance in
//! the feature space of a classifier trained on the real images, and
//! GAN-train / GAN-test accuracy (Shmelkov et al. 2018).
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
use forger_models::{ClassifierConfig, ImageClassifier, MnistCnnConfig};
use nalgebra::{DMatrix, DVector};

use crate::{fit, FitConfig, FitData, Result, RunDir, Schedule, TrainError, TrainedClassifier};

/// Steps of training for the feature classifier.
const FEATURE_STEPS: u64 = 400;

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

    /// Trains the feature classifier on `train` (validated on `eval`),
    /// writing its run to `run`; a run already there is continued (a
    /// finished one is only reloaded from its checkpoint).
    pub fn train(
        train: &Dataset,
        eval: &Dataset,
        run: &RunDir,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let model = ClassifierConfig::MnistCnn(MnistCnnConfig {
            input: train.image_shape(),
            classes: train.classes().len(),
            ..Default::default()
        });
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
    Ok((mu_a - mu_b).norm_squared() + cov_a.trace() + cov_b.trace() - 2.0 * trace_root)
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

    #[test]
    fn frechet_distance_of_known_gaussians() {
        // Rows spread evenly: a has mean 0, b the same shape shifted by 3.
        let a = DMatrix::from_row_slice(4, 2, &[1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0]);
        let b = a.map(|v| v + 3.0);
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        // Same covariance, means 3*sqrt(2) apart: distance 18.
        assert!((frechet_distance(&a, &b).unwrap() - 18.0).abs() < 1e-9);
        // Scaled by 2: covariances S and 4S, so tr(S + 4S - 2*2S) = tr(S).
        let c = &a * 2.0;
        let s_trace = 2.0 * (2.0 / 3.0);
        assert!((frechet_distance(&a, &c).unwrap() - s_trace).abs() < 1e-9);
        assert!(frechet_distance(&a, &DMatrix::zeros(4, 3)).is_err());
    }
}
