//! forger's GANs: a [`GanConfig`] picks the [`GanArchitecture`] and builds
//! a [`Generator`] and a [`Discriminator`]. Two architectures, one module
//! each: `dcgan` (the DCGAN of Radford et al. 2016 for 28 and 64 px, W3 of
//! the benchmark workloads, the default) and `scaled` (a generator and
//! discriminator whose depth follows the image side, one up- or
//! down-sampling block per doubling from a 4x4 or 7x7 map, for 28 to 256
//! px, with spectral normalisation of D as an option).
//!
//! **Conditioning** is the same in both. G takes a learned class embedding
//! concatenated to z. D is a projection discriminator (Miyato and Koyama
//! 2018): its logit is `w . h + e_y . h` for the features `h` and a learned
//! class embedding `e_y`. We chose projection over an auxiliary classifier
//! (AC-GAN) because it adds no second loss to balance, it keeps the D step
//! the plain real-vs-fake BCE the tutorial describes, and AC-GAN is known to
//! favour easily classified samples at the expense of diversity, which a
//! synthetic teaching and training set cannot afford.

mod dcgan;
mod scaled;

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::layers::BatchNorm;
use crate::{Mode, ModelError};

/// Weights start as N(0, 0.02) (DCGAN's rule, kept for both
/// architectures), batch-norm scales as N(1, 0.02).
const WEIGHT_INIT: Init = Init::Randn {
    mean: 0.0,
    stdev: 0.02,
};
const LEAKY_SLOPE: f64 = 0.2;

/// Which generator and discriminator a [`GanConfig`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GanArchitecture {
    /// The DCGAN, shaped by `generator_widths`, `discriminator_widths` and
    /// `dropout` (28 or 64 px).
    #[default]
    Dcgan,
    /// Depth follows the image side (4 or 7 times a power of two: 28, 32,
    /// 64, 128, 256 px). G: z (and the class embedding) to a `base x base`
    /// map through a linear layer, then per doubling a 4x4 stride-2
    /// transposed convolution, batch norm and ReLU, then a 3x3 convolution
    /// to the image channels and tanh. D: a 3x3 convolution, then per
    /// halving a 4x4 stride-2 convolution, LeakyReLU(0.2) after each, then
    /// global sum pooling, a linear logit and the class projection; no
    /// dropout. The map of side `image / 2^l` has `min(width * 2^l,
    /// max_width)` channels, in G and in D.
    Scaled {
        /// Channels of the full-size maps.
        width: usize,
        /// The most channels of any map.
        max_width: usize,
        /// Spectral normalisation of every weight of D (convolutions, the
        /// logit and the class projection).
        spectral_norm: bool,
    },
}

impl GanArchitecture {
    /// Whether this is the default, [`GanArchitecture::Dcgan`] (not written
    /// to configs, so that theirs read as before).
    pub fn is_dcgan(&self) -> bool {
        *self == Self::Dcgan
    }

    /// The scaled architecture at the widths benchmark W5 measures (8
    /// channels at full size, up to 256), with or without spectral norm.
    pub fn scaled(spectral_norm: bool) -> Self {
        Self::Scaled {
            width: 8,
            max_width: 256,
            spectral_norm,
        }
    }
}

/// Shape and width of a GAN pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GanConfig {
    /// `[channels, height, width]` of the images.
    pub image: [usize; 3],
    /// Length of the noise vector z.
    pub latent: usize,
    /// DCGAN only: channels of G's maps, from the first (smallest) map on.
    pub generator_widths: [usize; 3],
    /// DCGAN only: channels of D's two convolutions.
    pub discriminator_widths: [usize; 2],
    /// DCGAN only: D's dropout after each convolution.
    pub dropout: f64,
    /// Number of classes for a conditional GAN; `None` for an unconditional one.
    pub classes: Option<usize>,
    /// Length of G's class embedding (conditional only).
    pub embedding: usize,
    /// The networks; the DCGAN unless a config says otherwise.
    #[serde(skip_serializing_if = "GanArchitecture::is_dcgan")]
    pub architecture: GanArchitecture,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            image: [1, 28, 28],
            latent: 100,
            generator_widths: [256, 128, 64],
            discriminator_widths: [64, 128],
            dropout: 0.3,
            classes: None,
            embedding: 16,
            architecture: GanArchitecture::Dcgan,
        }
    }
}

