//! The pigeonhole bootstrap (Owen 2007, "The pigeonhole bootstrap", Annals
//! of Applied Statistics 1(2):386-411) for the mean AUC of a classifier
//! trained several times: test images and replicates are resampled
//! independently, with replacement, so the interval covers both the
//! sampling of test images and the variance between trained replicates.
//! Images are drawn within each class (as many positives and negatives as
//! the test set has), so every resample has both. The statistic is the mean
//! over the drawn replicates of each one's AUC on the drawn images, a
//! duplicated image counting as often as it was drawn and ties one half.
//!
//! Each replicate's scores are sorted once; a resample's AUC is then one
//! `O(n)` walk of that order with the images' draw counts as weights.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{check_replicates, sample_variance};
use crate::{Result, TrainError};

/// The generator stream of the resamples: `(seed, STREAM, k)` draws resample `k`.
const STREAM: &str = "pigeonhole-bootstrap";

/// Fewest resamples accepted.
const MIN_RESAMPLES: usize = 100;

/// A bootstrap estimate with its standard error and percentile 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapInterval {
    /// The statistic on the original data (every image and replicate once).
    pub estimate: f64,
    /// Standard deviation of the statistic over the resamples.
    pub std_error: f64,
    /// 2.5% quantile of the resampled statistics.
    pub low: f64,
    /// 97.5% quantile of the resampled statistics.
    pub high: f64,
    /// Resamples drawn.
    pub resamples: usize,
}

/// Pigeonhole-bootstrap interval of the mean AUC over `replicates`
/// (`replicates[r]`: replicate `r`'s score for every label), from
/// `resamples` (at least 100) resamples seeded by `seed`. Quantiles
/// interpolate linearly between order statistics (R's type 7).
pub fn bootstrap_mean_auc(
    labels: &[u32],
    replicates: &[Vec<f64>],
    resamples: usize,
    seed: u64,
) -> Result<BootstrapInterval> {
    check_replicates(labels, replicates, "replicates")?;
    pigeonhole(labels, &[(replicates, 1.0)], resamples, seed)
}

/// Paired: the same image draw for both arms; replicate r of a is paired
/// with replicate r of b (requires equal counts), drawn together. The
/// statistic is the mean AUC of `a` less that of `b`; with one seed the
/// draws are those [`bootstrap_mean_auc`] makes for either arm alone.
pub fn bootstrap_auc_difference(
    labels: &[u32],
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    resamples: usize,
    seed: u64,
) -> Result<BootstrapInterval> {
    check_replicates(labels, a, "arm a")?;
    check_replicates(labels, b, "arm b")?;
    if a.len() != b.len() {
        return Err(TrainError::Invalid(format!(
            "the paired bootstrap pairs replicate r of arm a with replicate r of arm b, so the \
             arms need equal replicate counts; a has {}, b has {}",
            a.len(),
            b.len()
        )));
    }
    pigeonhole(labels, &[(a, 1.0), (b, -1.0)], resamples, seed)
}

/// The bootstrap of `sum over arms of sign * mean AUC`, the arms (validated,
/// equal replicate counts) sharing every image and replicate draw.
fn pigeonhole(
    labels: &[u32],
    arms: &[(&[Vec<f64>], f64)],
    resamples: usize,
    seed: u64,
) -> Result<BootstrapInterval> {
    if resamples < MIN_RESAMPLES {
        return Err(TrainError::Invalid(format!(
            "the bootstrap needs at least {MIN_RESAMPLES} resamples, got {resamples}: its 2.5% \
             and 97.5% quantiles are read off the sorted resamples (2000 is usual)"
        )));
    }
    let sorted: Vec<Vec<SortedScores>> = arms
        .iter()
        .map(|(replicates, _)| replicates.iter().map(|s| SortedScores::new(s)).collect())
        .collect();
    let statistic = |weights: &[u64], drawn: &[usize]| -> f64 {
        arms.iter()
            .zip(&sorted)
            .map(|((_, sign), replicates)| {
                let total: f64 = drawn
                    .iter()
                    .map(|&r| replicates[r].weighted_auc(labels, weights))
                    .sum();
                sign * total / drawn.len() as f64
            })
            .sum()
    };
    let replicates = arms[0].0.len();
    let every: Vec<usize> = (0..replicates).collect();
    let estimate = statistic(&vec![1; labels.len()], &every);

    let class = |c: u32| -> Vec<usize> { (0..labels.len()).filter(|&i| labels[i] == c).collect() };
    let strata = [class(1), class(0)];
    let mut weights = vec![0u64; labels.len()];
    let mut drawn = vec![0usize; replicates];
    let mut stats: Vec<f64> = (0..resamples as u64)
        .map(|k| {
            let mut rng = forger_data::rng::derive(seed, STREAM, k);
            weights.fill(0);
            for stratum in &strata {
                for _ in 0..stratum.len() {
                    weights[stratum[rng.gen_range(0..stratum.len())]] += 1;
                }
            }
            for r in &mut drawn {
                *r = rng.gen_range(0..replicates);
            }
            statistic(&weights, &drawn)
        })
        .collect();
    let std_error = sample_variance(&stats).sqrt();
    stats.sort_by(f64::total_cmp);
    Ok(BootstrapInterval {
        estimate,
        std_error,
        low: quantile(&stats, 0.025),
        high: quantile(&stats, 0.975),
        resamples,
    })
}

