//! Adam's update on CPU as three in-place passes over each variable and its
//! moments, instead of the dozen Candle tensor ops (each allocating a
//! tensor of the variable's size) of [`AdamStep::with_tensor_ops`], which
//! forger-train's optimizer runs where [`applies`] says no.
//!
//! Every element goes through the same f32 (or f64) operations in the same
//! order as the tensor-op formulation, so the two give bit-identical
//! results; the optimizer's tests check that.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor};
use rayon::prelude::*;

/// The element types of the update, with their own square root.
trait Element: candle_core::WithDType {
    fn sqrt(self) -> Self;
}

impl Element for f32 {
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Element for f64 {
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// Elements per parallel task: below this, one thread does it all.
const TASK: usize = 1 << 15;

/// One Adam step's hyper-parameters, with the bias corrections of step `t`.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator's square root.
    pub eps: f64,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f64,
    /// `1 / (1 - beta2^t)`.
    pub v_scale: f64,
    /// AdamW's decoupled weight decay `lr * weight_decay`: the variable is
    /// first multiplied by `1 - decay`. 0 for Adam (no multiplication).
    pub decay: f64,
}

/// Whether [`AdamStep::apply`] can update `var` with `grad`: the kernels
/// are enabled ([`crate::set_enabled`]) and all are CPU tensors of f32 or
/// f64, of one dtype and shape.
pub fn applies(var: &Tensor, moments: [&Tensor; 2], grad: &Tensor) -> bool {
    crate::enabled() && fits(var, moments, grad)
}

/// [`applies`] without the switch.
fn fits(var: &Tensor, moments: [&Tensor; 2], grad: &Tensor) -> bool {
    let dtype = var.dtype();
    var.device().is_cpu()
        && matches!(dtype, DType::F32 | DType::F64)
        && [moments[0], moments[1], grad]
            .iter()
            .all(|t| t.dtype() == dtype && t.shape() == var.shape() && t.device().is_cpu())
}

impl AdamStep {
    /// `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    /// var = var * (1 - decay) - step_size * m / (sqrt(v_scale * v) + eps)`,
    /// in place (the decay and the update in one pass).
    pub fn apply(&self, var: &Tensor, m: &Tensor, v: &Tensor, grad: &Tensor) -> Result<()> {
        let grad = grad.contiguous()?;
        m.inplace_op2(
            &grad,
            &Moment {
                beta: self.beta1,
                square: false,
            },
        )?;
        v.inplace_op2(
            &grad,
            &Moment {
                beta: self.beta2,
                square: true,
            },
        )?;
        var.inplace_op3(m, v, self)
    }

    /// The same step as Candle tensor ops, for any device and dtype: the
    /// new variable and moments.
    pub fn with_tensor_ops(
        &self,
        var: &Tensor,
        m: &Tensor,
        v: &Tensor,
        g: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let m = m
            .affine(self.beta1, 0.0)?
            .add(&g.affine(1.0 - self.beta1, 0.0)?)?;
        let v = v
            .affine(self.beta2, 0.0)?
            .add(&g.sqr()?.affine(1.0 - self.beta2, 0.0)?)?;
        let denom = v.affine(self.v_scale, 0.0)?.sqrt()?.affine(1.0, self.eps)?;
        let var = if self.decay != 0.0 {
            var.affine(1.0 - self.decay, 0.0)?
        } else {
            var.clone()
        };
        let w = var.sub(&m.div(&denom)?.affine(self.step_size, 0.0)?)?;
        Ok((w, m, v))
    }

    fn update<T: Element>(&self, w: &mut [T], m: &[T], v: &[T]) {
        let (step, scale, eps, keep) = (
            T::from_f64(self.step_size),
            T::from_f64(self.v_scale),
            T::from_f64(self.eps),
            T::from_f64(1.0 - self.decay),
        );
        let (zero, decays) = (T::zero(), self.decay != 0.0);
        w.par_chunks_mut(TASK)
            .zip(m.par_chunks(TASK).zip(v.par_chunks(TASK)))
            .for_each(|(w, (m, v))| {
                for ((w, &m), &v) in w.iter_mut().zip(m).zip(v) {
                    // As `v.affine(scale, 0).sqrt().affine(1, eps)`,
                    // `w.affine(keep, 0)` (AdamW) and
                    // `w - (m / denom).affine(step, 0)`.
                    let denom = (v * scale + zero).sqrt() * T::one() + eps;
                    let decayed = if decays { *w * keep + zero } else { *w };
                    *w = decayed - ((m / denom) * step + zero);
                }
            });
    }
}

/// The moment update `s = beta s + (1 - beta) g` (`g^2` when `square`).
struct Moment {
    beta: f64,
    square: bool,
}

impl Moment {
    fn update<T: Element>(&self, s: &mut [T], g: &[T]) {
        let (beta, rest, zero) = (
            T::from_f64(self.beta),
            T::from_f64(1.0 - self.beta),
            T::zero(),
        );
        s.par_chunks_mut(TASK)
            .zip(g.par_chunks(TASK))
            .for_each(|(s, g)| {
                for (s, &g) in s.iter_mut().zip(g) {
                    // As `s.affine(beta, 0).add(&g[.sqr()].affine(1 - beta, 0))`.
                    let g = if self.square { g * g } else { g };
                    *s = (*s * beta + zero) + (g * rest + zero);
                }
            });
    }
}

/// The contiguous elements of `s` under `l`, mutably.
fn slice_mut<'a, T>(s: &'a mut [T], l: &Layout) -> Result<&'a mut [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&mut s[start..end]),
        None => bail!("adam: the optimizer state must be contiguous"),
    }
}

