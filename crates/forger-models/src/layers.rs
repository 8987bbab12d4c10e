//! Layers the tutorials need and Candle lacks or gets wrong: convolution with
//! TensorFlow's SAME padding, PyTorch's default initialisation, a max-pool
//! whose gradient is right, and a fully connected layer on forger's kernels.

use candle_core::{Module, ModuleT, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use forger_kernels::{self as kernels, Padding};

use crate::init::truncated_normal;

/// PyTorch's default initialisation for a layer with `fan_in` inputs:
/// uniform in `+-1/sqrt(fan_in)` for weights and biases alike. Used so that
/// forger's tutorials start where the PyTorch and Keras ones do.
pub fn torch_default_init(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// How a layer's weights and biases start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// PyTorch's default: weights and biases uniform in `+-1/sqrt(fan_in)`.
    #[default]
    Torch,
    /// Keras' default: Glorot-uniform weights (`+-sqrt(6 / (fan_in +
    /// fan_out))`), zero biases.
    Keras,
    /// The TensorFlow 1 MNIST tutorial's: weights and biases from a normal
    /// of stddev 0.1 truncated at two stddevs (`tf.truncated_normal`). The
    /// MNIST CNN's output layer uses stddev 1.0, as the tutorial's code does.
    Tf1,
}

impl InitScheme {
    /// The initialisers of the weight and the bias of a layer with `fan_in`
    /// inputs and `fan_out` outputs per output position.
    pub fn weight_and_bias(self, fan_in: usize, fan_out: usize) -> (Init, Init) {
        match self {
            Self::Torch => (torch_default_init(fan_in), torch_default_init(fan_in)),
            Self::Keras => {
                let bound = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
                let weight = Init::Uniform {
                    lo: -bound,
                    up: bound,
                };
                (weight, Init::Const(0.0))
            }
            Self::Tf1 => (truncated_normal(0.1), truncated_normal(0.1)),
        }
    }
}

/// A fully connected layer, `y = x W^T + b` on `[batch, inputs]` input, with
/// `W` of shape `[outputs, inputs]` (as `candle_nn::Linear` and PyTorch store
/// it). On CPU it runs on [`forger_kernels::linear`].
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer with these parameters.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// The weight, `[outputs, inputs]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[outputs]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The same layer with its parameters detached from backprop.
    pub fn detached(&self) -> Self {
        Self::new(self.weight.detach(), self.bias.as_ref().map(Tensor::detach))
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        kernels::linear(x, &self.weight, self.bias.as_ref())
    }
}

/// A fully connected layer with PyTorch's default initialisation.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    linear_with(in_dim, out_dim, InitScheme::Torch, vb)
}

/// A fully connected layer initialised by `init`.
pub fn linear_with(
    in_dim: usize,
    out_dim: usize,
    init: InitScheme,
    vb: VarBuilder,
) -> Result<Linear> {
    linear_hinted(in_dim, out_dim, init.weight_and_bias(in_dim, out_dim), vb)
}

/// A fully connected layer whose weight and bias start as the two hints say.
pub fn linear_hinted(
    in_dim: usize,
    out_dim: usize,
    (w_init, b_init): (Init, Init),
    vb: VarBuilder,
) -> Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", w_init)?;
    let bias = vb.get_with_hints(out_dim, "bias", b_init)?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A 2-D convolution (one group, dilation 1) with any stride and
/// asymmetric padding, on forger's kernels on CPU ([`forger_kernels::conv2d`]).
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: Padding,
}

impl Conv2d {
    /// A convolution with weight `(out, in, k, k)` and an optional bias `(out,)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, stride: usize, padding: Padding) -> Self {
        Self {
            weight,
            bias,
            stride,
            padding,
        }
    }

    /// The convolution followed by LeakyReLU with `slope` (ReLU for 0), as
    /// one op ([`forger_kernels::conv2d_leaky_relu`]).
    pub fn forward_leaky_relu(&self, xs: &Tensor, slope: f64) -> Result<Tensor> {
        kernels::conv2d_leaky_relu(
            xs,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            slope,
        )
    }

    /// The convolution, LeakyReLU with `slope` and `k x k` max-pooling, as
    /// one op ([`forger_kernels::conv2d_leaky_relu_max_pool`]).
    pub fn forward_leaky_relu_max_pool(&self, xs: &Tensor, slope: f64, k: usize) -> Result<Tensor> {
        kernels::conv2d_leaky_relu_max_pool(
            xs,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
            slope,
            k,
        )
    }

    /// The same convolution with its weights as constants: gradients reach
    /// its input but not its weights.
    pub fn detached(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.as_ref().map(Tensor::detach),
            ..*self
        }
    }
}

