//! DiffAugment (Zhao et al. 2020): the same random, differentiable
//! augmentation of real and generated images wherever D sees them, in D's
//! step and in G's, so that D cannot memorise a few hundred real images and
//! G still gets gradients through the augmentation. Candle tensor ops
//! only; the randomness comes from forger's seeded generators, one stream
//! per step and pass, so a run (and a resumed run) draws the same.
//!
//! The operations and their order are the paper's `color,translation,cutout`
//! policy on images in `[-1, 1]`: brightness (a per-image offset), saturation
//! (RGB only: on grey images it does nothing), contrast (a per-image factor
//! about the image mean), translation (an integer shift with zero padding)
//! and cutout (a zeroed square, clipped at the borders). Zero (the padding
//! and the cutout value) is mid-grey in `[-1, 1]`.

use candle_core::{Result, Tensor};
use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Strengths of DiffAugment's operations; a zero leaves that one out.
/// The default is the paper's policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffAugment {
    /// Largest shift, as a fraction of the side (paper: 1/8).
    pub translation: f64,
    /// Side of the zeroed square, as a fraction of the side (paper: 1/2).
    pub cutout: f64,
    /// A per-image offset uniform in `[-b, b]` (paper: 0.5).
    pub brightness: f64,
    /// A per-image factor uniform in `[1 - c, 1 + c]` about its mean (paper: 0.5).
    pub contrast: f64,
    /// A per-image factor uniform in `[1 - s, 1 + s]` about the grey of
    /// each pixel (paper: 1); RGB images only.
    pub saturation: f64,
}

impl Default for DiffAugment {
    fn default() -> Self {
        Self {
            translation: 0.125,
            cutout: 0.5,
            brightness: 0.5,
            contrast: 0.5,
            saturation: 1.0,
        }
    }
}

/// The operation names [`DiffAugment::from_ops`] takes.
pub const DIFF_AUGMENT_OPS: [&str; 6] = [
    "translation",
    "cutout",
    "brightness",
    "contrast",
    "saturation",
    "color",
];

impl DiffAugment {
    /// No operation at all.
    pub fn none() -> Self {
        Self {
            translation: 0.0,
            cutout: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
        }
    }

    /// The named operations at the paper's strengths, the others left out:
    /// a comma-separated list of [`DIFF_AUGMENT_OPS`] (`color` is
    /// brightness, contrast and saturation), or `all`.
    pub fn from_ops(list: &str) -> crate::Result<Self> {
        let paper = Self::default();
        let mut ops = Self::none();
        for name in list.split(',').map(str::trim) {
            match name {
                "all" => ops = paper,
                "translation" => ops.translation = paper.translation,
                "cutout" => ops.cutout = paper.cutout,
                "brightness" => ops.brightness = paper.brightness,
                "contrast" => ops.contrast = paper.contrast,
                "saturation" => ops.saturation = paper.saturation,
                "color" => {
                    ops.brightness = paper.brightness;
                    ops.contrast = paper.contrast;
                    ops.saturation = paper.saturation;
                }
                other => {
                    return Err(TrainError::Invalid(format!(
                        "unknown DiffAugment operation `{other}`: expected `all` or a \
                         comma-separated list of {DIFF_AUGMENT_OPS:?}"
                    )))
                }
            }
        }
        Ok(ops)
    }

