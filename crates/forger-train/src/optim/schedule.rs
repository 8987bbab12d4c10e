//! Learning-rate schedules, applied by the optimizer itself: PyTorch's
//! `StepLR`, a linear warm-up then `CosineAnnealingLR`, and
//! `ReduceLROnPlateau` (with its state, saved for exact resume).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// The state key of [`LrSchedule::Plateau`]'s state in
/// [`super::Optimizer::state`].
const PLATEAU_KEY: &str = "schedule.plateau";

/// ReduceLROnPlateau's `eps`: a reduction smaller than this is skipped.
const MIN_REDUCTION: f64 = 1e-8;

/// How the learning rate moves over training, from the optimizer's base
/// rate ([`super::OptimizerConfig::lr`]). `k` below is the number of
/// optimizer steps taken before the step the rate is for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// PyTorch's `StepLR`, stepped after every optimizer step:
    /// `lr * gamma^floor(k / step_size)`.
    Step {
        /// Optimizer steps between decays (at least 1).
        step_size: u64,
        /// Factor of each decay (above 0).
        gamma: f64,
    },
    /// A linear warm-up from 0 to the base rate, `lr * k / warmup_steps`
    /// for `k < warmup_steps`, then PyTorch's `CosineAnnealingLR` over the
    /// remaining `total_steps - warmup_steps` steps, `min_lr + (lr - min_lr)
    /// * (1 + cos(pi * (k - warmup_steps) / (total_steps - warmup_steps))) / 2`,
    /// held at `min_lr` from `total_steps` on.
    Cosine {
        /// Steps of linear warm-up (0 for none).
        warmup_steps: u64,
        /// The step at which the rate reaches `min_lr` (above `warmup_steps`).
        total_steps: u64,
        /// The final rate, in `[0, lr]`.
        min_lr: f64,
    },
    /// PyTorch's `ReduceLROnPlateau` with `threshold_mode="rel"` (and its
    /// default `eps` of 1e-8), fed by [`super::Optimizer::observe`] after
    /// each evaluation: a metric is an improvement when below
    /// `best * (1 - threshold)` (mode `min`) or above `best * (1 +
    /// threshold)` (mode `max`); after more than `patience` evaluations
    /// without one, the rate is multiplied by `factor` (not below `min_lr`)
    /// and the next `cooldown` evaluations count as neither. A NaN metric
    /// is never an improvement.
    Plateau {
        /// Whether lower (`min`, a loss) or higher (`max`, an accuracy) is
        /// better.
        mode: PlateauMode,
        /// Factor of each reduction, in `(0, 1)`.
        factor: f64,
        /// Evaluations without improvement tolerated before a reduction.
        patience: u64,
        /// Relative improvement that counts, in `[0, 1)`.
        threshold: f64,
        /// Evaluations after a reduction before bad ones count again.
        cooldown: u64,
        /// The lowest rate, at least 0.
        min_lr: f64,
    },
}

/// Whether a [`LrSchedule::Plateau`] metric is better lower or higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    /// Lower is better (a loss).
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// A schedule running over an optimizer's steps.
#[derive(Debug, Clone)]
pub(super) struct Scheduler {
    schedule: LrSchedule,
    base_lr: f64,
    /// [`LrSchedule::Plateau`]'s state; `None` for the others.
    plateau: Option<Plateau>,
}

/// ReduceLROnPlateau's state.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plateau {
    /// The best metric so far (infinitely bad before the first).
    best: f64,
    /// Evaluations since the last improvement.
    bad: u64,
    /// Evaluations of cooldown left.
    cooldown_left: u64,
    /// The current rate.
    lr: f64,
}

fn invalid(schedule: &str, what: String) -> TrainError {
    TrainError::Invalid(format!("learning-rate schedule `{schedule}`: {what}"))
}

