//! The classifier training loop: by steps or epochs, evaluation every N
//! steps, history, checkpoints, resume, model selection and early stopping.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use forger_data::augment::AugmentConfig;
use forger_data::{rng, Dataset};
use forger_models::{seeded_vars, ClassifierConfig, ImageClassifier, Mode};
use serde::{Deserialize, Serialize};

use crate::atomic::{read_json, write_atomic, write_json};
use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::evaluate::{correct, evaluate, Evaluation};
use crate::history::{write_csv, HistoryRow};
use crate::optim::{named_vars, OptimizerConfig};
use crate::plot::{self, Panel, Series};
use crate::progress::Progress;
use crate::train_batches::train_loader;
use crate::{LossKind, Result, RunDir, TrainError};

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// A number of optimizer steps (mini-batches).
    Steps(u64),
    /// A number of passes over the training set.
    Epochs(u64),
}

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
    fn score(self, row: &HistoryRow) -> f64 {
        match self {
            Self::Loss => -row.val_loss,
            Self::Accuracy => row.val_accuracy,
            Self::Auc => row.val_auc.unwrap_or(row.val_accuracy),
        }
    }
}

/// Stop when the selection metric has not improved by `min_delta` for
/// `patience` evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub patience: u32,
    pub min_delta: f64,
}

/// Everything that defines a training run (saved as the run's `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    pub model: ClassifierConfig,
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
    /// trainer); evaluation images are not augmented. Both are scaled to
    /// `[0, 1]` by the loader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
}

impl FitConfig {
    /// The MNIST tutorial: Adam 0.005, batch 64, 10,000 steps, evaluation every 100.
    pub fn mnist_tutorial(model: ClassifierConfig) -> Self {
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
        }
    }

    /// The cats-vs-dogs tutorial: binary cross entropy on sigmoid outputs,
    /// Adam 1e-3, batch 32, 32 epochs, evaluation each epoch, the weights
    /// with the lowest validation loss kept, the Keras-style augmentation.
    pub fn catdog_tutorial(model: ClassifierConfig) -> Self {
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
        }
    }
}

/// What the run directory's `config.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub fit: FitConfig,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Where the training data came from, for the record.
    pub data: String,
}

/// The data of a run: training images, the set evaluated during training,
/// and the test set scored at the end.
pub struct FitData<'a> {
    pub train: &'a Dataset,
    pub eval: &'a Dataset,
    pub test: &'a Dataset,
    /// Where the data came from, recorded in `config.json`.
    pub source: String,
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

/// The result of [`fit`]: metrics, the test evaluation and the history.
pub struct FitReport {
    pub metrics: FitMetrics,
    pub test: Evaluation,
    pub history: Vec<HistoryRow>,
}

/// What a checkpoint's metadata holds besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progressed {
    config: RunConfig,
    step: u64,
    seconds: f64,
    history: Vec<HistoryRow>,
    best: Option<(u64, f64)>,
    evals_since_best: u32,
}

