//! Matrix multiply for the kernels.
//!
//! Why the `gemm` crate: it is the one Candle 0.11 itself uses for CPU
//! matmul (so it is already built and adds no dependency), it has AVX2/FMA
//! and AVX-512 micro-kernels chosen at run time, packs and cache-blocks its
//! operands, takes arbitrary row and column strides (so transposed operands
//! cost no copy), can accumulate into the destination (the weight gradient
//! sums over chunks of the batch in place), and can run single-threaded
//! inside our own per-chunk parallelism. A system BLAS (OpenBLAS from
//! Debian) would add a C dependency every CI machine and user must install,
//! for no gain at these matrix sizes, which are small enough that packing
//! and threading overheads rather than the micro-kernel decide the speed.

use gemm::Parallelism;

/// The element types the kernels run on.
pub(crate) trait Float: candle_core::WithDType {}
impl Float for f32 {}
impl Float for f64 {}

/// A row-major matrix operand, possibly read transposed.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, T> {
    data: &'a [T],
    /// The stored matrix is `cols x rows` and is read transposed.
    transposed: bool,
}

impl<'a, T> Operand<'a, T> {
    /// `data` as stored, row-major.
    pub(crate) fn plain(data: &'a [T]) -> Self {
        Self {
            data,
            transposed: false,
        }
    }

    /// The transpose of the row-major matrix in `data`.
    pub(crate) fn transposed(data: &'a [T]) -> Self {
        Self {
            data,
            transposed: true,
        }
    }

    /// Row and column strides of the `rows x cols` matrix this operand reads.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
        assert!(self.data.len() >= rows * cols, "gemm operand too short");
        if self.transposed {
            (1, rows as isize)
        } else {
            (cols as isize, 1)
        }
    }
}

/// `dst (m x n, row-major) = [dst +] lhs (m x k) * rhs (k x n)`.
pub(crate) fn matmul<T: Float>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    lhs: Operand<T>,
    rhs: Operand<T>,
    threads: usize,
) {
    assert!(dst.len() >= m * n, "gemm destination too short");
    let (lhs_rs, lhs_cs) = lhs.strides(m, k);
    let (rhs_rs, rhs_cs) = rhs.strides(k, n);
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every access of the three matrices
    // inside its slice; `dst` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        )
    }
}