/// The `p` quantile of `sorted` (non-empty), interpolating linearly between
/// order statistics (Hyndman & Fan's type 7, R's default).
pub(crate) fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let below = h.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

/// One replicate's images in ascending score order, and where each run of
/// tied scores ends in that order.
struct SortedScores {
    order: Vec<usize>,
    tie_ends: Vec<usize>,
}

impl SortedScores {
    fn new(scores: &[f64]) -> Self {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let tie_ends = (1..=order.len())
            .filter(|&k| k == order.len() || scores[order[k]] != scores[order[k - 1]])
            .collect();
        Self { order, tie_ends }
    }

    /// The AUC with image `i` counted `weights[i]` times, ties one half:
    /// for each run of tied scores, its positive weight times (the negative
    /// weight below it plus half its own). Counted in integers (exact while
    /// twice the positive weight times the negative stays below 2^53), so
    /// with unit weights this is [`roc_auc`](super::roc_auc) to the bit.
    fn weighted_auc(&self, labels: &[u32], weights: &[u64]) -> f64 {
        let (mut negatives_below, mut positives, mut twice_wins) = (0u64, 0u64, 0u64);
        let mut start = 0;
        for &end in &self.tie_ends {
            let (mut pos, mut neg) = (0, 0);
            for &i in &self.order[start..end] {
                if labels[i] == 1 {
                    pos += weights[i];
                } else {
                    neg += weights[i];
                }
            }
            twice_wins += pos * (2 * negatives_below + neg);
            negatives_below += neg;
            positives += pos;
            start = end;
        }
        twice_wins as f64 / (2 * positives * negatives_below) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{delong_mean, paired_delong, roc_auc};
    use rand_distr::StandardNormal;

    /// `n` labels (a fraction `prevalence` positive) and, per shift, scores
    /// from the binormal model: negatives N(0, 1), positives N(shift, 1),
    /// whose AUC is Phi(shift / sqrt 2).
    fn binormal(
        n: usize,
        prevalence: f64,
        shifts: &[f64],
        stream: &str,
    ) -> (Vec<u32>, Vec<Vec<f64>>) {
        let mut rng = forger_data::rng::derive(11, stream, 0);
        let labels: Vec<u32> = (0..n)
            .map(|_| u32::from(rng.gen_bool(prevalence)))
            .collect();
        let replicates = shifts
            .iter()
            .map(|&shift| {
                labels
                    .iter()
                    .map(|&l| f64::from(l) * shift + rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect();
        (labels, replicates)
    }

    #[test]
    fn weighted_auc_is_roc_auc_with_unit_and_integer_weights() {
        let mut rng = forger_data::rng::derive(3, "weights", 0);
        let labels: Vec<u32> = (0..300).map(|_| u32::from(rng.gen_bool(0.4))).collect();
        // A coarse grid of scores, so there are many ties.
        let scores: Vec<f64> = labels
            .iter()
            .map(|&l| f64::from(rng.gen_range(0..20u32) + 4 * l) / 4.0)
            .collect();
        let sorted = SortedScores::new(&scores);
        let auc = roc_auc(&labels, &scores).unwrap();
        assert_eq!(sorted.weighted_auc(&labels, &vec![1; labels.len()]), auc);
        let weights: Vec<u64> = (0..labels.len()).map(|_| rng.gen_range(0..4)).collect();
        let (mut dup_labels, mut dup_scores) = (Vec::new(), Vec::new());
        for ((&l, &s), &w) in labels.iter().zip(&scores).zip(&weights) {
            for _ in 0..w {
                dup_labels.push(l);
                dup_scores.push(s);
            }
        }
        assert_eq!(
            sorted.weighted_auc(&labels, &weights),
            roc_auc(&dup_labels, &dup_scores).unwrap()
        );
    }

    #[test]
    fn one_replicate_bootstrap_error_matches_delong() {
        // 4,000 images of a binormal model (AUC Phi(1/sqrt 2) = 0.76): with
        // the models fixed, the stratified bootstrap and DeLong estimate the
        // same image-sampling variance.
        let (labels, replicates) = binormal(4000, 0.3, &[1.0], "one");
        let boot = bootstrap_mean_auc(&labels, &replicates, 2000, 5).unwrap();
        let delong = delong_mean(&labels, &replicates).unwrap();
        assert_eq!(boot.estimate, roc_auc(&labels, &replicates[0]).unwrap());
        let ratio = boot.std_error / delong.std_error;
        assert!(
            (0.9..1.1).contains(&ratio),
            "bootstrap {} delong {}",
            boot.std_error,
            delong.std_error
        );
        assert!(
            boot.low < boot.estimate && boot.estimate < boot.high,
            "{boot:?}"
        );
        assert_eq!(boot.resamples, 2000);
    }

    #[test]
    fn replicate_spread_dominates_on_a_large_test_set() {
        // Replicates whose AUCs differ (positives shifted 0.5 ... 2, AUCs 0.64
        // ... 0.92) on 4,000 images: the image-sampling error (about 0.008)
        // is small beside the replicates' spread, so the bootstrap sd nears
        // that of the mean of R replicates drawn from R: sd_pop(AUC_r)/sqrt(R).
        let (labels, replicates) = binormal(4000, 0.5, &[0.5, 1.0, 1.5, 2.0], "spread");
        let aucs: Vec<f64> = replicates
            .iter()
            .map(|s| roc_auc(&labels, s).unwrap())
            .collect();
        let r = aucs.len() as f64;
        let mean = aucs.iter().sum::<f64>() / r;
        let sd_pop = (aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / r).sqrt();
        let boot = bootstrap_mean_auc(&labels, &replicates, 1000, 9).unwrap();
        assert!((boot.estimate - mean).abs() < 1e-12);
        let ratio = boot.std_error / (sd_pop / r.sqrt());
        assert!(
            (0.85..1.15).contains(&ratio),
            "bootstrap {} expected {}",
            boot.std_error,
            sd_pop / r.sqrt()
        );
        assert!(
            boot.low < boot.estimate && boot.estimate < boot.high,
            "{boot:?}"
        );
    }

    #[test]
    fn paired_difference_with_one_replicate_matches_paired_delong() {
        let (labels, mut replicates) = binormal(3000, 0.4, &[1.0, 1.3], "pair");
        let b = vec![replicates.pop().unwrap()];
        let a = replicates;
        let boot = bootstrap_auc_difference(&labels, &a, &b, 2000, 1).unwrap();
        let delong = paired_delong(&labels, &a, &b).unwrap();
        assert!((boot.estimate - delong.difference).abs() < 1e-15);
        let ratio = boot.std_error / delong.std_error;
        assert!(
            (0.9..1.1).contains(&ratio),
            "bootstrap {} delong {}",
            boot.std_error,
            delong.std_error
        );
        assert!(
            boot.low < boot.estimate && boot.estimate < boot.high,
            "{boot:?}"
        );
    }

    #[test]
    fn seeded_and_reproducible() {
        let (labels, replicates) = binormal(300, 0.5, &[0.8, 1.0, 1.2], "seed");
        let first = bootstrap_mean_auc(&labels, &replicates, 200, 42).unwrap();
        assert_eq!(
            first,
            bootstrap_mean_auc(&labels, &replicates, 200, 42).unwrap()
        );
        assert_ne!(
            first,
            bootstrap_mean_auc(&labels, &replicates, 200, 43).unwrap()
        );
        let same = bootstrap_auc_difference(&labels, &replicates, &replicates, 200, 42).unwrap();
        assert_eq!(
            (same.estimate, same.std_error, same.low, same.high),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let (labels, replicates) = binormal(50, 0.5, &[1.0, 1.0], "bad");
        let err = bootstrap_mean_auc(&labels, &replicates, 99, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 100 resamples"), "{err}");
        let err = bootstrap_auc_difference(&labels, &replicates, &replicates[..1], 100, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("equal replicate counts"), "{err}");
        assert!(bootstrap_mean_auc(&labels, &[], 100, 0).is_err());
        assert!(bootstrap_mean_auc(&labels[1..], &replicates, 100, 0).is_err());
        assert!(bootstrap_mean_auc(&[1; 50], &replicates, 100, 0).is_err());
    }
}