/// Trains a classifier and writes the run directory: `config.json`,
/// `history.csv`, `checkpoint.safetensors` (at every evaluation),
/// `model.safetensors` (with a selection, the best weights, and then
/// `last.safetensors` too), `metrics.json` and `curves.png`. Training
/// batches come from a seeded [`forger_data::Loader`], with
/// `config.augment` augmented on worker threads; both visit the images in
/// the same order.
///
/// With `resume`, an existing checkpoint in `run` is loaded and training
/// continues from its step; the history is then the one an unbroken run
/// would have written (up to the `seconds` column). The configuration must
/// match the one the run was started with, except for the schedule, which
/// may be extended.
pub fn fit(
    config: &FitConfig,
    data: &FitData,
    run: &RunDir,
    device: &Device,
    resume: bool,
) -> Result<FitReport> {
    let run_config = RunConfig {
        fit: config.clone(),
        classes: data.train.classes().to_vec(),
        data: data.source.clone(),
    };
    check_data(config, data)?;
    let varmap = VarMap::new();
    let model = config.model.init(seeded_vars(
        &varmap,
        rng::derive(config.seed, "init", 0),
        device,
    ))?;
    let mut optimizer = config.optimizer.build(named_vars(&varmap))?;
    let batcher = train_loader(
        data.train,
        config.batch_size,
        config.seed,
        config.augment.as_ref(),
    )?;
    let per_epoch = batcher.batches_per_epoch() as u64;
    let total = match config.schedule {
        Schedule::Steps(n) => n,
        Schedule::Epochs(e) => e * per_epoch,
    };
    let eval_every = config.eval_every.unwrap_or(per_epoch).max(1);

    let mut state = Progressed {
        config: run_config.clone(),
        step: 0,
        seconds: 0.0,
        history: Vec::new(),
        best: None,
        evals_since_best: 0,
    };
    let mut best_weights: Option<HashMap<String, Tensor>> = None;
    if resume && run.checkpoint().exists() {
        let ck = Checkpoint::read(&run.checkpoint(), device)?;
        state = ck.meta()?;
        // A resumed run may be given a longer (or shorter) schedule; all
        // else must match, or the history would not be the run's.
        let same = |c: &RunConfig| RunConfig {
            fit: FitConfig {
                schedule: config.schedule,
                ..c.fit.clone()
            },
            ..c.clone()
        };
        if same(&state.config) != run_config {
            return Err(TrainError::file(
                &run.checkpoint(),
                "the run was started with other settings or data; start a new run directory instead of --resume",
            ));
        }
        state.config = run_config.clone();
        ck.restore_vars("model", &varmap)?;
        ck.restore_optimizer("optim", &mut optimizer)?;
        let best = ck.group("best");
        best_weights = (!best.is_empty()).then_some(best);
        tracing::info!("resuming {} at step {}", run.root().display(), state.step);
    } else if run.checkpoint().exists() {
        return Err(TrainError::Invalid(format!(
            "{} already holds a run: pass --resume to continue it, or choose another output folder",
            run.root().display()
        )));
    }
    write_json(&run.config(), &run_config)?;

    let progress = Progress::new(total, "train");
    let (mut loss_sum, mut correct_sum, mut seen) = (0.0f64, 0u64, 0u64);
    let mut stopped_early = false;
    'training: while state.step < total {
        let epoch = state.step / per_epoch;
        let skip = (state.step % per_epoch) as usize;
        for batch in batcher.epoch_from(epoch, skip, device) {
            let batch = batch?;
            let started = Instant::now();
            let mut dropout_rng = rng::derive(config.seed, "dropout", state.step);
            let logits = model.logits(&batch.images, Mode::Train(&mut dropout_rng))?;
            let loss = config.loss.loss(&logits, &batch.labels)?;
            let loss_value = f64::from(loss.to_scalar::<f32>()?);
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    step: state.step + 1,
                    what: format!(
                        "the loss is {loss_value}; the last good checkpoint is {} (try a lower learning rate)",
                        run.checkpoint().display()
                    ),
                });
            }
            optimizer.backward_step(&loss)?;
            let n = batch.indices.len() as u64;
            loss_sum += loss_value * n as f64;
            correct_sum += correct(&logits, &batch.labels)?;
            seen += n;
            state.step += 1;
            state.seconds += started.elapsed().as_secs_f64();
            progress.set(state.step);
            let epoch_end = state.step.is_multiple_of(per_epoch);
            let due = state.step.is_multiple_of(eval_every)
                || state.step == total
                || (config.eval_every.is_none() && epoch_end);
            if !due {
                continue;
            }
            let eval = evaluate(model.as_ref(), config.loss, data.eval, device)?;
            let row = HistoryRow {
                step: state.step,
                epoch: state.step as f64 / per_epoch as f64,
                loss: loss_sum / seen.max(1) as f64,
                accuracy: correct_sum as f64 / seen.max(1) as f64,
                val_loss: eval.loss,
                val_accuracy: eval.accuracy,
                val_auc: eval.auc,
                seconds: state.seconds,
            };
            (loss_sum, correct_sum, seen) = (0.0, 0, 0);
            progress.report(&describe(&row));
            if let Some(selection) = config
                .selection
                .or(config.early_stopping.map(|_| Selection::Loss))
            {
                let score = selection.score(&row);
                let min_delta = config.early_stopping.map_or(0.0, |e| e.min_delta);
                if state.best.is_none_or(|(_, b)| score > b + min_delta) {
                    state.best = Some((state.step, score));
                    state.evals_since_best = 0;
                    if config.selection.is_some() {
                        best_weights = Some(snapshot(&varmap)?);
                    }
                } else {
                    state.evals_since_best += 1;
                }
            }
            state.history.push(row);
            save_checkpoint(run, &varmap, &optimizer, best_weights.as_ref(), &state)?;
            write_csv(&run.history(), &state.history)?;
            if let Some(es) = config.early_stopping {
                if state.evals_since_best >= es.patience {
                    tracing::info!(
                        "early stopping at step {}: no improvement in {} evaluations",
                        state.step,
                        es.patience
                    );
                    stopped_early = true;
                    break 'training;
                }
            }
            if state.step == total {
                break;
            }
        }
    }
    progress.finish();

    let (kept_step, last) = match (&best_weights, state.best) {
        (Some(weights), Some((step, _))) => {
            save_weights(&run.last_model(), &varmap)?;
            let last = evaluate(model.as_ref(), config.loss, data.test, device)?;
            restore(&varmap, weights)?;
            (step, Some(TestScores::from(&last)))
        }
        _ => (state.step, None),
    };
    save_weights(&run.model(), &varmap)?;
    let test = evaluate(model.as_ref(), config.loss, data.test, device)?;
    let metrics = FitMetrics {
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        test_auc: test.auc,
        steps: state.step,
        epochs: state.step as f64 / per_epoch as f64,
        train_seconds: state.seconds,
        kept_step,
        stopped_early,
        classes: run_config.classes.clone(),
        confusion_matrix: test.confusion.matrix.clone(),
        precision: test.confusion.precision(),
        recall: test.confusion.recall(),
        skipped_images: data.skipped.clone(),
        last,
    };
    write_json(&run.metrics(), &metrics)?;
    plot_curves(&run.curves(), &state.history)?;
    Ok(FitReport {
        metrics,
        test,
        history: state.history,
    })
}

