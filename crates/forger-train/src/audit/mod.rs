//! Can these cases be shared? A memorisation audit of a synthetic set
//! against the real images its GAN trained on.
//!
//! For every synthetic image: its nearest training image by normalised
//! cross-correlation of pixels (as Akbar et al. 2025) and, given a feature
//! space, by Euclidean distance there. The baseline is the same statistic
//! for real images the GAN never saw (held out): a synthetic image closer to
//! a training image than the closest 1% of held-out images are to theirs is
//! a **near copy**. A fresh real image is a near copy with probability about
//! 1% per measure by construction; a GAN that memorises makes many more.
//! The share comes with its exact (Clopper-Pearson) interval. Beside it, a
//! membership-inference AUC: how well the discriminator's score tells its
//! training images from held-out ones (0.5: it cannot).
//!
//! Searches are blocked matrix products (module `nearest`), not pair loops.

pub(crate) mod binomial;
mod figures;
pub mod nearest;

use forger_data::Dataset;
use serde::{Deserialize, Serialize};

pub use binomial::Proportion;
pub use nearest::{most_correlated, nearest_euclidean, Nearest, Rows};

use crate::metrics::{roc_auc_delong, AucInterval};
use crate::quality::FeatureSpace;
use crate::{Result, TrainError};

/// Held-out images closer to the training set than this percentile mark
/// the near-copy threshold.
pub const NEAR_COPY_PERCENTILE: f64 = 1.0;

/// What an audit compares.
pub struct AuditInputs<'a> {
    /// The synthetic set.
    pub synthetic: &'a Dataset,
    /// The real images the GAN trained on.
    pub train: &'a Dataset,
    /// Real images of the same classes the GAN never saw.
    pub held_out: &'a Dataset,
    /// A feature space trained on none of the images above, if any.
    pub features: Option<&'a FeatureSpace>,
    /// The discriminator's scores of (training images, held-out images),
    /// for the membership-inference AUC.
    pub membership: Option<(&'a [f64], &'a [f64])>,
}

/// One measure of closeness (pixels or features) over the synthetic and
/// the held-out images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closeness {
    /// `correlation` (higher is closer) or `distance` (lower is closer).
    pub kind: String,
    /// The near-copy threshold: the held-out images' 1st percentile of closeness.
    pub threshold: f64,
    /// Synthetic images beyond the threshold.
    pub near_copies: Proportion,
    pub synthetic_median: f64,
    pub held_out_median: f64,
    /// Every synthetic and held-out image's nearest training image.
    #[serde(skip)]
    pub synthetic: Vec<Nearest>,
    #[serde(skip)]
    pub held_out: Vec<Nearest>,
}

impl Closeness {
    fn higher_is_closer(&self) -> bool {
        self.kind == "correlation"
    }

    /// Whether a score is closer than the threshold.
    fn is_near(&self, score: f64) -> bool {
        if self.higher_is_closer() {
            score > self.threshold
        } else {
            score < self.threshold
        }
    }

    fn new(kind: &str, synthetic: Vec<Nearest>, held_out: Vec<Nearest>) -> Self {
        let higher = kind == "correlation";
        let held: Vec<f64> = held_out.iter().map(|n| n.score).collect();
        let threshold = percentile(
            &held,
            if higher {
                100.0 - NEAR_COPY_PERCENTILE
            } else {
                NEAR_COPY_PERCENTILE
            },
        );
        let mut c = Self {
            kind: kind.into(),
            threshold,
            near_copies: Proportion::new(0, 0),
            synthetic_median: percentile(
                &synthetic.iter().map(|n| n.score).collect::<Vec<_>>(),
                50.0,
            ),
            held_out_median: percentile(&held, 50.0),
            synthetic,
            held_out,
        };
        let near = c.synthetic.iter().filter(|n| c.is_near(n.score)).count();
        c.near_copies = Proportion::new(near, c.synthetic.len());
        c
    }
}

