//! Classification metrics: accuracy, confusion matrix, per-class precision
//! and recall, and for two classes the ROC curve and its area. Around the
//! area: operating points (Youden's J, `operating_point`), DeLong intervals
//! and paired tests for classifiers trained several times (`paired`, with
//! Holm's adjustment), and the pigeonhole bootstrap over test images and
//! replicates (`bootstrap`); and the exact binomial test against
//! guessing (`binomial_test`), for readers' accuracy.

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

mod binomial_test;
mod bootstrap;
pub(crate) use bootstrap::quantile;
mod normal;
mod operating_point;
mod paired;

pub use binomial_test::binomial_test_half;
pub use bootstrap::{bootstrap_auc_difference, bootstrap_mean_auc, BootstrapInterval};
pub use operating_point::{operating_point, youden_point, OperatingPoint};
pub use paired::{delong_mean, holm, paired_delong, roc_auc_delong, AucInterval, PairedComparison};

/// The standard normal's 97.5% quantile: the half-width of a 95% interval in standard errors.
const Z_975: f64 = 1.959_963_984_540_054;

/// Counts of (true class, predicted class): `matrix[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `matrix[truth][predicted]`: images of class `truth` predicted `predicted`.
    pub matrix: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Tallies predictions against labels for `classes` classes.
    pub fn new(labels: &[u32], predictions: &[u32], classes: usize) -> Self {
        let mut matrix = vec![vec![0u64; classes]; classes];
        for (&t, &p) in labels.iter().zip(predictions) {
            matrix[t as usize][p as usize] += 1;
        }
        Self { matrix }
    }

    /// Fraction of predictions that are right (0 for no predictions).
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.matrix.iter().flatten().sum();
        let right: u64 = (0..self.matrix.len()).map(|i| self.matrix[i][i]).sum();
        ratio(right, total)
    }

    /// Precision of each class: right predictions of it / all predictions of it.
    pub fn precision(&self) -> Vec<f64> {
        (0..self.matrix.len())
            .map(|c| {
                ratio(
                    self.matrix[c][c],
                    self.matrix.iter().map(|row| row[c]).sum(),
                )
            })
            .collect()
    }

    /// Recall of each class: right predictions of it / all images of it.
    pub fn recall(&self) -> Vec<f64> {
        (0..self.matrix.len())
            .map(|c| ratio(self.matrix[c][c], self.matrix[c].iter().sum()))
            .collect()
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Area under the ROC curve for binary labels (1 = positive) and scores
/// (higher = more positive), by the rank-sum (Mann-Whitney) formula with
/// tied scores given their average rank. An error unless both classes occur.
pub fn roc_auc(labels: &[u32], scores: &[f64]) -> Result<f64> {
    let (positives, negatives) = count_classes(labels, scores)?;
    let ranks = average_ranks(scores);
    let rank_sum: f64 = labels
        .iter()
        .zip(&ranks)
        .filter(|(&l, _)| l == 1)
        .map(|(_, r)| r)
        .sum();
    let (p, n) = (positives as f64, negatives as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// One point of a ROC curve: the rates when scores at or above `threshold`
/// are called positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Scores at or above it are called positive.
    pub threshold: f64,
    /// False positives / negatives.
    pub false_positive_rate: f64,
    /// True positives / positives.
    pub true_positive_rate: f64,
}

/// The ROC curve from (0, 0) to (1, 1), one point per distinct score.
pub fn roc_curve(labels: &[u32], scores: &[f64]) -> Result<Vec<RocPoint>> {
    let (positives, negatives, steps) = roc_steps(labels, scores)?;
    let start = RocPoint {
        threshold: f64::INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    };
    Ok(std::iter::once(start)
        .chain(steps.iter().map(|s| RocPoint {
            threshold: s.threshold,
            false_positive_rate: ratio(s.false_positives, negatives),
            true_positive_rate: ratio(s.true_positives, positives),
        }))
        .collect())
}

/// One distinct score of a ROC walk and the positives and negatives scoring
/// at or above it.
struct RocStep {
    threshold: f64,
    true_positives: u64,
    false_positives: u64,
}

/// The class counts `(positives, negatives)` and the ROC walk, one step per
/// distinct score from the highest down.
fn roc_steps(labels: &[u32], scores: &[f64]) -> Result<(u64, u64, Vec<RocStep>)> {
    let (positives, negatives) = count_classes(labels, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut steps = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            steps.push(RocStep {
                threshold: scores[i],
                true_positives: tp,
                false_positives: fp,
            });
        }
    }
    Ok((positives, negatives, steps))
}

/// Validates the scores of classifiers trained several times (replicates)
/// on one set of test `labels`: at least one replicate, and each one a
/// finite score per label with both classes present. Returns the class
/// counts `(positives, negatives)`; `arm` names the replicates in errors.
fn check_replicates<S: AsRef<[f64]>>(
    labels: &[u32],
    replicates: &[S],
    arm: &str,
) -> Result<(u64, u64)> {
    let mut counts = Err(TrainError::Invalid(format!(
        "{arm}: no replicates; need at least one score vector"
    )));
    for (r, scores) in replicates.iter().enumerate() {
        counts = Ok(count_classes(labels, scores.as_ref())
            .map_err(|e| TrainError::Invalid(format!("{arm}, replicate {r}: {e}")))?);
    }
    counts
}

/// The mean of `v` (NaN when empty).
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The sample variance of `v` (denominator `len - 1`; 0 for fewer than two values).
fn sample_variance(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let mu = mean(v);
    v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

fn count_classes(labels: &[u32], scores: &[f64]) -> Result<(u64, u64)> {
    if labels.len() != scores.len() {
        return Err(TrainError::Invalid(format!(
            "ROC needs one score per label: {} labels, {} scores",
            labels.len(),
            scores.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 1) {
        return Err(TrainError::Invalid(format!(
            "ROC needs binary labels (0 or 1), found {bad}"
        )));
    }
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(TrainError::Invalid("ROC scores must be finite".into()));
    }
    let positives = labels.iter().filter(|&&l| l == 1).count() as u64;
    let negatives = labels.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return Err(TrainError::Invalid(format!(
            "ROC AUC is undefined with a single class ({positives} positives, {negatives} negatives)"
        )));
    }
    Ok((positives, negatives))
}

/// 1-based ranks of `scores`, ties sharing their average rank.
fn average_ranks(scores: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // positions start..end hold ranks start+1..=end
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_values_with_ties() {
        assert_eq!(roc_auc(&[0, 1, 0], &[1.0, 2.0, 2.0]).unwrap(), 0.75);
        assert_eq!(
            roc_auc(&[0, 0, 1, 1], &[1.0, 2.0, 2.0, 3.0]).unwrap(),
            0.875
        );
        assert_eq!(roc_auc(&[0, 1], &[0.0, 1.0]).unwrap(), 1.0);
        assert_eq!(roc_auc(&[1, 0], &[0.0, 1.0]).unwrap(), 0.0);
        assert_eq!(roc_auc(&[1, 0, 1, 0], &[0.5; 4]).unwrap(), 0.5);
    }

    #[test]
    fn auc_rejects_one_class_and_bad_input() {
        let err = roc_auc(&[1, 1], &[0.1, 0.2]).unwrap_err().to_string();
        assert!(err.contains("single class"), "{err}");
        assert!(roc_auc(&[0, 1], &[0.1]).is_err());
        assert!(roc_auc(&[0, 2], &[0.1, 0.2]).is_err());
        assert!(roc_auc(&[0, 1], &[0.1, f64::NAN]).is_err());
    }

    #[test]
    fn roc_curve_runs_corner_to_corner_and_its_area_is_the_auc() {
        let labels = [0, 0, 1, 1, 0, 1];
        let scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.9];
        let curve = roc_curve(&labels, &scores).unwrap();
        let first = curve[0];
        let last = curve[curve.len() - 1];
        assert_eq!(
            (first.false_positive_rate, first.true_positive_rate),
            (0.0, 0.0)
        );
        assert_eq!(
            (last.false_positive_rate, last.true_positive_rate),
            (1.0, 1.0)
        );
        let area: f64 = curve
            .windows(2)
            .map(|w| {
                (w[1].false_positive_rate - w[0].false_positive_rate)
                    * (w[1].true_positive_rate + w[0].true_positive_rate)
                    / 2.0
            })
            .sum();
        assert!((area - roc_auc(&labels, &scores).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn confusion_precision_recall() {
        let cm = ConfusionMatrix::new(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3);
        assert_eq!(cm.matrix, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]);
        assert_eq!(cm.accuracy(), 0.6);
        assert_eq!(cm.precision(), vec![0.5, 2.0 / 3.0, 0.0]);
        assert_eq!(cm.recall(), vec![0.5, 1.0, 0.0]);
    }
}
