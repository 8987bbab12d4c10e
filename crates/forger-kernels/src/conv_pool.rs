//! A convolution block as one op: convolution (+ bias), (leaky) ReLU and
//! `k x k` max-pooling with stride `k` (floor mode).
//!
//! Run as three ops, the block writes the convolution's output, rewrites it
//! through the activation, reads it to pool, and in the backward writes a
//! full-size gradient for the pooling, reads it with the output to undo the
//! activation, writes that, and reads it three more times (bias, weight and
//! input gradients): about ten passes over the block's largest tensor.
//! Here the convolution's output is pooled a chunk of images at a time,
//! straight after the gemm, while it is in cache, and is never stored
//! whole. The op keeps the pooled output and, per window, where the maximum
//! lies (one byte). The activation is monotone, so pooling after it equals
//! activating after pooling, and its derivative at the maximum is read off
//! the pooled output's sign. The backward rebuilds the convolution's output
//! gradient a chunk at a time, in cache, and takes the bias, weight and
//! input gradients from it in one pass over the batch.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::activation::{gain, LeakyRelu};
use super::biased::BiasedOp;
use super::compute::{chunk, planes, project, split, sum_parts};
use super::gemm::{matmul, with_scratch, zeros, Float, Operand};
use super::geometry::Geometry;
use super::max_pool::{window_maxima, Windows};
use super::{contiguous, cpu_data};

/// Convolution, activation and max-pooling; apply with `apply_op2` (no
/// bias) or `apply_op3`.
pub(crate) struct ConvPoolOp {
    g: Geometry,
    act: LeakyRelu,
    k: usize,
    /// Where each window's maximum lies, as [`window_maxima`] gives it:
    /// written by the forward, read by the backward.
    offsets: Mutex<Vec<u8>>,
}

/// The gradients of one block; the input's only when it is wanted.
struct Grads<T> {
    dx: Option<Vec<T>>,
    dw: Vec<T>,
    db: Vec<T>,
}

impl ConvPoolOp {
    pub fn new(g: Geometry, act: LeakyRelu, k: usize) -> Self {
        Self {
            g,
            act,
            k,
            offsets: Mutex::new(Vec::new()),
        }
    }

    /// Whether the op can pool `g`'s output with a `k x k` window: at least
    /// one window, and window offsets that fit in a byte.
    pub fn fits(g: &Geometry, k: usize) -> bool {
        k > 0 && k * k <= 256 && g.oh >= k && g.ow >= k
    }

    /// Windows per output plane.
    fn windows(&self) -> usize {
        (self.g.oh / self.k) * (self.g.ow / self.k)
    }

    fn output_shape(&self) -> Shape {
        let g = &self.g;
        (g.n, g.c_out, g.oh / self.k, g.ow / self.k).into()
    }

    /// The pooled, activated output and the offsets of the maxima.
    fn forward<T: Float>(&self, x: &[T], w: &[T], bias: Option<&[T]>) -> (Vec<T>, Vec<u8>) {
        let (g, windows) = (&self.g, self.windows());
        let (p, out_len) = (g.positions(), g.c_out * windows);
        let slope = T::from_f64(self.act.slope);
        let mut y = zeros(g.n * out_len);
        let mut offsets = vec![0u8; g.n * out_len];
        let s = split(g.n);
        let step = chunk(g);
        y.par_chunks_mut(s.per_worker * out_len)
            .zip(offsets.par_chunks_mut(s.per_worker * out_len))
            .enumerate()
            .for_each(|(worker, (y, offsets))| {
                let first = worker * s.per_worker;
                let images = y.len() / out_len;
                let lens = (
                    g.patch() * step.min(images) * p,
                    g.c_out * step.min(images) * p,
                );
                with_scratch(lens, |col, z| {
                    for start in (0..images).step_by(step) {
                        let count = step.min(images - start);
                        g.im2col(&x[(first + start) * g.image_len()..], count, col);
                        let z = &mut z[..g.c_out * count * p];
                        project(g, w, bias, col, z, s.gemm_threads);
                        for (i, m) in planes(g.c_out, p, count) {
                            let o = start * out_len + i / p * windows;
                            let (y, offsets) =
                                (&mut y[o..o + windows], &mut offsets[o..o + windows]);
                            window_maxima(&z[m..m + p], (g.oh, g.ow), self.k, y, offsets);
                            for y in y {
                                *y *= gain(*y, slope);
                            }
                        }
                    }
                });
            });
        (y, offsets)
    }

