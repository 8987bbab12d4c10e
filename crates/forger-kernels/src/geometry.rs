//! The shape of one 2-D convolution and the im2col / col2im transforms.
//!
//! Every kernel here is written in terms of one stride-`s` convolution of an
//! `(n, c_in, h, w)` input with a `(c_out, c_in, kh, kw)` kernel giving an
//! `(n, c_out, oh, ow)` output. A transposed convolution is the same
//! geometry read backwards: its input plays the convolution's output.

use std::ops::Range;

use super::gemm::Float;

/// One convolution: output `(oy, ox)` reads input rows `oy * stride - pad_top + ky`
/// and columns `ox * stride - pad_left + kx`; reads outside the input are zero.
/// The bottom and right padding are implied by `oh` and `ow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Rows of the im2col matrix: `c_in * kh * kw`.
    pub fn patch(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Output positions per image: `oh * ow`.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Elements of one input image.
    pub fn image_len(&self) -> usize {
        self.c_in * self.h * self.w
    }

    /// Shape of the input.
    pub fn input_shape(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c_in, self.h, self.w)
    }

    /// Shape of the output.
    pub fn output_shape(&self) -> (usize, usize, usize, usize) {
        (self.n, self.c_out, self.oh, self.ow)
    }

    /// Shape of the kernel.
    pub fn kernel_shape(&self) -> (usize, usize, usize, usize) {
        (self.c_out, self.c_in, self.kh, self.kw)
    }

    /// Calls `f` with the [`Block`] of every im2col row `(ci, ky, kx)` and
    /// image of a `patch() x (images * positions())` im2col matrix.
    fn for_each_block(&self, images: usize, mut f: impl FnMut(Block)) {
        let (p, cols) = (self.positions(), images * self.positions());
        for ci in 0..self.c_in {
            for ky in 0..self.kh {
                let rows = valid(self.oh, self.h, self.pad_top, ky, self.stride);
                for kx in 0..self.kw {
                    let xs = valid(self.ow, self.w, self.pad_left, kx, self.stride);
                    let row = (ci * self.kh + ky) * self.kw + kx;
                    for img in 0..images {
                        let plane = (img * self.c_in + ci) * self.h * self.w;
                        // The tap of the first valid position; unused when there is none.
                        let iy = (rows.start * self.stride + ky).saturating_sub(self.pad_top);
                        let ix = (xs.start * self.stride + kx).saturating_sub(self.pad_left);
                        f(Block {
                            col: row * cols + img * p,
                            src: plane + iy * self.w + ix,
                            rows: rows.clone(),
                            cols: xs.clone(),
                        });
                    }
                }
            }
        }
    }

    /// Fills `col` (`patch() x (images * positions())`) with the input patches
    /// of the `images` images at the start of `input`.
    pub fn im2col<T: Float>(&self, input: &[T], images: usize, col: &mut [T]) {
        let (s, ow) = (self.stride, self.ow);
        self.for_each_block(images, |b| {
            for (oy, dst) in col[b.col..b.col + self.positions()]
                .chunks_exact_mut(ow)
                .enumerate()
            {
                if !b.rows.contains(&oy) || b.cols.is_empty() {
                    dst.fill(T::zero());
                    continue;
                }
                let src = &input[b.src + (oy - b.rows.start) * s * self.w..];
                dst[..b.cols.start].fill(T::zero());
                dst[b.cols.end..].fill(T::zero());
                let dst = &mut dst[b.cols.clone()];
                if s == 1 {
                    dst.copy_from_slice(&src[..dst.len()]);
                } else {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = src[j * s];
                    }
                }
            }
        });
    }

    /// The adjoint of [`Self::im2col`]: adds every entry of `col` into the
    /// input position it was read from, in the `images` images at the start
    /// of `input` (zeroed by the caller, once, where it allocates them).
    pub fn col2im<T: Float>(&self, col: &[T], images: usize, input: &mut [T]) {
        let input = &mut input[..images * self.image_len()];
        let (s, ow) = (self.stride, self.ow);
        self.for_each_block(images, |b| {
            for oy in b.rows.clone() {
                let src = b.src + (oy - b.rows.start) * s * self.w;
                let run = &col[b.col + oy * ow..][b.cols.clone()];
                // Contiguous: a loop the compiler vectorizes. (Without valid
                // columns `src` may lie past the plane.)
                if s == 1 && !run.is_empty() {
                    for (x, &v) in input[src..src + run.len()].iter_mut().zip(run) {
                        *x += v;
                    }
                } else {
                    for (j, &v) in run.iter().enumerate() {
                        input[src + j * s] += v;
                    }
                }
            }
        });
    }
}

/// Where one im2col row `(ci, ky, kx)` of one image lies and what it reads:
/// its `positions()` entries start at `col`; output positions `(oy, ox)` in
/// `rows x cols` read the input at `src + (oy - rows.start) * stride * w +
/// (ox - cols.start) * stride`; the others read padding (zero).
struct Block {
    col: usize,
    src: usize,
    rows: Range<usize>,
    cols: Range<usize>,
}

/// Output indices `o < out_len` whose tap `o * stride + k - pad` lands inside
/// `0..in_len`.
pub(super) fn valid(
    out_len: usize,
    in_len: usize,
    pad: usize,
    k: usize,
    stride: usize,
) -> Range<usize> {
    // o * stride + k >= pad
    let lo = pad.saturating_sub(k).div_ceil(stride);
    // o * stride + k < in_len + pad
    let hi = (in_len + pad)
        .saturating_sub(k)
        .div_ceil(stride)
        .min(out_len);
    lo.min(hi)..hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_match_a_scan() {
        for (out_len, in_len, pad, k, stride) in [
            (5, 5, 1, 0, 1),
            (5, 5, 1, 2, 1),
            (3, 6, 2, 4, 2),
            (7, 3, 4, 0, 1),
            (2, 1, 0, 3, 2),
        ] {
            let scan: Vec<usize> = (0..out_len)
                .filter(|&o| (o * stride + k) >= pad && o * stride + k - pad < in_len)
                .collect();
            let r = valid(out_len, in_len, pad, k, stride);
            assert_eq!(
                r.collect::<Vec<_>>(),
                scan,
                "{out_len} {in_len} {pad} {k} {stride}"
            );
        }
    }
}
