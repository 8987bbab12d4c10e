//! Convolutions on small planes as one gemm per kernel tap and output
//! row, in a batch-inner layout, skipping the taps that read padding.
//!
//! An im2col matrix holds every tap of every output position, padding
//! included: for a 5x5 kernel on a 7x7 plane with padding 2 (the DCGAN
//! generator's first layer, half of its arithmetic) 31% of the gemm's work
//! multiplies zeros, for the 5x5 stride-2 layers from 14x14 to 7x7 16%.
//! Here the images are first laid out as `(channels, rows, columns,
//! images)`, so that for one tap `(ky, kx)` and one output row the output
//! positions that read the input, and the input positions they read, are
//! both one contiguous block of columns; each such block is one gemm with
//! the tap's `c_out x c_in` matrix. With stride `s` the input's rows and
//! columns are first split by their remainder mod `s` ([`Phases`]), so
//! that the columns one tap reads, `s` apart in the image, are adjacent.
//! Nothing reads padding and no im2col or col2im pass is made; the layout
//! changes are one pass each, moving 16 images at a time. On W3 (the DCGAN
//! benchmark) the stride-1 layer through here made the step 4-6% faster
//! than through im2col, the stride-2 layers 17% more, though the gemms, at
//! 100-450 columns, run below the im2col gemm's speed.

use std::ops::Range;

use rayon::prelude::*;

use super::compute::split;
use super::gemm::{matmul, matmul_rows, with_scratch, zeros, Float, Operand};
use super::geometry::{valid, Geometry};

/// Largest plane (input and output positions) taken: the layout changes and
/// buffers grow with the plane, while the share of padding falls with it.
const MAX_PLANE: usize = 256;

/// Images moved together by the layout changes: a cache line of f32.
const GROUP: usize = 16;

/// Largest stride taken: the input splits into `stride^2` phases.
const MAX_STRIDE: usize = 2;

#[cfg(test)]
thread_local! {
    static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sends this thread's convolutions to im2col even where this module
/// applies, so that tests cover both paths.
#[cfg(test)]
pub(super) fn set_off(off: bool) {
    OFF.with(|o| o.set(off));
}

/// Whether [`forward`], [`input_grad`] and [`weight_grad`] take `g`.
pub(super) fn applies(g: &Geometry) -> bool {
    #[cfg(test)]
    if OFF.with(|o| o.get()) {
        return false;
    }
    g.stride <= MAX_STRIDE && g.h * g.w <= MAX_PLANE && g.positions() <= MAX_PLANE
}

/// Where each input position lies in the batch-inner layout: with stride
/// `s`, each channel's plane is split into `s x s` phases (rows, then
/// columns, by their remainder mod `s`), each `rows x cols`. Stride 1 has
/// one phase, the plane itself.
struct Phases {
    s: usize,
    rows: usize,
    cols: usize,
}

impl Phases {
    fn new(g: &Geometry) -> Self {
        Self {
            s: g.stride,
            rows: g.h.div_ceil(g.stride),
            cols: g.w.div_ceil(g.stride),
        }
    }

    /// Slots per channel (some unused where `s` does not divide the plane).
    fn len(&self) -> usize {
        self.s * self.s * self.rows * self.cols
    }

    /// The slot of input position `(y, x)` within its channel.
    fn slot(&self, y: usize, x: usize) -> usize {
        let s = self.s;
        ((y % s * s + x % s) * self.rows + y / s) * self.cols + x / s
    }

    /// The slot of every input position of a `h x w` plane, row by row.
    fn slots(&self, h: usize, w: usize) -> Vec<usize> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| self.slot(y, x)))
            .collect()
    }
}

/// Where one tap reads the input from some output rows: the tap's index,
/// the first output row and the number of rows, the output columns that
/// read the input, and the slot of the first input position read (the
/// others follow it). Several rows make one run where their blocks join
/// up in both layouts: the tap reads from whole output rows, and the
/// input's rows (of its phase) are as long as the output's.
struct Run {
    tap: usize,
    out_row: usize,
    rows: usize,
    out_cols: Range<usize>,
    in_slot: usize,
}

