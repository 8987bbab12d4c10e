//! Batch normalisation in training mode (batch statistics) as one custom op:
//! the forward is a statistics pass and a normalising pass, the backward a
//! statistics pass, a reduction pass and a pass writing `dx`. Candle's
//! `BatchNorm` runs a dozen tensor ops forward (transposing the input to
//! channels-first and back) and about twice as many backward.
//!
//! Inputs are `(n, c, ...)`, contiguous: channel `ch` of image `i` is the
//! run of `s` (the product of the trailing dimensions) elements at
//! `(i * c + ch) * s`.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous;
use super::gemm::Float;

/// Channels per parallel task of the per-channel reductions.
const CHANNELS_PER_TASK: usize = 16;

/// `(n, c, s)`: images, channels, elements per channel and image.
fn dims(l: &Layout) -> Result<(usize, usize, usize)> {
    let d = l.dims();
    if d.len() < 2 {
        bail!("batch norm: need (n, c, ...) input, got {d:?}");
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Per-channel `sum_{i, j} f(ch, x[i, ch, j], y[i, ch, j])` in f64, over
/// blocks of channels in parallel.
fn per_channel<T: Float>(
    (n, c, s): (usize, usize, usize),
    x: &[T],
    y: &[T],
    f: impl Fn(usize, T, T) -> f64 + Sync,
) -> Vec<f64> {
    let mut out = vec![0f64; c];
    out.par_chunks_mut(CHANNELS_PER_TASK)
        .enumerate()
        .for_each(|(block, acc)| {
            let c0 = block * CHANNELS_PER_TASK;
            for i in 0..n {
                for (k, a) in acc.iter_mut().enumerate() {
                    let ch = c0 + k;
                    let at = (i * c + ch) * s;
                    let mut sum = 0f64;
                    for (&xv, &yv) in x[at..at + s].iter().zip(&y[at..at + s]) {
                        sum += f(ch, xv, yv);
                    }
                    *a += sum;
                }
            }
        });
    out
}

/// Batch mean and biased variance of each channel, in f64.
fn stats<T: Float>(d: (usize, usize, usize), x: &[T]) -> (Vec<f64>, Vec<f64>) {
    let m = (d.0 * d.2).max(1) as f64;
    let mean: Vec<f64> = per_channel(d, x, x, |_, v, _| v.to_f64())
        .into_iter()
        .map(|s| s / m)
        .collect();
    let var = per_channel(d, x, x, |ch, v, _| (v.to_f64() - mean[ch]).powi(2))
        .into_iter()
        .map(|s| s / m)
        .collect();
    (mean, var)
}

/// Writes `out[i, ch, j] = f(ch, a[i, ch, j], b[i, ch, j])`, images in parallel.
fn map_images<T: Float>(
    (_, c, s): (usize, usize, usize),
    out: &mut [T],
    a: &[T],
    b: &[T],
    f: impl Fn(usize, T, T) -> T + Sync,
) {
    let image = c * s;
    if image == 0 {
        return;
    }
    out.par_chunks_mut(image)
        .zip(a.par_chunks(image).zip(b.par_chunks(image)))
        .for_each(|(o, (a, b))| {
            for ch in 0..c {
                let r = ch * s..(ch + 1) * s;
                for ((o, &av), &bv) in o[r.clone()].iter_mut().zip(&a[r.clone()]).zip(&b[r]) {
                    *o = f(ch, av, bv);
                }
            }
        });
}

fn inv_std(var: &[f64], eps: f64) -> Vec<f64> {
    var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect()
}

/// `(x, gamma, beta) -> gamma * (x - mean) / sqrt(var + eps) + beta`, with
/// the batch mean and biased variance of each channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchNormTrain {
    pub eps: f64,
}

impl BatchNormTrain {
    fn forward<T: Float>(
        &self,
        d: (usize, usize, usize),
        x: &[T],
        gamma: &[T],
        beta: &[T],
    ) -> Vec<T> {
        let (mean, var) = stats(d, x);
        let inv = inv_std(&var, self.eps);
        // y = x * scale + shift, per channel.
        let scale: Vec<T> = (0..d.1)
            .map(|ch| T::from_f64(gamma[ch].to_f64() * inv[ch]))
            .collect();
        let shift: Vec<T> = (0..d.1)
            .map(|ch| T::from_f64(beta[ch].to_f64() - mean[ch] * gamma[ch].to_f64() * inv[ch]))
            .collect();
        let mut y = vec![T::zero(); x.len()];
        map_images(d, &mut y, x, x, |ch, v, _| v * scale[ch] + shift[ch]);
        y
    }

    /// `dx`, then `dgamma` and `dbeta`, in one vector.
    fn backward<T: Float>(
        &self,
        d: (usize, usize, usize),
        x: &[T],
        gamma: &[T],
        dy: &[T],
    ) -> Vec<T> {
        let c = d.1;
        let m = (d.0 * d.2).max(1) as f64;
        let (mean, var) = stats(d, x);
        let inv = inv_std(&var, self.eps);
        let sum_dy = per_channel(d, dy, dy, |_, g, _| g.to_f64());
        let sum_dy_xhat = per_channel(d, x, dy, |ch, v, g| {
            (v.to_f64() - mean[ch]) * inv[ch] * g.to_f64()
        });
        // dx = gamma * inv / m * (m * dy - sum_dy - xhat * sum_dy_xhat)
        //    = a * dy + b * x + k, per channel.
        let (mut a, mut b, mut k) = (vec![T::zero(); c], vec![T::zero(); c], vec![T::zero(); c]);
        for ch in 0..c {
            let g = gamma[ch].to_f64() * inv[ch];
            let slope = g * inv[ch] * sum_dy_xhat[ch] / m;
            a[ch] = T::from_f64(g);
            b[ch] = T::from_f64(-slope);
            k[ch] = T::from_f64(slope * mean[ch] - g * sum_dy[ch] / m);
        }
        let mut out = vec![T::zero(); x.len() + 2 * c];
        let (dx, rest) = out.split_at_mut(x.len());
        map_images(d, dx, dy, x, |ch, g, v| a[ch] * g + b[ch] * v + k[ch]);
        for ch in 0..c {
            rest[ch] = T::from_f64(sum_dy_xhat[ch]);
            rest[c + ch] = T::from_f64(sum_dy[ch]);
        }
        out
    }
}

/// The three slices of a three-argument op, of one dtype.
macro_rules! typed3 {
    ($s1:expr, $l1:expr, $s2:expr, $l2:expr, $s3:expr, $l3:expr, |$a:ident, $b:ident, $c:ident| $body:expr) => {
        match ($s1, $s2, $s3) {
            (CpuStorage::F32(a), CpuStorage::F32(b), CpuStorage::F32(c)) => {
                let ($a, $b, $c) = (
                    contiguous(a, $l1, "input")?,
                    contiguous(b, $l2, "scale")?,
                    contiguous(c, $l3, "third argument")?,
                );
                CpuStorage::F32($body)
            }
            (CpuStorage::F64(a), CpuStorage::F64(b), CpuStorage::F64(c)) => {
                let ($a, $b, $c) = (
                    contiguous(a, $l1, "input")?,
                    contiguous(b, $l2, "scale")?,
                    contiguous(c, $l3, "third argument")?,
                );
                CpuStorage::F64($body)
            }
            (a, _, _) => bail!(
                "forger batch norm takes f32 or f64 tensors of one dtype, got {:?}",
                a.dtype()
            ),
        }
    };
}

fn check_channels(d: (usize, usize, usize), l: &Layout, what: &str) -> Result<()> {
    if l.dims() != [d.1] {
        bail!(
            "batch norm: {what} of shape {:?}, expected [{}]",
            l.dims(),
            d.1
        );
    }
    Ok(())
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "forger-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims(l1)?;
        check_channels(d, l2, "weight")?;
        check_channels(d, l3, "bias")?;
        let out = typed3!(s1, l1, s2, l2, s3, l3, |x, g, b| self.forward(d, x, g, b));
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed = x.apply_op3_no_bwd(gamma, &dy.contiguous()?, &BatchNormGrad(*self))?;
        let (len, c) = (x.elem_count(), gamma.elem_count());
        let dx = packed.narrow(0, 0, len)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, len, c)?;
        let dbeta = packed.narrow(0, len + c, c)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// `(x, gamma, dy) -> [dx, dgamma, dbeta]` (flat) for [`BatchNormTrain`].
struct BatchNormGrad(BatchNormTrain);

impl CustomOp3 for BatchNormGrad {
    fn name(&self) -> &'static str {
        "forger-batch-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims(l1)?;
        check_channels(d, l2, "weight")?;
        if l3.dims() != l1.dims() {
            bail!(
                "batch norm: gradient of shape {:?}, input {:?}",
                l3.dims(),
                l1.dims()
            );
        }
        let out = typed3!(s1, l1, s2, l2, s3, l3, |x, g, dy| self
            .0
            .backward(d, x, g, dy));
        let len = l1.shape().elem_count() + 2 * d.1;
        Ok((out, len.into()))
    }
}

/// `x -> [mean, var]` `(2, c)`: each channel's batch mean and biased variance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchStats;

impl CustomOp1 for BatchStats {
    fn name(&self) -> &'static str {
        "forger-batch-stats"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = dims(l)?;
        fn both<T: Float>(d: (usize, usize, usize), x: &[T]) -> Vec<T> {
            let (mean, var) = stats(d, x);
            mean.into_iter().chain(var).map(T::from_f64).collect()
        }
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(both(d, contiguous(x, l, "input")?)),
            CpuStorage::F64(x) => CpuStorage::F64(both(d, contiguous(x, l, "input")?)),
            _ => bail!("forger batch norm takes f32 or f64, got {:?}", s.dtype()),
        };
        Ok((out, (2, d.1).into()))
    }
}
