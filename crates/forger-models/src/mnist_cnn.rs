use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::layers::{conv2d_same_with, linear_hinted, linear_with, Conv2d, InitScheme, Linear};
use crate::truncated_normal;
use crate::{ImageClassifier, Mode, ModelError, Result, Trace};

/// The MNIST tutorial's CNN: two blocks of SAME convolution, ReLU and 2x2
/// max-pooling, then one linear layer. The defaults are the tutorial's
/// (1x28x28 in, 4x4 kernels, 4 then 8 channels, 392 -> 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MnistCnnConfig {
    /// `[channels, height, width]` of the input images.
    pub input: [usize; 3],
    /// Output channels of the two convolutions.
    pub channels: [usize; 2],
    /// Side of the square convolution kernels.
    pub kernel: usize,
    /// Number of classes.
    pub classes: usize,
    /// How the weights start: PyTorch's default (`torch`, the default) or
    /// the TensorFlow 1 tutorial's truncated normals (`tf1`: stddev 0.1
    /// for the convolutions, 1.0 for the output layer). `keras` gives
    /// Glorot-uniform weights and zero biases.
    pub init: InitScheme,
}

impl Default for MnistCnnConfig {
    fn default() -> Self {
        Self {
            input: [1, 28, 28],
            channels: [4, 8],
            kernel: 4,
            classes: 10,
            init: InitScheme::Torch,
        }
    }
}

impl MnistCnnConfig {
    /// Inputs of the flattened features into the linear layer (392 by default).
    pub fn features(&self) -> usize {
        self.channels[1] * (self.input[1] / 4) * (self.input[2] / 4)
    }

    /// Builds the model; its weights are `c1.*`, `c2.*` and `fc.*` in `vb`.
    pub fn init(&self, vb: VarBuilder) -> Result<MnistCnn> {
        if self.input[1] < 4 || self.input[2] < 4 || self.classes < 2 || self.kernel == 0 {
            return Err(ModelError::Config(format!(
                "MnistCnn needs images of at least 4x4, a kernel and two classes; got input {:?}, kernel {}, {} classes",
                self.input, self.kernel, self.classes
            )));
        }
        let (features, classes, init) = (self.features(), self.classes, self.init);
        let [ch1, ch2] = self.channels;
        let c1 = conv2d_same_with(self.input[0], ch1, self.kernel, init, vb.pp("c1"))?;
        let c2 = conv2d_same_with(ch1, ch2, self.kernel, init, vb.pp("c2"))?;
        let fc = match init {
            InitScheme::Tf1 => {
                let hints = (truncated_normal(1.0), truncated_normal(1.0));
                linear_hinted(features, classes, hints, vb.pp("fc"))?
            }
            _ => linear_with(features, classes, init, vb.pp("fc"))?,
        };
        Ok(MnistCnn {
            c1,
            c2,
            fc,
            config: self.clone(),
        })
    }
}

/// See [`MnistCnnConfig`].
#[derive(Debug, Clone)]
pub struct MnistCnn {
    c1: Conv2d,
    c2: Conv2d,
    fc: Linear,
    config: MnistCnnConfig,
}

impl MnistCnn {
    /// The 392 (by default) pooled activations of the second convolution.
    fn features_traced(&self, images: &Tensor, trace: &mut Trace) -> candle_core::Result<Tensor> {
        let x = self.c1.forward_leaky_relu_max_pool(images, 0.0, 2)?;
        let x = trace.record("c1", x);
        let x = trace.record("c2", self.c2.forward_leaky_relu_max_pool(&x, 0.0, 2)?);
        Ok(trace.record("flatten", x.flatten_from(1)?))
    }

    fn logits_traced(&self, images: &Tensor, trace: &mut Trace) -> candle_core::Result<Tensor> {
        let features = self.features_traced(images, trace)?;
        Ok(trace.record("fc", self.fc.forward(&features)?))
    }
}

impl ImageClassifier for MnistCnn {
    fn logits(&self, images: &Tensor, _mode: Mode<'_>) -> candle_core::Result<Tensor> {
        self.logits_traced(images, &mut Trace::off())
    }

    /// The 392 (by default) pooled activations of the second convolution.
    fn features(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.features_traced(images, &mut Trace::off())
    }

    fn layer_outputs(&self, images: &Tensor) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        let mut trace = Trace::on();
        self.logits_traced(images, &mut trace)?;
        Ok(trace.into_shapes())
    }

    fn num_classes(&self) -> usize {
        self.config.classes
    }

    fn input_shape(&self) -> [usize; 3] {
        self.config.input
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use rand::SeedableRng;

    #[test]
    fn tutorial_shapes_and_parameter_count() {
        let vm = candle_nn::VarMap::new();
        let vb = crate::seeded_vars(&vm, rand_pcg::Pcg64::seed_from_u64(0), &Device::Cpu);
        let model = MnistCnnConfig::default().init(vb).unwrap();
        let x = Tensor::zeros((3, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.logits(&x, Mode::Eval).unwrap().dims(), &[3, 10]);
        let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
        // conv1 4*1*16+4, conv2 8*4*16+8, fc 392*10+10
        assert_eq!(params, 68 + 520 + 3930);
    }

    #[test]
    fn other_inputs_and_bad_configs() {
        let vm = candle_nn::VarMap::new();
        let vb = crate::seeded_vars(&vm, rand_pcg::Pcg64::seed_from_u64(0), &Device::Cpu);
        let cfg = MnistCnnConfig {
            input: [3, 30, 30],
            classes: 2,
            ..Default::default()
        };
        let model = cfg.init(vb.pp("a")).unwrap();
        let tf1 = MnistCnnConfig {
            init: InitScheme::Tf1,
            ..Default::default()
        };
        tf1.init(vb.pp("t")).unwrap();
        let max_abs = |name: &str| {
            let v = vm.data().lock().unwrap()[name].flatten_all().unwrap();
            v.abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
        };
        // Truncated at 2 stddevs: 0.2 for the convolutions, 2.0 for the output.
        assert!(max_abs("t.c1.weight") <= 0.2 && max_abs("t.c2.bias") <= 0.2);
        assert!(max_abs("t.fc.weight") > 1.0 && max_abs("t.fc.weight") <= 2.0);
        let x = Tensor::zeros((2, 3, 30, 30), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.logits(&x, Mode::Eval).unwrap().dims(), &[2, 2]);
        let bad = MnistCnnConfig {
            classes: 1,
            ..Default::default()
        };
        assert!(bad
            .init(vb.pp("b"))
            .unwrap_err()
            .to_string()
            .contains("two classes"));
    }
}
