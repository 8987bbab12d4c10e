//! DeLong et al. (1988) for classifiers trained several times (replicates)
//! and scored on the same test images: the mean AUC over replicates with
//! its standard error, the paired test of two arms, and Holm's adjustment
//! for testing several pairs.
//!
//! The mean over replicates of `AUC_r` is itself a two-sample U-statistic
//! whose kernel is the mean of the replicates' kernels, so DeLong's method
//! applies to it with structural components `V10_i = mean_r V10_{i,r}` (one
//! per positive) and `V01_j = mean_r V01_{j,r}` (one per negative), and
//! variance `var(V10) / m + var(V01) / n` (sample variances, `m` positives,
//! `n` negatives). The variance is over test-image sampling with the
//! trained models held fixed. Each replicate's components come from
//! midranks in `O(n log n)` (Sun & Xu 2014): a positive's `V10` is its rank
//! among all scores less its rank among the positives, over `n`.

use serde::{Deserialize, Serialize};

use super::normal::two_sided_p;
use super::{average_ranks, check_replicates, mean, sample_variance, Z_975};
use crate::Result;

/// ROC AUC with its DeLong (1988) standard error and a 95% confidence
/// interval `auc +- 1.959964 se`, clipped to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AucInterval {
    /// The area under the ROC curve.
    pub auc: f64,
    /// Its DeLong standard error.
    pub std_error: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// ROC AUC with a DeLong confidence interval. Ties count one half, as in
/// [`roc_auc`](super::roc_auc); a single-class input is an error.
pub fn roc_auc_delong(labels: &[u32], scores: &[f64]) -> Result<AucInterval> {
    delong_interval(labels, &[scores], "scores")
}

/// Mean ROC AUC over replicates with its DeLong standard error (test-image
/// sampling, the trained models fixed); `replicates[r]` holds replicate
/// `r`'s score for every label. With one replicate this is
/// [`roc_auc_delong`].
pub fn delong_mean(labels: &[u32], replicates: &[Vec<f64>]) -> Result<AucInterval> {
    delong_interval(labels, replicates, "replicates")
}

fn delong_interval<S: AsRef<[f64]>>(
    labels: &[u32],
    replicates: &[S],
    arm: &str,
) -> Result<AucInterval> {
    check_replicates(labels, replicates, arm)?;
    let (v10, v01) = structural_components(labels, replicates);
    let auc = mean(&v10);
    let std_error = (sample_variance(&v10) / v10.len() as f64
        + sample_variance(&v01) / v01.len() as f64)
        .sqrt();
    Ok(AucInterval {
        auc,
        std_error,
        low: (auc - Z_975 * std_error).max(0.0),
        high: (auc + Z_975 * std_error).min(1.0),
    })
}

/// Two arms' mean AUCs compared on the same test images by the paired
/// DeLong test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Mean AUC of arm a over its replicates.
    pub auc_a: f64,
    /// Mean AUC of arm b over its replicates.
    pub auc_b: f64,
    /// `auc_a - auc_b`.
    pub difference: f64,
    /// DeLong standard error of the difference.
    pub std_error: f64,
    /// `difference / std_error`; `None` when the standard error is 0 (every
    /// structural component equal: the test is degenerate, see `p_value`).
    pub z: Option<f64>,
    /// Two-sided p-value of `z` against the standard normal.
    pub p_value: f64,
    /// Lower end of the 95% interval of the difference, `difference - 1.959964 se`.
    pub low: f64,
    /// Upper end of the 95% interval of the difference.
    pub high: f64,
}