fn check_data(config: &FitConfig, data: &FitData) -> Result<()> {
    let expected = config.model.input_shape();
    for (name, set) in [
        ("training", data.train),
        ("evaluation", data.eval),
        ("test", data.test),
    ] {
        if set.is_empty() {
            return Err(TrainError::Invalid(format!("the {name} set is empty")));
        }
        if set.image_shape() != expected {
            return Err(TrainError::Invalid(format!(
                "the {name} images are {:?} (channels, height, width) but the model takes {expected:?}",
                set.image_shape()
            )));
        }
        if set.classes() != data.train.classes() {
            return Err(TrainError::Invalid(format!(
                "the {name} set has classes {:?}, the training set {:?}",
                set.classes(),
                data.train.classes()
            )));
        }
    }
    if data.train.classes().len() != config.model.classes() {
        return Err(TrainError::Invalid(format!(
            "the data has {} classes but the model {}",
            data.train.classes().len(),
            config.model.classes()
        )));
    }
    if config.batch_size == 0 {
        return Err(TrainError::Invalid(
            "the batch size must be at least 1".into(),
        ));
    }
    Ok(())
}

fn describe(row: &HistoryRow) -> String {
    let auc = row
        .val_auc
        .map(|a| format!(" val_auc {a:.4}"))
        .unwrap_or_default();
    format!(
        "step {} epoch {:.2}: loss {:.4} acc {:.4} val_loss {:.4} val_acc {:.4}{auc}",
        row.step, row.epoch, row.loss, row.accuracy, row.val_loss, row.val_accuracy
    )
}

fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    named_vars(varmap)
        .into_iter()
        .map(|(name, var)| Ok((name, var.as_tensor().copy()?)))
        .collect()
}

fn restore(varmap: &VarMap, weights: &HashMap<String, Tensor>) -> Result<()> {
    for (name, var) in named_vars(varmap) {
        if let Some(w) = weights.get(&name) {
            var.set(w)?;
        }
    }
    Ok(())
}

fn save_checkpoint(
    run: &RunDir,
    varmap: &VarMap,
    optimizer: &crate::optim::Optimizer,
    best: Option<&HashMap<String, Tensor>>,
    state: &Progressed,
) -> Result<()> {
    let mut writer = CheckpointWriter::new()
        .vars("model", varmap)
        .optimizer("optim", optimizer);
    if let Some(best) = best {
        writer = writer.tensors("best", best);
    }
    writer.write(&run.checkpoint(), state)
}

