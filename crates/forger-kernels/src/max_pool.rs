//! Max-pooling with a `k x k` window and stride `k` as a custom op whose
//! gradient goes, whole, to the first maximal element of each window.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use rayon::prelude::*;

use super::contiguous;
use super::gemm::{zeros, Float};

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

/// The maxima of [`for_each_max`]'s windows into `maxes` and their offsets
/// into `offsets`, window by window. 2x2 windows, the common case, take a
/// branchless path over pairs of rows that the compiler vectorizes.
pub(crate) fn window_maxima<T: Float>(
    x: &[T],
    (h, w): (usize, usize),
    k: usize,
    maxes: &mut [T],
    offsets: &mut [u8],
) {
    if k != 2 {
        for_each_max(x, (h, w), k, |o, at, max| {
            maxes[o] = max;
            offsets[o] = at as u8;
        });
        return;
    }
    let ow = w / 2;
    let rows = maxes.chunks_exact_mut(ow).zip(offsets.chunks_exact_mut(ow));
    for (oy, (maxes, offsets)) in rows.enumerate() {
        let (top, bottom) = (&x[2 * oy * w..][..2 * ow], &x[(2 * oy + 1) * w..][..2 * ow]);
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for ((m, at), (t, b)) in maxes.iter_mut().zip(offsets.iter_mut()).zip(windows) {
            let (mut max, mut best) = (t[0], 0);
            for (v, i) in [(t[1], 1), (b[0], 2), (b[1], 3)] {
                let greater = v > max;
                max = if greater { v } else { max };
                best = if greater { i } else { best };
            }
            (*m, *at) = (max, best);
        }
    }
}

/// Where the entries of a plane's windows lie: the entry at `offset` (as
/// [`for_each_max`] gives it) of window `window` is at
/// `corners[window] + taps[offset]`; tables, not divisions, in hot loops.
pub(crate) struct Windows {
    corners: Vec<usize>,
    taps: Vec<usize>,
}

impl Windows {
    /// The `k x k` windows of an `h x w` plane.
    pub fn new((h, w): (usize, usize), k: usize) -> Self {
        let (oh, ow) = (h / k, w / k);
        Self {
            corners: (0..oh * ow).map(|o| (o / ow * w + o % ow) * k).collect(),
            taps: (0..k * k).map(|at| at / k * w + at % k).collect(),
        }
    }

    /// The plane index of entry `offset` of window `window`.
    pub fn index(&self, window: usize, offset: usize) -> usize {
        self.corners[window] + self.taps[offset]
    }
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
        let mut y = zeros(self.out_shape(dims).elem_count());
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
        let mut dx = zeros(x.len());
        let plane_out = (h / self.k) * (w / self.k);
        let windows = Windows::new((h, w), self.k);
        dx.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w))
            .zip(dy.par_chunks(plane_out))
            .for_each(|((dx, x), dy)| {
                for_each_max(x, (h, w), self.k, |o, at, _| {
                    dx[windows.index(o, at)] = dy[o];
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
