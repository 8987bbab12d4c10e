//! Fitting a classifier: [`fit`] builds the model from its config, trains
//! it through the [`Learner`](crate::Learner) with a [`ClassifierStep`]
//! and the [`Validation`] hook, keeps the best weights, scores the test set
//! and writes the run directory. [`TrainedClassifier`] is a trained model
//! with its config, as `fit` returns it or as loaded from a run directory.

use candle_core::Device;
use forger_data::augment::AugmentConfig;
use forger_data::Dataset;
use forger_models::{ClassifierConfig, ImageClassifier, ModelConfig, ModelSummary};
use serde::{Deserialize, Serialize};

use crate::atomic::write_json;
use crate::classifier_step::{init_classifier, ClassifierStep, Validation};
use crate::evaluate::{check_image_shape, evaluate, Evaluation};
use crate::history::HistoryRow;
use crate::learner::{EarlyStopping, Learner, RunRecord, Schedule, Select};
use crate::optim::{named_vars, LrSchedule, OptimizerConfig};
use crate::plot::{self, Panel, Series};
use crate::train_batches::train_loader;
use crate::{save_weights, LossKind, Result, RunDir, TrainError, TrainedClassifier};

/// The validation metric that picks the best model and drives early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Lowest validation loss.
    Loss,
    /// Highest validation accuracy.
    Accuracy,
    /// Highest validation ROC AUC (two classes).
    Auc,
}

impl Selection {
    /// The value of this metric in a history row, oriented so that larger is better.
    fn scorer(self) -> fn(&HistoryRow) -> f64 {
        match self {
            Self::Loss => |row| -row.val_loss,
            Self::Accuracy => |row| row.val_accuracy,
            Self::Auc => |row| row.val_auc.unwrap_or(row.val_accuracy),
        }
    }
}

/// Everything that defines a training run (saved as the run's
/// `config.json`). `M` is the model's config: forger's
/// [`ClassifierConfig`] unless you bring your own [`ModelConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "M: ModelConfig")]
pub struct FitConfig<M = ClassifierConfig> {
    pub model: M,
    pub loss: LossKind,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    pub batch_size: usize,
    /// Evaluate (and checkpoint) every this many steps; `None` = each epoch's end.
    pub eval_every: Option<u64>,
    /// Keep the weights that were best on validation by this metric;
    /// `None` keeps the last weights.
    pub selection: Option<Selection>,
    pub early_stopping: Option<EarlyStopping>,
    pub seed: u64,
    /// Augment the training images (on worker threads, ahead of the
    /// trainer); evaluation images are only rescaled. The rescale must be
    /// `1/255`, the scale evaluation uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
    /// A learning-rate schedule; a plateau schedule watches the validation
    /// loss (`min`) or the selection's AUC, else accuracy (`max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_schedule: Option<LrSchedule>,
    /// Clip the gradients' total L2 norm to this before each update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

impl<M: ModelConfig> FitConfig<M> {
    /// The MNIST tutorial: Adam 0.005, batch 64, 10,000 steps, evaluation every 100.
    pub fn mnist_tutorial(model: M) -> Self {
        Self {
            model,
            loss: LossKind::SoftmaxCrossEntropy,
            optimizer: OptimizerConfig::adam(0.005),
            schedule: Schedule::Steps(10_000),
            batch_size: 64,
            eval_every: Some(100),
            selection: None,
            early_stopping: None,
            seed: 0,
            augment: None,
            lr_schedule: None,
            clip_grad_norm: None,
        }
    }

    /// The cats-vs-dogs tutorial: binary cross entropy on sigmoid outputs,
    /// Adam 1e-3, batch 32, 32 epochs, evaluation each epoch, the weights
    /// with the lowest validation loss kept, the Keras-style augmentation.
    pub fn catdog_tutorial(model: M) -> Self {
        Self {
            model,
            loss: LossKind::SigmoidBinaryCrossEntropy,
            optimizer: OptimizerConfig::adam(1e-3),
            schedule: Schedule::Epochs(32),
            batch_size: 32,
            eval_every: None,
            selection: Some(Selection::Loss),
            early_stopping: None,
            seed: 0,
            augment: Some(AugmentConfig::tutorial()),
            lr_schedule: None,
            clip_grad_norm: None,
        }
    }
}

/// What the run directory's `config.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "M: ModelConfig")]
pub struct RunConfig<M = ClassifierConfig> {
    pub fit: FitConfig<M>,
    /// Class names, indexed by label.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Where the training data came from, for the record.
    #[serde(default)]
    pub data: String,
    /// How the command that made the run read its data (its data flags, in
    /// the command's own shape), so that `--config config.json` re-makes the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
}

/// The data of a run: training images, the set evaluated during training,
/// and the test set scored at the end.
pub struct FitData<'a> {
    pub train: &'a Dataset,
    pub eval: &'a Dataset,
    pub test: &'a Dataset,
    /// Where the data came from, recorded in `config.json`.
    pub source: String,
    /// The command's data flags, recorded in `config.json` ([`RunConfig::inputs`]).
    pub inputs: Option<serde_json::Value>,
    /// Image files left out as undecodable, recorded in `metrics.json`.
    pub skipped: Vec<std::path::PathBuf>,
}