    /// Checks that every strength is finite and at least 0 (and the
    /// fractions at most 1).
    pub fn validate(&self) -> crate::Result<()> {
        let fields = [
            ("translation", self.translation, 1.0),
            ("cutout", self.cutout, 1.0),
            ("brightness", self.brightness, f64::MAX),
            ("contrast", self.contrast, f64::MAX),
            ("saturation", self.saturation, f64::MAX),
        ];
        for (name, v, max) in fields {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return Err(TrainError::Invalid(format!(
                    "diff_augment.{name} must be a finite number from 0 to {max}, got {v}"
                )));
            }
        }
        Ok(())
    }

    /// Augments images `(N, C, H, W)` in `[-1, 1]`, each its own draw from
    /// `rng`; differentiable in `images`. With every strength zero, the
    /// images themselves.
    pub fn apply(&self, images: &Tensor, rng: &mut Pcg64) -> Result<Tensor> {
        let (n, c, h, w) = images.dims4()?;
        let mut x = images.clone();
        let mut draw = |range: f64| -> Result<Tensor> {
            let v: Vec<f32> = (0..n)
                .map(|_| rng.gen_range(-range..=range) as f32)
                .collect();
            Tensor::from_vec(v, (n, 1, 1, 1), images.device())
        };
        if self.brightness > 0.0 {
            x = x.broadcast_add(&draw(self.brightness)?)?;
        }
        if self.saturation > 0.0 && c == 3 {
            let factor = (draw(self.saturation)? + 1.0)?;
            x = about(&x, &x.mean_keepdim(1)?, &factor)?;
        }
        if self.contrast > 0.0 {
            let factor = (draw(self.contrast)? + 1.0)?;
            let mean = x.flatten_from(1)?.mean_keepdim(1)?.reshape((n, 1, 1, 1))?;
            x = about(&x, &mean, &factor)?;
        }
        let shift = |side: usize| (side as f64 * self.translation + 0.5) as i64;
        let (sy, sx) = (shift(h), shift(w));
        if sy > 0 || sx > 0 {
            let shifts: Vec<(i64, i64)> = (0..n)
                .map(|_| (rng.gen_range(-sy..=sy), rng.gen_range(-sx..=sx)))
                .collect();
            x = translate(&x, &shifts)?;
        }
        let size = |side: usize| ((side as f64 * self.cutout + 0.5) as usize).min(side);
        let (ch, cw) = (size(h), size(w));
        if ch > 0 && cw > 0 {
            // The square's centre, uniform over the image (as the paper's code).
            let centres: Vec<(usize, usize)> = (0..n)
                .map(|_| {
                    (
                        rng.gen_range(0..h + 1 - ch % 2),
                        rng.gen_range(0..w + 1 - cw % 2),
                    )
                })
                .collect();
            x = cutout(&x, &centres, (ch, cw))?;
        }
        Ok(x)
    }
}

/// `(x - centre) * factor + centre`, per image.
fn about(x: &Tensor, centre: &Tensor, factor: &Tensor) -> Result<Tensor> {
    x.broadcast_sub(centre)?
        .broadcast_mul(factor)?
        .broadcast_add(centre)
}

/// Image `i` shifted so that output `(y, x)` reads input `(y + dy, x + dx)`
/// for `shifts[i] = (dy, dx)`, zero where that is outside.
fn translate(x: &Tensor, shifts: &[(i64, i64)]) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let sy = shifts.iter().map(|s| s.0.unsigned_abs()).max().unwrap_or(0) as usize;
    let sx = shifts.iter().map(|s| s.1.unsigned_abs()).max().unwrap_or(0) as usize;
    let padded = x.pad_with_zeros(2, sy, sy)?.pad_with_zeros(3, sx, sx)?;
    let images = shifts
        .iter()
        .enumerate()
        .map(|(i, &(dy, dx))| {
            padded
                .narrow(0, i, 1)?
                .narrow(2, (sy as i64 + dy) as usize, h)?
                .narrow(3, (sx as i64 + dx) as usize, w)
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&images, 0)
}

