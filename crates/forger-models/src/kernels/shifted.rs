//! Stride-1 convolutions on small planes as one gemm per kernel tap and
//! output row, in a batch-inner layout, skipping the taps that read padding.
//!
//! An im2col matrix holds every tap of every output position, padding
//! included: for a 5x5 kernel on a 7x7 plane with padding 2 (the DCGAN
//! generator's first layer, half of its arithmetic) 31% of the gemm's work
//! multiplies zeros. Here the images are first laid out as
//! `(channels, rows, columns, images)`, so that for one tap `(ky, kx)` and
//! one output row the output positions that read the input, and the input
//! positions they read, are both one contiguous block of columns; each
//! such block is one gemm with the tap's `c_out x c_in` matrix. Nothing
//! reads padding and no im2col or col2im pass is made; the layout changes
//! are one pass each. On W3 (the DCGAN benchmark) this ran 4-6% faster than
//! im2col, though the gemms, at 100-220 columns, run below the im2col
//! gemm's speed.

use std::ops::Range;

use rayon::prelude::*;

use super::compute::{split, sum_parts};
use super::gemm::{matmul, matmul_rows, with_scratch, Float, Operand};
use super::geometry::{valid, Geometry};

/// Largest plane (input and output positions) taken: the layout changes and
/// buffers grow with the plane, while the share of padding falls with it.
const MAX_PLANE: usize = 256;

/// Whether [`forward`], [`input_grad`] and [`weight_grad`] take `g`.
pub(super) fn applies(g: &Geometry) -> bool {
    g.stride == 1 && g.h * g.w <= MAX_PLANE && g.positions() <= MAX_PLANE
}

/// Where one tap reads the input from one output row: the tap's index, its
/// output row, the input row it reads, and the output and input column
/// ranges (of one length).
struct Run {
    tap: usize,
    out_row: usize,
    in_row: usize,
    out_cols: Range<usize>,
    in_start: usize,
}

/// Every [`Run`] of `g` (stride 1) that reads some input.
fn runs(g: &Geometry) -> Vec<Run> {
    let mut runs = Vec::new();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let cols = valid(g.ow, g.w, g.pad_left, kx, 1);
            if cols.is_empty() {
                continue;
            }
            for oy in valid(g.oh, g.h, g.pad_top, ky, 1) {
                runs.push(Run {
                    tap: ky * g.kw + kx,
                    out_row: oy,
                    in_row: oy + ky - g.pad_top,
                    in_start: cols.start + kx - g.pad_left,
                    out_cols: cols.clone(),
                });
            }
        }
    }
    runs
}

/// Element offsets, in batch-inner buffers of `count` images, of a run's
/// output block and input block, and its length in elements.
fn offsets(g: &Geometry, run: &Run, count: usize) -> (usize, usize, usize) {
    (
        (run.out_row * g.ow + run.out_cols.start) * count,
        (run.in_row * g.w + run.in_start) * count,
        run.out_cols.len() * count,
    )
}

/// `(count, channels, plane)` images to `(channels, plane, count)`.
fn to_batch_inner<T: Copy>(
    images: &[T],
    channels: usize,
    plane: usize,
    count: usize,
    out: &mut [T],
) {
    for (img, image) in images
        .chunks_exact(channels * plane)
        .take(count)
        .enumerate()
    {
        for (i, &v) in image.iter().enumerate() {
            out[i * count + img] = v;
        }
    }
}

/// The inverse of [`to_batch_inner`].
fn from_batch_inner<T: Copy>(
    inner: &[T],
    channels: usize,
    plane: usize,
    count: usize,
    images: &mut [T],
) {
    for (img, image) in images
        .chunks_exact_mut(channels * plane)
        .take(count)
        .enumerate()
    {
        for (i, v) in image.iter_mut().enumerate() {
            *v = inner[i * count + img];
        }
    }
}

/// The kernel `w` (`c_out x c_in x taps`) tap by tap, `taps x c_out x
/// c_in`, so that each tap's matrix is contiguous (read in place, its
/// entries lie `taps` apart and the gemm's packing crawls).
fn by_tap<T: Float>(g: &Geometry, w: &[T]) -> Vec<T> {
    let taps = g.kh * g.kw;
    let tap_len = g.c_out * g.c_in;
    let mut out = vec![T::zero(); taps * tap_len];
    for (i, kernel) in w.chunks_exact(taps).enumerate() {
        for (tap, &v) in kernel.iter().enumerate() {
            out[tap * tap_len + i] = v;
        }
    }
    out
}