/// Writes the variables as a plain safetensors file (readable by any
/// safetensors tool and by Candle's `VarBuilder`), atomically.
pub fn save_weights(path: &std::path::Path, varmap: &VarMap) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = named_vars(varmap)
        .into_iter()
        .map(|(n, v)| Ok((n, v.as_tensor().to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(tensors, None)
        .map_err(|e| TrainError::file(path, format!("cannot serialise weights: {e}")))?;
    Ok(write_atomic(path, &bytes)?)
}

/// Loads weights written by [`save_weights`] into `varmap`.
pub fn load_weights(path: &std::path::Path, varmap: &VarMap, device: &Device) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| TrainError::file(path, format!("unreadable weights: {e}")))?;
    for (name, var) in named_vars(varmap) {
        let t = tensors
            .get(&name)
            .ok_or_else(|| TrainError::file(path, format!("no weight `{name}`")))?;
        if t.shape() != var.shape() {
            return Err(TrainError::file(
                path,
                format!(
                    "weight `{name}` has shape {:?}, the model {:?}",
                    t.shape(),
                    var.shape()
                ),
            ));
        }
        var.set(t)?;
    }
    Ok(())
}

/// The two-panel training-curve plot: accuracy and loss against step.
pub fn plot_curves(path: &std::path::Path, history: &[HistoryRow]) -> Result<()> {
    let series = |name: &str, f: fn(&HistoryRow) -> f64| {
        Series::new(name, history.iter().map(|r| (r.step as f64, f(r))))
    };
    let mut accuracy = Panel::new(
        "Accuracy",
        "step",
        "accuracy",
        vec![
            series("train", |r| r.accuracy),
            series("validation", |r| r.val_accuracy),
        ],
    );
    accuracy.y_range = Some((0.0, 1.0));
    let loss = Panel::new(
        "Loss",
        "step",
        "loss",
        vec![
            series("train", |r| r.loss),
            series("validation", |r| r.val_loss),
        ],
    );
    plot::draw(path, &[accuracy, loss])
}

/// A trained classifier loaded from a run directory.
pub struct TrainedClassifier {
    pub model: Box<dyn ImageClassifier>,
    pub config: RunConfig,
    pub varmap: VarMap,
}

impl TrainedClassifier {
    /// Rebuilds the model of `run` from its `config.json` and `model.safetensors`.
    pub fn load(run: &RunDir, device: &Device) -> Result<Self> {
        let config: RunConfig = read_json(&run.config())?;
        let varmap = VarMap::new();
        let model =
            config
                .fit
                .model
                .init(seeded_vars(&varmap, rng::derive(0, "init", 0), device))?;
        load_weights(&run.model(), &varmap, device)?;
        Ok(Self {
            model,
            config,
            varmap,
        })
    }

    /// Evaluates on `data`, which must have the run's classes and image shape.
    pub fn evaluate(&self, data: &Dataset, device: &Device) -> Result<Evaluation> {
        if data.classes() != self.config.classes.as_slice() {
            return Err(TrainError::Invalid(format!(
                "the data has classes {:?}, the model was trained on {:?}",
                data.classes(),
                self.config.classes
            )));
        }
        if data.image_shape() != self.config.fit.model.input_shape() {
            return Err(TrainError::Invalid(format!(
                "the images are {:?} (channels, height, width), the model takes {:?}",
                data.image_shape(),
                self.config.fit.model.input_shape()
            )));
        }
        evaluate(self.model.as_ref(), self.config.fit.loss, data, device)
    }

    /// The most likely class of the image file at `path`, its probability,
    /// and the image as the model saw it.
    pub fn predict_file(&self, path: &std::path::Path, device: &Device) -> Result<Prediction> {
        let shape = self.config.fit.model.input_shape();
        let pixels = forger_data::load_image(path, shape)?;
        let classes = Dataset::numbered_classes(self.config.classes.len());
        let one = Dataset::new(pixels.clone(), vec![0], shape, classes)?;
        let batch = one.batch(&[0], forger_data::PixelScale::Unit, device)?;
        let logits = self.model.logits(&batch.images, Mode::Eval)?;
        let probs = self
            .config
            .fit
            .loss
            .probabilities(&logits)?
            .to_vec2::<f32>()?
            .remove(0);
        let best = crate::argmax(&probs) as usize;
        Ok(Prediction {
            class: self.config.classes[best].clone(),
            probability: f64::from(probs[best]),
            pixels,
        })
    }
}

/// What [`TrainedClassifier::predict_file`] says of one image.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The most likely class.
    pub class: String,
    /// Its probability.
    pub probability: f64,
    /// The image resized to the model's input, channel-first 8-bit.
    pub pixels: Vec<u8>,
}
