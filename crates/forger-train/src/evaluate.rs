//! Evaluation of a classifier on a data set.

use candle_core::{DType, Device, Tensor, D};
use forger_data::{BatchConfig, Dataset, Loader};
use forger_models::{ImageClassifier, Mode};
use serde::{Deserialize, Serialize};

use crate::metrics::{roc_auc, ConfusionMatrix};
use crate::{LossKind, Result, TrainError};

/// Batch size for evaluation: large, as nothing is kept for backprop.
const EVAL_BATCH: usize = 512;

/// What a classifier scored on a data set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
    /// ROC AUC with class 1 as positive, for two classes (when both occur).
    pub auc: Option<f64>,
    /// The probability of class 1 per image, for two classes.
    #[serde(skip)]
    pub positive_scores: Vec<f64>,
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Each image's class probabilities, in the data's order.
    #[serde(skip)]
    pub probabilities: Vec<Vec<f32>>,
}

/// Checks that images of shape `images` (`[channels, height, width]`, as
/// [`Dataset::image_shape`] gives it) fit a model that takes `model` (as
/// `ClassifierConfig::input_shape` or [`ImageClassifier::input_shape`]
/// gives it); otherwise a [`TrainError::ImageShape`] naming `what` images
/// and both sizes. [`crate::fit`] and [`evaluate`] call it.
pub fn check_image_shape(what: &str, images: [usize; 3], model: [usize; 3]) -> Result<()> {
    if images == model {
        return Ok(());
    }
    Err(TrainError::ImageShape {
        what: what.to_string(),
        images,
        model,
    })
}

/// Probabilities `(N, K)` for every image of `data`, in order.
pub fn predict_probabilities(
    model: &dyn ImageClassifier,
    loss: LossKind,
    data: &Dataset,
    device: &Device,
) -> Result<(Vec<Vec<f32>>, f64)> {
    check_image_shape("evaluated", data.image_shape(), model.input_shape())?;
    let batcher = Loader::new(data, BatchConfig::sequential(EVAL_BATCH))?;
    let mut probs = Vec::with_capacity(data.len());
    let mut loss_sum = 0.0;
    for batch in batcher.epoch(0, device) {
        let batch = batch?;
        let logits = model.logits(&batch.images, Mode::Eval)?;
        let n = batch.indices.len() as f64;
        loss_sum += loss
            .loss(&logits, &batch.labels)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?
            * n;
        probs.extend(loss.probabilities(&logits)?.to_vec2::<f32>()?);
    }
    Ok((probs, loss_sum / data.len().max(1) as f64))
}

/// Loss, accuracy, confusion matrix and (for two classes) AUC on `data`.
pub fn evaluate(
    model: &dyn ImageClassifier,
    loss: LossKind,
    data: &Dataset,
    device: &Device,
) -> Result<Evaluation> {
    let (probs, mean_loss) = predict_probabilities(model, loss, data, device)?;
    let predictions: Vec<u32> = probs.iter().map(|p| argmax(p)).collect();
    let labels = data.labels().to_vec();
    let confusion = ConfusionMatrix::new(&labels, &predictions, data.classes().len());
    let positive_scores: Vec<f64> = if data.classes().len() == 2 {
        probs.iter().map(|p| positive_score(p)).collect()
    } else {
        Vec::new()
    };
    let counts = data.class_counts();
    let auc = if counts.len() == 2 && counts.iter().all(|&c| c > 0) {
        Some(roc_auc(&labels, &positive_scores)?)
    } else {
        None
    };
    Ok(Evaluation {
        loss: mean_loss,
        accuracy: confusion.accuracy(),
        confusion,
        auc,
        positive_scores,
        labels,
        probabilities: probs,
    })
}

/// The score of class 1 for a two-class probability row. With independent
/// sigmoids the two need not sum to one, so they are normalised.
pub fn positive_score(p: &[f32]) -> f64 {
    let (a, b) = (f64::from(p[0]), f64::from(p[1]));
    if a + b > 0.0 {
        b / (a + b)
    } else {
        0.5
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(p: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    best as u32
}

/// Number of right predictions in a batch of logits.
pub(crate) fn correct(logits: &Tensor, labels: &Tensor) -> Result<u64> {
    // One op and two small copies: cheaper per training step than
    // comparing, converting and summing as tensors.
    let predicted = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let labels = labels.to_vec1::<u32>()?;
    Ok(predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count() as u64)
}
