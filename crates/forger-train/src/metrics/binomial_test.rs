//! The exact two-sided binomial test against a fair coin: is `count` right
//! out of `total` better (or worse) than guessing?

use crate::audit::binomial::cdf;

/// The exact two-sided p-value of `count` successes in `total` trials when
/// each succeeds with probability 1/2: the probability of an outcome at
/// least as far from `total / 2` as `count`, `min(1, 2 P(X <= min(k, n - k)))`
/// (the distribution is symmetric, so this is also the sum over outcomes no
/// more likely than `count`). 1 for no trials; `count` above `total` is
/// taken as `total`.
pub fn binomial_test_half(count: usize, total: usize) -> f64 {
    let count = count.min(total);
    let tail = count.min(total - count);
    if 2 * tail == total {
        return 1.0;
    }
    (2.0 * cdf(tail, total, 0.5)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_p_values() {
        // 9 of 10: P(X >= 9) = (10 + 1) / 1024, doubled.
        assert!((binomial_test_half(9, 10) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((binomial_test_half(1, 10) - 22.0 / 1024.0).abs() < 1e-12);
        // 7 of 10: P(X >= 7) = (120 + 45 + 10 + 1) / 1024 = 176 / 1024, doubled.
        assert!((binomial_test_half(7, 10) - 352.0 / 1024.0).abs() < 1e-12);
        // 20 of 20: 2 / 2^20.
        assert!((binomial_test_half(20, 20) - 2.0 / 1_048_576.0).abs() < 1e-15);
        // The middle, and next to it with an odd total: every outcome counts.
        assert_eq!(binomial_test_half(5, 10), 1.0);
        assert_eq!(binomial_test_half(2, 5), 1.0);
        assert_eq!(binomial_test_half(0, 0), 1.0);
        // 0 of 1 and 1 of 1: both outcomes are as extreme.
        assert_eq!(binomial_test_half(1, 1), 1.0);
        // 60 of 100 (R: binom.test(60, 100)$p.value = 0.05688793).
        assert!((binomial_test_half(60, 100) - 0.056_887_93).abs() < 1e-8);
    }
}
