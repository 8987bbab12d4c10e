//! forger's CPU kernels, as Candle custom ops with forward and backward,
//! and the process set-up they are tuned for.
//!
//! The crate root holds the ops models call: [`conv2d`] (with bias,
//! (leaky) ReLU and max-pooling fused: [`conv2d_leaky_relu`],
//! [`conv2d_leaky_relu_max_pool`]), [`conv_transpose2d`], [`linear`],
//! [`max_pool2d`], [`leaky_relu`] and [`relu`], [`batch_norm_train`] and
//! [`dropout`]; [`adam`] holds Adam's (and AdamW's) in-place update;
//! [`configure_cpu`] (module `cpu`) sets the process up. Behind them:
//! `ops` (the convolution ops), `compute` (im2col/col2im and their gemms),
//! `shifted` (small-plane convolutions without im2col), `conv_pool`
//! (convolution fused with max-pooling), `geometry` (a convolution's
//! shape), `gemm` (matrix products and scratch buffers), `biased` (ops
//! with an optional bias), `activation`, `max_pool`, `batch_norm`,
//! `dropout` and `linear`.
//!
//! The element-wise kernels replace chains of Candle ops, each of which
//! allocates a tensor and adds a backprop node that Candle fills with zeros
//! and adds into.
//!
//! Candle 0.11's CPU `conv_transpose2d` is a direct loop without gemm, and
//! its conv2d backward uses that loop for every input gradient (even the
//! first layer's, which nothing needs) and a conv2d with the batch as
//! channels for the weight gradient. Here all three are im2col/col2im plus
//! one [`gemm`](https://docs.rs/gemm) call per chunk of images:
//!
//! * forward: `y = W * im2col(x)` (+ bias, written before the gemm adds),
//! * input gradient: `dx = col2im(W^T * dy)`, skipped when `x` needs none,
//! * weight gradient: `dW = dy * im2col(x)^T`, accumulated over the batch.
//!
//! A transposed convolution is the input gradient of a convolution, and its
//! gradients are that convolution's forward and weight gradient.
//! Convolutions of stride 1 or 2 on small planes (up to 256 positions: the
//! DCGAN's layers) skip im2col instead: one gemm per kernel tap and output
//! row (or block of rows), which never multiplies padding (module
//! `shifted`).
//!
//! The kernels run on CPU tensors of f32 or f64. On other devices, other
//! dtypes, or after [`set_enabled`]`(false)`, the functions here (and the
//! optimizer through [`adam::applies`]) call Candle's own ops, so callers
//! need not choose.

mod activation;
pub mod adam;
mod batch_norm;
mod biased;
mod compute;
mod conv_pool;
mod cpu;
mod dropout;
mod gemm;
mod geometry;
mod linear;
mod max_pool;
mod ops;
mod shifted;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{bail, DType, Layout, Result, Storage, Tensor, WithDType, D};

pub use cpu::configure_cpu;
use geometry::Geometry;
use ops::{Conv2dOp, ConvTranspose2dOp};

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns forger's kernels on (the default) or off for the whole process.
/// Off, every function here, and Adam's update, uses Candle's ops: for
/// benchmarks comparing the two, and to rule the kernels out when chasing a
/// numerical problem.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether the kernels are enabled ([`set_enabled`]).
fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether forger's kernels run for `t` (CPU, f32 or f64, and enabled).
fn use_kernels(t: &Tensor) -> bool {
    enabled() && t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// The contiguous elements of `s` under `l`.
fn contiguous<'a, T>(s: &'a [T], l: &Layout, what: &str) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s[start..end]),
        None => bail!("forger kernel: the {what} must be contiguous"),
    }
}

/// The contiguous elements of a CPU tensor's storage (for the backward of
/// ops that read more tensors than Candle passes them).
fn cpu_data<'a, T: WithDType>(s: &'a Storage, l: &Layout, what: &str) -> Result<&'a [T]> {
    match s {
        Storage::Cpu(s) => contiguous(s.as_slice::<T>()?, l, what),
        _ => bail!("forger kernel: the {what} is not on the CPU"),
    }
}

