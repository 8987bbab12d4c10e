use candle_core::{ModuleT, Tensor};
use candle_nn::init::{FanInOut, Init, NonLinearity, NormalOrUniform};
use candle_nn::VarBuilder;
use forger_kernels::{relu, Padding};
use serde::{Deserialize, Serialize};

use crate::layers::{linear, BatchNorm, Conv2d, Linear};
use crate::{ImageClassifier, Mode, ModelError, Result, Trace};

/// A small residual network (He et al. 2016) for images of 28 to 256 px: a
/// 3x3 convolution stem (stride [`ResNetConfig::stem_stride`]), then one
/// stage per entry of [`ResNetConfig::widths`], each of
/// [`ResNetConfig::blocks`] basic blocks (two 3x3 convolutions with batch
/// norm and ReLU, and an identity shortcut, or a strided 1x1 convolution
/// with batch norm where the shape changes); every stage after the first
/// starts with stride 2, halving the side. Global average pooling gives the
/// features, a linear layer the logits. Convolutions have no bias (batch
/// norm follows each) and He-normal weights (fan-out, as torchvision's
/// ResNets); batch norm uses batch statistics in training, updating its
/// running statistics (saved with the weights), and those in evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResNetConfig {
    /// `[channels, height, width]` of the input images.
    pub input: [usize; 3],
    /// Number of classes (outputs).
    pub classes: usize,
    /// Channels of the stem and of each stage's blocks; the last is the
    /// number of features.
    pub widths: Vec<usize>,
    /// Basic blocks per stage.
    pub blocks: usize,
    /// Stride of the stem's convolution: 1 below 64 px, 2 from 64 px (see
    /// [`ResNetConfig::new`]), so that the first stage runs at 32 px or
    /// more but at no more than half the input's side.
    pub stem_stride: usize,
}

impl Default for ResNetConfig {
    /// One-channel 64x64 images, two classes.
    fn default() -> Self {
        Self::new([1, 64, 64], 2)
    }
}

impl ResNetConfig {
    /// The default network for `input` images and `classes` classes: four
    /// stages of one block, 16, 32, 64 and 128 channels, a stem of stride 1
    /// for images under 64 px and 2 from 64 px.
    pub fn new(input: [usize; 3], classes: usize) -> Self {
        Self {
            input,
            classes,
            widths: vec![16, 32, 64, 128],
            blocks: 1,
            stem_stride: if input[1].min(input[2]) >= 64 { 2 } else { 1 },
        }
    }

    /// Number of features: the channels of the last stage.
    pub fn features(&self) -> usize {
        self.widths.last().copied().unwrap_or(0)
    }

    /// Side of the last stage's maps for an input side `side`.
    fn last_side(&self, side: usize) -> usize {
        let stages = self.widths.len().saturating_sub(1) as u32;
        side.div_ceil(self.stem_stride.max(1)) >> stages
    }

    /// Builds the model; its weights are `stem.*`, `stage<i>.block<j>.*`
    /// and `head.*` in `vb`.
    pub fn init(&self, vb: VarBuilder) -> Result<ResNet> {
        let [channels, height, width] = self.input;
        let shapes_ok = channels > 0
            && !self.widths.is_empty()
            && self.widths.iter().all(|&w| w > 0)
            && self.blocks > 0
            && (1..=2).contains(&self.stem_stride)
            && self.last_side(height.min(width)) >= 1;
        if !shapes_ok || self.classes < 2 {
            return Err(ModelError::Config(format!(
                "ResNet needs non-zero channels and widths, at least one block per stage, a stem stride of 1 or 2, \
                 images large enough to halve once per stage after the first and two classes; \
                 got input {:?}, widths {:?}, {} blocks, stem stride {}, {} classes",
                self.input, self.widths, self.blocks, self.stem_stride, self.classes
            )));
        }
        let stem = ConvBn::new(channels, self.widths[0], 3, self.stem_stride, vb.pp("stem"))?;
        let mut blocks = Vec::with_capacity(self.widths.len() * self.blocks);
        let mut cin = self.widths[0];
        for (i, &cout) in self.widths.iter().enumerate() {
            for j in 0..self.blocks {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                let vb = vb.pp(format!("stage{i}")).pp(format!("block{j}"));
                blocks.push((
                    format!("stage{i}.block{j}"),
                    BasicBlock::new(cin, cout, stride, vb)?,
                ));
                cin = cout;
            }
        }
        Ok(ResNet {
            stem,
            blocks,
            head: linear(self.features(), self.classes, vb.pp("head"))?,
            config: self.clone(),
        })
    }
}

