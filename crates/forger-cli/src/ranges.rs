//! Parsers for the numeric flags, so that every value is checked before
//! any work starts, with clap's message naming the flag and the range.

use std::ops::RangeInclusive;

/// A real number in `range`, finite; `open_low` excludes the lower end.
fn real(text: &str, range: RangeInclusive<f64>, open_low: bool) -> Result<f64, String> {
    let (low, high) = (*range.start(), *range.end());
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    let above = if open_low { v > low } else { v >= low };
    if v.is_finite() && above && v <= high {
        Ok(v)
    } else {
        let bracket = if open_low { '(' } else { '[' };
        Err(format!("{v} is not in {bracket}{low}, {high}]"))
    }
}

/// A learning rate: in (0, 1].
pub fn learning_rate(text: &str) -> Result<f64, String> {
    real(text, 0.0..=1.0, true)
}

/// A share of the images held out (validation or test): in [0, 0.9].
pub fn split_fraction(text: &str) -> Result<f64, String> {
    real(text, 0.0..=0.9, false)
}

/// A fraction or a probability target: in [0, 1].
pub fn fraction(text: &str) -> Result<f64, String> {
    real(text, 0.0..=1.0, false)
}

/// LeCam's weight λ: in [0, 10].
pub fn lecam_weight(text: &str) -> Result<f64, String> {
    real(text, 0.0..=10.0, false)
}

/// DiffAugment's operations: a comma-separated list, or `all`.
pub fn diff_augment(text: &str) -> Result<forger_train::gan::DiffAugment, String> {
    forger_train::gan::DiffAugment::from_ops(text).map_err(|e| e.to_string())
}

/// D's target for real images: in (0, 1].
pub fn target(text: &str) -> Result<f64, String> {
    real(text, 0.0..=1.0, true)
}

/// An improvement threshold: in [0, 1000].
pub fn min_delta(text: &str) -> Result<f64, String> {
    real(text, 0.0..=1000.0, false)
}

/// An image side a GAN takes: 28, 32, 64, 128 or 256 (the DCGAN: 28 or 64).
pub fn gan_side(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(side @ (28 | 32 | 64 | 128 | 256)) => Ok(side),
        _ => Err(format!(
            "`{text}` is not 28, 32, 64, 128 or 256 (the sides a GAN takes; the DCGAN only 28 or 64)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_range_are_refused_with_it() {
        assert_eq!(learning_rate("0.005"), Ok(0.005));
        assert_eq!(learning_rate("0").unwrap_err(), "0 is not in (0, 1]");
        assert!(learning_rate("NaN").is_err() && learning_rate("x").is_err());
        assert_eq!(target("2").unwrap_err(), "2 is not in (0, 1]");
        assert_eq!(split_fraction("0"), Ok(0.0));
        assert!(split_fraction("1").is_err());
        assert_eq!(gan_side("64"), Ok(64));
        assert!(gan_side("100000").is_err());
    }
}