/// Zero padding of a convolution's input, per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding {
    /// Rows before the first.
    pub top: usize,
    /// Rows after the last.
    pub bottom: usize,
    /// Columns before the first.
    pub left: usize,
    /// Columns after the last.
    pub right: usize,
}

impl Padding {
    /// `p` on every side.
    pub fn uniform(p: usize) -> Self {
        Self {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }

    /// TensorFlow's SAME padding for a stride-1 `kernel x kernel`
    /// convolution: `(kernel - 1) / 2` before and the rest after, so an even
    /// kernel pads one more after (4x4: 1 before, 2 after).
    pub fn same(kernel: usize) -> Self {
        let total = kernel.saturating_sub(1);
        let before = total / 2;
        let after = total - before;
        Self {
            top: before,
            bottom: after,
            left: before,
            right: after,
        }
    }

    fn is_uniform(&self) -> bool {
        self.top == self.bottom && self.left == self.right && self.top == self.left
    }
}

/// Output length of a convolution over `len` with the given padding.
fn conv_out(
    len: usize,
    before: usize,
    after: usize,
    k: usize,
    stride: usize,
    what: &str,
) -> Result<usize> {
    let padded = len + before + after;
    if padded < k {
        bail!("conv2d: the kernel {what} {k} exceeds the padded input {what} {padded}");
    }
    Ok((padded - k) / stride + 1)
}

/// 2-D convolution of `x` `(n, c_in, h, w)` with `w` `(c_out, c_in, kh, kw)`
/// and an optional `bias` `(c_out)`: stride `stride`, zero `padding`,
/// dilation 1, one group. Differentiable in all three arguments.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
) -> Result<Tensor> {
    conv2d_activated(x, w, bias, stride, padding, None)
}

/// `y = x W^T + b` for `x` of shape `[n, inputs]`, `W` of `[outputs, inputs]`
/// and `b` of `[outputs]`, as `candle_nn::Linear` computes it; one gemm per
/// pass, the weight gradient written in `W`'s layout.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (n, inputs) = x.dims2()?;
    let (outputs, w_inputs) = w.dims2()?;
    if w_inputs != inputs {
        bail!("linear: the input has {inputs} features, the weight expects {w_inputs}");
    }
    if let Some(b) = bias {
        if b.dims() != [outputs] {
            bail!("linear: bias of shape {:?}, expected [{outputs}]", b.dims());
        }
    }
    if !use_kernels(x) || x.dtype() != w.dtype() {
        let y = x.matmul(&w.t()?)?;
        return match bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        };
    }
    biased::apply(x, w, bias, linear::LinearOp { n, inputs, outputs })
}

/// [`conv2d`] followed by [`leaky_relu`] with slope `slope` (ReLU for 0),
/// as one op on the kernels: the activation is applied in place and its
/// gradient taken from the output, which saves a tensor and a backprop
/// node per layer.
pub fn conv2d_leaky_relu(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
    slope: f64,
) -> Result<Tensor> {
    if slope < 0.0 {
        bail!("conv2d_leaky_relu: the slope must be at least 0, got {slope}");
    }
    conv2d_activated(x, w, bias, stride, padding, Some(slope))
}

fn conv2d_activated(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
    slope: Option<f64>,
) -> Result<Tensor> {
    let g = conv_geometry(x, w, bias, stride, padding)?;
    if !use_kernels(x) {
        let y = candle_conv2d(x, w, bias, stride, padding)?;
        return match slope {
            Some(slope) => leaky_relu(&y, slope),
            None => Ok(y),
        };
    }
    let op = Conv2dOp {
        g,
        activation: slope.map(|slope| activation::LeakyRelu { slope }),
    };
    biased::apply(x, w, bias, op)
}

