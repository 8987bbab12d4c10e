//! The three convolution primitives on contiguous slices: forward
//! (im2col + gemm), input gradient (gemm + col2im) and weight gradient
//! (im2col + gemm accumulated over the batch).
//!
//! The batch is split into one contiguous range of images per thread; each
//! thread works through its range in chunks whose im2col matrix stays within
//! [`COL_BUDGET`] elements, so that the gemm sees many columns (several
//! images at once) while the buffers stay in cache. Inside a thread the gemm
//! is single-threaded; with one image per call it gets all the threads.

use rayon::prelude::*;

use super::gemm::{matmul, with_scratch, zeros, Float, Operand};
use super::geometry::Geometry;

/// Largest im2col chunk, in elements (1 MiB of f32), so that the chunk and
/// the gemm's packed copy of it stay in a core's L2 cache: W2 ran 11-13%
/// faster than with 4 MiB chunks (W1 and W3 unchanged). Tests use a tiny one, so that their
/// small shapes go through both the one-image and the several-images paths.
const COL_BUDGET: usize = if cfg!(test) { 1 << 9 } else { 1 << 18 };

/// Fewest gemm columns per chunk, where the batch has the images: with
/// fewer the gemm runs on slivers (the DCGAN's 7x7 layers, 49 columns per
/// image, would get one image per chunk from the budget alone).
const MIN_COLS: usize = if cfg!(test) { 16 } else { 256 };

/// How the batch is shared out: images per thread, and threads left for each gemm.
pub(super) struct Split {
    pub per_worker: usize,
    pub gemm_threads: usize,
}

/// How `n` images are shared out among rayon's threads.
pub(super) fn split(n: usize) -> Split {
    let threads = candle_core::utils::get_num_threads().max(1);
    let workers = threads.min(n).max(1);
    Split {
        per_worker: n.div_ceil(workers).max(1),
        gemm_threads: if workers == 1 { threads } else { 1 },
    }
}

/// Images per im2col chunk.
pub(super) fn chunk(g: &Geometry) -> usize {
    let p = g.positions().max(1);
    (COL_BUDGET / (g.patch() * p).max(1))
        .max(MIN_COLS.div_ceil(p))
        .clamp(1, g.n.max(1))
}

/// Pairs of offsets `(in images, in matrix)` of the `positions`-long planes
/// of `count` images of `channels` planes, laid out as `(image, channel)`
/// in the images and as a `channels x (count * positions)` matrix.
pub(super) fn planes(
    channels: usize,
    positions: usize,
    count: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let cols = count * positions;
    (0..count).flat_map(move |img| {
        (0..channels).map(move |c| ((img * channels + c) * positions, c * cols + img * positions))
    })
}

/// The `channels x (count * positions)` matrix of `count` images; borrowed
/// when there is one image, whose layout is already that matrix.
fn as_matrix<'a, T: Copy>(
    images: &'a [T],
    buf: &'a mut [T],
    channels: usize,
    positions: usize,
    count: usize,
) -> &'a [T] {
    let len = channels * positions;
    if count == 1 {
        return &images[..len];
    }
    for (i, m) in planes(channels, positions, count) {
        buf[m..m + positions].copy_from_slice(&images[i..i + positions]);
    }
    &buf[..count * len]
}

/// `y = conv(x, w) + bias`, shape [`Geometry::output_shape`].
pub(crate) fn forward<T: Float>(g: &Geometry, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (k, p, out_len) = (g.patch(), g.positions(), g.c_out * g.positions());
    let mut y = zeros(g.n * out_len);
    let s = split(g.n);
    let step = chunk(g);
    y.par_chunks_mut(s.per_worker * out_len)
        .enumerate()
        .for_each(|(worker, y)| {
            let first = worker * s.per_worker;
            let images = y.len() / out_len;
            let lens = (k * step.min(images) * p, g.c_out * step.min(images) * p);
            with_scratch(lens, |col, out| {
                for start in (0..images).step_by(step) {
                    let count = step.min(images - start);
                    g.im2col(&x[(first + start) * g.image_len()..], count, col);
                    let cols = count * p;
                    // One image: the gemm writes the output in place.
                    let dst = if count == 1 {
                        &mut y[start * out_len..][..out_len]
                    } else {
                        &mut out[..g.c_out * cols]
                    };
                    project(g, w, bias, col, dst, s.gemm_threads);
                    if count > 1 {
                        for (i, m) in planes(g.c_out, p, count) {
                            y[start * out_len + i..][..p].copy_from_slice(&out[m..m + p]);
                        }
                    }
                }
            });
        });
    y
}

/// `dst (c_out x cols) = W * col [+ bias]` for one chunk's im2col matrix
/// `col`: the bias is written first and the gemm adds to it.
pub(super) fn project<T: Float>(
    g: &Geometry,
    w: &[T],
    bias: Option<&[T]>,
    col: &[T],
    dst: &mut [T],
    threads: usize,
) {
    let cols = dst.len() / g.c_out;
    if let Some(bias) = bias {
        for (row, &b) in dst.chunks_mut(cols).zip(bias) {
            row.fill(b);
        }
    }
    let dims = (g.c_out, cols, g.patch());
    matmul(
        dims,
        dst,
        bias.is_some(),
        Operand::plain(w),
        Operand::plain(col),
        threads,
    );
}

