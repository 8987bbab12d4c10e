//! Classification metrics: accuracy, confusion matrix, per-class precision
//! and recall, and for two classes the ROC curve and its area.

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// Counts of (true class, predicted class): `matrix[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
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
    pub threshold: f64,
    pub false_positive_rate: f64,
    pub true_positive_rate: f64,
}

/// The ROC curve from (0, 0) to (1, 1), one point per distinct score.
pub fn roc_curve(labels: &[u32], scores: &[f64]) -> Result<Vec<RocPoint>> {
    let (positives, negatives) = count_classes(labels, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        false_positive_rate: 0.0,
        true_positive_rate: 0.0,
    }];
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            points.push(RocPoint {
                threshold: scores[i],
                false_positive_rate: ratio(fp, negatives),
                true_positive_rate: ratio(tp, positives),
            });
        }
    }
    Ok(points)
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

/// ROC AUC with its DeLong (1988) standard error and a 95% confidence
/// interval `auc +- 1.96 se`, clipped to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AucInterval {
    pub auc: f64,
    pub std_error: f64,
    pub low: f64,
    pub high: f64,
}

/// ROC AUC with a DeLong confidence interval. Ties count one half, as in
/// [`roc_auc`]; a single-class input is an error.
pub fn roc_auc_delong(labels: &[u32], scores: &[f64]) -> Result<AucInterval> {
    count_classes(labels, scores)?;
    let pos: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(&l, _)| l == 1)
        .map(|(_, &s)| s)
        .collect();
    let neg: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(&l, _)| l == 0)
        .map(|(_, &s)| s)
        .collect();
    let psi = |x: f64, y: f64| {
        if x > y {
            1.0
        } else if x == y {
            0.5
        } else {
            0.0
        }
    };
    // Structural components: each positive's share of negatives it beats, and vice versa.
    let v10: Vec<f64> = pos
        .iter()
        .map(|&x| neg.iter().map(|&y| psi(x, y)).sum::<f64>() / neg.len() as f64)
        .collect();
    let v01: Vec<f64> = neg
        .iter()
        .map(|&y| pos.iter().map(|&x| psi(x, y)).sum::<f64>() / pos.len() as f64)
        .collect();
    let auc = v10.iter().sum::<f64>() / pos.len() as f64;
    let variance = |v: &[f64]| {
        if v.len() < 2 {
            return 0.0;
        }
        v.iter().map(|x| (x - auc).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    let se = (variance(&v10) / pos.len() as f64 + variance(&v01) / neg.len() as f64).sqrt();
    Ok(AucInterval {
        auc,
        std_error: se,
        low: (auc - 1.96 * se).max(0.0),
        high: (auc + 1.96 * se).min(1.0),
    })
}

#[cfg(test)]
mod delong_tests {
    use super::*;

    #[test]
    fn delong_matches_a_hand_computation_with_ties() {
        // positives {2, 3}, negatives {1, 2}: V10 = (0.75, 1), V01 = (1, 0.75)
        let ci = roc_auc_delong(&[0, 0, 1, 1], &[1.0, 2.0, 2.0, 3.0]).unwrap();
        assert_eq!(ci.auc, 0.875);
        // var(V10) = var(V01) = 0.03125; se = sqrt(0.03125/2 + 0.03125/2)
        assert!(
            (ci.std_error - 0.03125f64.sqrt()).abs() < 1e-12,
            "{}",
            ci.std_error
        );
        assert!((ci.low - (0.875 - 1.96 * 0.03125f64.sqrt())).abs() < 1e-12);
        assert_eq!(ci.high, 1.0);
        assert_eq!(
            roc_auc_delong(&[0, 1, 0], &[1.0, 2.0, 2.0]).unwrap().auc,
            0.75
        );
        assert!(roc_auc_delong(&[0, 0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn delong_interval_narrows_with_more_data() {
        let make = |n: usize| -> (Vec<u32>, Vec<f64>) {
            let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
            let scores = (0..n)
                .map(|i| (i % 2) as f64 * 0.3 + ((i * 7919) % 101) as f64 / 101.0)
                .collect();
            (labels, scores)
        };
        let (l1, s1) = make(40);
        let (l2, s2) = make(400);
        let small = roc_auc_delong(&l1, &s1).unwrap();
        let large = roc_auc_delong(&l2, &s2).unwrap();
        assert!(large.high - large.low < small.high - small.low);
        assert!((roc_auc(&l2, &s2).unwrap() - large.auc).abs() < 1e-12);
    }
}
