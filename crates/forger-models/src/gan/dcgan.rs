//! The DCGAN (Radford et al. 2016), W3 of forger's benchmark workloads:
//! the DCGAN of the TensorFlow tutorial for 28x28 grey images. G maps z
//! (100) to a 256 x 7 x 7 map through a linear layer and batch norm, then
//! three 5x5 transposed convolutions (to 128 at 7x7, 64 at 14x14, C at
//! 28x28) with batch norm and LeakyReLU(0.2) between and tanh at the end; D
//! is two 5x5 stride-2 convolutions (64, 128) with LeakyReLU and dropout,
//! and a linear layer to one logit. For 64x64 images the maps start at
//! 16x16.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};

use super::{batch_norm, condition, embedding, project, GanConfig, LEAKY_SLOPE, WEIGHT_INIT};
use crate::layers::{dropout, BatchNorm, Conv2d, ConvTranspose2d, ConvTranspose2dConfig, Linear};
use crate::Mode;
use forger_kernels::Padding;

/// Side of G's first map: a quarter of the image side.
fn base(config: &GanConfig) -> usize {
    config.image[1] / 4
}

fn conv_transpose(
    cin: usize,
    cout: usize,
    stride: usize,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let weight = vb.get_with_hints((cin, cout, 5, 5), "weight", WEIGHT_INIT)?;
    let config = ConvTranspose2dConfig {
        padding: 2,
        output_padding: stride - 1,
        stride,
    };
    Ok(ConvTranspose2d::new(weight, None, config))
}

/// The DCGAN's generator.
#[derive(Debug, Clone)]
pub(super) struct Generator {
    project: Linear,
    bn0: BatchNorm,
    up: [ConvTranspose2d; 3],
    bn: [BatchNorm; 2],
    label_embedding: Option<Embedding>,
    widths: [usize; 3],
    base: usize,
}

impl Generator {
    pub(super) fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let [w0, w1, w2] = config.generator_widths;
        let base = base(config);
        let label_embedding = match config.classes {
            Some(k) => Some(embedding(k, config.embedding, vb.pp("label_embedding"))?),
            None => None,
        };
        let weight = vb.pp("project").get_with_hints(
            (w0 * base * base, config.generator_input()),
            "weight",
            WEIGHT_INIT,
        )?;
        Ok(Self {
            project: Linear::new(weight, None),
            bn0: batch_norm(w0 * base * base, vb.pp("bn0"))?,
            up: [
                conv_transpose(w0, w1, 1, vb.pp("up1"))?,
                conv_transpose(w1, w2, 2, vb.pp("up2"))?,
                conv_transpose(w2, config.image[0], 2, vb.pp("up3"))?,
            ],
            bn: [batch_norm(w1, vb.pp("bn1"))?, batch_norm(w2, vb.pp("bn2"))?],
            label_embedding,
            widths: config.generator_widths,
            base,
        })
    }

    /// See [`super::Generator::forward`].
    pub(super) fn forward(
        &self,
        z: &Tensor,
        labels: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let z = condition(z, self.label_embedding.as_ref(), labels)?;
        let [w0, ..] = self.widths;
        let base = self.base;
        let x = self.project.forward(&z)?;
        let x = self.bn0.forward_leaky_relu_t(&x, train, LEAKY_SLOPE)?;
        let x = x.reshape(((), w0, base, base))?;
        let x = self.bn[0].forward_leaky_relu_t(&self.up[0].forward(&x)?, train, LEAKY_SLOPE)?;
        let x = self.bn[1].forward_leaky_relu_t(&self.up[1].forward(&x)?, train, LEAKY_SLOPE)?;
        self.up[2].forward(&x)?.tanh()
    }
}

/// The DCGAN's discriminator.
#[derive(Debug, Clone)]
pub(super) struct Discriminator {
    convs: [Conv2d; 2],
    head: Linear,
    projection: Option<Embedding>,
    dropout: f64,
}

impl Discriminator {
    pub(super) fn new(config: &GanConfig, vb: VarBuilder) -> Result<Self> {
        let [d0, d1] = config.discriminator_widths;
        let conv = |cin: usize, cout: usize, vb: VarBuilder| -> Result<Conv2d> {
            let weight = vb.get_with_hints((cout, cin, 5, 5), "weight", WEIGHT_INIT)?;
            let bias = vb.get_with_hints(cout, "bias", Init::Const(0.0))?;
            Ok(Conv2d::new(weight, Some(bias), 2, Padding::uniform(2)))
        };
        let features = d1 * (config.image[1] / 4) * (config.image[2] / 4);
        let head_weight = vb
            .pp("head")
            .get_with_hints((1, features), "weight", WEIGHT_INIT)?;
        let head_bias = vb.pp("head").get_with_hints(1, "bias", Init::Const(0.0))?;
        let projection = match config.classes {
            Some(k) => Some(embedding(k, features, vb.pp("projection"))?),
            None => None,
        };
        Ok(Self {
            convs: [
                conv(config.image[0], d0, vb.pp("conv1"))?,
                conv(d0, d1, vb.pp("conv2"))?,
            ],
            head: Linear::new(head_weight, Some(head_bias)),
            projection,
            dropout: config.dropout,
        })
    }

