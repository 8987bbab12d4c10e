//! Operating points of a binary classifier: sensitivity and specificity at
//! a threshold, and the threshold that maximises Youden's J.

use serde::{Deserialize, Serialize};

use super::{count_classes, ratio, roc_steps};
use crate::{Result, TrainError};

/// Sensitivity and specificity when scores >= threshold are called positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Scores at or above it are called positive.
    pub threshold: f64,
    /// True positives / positives.
    pub sensitivity: f64,
    /// True negatives / negatives.
    pub specificity: f64,
}

impl OperatingPoint {
    fn from_counts(threshold: f64, tp: u64, fp: u64, positives: u64, negatives: u64) -> Self {
        Self {
            threshold,
            sensitivity: ratio(tp, positives),
            specificity: ratio(negatives - fp, negatives),
        }
    }
}

/// The operating point maximising Youden's J = sensitivity + specificity -
/// 1 (Youden 1950) over the ROC curve's distinct scores, so the threshold
/// is always one of `scores` (finite). J is compared exactly, in counts; of
/// tied maxima the highest threshold wins, which is the tied point with the
/// highest specificity. Labels and scores are validated as for
/// [`roc_auc`](super::roc_auc).
pub fn youden_point(labels: &[u32], scores: &[f64]) -> Result<OperatingPoint> {
    let (positives, negatives, steps) = roc_steps(labels, scores)?;
    // J * positives * negatives = tp * negatives - fp * positives; steps run
    // from the highest threshold down, so a strict > keeps the first of ties.
    let scaled_j = |tp: u64, fp: u64| {
        i128::from(tp) * i128::from(negatives) - i128::from(fp) * i128::from(positives)
    };
    let mut best = &steps[0];
    for step in &steps[1..] {
        if scaled_j(step.true_positives, step.false_positives)
            > scaled_j(best.true_positives, best.false_positives)
        {
            best = step;
        }
    }
    Ok(OperatingPoint::from_counts(
        best.threshold,
        best.true_positives,
        best.false_positives,
        positives,
        negatives,
    ))
}

/// Sensitivity and specificity when scores at or above `threshold` are
/// called positive; `threshold` may be infinite (everything one class) but
/// not NaN. Labels and scores are validated as for
/// [`roc_auc`](super::roc_auc).
pub fn operating_point(labels: &[u32], scores: &[f64], threshold: f64) -> Result<OperatingPoint> {
    let (positives, negatives) = count_classes(labels, scores)?;
    if threshold.is_nan() {
        return Err(TrainError::Invalid(
            "operating point threshold is NaN; expected a number (scores >= it are positive)"
                .into(),
        ));
    }
    let called = |class: u32| {
        labels
            .iter()
            .zip(scores)
            .filter(|&(&l, &s)| l == class && s >= threshold)
            .count() as u64
    };
    Ok(OperatingPoint::from_counts(
        threshold,
        called(1),
        called(0),
        positives,
        negatives,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youden_picks_the_best_threshold_by_hand() {
        // scores  0.1 0.3 0.35 0.4 0.8 0.8 0.9, labels 0 0 1 0 1 0 1 (3 pos, 4 neg).
        // threshold: tp fp -> J = tp/3 - fp/4
        //   0.9:  1 0 -> 0.333;  0.8: 2 1 -> 0.417;  0.4: 2 2 -> 0.167
        //   0.35: 3 2 -> 0.5;    0.3: 3 3 -> 0.25;   0.1: 3 4 -> 0
        let labels = [0, 0, 1, 0, 1, 0, 1];
        let scores = [0.1, 0.3, 0.35, 0.4, 0.8, 0.8, 0.9];
        let best = youden_point(&labels, &scores).unwrap();
        assert_eq!(
            best,
            OperatingPoint {
                threshold: 0.35,
                sensitivity: 1.0,
                specificity: 0.5
            }
        );
        assert_eq!(operating_point(&labels, &scores, 0.35).unwrap(), best);
    }

    #[test]
    fn youden_breaks_ties_towards_specificity() {
        // 2 pos, 2 neg: threshold 0.9 gives tp 1 fp 0 (J = 0.5), 0.2 gives
        // tp 2 fp 1 (J = 0.5), 0.5 gives tp 1 fp 1, 0.1 gives tp 2 fp 2.
        let labels = [1, 0, 1, 0];
        let scores = [0.9, 0.5, 0.2, 0.1];
        let best = youden_point(&labels, &scores).unwrap();
        assert_eq!(
            (best.threshold, best.sensitivity, best.specificity),
            (0.9, 0.5, 1.0)
        );
    }

    #[test]
    fn operating_point_at_the_extremes_and_bad_input() {
        let labels = [0, 1, 0, 1];
        let scores = [0.2, 0.6, 0.4, 0.8];
        let all = operating_point(&labels, &scores, f64::NEG_INFINITY).unwrap();
        assert_eq!((all.sensitivity, all.specificity), (1.0, 0.0));
        let none = operating_point(&labels, &scores, f64::INFINITY).unwrap();
        assert_eq!((none.sensitivity, none.specificity), (0.0, 1.0));
        let err = operating_point(&labels, &scores, f64::NAN)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NaN"), "{err}");
        assert!(youden_point(&[1, 1], &[0.1, 0.2]).is_err());
        assert!(youden_point(&labels, &[0.1]).is_err());
    }
}
