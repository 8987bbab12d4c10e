//! Inverted dropout as one custom op whose mask is never stored: element
//! `i` is kept when a hash of `(seed, i)` falls below a threshold, so the
//! forward and the backward compute the same mask, in parallel chunks, from
//! the seed alone. (Drawing a mask from a sequential generator took one
//! serial draw per element, 5% of a W2 step; storing it took a tensor.)

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous;
use super::gemm::{zeros, Float};

/// Elements per parallel task.
const TASK: usize = 1 << 15;

/// Which elements survive: element `i` is kept with probability `1 - p`
/// and scaled by `1 / (1 - p)`, independently of the others.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mask {
    seed: u64,
    /// Hashes below this keep their element: `(1 - p) * 2^64`.
    threshold: u64,
    scale: f64,
}

impl Mask {
    /// The mask for drop probability `p` in `[0, 1)`.
    pub fn new(p: f64, seed: u64) -> Self {
        let keep = 1.0 - p;
        Self {
            seed,
            // The cast saturates: keep = 1 keeps all but a 2^-64 share.
            threshold: (keep * 2f64.powi(64)) as u64,
            scale: 1.0 / keep,
        }
    }

    /// SplitMix64 of element `i`: the `i`-th output of the SplitMix64
    /// generator started at `seed`, which passes BigCrush.
    #[inline(always)]
    fn hash(&self, i: usize) -> u64 {
        let mut z = self
            .seed
            .wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Element `i`'s factor: `1 / (1 - p)` or 0.
    #[inline(always)]
    fn factor<T: Float>(&self, i: usize, scale: T) -> T {
        if self.hash(i) < self.threshold {
            scale
        } else {
            T::zero()
        }
    }

    /// The factors of the first `len` elements.
    pub fn factors(&self, len: usize) -> Vec<f64> {
        (0..len).map(|i| self.factor(i, self.scale)).collect()
    }

    /// `x` times the mask, element by element in parallel chunks.
    fn apply<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut y = zeros(x.len());
        y.par_chunks_mut(TASK)
            .zip(x.par_chunks(TASK))
            .enumerate()
            .for_each(|(task, (y, x))| self.apply_run(task * TASK, x, y));
        y
    }

    /// `y = x * mask` for the run of elements from index `first`: with
    /// AVX-512 where the CPU has it (the hash's 64-bit products and
    /// comparisons vectorize there; a baseline x86-64 build has neither).
    fn apply_run<T: Float>(&self, first: usize, x: &[T], y: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512dq") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { self.apply_run_avx512(first, x, y) };
        }
        self.apply_run_portable(first, x, y);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    unsafe fn apply_run_avx512<T: Float>(&self, first: usize, x: &[T], y: &mut [T]) {
        self.apply_run_portable(first, x, y);
    }

    #[inline(always)]
    fn apply_run_portable<T: Float>(&self, first: usize, x: &[T], y: &mut [T]) {
        let scale = T::from_f64(self.scale);
        for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
            *y = x * self.factor(first + i, scale);
        }
    }
}

impl CustomOp1 for Mask {
    fn name(&self) -> &'static str {
        "forger-dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(self.apply(contiguous(x, l, "input")?)),
            CpuStorage::F64(x) => CpuStorage::F64(self.apply(contiguous(x, l, "input")?)),
            _ => bail!("forger dropout takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    /// `dx = dy * mask`, the same mask.
    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        dy.contiguous()?.apply_op1_no_bwd(self).map(Some)
    }
}
