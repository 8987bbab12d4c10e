//! Losses, and the probabilities that go with them.

use candle_core::{DType, Result, Tensor};
use serde::{Deserialize, Serialize};

/// How a classifier's logits are turned into a loss and probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Softmax over the classes, cross entropy (the MNIST tutorial).
    #[default]
    SoftmaxCrossEntropy,
    /// One sigmoid per class, binary cross entropy on one-hot labels
    /// (the Keras cats-vs-dogs tutorial).
    SigmoidBinaryCrossEntropy,
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SoftmaxCrossEntropy => "softmax cross entropy",
            Self::SigmoidBinaryCrossEntropy => "binary cross entropy on one sigmoid per class",
        })
    }
}

impl LossKind {
    /// Mean loss of `logits` `(N, K)` against class indices `labels` `(N,)`.
    pub fn loss(self, logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match self {
            Self::SoftmaxCrossEntropy => candle_nn::loss::cross_entropy(logits, labels),
            Self::SigmoidBinaryCrossEntropy => {
                let classes = logits.dim(1)?;
                bce_with_logits(logits, &one_hot(labels, classes)?)
            }
        }
    }

    /// Class probabilities `(N, K)`: softmax rows, or independent sigmoids.
    pub fn probabilities(self, logits: &Tensor) -> Result<Tensor> {
        match self {
            Self::SoftmaxCrossEntropy => candle_nn::ops::softmax_last_dim(logits),
            Self::SigmoidBinaryCrossEntropy => candle_nn::ops::sigmoid(logits),
        }
    }
}

/// `(N,)` class indices to `(N, classes)` `f32` one-hot rows.
pub fn one_hot(labels: &Tensor, classes: usize) -> Result<Tensor> {
    let classes_row = Tensor::arange(0u32, classes as u32, labels.device())?.unsqueeze(0)?;
    labels
        .unsqueeze(1)?
        .broadcast_eq(&classes_row.broadcast_as((labels.dim(0)?, classes))?)?
        .to_dtype(DType::F32)
}

/// Mean binary cross entropy of `logits` against `targets` in `[0, 1]`, in
/// the form that stays finite for any logit:
/// `max(x, 0) - x * y + log(1 + exp(-|x|))`. (Candle's
/// `binary_cross_entropy_with_logit` takes the log of a sigmoid and returns
/// infinity once the sigmoid rounds to 0 or 1.)
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.to_dtype(logits.dtype())?;
    let softplus_neg_abs = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    logits
        .relu()?
        .sub(&logits.mul(&targets)?)?
        .add(&softplus_neg_abs)?
        .mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn scalar(t: Tensor) -> f32 {
        t.to_scalar::<f32>().unwrap()
    }

    #[test]
    fn bce_is_finite_and_right_at_large_logits() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[100f32, -100., 100., -100.], &dev).unwrap();
        let y = Tensor::new(&[1f32, 0., 0., 1.], &dev).unwrap();
        // Right answers cost ~0, wrong ones cost ~100 each.
        let l = scalar(bce_with_logits(&x, &y).unwrap());
        assert!((l - 50.0).abs() < 1e-4, "{l}");
        let x = Var::new(&[100f32, -100.], &dev).unwrap();
        let y = Tensor::new(&[0f32, 1.], &dev).unwrap();
        let g = bce_with_logits(x.as_tensor(), &y)
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        // d/dx = (sigmoid(x) - y) / N
        assert!(
            (g[0] - 0.5).abs() < 1e-6 && (g[1] + 0.5).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn bce_matches_the_definition_at_moderate_logits() {
        let dev = Device::Cpu;
        let xs = [0.3f32, -1.2, 2.0];
        let ys = [1f32, 0., 0.25];
        let expected: f32 = xs
            .iter()
            .zip(ys)
            .map(|(&x, y)| {
                let p = 1.0 / (1.0 + (-x).exp());
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f32>()
            / 3.0;
        let got = scalar(
            bce_with_logits(
                &Tensor::new(&xs, &dev).unwrap(),
                &Tensor::new(&ys, &dev).unwrap(),
            )
            .unwrap(),
        );
        assert!((got - expected).abs() < 1e-6);
    }

    #[test]
    fn both_losses_agree_with_hand_values() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[0f32, 0.], [2., 0.]], &dev).unwrap();
        let labels = Tensor::new(&[0u32, 1], &dev).unwrap();
        let ce = scalar(
            LossKind::SoftmaxCrossEntropy
                .loss(&logits, &labels)
                .unwrap(),
        );
        let expected = (2f32.ln() + (1.0 + 2f32.exp()).ln() - 0.0) / 2.0;
        assert!((ce - expected).abs() < 1e-6);
        assert_eq!(
            one_hot(&labels, 2).unwrap().to_vec2::<f32>().unwrap(),
            vec![vec![1., 0.], vec![0., 1.]]
        );
        let p = LossKind::SigmoidBinaryCrossEntropy
            .probabilities(&logits)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(p[0], vec![0.5, 0.5]);
    }
}
