//! `x * factors` for constant factors (a dropout mask) as a custom op whose
//! gradient goes to `x` alone: Candle's `mul` also computes the gradient of
//! the other operand, a full-size product nobody reads.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous;
use super::gemm::Float;

/// Elements per parallel task.
const TASK: usize = 1 << 15;

/// Multiplies element-wise by `factors` (in the tensor's logical order).
pub(crate) struct ConstantMul {
    pub factors: Vec<f32>,
}

impl ConstantMul {
    fn apply<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut y = vec![T::zero(); x.len()];
        y.par_chunks_mut(TASK)
            .zip(x.par_chunks(TASK).zip(self.factors.par_chunks(TASK)))
            .for_each(|(y, (x, f))| {
                for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
                    *y = x * T::from_f64(f64::from(f));
                }
            });
        y
    }
}

impl CustomOp1 for ConstantMul {
    fn name(&self) -> &'static str {
        "forger-constant-mul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        if l.shape().elem_count() != self.factors.len() {
            bail!(
                "constant mul: {} factors for a tensor of shape {:?}",
                self.factors.len(),
                l.dims()
            );
        }
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(self.apply(contiguous(x, l, "input")?)),
            CpuStorage::F64(x) => CpuStorage::F64(self.apply(contiguous(x, l, "input")?)),
            _ => bail!("forger constant mul takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    /// `dx = dy * factors`.
    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let op = ConstantMul {
            factors: self.factors.clone(),
        };
        dy.contiguous()?.apply_op1_no_bwd(&op).map(Some)
    }
}
