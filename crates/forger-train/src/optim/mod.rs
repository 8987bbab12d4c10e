//! Optimizers whose whole state (moments, step count, schedule) can be
//! saved in a checkpoint and restored, so that a resumed run continues
//! exactly. (Candle's `AdamW` keeps its moments private.)
//!
//! This module holds the algorithms ([`OptimizerConfig`]: Adam, AdamW,
//! SGD) and the [`Optimizer`] running them; `schedule` holds the
//! learning-rate schedules ([`LrSchedule`]) and `clip` gradient-norm
//! clipping, both applied by the optimizer itself.

mod clip;
mod schedule;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use forger_kernels::adam::{self, AdamStep};
use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};
use schedule::Scheduler;
pub use schedule::{LrSchedule, PlateauMode};

/// Which optimizer, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Adam (Kingma and Ba), PyTorch's formulation with bias correction.
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    /// AdamW (Loshchilov and Hutter) as PyTorch's `torch.optim.AdamW`: the
    /// weight decay is decoupled from the gradient, `w <- w * (1 - lr_t *
    /// weight_decay)` with the step's rate `lr_t`, then Adam's update.
    #[serde(rename = "adamw")]
    AdamW {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
    /// SGD with (PyTorch-style) momentum: `buf = m * buf + g; w -= lr * buf`.
    Sgd { lr: f64, momentum: f64 },
}

impl std::fmt::Display for OptimizerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Adam {
                lr, beta1, beta2, ..
            } => write!(f, "Adam (lr {lr}, betas {beta1}, {beta2})"),
            Self::AdamW {
                lr,
                beta1,
                beta2,
                weight_decay,
                ..
            } => write!(
                f,
                "AdamW (lr {lr}, betas {beta1}, {beta2}, weight decay {weight_decay})"
            ),
            Self::Sgd { lr, momentum } => write!(f, "SGD (lr {lr}, momentum {momentum})"),
        }
    }
}

impl OptimizerConfig {
    /// Adam with the usual betas (0.9, 0.999) and eps 1e-8.
    pub fn adam(lr: f64) -> Self {
        Self::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// AdamW with PyTorch's betas (0.9, 0.999) and eps 1e-8.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Self::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// The (base) learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Self::Adam { lr, .. } | Self::AdamW { lr, .. } | Self::Sgd { lr, .. } => lr,
        }
    }

    /// The same optimizer at base rate `lr`.
    pub fn with_lr(mut self, new: f64) -> Self {
        match &mut self {
            Self::Adam { lr, .. } | Self::AdamW { lr, .. } | Self::Sgd { lr, .. } => *lr = new,
        }
        self
    }

    /// An optimizer of this kind over `params`, at a constant rate and
    /// without clipping until [`Optimizer::with_schedule`] and
    /// [`Optimizer::with_clip_grad_norm`] say otherwise.
    pub fn build(&self, params: Vec<(String, Var)>) -> Result<Optimizer> {
        if let Self::AdamW { weight_decay, .. } = *self {
            if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                return Err(TrainError::Invalid(format!(
                    "optimizer `adamw`: weight_decay must be a finite number of at least 0, got {weight_decay}"
                )));
            }
        }
        let state = |params: &[(String, Var)]| -> Result<Vec<Tensor>> {
            Ok(params
                .iter()
                .map(|(_, v)| v.zeros_like())
                .collect::<candle_core::Result<_>>()?)
        };
        let slots = match self {
            Self::Adam { .. } | Self::AdamW { .. } => vec![state(&params)?, state(&params)?],
            Self::Sgd { .. } => vec![state(&params)?],
        };
        Ok(Optimizer {
            config: *self,
            params,
            slots,
            steps: 0,
            schedule: None,
            clip_grad_norm: None,
            last_grad_norm: None,
        })
    }
}

/// The trainable variables of `varmap`, sorted by name (a stable order for
/// optimizer state and checkpoints).
pub fn named_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// An optimizer over named variables. Its state is a list of per-variable
/// slots (Adam and AdamW: first and second moments; SGD: the momentum
/// buffer), the number of steps taken and the schedule's state.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<(String, Var)>,
    slots: Vec<Vec<Tensor>>,
    steps: u64,
    schedule: Option<Scheduler>,
    clip_grad_norm: Option<f64>,
    last_grad_norm: Option<f64>,
}

impl Optimizer {
    /// The configuration it was built from.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the rate of every step by `schedule` (from the config's rate,
    /// counting the steps already taken). Errors name the schedule and the
    /// parameter that cannot work.
    pub fn with_schedule(mut self, schedule: LrSchedule) -> Result<Self> {
        self.schedule = Some(Scheduler::new(schedule, self.config.lr())?);
        Ok(self)
    }

    /// Clips the gradients in every [`Optimizer::step`] before the update,
    /// as PyTorch's `clip_grad_norm_`: when their total L2 norm exceeds
    /// `max_norm` (finite, above 0), all are scaled by `max_norm / (norm +
    /// 1e-6)`.
    pub fn with_clip_grad_norm(mut self, max_norm: f64) -> Result<Self> {
        if !(max_norm.is_finite() && max_norm > 0.0) {
            return Err(TrainError::Invalid(format!(
                "gradient clipping: max_norm must be a finite number above 0, got {max_norm}"
            )));
        }
        self.clip_grad_norm = Some(max_norm);
        Ok(self)
    }

