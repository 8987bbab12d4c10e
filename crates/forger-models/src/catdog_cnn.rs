use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::layers::{conv2d_same_with, dropout, linear_with, Conv2d, InitScheme, Linear};
use crate::{ImageClassifier, Mode, ModelError, Result, Trace};
use forger_kernels::relu;

/// The cats-vs-dogs tutorial's CNN: three blocks of 3x3 SAME convolution,
/// ReLU, 2x2 max-pooling and dropout; then dense layers with ReLU and a
/// dense output of one logit per class (the sigmoid belongs to the loss).
/// The defaults are the tutorial's: 3x64x64 in, 16/32/64 filters, dropout
/// 0.3, dense 4096 -> 512 -> 256 -> 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatDogCnnConfig {
    /// `[channels, height, width]` of the input images.
    pub input: [usize; 3],
    /// Filters of the three convolutions.
    pub filters: [usize; 3],
    /// Dropout probability after each block (training only).
    pub dropout: f64,
    /// Widths of the two hidden dense layers.
    pub dense: [usize; 2],
    /// Number of classes (outputs).
    pub classes: usize,
    /// Initialisation: Keras' (the tutorial's framework) by default.
    pub init: InitScheme,
}

impl Default for CatDogCnnConfig {
    fn default() -> Self {
        Self {
            input: [3, 64, 64],
            filters: [16, 32, 64],
            dropout: 0.3,
            dense: [512, 256],
            classes: 2,
            init: InitScheme::Keras,
        }
    }
}

/// Side of the square convolution kernels.
const KERNEL: usize = 3;

impl CatDogCnnConfig {
    /// Inputs of the flattened features into the first dense layer (4096 by
    /// default): three 2x2 pools divide height and width by 8.
    pub fn features(&self) -> usize {
        self.filters[2] * (self.input[1] / 8) * (self.input[2] / 8)
    }

    /// Builds the model; its weights are `c1.*`, `c2.*`, `c3.*`, `fc1.*`,
    /// `fc2.*` and `out.*` in `vb`.
    pub fn init(&self, vb: VarBuilder) -> Result<CatDogCnn> {
        let sizes_ok = self.input[0] > 0 && self.input[1] >= 8 && self.input[2] >= 8;
        let widths_ok = self.filters.iter().chain(&self.dense).all(|&n| n > 0);
        if !sizes_ok || !widths_ok || self.classes < 2 || !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Config(format!(
                "CatDogCnn needs images of at least 8x8, non-zero widths, two classes and dropout in [0, 1); \
                 got input {:?}, filters {:?}, dense {:?}, {} classes, dropout {}",
                self.input, self.filters, self.dense, self.classes, self.dropout
            )));
        }
        let [f1, f2, f3] = self.filters;
        let [d1, d2] = self.dense;
        let init = self.init;
        Ok(CatDogCnn {
            convs: [
                conv2d_same_with(self.input[0], f1, KERNEL, init, vb.pp(CONVS[0]))?,
                conv2d_same_with(f1, f2, KERNEL, init, vb.pp(CONVS[1]))?,
                conv2d_same_with(f2, f3, KERNEL, init, vb.pp(CONVS[2]))?,
            ],
            fc1: linear_with(self.features(), d1, init, vb.pp("fc1"))?,
            fc2: linear_with(d1, d2, init, vb.pp("fc2"))?,
            out: linear_with(d2, self.classes, init, vb.pp("out"))?,
            config: self.clone(),
        })
    }
}

/// See [`CatDogCnnConfig`].
#[derive(Debug, Clone)]
pub struct CatDogCnn {
    convs: [Conv2d; 3],
    fc1: Linear,
    fc2: Linear,
    out: Linear,
    config: CatDogCnnConfig,
}

/// The names of the convolutions' weights, and of their stages.
const CONVS: [&str; 3] = ["c1", "c2", "c3"];

impl CatDogCnn {
    /// The blocks and the hidden dense layers: the input of the output layer.
    fn hidden(
        &self,
        images: &Tensor,
        mut mode: Mode<'_>,
        trace: &mut Trace,
    ) -> candle_core::Result<Tensor> {
        let mut x = images.clone();
        for (conv, name) in self.convs.iter().zip(CONVS) {
            x = conv.forward_leaky_relu_max_pool(&x, 0.0, 2)?;
            if let Mode::Train(rng) = &mut mode {
                x = dropout(&x, self.config.dropout, rng)?;
            }
            x = trace.record(name, x);
        }
        let x = trace.record("flatten", x.flatten_from(1)?);
        let x = trace.record("fc1", relu(&self.fc1.forward(&x)?)?);
        Ok(trace.record("fc2", relu(&self.fc2.forward(&x)?)?))
    }