impl<'a> FitData<'a> {
    /// Train on `train`; evaluate during training on `val`, or on `test`
    /// when the source has no validation split (as MNIST's IDX files).
    pub fn from_splits(splits: &'a forger_data::Splits, source: impl Into<String>) -> Self {
        let eval = if splits.val.is_empty() {
            &splits.test
        } else {
            &splits.val
        };
        Self {
            train: &splits.train,
            eval,
            test: &splits.test,
            source: source.into(),
            inputs: None,
            skipped: Vec::new(),
        }
    }
}

/// The final metrics of a run (`metrics.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitMetrics {
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub test_auc: Option<f64>,
    pub steps: u64,
    pub epochs: f64,
    pub train_seconds: f64,
    /// The step whose weights were kept.
    pub kept_step: u64,
    pub stopped_early: bool,
    pub classes: Vec<String>,
    pub confusion_matrix: Vec<Vec<u64>>,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    /// Image files left out of the data as undecodable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_images: Vec<std::path::PathBuf>,
    /// The test scores of the last weights, when others were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<TestScores>,
}

/// Test accuracy, loss and AUC of one set of weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestScores {
    pub accuracy: f64,
    pub loss: f64,
    pub auc: Option<f64>,
}

impl From<&Evaluation> for TestScores {
    fn from(e: &Evaluation) -> Self {
        Self {
            accuracy: e.accuracy,
            loss: e.loss,
            auc: e.auc,
        }
    }
}

/// The result of [`fit`]: metrics, the test evaluation, the history and
/// the trained classifier (with the kept weights).
pub struct FitReport<M: ModelConfig = ClassifierConfig> {
    pub metrics: FitMetrics,
    pub test: Evaluation,
    pub history: Vec<HistoryRow>,
    pub classifier: TrainedClassifier<M>,
}