/// A stride-1 convolution with TensorFlow's SAME padding (the output has the
/// input's height and width; for an even kernel `k` the padding is
/// asymmetric, `k/2 - 1` before and `k/2` after: for 4x4, 1 and 2), with
/// PyTorch's default initialisation.
pub fn conv2d_same(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    vb: VarBuilder,
) -> Result<Conv2d> {
    conv2d_same_with(in_channels, out_channels, kernel, InitScheme::Torch, vb)
}

/// [`conv2d_same`] initialised by `init`.
pub fn conv2d_same_with(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    init: InitScheme,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let area = kernel * kernel;
    let (w_init, b_init) = init.weight_and_bias(in_channels * area, out_channels * area);
    let weight = vb.get_with_hints(
        (out_channels, in_channels, kernel, kernel),
        "weight",
        w_init,
    )?;
    let bias = vb.get_with_hints(out_channels, "bias", b_init)?;
    Ok(Conv2d::new(weight, Some(bias), 1, Padding::same(kernel)))
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        kernels::conv2d(
            xs,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
        )
    }
}

/// A transposed convolution (PyTorch's `ConvTranspose2d`, dilation 1, one
/// group), on forger's kernels on CPU ([`forger_kernels::conv_transpose2d`]).
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: ConvTranspose2dConfig,
}

/// Stride, padding and output padding of a [`ConvTranspose2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dConfig {
    /// Stride (upsampling factor).
    pub stride: usize,
    /// Rows and columns cropped from each side of the full output.
    pub padding: usize,
    /// Rows and columns added after the last (less than `stride`).
    pub output_padding: usize,
}

/// A [`ConvTranspose2d`] from `in_channels` to `out_channels` with a square
/// `kernel`, with or without bias, and PyTorch's default initialisation
/// (whose fan-in for this layer is `out_channels * kernel^2`). Its weight is
/// `(in_channels, out_channels, kernel, kernel)`, as in PyTorch.
pub fn conv_transpose2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: ConvTranspose2dConfig,
    bias: bool,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let init = torch_default_init(out_channels * kernel * kernel);
    let weight = vb.get_with_hints((in_channels, out_channels, kernel, kernel), "weight", init)?;
    let bias = if bias {
        Some(vb.get_with_hints(out_channels, "bias", init)?)
    } else {
        None
    };
    Ok(ConvTranspose2d::new(weight, bias, config))
}

impl ConvTranspose2d {
    /// A transposed convolution with weight `(in, out, k, k)` and an optional bias `(out,)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: ConvTranspose2dConfig) -> Self {
        Self {
            weight,
            bias,
            config,
        }
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let c = self.config;
        let ys =
            kernels::conv_transpose2d(xs, &self.weight, c.stride, c.padding, c.output_padding)?;
        match &self.bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => Ok(ys),
        }
    }
}

/// Batch normalisation over dimension 1 with learned scale and shift and
/// running statistics (momentum 0.1, as PyTorch and Candle), on forger's
/// kernel in training mode on CPU and on Candle's `BatchNorm` otherwise.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    candle: candle_nn::BatchNorm,
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
}

impl BatchNorm {
    /// Momentum of the running statistics.
    const MOMENTUM: f64 = 0.1;

    /// From `weight` and `bias` (learned) and the running statistics
    /// `running_mean` and `running_var`, all `(c,)`; running statistics that
    /// are variables (as from a `VarBuilder`) are updated in place.
    pub fn new(
        weight: Tensor,
        bias: Tensor,
        running_mean: Tensor,
        running_var: Tensor,
        eps: f64,
    ) -> Result<Self> {
        let channels = weight.elem_count();
        let candle = candle_nn::BatchNorm::new(
            channels,
            running_mean.clone(),
            running_var.clone(),
            weight.clone(),
            bias.clone(),
            eps,
        )?;
        Ok(Self {
            candle,
            weight,
            bias,
            running_mean: Var::from_tensor(&running_mean)?,
            running_var: Var::from_tensor(&running_var)?,
            eps,
        })
    }