/// The paired DeLong test of arm `a`'s mean AUC against arm `b`'s, every
/// replicate of both having scored the same test images (`labels`). The
/// arms may have different numbers of replicates. The difference's
/// structural components are those of `a` less those of `b`; with one
/// replicate per arm this is the classic paired test (pROC's
/// `roc.test(method = "delong")`). When the standard error is 0, `z` is
/// `None` and `p_value` 1 if the AUCs are equal, else 0. The interval is
/// clipped to `[-1, 1]`.
pub fn paired_delong(labels: &[u32], a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<PairedComparison> {
    check_replicates(labels, a, "arm a")?;
    check_replicates(labels, b, "arm b")?;
    let (a10, a01) = structural_components(labels, a);
    let (b10, b01) = structural_components(labels, b);
    let minus =
        |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(x, y)| x - y).collect() };
    let (d10, d01) = (minus(&a10, &b10), minus(&a01, &b01));
    let (auc_a, auc_b) = (mean(&a10), mean(&b10));
    let difference = auc_a - auc_b;
    let std_error = (sample_variance(&d10) / d10.len() as f64
        + sample_variance(&d01) / d01.len() as f64)
        .sqrt();
    let (z, p_value) = if std_error > 0.0 {
        let z = difference / std_error;
        (Some(z), two_sided_p(z))
    } else {
        (None, if difference == 0.0 { 1.0 } else { 0.0 })
    };
    Ok(PairedComparison {
        auc_a,
        auc_b,
        difference,
        std_error,
        z,
        p_value,
        low: (difference - Z_975 * std_error).max(-1.0),
        high: (difference + Z_975 * std_error).min(1.0),
    })
}