/// Trains a classifier and writes the run directory: `config.json`,
/// `history.csv`, `checkpoint.safetensors` (at every evaluation),
/// `model.safetensors` (with a selection, the best weights, and then
/// `last.safetensors` too), `metrics.json` and `curves.png`. Training
/// batches come from the seeded loader, augmented on worker threads when
/// `config.augment` is set; both visit the images in the same order.
///
/// The model is built by `config.model` (any [`ModelConfig`]: forger's
/// [`ClassifierConfig`] or one of your own) from seeded weights.
///
/// With `resume`, an existing checkpoint in `run` is loaded and training
/// continues from its step; the history is then the one an unbroken run
/// would have written (up to the `seconds` column). The configuration must
/// match the one the run was started with, except for the schedule, which
/// may be extended.
pub fn fit<M: ModelConfig>(
    config: &FitConfig<M>,
    data: &FitData,
    run: &RunDir,
    device: &Device,
    resume: bool,
) -> Result<FitReport<M>> {
    let run_config = RunConfig {
        fit: config.clone(),
        classes: data.train.classes().to_vec(),
        data: data.source.clone(),
        inputs: data.inputs.clone(),
    };
    let (model, varmap) = init_classifier(&config.model, config.seed, device)?;
    check_data(model.as_ref(), config, data)?;
    tracing::debug!("model\n{}", ModelSummary::new(model.as_ref(), &varmap)?);
    let mut optimizer = config.optimizer.build(named_vars(&varmap))?;
    if let Some(schedule) = config.lr_schedule {
        optimizer = optimizer.with_schedule(schedule)?;
    }
    if let Some(max_norm) = config.clip_grad_norm {
        optimizer = optimizer.with_clip_grad_norm(max_norm)?;
    }
    let batches = train_loader(
        data.train,
        config.batch_size,
        config.seed,
        config.augment.as_ref(),
    )?;
    // A resumed run may be given a longer (or shorter) schedule; all else
    // must match, or the history would not be the run's.
    let identity = RunConfig {
        fit: FitConfig {
            schedule: Schedule::Steps(0),
            ..config.clone()
        },
        ..run_config.clone()
    };
    let record = RunRecord {
        dir: Some(run),
        config: to_json(&run_config)?,
        identity: to_json(&identity)?,
        resume,
    }
    .with_data(&[
        ("train", data.train),
        ("eval", data.eval),
        ("test", data.test),
    ]);
    let selection = config
        .selection
        .or(config.early_stopping.map(|_| Selection::Loss))
        .map(|s| Select {
            score: s.scorer(),
            keep_best: config.selection.is_some(),
        });
    let learner = Learner {
        schedule: config.schedule,
        log_every: config.eval_every,
        selection,
        early_stopping: config.early_stopping,
        label: "train",
    };
    let mut step = ClassifierStep::new(model, varmap, optimizer, config.loss, config.seed);
    if let Some(LrSchedule::Plateau { mode, .. }) = config.lr_schedule {
        step = step.watching(mode);
    }
    let mut validation = Validation {
        data: data.eval,
        device,
    };
    let trained = learner.fit(step, &batches, &mut [&mut validation], record, device)?;

    let (kept_step, last) = match &trained.best {
        Some((step, _)) => {
            save_weights(&run.last_model(), trained.step.varmap())?;
            let last = evaluate(trained.step.model(), config.loss, data.test, device)?;
            trained.restore_best()?;
            (*step, Some(TestScores::from(&last)))
        }
        None => (trained.steps, None),
    };
    let (model, varmap) = trained.step.into_parts();
    save_weights(&run.model(), &varmap)?;
    let test = evaluate(model.as_ref(), config.loss, data.test, device)?;
    let metrics = FitMetrics {
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        test_auc: test.auc,
        steps: trained.steps,
        epochs: trained.steps as f64 / trained.per_epoch as f64,
        train_seconds: trained.seconds,
        kept_step,
        stopped_early: trained.stopped_early,
        classes: run_config.classes.clone(),
        confusion_matrix: test.confusion.matrix.clone(),
        precision: test.confusion.precision(),
        recall: test.confusion.recall(),
        skipped_images: data.skipped.clone(),
        last,
    };
    write_json(&run.metrics(), &metrics)?;
    plot_curves(&run.curves(), &trained.history, &config.schedule)?;
    Ok(FitReport {
        metrics,
        test,
        history: trained.history,
        classifier: TrainedClassifier {
            model,
            config: run_config,
            varmap,
        },
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| TrainError::Invalid(format!("the run config cannot be recorded: {e}")))
}

fn check_data<M>(model: &dyn ImageClassifier, config: &FitConfig<M>, data: &FitData) -> Result<()> {
    let expected = model.input_shape();
    for (name, set) in [
        ("training", data.train),
        ("evaluation", data.eval),
        ("test", data.test),
    ] {
        if set.is_empty() {
            return Err(TrainError::Invalid(format!("the {name} set is empty")));
        }
        check_image_shape(name, set.image_shape(), expected)?;
        if set.classes() != data.train.classes() {
            return Err(TrainError::Invalid(format!(
                "the {name} set has classes {:?}, the training set {:?}",
                set.classes(),
                data.train.classes()
            )));
        }
    }
    if data.train.classes().len() != model.num_classes() {
        return Err(TrainError::Invalid(format!(
            "the data has {} classes but the model {}",
            data.train.classes().len(),
            model.num_classes()
        )));
    }
    if config.batch_size == 0 {
        return Err(TrainError::Invalid(
            "the batch size must be at least 1".into(),
        ));
    }
    Ok(())
}

/// The two-panel training-curve plot: accuracy and loss against epoch for
/// a run of [`Schedule::Epochs`], against step for one of [`Schedule::Steps`].
pub fn plot_curves(
    path: &std::path::Path,
    history: &[HistoryRow],
    schedule: &Schedule,
) -> Result<()> {
    let (x_label, x) = curve_axis(schedule);
    let series = |name: &str, f: fn(&HistoryRow) -> f64| {
        Series::new(name, history.iter().map(|r| (x(r), f(r))))
    };
    let mut accuracy = Panel::new(
        "Accuracy",
        x_label,
        "accuracy",
        vec![
            series("train", |r| r.accuracy),
            series("validation", |r| r.val_accuracy),
        ],
    );
    accuracy.y_range = Some((0.0, 1.0));
    let loss = Panel::new(
        "Loss",
        x_label,
        "loss",
        vec![
            series("train", |r| r.loss),
            series("validation", |r| r.val_loss),
        ],
    );
    plot::draw(path, &[accuracy, loss])
}

/// The x axis of the training curves: its label and each row's value.
fn curve_axis(schedule: &Schedule) -> (&'static str, fn(&HistoryRow) -> f64) {
    match schedule {
        Schedule::Epochs(_) => ("epoch", |r| r.epoch),
        Schedule::Steps(_) => ("step", |r| r.step as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_run_over_epochs_for_epoch_runs_and_steps_for_step_runs() {
        let row = HistoryRow {
            step: 250,
            epoch: 2.5,
            loss: 0.0,
            accuracy: 0.0,
            val_loss: 0.0,
            val_accuracy: 0.0,
            val_auc: None,
            seconds: 0.0,
        };
        let (label, x) = curve_axis(&Schedule::Epochs(4));
        assert_eq!((label, x(&row)), ("epoch", 2.5));
        let (label, x) = curve_axis(&Schedule::Steps(1000));
        assert_eq!((label, x(&row)), ("step", 250.0));
    }
}