/// Every [`Run`] of `g` that reads some input.
fn runs(g: &Geometry, phases: &Phases) -> Vec<Run> {
    let mut runs = Vec::new();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let cols = valid(g.ow, g.w, g.pad_left, kx, g.stride);
            let rows = valid(g.oh, g.h, g.pad_top, ky, g.stride);
            if cols.is_empty() || rows.is_empty() {
                continue;
            }
            let joined = cols.len() == g.ow && phases.cols == g.ow;
            let step = if joined { rows.len() } else { 1 };
            for oy in rows.clone().step_by(step) {
                let (y, x) = (
                    oy * g.stride + ky - g.pad_top,
                    cols.start * g.stride + kx - g.pad_left,
                );
                runs.push(Run {
                    tap: ky * g.kw + kx,
                    out_row: oy,
                    rows: step,
                    out_cols: cols.clone(),
                    in_slot: phases.slot(y, x),
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
        run.in_slot * count,
        run.rows * run.out_cols.len() * count,
    )
}

/// How one side of the convolution (its input or its output) is laid out
/// batch-inner: `channels` planes of `slots.len()` positions, position `i`
/// of a plane going to slot `slots[i]` of `len` per channel.
struct Side<'a> {
    channels: usize,
    slots: &'a [usize],
    len: usize,
}

impl Side<'_> {
    /// Elements of one image.
    fn image(&self) -> usize {
        self.channels * self.slots.len()
    }

    /// `count` images `(count, channels, plane)` to `(channels, slots,
    /// count)`, [`GROUP`] images at a time, so that each group writes whole
    /// cache lines (one image at a time, each write is to another line, and
    /// the buffer, megabytes, outgrows the cache between images).
    fn pack<T: Copy>(&self, images: &[T], count: usize, out: &mut [T]) {
        let (plane, image) = (self.slots.len(), self.image());
        for first in (0..count).step_by(GROUP) {
            let group = &images[first * image..][..GROUP.min(count - first) * image];
            for c in 0..self.channels {
                let out = &mut out[c * self.len * count..][..self.len * count];
                for (p, &slot) in self.slots.iter().enumerate() {
                    let dst = &mut out[slot * count + first..];
                    for (d, v) in dst
                        .iter_mut()
                        .zip(group[c * plane + p..].iter().step_by(image))
                    {
                        *d = *v;
                    }
                }
            }
        }
    }

    /// The inverse of [`Self::pack`] (unused slots are not read).
    fn unpack<T: Copy>(&self, inner: &[T], count: usize, images: &mut [T]) {
        let (plane, image) = (self.slots.len(), self.image());
        for first in (0..count).step_by(GROUP) {
            let group = &mut images[first * image..][..GROUP.min(count - first) * image];
            for c in 0..self.channels {
                let inner = &inner[c * self.len * count..][..self.len * count];
                for (p, &slot) in self.slots.iter().enumerate() {
                    let src = &inner[slot * count + first..];
                    for (d, v) in group[c * plane + p..].iter_mut().step_by(image).zip(src) {
                        *d = *v;
                    }
                }
            }
        }
    }
}

/// The batch-inner layout of one convolution: the input's phases and the
/// slot of every input and output position.
struct Plan {
    phases: Phases,
    in_slots: Vec<usize>,
    out_slots: Vec<usize>,
}

impl Plan {
    fn new(g: &Geometry) -> Self {
        let phases = Phases::new(g);
        Self {
            in_slots: phases.slots(g.h, g.w),
            out_slots: (0..g.positions()).collect(),
            phases,
        }
    }

    /// The input and output sides of `g`.
    fn sides(&self, g: &Geometry) -> (Side<'_>, Side<'_>) {
        (
            Side {
                channels: g.c_in,
                slots: &self.in_slots,
                len: self.phases.len(),
            },
            Side {
                channels: g.c_out,
                slots: &self.out_slots,
                len: g.positions(),
            },
        )
    }
}

/// Kernels per parallel task of the re-layouts between a kernel's own
/// layout and the tap-by-tap one.
const KERNELS_PER_TASK: usize = 4096;

/// The kernel `w` (`c_out x c_in x taps`) tap by tap, `taps x c_out x
/// c_in`, so that each tap's matrix is contiguous (read in place, its
/// entries lie `taps` apart and the gemm's packing crawls).
fn by_tap<T: Float>(g: &Geometry, w: &[T]) -> Vec<T> {
    let taps = g.kh * g.kw;
    let mut out = zeros(w.len());
    for_kernel_blocks(&mut out, taps, |first, block| {
        for (tap, out) in block.into_iter().enumerate() {
            let column = w[first * taps + tap..].iter().step_by(taps);
            for (o, &v) in out.iter_mut().zip(column) {
                *o = v;
            }
        }
    });
    out
}