impl Scheduler {
    /// `schedule` over the base rate `base_lr`, its parameters checked.
    pub(super) fn new(schedule: LrSchedule, base_lr: f64) -> Result<Self> {
        let in_range = |x: f64, lo: f64, hi: f64| x.is_finite() && x >= lo && x <= hi;
        let plateau = match schedule {
            LrSchedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(invalid(
                        "step",
                        "step_size must be at least 1, got 0".into(),
                    ));
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(invalid(
                        "step",
                        format!("gamma must be a finite number above 0, got {gamma}"),
                    ));
                }
                None
            }
            LrSchedule::Cosine {
                warmup_steps,
                total_steps,
                min_lr,
            } => {
                if total_steps <= warmup_steps {
                    return Err(invalid(
                        "cosine",
                        format!(
                            "total_steps ({total_steps}) must exceed warmup_steps ({warmup_steps})"
                        ),
                    ));
                }
                if !in_range(min_lr, 0.0, base_lr) {
                    return Err(invalid(
                        "cosine",
                        format!(
                            "min_lr must be in [0, {base_lr}] (the optimizer's lr), got {min_lr}"
                        ),
                    ));
                }
                None
            }
            LrSchedule::Plateau {
                mode,
                factor,
                threshold,
                min_lr,
                ..
            } => {
                if !(factor.is_finite() && factor > 0.0 && factor < 1.0) {
                    return Err(invalid(
                        "plateau",
                        format!("factor must be in (0, 1), got {factor}"),
                    ));
                }
                if !(0.0..1.0).contains(&threshold) {
                    return Err(invalid(
                        "plateau",
                        format!("threshold must be in [0, 1), got {threshold}"),
                    ));
                }
                if !in_range(min_lr, 0.0, f64::MAX) {
                    return Err(invalid(
                        "plateau",
                        format!("min_lr must be a finite number of at least 0, got {min_lr}"),
                    ));
                }
                let best = match mode {
                    PlateauMode::Min => f64::INFINITY,
                    PlateauMode::Max => f64::NEG_INFINITY,
                };
                Some(Plateau {
                    best,
                    bad: 0,
                    cooldown_left: 0,
                    lr: base_lr,
                })
            }
        };
        Ok(Self {
            schedule,
            base_lr,
            plateau,
        })
    }

    /// The rate of the step after `k` steps.
    pub(super) fn lr(&self, k: u64) -> f64 {
        match self.schedule {
            LrSchedule::Step { step_size, gamma } => {
                let decays = i32::try_from(k / step_size).unwrap_or(i32::MAX);
                self.base_lr * gamma.powi(decays)
            }
            LrSchedule::Cosine {
                warmup_steps,
                total_steps,
                min_lr,
            } => {
                if k < warmup_steps {
                    self.base_lr * k as f64 / warmup_steps as f64
                } else if k >= total_steps {
                    min_lr
                } else {
                    let progress = (k - warmup_steps) as f64 / (total_steps - warmup_steps) as f64;
                    min_lr
                        + (self.base_lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
                            / 2.0
                }
            }
            LrSchedule::Plateau { .. } => self.plateau.map_or(self.base_lr, |p| p.lr),
        }
    }

    /// Feeds an evaluation's metric to a [`LrSchedule::Plateau`] (the
    /// other schedules ignore it).
    pub(super) fn observe(&mut self, metric: f64) {
        let (
            LrSchedule::Plateau {
                mode,
                factor,
                patience,
                threshold,
                cooldown,
                min_lr,
            },
            Some(p),
        ) = (self.schedule, self.plateau.as_mut())
        else {
            return;
        };
        let better = match mode {
            PlateauMode::Min => metric < p.best * (1.0 - threshold),
            PlateauMode::Max => metric > p.best * (1.0 + threshold),
        };
        if better {
            p.best = metric;
            p.bad = 0;
        } else {
            p.bad += 1;
        }
        if p.cooldown_left > 0 {
            p.cooldown_left -= 1;
            p.bad = 0;
        }
        if p.bad > patience {
            let reduced = (p.lr * factor).max(min_lr);
            if p.lr - reduced > MIN_REDUCTION {
                p.lr = reduced;
            }
            p.cooldown_left = cooldown;
            p.bad = 0;
        }
    }

    /// The schedule's state, for [`super::Optimizer::state`]: the plateau's
    /// best metric, bad evaluations, cooldown left and rate, as one f64
    /// tensor (whose values, counts included, round-trip exactly).
    pub(super) fn save(&self, out: &mut HashMap<String, Tensor>) {
        if let Some(p) = self.plateau {
            let values = [p.best, p.bad as f64, p.cooldown_left as f64, p.lr];
            let t = Tensor::new(&values, &Device::Cpu).expect("a 4-element CPU tensor");
            out.insert(PLATEAU_KEY.into(), t);
        }
    }

    /// Restores the state written by [`Scheduler::save`].
    pub(super) fn load(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let Some(p) = self.plateau.as_mut() else {
            return Ok(());
        };
        let bad_state =
            |what: String| TrainError::Invalid(format!("optimizer state `{PLATEAU_KEY}`: {what}"));
        let saved = tensors.get(PLATEAU_KEY).ok_or_else(|| {
            bad_state("missing (the optimizer has a plateau schedule, the state none)".into())
        })?;
        let values = saved
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let &[best, bad, cooldown_left, lr] = values.as_slice() else {
            return Err(bad_state(format!(
                "expected 4 values (best, bad evaluations, cooldown left, lr), got {}",
                values.len()
            )));
        };
        let count = |x: f64, what: &str| {
            if x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
                Ok(x as u64)
            } else {
                Err(bad_state(format!("{what} must be a count, got {x}")))
            }
        };
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(bad_state(format!("lr must be a finite rate, got {lr}")));
        }
        *p = Plateau {
            best,
            bad: count(bad, "bad evaluations")?,
            cooldown_left: count(cooldown_left, "cooldown left")?,
            lr,
        };
        Ok(())
    }
}