    /// See [`super::Discriminator::frozen`].
    pub(super) fn frozen(&self) -> Self {
        Self {
            convs: [self.convs[0].detached(), self.convs[1].detached()],
            head: self.head.detached(),
            projection: self
                .projection
                .as_ref()
                .map(|e| Embedding::new(e.embeddings().detach(), e.embeddings().dims()[1])),
            dropout: self.dropout,
        }
    }

    /// Flattened features `(N, F)` of images `(N, C, H, W)` in `[-1, 1]`.
    pub(super) fn features(&self, images: &Tensor, mut mode: Mode<'_>) -> Result<Tensor> {
        let mut x = images.clone();
        for conv in &self.convs {
            x = conv.forward_leaky_relu(&x, LEAKY_SLOPE)?;
            if let Mode::Train(rng) = &mut mode {
                x = dropout(&x, self.dropout, rng)?;
            }
        }
        x.flatten_from(1)
    }

    /// See [`super::Discriminator::forward`].
    pub(super) fn forward(
        &self,
        images: &Tensor,
        labels: Option<&Tensor>,
        mode: Mode<'_>,
    ) -> Result<Tensor> {
        let h = self.features(images, mode)?;
        let logit = self.head.forward(&h)?;
        let projection = self.projection.as_ref().map(Embedding::embeddings);
        project(logit, &h, projection, labels)
    }
}

#[cfg(test)]
mod tests {
    use crate::gan::tests::{build, trainable};
    use crate::gan::{Discriminator, GanConfig};
    use crate::{seeded_vars, Mode};
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarMap;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn w3_shapes_and_parameter_counts() {
        let (g, d, gv, dv) = build(&GanConfig::default());
        let z = Tensor::zeros((2, 100), DType::F32, &Device::Cpu).unwrap();
        let img = g.forward(&z, None, true).unwrap();
        assert_eq!(img.dims(), &[2, 1, 28, 28]);
        assert_eq!(d.forward(&img, None, Mode::Eval).unwrap().dims(), &[2, 1]);
        // As PyTorch counts W3: G 2,330,944 and D 212,865 parameters.
        assert_eq!(
            trainable(&gv),
            100 * 12544 + 2 * 12544 + 256 * 128 * 25 + 2 * 128 + 128 * 64 * 25 + 2 * 64 + 64 * 25
        );
        assert_eq!(
            trainable(&dv),
            64 * 25 + 64 + 64 * 128 * 25 + 128 + 6272 + 1
        );
    }

    #[test]
    fn frozen_discriminator_passes_gradients_to_images_only() {
        let config = GanConfig {
            classes: Some(3),
            ..Default::default()
        };
        let (_, d, _, dv) = build(&config);
        let dev = Device::Cpu;
        let images =
            candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 1, 28, 28), &dev).unwrap())
                .unwrap();
        let y = Tensor::new(&[0u32, 2], &dev).unwrap();
        let grads = |d: &Discriminator| {
            d.forward(&images, Some(&y), Mode::Eval)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        };
        let (live, frozen) = (grads(&d), grads(&d.frozen()));
        let vars = dv.all_vars();
        assert!(vars.iter().all(|v| live.get(v).is_some()));
        assert!(vars.iter().all(|v| frozen.get(v).is_none()));
        let (a, b) = (live.get(&images).unwrap(), frozen.get(&images).unwrap());
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn conditional_and_64px_variants() {
        let config = GanConfig {
            image: [3, 64, 64],
            generator_widths: [16, 8, 4],
            discriminator_widths: [4, 8],
            classes: Some(2),
            ..Default::default()
        };
        let (g, d, _, _) = build(&config);
        let z = Tensor::zeros((3, 100), DType::F32, &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32, 1, 1], &Device::Cpu).unwrap();
        let img = g.forward(&z, Some(&y), false).unwrap();
        assert_eq!(img.dims(), &[3, 3, 64, 64]);
        assert_eq!(
            d.forward(&img, Some(&y), Mode::Eval).unwrap().dims(),
            &[3, 1]
        );
        assert!(g.forward(&z, None, false).is_err());
        let bad = GanConfig {
            image: [1, 32, 32],
            ..Default::default()
        };
        let (gv, dv) = (VarMap::new(), VarMap::new());
        let dev = Device::Cpu;
        let err = bad
            .init(
                seeded_vars(&gv, Pcg64::seed_from_u64(1), &dev),
                seeded_vars(&dv, Pcg64::seed_from_u64(2), &dev),
            )
            .unwrap_err();
        assert!(err.to_string().contains("28x28 or 64x64"), "{err}");
    }
}