impl GanConfig {
    /// Builds G from `g` and D from `d` (two weight sets, two optimizers).
    pub fn init(&self, g: VarBuilder, d: VarBuilder) -> crate::Result<(Generator, Discriminator)> {
        let [c, h, w] = self.image;
        if !(c == 1 || c == 3) || h != w {
            return Err(ModelError::Config(format!(
                "a GAN takes square grey or RGB images, not {c}x{h}x{w}"
            )));
        }
        if self.classes.is_some_and(|k| k < 2) || self.latent == 0 {
            return Err(ModelError::Config(
                "a conditional GAN needs at least two classes and z at least 1 long".into(),
            ));
        }
        let (g, d) = match self.architecture {
            GanArchitecture::Dcgan => {
                if !(h == 28 || h == 64) {
                    return Err(ModelError::Config(format!(
                        "a DCGAN takes square 28x28 or 64x64 grey or RGB images, not {c}x{h}x{w}; \
                         the scaled architecture takes other sizes"
                    )));
                }
                let (g, d) = (
                    dcgan::Generator::new(self, g)?,
                    dcgan::Discriminator::new(self, d)?,
                );
                (GeneratorNet::Dcgan(Box::new(g)), DiscriminatorNet::Dcgan(d))
            }
            GanArchitecture::Scaled { .. } => {
                let shape = scaled::Shape::of(self)?;
                let g = scaled::Generator::new(self, &shape, g)?;
                let d = scaled::Discriminator::new(self, &shape, d)?;
                (
                    GeneratorNet::Scaled(Box::new(g)),
                    DiscriminatorNet::Scaled(d),
                )
            }
        };
        Ok((
            Generator {
                net: g,
                config: self.clone(),
            },
            Discriminator { net: d },
        ))
    }

    /// Length of the vector G's first layer takes: z and the class embedding.
    fn generator_input(&self) -> usize {
        self.latent + self.classes.map_or(0, |_| self.embedding)
    }
}

fn batch_norm(channels: usize, vb: VarBuilder) -> Result<BatchNorm> {
    let weight = vb.get_with_hints(
        channels,
        "weight",
        Init::Randn {
            mean: 1.0,
            stdev: 0.02,
        },
    )?;
    let bias = vb.get_with_hints(channels, "bias", Init::Const(0.0))?;
    let mean = vb.get_with_hints(channels, "running_mean", Init::Const(0.0))?;
    let var = vb.get_with_hints(channels, "running_var", Init::Const(1.0))?;
    BatchNorm::new(weight, bias, mean, var, 1e-5)
}

fn embedding(classes: usize, dim: usize, vb: VarBuilder) -> Result<Embedding> {
    Ok(Embedding::new(
        vb.get_with_hints((classes, dim), "weight", WEIGHT_INIT)?,
        dim,
    ))
}

/// z with the class embedding of `labels` appended (conditional G), or z.
fn condition(z: &Tensor, embedding: Option<&Embedding>, labels: Option<&Tensor>) -> Result<Tensor> {
    use candle_core::Module;
    match (embedding, labels) {
        (Some(e), Some(y)) => Tensor::cat(&[z, &e.forward(y)?], 1),
        (None, None) => Ok(z.clone()),
        (Some(_), None) => candle_core::bail!("a conditional generator needs labels"),
        (None, Some(_)) => candle_core::bail!("an unconditional generator takes no labels"),
    }
}

/// D's logit from its features `h` `(N, F)`: the head's, plus `e_y . h`
/// for a projection discriminator (`projection`: the class embeddings
/// `(K, F)`).
fn project(
    logit: Tensor,
    h: &Tensor,
    projection: Option<&Tensor>,
    labels: Option<&Tensor>,
) -> Result<Tensor> {
    match (projection, labels) {
        (Some(e), Some(y)) => {
            logit
                + e.embedding(y)?
                    .mul(h)?
                    .sum_keepdim(candle_core::D::Minus1)?
        }
        (None, None) => Ok(logit),
        (Some(_), None) => candle_core::bail!("a conditional discriminator needs labels"),
        (None, Some(_)) => candle_core::bail!("an unconditional discriminator takes no labels"),
    }
}

