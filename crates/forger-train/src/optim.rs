//! Optimizers whose whole state (moments, step count) can be saved in a
//! checkpoint and restored, so that a resumed run continues exactly.
//! (Candle's `AdamW` keeps its moments private.)

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};
use forger_kernels::adam::{self, AdamStep};

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
    /// SGD with (PyTorch-style) momentum: `buf = m * buf + g; w -= lr * buf`.
    Sgd { lr: f64, momentum: f64 },
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

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Self::Adam { lr, .. } | Self::Sgd { lr, .. } => lr,
        }
    }

    /// An optimizer of this kind over `params`.
    pub fn build(&self, params: Vec<(String, Var)>) -> Result<Optimizer> {
        let state = |params: &[(String, Var)]| -> Result<Vec<Tensor>> {
            Ok(params
                .iter()
                .map(|(_, v)| v.zeros_like())
                .collect::<candle_core::Result<_>>()?)
        };
        let slots = match self {
            Self::Adam { .. } => vec![state(&params)?, state(&params)?],
            Self::Sgd { .. } => vec![state(&params)?],
        };
        Ok(Optimizer {
            config: *self,
            params,
            slots,
            steps: 0,
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
/// slots (Adam: first and second moments; SGD: the momentum buffer) and the
/// number of steps taken.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<(String, Var)>,
    slots: Vec<Vec<Tensor>>,
    steps: u64,
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

    /// One update from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update from computed gradients. Variables without a gradient are
    /// left alone (their state too).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Candle leaves a variable's gradient attached to the step's
            // graph; moments built from it would chain every past step's
            // graph together and grow memory by each step's activations.
            let g = &g.detach();
            match self.config {
                OptimizerConfig::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let adam = AdamStep {
                        beta1,
                        beta2,
                        eps,
                        step_size: lr / (1.0 - beta1.powi(t)),
                        v_scale: 1.0 / (1.0 - beta2.powi(t)),
                    };
                    let (m, v) = (&self.slots[0][i], &self.slots[1][i]);
                    if adam::applies(var.as_tensor(), [m, v], g) {
                        adam.apply(var.as_tensor(), m, v, g)?;
                    } else {
                        let (w, m, v) = adam.with_tensor_ops(var.as_tensor(), m, v, g)?;
                        var.set(&w)?;
                        self.slots[0][i] = m;
                        self.slots[1][i] = v;
                    }
                }
                OptimizerConfig::Sgd { lr, momentum } => {
                    let buf = if momentum == 0.0 {
                        g.clone()
                    } else {
                        self.slots[0][i].affine(momentum, 0.0)?.add(g)?
                    };
                    var.set(&var.sub(&buf.affine(lr, 0.0)?)?)?;
                    self.slots[0][i] = buf;
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`slot{k}.{variable}`) plus the step count.
    /// The tensors share storage with the optimizer's own, which the next
    /// step may update in place (Adam on CPU does): write them out, or copy
    /// them, before stepping again.
    pub fn state(&self) -> (HashMap<String, Tensor>, u64) {
        let mut out = HashMap::new();
        for (k, slot) in self.slots.iter().enumerate() {
            for ((name, _), t) in self.params.iter().zip(slot) {
                out.insert(format!("slot{k}.{name}"), t.clone());
            }
        }
        (out, self.steps)
    }

    /// Restores state saved by [`Optimizer::state`]. Every slot of every
    /// variable must be present with the variable's shape.
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
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn one_var(values: &[f32]) -> (Var, Vec<(String, Var)>) {
        let v = Var::new(values, &Device::Cpu).unwrap();
        (v.clone(), vec![("w".to_string(), v)])
    }

    #[test]
    fn optimizer_state_holds_no_graph_of_past_steps() {
        for config in [
            OptimizerConfig::adam(0.1),
            OptimizerConfig::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
        ] {
            let (w, params) = one_var(&[1.0, -2.0]);
            let mut opt = config.build(params).unwrap();
            // The gradient of w * x depends on x, which is itself computed
            // from w: Candle keeps such a gradient attached to the graph.
            let x = w.as_tensor().sqr().unwrap();
            opt.backward_step(&w.as_tensor().mul(&x).unwrap().sum_all().unwrap())
                .unwrap();
            let (state, _) = opt.state();
            assert!(state.values().all(|t| !t.track_op()), "{config:?}");
        }
    }

    #[test]
    fn adam_first_steps_match_hand_computation() {
        let (w, params) = one_var(&[1.0, -2.0]);
        let mut opt = OptimizerConfig::adam(0.1).build(params).unwrap();
        // loss = sum(w^2) / 2, so g = w.
        let loss = |w: &Var| {
            w.as_tensor()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .affine(0.5, 0.0)
                .unwrap()
        };
        opt.backward_step(&loss(&w)).unwrap();
        // Step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2: w -= 0.1 * g / (|g| + 1e-8)
        let after1 = w.to_vec1::<f32>().unwrap();
        assert!(
            (after1[0] - 0.9).abs() < 1e-6 && (after1[1] + 1.9).abs() < 1e-6,
            "{after1:?}"
        );
        opt.backward_step(&loss(&w)).unwrap();
        // Step 2 by hand for w0: g1 = 1, g2 = 0.9.
        let (b1, b2) = (0.9f64, 0.999f64);
        let m = b1 * 0.1 * 1.0 + 0.1 * 0.9;
        let v = b2 * 0.001 * 1.0 + 0.001 * 0.81;
        let expected = 0.9 - 0.1 * (m / (1.0 - b1 * b1)) / ((v / (1.0 - b2 * b2)).sqrt() + 1e-8);
        let got = w.to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn sgd_momentum_matches_hand_computation() {
        let (w, params) = one_var(&[1.0]);
        let mut opt = OptimizerConfig::Sgd {
            lr: 0.5,
            momentum: 0.9,
        }
        .build(params)
        .unwrap();
        let loss = |w: &Var| w.as_tensor().sum_all().unwrap(); // g = 1
        opt.backward_step(&loss(&w)).unwrap();
        opt.backward_step(&loss(&w)).unwrap();
        // buf1 = 1, w = 0.5; buf2 = 1.9, w = 0.5 - 0.95
        assert!((w.to_vec1::<f32>().unwrap()[0] + 0.45).abs() < 1e-6);
    }

    #[test]
    fn state_round_trips_and_continues_identically() {
        let loss = |w: &Var| w.as_tensor().sqr().unwrap().sum_all().unwrap();
        let (w1, p1) = one_var(&[3.0, 1.0]);
        let mut a = OptimizerConfig::adam(0.05).build(p1).unwrap();
        for _ in 0..3 {
            a.backward_step(&loss(&w1)).unwrap();
        }
        let (state, steps) = a.state();
        let (w2, p2) = one_var(&w1.to_vec1::<f32>().unwrap());
        let mut b = OptimizerConfig::adam(0.05).build(p2).unwrap();
        b.load_state(&state, steps).unwrap();
        a.backward_step(&loss(&w1)).unwrap();
        b.backward_step(&loss(&w2)).unwrap();
        assert_eq!(w1.to_vec1::<f32>().unwrap(), w2.to_vec1::<f32>().unwrap());
        let mut missing = state.clone();
        missing.remove("slot1.w");
        assert!(b
            .load_state(&missing, 1)
            .unwrap_err()
            .to_string()
            .contains("slot1.w"));
    }
}
