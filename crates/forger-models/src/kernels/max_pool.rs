//! Max-pooling with a `k x k` window and stride `k` as a custom op whose
//! gradient goes, whole, to the first maximal element of each window.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use rayon::prelude::*;

use super::contiguous;
use super::gemm::Float;

/// `(n, c, h, w) -> (n, c, h / k, w / k)`, floor mode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxPool {
    pub k: usize,
}

/// Calls `f(window, offset, max)` for every `k x k` window (stride `k`,
/// floor mode) of one `h x w` plane, windows in row-major order: the first
/// maximum of the window lies at `offset = dy * k + dx` in it.
pub(crate) fn for_each_max<T: Float>(
    x: &[T],
    (h, w): (usize, usize),
    k: usize,
    mut f: impl FnMut(usize, usize, T),
) {
    let (oh, ow) = (h / k, w / k);
    for oy in 0..oh {
        for ox in 0..ow {
            let corner = oy * k * w + ox * k;
            let (mut best, mut max) = (0, x[corner]);
            for dy in 0..k {
                for (dx, &v) in x[corner + dy * w..][..k].iter().enumerate() {
                    if v > max {
                        (best, max) = (dy * k + dx, v);
                    }
                }
            }
            f(oy * ow + ox, best, max);
        }
    }
}

/// Index in a plane `w` wide of `offset` (as [`for_each_max`] gives it) in
/// window `window`.
pub(crate) fn window_index(window: usize, offset: usize, w: usize, k: usize) -> usize {
    let (oy, ox) = (window / (w / k), window % (w / k));
    (oy * k + offset / k) * w + ox * k + offset % k
}

impl MaxPool {
    fn out_shape(&self, dims: &[usize]) -> Shape {
        (dims[0], dims[1], dims[2] / self.k, dims[3] / self.k).into()
    }

    /// The window maxima, planes in parallel. A running maximum over the
    /// window's rows, without the argmax, so that it vectorizes.
    fn pool<T: Float>(&self, x: &[T], dims: &[usize]) -> Vec<T> {
        let (h, w, k) = (dims[2], dims[3], self.k);
        let (oh, ow) = (h / k, w / k);
        let mut y = vec![T::zero(); self.out_shape(dims).elem_count()];
        y.par_chunks_mut(oh * ow)
            .zip(x.par_chunks(h * w))
            .for_each(|(y, x)| {
                for (oy, out) in y.chunks_exact_mut(ow).enumerate() {
                    for (o, win) in out.iter_mut().zip(x[oy * k * w..].chunks_exact(k)) {
                        *o = win[0];
                    }
                    for dy in 0..k {
                        let row = &x[(oy * k + dy) * w..][..ow * k];
                        for (o, win) in out.iter_mut().zip(row.chunks_exact(k)) {
                            for &v in win {
                                *o = if v > *o { v } else { *o };
                            }
                        }
                    }
                }
            });
        y
    }

    /// The gradient: each window's `dy` to its first maximum, planes in parallel.
    fn unpool<T: Float>(&self, x: &[T], dims: &[usize], dy: &[T]) -> Vec<T> {
        let (h, w) = (dims[2], dims[3]);
        let mut dx = vec![T::zero(); x.len()];
        let plane_out = (h / self.k) * (w / self.k);
        dx.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w))
            .zip(dy.par_chunks(plane_out))
            .for_each(|((dx, x), dy)| {
                for_each_max(x, (h, w), self.k, |o, at, _| {
                    dx[window_index(o, at, w, self.k)] = dy[o];
                });
            });
        dx
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "forger-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l.dims();
        let out = match s {
            CpuStorage::F32(x) => {
                CpuStorage::F32(self.pool(contiguous(x, l, "max-pool input")?, dims))
            }
            CpuStorage::F64(x) => {
                CpuStorage::F64(self.pool(contiguous(x, l, "max-pool input")?, dims))
            }
            _ => bail!("forger max-pool takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, self.out_shape(dims)))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        x.apply_op2_no_bwd(&dy.contiguous()?, &MaxUnpool(*self))
            .map(Some)
    }
}

/// `(x, dy) -> dx` for [`MaxPool`].
struct MaxUnpool(MaxPool);

impl CustomOp2 for MaxUnpool {
    fn name(&self) -> &'static str {
        "forger-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = l1.dims();
        let out = match (s1, s2) {
            (CpuStorage::F32(x), CpuStorage::F32(dy)) => CpuStorage::F32(self.0.unpool(
                contiguous(x, l1, "max-pool input")?,
                dims,
                contiguous(dy, l2, "max-pool gradient")?,
            )),
            (CpuStorage::F64(x), CpuStorage::F64(dy)) => CpuStorage::F64(self.0.unpool(
                contiguous(x, l1, "max-pool input")?,
                dims,
                contiguous(dy, l2, "max-pool gradient")?,
            )),
            _ => bail!(
                "forger max-pool gradient takes f32 or f64, got {:?}",
                s1.dtype()
            ),
        };
        Ok((out, dims.into()))
    }
}