fn slice<'a, T>(s: &'a [T], l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s[start..end]),
        None => bail!("adam: the gradient must be contiguous"),
    }
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "forger-adam-moment"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, ls: &Layout, g: &CpuStorage, lg: &Layout) -> Result<()> {
        match (s, g) {
            (CpuStorage::F32(s), CpuStorage::F32(g)) => {
                self.update(slice_mut(s, ls)?, slice(g, lg)?)
            }
            (CpuStorage::F64(s), CpuStorage::F64(g)) => {
                self.update(slice_mut(s, ls)?, slice(g, lg)?)
            }
            (s, g) => bail!(
                "adam: moment and gradient must be both f32 or both f64, got {:?} and {:?}",
                s.dtype(),
                g.dtype()
            ),
        }
        Ok(())
    }
}

impl InplaceOp3 for AdamStep {
    fn name(&self) -> &'static str {
        "forger-adam-update"
    }

    fn cpu_fwd(
        &self,
        w: &mut CpuStorage,
        lw: &Layout,
        m: &CpuStorage,
        lm: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<()> {
        match (w, m, v) {
            (CpuStorage::F32(w), CpuStorage::F32(m), CpuStorage::F32(v)) => {
                self.update(slice_mut(w, lw)?, slice(m, lm)?, slice(v, lv)?)
            }
            (CpuStorage::F64(w), CpuStorage::F64(m), CpuStorage::F64(v)) => {
                self.update(slice_mut(w, lw)?, slice(m, lm)?, slice(v, lv)?)
            }
            (w, _, _) => bail!(
                "adam: variable and moments must be of one dtype, f32 or f64 (variable {:?})",
                w.dtype()
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// Several steps in place and as tensor ops, from the same random
    /// state: bit-identical variables and moments.
    fn in_place_matches_tensor_ops(dtype: DType, len: usize, weight_decay: f64) {
        let mut rng = Pcg64::seed_from_u64(len as u64);
        let mut random = |scale: f64| {
            let v: Vec<f64> = (0..len).map(|_| rng.gen_range(-scale..scale)).collect();
            Tensor::from_vec(v, len, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
        };
        let (w, m) = (random(1.0), random(0.1));
        let v = random(0.01).abs().unwrap();
        let (mut w_ref, mut m_ref, mut v_ref) =
            (w.copy().unwrap(), m.copy().unwrap(), v.copy().unwrap());
        for t in 1..=3 {
            let g = random(1.0);
            let step = AdamStep {
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
                step_size: 2e-4 / (1.0 - 0.5f64.powi(t)),
                v_scale: 1.0 / (1.0 - 0.999f64.powi(t)),
                decay: 2e-4 * weight_decay,
            };
            assert!(fits(&w, [&m, &v], &g));
            step.apply(&w, &m, &v, &g).unwrap();
            (w_ref, m_ref, v_ref) = step.with_tensor_ops(&w_ref, &m_ref, &v_ref, &g).unwrap();
        }
        for (ours, theirs) in [(&w, &w_ref), (&m, &m_ref), (&v, &v_ref)] {
            let (a, b) = (
                ours.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap(),
                theirs
                    .to_dtype(DType::F64)
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap(),
            );
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{dtype:?} {len} weight decay {weight_decay}"
            );
        }
    }

    #[test]
    fn in_place_step_is_bit_identical_to_tensor_ops() {
        for len in [1, 7, TASK - 1, 3 * TASK + 5] {
            for weight_decay in [0.0, 0.01] {
                in_place_matches_tensor_ops(DType::F32, len, weight_decay);
                in_place_matches_tensor_ops(DType::F64, len, weight_decay);
            }
        }
    }

    #[test]
    fn other_dtypes_and_shapes_take_the_tensor_ops() {
        let w = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
        let other = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
        let half = Tensor::zeros(4, DType::BF16, &Device::Cpu).unwrap();
        assert!(!fits(&w, [&w, &w], &other));
        assert!(!fits(&half, [&half, &half], &half));
    }
}
