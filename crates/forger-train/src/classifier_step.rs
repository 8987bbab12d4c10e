//! The classifier's [`TrainStep`]: logits in training mode (dropout from
//! `rng::derive(seed, "dropout", step)`), the loss, one optimizer update;
//! and the [`Validation`] hook that evaluates it when a history row is due.

use candle_core::Device;
use candle_nn::VarMap;
use forger_data::{rng, Batch, Dataset};
use forger_models::{seeded_vars, ImageClassifier, Mode, ModelConfig};

use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::evaluate::{correct, evaluate};
use crate::history::HistoryRow;
use crate::learner::{value, At, Hook, StepOutput, TrainStep, Values};
use crate::optim::{Optimizer, PlateauMode};
use crate::{LossKind, Result};

/// A fresh model of `config` with seeded weights (drawn from
/// `rng::derive(seed, "init", 0)`), and its variables.
pub fn init_classifier<M: ModelConfig>(
    config: &M,
    seed: u64,
    device: &Device,
) -> Result<(Box<dyn ImageClassifier>, VarMap)> {
    let varmap = VarMap::new();
    let model = config.init(seeded_vars(&varmap, rng::derive(seed, "init", 0), device))?;
    Ok((model, varmap))
}

/// A classifier, its weights and optimizer, and its loss.
pub struct ClassifierStep {
    model: Box<dyn ImageClassifier>,
    varmap: VarMap,
    optimizer: Optimizer,
    loss: LossKind,
    seed: u64,
    plateau: Option<PlateauMode>,
}

impl ClassifierStep {
    /// Trains `model`, whose variables are `varmap`, with `optimizer` (over
    /// those variables) on `loss`; `seed` seeds the dropout masks.
    pub fn new(
        model: Box<dyn ImageClassifier>,
        varmap: VarMap,
        optimizer: Optimizer,
        loss: LossKind,
        seed: u64,
    ) -> Self {
        Self {
            model,
            varmap,
            optimizer,
            loss,
            seed,
            plateau: None,
        }
    }

    /// Feeds the optimizer's plateau schedule after each evaluation: the
    /// validation loss (`Min`) or the AUC, else accuracy (`Max`).
    pub fn watching(mut self, mode: PlateauMode) -> Self {
        self.plateau = Some(mode);
        self
    }

    /// The model.
    pub fn model(&self) -> &dyn ImageClassifier {
        self.model.as_ref()
    }

    /// The model's variables.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The loss it trains on.
    pub fn loss(&self) -> LossKind {
        self.loss
    }

    /// The model and its variables.
    pub fn into_parts(self) -> (Box<dyn ImageClassifier>, VarMap) {
        (self.model, self.varmap)
    }
}

impl TrainStep for ClassifierStep {
    type Row = HistoryRow;

    fn step(&mut self, batch: &Batch, step: u64) -> Result<StepOutput> {
        let mut dropout = rng::derive(self.seed, "dropout", step);
        let logits = self
            .model
            .logits(&batch.images, Mode::Train(&mut dropout))?;
        let loss = self.loss.loss(&logits, &batch.labels)?;
        let loss_value = f64::from(loss.to_scalar::<f32>()?);
        if loss_value.is_finite() {
            self.optimizer.backward_step(&loss)?;
        }
        let n = batch.indices.len() as f64;
        Ok(StepOutput {
            totals: vec![
                ("loss", loss_value * n),
                ("accuracy", correct(&logits, &batch.labels)? as f64),
            ],
            weight: n,
        })
    }

    fn row(&self, at: &At, train: &Values, measured: &Values) -> HistoryRow {
        HistoryRow {
            step: at.step,
            epoch: at.epoch,
            loss: value(train, "loss").unwrap_or(f64::NAN),
            accuracy: value(train, "accuracy").unwrap_or(f64::NAN),
            val_loss: value(measured, "val_loss").unwrap_or(f64::NAN),
            val_accuracy: value(measured, "val_accuracy").unwrap_or(f64::NAN),
            val_auc: value(measured, "val_auc"),
            seconds: at.seconds,
        }
    }

    fn describe(&self, row: &HistoryRow) -> String {
        let auc = row
            .val_auc
            .map(|a| format!(" val_auc {a:.4}"))
            .unwrap_or_default();
        format!(
            "step {} epoch {:.2}: loss {:.4} acc {:.4} val_loss {:.4} val_acc {:.4}{auc}",
            row.step, row.epoch, row.loss, row.accuracy, row.val_loss, row.val_accuracy
        )
    }

    fn weights(&self) -> Vec<(&'static str, &VarMap)> {
        vec![("model", &self.varmap)]
    }

    fn observe(&mut self, row: &HistoryRow) {
        match self.plateau {
            Some(PlateauMode::Min) => self.optimizer.observe(row.val_loss),
            Some(PlateauMode::Max) => self
                .optimizer
                .observe(row.val_auc.unwrap_or(row.val_accuracy)),
            None => {}
        }
    }

    fn save_optimizers(&self, writer: CheckpointWriter) -> CheckpointWriter {
        writer.optimizer("optim", &self.optimizer)
    }

    fn restore_optimizers(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        checkpoint.restore_optimizer("optim", &mut self.optimizer)
    }
}

/// Evaluates the classifier on a held-out set whenever a history row is
/// due: `val_loss`, `val_accuracy` and (two classes) `val_auc`.
pub struct Validation<'a> {
    pub data: &'a Dataset,
    pub device: &'a Device,
}

impl Hook<ClassifierStep> for Validation<'_> {
    fn due(&self, at: &At) -> bool {
        at.row_due
    }

    fn run(&mut self, step: &ClassifierStep, _: &At) -> Result<Values> {
        let eval = evaluate(step.model(), step.loss(), self.data, self.device)?;
        Ok(vec![
            ("val_loss", Some(eval.loss)),
            ("val_accuracy", Some(eval.accuracy)),
            ("val_auc", eval.auc),
        ])
    }
}