/// Image `i` with the `(ch, cw)` rectangle centred at `centres[i]` (its
/// top-left `centre - size / 2`) zeroed, clipped at the borders.
fn cutout(x: &Tensor, centres: &[(usize, usize)], (ch, cw): (usize, usize)) -> Result<Tensor> {
    let (n, _, h, w) = x.dims4()?;
    let mut mask = vec![1f32; n * h * w];
    for (i, &(cy, cx)) in centres.iter().enumerate() {
        let rows = cy.saturating_sub(ch / 2)..(cy + ch - ch / 2).min(h);
        let cols = cx.saturating_sub(cw / 2)..(cx + cw - cw / 2).min(w);
        for r in rows {
            mask[i * h * w + r * w..][cols.clone()].fill(0.0);
        }
    }
    x.broadcast_mul(&Tensor::from_vec(mask, (n, 1, h, w), x.device())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use forger_data::rng;
    use forger_models::{seeded_vars, GanArchitecture, GanConfig};

    fn grid(n: usize, c: usize, side: usize) -> Tensor {
        let len = (n * c * side * side) as f32;
        (Tensor::arange(0f32, len, &Device::Cpu).unwrap() / len as f64)
            .unwrap()
            .reshape((n, c, side, side))
            .unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn zero_strength_is_the_identity() {
        let x = grid(3, 3, 8);
        let y = DiffAugment::none()
            .apply(&x, &mut rng::derive(0, "t", 0))
            .unwrap();
        assert_eq!(values(&x), values(&y));
        // Saturation alone does nothing to grey images.
        let only_saturation = DiffAugment {
            saturation: 1.0,
            ..DiffAugment::none()
        };
        let grey = grid(2, 1, 8);
        let y = only_saturation
            .apply(&grey, &mut rng::derive(0, "t", 0))
            .unwrap();
        assert_eq!(values(&grey), values(&y));
    }

    #[test]
    fn translation_moves_pixels_and_pads_with_zeros() {
        // 1..=16 in a 4x4 image, shifted by (1, -2): output (y, x) is input
        // (y + 1, x - 2).
        let x = Tensor::arange(1f32, 17., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 4, 4))
            .unwrap();
        let x2 = Tensor::cat(&[&x, &x], 0).unwrap();
        let y = translate(&x2, &[(1, -2), (0, 0)]).unwrap();
        #[rustfmt::skip]
        let expected = [
            0., 0., 5., 6.,
            0., 0., 9., 10.,
            0., 0., 13., 14.,
            0., 0., 0., 0.,
        ];
        let got = values(&y);
        assert_eq!(&got[..16], &expected);
        assert_eq!(&got[16..], &values(&x)[..]);
    }

    #[test]
    fn cutout_zeroes_a_clipped_square() {
        let x = Tensor::ones((2, 1, 6, 6), candle_core::DType::F32, &Device::Cpu).unwrap();
        // A 2x2 square centred at (3, 4): rows 2-3, columns 3-4; one at
        // (0, 0) is clipped to the single pixel (0, 0).
        let y = values(&cutout(&x, &[(3, 4), (0, 0)], (2, 2)).unwrap());
        let zeros: Vec<usize> = (0..72).filter(|&i| y[i] == 0.0).collect();
        assert_eq!(zeros, vec![2 * 6 + 3, 2 * 6 + 4, 3 * 6 + 3, 3 * 6 + 4, 36]);
    }

    #[test]
    fn each_operation_is_seeded_and_changes_the_images() {
        let x = grid(4, 3, 16);
        for ops in [
            "translation",
            "cutout",
            "brightness",
            "contrast",
            "saturation",
        ] {
            let aug = DiffAugment::from_ops(ops).unwrap();
            let a = aug.apply(&x, &mut rng::derive(1, "t", 0)).unwrap();
            let b = aug.apply(&x, &mut rng::derive(1, "t", 0)).unwrap();
            let c = aug.apply(&x, &mut rng::derive(1, "t", 1)).unwrap();
            assert_eq!(values(&a), values(&b), "{ops}");
            assert_ne!(values(&a), values(&x), "{ops}");
            assert_ne!(values(&a), values(&c), "{ops}");
        }
        let err = DiffAugment::from_ops("translation,flip").unwrap_err();
        assert!(err.to_string().contains("`flip`"), "{err}");
        assert_eq!(
            DiffAugment::from_ops("all").unwrap(),
            DiffAugment::default()
        );
    }

    #[test]
    fn gradients_reach_the_generator_through_each_operation() {
        let dev = Device::Cpu;
        let config = GanConfig {
            image: [3, 16, 16],
            architecture: GanArchitecture::Scaled {
                width: 4,
                max_width: 8,
                spectral_norm: false,
            },
            ..Default::default()
        };
        let (gv, dv) = (candle_nn::VarMap::new(), candle_nn::VarMap::new());
        let (g, _) = config
            .init(
                seeded_vars(&gv, rng::derive(0, "g", 0), &dev),
                seeded_vars(&dv, rng::derive(0, "d", 0), &dev),
            )
            .unwrap();
        let z = Tensor::randn(0f32, 1.0, (4, 100), &dev).unwrap();
        let weights = Var::from_tensor(&grid(4, 3, 16)).unwrap();
        for ops in [
            "translation",
            "cutout",
            "brightness",
            "contrast",
            "saturation",
        ] {
            let fake = g.forward(&z, None, true).unwrap();
            let aug = DiffAugment::from_ops(ops).unwrap();
            let out = aug.apply(&fake, &mut rng::derive(2, "t", 0)).unwrap();
            let grads = out
                .mul(&weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let project = &gv.data().lock().unwrap()["project.weight"];
            let grad = grads.get(project.as_tensor()).expect(ops);
            let size = grad
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(size > 0.0, "{ops}: no gradient reaches G");
        }
    }
}