    /// The gradients for the pooled output `y` and its gradient `dy`.
    fn backward<T: Float>(
        &self,
        (x, w): (&[T], &[T]),
        (y, dy): (&[T], &[T]),
        offsets: &[u8],
        want_dx: bool,
    ) -> Grads<T> {
        let (g, windows) = (&self.g, self.windows());
        let (patch, p, in_len) = (g.patch(), g.positions(), g.image_len());
        let out_len = g.c_out * windows;
        let slope = T::from_f64(self.act.slope);
        let index = Windows::new((g.oh, g.ow), self.k);
        let s = split(g.n);
        let step = chunk(g);
        let mut dx = zeros(if want_dx { g.n * in_len } else { 0 });
        let parts: Vec<Option<&mut [T]>> = if want_dx {
            dx.chunks_mut(s.per_worker * in_len).map(Some).collect()
        } else {
            (0..g.n.div_ceil(s.per_worker)).map(|_| None).collect()
        };
        let partials: Vec<(Vec<T>, Vec<T>)> = parts
            .into_par_iter()
            .enumerate()
            .map(|(worker, mut dx)| {
                let first = worker * s.per_worker;
                let images = s.per_worker.min(g.n - first);
                let mut dw = vec![T::zero(); g.c_out * patch];
                let mut db = vec![T::zero(); g.c_out];
                let lens = (patch * step.min(images) * p, g.c_out * step.min(images) * p);
                with_scratch(lens, |col, dz| {
                    for start in (0..images).step_by(step) {
                        let count = step.min(images - start);
                        let cols = count * p;
                        // The convolution's output gradient for this chunk.
                        let dz = &mut dz[..g.c_out * cols];
                        dz.fill(T::zero());
                        for (i, m) in planes(g.c_out, p, count) {
                            let o = (first + start) * out_len + i / p * windows;
                            let c = (i / p) % g.c_out;
                            let window = y[o..o + windows].iter().zip(&dy[o..o + windows]);
                            for (j, ((&y, &d), &at)) in window.zip(&offsets[o..]).enumerate() {
                                let d = d * gain(y, slope);
                                dz[m + index.index(j, at.into())] = d;
                                db[c] += d;
                            }
                        }
                        g.im2col(&x[(first + start) * in_len..], count, col);
                        let dims = (g.c_out, patch, cols);
                        let (lhs, rhs) = (Operand::plain(dz), Operand::transposed(col));
                        matmul(dims, &mut dw, start != 0, lhs, rhs, s.gemm_threads);
                        if let Some(dx) = dx.as_deref_mut() {
                            let dims = (patch, cols, g.c_out);
                            let (lhs, rhs) = (Operand::transposed(w), Operand::plain(dz));
                            matmul(dims, col, false, lhs, rhs, s.gemm_threads);
                            g.col2im(col, count, &mut dx[start * in_len..]);
                        }
                    }
                });
                (dw, db)
            })
            .collect();
        let (dw, db): (Vec<_>, Vec<_>) = partials.into_iter().unzip();
        Grads {
            dx: want_dx.then_some(dx),
            dw: sum_parts(dw, g.c_out * patch),
            db: sum_parts(db, g.c_out),
        }
    }

    fn typed_grads<T: Float>(
        &self,
        x: &Tensor,
        w: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let g = &self.g;
        let grads = {
            let (xs, xl) = x.storage_and_layout();
            let (ws, wl) = w.storage_and_layout();
            let (ys, yl) = y.storage_and_layout();
            let (dys, dyl) = dy.storage_and_layout();
            let offsets = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
            if offsets.len() != y.elem_count() {
                bail!("forger conv-pool: backward before forward");
            }
            self.backward(
                (
                    cpu_data::<T>(&xs, xl, "input")?,
                    cpu_data(&ws, wl, "kernel")?,
                ),
                (
                    cpu_data(&ys, yl, "output")?,
                    cpu_data(&dys, dyl, "gradient")?,
                ),
                &offsets,
                x.track_op(),
            )
        };
        let dev = x.device();
        let dx = match grads.dx {
            Some(dx) => Some(Tensor::from_vec(dx, g.input_shape(), dev)?),
            None => None,
        };
        Ok((
            dx,
            Tensor::from_vec(grads.dw, g.kernel_shape(), dev)?,
            Tensor::from_vec(grads.db, g.c_out, dev)?,
        ))
    }
}

impl BiasedOp for ConvPoolOp {
    fn name(&self) -> &'static str {
        "forger-conv2d-pool"
    }

    fn forward(
        &self,
        (x, xl): (&CpuStorage, &Layout),
        (w, wl): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Float>(
            op: &ConvPoolOp,
            x: (&[T], &Layout),
            w: (&[T], &Layout),
            bias: Option<(&CpuStorage, &Layout)>,
        ) -> Result<(Vec<T>, Vec<u8>)> {
            let bias = match bias {
                Some((s, l)) => Some(contiguous(s.as_slice::<T>()?, l, "bias")?),
                None => None,
            };
            let x = contiguous(x.0, x.1, "input")?;
            Ok(op.forward(x, contiguous(w.0, w.1, "kernel")?, bias))
        }
        let (y, offsets) = match (x, w) {
            (CpuStorage::F32(x), CpuStorage::F32(w)) => {
                let (y, offsets) = run(self, (x, xl), (w, wl), bias)?;
                (CpuStorage::F32(y), offsets)
            }
            (CpuStorage::F64(x), CpuStorage::F64(w)) => {
                let (y, offsets) = run(self, (x, xl), (w, wl), bias)?;
                (CpuStorage::F64(y), offsets)
            }
            _ => bail!(
                "forger conv-pool takes f32 or f64 tensors of one dtype, got {:?} and {:?}",
                x.dtype(),
                w.dtype()
            ),
        };
        *self.offsets.lock().unwrap_or_else(|e| e.into_inner()) = offsets;
        Ok((y, self.output_shape()))
    }

    fn grads(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let grads = match x.dtype() {
            DType::F32 => self.typed_grads::<f32>(x, w, y, &dy)?,
            DType::F64 => self.typed_grads::<f64>(x, w, y, &dy)?,
            other => bail!("forger conv-pool takes f32 or f64, got {other:?}"),
        };
        let wanted = |t: &Tensor| t.track_op();
        Ok((
            grads.0,
            wanted(w).then_some(grads.1),
            bias.filter(|b| wanted(b)).map(|_| grads.2),
        ))
    }
}