/// [`conv2d_leaky_relu`] followed by [`max_pool2d`] with a `k x k` window,
/// as one op on the kernels: the convolution's output is pooled while it
/// is in cache and never stored whole, and the backward runs the weight,
/// bias and input gradients in one pass over the batch (see `conv_pool`).
pub fn conv2d_leaky_relu_max_pool(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
    slope: f64,
    k: usize,
) -> Result<Tensor> {
    if slope < 0.0 {
        bail!("conv2d_leaky_relu_max_pool: the slope must be at least 0, got {slope}");
    }
    let g = conv_geometry(x, w, bias, stride, padding)?;
    if !use_kernels(x) || !conv_pool::ConvPoolOp::fits(&g, k) {
        return max_pool2d(&conv2d_leaky_relu(x, w, bias, stride, padding, slope)?, k);
    }
    let act = activation::LeakyRelu { slope };
    biased::apply(x, w, bias, conv_pool::ConvPoolOp::new(g, act, k))
}

/// Checks the shapes of a convolution and returns its geometry.
fn conv_geometry(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
) -> Result<Geometry> {
    let (n, c_in, h, wd) = x.dims4()?;
    let (c_out, wc_in, kh, kw) = w.dims4()?;
    if wc_in != c_in {
        bail!("conv2d: the input has {c_in} channels, the kernel expects {wc_in}");
    }
    if stride == 0 || c_in == 0 || c_out == 0 {
        bail!(
            "conv2d: need a stride and channels, got stride {stride}, {c_in} -> {c_out} channels"
        );
    }
    if let Some(b) = bias {
        if b.dims() != [c_out] {
            bail!("conv2d: bias of shape {:?}, expected [{c_out}]", b.dims());
        }
    }
    Ok(Geometry {
        n,
        c_in,
        h,
        w: wd,
        c_out,
        kh,
        kw,
        stride,
        pad_top: padding.top,
        pad_left: padding.left,
        oh: conv_out(h, padding.top, padding.bottom, kh, stride, "height")?,
        ow: conv_out(wd, padding.left, padding.right, kw, stride, "width")?,
    })
}

/// [`conv2d`] through Candle's ops.
fn candle_conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: Padding,
) -> Result<Tensor> {
    let y = if padding.is_uniform() {
        x.conv2d(w, padding.top, stride, 1, 1)?
    } else {
        let x = x.pad_with_zeros(D::Minus2, padding.top, padding.bottom)?;
        let x = x.pad_with_zeros(D::Minus1, padding.left, padding.right)?;
        x.conv2d(w, 0, stride, 1, 1)?
    };
    match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
        None => Ok(y),
    }
}

/// 2-D transposed convolution (PyTorch's `conv_transpose2d`) of `x`
/// `(n, c_in, h, w)` with `w` `(c_in, c_out, kh, kw)`: the output is
/// `(h - 1) * stride - 2 * padding + kh + output_padding` high (likewise
/// wide). Dilation 1, one group, no bias. Differentiable in `x` and `w`.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Result<Tensor> {
    let (n, c_in, h, wd) = x.dims4()?;
    let (wc_in, c_out, kh, kw) = w.dims4()?;
    if wc_in != c_in {
        bail!("conv_transpose2d: the input has {c_in} channels, the kernel expects {wc_in}");
    }
    if c_in == 0 || c_out == 0 {
        bail!("conv_transpose2d: need channels, got {c_in} -> {c_out}");
    }
    if stride == 0 || output_padding >= stride {
        bail!("conv_transpose2d: need stride >= 1 and output_padding < stride, got {stride} and {output_padding}");
    }
    let out = |len: usize, k: usize| {
        ((len - 1) * stride + k + output_padding)
            .checked_sub(2 * padding)
            .filter(|&o| o > 0)
    };
    let (Some(oh), Some(ow)) = (out(h, kh), out(wd, kw)) else {
        bail!("conv_transpose2d: padding {padding} leaves no output for a {h}x{wd} input and a {kh}x{kw} kernel");
    };
    if !use_kernels(x) {
        return x.conv_transpose2d(w, padding, output_padding, stride, 1);
    }
    // The convolution whose input gradient this is: from (oh, ow) to (h, w).
    let g = Geometry {
        n,
        c_in: c_out,
        h: oh,
        w: ow,
        c_out: c_in,
        kh,
        kw,
        stride,
        pad_top: padding,
        pad_left: padding,
        oh: h,
        ow: wd,
    };
    x.contiguous()?
        .apply_op2(&w.contiguous()?, ConvTranspose2dOp(g))
}

