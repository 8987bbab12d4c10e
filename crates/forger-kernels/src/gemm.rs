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

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::thread::LocalKey;

use gemm::Parallelism;
use rayon::prelude::*;

/// The element types the kernels run on.
pub(crate) trait Float: candle_core::WithDType {
    /// This thread's scratch buffer for the type (see [`with_scratch`]).
    fn scratch() -> &'static LocalKey<RefCell<Vec<Self>>>;

    /// `a` where `c > 0`, `b` elsewhere (NaN included), chosen by a bit
    /// mask rather than a branch: the sign of an activation is a coin
    /// toss, and the branch, mispredicted on half the elements, made
    /// LeakyReLU and its gradient five times slower than a copy.
    fn if_positive(c: Self, a: Self, b: Self) -> Self;
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

impl Float for f32 {
    fn scratch() -> &'static LocalKey<RefCell<Vec<f32>>> {
        &SCRATCH_F32
    }

    #[inline(always)]
    fn if_positive(c: f32, a: f32, b: f32) -> f32 {
        let keep_a = u32::from(c > 0.0).wrapping_neg();
        f32::from_bits((a.to_bits() & keep_a) | (b.to_bits() & !keep_a))
    }
}

impl Float for f64 {
    fn scratch() -> &'static LocalKey<RefCell<Vec<f64>>> {
        &SCRATCH_F64
    }

    #[inline(always)]
    fn if_positive(c: f64, a: f64, b: f64) -> f64 {
        let keep_a = u64::from(c > 0.0).wrapping_neg();
        f64::from_bits((a.to_bits() & keep_a) | (b.to_bits() & !keep_a))
    }
}

/// Runs `f` on two slices of `a` and `b` elements from a buffer that this
/// thread keeps between calls; their contents are left over from earlier
/// calls, so `f` must write before it reads. The im2col and gemm buffers of
/// every convolution call were megabytes, zeroed on every allocation only
/// to be overwritten (4% of a W2 step). A nested call on the same thread
/// (rayon may run another task while one waits) gets a fresh buffer.
pub(crate) fn with_scratch<T: Float, R>(
    (a, b): (usize, usize),
    f: impl FnOnce(&mut [T], &mut [T]) -> R,
) -> R {
    T::scratch().with(|cell| {
        let mut fresh = Vec::new();
        let mut kept = cell.try_borrow_mut();
        let buf = match kept.as_deref_mut() {
            Ok(buf) => buf,
            Err(_) => &mut fresh,
        };
        if buf.len() < a + b {
            buf.resize(a + b, T::zero());
        }
        let (x, rest) = buf.split_at_mut(a);
        f(x, &mut rest[..b])
    })
}

/// Below this many elements [`zeros`] zeroes on the calling thread.
const PARALLEL_ZEROS: usize = 1 << 16;

/// `len` zeros, for an output every element of which the caller then
/// writes. Large ones are zeroed by rayon's threads: a kernel's output
/// allocated and zeroed by the calling thread, megabytes at a time while
/// the others waited, was a tenth of a W3 step.
pub(crate) fn zeros<T: Float>(len: usize) -> Vec<T> {
    if len < PARALLEL_ZEROS {
        return vec![T::zero(); len];
    }
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(PARALLEL_ZEROS)
        .for_each(|chunk| chunk.fill(MaybeUninit::new(T::zero())));
    // SAFETY: the capacity is at least `len`, and its first `len` elements
    // were all written just above.
    unsafe { v.set_len(len) };
    v
}

/// A matrix operand: a slice and the strides at which it is read.
#[derive(Clone, Copy)]
pub(crate) struct Operand<'a, T> {
    data: &'a [T],
    layout: OperandLayout,
}

#[derive(Clone, Copy)]
enum OperandLayout {
    /// Row-major, rows one after the other.
    Plain,
    /// The stored matrix is `cols x rows`, row-major, and is read transposed.
    Transposed,
    /// Element `(i, j)` at `i * row_stride + j * col_stride`.
    Strided { row: usize, col: usize },
}

impl<'a, T> Operand<'a, T> {
    /// `data` as stored, row-major.
    pub(crate) fn plain(data: &'a [T]) -> Self {
        Self {
            data,
            layout: OperandLayout::Plain,
        }
    }

    /// The transpose of the row-major matrix in `data`.
    pub(crate) fn transposed(data: &'a [T]) -> Self {
        Self {
            data,
            layout: OperandLayout::Transposed,
        }
    }

    /// The matrix whose element `(i, j)` is `data[i * row + j * col]`.
    pub(crate) fn strided(data: &'a [T], row: usize, col: usize) -> Self {
        Self {
            data,
            layout: OperandLayout::Strided { row, col },
        }
    }

    /// Row and column strides of the `rows x cols` matrix this operand
    /// reads, checked to stay inside the slice.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
        let (rs, cs) = match self.layout {
            OperandLayout::Plain => (cols, 1),
            OperandLayout::Transposed => (1, rows),
            OperandLayout::Strided { row, col } => (row, col),
        };
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * rs + (cols - 1) * cs;
            assert!(last < self.data.len(), "gemm operand too short");
        }
        (rs as isize, cs as isize)
    }
}

/// `dst (m x n, row-major) = [dst +] lhs (m x k) * rhs (k x n)`.
pub(crate) fn matmul<T: Float>(
    dims: (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    lhs: Operand<T>,
    rhs: Operand<T>,
    threads: usize,
) {
    matmul_rows(dims, (dst, dims.1), accumulate, lhs, rhs, threads)
}

/// [`matmul`] into the `m x n` matrix whose rows start `row_stride` apart
/// in `dst` (a block of a wider matrix).
pub(crate) fn matmul_rows<T: Float>(
    (m, n, k): (usize, usize, usize),
    (dst, row_stride): (&mut [T], usize),
    accumulate: bool,
    lhs: Operand<T>,
    rhs: Operand<T>,
    threads: usize,
) {
    if m > 0 && n > 0 {
        assert!(
            (m - 1) * row_stride + n <= dst.len(),
            "gemm destination too short"
        );
    }
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
            row_stride as isize,
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