    fn logits_traced(
        &self,
        images: &Tensor,
        mode: Mode<'_>,
        trace: &mut Trace,
    ) -> candle_core::Result<Tensor> {
        let hidden = self.hidden(images, mode, trace)?;
        Ok(trace.record("out", self.out.forward(&hidden)?))
    }
}

impl ImageClassifier for CatDogCnn {
    fn logits(&self, images: &Tensor, mode: Mode<'_>) -> candle_core::Result<Tensor> {
        self.logits_traced(images, mode, &mut Trace::off())
    }

    /// The 256 (by default) activations of the second dense layer.
    fn features(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.hidden(images, Mode::Eval, &mut Trace::off())
    }

    fn layer_outputs(&self, images: &Tensor) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        let mut trace = Trace::on();
        self.logits_traced(images, Mode::Eval, &mut trace)?;
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
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    fn build(config: &CatDogCnnConfig, vm: &candle_nn::VarMap) -> Result<CatDogCnn> {
        config.init(crate::seeded_vars(
            vm,
            Pcg64::seed_from_u64(0),
            &Device::Cpu,
        ))
    }

    #[test]
    fn tutorial_shapes_and_parameter_count() {
        let vm = candle_nn::VarMap::new();
        let model = build(&CatDogCnnConfig::default(), &vm).unwrap();
        let x = Tensor::rand(0f32, 1., (2, 3, 64, 64), &Device::Cpu).unwrap();
        assert_eq!(model.logits(&x, Mode::Eval).unwrap().dims(), &[2, 2]);
        assert_eq!(model.features(&x).unwrap().dims(), &[2, 256]);
        assert_eq!(CatDogCnnConfig::default().features(), 4096);
        let params: usize = vm.all_vars().iter().map(|v| v.elem_count()).sum();
        // convs 3*16*9+16, 16*32*9+32, 32*64*9+64; dense 4096*512+512, 512*256+256, 256*2+2
        assert_eq!(params, 448 + 4640 + 18496 + 2_097_664 + 131_328 + 514);
        assert_eq!((model.num_classes(), model.input_shape()), (2, [3, 64, 64]));
    }

    #[test]
    fn dropout_only_in_training_and_seeded() {
        let vm = candle_nn::VarMap::new();
        let config = CatDogCnnConfig {
            input: [1, 20, 12],
            classes: 3,
            ..Default::default()
        };
        let model = build(&config, &vm).unwrap();
        let x = Tensor::rand(0f32, 1., (4, 1, 20, 12), &Device::Cpu).unwrap();
        let run = |mode: Mode| {
            model
                .logits(&x, mode)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let eval = run(Mode::Eval);
        assert_eq!(eval.len(), 12);
        assert_eq!(eval, run(Mode::Eval));
        let train = run(Mode::Train(&mut Pcg64::seed_from_u64(5)));
        assert_eq!(train, run(Mode::Train(&mut Pcg64::seed_from_u64(5))));
        assert_ne!(train, eval);
        assert_ne!(train, run(Mode::Train(&mut Pcg64::seed_from_u64(6))));
        let no_dropout = CatDogCnnConfig {
            dropout: 0.0,
            ..config.clone()
        };
        let plain = build(&no_dropout, &vm).unwrap();
        let y = plain
            .logits(&x, Mode::Train(&mut Pcg64::seed_from_u64(5)))
            .unwrap();
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), eval);
    }

    #[test]
    fn bad_configs_are_rejected() {
        let vm = candle_nn::VarMap::new();
        for bad in [
            CatDogCnnConfig {
                classes: 1,
                ..Default::default()
            },
            CatDogCnnConfig {
                input: [3, 4, 64],
                ..Default::default()
            },
            CatDogCnnConfig {
                dropout: 1.0,
                ..Default::default()
            },
            CatDogCnnConfig {
                dense: [0, 256],
                ..Default::default()
            },
        ] {
            assert!(build(&bad, &vm)
                .unwrap_err()
                .to_string()
                .contains("CatDogCnn needs"));
        }
    }
}