/// A convolution without bias and its batch norm.
#[derive(Debug, Clone)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    /// A `kernel x kernel` convolution from `cin` to `cout` channels with
    /// `stride` and padding `kernel / 2` (the side divides by `stride`,
    /// rounded up), then batch norm.
    fn new(cin: usize, cout: usize, kernel: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let he = Init::Kaiming {
            dist: NormalOrUniform::Normal,
            fan: FanInOut::FanOut,
            non_linearity: NonLinearity::ReLU,
        };
        let weight = vb.get_with_hints((cout, cin, kernel, kernel), "conv.weight", he)?;
        let conv = Conv2d::new(weight, None, stride, Padding::uniform(kernel / 2));
        Ok(Self {
            conv,
            bn: batch_norm(cout, vb.pp("bn"))?,
        })
    }

    /// Convolution and batch norm, then ReLU where `relu` says.
    fn forward(&self, xs: &Tensor, train: bool, relu: bool) -> candle_core::Result<Tensor> {
        let ys = candle_core::Module::forward(&self.conv, xs)?;
        if relu {
            self.bn.forward_leaky_relu_t(&ys, train, 0.0)
        } else {
            self.bn.forward_t(&ys, train)
        }
    }
}

/// Batch norm over `channels` with scale 1, shift 0 and fresh running
/// statistics (mean 0, variance 1), all variables of `vb`.
fn batch_norm(channels: usize, vb: VarBuilder) -> Result<BatchNorm> {
    let weight = vb.get_with_hints(channels, "weight", Init::Const(1.0))?;
    let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
    let mean = vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?;
    let var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
    Ok(BatchNorm::new(weight, bias, mean, var, 1e-5)?)
}

/// Two 3x3 convolutions with batch norm, the first with `stride`, and a
/// shortcut: identity, or a 1x1 convolution with batch norm where the
/// shape changes.
#[derive(Debug, Clone)]
struct BasicBlock {
    first: ConvBn,
    second: ConvBn,
    shortcut: Option<ConvBn>,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let shortcut = if stride != 1 || cin != cout {
            Some(ConvBn::new(cin, cout, 1, stride, vb.pp("shortcut"))?)
        } else {
            None
        };
        Ok(Self {
            first: ConvBn::new(cin, cout, 3, stride, vb.pp("first"))?,
            second: ConvBn::new(cout, cout, 3, 1, vb.pp("second"))?,
            shortcut,
        })
    }

    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let ys = self.first.forward(xs, train, true)?;
        let ys = self.second.forward(&ys, train, false)?;
        let shortcut = match &self.shortcut {
            Some(s) => s.forward(xs, train, false)?,
            None => xs.clone(),
        };
        relu(&(ys + shortcut)?)
    }
}

/// See [`ResNetConfig`].
#[derive(Debug, Clone)]
pub struct ResNet {
    stem: ConvBn,
    /// Each block with its weights' prefix.
    blocks: Vec<(String, BasicBlock)>,
    head: Linear,
    config: ResNetConfig,
}

impl ResNet {
    /// The globally average-pooled activations of the last stage, `(N, F)`.
    fn pooled(
        &self,
        images: &Tensor,
        train: bool,
        trace: &mut Trace,
    ) -> candle_core::Result<Tensor> {
        let mut x = trace.record("stem", self.stem.forward(images, train, true)?);
        for (name, block) in &self.blocks {
            x = trace.record(name, block.forward(&x, train)?);
        }
        Ok(trace.record("pool", x.mean((2, 3))?))
    }
}

impl ImageClassifier for ResNet {
    fn logits(&self, images: &Tensor, mode: Mode<'_>) -> candle_core::Result<Tensor> {
        let train = matches!(mode, Mode::Train(_));
        candle_core::Module::forward(&self.head, &self.pooled(images, train, &mut Trace::off())?)
    }

    /// The pooled features ([`ResNetConfig::features`], 128 by default),
    /// with batch norm's running statistics.
    fn features(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.pooled(images, false, &mut Trace::off())
    }