/// `dx` for `y = conv(x, w)` given `dy`, shape [`Geometry::input_shape`].
pub(crate) fn input_grad<T: Float>(g: &Geometry, dy: &[T], w: &[T]) -> Vec<T> {
    let (k, p, out_len, in_len) = (
        g.patch(),
        g.positions(),
        g.c_out * g.positions(),
        g.image_len(),
    );
    let mut dx = zeros(g.n * in_len);
    let s = split(g.n);
    let step = chunk(g);
    dx.par_chunks_mut(s.per_worker * in_len)
        .enumerate()
        .for_each(|(worker, dx)| {
            let first = worker * s.per_worker;
            let images = dx.len() / in_len;
            let lens = (k * step.min(images) * p, g.c_out * step.min(images) * p);
            with_scratch(lens, |col, dyt| {
                for start in (0..images).step_by(step) {
                    let count = step.min(images - start);
                    let dyt = as_matrix(&dy[(first + start) * out_len..], dyt, g.c_out, p, count);
                    let dims = (k, count * p, g.c_out);
                    matmul(
                        dims,
                        col,
                        false,
                        Operand::transposed(w),
                        Operand::plain(dyt),
                        s.gemm_threads,
                    );
                    g.col2im(col, count, &mut dx[start * in_len..]);
                }
            });
        });
    dx
}

/// `dw` for `y = conv(x, w)` given `dy`, shape [`Geometry::kernel_shape`].
pub(crate) fn weight_grad<T: Float>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (k, p, out_len) = (g.patch(), g.positions(), g.c_out * g.positions());
    let s = split(g.n);
    let step = chunk(g);
    let workers: Vec<usize> = (0..g.n.div_ceil(s.per_worker)).collect();
    let partials: Vec<Vec<T>> = workers
        .into_par_iter()
        .map(|worker| {
            let first = worker * s.per_worker;
            let images = s.per_worker.min(g.n - first);
            let mut dw = vec![T::zero(); g.c_out * k];
            let lens = (k * step.min(images) * p, g.c_out * step.min(images) * p);
            with_scratch(lens, |col, dyt| {
                for start in (first..first + images).step_by(step) {
                    let count = step.min(first + images - start);
                    g.im2col(&x[start * g.image_len()..], count, col);
                    let dyt = as_matrix(&dy[start * out_len..], dyt, g.c_out, p, count);
                    let dims = (g.c_out, k, count * p);
                    let accumulate = start != first;
                    matmul(
                        dims,
                        &mut dw,
                        accumulate,
                        Operand::plain(dyt),
                        Operand::transposed(col),
                        s.gemm_threads,
                    );
                }
            });
            dw
        })
        .collect();
    sum_parts(partials, g.c_out * k)
}

/// The element-wise sum of `len`-long partial results.
pub(super) fn sum_parts<T: Float>(parts: impl IntoIterator<Item = Vec<T>>, len: usize) -> Vec<T> {
    let mut parts = parts.into_iter();
    let mut sum = parts.next().unwrap_or_else(|| vec![T::zero(); len]);
    for part in parts {
        for (a, b) in sum.iter_mut().zip(part) {
            *a += b;
        }
    }
    sum
}

/// `db` for `y = conv(x, w) + b` given `dy`: the sum of each output channel,
/// over blocks of images in parallel, added in order (so the same on every
/// run). (Candle's `sum` over dims 0, 2 and 3 takes a strided path several
/// times slower than this.)
pub(crate) fn bias_grad<T: Float>(g: &Geometry, dy: &[T]) -> Vec<T> {
    let (c, p) = (g.c_out, g.positions());
    let image = c * p;
    if image == 0 {
        return vec![T::zero(); c];
    }
    let partials: Vec<Vec<T>> = dy
        .par_chunks(image * IMAGES_PER_SUM)
        .map(|images| {
            let mut db = vec![T::zero(); c];
            for image in images.chunks_exact(image) {
                for (d, plane) in db.iter_mut().zip(image.chunks_exact(p)) {
                    *d += sum(plane);
                }
            }
            db
        })
        .collect();
    sum_parts(partials, c)
}

/// Images per parallel task of [`bias_grad`].
const IMAGES_PER_SUM: usize = 16;

/// The sum of `v` in [`LANES`] partial sums, which vectorize (one running
/// sum waits on each addition).
fn sum<T: Float>(v: &[T]) -> T {
    let mut lanes = [T::zero(); LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l += x;
        }
    }
    lanes.iter().chain(rest).fold(T::zero(), |a, &b| a + b)
}

/// Independent partial sums of [`sum`].
const LANES: usize = 8;
