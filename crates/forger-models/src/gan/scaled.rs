//! The scaled GAN ([`super::GanArchitecture::Scaled`]): one block per
//! doubling of the side from a 4x4 (or 7x7) map, so that a 128 px GAN is
//! two blocks deeper than a 32 px one, with spectral normalisation of D as
//! an option.
//!
//! G's batch norm is plain, not class-conditional: the class already
//! enters G through the embedding concatenated to z, and the projection D
//! holds every sample to its class; conditional batch norm (BigGAN) would
//! add a class-indexed scale and shift at every resolution, and their
//! per-sample products, for two classes and a few hundred images, where
//! the CPU budget is better spent on depth.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};

use super::{
    batch_norm, condition, embedding, project, GanArchitecture, GanConfig, LEAKY_SLOPE, WEIGHT_INIT,
};
use crate::layers::{
    BatchNorm, Conv2d, ConvTranspose2d, ConvTranspose2dConfig, Linear, SpectralNorm,
};
use crate::{Mode, ModelError};
use forger_kernels::Padding;

/// The sides and widths of a scaled GAN's maps.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Shape {
    /// Side of G's first (and D's last) map: 4 or 7.
    base: usize,
    /// Channels of the maps, from full size (index 0) to `base x base`.
    widths: Vec<usize>,
    spectral_norm: bool,
}

impl Shape {
    /// The shape of `config`'s networks, or why the image size cannot have one.
    pub(super) fn of(config: &GanConfig) -> crate::Result<Self> {
        let GanArchitecture::Scaled {
            width,
            max_width,
            spectral_norm,
        } = config.architecture
        else {
            return Err(ModelError::Config("not a scaled GAN".into()));
        };
        if width == 0 || max_width < width {
            return Err(ModelError::Config(format!(
                "a scaled GAN needs width at least 1 and max_width at least width, \
                 not width {width}, max_width {max_width}"
            )));
        }
        let side = config.image[1];
        let mut base = side;
        let mut halvings = 0;
        while base > 7 && base.is_multiple_of(2) {
            base /= 2;
            halvings += 1;
        }
        if !(base == 4 || base == 7) || halvings == 0 {
            return Err(ModelError::Config(format!(
                "a scaled GAN takes square images of side 4 or 7 times a power of two \
                 (28, 32, 64, 128, 256 px), not {side}"
            )));
        }
        let widths = (0..=halvings)
            .map(|l| width.saturating_mul(1 << l).min(max_width))
            .collect();
        Ok(Self {
            base,
            widths,
            spectral_norm,
        })
    }

    fn deepest(&self) -> usize {
        *self.widths.last().expect("at least two levels")
    }
}

/// The scaled generator.
#[derive(Debug, Clone)]
pub(super) struct Generator {
    project: Linear,
    bn0: BatchNorm,
    /// From the smallest map up: the upsampling and its batch norm.
    up: Vec<(ConvTranspose2d, BatchNorm)>,
    to_image: Conv2d,
    label_embedding: Option<Embedding>,
    base: usize,
    first: usize,
}

