//! The exact (Clopper-Pearson 1934) interval of a binomial proportion.

use serde::{Deserialize, Serialize};

/// A share `k / n` with its exact 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    pub count: usize,
    pub total: usize,
    pub share: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    /// `count` of `total` with the Clopper-Pearson interval: the `p` at
    /// which `P(X >= count) = 2.5%` and at which `P(X <= count) = 2.5%`.
    pub fn new(count: usize, total: usize) -> Self {
        let share = if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        };
        let low = if count == 0 {
            0.0
        } else {
            // P(X >= k | p) grows with p.
            solve(|p| 1.0 - cdf(count - 1, total, p), 0.025)
        };
        let high = if count >= total {
            1.0
        } else {
            // P(X <= k | p) falls as p grows: solve 1 - cdf = 0.975.
            solve(|p| 1.0 - cdf(count, total, p), 0.975)
        };
        Self {
            count,
            total,
            share,
            low,
            high,
        }
    }
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`, summed in log space.
pub(crate) fn cdf(k: usize, n: usize, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let ln_n = ln_factorial(n);
    (0..=k.min(n))
        .map(|i| {
            (ln_n - ln_factorial(i) - ln_factorial(n - i) + i as f64 * lp + (n - i) as f64 * lq)
                .exp()
        })
        .sum::<f64>()
        .min(1.0)
}

/// `ln(n!)`, summed (exact enough for the sample sizes here).
fn ln_factorial(n: usize) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// The `p` in (0, 1) where the increasing `f` reaches `target`, by bisection.
fn solve(f: impl Fn(f64) -> f64, target: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_its_closed_forms_and_definition() {
        // k = 0: the upper bound solves (1 - p)^n = 0.025 (the "rule of three" family).
        let none = Proportion::new(0, 10);
        assert_eq!(none.low, 0.0);
        assert!(
            (none.high - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-9,
            "{}",
            none.high
        );
        // k = n: the lower bound solves p^n = 0.025.
        let all = Proportion::new(20, 20);
        assert!((all.low - 0.025f64.powf(1.0 / 20.0)).abs() < 1e-9);
        assert_eq!(all.high, 1.0);
        // Symmetry: lower(k, n) = 1 - upper(n - k, n).
        let (a, b) = (Proportion::new(7, 50), Proportion::new(43, 50));
        assert!((a.low - (1.0 - b.high)).abs() < 1e-9);
        // k = 1 of 100: at the upper bound, P(X <= 1) = (1-p)^100 + 100 p (1-p)^99 = 0.025.
        let one = Proportion::new(1, 100);
        let p = one.high;
        let tail = (1.0 - p).powi(100) + 100.0 * p * (1.0 - p).powi(99);
        assert!((tail - 0.025).abs() < 1e-9, "{tail}");
        // At the lower bound, P(X >= 1) = 1 - (1-p)^100 = 0.025.
        assert!((1.0 - (1.0 - one.low).powi(100) - 0.025).abs() < 1e-9);
        assert_eq!(one.share, 0.01);
    }
}