    fn layer_outputs(&self, images: &Tensor) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        let mut trace = Trace::on();
        let pooled = self.pooled(images, false, &mut trace)?;
        trace.record("head", candle_core::Module::forward(&self.head, &pooled)?);
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
    use candle_core::Device;
    use candle_nn::VarMap;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn build(config: &ResNetConfig, vm: &VarMap) -> Result<ResNet> {
        config.init(crate::seeded_vars(
            vm,
            Pcg64::seed_from_u64(0),
            &Device::Cpu,
        ))
    }

    /// Weights a block adds: two 3x3 convolutions and two batch norms (4
    /// values per channel: scale, shift, running mean and variance), and a
    /// 1x1 shortcut with its batch norm where the shape changes.
    fn block_params(cin: usize, cout: usize, shortcut: bool) -> usize {
        let convs = 9 * cin * cout + 9 * cout * cout + 8 * cout;
        convs + if shortcut { cin * cout + 4 * cout } else { 0 }
    }

    #[test]
    fn shapes_and_parameter_counts_for_each_size() {
        // Stem 1 -> 16 (3x3 + batch norm), blocks 16->16, 16->32, 32->64,
        // 64->128, head 128 -> 2.
        let expected = 9 * 16
            + 4 * 16
            + block_params(16, 16, false)
            + block_params(16, 32, true)
            + block_params(32, 64, true)
            + block_params(64, 128, true)
            + 128 * 2
            + 2;
        for (side, stem_stride) in [(28, 1), (64, 2), (128, 2)] {
            let vm = VarMap::new();
            let config = ResNetConfig::new([1, side, side], 2);
            assert_eq!(config.stem_stride, stem_stride);
            let model = build(&config, &vm).unwrap();
            let x = Tensor::rand(0f32, 1., (3, 1, side, side), &Device::Cpu).unwrap();
            assert_eq!(model.logits(&x, Mode::Eval).unwrap().dims(), &[3, 2]);
            assert_eq!(model.features(&x).unwrap().dims(), &[3, 128]);
            let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
            assert_eq!(params, expected, "{side} px");
            assert_eq!(model.input_shape(), [1, side, side]);
        }
        let rgb = ResNetConfig {
            widths: vec![8, 16],
            blocks: 2,
            ..ResNetConfig::new([3, 32, 32], 5)
        };
        let vm = VarMap::new();
        let model = build(&rgb, &vm).unwrap();
        let x = Tensor::rand(0f32, 1., (2, 3, 32, 32), &Device::Cpu).unwrap();
        assert_eq!(model.logits(&x, Mode::Eval).unwrap().dims(), &[2, 5]);
        let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
        let blocks =
            2 * block_params(8, 8, false) + block_params(8, 16, true) + block_params(16, 16, false);
        assert_eq!(params, 27 * 8 + 32 + blocks + 16 * 5 + 5);
    }

    #[test]
    fn batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones() {
        let vm = VarMap::new();
        let model = build(&ResNetConfig::new([1, 28, 28], 2), &vm).unwrap();
        let x = Tensor::rand(0f32, 1., (4, 1, 28, 28), &Device::Cpu).unwrap();
        let mean = |vm: &VarMap| {
            let data = vm.data().lock().unwrap();
            data["stem.bn.running_mean"]
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap()
        };
        let run = |mode: Mode<'_>| -> Vec<f32> {
            let logits = model.logits(&x, mode).unwrap();
            logits.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        let before = run(Mode::Eval);
        assert_eq!(mean(&vm), vec![0.0; 16]);
        assert_eq!(
            before,
            run(Mode::Eval),
            "evaluation leaves the statistics alone"
        );
        let mut rng = Pcg64::seed_from_u64(1);
        let train = run(Mode::Train(&mut rng));
        assert_ne!(train, before);
        assert!(mean(&vm).iter().any(|&m| m != 0.0), "training updates them");
        assert_ne!(run(Mode::Eval), before, "and evaluation then uses them");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let vm = VarMap::new();
        for bad in [
            ResNetConfig::new([1, 28, 28], 1),
            ResNetConfig {
                widths: vec![],
                ..Default::default()
            },
            ResNetConfig {
                stem_stride: 3,
                ..Default::default()
            },
            ResNetConfig::new([1, 4, 4], 2),
            ResNetConfig::new([0, 28, 28], 2),
        ] {
            let err = build(&bad, &vm).unwrap_err().to_string();
            assert!(err.contains("ResNet needs"), "{err}");
        }
        assert!(build(&ResNetConfig::new([1, 8, 8], 2), &VarMap::new()).is_ok());
    }
}