/// The audit of one synthetic set (`audit` records of a study's `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    pub synthetic_images: usize,
    pub train_images: usize,
    pub held_out_images: usize,
    pub pixels: Closeness,
    pub features: Option<Closeness>,
    /// Synthetic images that are near copies by any measure: the flagged ones.
    pub flagged: Proportion,
    /// Held-out images flagged by any measure: the rate a fresh real image
    /// is flagged at (about 1% per measure by construction).
    pub held_out_flagged: Proportion,
    /// The discriminator's training vs held-out AUC, with its DeLong interval.
    pub membership_auc: Option<AucInterval>,
}

impl Audit {
    /// Whether each synthetic image is flagged (a near copy by any measure).
    pub fn flags(&self) -> Vec<bool> {
        self.flags_of(|c| &c.synthetic)
    }

    fn flags_of(&self, nearest: impl Fn(&Closeness) -> &Vec<Nearest>) -> Vec<bool> {
        let measures: Vec<&Closeness> = std::iter::once(&self.pixels)
            .chain(&self.features)
            .collect();
        (0..nearest(&self.pixels).len())
            .map(|i| measures.iter().any(|c| c.is_near(nearest(c)[i].score)))
            .collect()
    }

    /// The synthetic set without its flagged images.
    pub fn without_flagged(&self, synthetic: &Dataset) -> Result<Dataset> {
        let keep: Vec<usize> = self
            .flags()
            .iter()
            .enumerate()
            .filter(|(_, &f)| !f)
            .map(|(i, _)| i)
            .collect();
        Ok(synthetic.subset(&keep)?)
    }
}

/// Audits `inputs.synthetic` against `inputs.train`.
pub fn audit(inputs: &AuditInputs) -> Result<Audit> {
    let AuditInputs {
        synthetic,
        train,
        held_out,
        ..
    } = *inputs;
    if synthetic.is_empty() || train.is_empty() || held_out.len() < 2 {
        return Err(TrainError::Invalid(format!(
            "an audit needs synthetic images, training images and at least 2 held-out images; got {}, {} and {}",
            synthetic.len(),
            train.len(),
            held_out.len()
        )));
    }
    let train_pixels = Rows::normalised_pixels(train)?;
    let pixels = Closeness::new(
        "correlation",
        most_correlated(&Rows::normalised_pixels(synthetic)?, &train_pixels)?,
        most_correlated(&Rows::normalised_pixels(held_out)?, &train_pixels)?,
    );
    let features = match inputs.features {
        Some(space) => {
            let rows = |d: &Dataset| Rows::from_matrix(&space.features(d)?);
            let train_rows = rows(train)?;
            Some(Closeness::new(
                "distance",
                nearest_euclidean(&rows(synthetic)?, &train_rows)?,
                nearest_euclidean(&rows(held_out)?, &train_rows)?,
            ))
        }
        None => None,
    };
    let membership_auc = match inputs.membership {
        Some((members, others)) => {
            let labels: Vec<u32> = std::iter::repeat_n(1, members.len())
                .chain(std::iter::repeat_n(0, others.len()))
                .collect();
            let scores: Vec<f64> = members.iter().chain(others).copied().collect();
            Some(roc_auc_delong(&labels, &scores)?)
        }
        None => None,
    };
    let mut audit = Audit {
        synthetic_images: synthetic.len(),
        train_images: train.len(),
        held_out_images: held_out.len(),
        pixels,
        features,
        flagged: Proportion::new(0, 0),
        held_out_flagged: Proportion::new(0, 0),
        membership_auc,
    };
    let count = |flags: Vec<bool>| (flags.iter().filter(|&&f| f).count(), flags.len());
    let (k, n) = count(audit.flags());
    audit.flagged = Proportion::new(k, n);
    let (k, n) = count(audit.flags_of(|c| &c.held_out));
    audit.held_out_flagged = Proportion::new(k, n);
    Ok(audit)
}

/// The `p`-th percentile (0-100) by linear interpolation between order
/// statistics (R's default, type 7); NaN for no values.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    crate::metrics::quantile(&sorted, p / 100.0)
}

pub use figures::write_figures;

#[cfg(test)]
mod tests;