/// Holm's (1979) step-down adjusted p-values, in input order: the `k`-th
/// smallest of `n` becomes `max_{j <= k} min(1, (n - j + 1) p_(j))`, so the
/// adjusted values keep the order of the raw ones and never exceed 1.
/// Reject where an adjusted value is below the family-wise level. NaN
/// entries (tests not done) stay NaN and do not count towards `n`, as in
/// R's `p.adjust`.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| !p_values[i].is_nan())
        .collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let tests = order.len();
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((tests - k) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The structural components of the mean AUC over `replicates` (validated):
/// `(V10, V01)`, positives and negatives each in label order.
fn structural_components<S: AsRef<[f64]>>(
    labels: &[u32],
    replicates: &[S],
) -> (Vec<f64>, Vec<f64>) {
    let m = labels.iter().filter(|&&l| l == 1).count();
    let n = labels.len() - m;
    let (mut v10, mut v01) = (vec![0.0; m], vec![0.0; n]);
    for scores in replicates {
        let scores = scores.as_ref();
        let class_scores = |class: u32| -> Vec<f64> {
            labels
                .iter()
                .zip(scores)
                .filter(|(&l, _)| l == class)
                .map(|(_, &s)| s)
                .collect()
        };
        let all = average_ranks(scores);
        let (pos, neg) = (
            average_ranks(&class_scores(1)),
            average_ranks(&class_scores(0)),
        );
        let (mut i, mut j) = (0, 0);
        for (&label, &rank) in labels.iter().zip(&all) {
            // rank - rank within the class = members of the other class
            // below this score, ties counting one half.
            if label == 1 {
                v10[i] += (rank - pos[i]) / n as f64;
                i += 1;
            } else {
                v01[j] += (m as f64 - (rank - neg[j])) / m as f64;
                j += 1;
            }
        }
    }
    let r = replicates.len() as f64;
    for v in v10.iter_mut().chain(&mut v01) {
        *v /= r;
    }
    (v10, v01)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::roc_auc;
    use rand::Rng;

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
        assert!((ci.low - (0.875 - 1.959_964 * 0.03125f64.sqrt())).abs() < 1e-6);
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

    /// DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3), straight
    /// from the definitions, `O(m n)`: the kernel `psi(X, Y)` (1 if X > Y,
    /// 1/2 if equal), here averaged over replicates; `V10(X_i) = 1/n sum_j
    /// psi`, `V01(Y_j) = 1/m sum_i psi`; `S10^{kl} = 1/(m-1) sum_i (V10^k_i
    /// - theta^k)(V10^l_i - theta^l)`, likewise `S01`; `S = S10/m + S01/n`.
    /// Returns the AUCs of a and b and the 2x2 matrix `S`.
    fn naive_delong(labels: &[u32], arms: [&[Vec<f64>]; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
        let psi = |x: f64, y: f64| f64::from(u8::from(x > y)) + 0.5 * f64::from(u8::from(x == y));
        let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 1).collect();
        let neg: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
        let (m, n) = (pos.len() as f64, neg.len() as f64);
        let kernel = |arm: &[Vec<f64>], i: usize, j: usize| {
            arm.iter().map(|s| psi(s[i], s[j])).sum::<f64>() / arm.len() as f64
        };
        let mut v10 = [vec![], vec![]];
        let mut v01 = [vec![], vec![]];
        let mut theta = [0.0; 2];
        for k in 0..2 {
            v10[k] = pos
                .iter()
                .map(|&i| neg.iter().map(|&j| kernel(arms[k], i, j)).sum::<f64>() / n)
                .collect();
            v01[k] = neg
                .iter()
                .map(|&j| pos.iter().map(|&i| kernel(arms[k], i, j)).sum::<f64>() / m)
                .collect();
            theta[k] = v10[k].iter().sum::<f64>() / m;
        }
        let mut s = [[0.0; 2]; 2];
        for k in 0..2 {
            for l in 0..2 {
                let s10: f64 = (0..pos.len())
                    .map(|i| (v10[k][i] - theta[k]) * (v10[l][i] - theta[l]))
                    .sum::<f64>()
                    / (m - 1.0);
                let s01: f64 = (0..neg.len())
                    .map(|j| (v01[k][j] - theta[k]) * (v01[l][j] - theta[l]))
                    .sum::<f64>()
                    / (n - 1.0);
                s[k][l] = s10 / m + s01 / n;
            }
        }
        (theta, s)
    }

    /// Seeded scores on a grid of 0.1 (many ties) that lean towards the label.
    fn tied_scores(labels: &[u32], replicates: usize, stream: &str) -> Vec<Vec<f64>> {
        (0..replicates as u64)
            .map(|r| {
                let mut rng = forger_data::rng::derive(7, stream, r);
                labels
                    .iter()
                    .map(|&l| (f64::from(l) * 3.0 + rng.gen_range(0.0..10.0)).round() / 10.0)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn fast_delong_agrees_with_the_papers_definitions() {
        let mut rng = forger_data::rng::derive(7, "labels", 0);
        let labels: Vec<u32> = (0..150).map(|_| u32::from(rng.gen_bool(0.35))).collect();
        for (ra, rb) in [(1, 1), (3, 3), (3, 2)] {
            let a = tied_scores(&labels, ra, "a");
            let b = tied_scores(&labels, rb, "b");
            let (theta, s) = naive_delong(&labels, [&a, &b]);
            let mean_a = delong_mean(&labels, &a).unwrap();
            assert!((mean_a.auc - theta[0]).abs() < 1e-12);
            assert!((mean_a.std_error - s[0][0].sqrt()).abs() < 1e-12);
            let paired = paired_delong(&labels, &a, &b).unwrap();
            let se = (s[0][0] + s[1][1] - 2.0 * s[0][1]).sqrt();
            assert!((paired.auc_a - theta[0]).abs() < 1e-12);
            assert!((paired.auc_b - theta[1]).abs() < 1e-12);
            assert!(
                (paired.std_error - se).abs() < 1e-12,
                "{} {se}",
                paired.std_error
            );
            assert!((paired.z.unwrap() - (theta[0] - theta[1]) / se).abs() < 1e-9);
        }
    }

    /// pROC's `aSAH` data (Turck et al. 2010, Intensive Care Medicine
    /// 36(1):107-115; shipped with R's pROC): 113 patients, outcome 1 =
    /// "Poor" (41, pROC's cases), S100-beta and the WFNS grade (1-5), both
    /// higher for Poor. Taken from a public test suite that embeds it; its
    /// first rows match `head(aSAH)` as printed in pROC's documentation.
    #[rustfmt::skip]
    const OUTCOME_POOR: [u32; 113] = [
        0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
        0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
        0,
    ];
    #[rustfmt::skip]
    const S100B: [f64; 113] = [
        0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
        0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
        0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
        0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
        0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
        0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
        0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
        0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
        0.48,
    ];
    #[rustfmt::skip]
    const WFNS: [f64; 113] = [
        1., 1., 1., 1., 3., 2., 5., 4., 1., 2., 5., 2., 5., 5., 1., 2., 5., 2., 2., 5., 2., 1.,
        1., 1., 1., 2., 1., 2., 1., 1., 3., 4., 2., 1., 4., 5., 4., 1., 4., 2., 5., 5., 1., 1.,
        2., 4., 1., 1., 2., 5., 5., 2., 1., 2., 5., 1., 2., 2., 2., 1., 5., 1., 1., 2., 5., 2.,
        1., 4., 5., 2., 4., 4., 1., 4., 1., 2., 1., 4., 2., 1., 2., 3., 2., 4., 2., 1., 4., 5.,
        1., 1., 5., 4., 2., 2., 1., 1., 1., 3., 1., 2., 5., 2., 2., 5., 5., 5., 2., 4., 4., 5.,
        1., 1., 1.,
    ];

    #[test]
    fn paired_delong_reproduces_proc_on_asah() {
        assert_eq!(OUTCOME_POOR.iter().sum::<u32>(), 41);
        let (s100b, wfns) = (vec![S100B.to_vec()], vec![WFNS.to_vec()]);
        let test = paired_delong(&OUTCOME_POOR, &s100b, &wfns).unwrap();
        let z = test.z.unwrap();
        // pROC's documented example (?roc.test): roc.test(roc(aSAH$outcome,
        // aSAH$s100b), roc(aSAH$outcome, aSAH$wfns)): "Z = -2.209, p-value =
        // 0.02718", "AUC of roc1 0.7313686, AUC of roc2 0.8236789".
        assert!((test.auc_a - 0.731_368_6).abs() < 5e-8, "{}", test.auc_a);
        assert!((test.auc_b - 0.823_678_9).abs() < 5e-8, "{}", test.auc_b);
        assert!((z - -2.209).abs() < 5e-4, "{z}");
        assert!((test.p_value - 0.027_18).abs() < 5e-6, "{}", test.p_value);
        // The same suite's pROC 1.19.1 output at 17 digits: Z =
        // -2.2089835914409077, p = 0.02717578222918815, var(s100b) =
        // 0.0026686824571724378, var(wfns) = 0.0014699147088236264.
        assert!((z / -2.208_983_591_440_907_7 - 1.0).abs() < 1e-10);
        assert!((test.p_value / 0.027_175_782_229_188_15 - 1.0).abs() < 1e-9);
        let var = |s: &[Vec<f64>]| delong_mean(&OUTCOME_POOR, s).unwrap().std_error.powi(2);
        assert!((var(&s100b) / 0.002_668_682_457_172_438 - 1.0).abs() < 1e-10);
        assert!((var(&wfns) / 0.001_469_914_708_823_626_4 - 1.0).abs() < 1e-10);
    }

    #[test]
    fn paired_delong_of_an_arm_with_itself_is_null() {
        let labels = [0, 1, 0, 1, 1, 0];
        let a = vec![vec![0.1, 0.7, 0.4, 0.9, 0.3, 0.2]];
        let test = paired_delong(&labels, &a, &a).unwrap();
        assert_eq!(
            (test.difference, test.std_error, test.z, test.p_value),
            (0.0, 0.0, None, 1.0)
        );
    }

    #[test]
    fn paired_delong_rejects_bad_input() {
        let labels = [0, 1, 0, 1];
        let good = vec![vec![0.1, 0.7, 0.4, 0.9]];
        let err =
            |a: &[Vec<f64>], b: &[Vec<f64>]| paired_delong(&labels, a, b).unwrap_err().to_string();
        assert!(
            err(&good, &[]).contains("arm b: no replicates"),
            "{}",
            err(&good, &[])
        );
        let short = vec![good[0].clone(), vec![0.1, 0.2]];
        assert!(
            err(&short, &good).contains("arm a, replicate 1"),
            "{}",
            err(&short, &good)
        );
        let nan = vec![vec![0.1, f64::NAN, 0.4, 0.9]];
        assert!(err(&good, &nan).contains("finite"));
        assert!(paired_delong(&[1, 1, 1, 1], &good, &good).is_err());
        assert!(delong_mean(&labels, &[]).is_err());
    }

    #[test]
    fn holm_matches_r_p_adjust() {
        // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (got, want) in adjusted.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((got - want).abs() < 1e-15, "{adjusted:?}");
        }
        // R: p.adjust(c(0.5, NA, 0.01, 0.9), "holm") = 1.00 NA 0.03 1.00
        let with_missing = holm(&[0.5, f64::NAN, 0.01, 0.9]);
        assert_eq!(with_missing[0], 1.0);
        assert!(with_missing[1].is_nan());
        assert!((with_missing[2] - 0.03).abs() < 1e-15);
        assert_eq!(with_missing[3], 1.0);
        assert!(holm(&[]).is_empty());
    }
}
