//! ReLU and LeakyReLU as one custom op, forward and backward each a single
//! pass. Candle's `leaky_relu` is five tensor ops forward (zeros, maximum,
//! minimum, scale, add) and about ten backward, each allocating a tensor of
//! the input's size; its `relu` backward is three (compare, cast, multiply).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous;
use super::gemm::{zeros, Float};

/// Elements per parallel task: below this, one thread does it all.
const TASK: usize = 1 << 15;

/// `x` for `x > 0`, `slope * x` otherwise (ReLU for slope 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeakyRelu {
    pub slope: f64,
}

/// The LeakyReLU's derivative where the input (or, the sign being the
/// same, the output) is `v`: 1 for `v > 0`, `slope` elsewhere. `v` times it
/// is the activation; the output gradient times it, the input gradient.
#[inline(always)]
pub(crate) fn gain<T: Float>(v: T, slope: T) -> T {
    T::if_positive(v, T::one(), slope)
}

impl LeakyRelu {
    fn forward<T: Float>(&self, x: &[T]) -> Vec<T> {
        let slope = T::from_f64(self.slope);
        let mut y = zeros(x.len());
        y.par_chunks_mut(TASK)
            .zip(x.par_chunks(TASK))
            .for_each(|(y, x)| {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x * gain(x, slope);
                }
            });
        y
    }

    /// Applies the activation to `y` in place.
    pub(crate) fn apply_in_place<T: Float>(&self, y: &mut [T]) {
        let slope = T::from_f64(self.slope);
        y.par_chunks_mut(TASK).for_each(|y| {
            for y in y {
                *y *= gain(*y, slope);
            }
        });
    }

    /// The gradient op for `(x, dy) -> dx`. Since the activation keeps the
    /// sign (slope >= 0), the output `y` can stand in for `x`.
    pub(crate) fn grad(self) -> LeakyReluGrad {
        LeakyReluGrad(self)
    }

    /// `dx = dy` where `x > 0`, `slope * dy` elsewhere (at 0 too, as PyTorch).
    fn backward<T: Float>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        let slope = T::from_f64(self.slope);
        let mut dx = zeros(x.len());
        dx.par_chunks_mut(TASK)
            .zip(x.par_chunks(TASK).zip(dy.par_chunks(TASK)))
            .for_each(|(dx, (x, dy))| {
                for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                    *dx = dy * gain(x, slope);
                }
            });
        dx
    }
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "forger-leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(self.forward(contiguous(x, l, "input")?)),
            CpuStorage::F64(x) => CpuStorage::F64(self.forward(contiguous(x, l, "input")?)),
            _ => bail!("forger leaky-relu takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        x.apply_op2_no_bwd(&dy.contiguous()?, &LeakyReluGrad(*self))
            .map(Some)
    }
}

/// `(x, dy) -> dx` for [`LeakyRelu`].
pub(crate) struct LeakyReluGrad(LeakyRelu);

impl CustomOp2 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "forger-leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(dy)) => CpuStorage::F32(
                self.0
                    .backward(contiguous(x, l1, "input")?, contiguous(dy, l2, "gradient")?),
            ),
            (CpuStorage::F64(x), CpuStorage::F64(dy)) => CpuStorage::F64(
                self.0
                    .backward(contiguous(x, l1, "input")?, contiguous(dy, l2, "gradient")?),
            ),
            _ => bail!(
                "forger leaky-relu gradient takes f32 or f64 of one dtype, got {:?} and {:?}",
                s1.dtype(),
                s2.dtype()
            ),
        };
        Ok((out, l1.shape().clone()))
    }
}