    /// The learning rate the next step uses.
    pub fn lr(&self) -> f64 {
        match &self.schedule {
            Some(schedule) => schedule.lr(self.steps),
            None => self.config.lr(),
        }
    }

    /// Feeds an evaluation's metric to the schedule: call it after each
    /// evaluation. Only [`LrSchedule::Plateau`] uses it.
    pub fn observe(&mut self, metric: f64) {
        if let Some(schedule) = &mut self.schedule {
            schedule.observe(metric);
        }
    }

    /// The total gradient norm of the last step, before clipping; `None`
    /// without clipping (the norm is only computed to clip) or before the
    /// first step.
    pub fn last_grad_norm(&self) -> Option<f64> {
        self.last_grad_norm
    }

    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update from computed gradients, clipped first if asked, at the
    /// rate [`Optimizer::lr`] gave before it. Variables without a gradient
    /// are left alone (their state too).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        // Candle leaves a variable's gradient attached to the step's graph;
        // moments built from it would chain every past step's graph
        // together and grow memory by each step's activations.
        let mut grads: Vec<Option<Tensor>> = self
            .params
            .iter()
            .map(|(_, var)| grads.get(var.as_tensor()).map(Tensor::detach))
            .collect();
        if let Some(max_norm) = self.clip_grad_norm {
            self.last_grad_norm = Some(clip::clip_grad_norm(&mut grads, max_norm)?);
        }
        let lr = self.lr();
        self.steps += 1;
        let t = self.steps as i32;
        for (i, ((_, var), g)) in self.params.iter().zip(&grads).enumerate() {
            let Some(g) = g else {
                continue;
            };
            let adam = |beta1: f64, beta2: f64, eps: f64, decay: f64| AdamStep {
                beta1,
                beta2,
                eps,
                step_size: lr / (1.0 - beta1.powi(t)),
                v_scale: 1.0 / (1.0 - beta2.powi(t)),
                decay,
            };
            let step = match self.config {
                OptimizerConfig::Adam {
                    beta1, beta2, eps, ..
                } => adam(beta1, beta2, eps, 0.0),
                OptimizerConfig::AdamW {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    ..
                } => adam(beta1, beta2, eps, lr * weight_decay),
                OptimizerConfig::Sgd { momentum, .. } => {
                    let buf = if momentum == 0.0 {
                        g.clone()
                    } else {
                        self.slots[0][i].affine(momentum, 0.0)?.add(g)?
                    };
                    var.set(&var.sub(&buf.affine(lr, 0.0)?)?)?;
                    self.slots[0][i] = buf;
                    continue;
                }
            };
            let (m, v) = (&self.slots[0][i], &self.slots[1][i]);
            if adam::applies(var.as_tensor(), [m, v], g) {
                step.apply(var.as_tensor(), m, v, g)?;
            } else {
                let (w, m, v) = step.with_tensor_ops(var.as_tensor(), m, v, g)?;
                var.set(&w)?;
                self.slots[0][i] = m;
                self.slots[1][i] = v;
            }
        }
        Ok(())
    }

    /// The state as named tensors (`slot{k}.{variable}`, and
    /// `schedule.plateau` for a plateau schedule) plus the step count. The
    /// tensors share storage with the optimizer's own, which the next step
    /// may update in place (Adam on CPU does): write them out, or copy
    /// them, before stepping again.
    pub fn state(&self) -> (HashMap<String, Tensor>, u64) {
        let mut out = HashMap::new();
        for (k, slot) in self.slots.iter().enumerate() {
            for ((name, _), t) in self.params.iter().zip(slot) {
                out.insert(format!("slot{k}.{name}"), t.clone());
            }
        }
        if let Some(schedule) = &self.schedule {
            schedule.save(&mut out);
        }
        (out, self.steps)
    }

    /// Restores state saved by [`Optimizer::state`]. Every slot of every
    /// variable must be present with the variable's shape, and the
    /// schedule's state if the schedule has one.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for (k, slot) in self.slots.iter_mut().enumerate() {
            for ((name, var), t) in self.params.iter().zip(slot.iter_mut()) {
                let key = format!("slot{k}.{name}");
                let saved = tensors
                    .get(&key)
                    .ok_or_else(|| TrainError::Invalid(format!("optimizer state lacks `{key}`")))?;
                if saved.shape() != var.shape() {
                    return Err(TrainError::Invalid(format!(
                        "optimizer state `{key}` has shape {:?}, the variable {:?}",
                        saved.shape(),
                        var.shape()
                    )));
                }
                // A copy of its own: the CPU Adam updates it in place.
                *t = saved.to_device(var.device())?.copy()?;
            }
        }
        if let Some(schedule) = &mut self.schedule {
            schedule.load(tensors)?;
        }
        self.steps = steps;
        Ok(())
    }
}