    /// The running mean.
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running (unbiased) variance.
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// The batch norm, then LeakyReLU with `slope` (ReLU for 0), as one op
    /// in training on forger's kernels.
    pub fn forward_leaky_relu_t(&self, xs: &Tensor, train: bool, slope: f64) -> Result<Tensor> {
        match self.train_kernel(xs, train, Some(slope))? {
            Some(ys) => Ok(ys),
            None => kernels::leaky_relu(&self.candle.forward_t(xs, train)?, slope),
        }
    }

    /// The output of forger's training kernel, the running statistics
    /// updated; `None` outside training or where the kernel does not run.
    fn train_kernel(&self, xs: &Tensor, train: bool, slope: Option<f64>) -> Result<Option<Tensor>> {
        if !train {
            return Ok(None);
        }
        let Some((ys, stats)) =
            kernels::batch_norm_train(xs, &self.weight, &self.bias, self.eps, slope)?
        else {
            return Ok(None);
        };
        // Candle's update: the variance unbiased over the n * spatial values.
        let count = (xs.elem_count() / self.weight.elem_count().max(1)) as f64;
        let m = Self::MOMENTUM;
        let mean = self.running_mean.affine(1.0 - m, 0.0)? + stats.get(0)?.affine(m, 0.0)?;
        let var = self.running_var.affine(1.0 - m, 0.0)?
            + stats.get(1)?.affine(m * count / (count - 1.0), 0.0)?;
        self.running_mean.set(&mean?)?;
        self.running_var.set(&var?)?;
        Ok(Some(ys))
    }
}

impl ModuleT for BatchNorm {
    /// `train`: batch statistics, and the running ones updated; otherwise
    /// the running statistics.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self.train_kernel(xs, train, None)? {
            Some(ys) => Ok(ys),
            None => self.candle.forward_t(xs, train),
        }
    }
}

/// Spectral normalisation (Miyato et al. 2018): a weight divided by an
/// estimate of its largest singular value σ, the weight read as a `(rows,
/// rest)` matrix (rows: its first dimension). Each training forward pass
/// takes one power-iteration step, `v = unit(W^T u)`, `u = unit(W v)`, `σ =
/// u^T W v`, as PyTorch's `spectral_norm` does; the gradient flows through
/// `W` in σ, not through `u` or `v`. The state `u` is a variable of the
/// `VarBuilder` (so a checkpoint saves it and a resumed run continues
/// exactly), and no gradient ever reaches it, so optimizers leave it alone.
#[derive(Debug, Clone)]
pub struct SpectralNorm {
    u: Var,
}

impl SpectralNorm {
    /// Below this norm a vector is not rescaled (PyTorch's `normalize` eps).
    const EPS: f64 = 1e-12;

    /// The state of a weight with `rows` rows, the variable `name` of `vb`,
    /// drawn from N(0, 1).
    pub fn new(rows: usize, name: &str, vb: &VarBuilder) -> Result<Self> {
        let u = vb.get_with_hints(
            rows,
            name,
            Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        )?;
        Ok(Self {
            u: Var::from_tensor(&u)?,
        })
    }

    /// The current estimate of the left singular vector (not normalised).
    pub fn u(&self) -> &Tensor {
        self.u.as_tensor()
    }

    /// σ as a `(1, 1)` tensor. With `update`, one power-iteration step
    /// first and `u` replaced by its result; without, `σ = |W^T unit(u)|`
    /// from the stored `u`.
    pub fn sigma(&self, weight: &Tensor, update: bool) -> Result<Tensor> {
        let rows = weight.dim(0)?;
        let w = weight.reshape((rows, ()))?;
        let fixed = w.detach();
        let u = unit(&self.u.as_tensor().detach().reshape((rows, 1))?)?;
        let v = unit(&fixed.t()?.matmul(&u)?)?;
        let u = if update {
            let next = unit(&fixed.matmul(&v)?)?;
            self.u.set(&next.flatten_all()?)?;
            next
        } else {
            u
        };
        u.t()?.matmul(&w.matmul(&v)?)
    }

    /// `weight / σ` ([`SpectralNorm::sigma`]).
    pub fn normalise(&self, weight: &Tensor, update: bool) -> Result<Tensor> {
        weight.broadcast_div(&self.sigma(weight, update)?)
    }
}