/// Runs `f(first, count, out)` on each thread's range of images, `out`
/// being its `count * out_len` slice of the result.
fn per_worker<T: Float>(
    n: usize,
    out_len: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out = vec![T::zero(); n * out_len];
    if out.is_empty() {
        return out;
    }
    let per_worker = split(n).per_worker;
    out.par_chunks_mut(per_worker * out_len)
        .enumerate()
        .for_each(|(worker, out)| f(worker * per_worker, out.len() / out_len, out));
    out
}

/// Which way [`propagate`] runs through the convolution.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Input to output, with the kernel as it is.
    Forward,
    /// Output gradient to input gradient, with the kernel transposed.
    Backward,
}

/// `dst = [bias +]` the sum over all runs of the tap's matrix times the
/// run's block of `src`, one range of images per thread: the forward, or
/// the input gradient.
fn propagate<T: Float>(
    g: &Geometry,
    src: &[T],
    w: &[T],
    direction: Direction,
    bias: Option<&[T]>,
) -> Vec<T> {
    let input = (g.c_in, g.h * g.w);
    let output = (g.c_out, g.positions());
    let backward = direction == Direction::Backward;
    let ((sc, sp), (dc, dp)) = if backward {
        (output, input)
    } else {
        (input, output)
    };
    let threads = split(g.n).gemm_threads;
    let w = by_tap(g, w);
    let tap_len = g.c_out * g.c_in;
    per_worker(g.n, dc * dp, |first, count, dst| {
        with_scratch((sc * sp * count, dc * dp * count), |st, dt| {
            to_batch_inner(&src[first * sc * sp..], sc, sp, count, st);
            // The bias first; the gemms add to it.
            for (c, plane) in dt.chunks_exact_mut(dp * count).enumerate() {
                plane.fill(bias.map_or(T::zero(), |b| b[c]));
            }
            for run in runs(g) {
                let (out_at, in_at, len) = offsets(g, &run, count);
                let (src_at, dst_at) = if backward {
                    (out_at, in_at)
                } else {
                    (in_at, out_at)
                };
                let tap = &w[run.tap * tap_len..][..tap_len];
                matmul_rows(
                    (dc, len, sc),
                    (&mut dt[dst_at..], dp * count),
                    true,
                    if backward {
                        Operand::transposed(tap)
                    } else {
                        Operand::plain(tap)
                    },
                    Operand::strided(&st[src_at..], sp * count, 1),
                    threads,
                );
            }
            from_batch_inner(dt, dc, dp, count, dst);
        });
    })
}

/// `y = conv(x, w) + bias`, shape [`Geometry::output_shape`].
pub(super) fn forward<T: Float>(g: &Geometry, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    propagate(g, x, w, Direction::Forward, bias)
}

/// `dx` for `y = conv(x, w)` given `dy`, shape [`Geometry::input_shape`].
pub(super) fn input_grad<T: Float>(g: &Geometry, dy: &[T], w: &[T]) -> Vec<T> {
    propagate(g, dy, w, Direction::Backward, None)
}

/// `dw` for `y = conv(x, w)` given `dy`, shape [`Geometry::kernel_shape`].
pub(super) fn weight_grad<T: Float>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (ip, op) = (g.h * g.w, g.positions());
    let (in_len, out_len, taps) = (g.c_in * ip, g.c_out * op, g.kh * g.kw);
    let s = split(g.n);
    let tap_len = g.c_out * g.c_in;
    let workers: Vec<usize> = (0..g.n.div_ceil(s.per_worker)).collect();
    // Per thread, the gradient tap by tap: `taps x c_out x c_in`.
    let partials = workers.into_par_iter().map(|worker| {
        let first = worker * s.per_worker;
        let count = s.per_worker.min(g.n - first);
        let mut dw = vec![T::zero(); taps * tap_len];
        with_scratch((in_len * count, out_len * count), |xt, dyt| {
            to_batch_inner(&x[first * in_len..], g.c_in, ip, count, xt);
            to_batch_inner(&dy[first * out_len..], g.c_out, op, count, dyt);
            for run in runs(g) {
                let (out_at, in_at, len) = offsets(g, &run, count);
                matmul(
                    (g.c_out, g.c_in, len),
                    &mut dw[run.tap * tap_len..][..tap_len],
                    true,
                    Operand::strided(&dyt[out_at..], op * count, 1),
                    Operand::strided(&xt[in_at..], 1, ip * count),
                    s.gemm_threads,
                );
            }
        });
        dw
    });
    let by_tap = sum_parts(partials.collect::<Vec<_>>(), taps * tap_len);
    let mut dw = vec![T::zero(); taps * tap_len];
    for (tap, block) in by_tap.chunks_exact(tap_len).enumerate() {
        for (i, &v) in block.iter().enumerate() {
            dw[i * taps + tap] = v;
        }
    }
    dw
}
