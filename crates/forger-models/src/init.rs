use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::{VarBuilder, VarMap};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64;

/// A [`VarBuilder`] that creates each new weight in `varmap`, drawn from
/// `rng` as its layer's `Init` hint asks. Candle's own initialisers use an
/// unseedable generator on CPU; this one makes a model a function of its seed.
///
/// Weights already in `varmap` are returned as they are, so the usual pattern
/// of building a model and then `varmap.load(...)` works unchanged.
pub fn seeded_vars(varmap: &VarMap, rng: Pcg64, device: &Device) -> VarBuilder<'static> {
    let backend = SeededInit {
        varmap: varmap.clone(),
        rng: Mutex::new(rng),
    };
    VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone())
}

/// A normal of mean 0 and `stdev`, truncated at two stddevs: values
/// further out are redrawn, as TensorFlow's `tf.truncated_normal` does.
/// Candle's [`Init`] has no such variant, so it travels as a `Randn` hint
/// with a negative `stdev`, which [`seeded_vars`] reads this way (Candle's
/// own initialisers refuse a negative stdev rather than draw from it).
pub fn truncated_normal(stdev: f64) -> Init {
    Init::Randn {
        mean: 0.0,
        stdev: -stdev.abs(),
    }
}

/// How many stddevs [`truncated_normal`] keeps.
const TRUNCATION: f64 = 2.0;

/// The most values one weight may hold (1 GiB of `f32`).
const MAX_WEIGHT_ELEMENTS: usize = 1 << 28;

struct SeededInit {
    varmap: VarMap,
    rng: Mutex<Pcg64>,
}

impl SeededInit {
    fn draw(&self, shape: &Shape, init: Init) -> Vec<f32> {
        let n = shape.elem_count();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let normal = |rng: &mut Pcg64, mean: f64, std: f64| -> Vec<f32> {
            // std > 0 and finite here; Normal::new only fails otherwise.
            let d = Normal::new(mean, std.max(f64::MIN_POSITIVE)).expect("finite std");
            (0..n).map(|_| d.sample(rng) as f32).collect()
        };
        let uniform = |rng: &mut Pcg64, lo: f64, up: f64| -> Vec<f32> {
            (0..n).map(|_| rng.gen_range(lo..=up) as f32).collect()
        };
        match init {
            Init::Const(v) => vec![v as f32; n],
            Init::Randn { mean, stdev } if stdev < 0.0 => {
                let d = Normal::new(mean, -stdev).expect("finite std");
                let bound = TRUNCATION * -stdev;
                (0..n)
                    .map(|_| loop {
                        let x: f64 = d.sample(&mut *rng);
                        if (x - mean).abs() <= bound {
                            break x as f32;
                        }
                    })
                    .collect()
            }
            Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev),
            Init::Uniform { lo, up } => uniform(&mut rng, lo, up),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let fan = fan.for_shape(shape).max(1);
                let std = non_linearity.gain() / (fan as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(&mut rng, 0.0, std),
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        uniform(&mut rng, -bound, bound)
                    }
                }
            }
        }
    }
}

impl candle_nn::var_builder::SimpleBackend for SeededInit {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(var) = vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "weight `{name}` has shape {:?}, the model expects {shape:?}",
                    var.shape()
                );
            }
            return Ok(var.as_tensor().clone());
        }
        // A model built for an absurd input (a corrupt header's image size)
        // is refused here rather than overflowing or aborting.
        let elements = shape
            .dims()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= MAX_WEIGHT_ELEMENTS);
        if elements.is_none() {
            candle_core::bail!(
                "weight `{name}` of shape {shape:?} would hold more than {MAX_WEIGHT_ELEMENTS} values: \
                 is the input size right?"
            );
        }
        let values = self.draw(&shape, init);
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, dev)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        match vars.get(name) {
            Some(var) => Ok(var.as_tensor().clone()),
            None => candle_core::bail!("no weight named `{name}`"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap
            .data()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn weights(seed: u64) -> Vec<f32> {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(seed), &Device::Cpu);
        let w = vb
            .get_with_hints((3, 4), "w", candle_nn::init::DEFAULT_KAIMING_UNIFORM)
            .unwrap();
        w.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn same_seed_same_weights_and_kaiming_bound_respected() {
        assert_eq!(weights(1), weights(1));
        assert_ne!(weights(1), weights(2));
        // fan-in 4, ReLU gain sqrt(2): bound = sqrt(3) * sqrt(2) / 2
        let bound = (6f32).sqrt() / 2.0;
        assert!(weights(1).iter().all(|w| w.abs() <= bound));
    }

    #[test]
    fn existing_weights_are_reused() {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(0), &Device::Cpu);
        let a = vb.get_with_hints(2, "b", Init::Const(0.5)).unwrap();
        let b = vb.get_with_hints(2, "b", Init::Const(9.0)).unwrap();
        assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        assert!(vb.get_with_hints(3, "b", Init::Const(0.0)).is_err());
    }

    #[test]
    fn truncated_normals_stay_within_two_stddevs() {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(3), &Device::Cpu);
        let draw = |name: &str| -> Vec<f32> {
            vb.get_with_hints(20_000, name, truncated_normal(0.1))
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        let w = draw("w");
        assert!(w.iter().all(|x| x.abs() <= 0.2), "a draw beyond 2 stddevs");
        // A normal truncated at 2 sigma has stddev 0.88 sigma, not sigma.
        let var = w.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var.sqrt() - 0.088).abs() < 0.003, "stddev {}", var.sqrt());
        assert_ne!(w, draw("v"));
    }

    /// Issue 22, item 1: a weight for an input of 2^31 x 2^31 pixels is an
    /// error, not a capacity-overflow panic.
    #[test]
    fn weights_too_large_to_hold_are_errors() {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(0), &Device::Cpu);
        let err = vb
            .get_with_hints((1usize << 31, 1usize << 31), "w", Init::Const(0.0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("would hold more than"), "{err}");
    }
}
