//! Gradient-norm clipping as PyTorch's `torch.nn.utils.clip_grad_norm_`.

use candle_core::{DType, Tensor};

use crate::Result;

/// Added to the norm before dividing, as PyTorch does.
const NORM_EPS: f64 = 1e-6;

/// The total L2 norm of `grads` (over all their elements together); if it
/// exceeds `max_norm`, each gradient is scaled by `max_norm / (norm +
/// 1e-6)`.
pub(super) fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0.0;
    for g in grads.iter().flatten() {
        sum_sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sum_sq.sqrt();
    let coef = max_norm / (norm + NORM_EPS);
    // `coef >= 1` leaves the gradients as they are (PyTorch multiplies by
    // the clamped 1); NaN (a NaN gradient) spreads as in PyTorch.
    if coef.is_nan() || coef < 1.0 {
        for g in grads.iter_mut().flatten() {
            *g = g.affine(coef, 0.0)?;
        }
    }
    Ok(norm)
}