/// A 4x4 stride-2 transposed convolution: twice the side.
fn upsample(cin: usize, cout: usize, vb: VarBuilder) -> Result<ConvTranspose2d> {
    let weight = vb.get_with_hints((cin, cout, 4, 4), "weight", WEIGHT_INIT)?;
    let config = ConvTranspose2dConfig {
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    Ok(ConvTranspose2d::new(weight, None, config))
}

impl Generator {
    pub(super) fn new(config: &GanConfig, shape: &Shape, vb: VarBuilder) -> Result<Self> {
        let label_embedding = match config.classes {
            Some(k) => Some(embedding(k, config.embedding, vb.pp("label_embedding"))?),
            None => None,
        };
        let (base, first) = (shape.base, shape.deepest());
        let weight = vb.pp("project").get_with_hints(
            (first * base * base, config.generator_input()),
            "weight",
            WEIGHT_INIT,
        )?;
        let levels = shape.widths.len() - 1;
        let up = (0..levels)
            .rev()
            .map(|l| {
                let vb = vb.pp(format!("up{}", levels - l));
                let conv = upsample(shape.widths[l + 1], shape.widths[l], vb.pp("conv"))?;
                Ok((conv, batch_norm(shape.widths[l], vb.pp("bn"))?))
            })
            .collect::<Result<_>>()?;
        let to_image = vb.pp("to_image");
        let to_image = Conv2d::new(
            to_image.get_with_hints(
                (config.image[0], shape.widths[0], 3, 3),
                "weight",
                WEIGHT_INIT,
            )?,
            Some(to_image.get_with_hints(config.image[0], "bias", Init::Const(0.0))?),
            1,
            Padding::uniform(1),
        );
        Ok(Self {
            project: Linear::new(weight, None),
            bn0: batch_norm(first, vb.pp("bn0"))?,
            up,
            to_image,
            label_embedding,
            base,
            first,
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
        let x = self
            .project
            .forward(&z)?
            .reshape(((), self.first, self.base, self.base))?;
        let mut x = self.bn0.forward_leaky_relu_t(&x, train, 0.0)?;
        for (conv, bn) in &self.up {
            x = bn.forward_leaky_relu_t(&conv.forward(&x)?, train, 0.0)?;
        }
        self.to_image.forward(&x)?.tanh()
    }
}

/// A weight of D, spectrally normalised when asked.
#[derive(Debug, Clone)]
struct Weight {
    raw: Tensor,
    norm: Option<SpectralNorm>,
}

impl Weight {
    /// The weight `name` of `vb` (and, with `spectral_norm`, its state `name_u`).
    fn new(
        shape: impl Into<candle_core::Shape>,
        name: &str,
        spectral_norm: bool,
        vb: &VarBuilder,
    ) -> Result<Self> {
        let raw = vb.get_with_hints(shape, name, WEIGHT_INIT)?;
        let norm = if spectral_norm {
            Some(SpectralNorm::new(raw.dim(0)?, &format!("{name}_u"), vb)?)
        } else {
            None
        };
        Ok(Self { raw, norm })
    }

    /// The weight to use: normalised (after a power-iteration step when
    /// `update`), or the raw one.
    fn get(&self, update: bool) -> Result<Tensor> {
        match &self.norm {
            Some(sn) => sn.normalise(&self.raw, update),
            None => Ok(self.raw.clone()),
        }
    }

    fn detached(&self) -> Self {
        Self {
            raw: self.raw.detach(),
            norm: self.norm.clone(),
        }
    }
}

/// A convolution of D: its weight, bias and geometry.
#[derive(Debug, Clone)]
struct DConv {
    weight: Weight,
    bias: Tensor,
    stride: usize,
    padding: Padding,
}

impl DConv {
    fn new(
        cin: usize,
        cout: usize,
        (kernel, stride, pad): (usize, usize, usize),
        spectral_norm: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            weight: Weight::new((cout, cin, kernel, kernel), "weight", spectral_norm, &vb)?,
            bias: vb.get_with_hints(cout, "bias", Init::Const(0.0))?,
            stride,
            padding: Padding::uniform(pad),
        })
    }

    fn forward(&self, x: &Tensor, update: bool) -> Result<Tensor> {
        let conv = Conv2d::new(
            self.weight.get(update)?,
            Some(self.bias.clone()),
            self.stride,
            self.padding,
        );
        conv.forward_leaky_relu(x, LEAKY_SLOPE)
    }

    fn detached(&self) -> Self {
        Self {
            weight: self.weight.detached(),
            bias: self.bias.detach(),
            ..*self
        }
    }
}

/// The scaled discriminator.
#[derive(Debug, Clone)]
pub(super) struct Discriminator {
    /// The 3x3 convolution from the image, then one stride-2 per halving.
    convs: Vec<DConv>,
    head: Weight,
    head_bias: Tensor,
    projection: Option<Weight>,
    /// A frozen copy takes no power-iteration step.
    frozen: bool,
}

impl Discriminator {
    pub(super) fn new(config: &GanConfig, shape: &Shape, vb: VarBuilder) -> Result<Self> {
        let sn = shape.spectral_norm;
        let mut convs = vec![DConv::new(
            config.image[0],
            shape.widths[0],
            (3, 1, 1),
            sn,
            vb.pp("from_image"),
        )?];
        for (l, pair) in shape.widths.windows(2).enumerate() {
            let vb = vb.pp(format!("down{}", l + 1));
            convs.push(DConv::new(pair[0], pair[1], (4, 2, 1), sn, vb)?);
        }
        let features = shape.deepest();
        let head = vb.pp("head");
        let projection = match config.classes {
            Some(k) => Some(Weight::new(
                (k, features),
                "weight",
                sn,
                &vb.pp("projection"),
            )?),
            None => None,
        };
        Ok(Self {
            convs,
            head: Weight::new((1, features), "weight", sn, &head)?,
            head_bias: head.get_with_hints(1, "bias", Init::Const(0.0))?,
            projection,
            frozen: false,
        })
    }

    /// See [`super::Discriminator::frozen`].
    pub(super) fn frozen(&self) -> Self {
        Self {
            convs: self.convs.iter().map(DConv::detached).collect(),
            head: self.head.detached(),
            head_bias: self.head_bias.detach(),
            projection: self.projection.as_ref().map(Weight::detached),
            frozen: true,
        }
    }

    fn updates(&self, mode: &Mode<'_>) -> bool {
        matches!(mode, Mode::Train(_)) && !self.frozen
    }

    /// Features `(N, F)`: the last map summed over its positions.
    pub(super) fn features(&self, images: &Tensor, mode: Mode<'_>) -> Result<Tensor> {
        let update = self.updates(&mode);
        let mut x = images.clone();
        for conv in &self.convs {
            x = conv.forward(&x, update)?;
        }
        x.sum((2, 3))
    }

    /// See [`super::Discriminator::forward`].
    pub(super) fn forward(
        &self,
        images: &Tensor,
        labels: Option<&Tensor>,
        mode: Mode<'_>,
    ) -> Result<Tensor> {
        let update = self.updates(&mode);
        let h = self.features(images, mode)?;
        let logit =
            Linear::new(self.head.get(update)?, Some(self.head_bias.clone())).forward(&h)?;
        let projection = self
            .projection
            .as_ref()
            .map(|p| p.get(update))
            .transpose()?;
        project(logit, &h, projection.as_ref(), labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gan::tests::{build, trainable};
    use crate::gan::GanArchitecture;
    use candle_core::{Device, Var};

    fn scaled(side: usize, channels: usize, spectral_norm: bool) -> GanConfig {
        GanConfig {
            image: [channels, side, side],
            classes: Some(2),
            architecture: GanArchitecture::Scaled {
                width: 8,
                max_width: 64,
                spectral_norm,
            },
            ..Default::default()
        }
    }

    /// Trainable parameters of G and D by hand, for widths `w` (full size
    /// first), `c` image channels, z 100 + embedding 16, two classes.
    fn by_hand(w: &[usize], base: usize, c: usize) -> (usize, usize) {
        let deepest = *w.last().unwrap();
        let mut g = 2 * 16 + 116 * deepest * base * base + 2 * deepest;
        for pair in w.windows(2) {
            g += pair[1] * pair[0] * 16 + 2 * pair[0];
        }
        g += c * w[0] * 9 + c;
        let mut d = c * w[0] * 9 + w[0];
        for pair in w.windows(2) {
            d += pair[1] * pair[0] * 16 + pair[1];
        }
        d += deepest + 1 + 2 * deepest;
        (g, d)
    }

    #[test]
    fn shapes_and_parameter_counts_for_each_size() {
        let dev = Device::Cpu;
        for (side, base, widths) in [
            (28, 7, vec![8, 16, 32]),
            (64, 4, vec![8, 16, 32, 64, 64]),
            (128, 4, vec![8, 16, 32, 64, 64, 64]),
            (256, 4, vec![8, 16, 32, 64, 64, 64, 64]),
        ] {
            let channels = if side == 64 { 3 } else { 1 };
            let config = scaled(side, channels, true);
            let shape = Shape::of(&config).unwrap();
            assert_eq!((shape.base, &shape.widths), (base, &widths), "{side} px");
            let (g, d, gv, dv) = build(&config);
            let z = Tensor::randn(0f32, 1.0, (2, 100), &dev).unwrap();
            let y = Tensor::new(&[0u32, 1], &dev).unwrap();
            let img = g.forward(&z, Some(&y), true).unwrap();
            assert_eq!(img.dims(), &[2, channels, side, side]);
            let logits = d.forward(&img, Some(&y), Mode::Eval).unwrap();
            assert_eq!(logits.dims(), &[2, 1]);
            let (pg, pd) = by_hand(&widths, base, channels);
            assert_eq!(trainable(&gv), pg, "G at {side} px");
            assert_eq!(trainable(&dv), pd, "D at {side} px");
            // One spectral-norm state per weight of D: convolutions, head, projection.
            let states = dv
                .data()
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.ends_with("_u"))
                .count();
            assert_eq!(states, widths.len() + 2);
        }
    }

    #[test]
    fn sizes_without_a_base_are_refused() {
        for side in [24, 36, 100] {
            let err = Shape::of(&scaled(side, 1, false)).unwrap_err().to_string();
            assert!(err.contains(&format!("not {side}")), "{err}");
        }
    }

    #[test]
    fn training_passes_update_the_state_and_frozen_or_eval_passes_do_not() {
        let (_, d, _, dv) = build(&scaled(32, 1, true));
        let dev = Device::Cpu;
        let u = || {
            dv.data().lock().unwrap()["down1.weight_u"]
                .as_tensor()
                .to_vec1::<f32>()
                .unwrap()
        };
        let images = Tensor::randn(0f32, 1.0, (2, 1, 32, 32), &dev).unwrap();
        let y = Tensor::new(&[0u32, 1], &dev).unwrap();
        let before = u();
        d.forward(&images, Some(&y), Mode::Eval).unwrap();
        let mut rng = rand::SeedableRng::seed_from_u64(0);
        d.frozen()
            .forward(&images, Some(&y), Mode::Train(&mut rng))
            .unwrap();
        assert_eq!(u(), before);
        d.forward(&images, Some(&y), Mode::Train(&mut rng)).unwrap();
        assert_ne!(u(), before);
    }

    #[test]
    fn no_gradient_reaches_the_spectral_norm_state() {
        let (_, d, _, dv) = build(&scaled(32, 1, true));
        let dev = Device::Cpu;
        let images =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 1, 32, 32), &dev).unwrap()).unwrap();
        let y = Tensor::new(&[0u32, 1], &dev).unwrap();
        let mut rng = rand::SeedableRng::seed_from_u64(0);
        let grads = d
            .forward(&images, Some(&y), Mode::Train(&mut rng))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, var) in dv.data().lock().unwrap().iter() {
            let has = grads.get(var.as_tensor()).is_some();
            assert_eq!(has, !name.ends_with("_u"), "{name}");
        }
        assert!(grads.get(&images).is_some());
    }
}