/// Runs `f(first, block)` in parallel on blocks of [`KERNELS_PER_TASK`]
/// kernels of the tap-by-tap `out` (`taps x kernels`), `block[tap]` being
/// that tap's entries of kernels `first..`.
fn for_kernel_blocks<T: Float>(
    out: &mut [T],
    taps: usize,
    f: impl Fn(usize, Vec<&mut [T]>) + Sync,
) {
    let kernels = out.len() / taps.max(1);
    if kernels == 0 {
        return;
    }
    let mut blocks: Vec<Vec<&mut [T]>> = (0..kernels.div_ceil(KERNELS_PER_TASK))
        .map(|_| Vec::with_capacity(taps))
        .collect();
    for tap in out.chunks_exact_mut(kernels) {
        for (block, part) in blocks.iter_mut().zip(tap.chunks_mut(KERNELS_PER_TASK)) {
            block.push(part);
        }
    }
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, block)| f(b * KERNELS_PER_TASK, block));
}

/// Runs `f(first, count, out)` on each thread's range of images, `out`
/// being its `count * out_len` slice of the result.
fn per_worker<T: Float>(
    n: usize,
    out_len: usize,
    f: impl Fn(usize, usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out = zeros(n * out_len);
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
    let plan = Plan::new(g);
    let (input, output) = plan.sides(g);
    let backward = direction == Direction::Backward;
    let (from, to) = if backward {
        (output, input)
    } else {
        (input, output)
    };
    let (sc, sp, dc, dp) = (from.channels, from.len, to.channels, to.len);
    let threads = split(g.n).gemm_threads;
    let w = by_tap(g, w);
    let tap_len = g.c_out * g.c_in;
    // Runs writing one block of the destination one after the other, so
    // that the block stays in cache while the taps add to it.
    let mut runs = runs(g, &plan.phases);
    runs.sort_by_key(|r| {
        if backward {
            r.in_slot
        } else {
            r.out_row * g.ow + r.out_cols.start
        }
    });
    per_worker(g.n, to.image(), |first, count, dst| {
        with_scratch((sc * sp * count, dc * dp * count), |st, dt| {
            from.pack(&src[first * from.image()..], count, st);
            // The bias first; the gemms add to it. (Slots no input position
            // has are zeroed too, and never read back.)
            for (c, plane) in dt.chunks_exact_mut(dp * count).enumerate() {
                plane.fill(bias.map_or(T::zero(), |b| b[c]));
            }
            for run in &runs {
                let (out_at, in_at, len) = offsets(g, run, count);
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
            to.unpack(dt, count, dst);
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
    let plan = Plan::new(g);
    let (input, output) = plan.sides(g);
    let (ip, op) = (input.len, output.len);
    let taps = g.kh * g.kw;
    let runs = runs(g, &plan.phases);
    let s = split(g.n);
    let tap_len = g.c_out * g.c_in;
    let workers: Vec<usize> = (0..g.n.div_ceil(s.per_worker)).collect();
    // Per thread, the gradient tap by tap: `taps x c_out x c_in`.
    let partials = workers.into_par_iter().map(|worker| {
        let first = worker * s.per_worker;
        let count = s.per_worker.min(g.n - first);
        let mut dw = vec![T::zero(); taps * tap_len];
        with_scratch((g.c_in * ip * count, g.c_out * op * count), |xt, dyt| {
            input.pack(&x[first * input.image()..], count, xt);
            output.pack(&dy[first * output.image()..], count, dyt);
            for run in &runs {
                let (out_at, in_at, len) = offsets(g, run, count);
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
    // The threads' sums, back in the kernel's layout, in parallel.
    let partials: Vec<Vec<T>> = partials.collect();
    let mut dw = zeros(taps * tap_len);
    let Some((head, rest)) = partials.split_first() else {
        return dw;
    };
    dw.par_chunks_mut(KERNELS_PER_TASK * taps)
        .enumerate()
        .for_each(|(b, dw)| {
            let first = b * KERNELS_PER_TASK;
            let kernels = dw.len() / taps;
            for tap in 0..taps {
                let at = tap * tap_len + first;
                let column = dw[tap..].iter_mut().step_by(taps);
                for (j, v) in column.enumerate() {
                    *v = head[at + j];
                }
                for part in rest {
                    let column = dw[tap..].iter_mut().step_by(taps);
                    for (v, &p) in column.zip(&part[at..at + kernels]) {
                        *v += p;
                    }
                }
            }
        });
    dw
}
