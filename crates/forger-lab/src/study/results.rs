//! What a study measured: the records of `results.json`, which
//! [`assemble`](super::assemble) computes and `report.md` shows.

use serde::{Deserialize, Serialize};

use forger_train::audit::Audit;
use forger_train::metrics::{AucInterval, BootstrapInterval, PairedComparison};
use forger_train::quality::{DensityCoverage, Kid};

use super::job::ClassifierResult;
use super::Arm;

/// Everything a study measured (`results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyReport {
    /// Labelled real images per budget: for training and for selection.
    pub budgets: Vec<BudgetImages>,
    /// Every classifier.
    pub classifiers: Vec<ClassifierResult>,
    /// Per budget and arm, over replicates.
    pub arms: Vec<ArmSummary>,
    /// Synthetic and mixed against real, per budget, paired on the test images.
    pub comparisons: Vec<Comparison>,
    /// Image quality of every GAN.
    pub gans: Vec<GanQuality>,
    /// Width of the feature space the quality measures use.
    pub feature_dimension: usize,
}

/// How many labelled real images a budget gives each replicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetImages {
    pub real_fraction: f64,
    /// Real training images (the real and mixed arms and the GAN train on them).
    pub train: usize,
    /// Real validation images that select every arm's weights and threshold.
    pub selection: usize,
}

/// One arm at one budget, over its replicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    pub arm: Arm,
    pub real_fraction: f64,
    pub replicates: usize,
    /// Mean test AUC over replicates and its sd across them.
    pub mean_auc: f64,
    pub sd_auc: f64,
    /// The 95% pigeonhole-bootstrap interval of the mean AUC: test images
    /// and replicates resampled (Owen 2007).
    pub interval: BootstrapInterval,
    /// The DeLong interval of the mean AUC: test-image sampling only, the
    /// trained replicates fixed.
    pub test_sampling: AucInterval,
    /// Means over replicates at each one's validation threshold.
    pub sensitivity: f64,
    pub specificity: f64,
}

/// An arm against the real arm at one budget (`difference` = arm - real).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub real_fraction: f64,
    pub arm: Arm,
    /// Paired DeLong test of the replicates' mean AUCs on the same test images.
    pub paired: PairedComparison,
    /// Holm-adjusted p-value over every comparison of the study.
    pub p_holm: f64,
    /// The paired pigeonhole-bootstrap interval of the difference (test
    /// images and replicates resampled together).
    pub interval: BootstrapInterval,
}

/// How close one GAN's images come to real ones, in the study's feature
/// space: the synthetic set and, as the baseline, the budget's real
/// training images, equally many of each, both against the real test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanQuality {
    pub real_fraction: f64,
    pub replicate: usize,
    /// Images in each compared set (the budget's real images, as many synthetic).
    pub images: usize,
    pub frechet_synthetic: f64,
    pub frechet_real: f64,
    pub kid_synthetic: Kid,
    pub kid_real: Kid,
    /// Density and coverage against the real test set.
    pub synthetic_manifold: DensityCoverage,
    pub real_manifold: DensityCoverage,
    /// GAN-train: test accuracy of the synthetic arm; GAN-test: accuracy of
    /// the real arm on the synthetic set (Shmelkov et al. 2018), both at the
    /// classifier's validation threshold.
    pub gan_train_accuracy: f64,
    pub gan_test_accuracy: f64,
    /// The memorisation audit of the synthetic set against the budget's
    /// real images, the real test split held out.
    pub audit: Audit,
}