#[derive(Debug, Clone)]
enum GeneratorNet {
    Dcgan(Box<dcgan::Generator>),
    Scaled(Box<scaled::Generator>),
}

/// The generator: noise (and a class) in, images in `[-1, 1]` out.
#[derive(Debug, Clone)]
pub struct Generator {
    net: GeneratorNet,
    config: GanConfig,
}

impl Generator {
    /// The configuration.
    pub fn config(&self) -> &GanConfig {
        &self.config
    }

    /// Images `(N, C, H, W)` in `[-1, 1]` from noise `(N, latent)` and, for
    /// a conditional GAN, labels `(N,)`. `train` uses batch statistics in
    /// batch norm (and updates the running ones); otherwise the running ones.
    pub fn forward(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        match &self.net {
            GeneratorNet::Dcgan(g) => g.forward(z, labels, train),
            GeneratorNet::Scaled(g) => g.forward(z, labels, train),
        }
    }
}

#[derive(Debug, Clone)]
enum DiscriminatorNet {
    Dcgan(dcgan::Discriminator),
    Scaled(scaled::Discriminator),
}

/// The discriminator: images (and classes) in, one real-vs-fake logit out.
#[derive(Debug, Clone)]
pub struct Discriminator {
    net: DiscriminatorNet,
}

impl Discriminator {
    /// The same discriminator with its weights as constants, for the
    /// generator's step: gradients flow through it to the images, and none
    /// is computed for its weights, which that step does not update (nor
    /// its spectral norms' state).
    pub fn frozen(&self) -> Self {
        let net = match &self.net {
            DiscriminatorNet::Dcgan(d) => DiscriminatorNet::Dcgan(d.frozen()),
            DiscriminatorNet::Scaled(d) => DiscriminatorNet::Scaled(d.frozen()),
        };
        Self { net }
    }

    /// Features `(N, F)` of images `(N, C, H, W)` in `[-1, 1]`: the
    /// flattened last map (DCGAN) or its sum over positions (scaled).
    /// `Mode::Train` applies dropout and takes a spectral-norm
    /// power-iteration step.
    pub fn features(&self, images: &Tensor, mode: Mode<'_>) -> Result<Tensor> {
        match &self.net {
            DiscriminatorNet::Dcgan(d) => d.features(images, mode),
            DiscriminatorNet::Scaled(d) => d.features(images, mode),
        }
    }

    /// Logits `(N, 1)`: high for real. Labels `(N,)` for a conditional GAN.
    pub fn forward(
        &self,
        images: &Tensor,
        labels: Option<&Tensor>,
        mode: Mode<'_>,
    ) -> Result<Tensor> {
        match &self.net {
            DiscriminatorNet::Dcgan(d) => d.forward(images, labels, mode),
            DiscriminatorNet::Scaled(d) => d.forward(images, labels, mode),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::seeded_vars;
    use candle_nn::VarMap;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    /// G and D of `config` from seeds 1 and 2, with their variables.
    pub fn build(config: &GanConfig) -> (Generator, Discriminator, VarMap, VarMap) {
        let (gv, dv) = (VarMap::new(), VarMap::new());
        let dev = candle_core::Device::Cpu;
        let (g, d) = config
            .init(
                seeded_vars(&gv, Pcg64::seed_from_u64(1), &dev),
                seeded_vars(&dv, Pcg64::seed_from_u64(2), &dev),
            )
            .unwrap();
        (g, d, gv, dv)
    }

    /// Trainable parameters: all variables but batch norm's running
    /// statistics and spectral norm's `u`.
    pub fn trainable(vm: &VarMap) -> usize {
        let data = vm.data().lock().unwrap();
        data.iter()
            .filter(|(k, _)| !k.contains("running") && !k.ends_with("_u"))
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    #[test]
    fn the_dcgan_default_is_not_written_to_configs() {
        let json = serde_json::to_value(GanConfig::default()).unwrap();
        assert!(json.get("architecture").is_none(), "{json}");
        let scaled = GanConfig {
            architecture: GanArchitecture::scaled(true),
            ..Default::default()
        };
        let text = serde_json::to_string(&scaled).unwrap();
        assert!(text.contains(r#""kind":"scaled""#), "{text}");
        assert_eq!(serde_json::from_str::<GanConfig>(&text).unwrap(), scaled);
    }
}
