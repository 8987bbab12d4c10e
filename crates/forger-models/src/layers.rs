//! Layers the tutorials need and Candle lacks or gets wrong: convolution with
//! TensorFlow's SAME padding, PyTorch's default initialisation, and a
//! max-pool whose gradient is right.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Conv2dConfig, Init, VarBuilder};

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

/// A fully connected layer with PyTorch's default initialisation.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<candle_nn::Linear> {
    let init = torch_default_init(in_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = vb.get_with_hints(out_dim, "bias", init)?;
    Ok(candle_nn::Linear::new(weight, Some(bias)))
}

/// A stride-1 convolution with TensorFlow's SAME padding: the output has the
/// input's height and width. For an even kernel `k` the padding is
/// asymmetric, `k/2 - 1` before and `k/2` after (for 4x4: 1 and 2).
#[derive(Debug, Clone)]
pub struct Conv2dSame {
    conv: candle_nn::Conv2d,
    kernel: usize,
}

/// A [`Conv2dSame`] with PyTorch's default initialisation.
pub fn conv2d_same(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    vb: VarBuilder,
) -> Result<Conv2dSame> {
    let init = torch_default_init(in_channels * kernel * kernel);
    let weight = vb.get_with_hints((out_channels, in_channels, kernel, kernel), "weight", init)?;
    let bias = vb.get_with_hints(out_channels, "bias", init)?;
    // Odd kernels pad symmetrically, which the convolution does itself.
    let padding = if kernel % 2 == 1 { kernel / 2 } else { 0 };
    let config = Conv2dConfig {
        padding,
        ..Default::default()
    };
    Ok(Conv2dSame {
        conv: candle_nn::Conv2d::new(weight, Some(bias), config),
        kernel,
    })
}

impl Module for Conv2dSame {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.kernel % 2 == 1 {
            return self.conv.forward(xs);
        }
        let (before, after) = (self.kernel / 2 - 1, self.kernel / 2);
        let xs = xs.pad_with_zeros(D::Minus2, before, after)?;
        let xs = xs.pad_with_zeros(D::Minus1, before, after)?;
        self.conv.forward(&xs)
    }
}

/// Max-pooling with a `k x k` window and stride `k` (floor mode: trailing
/// rows and columns that do not fill a window are dropped).
///
/// Written as a reshape and two max-reductions rather than with Candle's
/// `max_pool2d`, whose backward pass divides the gradient by `k^2`. The
/// gradient of a max-reduction goes to the maximal element (to each of them
/// on ties), which is the gradient of max-pooling.
pub fn max_pool2d(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let (ho, wo) = (h / k, w / k);
    let xs = if ho * k != h || wo * k != w {
        xs.narrow(2, 0, ho * k)?.narrow(3, 0, wo * k)?
    } else {
        xs.clone()
    };
    xs.contiguous()?
        .reshape((n, c, ho, k, wo, k))?
        .max(5)?
        .max(3)
}

/// Inverted dropout: each element is zeroed with probability `p` and the
/// rest scaled by `1 / (1 - p)`. The mask is drawn from `rng` (Candle's CPU
/// generator cannot be seeded), so a training run is a function of its seed.
pub fn dropout(xs: &Tensor, p: f64, rng: &mut rand_pcg::Pcg64) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(xs.clone());
    }
    use rand::Rng;
    let keep = 1.0 - p;
    let scale = (1.0 / keep) as f32;
    let mask: Vec<f32> = (0..xs.elem_count())
        .map(|_| if rng.gen::<f64>() < keep { scale } else { 0.0 })
        .collect();
    let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
    xs.mul(&mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    #[test]
    fn dropout_keeps_the_expectation_and_is_seeded() {
        use rand::SeedableRng;
        let x = Tensor::ones(10_000, DType::F32, &Device::Cpu).unwrap();
        let a = dropout(&x, 0.3, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
        let b = dropout(&x, 0.3, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        let v = a.to_vec1::<f32>().unwrap();
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        assert!((2700..3300).contains(&zeros), "{zeros} of 10000 dropped");
        let mean = v.iter().sum::<f32>() / 10_000.0;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
    }

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
}
