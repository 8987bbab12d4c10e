//! Batch normalisation in training mode (batch statistics), optionally
//! followed by LeakyReLU, as one custom op. The forward is a statistics
//! pass and a pass writing the normalised, activated output; the op keeps
//! the statistics, for its backward and for the running averages. The
//! backward is a reduction pass and a pass writing `dx`, the activation's
//! derivative read off the output's sign. Candle's `BatchNorm` runs a dozen
//! tensor ops forward (transposing the input to channels-first and back)
//! and about twice as many backward, and the activation two more passes.
//!
//! Inputs are `(n, c, ...)`, contiguous: channel `ch` of image `i` is the
//! run of `s` (the product of the trailing dimensions) elements at
//! `(i * c + ch) * s`.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::activation::gain;
use super::gemm::{zeros, Float};
use super::{contiguous, cpu_data};

/// Channels per parallel task of the per-channel reductions.
const CHANNELS_PER_TASK: usize = 16;

/// Channels per parallel task where each has one value per image.
const WIDE_BLOCK: usize = 1024;

/// Images summed in `T` before the sum goes to f64, where each channel
/// has one value per image.
const RUN_IMAGES: usize = 64;

/// Independent partial sums per channel, so that the sums vectorize.
const LANES: usize = 8;

/// `(n, c, s)`: images, channels, elements per channel and image.
fn dims(l: &Layout) -> Result<(usize, usize, usize)> {
    let d = l.dims();
    if d.len() < 2 {
        bail!("batch norm: need (n, c, ...) input, got {d:?}");
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Per-channel sums `sum_{i, j} f(ch, a[i, ch, j], b[i, ch, j], e[i, ch,
/// j])[k]` for each of the `K` outputs of `f`, over blocks of channels in
/// parallel ([`run_sums`], or [`wide_sums`] with one value per channel and
/// image), the blocks' sums in order.
fn per_channel<T: Float, const K: usize>(
    (n, c, s): (usize, usize, usize),
    inputs: (&[T], &[T], &[T]),
    f: impl Fn(usize, T, T, T) -> [T; K] + Sync,
) -> [Vec<f64>; K] {
    let block = if s == 1 {
        WIDE_BLOCK
    } else {
        CHANNELS_PER_TASK
    };
    let blocks: Vec<[Vec<f64>; K]> = (0..c.div_ceil(block))
        .into_par_iter()
        .map(|task| {
            let channels = task * block..(task * block + block).min(c);
            if s == 1 {
                wide_sums((n, c), channels, inputs, &f)
            } else {
                run_sums((n, c, s), channels, inputs, &f)
            }
        })
        .collect();
    let mut out = [(); K].map(|_| Vec::with_capacity(c));
    for block in blocks {
        for (out, part) in out.iter_mut().zip(block) {
            out.extend(part);
        }
    }
    out
}

/// [`per_channel`] on `channels`, each a run of `s` values per image:
/// images in order, so that the reads run through memory; each run summed
/// in `T` in [`LANES`] partial sums (which vectorize; f64 arithmetic on a
/// baseline x86-64 build takes four times the instructions), the runs in
/// f64.
fn run_sums<T: Float, const K: usize>(
    (n, c, s): (usize, usize, usize),
    channels: Range<usize>,
    (a, b, e): (&[T], &[T], &[T]),
    f: &impl Fn(usize, T, T, T) -> [T; K],
) -> [Vec<f64>; K] {
    let mut acc = [(); K].map(|_| vec![0f64; channels.len()]);
    for i in 0..n {
        for (k, ch) in channels.clone().enumerate() {
            let at = (i * c + ch) * s;
            let (a, b, e) = (&a[at..at + s], &b[at..at + s], &e[at..at + s]);
            let mut lanes = [[T::zero(); LANES]; K];
            let whole = s - s % LANES;
            let runs = a[..whole].chunks_exact(LANES).zip(b.chunks_exact(LANES));
            for ((a, b), e) in runs.zip(e.chunks_exact(LANES)) {
                for l in 0..LANES {
                    let v = f(ch, a[l], b[l], e[l]);
                    for (lanes, v) in lanes.iter_mut().zip(v) {
                        lanes[l] += v;
                    }
                }
            }
            for j in whole..s {
                let v = f(ch, a[j], b[j], e[j]);
                for (lanes, v) in lanes.iter_mut().zip(v) {
                    lanes[j % LANES] += v;
                }
            }
            for (acc, lanes) in acc.iter_mut().zip(&lanes) {
                acc[k] += lanes.iter().fold(0.0, |t, &v| t + v.to_f64());
            }
        }
    }
    acc
}

/// [`per_channel`] on `channels` with one value per channel and image
/// (after a linear layer): the channels lie side by side in each image and
/// are summed across up to [`RUN_IMAGES`] images in `T`, then in f64.
fn wide_sums<T: Float, const K: usize>(
    (n, c): (usize, usize),
    channels: Range<usize>,
    (a, b, e): (&[T], &[T], &[T]),
    f: &impl Fn(usize, T, T, T) -> [T; K],
) -> [Vec<f64>; K] {
    let mut acc = [(); K].map(|_| vec![0f64; channels.len()]);
    let mut run = [(); K].map(|_| vec![T::zero(); channels.len()]);
    for i in 0..n {
        let r = i * c + channels.start..i * c + channels.end;
        let values = a[r.clone()].iter().zip(&b[r.clone()]).zip(&e[r]);
        for (k, ((&a, &b), &e)) in values.enumerate() {
            let v = f(channels.start + k, a, b, e);
            for (run, v) in run.iter_mut().zip(v) {
                run[k] += v;
            }
        }
        if (i + 1) % RUN_IMAGES == 0 || i + 1 == n {
            for (acc, run) in acc.iter_mut().zip(&mut run) {
                for (acc, r) in acc.iter_mut().zip(run.iter_mut()) {
                    *acc += r.to_f64();
                    *r = T::zero();
                }
            }
        }
    }
    acc
}

/// Batch mean and biased variance of each channel, in f64, one after the
/// other in `(2 * c)`.
fn stats<T: Float>(d: (usize, usize, usize), x: &[T]) -> Vec<f64> {
    let m = (d.0 * d.2).max(1) as f64;
    let [sum] = per_channel(d, (x, x, x), |_, v, _, _| [v]);
    let mean: Vec<f64> = sum.into_iter().map(|s| s / m).collect();
    let centre: Vec<T> = mean.iter().map(|&m| T::from_f64(m)).collect();
    let [var] = per_channel(d, (x, x, x), |ch, v, _, _| {
        [(v - centre[ch]) * (v - centre[ch])]
    });
    let var = var.into_iter().map(|s| s / m);
    mean.iter().copied().chain(var).collect()
}

/// Writes `out[i, ch, j] = f(ch, a[i, ch, j], b[i, ch, j], e[i, ch, j])`,
/// images in parallel.
fn map_images<T: Float>(
    (_, c, s): (usize, usize, usize),
    out: &mut [T],
    (a, b, e): (&[T], &[T], &[T]),
    f: impl Fn(usize, T, T, T) -> T + Sync,
) {
    let image = c * s;
    if image == 0 {
        return;
    }
    out.par_chunks_mut(image)
        .zip(a.par_chunks(image))
        .zip(b.par_chunks(image).zip(e.par_chunks(image)))
        .for_each(|((o, a), (b, e))| {
            if s == 1 {
                // One value per channel (after a linear layer): no runs.
                for (ch, (((o, &a), &b), &e)) in o.iter_mut().zip(a).zip(b).zip(e).enumerate() {
                    *o = f(ch, a, b, e);
                }
                return;
            }
            for ch in 0..c {
                let r = ch * s..(ch + 1) * s;
                let (a, b, e) = (&a[r.clone()], &b[r.clone()], &e[r.clone()]);
                for (((o, &a), &b), &e) in o[r].iter_mut().zip(a).zip(b).zip(e) {
                    *o = f(ch, a, b, e);
                }
            }
        });
}

/// `(x, gamma, beta) -> act(gamma * (x - mean) / sqrt(var + eps) + beta)`,
/// with the batch mean and biased variance of each channel and `act` the
/// LeakyReLU with slope `slope` (1: none).
#[derive(Debug, Clone)]
pub(crate) struct BatchNormTrain {
    eps: f64,
    slope: f64,
    /// The batch statistics, `(2 * c)` (means, then variances): written by
    /// the forward.
    stats: Arc<Mutex<Vec<f64>>>,
}

/// The gradients of [`BatchNormTrain`].
struct Grads<T> {
    dx: Vec<T>,
    dgamma: Vec<T>,
    dbeta: Vec<T>,
}

impl BatchNormTrain {
    /// Batch norm with `eps`, then LeakyReLU with `slope` (at least 0) if given.
    pub fn new(eps: f64, slope: Option<f64>) -> Self {
        Self {
            eps,
            slope: slope.unwrap_or(1.0),
            stats: Arc::default(),
        }
    }

    /// The batch statistics of the last forward, shared.
    pub fn stats(&self) -> Arc<Mutex<Vec<f64>>> {
        Arc::clone(&self.stats)
    }

    /// `1 / sqrt(var + eps)` per channel.
    fn inv_std(&self, var: &[f64]) -> Vec<f64> {
        var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect()
    }

    fn forward<T: Float>(
        &self,
        d: (usize, usize, usize),
        x: &[T],
        gamma: &[T],
        beta: &[T],
    ) -> (Vec<T>, Vec<f64>) {
        let stats = stats(d, x);
        let (mean, var) = stats.split_at(d.1);
        let inv = self.inv_std(var);
        // y = act(x * scale + shift), per channel.
        let scale: Vec<T> = (0..d.1)
            .map(|ch| T::from_f64(gamma[ch].to_f64() * inv[ch]))
            .collect();
        let shift: Vec<T> = (0..d.1)
            .map(|ch| T::from_f64(beta[ch].to_f64() - mean[ch] * gamma[ch].to_f64() * inv[ch]))
            .collect();
        let slope = T::from_f64(self.slope);
        let mut y = zeros(x.len());
        map_images(d, &mut y, (x, x, x), |ch, v, _, _| {
            let z = v * scale[ch] + shift[ch];
            z * gain(z, slope)
        });
        (y, stats)
    }

    /// The gradients, given the output `y`, its gradient `dy` and the
    /// forward's statistics.
    fn backward<T: Float>(
        &self,
        d: (usize, usize, usize),
        (x, gamma): (&[T], &[T]),
        (y, dy): (&[T], &[T]),
        stats: &[f64],
    ) -> Grads<T> {
        let c = d.1;
        let m = (d.0 * d.2).max(1) as f64;
        let (mean, var) = stats.split_at(c);
        let inv = self.inv_std(var);
        let slope = T::from_f64(self.slope);
        // The gradient of the normalised value, before the activation.
        let pre = |y: T, dy: T| dy * gain(y, slope);
        let centre: Vec<T> = mean.iter().map(|&m| T::from_f64(m)).collect();
        let [sum_dy, sum_dy_xhat] = per_channel(d, (x, y, dy), |ch, v, y, g| {
            let g = pre(y, g);
            [g, (v - centre[ch]) * g]
        });
        let sum_dy_xhat: Vec<f64> = sum_dy_xhat.iter().zip(&inv).map(|(s, i)| s * i).collect();
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
        let mut dx = zeros(x.len());
        map_images(d, &mut dx, (dy, x, y), |ch, g, v, y| {
            a[ch] * pre(y, g) + b[ch] * v + k[ch]
        });
        Grads {
            dx,
            dgamma: sum_dy_xhat.into_iter().map(T::from_f64).collect(),
            dbeta: sum_dy.into_iter().map(T::from_f64).collect(),
        }
    }

    fn typed_grads<T: Float>(
        &self,
        d: (usize, usize, usize),
        (x, gamma): (&Tensor, &Tensor),
        (y, dy): (&Tensor, &Tensor),
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let grads = {
            let (xs, xl) = x.storage_and_layout();
            let (gs, gl) = gamma.storage_and_layout();
            let (ys, yl) = y.storage_and_layout();
            let (dys, dyl) = dy.storage_and_layout();
            let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            if stats.len() != 2 * d.1 {
                bail!("forger batch norm: backward before forward");
            }
            self.backward(
                d,
                (
                    cpu_data::<T>(&xs, xl, "input")?,
                    cpu_data(&gs, gl, "weight")?,
                ),
                (
                    cpu_data(&ys, yl, "output")?,
                    cpu_data(&dys, dyl, "gradient")?,
                ),
                &stats,
            )
        };
        let dev = x.device();
        Ok((
            Tensor::from_vec(grads.dx, x.shape(), dev)?,
            Tensor::from_vec(grads.dgamma, d.1, dev)?,
            Tensor::from_vec(grads.dbeta, d.1, dev)?,
        ))
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
        let stats;
        let out = typed3!(s1, l1, s2, l2, s3, l3, |x, g, b| {
            let (y, s) = self.forward(d, x, g, b);
            stats = s;
            y
        });
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = dims(x.layout())?;
        let dy = dy.contiguous()?;
        let (dx, dgamma, dbeta) = match x.dtype() {
            DType::F32 => self.typed_grads::<f32>(d, (x, gamma), (y, &dy))?,
            DType::F64 => self.typed_grads::<f64>(d, (x, gamma), (y, &dy))?,
            other => bail!("forger batch norm takes f32 or f64, got {other:?}"),
        };
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}