/// LeakyReLU: `x` where `x > 0`, `slope * x` elsewhere; ReLU for slope 0.
/// The gradient at 0 is `slope`, as in PyTorch. Forward and backward are
/// one pass each (Candle's `leaky_relu` is five ops forward and about ten
/// backward).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if use_kernels(x) {
        return x.contiguous()?.apply_op1(activation::LeakyRelu { slope });
    }
    if slope == 0.0 {
        x.relu()
    } else {
        candle_nn::ops::leaky_relu(x, slope)
    }
}

/// Batch normalisation of `x` `(n, c, ...)` with the batch's statistics
/// (training mode): `weight * (x - mean) / sqrt(var + eps) + bias` per
/// channel, then LeakyReLU with `slope` (at least 0; ReLU for 0) if given,
/// as one op differentiable in the first three. Returns the output and the
/// `(2, c)` batch mean and biased variance (for running averages, not
/// differentiable), or `None` where forger's kernels do not run (other
/// devices or dtypes): then use Candle's `BatchNorm`.
pub fn batch_norm_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    slope: Option<f64>,
) -> Result<Option<(Tensor, Tensor)>> {
    if let Some(slope) = slope.filter(|&s| s < 0.0) {
        bail!("batch_norm_train: the slope must be at least 0, got {slope}");
    }
    if !use_kernels(x) || weight.dtype() != x.dtype() || bias.dtype() != x.dtype() {
        return Ok(None);
    }
    let op = batch_norm::BatchNormTrain::new(eps, slope);
    let stats = op.stats();
    let y = x
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    let stats = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let c = weight.elem_count();
    let stats = Tensor::from_vec(stats, (2, c), x.device())?.to_dtype(x.dtype())?;
    Ok(Some((y, stats)))
}

/// Inverted dropout: each element of `x` is zeroed with probability `p`
/// (in `[0, 1)`) and the rest scaled by `1 / (1 - p)`; the mask is a
/// function of `seed` and the element's index in `x`'s logical order, the
/// same on every device and thread count. Differentiable in `x`.
pub fn dropout(x: &Tensor, p: f64, seed: u64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        bail!("dropout: the probability must be in [0, 1), got {p}");
    }
    let mask = dropout::Mask::new(p, seed);
    if use_kernels(x) {
        return x.contiguous()?.apply_op1(mask);
    }
    let factors = mask.factors(x.elem_count());
    x.mul(&Tensor::from_vec(factors, x.shape(), x.device())?.to_dtype(x.dtype())?)
}

/// ReLU, [`leaky_relu`] with slope 0.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    leaky_relu(x, 0.0)
}

/// Max-pooling of `x` `(n, c, h, w)` with a `k x k` window and stride `k`
/// (floor mode: rows and columns that do not fill a window are dropped).
/// The gradient of each window goes to its first maximal element, as in
/// PyTorch; Candle's own `max_pool2d` divides it by `k^2`, so the fallback
/// off the kernels is a reshape and two max-reductions.
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (ho, wo) = (h / k.max(1), w / k.max(1));
    if k == 0 || ho == 0 || wo == 0 {
        bail!("max_pool2d: a {k}x{k} window does not fit a {h}x{w} input");
    }
    if use_kernels(x) {
        return x.contiguous()?.apply_op1(max_pool::MaxPool { k });
    }
    // The gradient of a max-reduction goes to the maximal element (to each
    // of them on ties).
    let x = if ho * k != h || wo * k != w {
        x.narrow(2, 0, ho * k)?.narrow(3, 0, wo * k)?
    } else {
        x.clone()
    };
    x.contiguous()?
        .reshape((n, c, ho, k, wo, k))?
        .max(5)?
        .max(3)
}
