//! LeCam regularisation (Tseng et al. 2021): D's logits on real images are
//! pulled towards an exponential moving average of its logits on generated
//! ones and vice versa, `λ (mean((D(x) - α_F)^2) + mean((D(G(z)) - α_R)^2))`,
//! which bounds how far D can separate a small real set from the fakes
//! (the paper's eq. 3; complementary to DiffAugment). Added to D's loss only.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::{Result, TrainError};

/// LeCam's weight λ and the decay of its moving averages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeCam {
    /// λ (default 0.3, the paper's value for its low-data CIFAR runs).
    pub weight: f64,
    /// Decay of the moving averages of D's mean logits (default 0.99).
    pub decay: f64,
}

impl Default for LeCam {
    fn default() -> Self {
        Self {
            weight: 0.3,
            decay: 0.99,
        }
    }
}

impl LeCam {
    /// Checks that λ is finite and at least 0 and the decay in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(TrainError::Invalid(format!(
                "lecam.weight must be a finite number of at least 0, got {}",
                self.weight
            )));
        }
        if !(0.0..1.0).contains(&self.decay) {
            return Err(TrainError::Invalid(format!(
                "lecam.decay must be at least 0 and below 1, got {}",
                self.decay
            )));
        }
        Ok(())
    }
}

/// The moving averages α_R (real) and α_F (fake) of D's mean logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LeCamEma {
    pub real: f64,
    pub fake: f64,
}

/// LeCam's settings and state in a GAN step.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LeCamState {
    config: LeCam,
    /// `None` before the first D step, which sets the averages to its means.
    ema: Option<LeCamEma>,
}

impl LeCamState {
    /// Checkpoint group of the averages.
    const GROUP: &'static str = "lecam";

    /// Fresh state (no average yet).
    pub fn new(config: LeCam) -> Self {
        Self { config, ema: None }
    }

    /// Moves the averages by this D step's mean logits on `real` and `fake`
    /// (the first step sets them), then returns the penalty with the moved
    /// averages, as the paper's code does.
    pub fn penalty(&mut self, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
        let mean = |t: &Tensor| -> Result<f64> {
            Ok(f64::from(t.detach().mean_all()?.to_scalar::<f32>()?))
        };
        let (r, f) = (mean(real)?, mean(fake)?);
        let d = self.config.decay;
        let ema = match self.ema {
            Some(e) => LeCamEma {
                real: d * e.real + (1.0 - d) * r,
                fake: d * e.fake + (1.0 - d) * f,
            },
            None => LeCamEma { real: r, fake: f },
        };
        self.ema = Some(ema);
        let real_term = (real - ema.fake)?.sqr()?.mean_all()?;
        let fake_term = (fake - ema.real)?.sqr()?.mean_all()?;
        Ok((real_term + fake_term)?.affine(self.config.weight, 0.0)?)
    }

    /// Adds the averages to a checkpoint (nothing before the first step).
    pub fn save(&self, writer: CheckpointWriter) -> CheckpointWriter {
        let mut map = HashMap::new();
        if let Some(e) = self.ema {
            for (name, v) in [("real", e.real), ("fake", e.fake)] {
                let t = Tensor::new(&[v], &Device::Cpu).expect("a one-element CPU tensor");
                map.insert(name.to_string(), t);
            }
        }
        writer.tensors(Self::GROUP, &map)
    }

    /// Restores the averages saved by [`LeCamState::save`].
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let saved = checkpoint.group(Self::GROUP);
        let read = |name: &str| -> Result<Option<f64>> {
            saved
                .get(name)
                .map(|t| Ok(t.to_vec1::<f64>()?.first().copied().unwrap_or(f64::NAN)))
                .transpose()
        };
        self.ema = match (read("real")?, read("fake")?) {
            (Some(real), Some(fake)) => Some(LeCamEma { real, fake }),
            _ => None,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_and_averages_match_a_hand_computation() {
        let dev = Device::Cpu;
        let mut state = LeCamState::new(LeCam {
            weight: 0.5,
            decay: 0.9,
        });
        let real = Tensor::new(&[[1f32], [3.]], &dev).unwrap();
        let fake = Tensor::new(&[[-2f32], [0.]], &dev).unwrap();
        // First step: α_R = 2, α_F = -1. Penalty 0.5 * (((1+1)^2 + (3+1)^2) / 2
        // + ((-2-2)^2 + (0-2)^2) / 2) = 0.5 * (10 + 10) = 10.
        let p = state.penalty(&real, &fake).unwrap();
        assert!((p.to_scalar::<f32>().unwrap() - 10.0).abs() < 1e-5);
        assert_eq!(
            state.ema,
            Some(LeCamEma {
                real: 2.0,
                fake: -1.0
            })
        );
        // Second step, real means 0 and fake means 1: α_R = 0.9 * 2 = 1.8,
        // α_F = 0.9 * -1 + 0.1 = -0.8.
        let real = Tensor::new(&[[0f32], [0.]], &dev).unwrap();
        let fake = Tensor::new(&[[1f32], [1.]], &dev).unwrap();
        let p = state.penalty(&real, &fake).unwrap();
        let e = state.ema.unwrap();
        assert!((e.real - 1.8).abs() < 1e-12 && (e.fake + 0.8).abs() < 1e-12);
        let hand = 0.5 * (0.8f64.powi(2) + 0.8f64.powi(2));
        assert!((f64::from(p.to_scalar::<f32>().unwrap()) - hand).abs() < 1e-5);
    }

    #[test]
    fn bad_settings_are_refused() {
        for bad in [
            LeCam {
                weight: -1.0,
                decay: 0.99,
            },
            LeCam {
                weight: 0.3,
                decay: 1.0,
            },
        ] {
            assert!(bad.validate().is_err());
        }
        assert!(LeCam::default().validate().is_ok());
    }
}