/// `x / max(|x|, eps)` for a column `x`.
fn unit(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_all()?.sqrt()?.maximum(SpectralNorm::EPS)?;
    x.broadcast_div(&norm)
}

/// Max-pooling with a `k x k` window and stride `k` (floor mode: trailing
/// rows and columns that do not fill a window are dropped), with the right
/// gradient: Candle's `max_pool2d` divides it by `k^2`. See
/// [`forger_kernels::max_pool2d`].
pub fn max_pool2d(xs: &Tensor, k: usize) -> Result<Tensor> {
    kernels::max_pool2d(xs, k)
}

/// Inverted dropout: each element is zeroed with probability `p` and the
/// rest scaled by `1 / (1 - p)`. The mask's seed is drawn from `rng`
/// (Candle's CPU generator cannot be seeded), so a training run is a
/// function of its seed ([`forger_kernels::dropout`]).
pub fn dropout(xs: &Tensor, p: f64, rng: &mut rand_pcg::Pcg64) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(xs.clone());
    }
    use rand::Rng;
    kernels::dropout(xs, p, rng.gen())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One power-iteration step by hand, in f64, on the weight as a
    /// `(rows, cols)` matrix `w`: the new `u` and σ.
    fn power_step(w: &[f64], rows: usize, u: &[f64]) -> (Vec<f64>, f64) {
        let cols = w.len() / rows;
        let unit = |x: Vec<f64>| {
            let n = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            x.into_iter().map(|v| v / n).collect::<Vec<_>>()
        };
        let u = unit(u.to_vec());
        let v = unit(
            (0..cols)
                .map(|j| (0..rows).map(|i| w[i * cols + j] * u[i]).sum())
                .collect(),
        );
        let wv: Vec<f64> = (0..rows)
            .map(|i| (0..cols).map(|j| w[i * cols + j] * v[j]).sum())
            .collect();
        let next = unit(wv.clone());
        let sigma = next.iter().zip(&wv).map(|(a, b)| a * b).sum();
        (next, sigma)
    }

    #[test]
    fn spectral_norm_step_matches_a_hand_power_iteration_and_converges() {
        let dev = Device::Cpu;
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F64, &dev);
        let sn = SpectralNorm::new(3, "w_u", &vb).unwrap();
        // A (3, 2, 2, 1) weight: a 3 x 4 matrix.
        let values: Vec<f64> = (0..12).map(|i| ((i * 7) % 5) as f64 - 1.5).collect();
        let weight = Tensor::from_vec(values.clone(), (3, 2, 2, 1), &dev).unwrap();
        let u0 = sn.u().to_vec1::<f64>().unwrap();
        let (u1, sigma1) = power_step(&values, 3, &u0);
        let sigma = sn.sigma(&weight, true).unwrap().reshape(()).unwrap();
        assert!((sigma.to_scalar::<f64>().unwrap() - sigma1).abs() < 1e-12);
        let stored = sn.u().to_vec1::<f64>().unwrap();
        assert!(stored.iter().zip(&u1).all(|(a, b)| (a - b).abs() < 1e-12));
        // Without an update, σ is |W^T unit(u)| from the stored u, and u stays.
        let wt_u: f64 = (0..4)
            .map(|j| {
                (0..3)
                    .map(|i| values[i * 4 + j] * u1[i])
                    .sum::<f64>()
                    .powi(2)
            })
            .sum::<f64>()
            .sqrt();
        let again = sn.sigma(&weight, false).unwrap().reshape(()).unwrap();
        assert!((again.to_scalar::<f64>().unwrap() - wt_u).abs() < 1e-12);
        assert_eq!(sn.u().to_vec1::<f64>().unwrap(), stored);
        // Iterated, σ converges to the largest singular value: 5 for
        // diag(5, 2, 1) padded to 3 x 4; the normalised weight's is 1.
        let mut diag = vec![0f64; 12];
        for (i, s) in [5.0, 2.0, 1.0].into_iter().enumerate() {
            diag[i * 4 + i] = s;
        }
        let diag = Tensor::from_vec(diag, (3, 4), &dev).unwrap();
        for _ in 0..60 {
            sn.sigma(&diag, true).unwrap();
        }
        let top = sn.sigma(&diag, true).unwrap().reshape(()).unwrap();
        assert!((top.to_scalar::<f64>().unwrap() - 5.0).abs() < 1e-9);
        let normalised = sn.normalise(&diag, false).unwrap();
        let max = normalised.max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!((max - 1.0).abs() < 1e-9, "{max}");
    }

    #[test]
    fn dropout_keeps_the_expectation_and_is_seeded() {
        use rand::SeedableRng;
        let x = Tensor::ones(10_000, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let a = dropout(&x, 0.3, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
        let b = dropout(&x, 0.3, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        let v = a.to_vec1::<f32>().unwrap();
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        assert!((2700..3300).contains(&zeros), "{zeros} of 10000 dropped");
        let mean = v.iter().sum::<f32>() / 10_000.0;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
    }
    use candle_core::{DType, Device, Var};

    #[test]
    fn max_pool_gradient_is_one_at_the_max() {
        let x = Var::new(&[[[[1f32, 2.], [3., 4.]]]], &Device::Cpu).unwrap();
        let y = max_pool2d(x.as_tensor(), 2).unwrap().sum_all().unwrap();
        let grads = y.backward().unwrap();
        let g = grads.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        assert_eq!(g.to_vec1::<f32>().unwrap(), vec![0., 0., 0., 1.]);
    }

    #[test]
    fn max_pool_matches_finite_differences() {
        let dev = Device::Cpu;
        // f64, so that the finite differences are exact enough to compare.
        let values: Vec<f64> = (0..2 * 3 * 5 * 6)
            .map(|i| ((i * 37) % 101) as f64 / 7.0)
            .collect();
        let x = Var::from_tensor(&Tensor::from_vec(values.clone(), (2, 3, 5, 6), &dev).unwrap())
            .unwrap();
        let weights = Tensor::arange(0f64, 2. * 3. * 2. * 3., &dev)
            .unwrap()
            .reshape((2, 3, 2, 3))
            .unwrap();
        let loss = |t: &Tensor| {
            max_pool2d(t, 2)
                .unwrap()
                .mul(&weights)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let grads = loss(x.as_tensor()).backward().unwrap();
        let analytic = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let eps = 1e-3;
        for i in 0..values.len() {
            let mut plus = values.clone();
            plus[i] += eps;
            let mut minus = values.clone();
            minus[i] -= eps;
            let f = |v: Vec<f64>| {
                loss(&Tensor::from_vec(v, (2, 3, 5, 6), &dev).unwrap())
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let numeric = (f(plus) - f(minus)) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 1e-6,
                "element {i}: {numeric} vs {}",
                analytic[i]
            );
        }
    }

    /// The layer's running statistics and evaluation mode against Candle's
    /// `BatchNorm` (the kernel's training-mode output and gradients are
    /// checked in forger-kernels).
    #[test]
    fn batch_norm_running_statistics_and_eval_match_candle() {
        use candle_core::Device;
        use rand::{Rng, SeedableRng};
        let dev = Device::Cpu;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(8);
        for dims in [vec![6, 5], vec![1, 3, 4, 5], vec![3, 4, 5, 7]] {
            let c = dims[1];
            let mut random = |dims: &[usize]| {
                let v: Vec<f64> = (0..dims.iter().product())
                    .map(|_| rng.gen_range(-1.0..1.0))
                    .collect();
                Tensor::from_vec(v, dims, &dev).unwrap()
            };
            let (gamma, beta, x) = (random(&[c]), random(&[c]), random(&dims));
            // Variables, as from a `VarBuilder`: both layers update them in place.
            let running = |v: f64| {
                Var::from_slice(&vec![v; c], c, &dev)
                    .unwrap()
                    .as_tensor()
                    .clone()
            };
            let ours = BatchNorm::new(
                gamma.clone(),
                beta.clone(),
                running(0.5),
                running(2.0),
                1e-5,
            )
            .unwrap();
            let theirs =
                candle_nn::BatchNorm::new(c, running(0.5), running(2.0), gamma, beta, 1e-5)
                    .unwrap();
            let max_diff = |a: &Tensor, b: &Tensor| {
                a.sub(b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            for step in 0..2 {
                let y = ours.forward_t(&x, true).unwrap();
                assert!(max_diff(&y, &theirs.forward_t(&x, true).unwrap()) < 1e-10);
                for (mine, candle) in [
                    (ours.running_mean(), theirs.running_mean()),
                    (ours.running_var(), theirs.running_var()),
                ] {
                    let diff = max_diff(mine, candle);
                    assert!(diff < 1e-12, "{dims:?} step {step}: running {diff}");
                }
                // Evaluation mode uses the (moved) running statistics.
                let (a, b) = (
                    ours.forward_t(&x, false).unwrap(),
                    theirs.forward_t(&x, false).unwrap(),
                );
                assert!(max_diff(&a, &b) < 1e-12, "{dims:?} step {step}: eval");
            }
            assert!(max_diff(ours.running_mean(), &running(0.5)) > 1e-3);
        }
    }

    #[test]
    fn same_padding_keeps_size_and_is_asymmetric_for_even_kernels() {
        let dev = Device::Cpu;
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let conv = conv2d_same(1, 1, 4, vb.pp("c")).unwrap();
        // A kernel that picks its top-left tap: with 1 row/col of padding
        // before, output (i, j) reads input (i - 1, j - 1).
        let mut k = vec![0f32; 16];
        k[0] = 1.0;
        vm.data().lock().unwrap()["c.weight"]
            .set(&Tensor::from_vec(k, (1, 1, 4, 4), &dev).unwrap())
            .unwrap();
        vm.data().lock().unwrap()["c.bias"]
            .set(&Tensor::zeros(1, DType::F32, &dev).unwrap())
            .unwrap();
        let x = Tensor::arange(1f32, 26., &dev)
            .unwrap()
            .reshape((1, 1, 5, 5))
            .unwrap();
        let y = conv.forward(&x).unwrap();
        assert_eq!(y.dims(), &[1, 1, 5, 5]);
        let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(&y[..6], &[0., 0., 0., 0., 0., 0.]);
        assert_eq!(y[6], 1.0);
        let odd = conv2d_same(2, 3, 3, vb.pp("odd")).unwrap();
        assert_eq!(
            odd.forward(&Tensor::zeros((1, 2, 7, 9), DType::F32, &dev).unwrap())
                .unwrap()
                .dims(),
            &[1, 3, 7, 9]
        );
    }

    #[test]
    fn conv_transpose_layer_shapes_bias_and_init() {
        let dev = Device::Cpu;
        let vm = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let config = ConvTranspose2dConfig {
            stride: 2,
            padding: 2,
            output_padding: 1,
        };
        let layer = conv_transpose2d(4, 2, 5, config, true, vb.pp("t")).unwrap();
        let x = Tensor::ones((1, 4, 7, 7), DType::F32, &dev).unwrap();
        let y = layer.forward(&x).unwrap();
        assert_eq!(y.dims(), &[1, 2, 14, 14]);
        let vars = vm.data().lock().unwrap();
        let (w, b) = (vars["t.weight"].as_tensor(), vars["t.bias"].as_tensor());
        assert_eq!(w.dims(), &[4, 2, 5, 5]);
        // PyTorch's fan-in for a transposed conv: out_channels * k^2 = 50.
        let bound = 1.0 / 50f32.sqrt();
        let max = w
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max <= bound && max > bound / 2.0, "{max} vs {bound}");
        let unbiased = kernels::conv_transpose2d(&x, w, 2, 2, 1).unwrap();
        let diff = (y - unbiased
            .broadcast_add(&b.reshape((1, 2, 1, 1)).unwrap())
            .unwrap())
        .unwrap();
        assert_eq!(
            diff.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
    }

    #[test]
    fn keras_init_is_glorot_uniform_with_zero_bias() {
        let vm = candle_nn::VarMap::new();
        let vb = crate::seeded_vars(
            &vm,
            rand::SeedableRng::seed_from_u64(0),
            &candle_core::Device::Cpu,
        );
        let conv = conv2d_same_with(3, 16, 3, InitScheme::Keras, vb.pp("c")).unwrap();
        let fc = linear_with(4096, 512, InitScheme::Keras, vb.pp("fc")).unwrap();
        let bound = |fan_in: f64, fan_out: f64| (6.0 / (fan_in + fan_out)).sqrt() as f32;
        for (w, limit) in [
            (conv.weight.clone(), bound(27.0, 144.0)),
            (fc.weight().clone(), bound(4096.0, 512.0)),
        ] {
            let w = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                max <= limit && max > 0.9 * limit,
                "max {max}, limit {limit}"
            );
        }
        let b = fc.bias().unwrap().to_vec1::<f32>().unwrap();
        assert!(b.iter().all(|&v| v == 0.0));
    }
}
