//! Batch versus online learning: the same model and optimizer trained on
//! the same examples with full-batch gradient descent (one update per pass
//! over the data), mini-batches, and online updates (one example per
//! update), recording the loss against examples seen and wall time.

use std::path::{Path, PathBuf};

use candle_core::Device;
use forger_data::Dataset;
use forger_models::ClassifierConfig;
use serde::{Deserialize, Serialize};

use forger_train::evaluate;
use forger_train::learner::{At, Learner, RunRecord, Values};
use forger_train::optim::{named_vars, OptimizerConfig};
use forger_train::plot::{draw, Panel, Series};
use forger_train::train_loader;
use forger_train::{init_classifier, ClassifierStep, Hook, LossKind, Result, Schedule, TrainError};

/// How many examples each update sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    /// Full-batch gradient descent: every update sees the whole training set.
    FullBatch,
    /// Mini-batches of this many examples.
    MiniBatch(usize),
    /// Online (stochastic) updates: one example per update.
    Online,
}

impl UpdateMode {
    /// Examples per update on a training set of `n`.
    pub fn batch_size(self, n: usize) -> usize {
        match self {
            Self::FullBatch => n.max(1),
            Self::MiniBatch(b) => b.max(1),
            Self::Online => 1,
        }
    }

    /// A short name for reports and plots.
    pub fn label(self) -> String {
        match self {
            Self::FullBatch => "full batch".into(),
            Self::MiniBatch(b) => format!("mini-batch {b}"),
            Self::Online => "online (batch 1)".into(),
        }
    }
}

/// What all modes share: model, loss, optimizer, passes over the data, how
/// often to measure, and the seed (so every mode starts from the same weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeConfig {
    pub model: ClassifierConfig,
    pub loss: LossKind,
    pub optimizer: OptimizerConfig,
    /// Passes over the training set: every mode sees `epochs * n` examples.
    pub epochs: u64,
    /// Measurements along the way (besides the one before training).
    pub points: u64,
    pub seed: u64,
}

/// One measurement: the loss on the whole training set (the objective all
/// modes minimise) and on the validation set, after `examples` examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub examples: u64,
    pub updates: u64,
    /// Training time so far, measurements excluded.
    pub seconds: f64,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

/// The result of training in one mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeRun {
    pub mode: UpdateMode,
    pub batch_size: usize,
    pub updates: u64,
    pub seconds: f64,
    pub curve: Vec<CurvePoint>,
}

impl ModeRun {
    /// The last measurement.
    pub fn last(&self) -> Option<&CurvePoint> {
        self.curve.last()
    }
}

/// Trains `config.model` from its seeded initial weights in `mode` for
/// `config.epochs` passes over `train`, measuring `config.points` times.
pub fn train_mode(
    mode: UpdateMode,
    config: &ModeConfig,
    train: &Dataset,
    val: &Dataset,
    device: &Device,
) -> Result<ModeRun> {
    if train.is_empty() || val.is_empty() {
        return Err(TrainError::Invalid(
            "batch vs online needs non-empty training and validation sets".into(),
        ));
    }
    for (name, set) in [("training", train), ("validation", val)] {
        if set.image_shape() != config.model.input_shape()
            || set.classes().len() != config.model.classes()
        {
            return Err(TrainError::Invalid(format!(
                "the {name} set ({:?}, {} classes) does not fit the model ({:?}, {} classes)",
                set.image_shape(),
                set.classes().len(),
                config.model.input_shape(),
                config.model.classes()
            )));
        }
    }
    let (model, varmap) = init_classifier(&config.model, config.seed, device)?;
    let optimizer = config.optimizer.build(named_vars(&varmap))?;
    let batch_size = mode.batch_size(train.len());
    let batches = train_loader(train, batch_size, config.seed, None)?;
    let total = config.epochs * batches.batches_per_epoch() as u64;
    let mut curve = Curve {
        every: (total / config.points.max(1)).max(1),
        mode,
        loss: config.loss,
        train,
        val,
        device,
        points: Vec::new(),
    };
    let step = ClassifierStep::new(model, varmap, optimizer, config.loss, config.seed);
    curve.measure(&step, 0, 0, 0.0)?;
    let learner = Learner {
        schedule: Schedule::Epochs(config.epochs),
        log_every: Some(curve.every),
        selection: None,
        early_stopping: None,
        label: "train",
    };
    let trained = learner.fit(
        step,
        &batches,
        &mut [&mut curve],
        RunRecord::in_memory(),
        device,
    )?;
    Ok(ModeRun {
        mode,
        batch_size,
        updates: trained.steps,
        seconds: trained.seconds,
        curve: curve.points,
    })
}

/// Measures the loss on the whole training set and on the validation set
/// every `every` updates.
struct Curve<'a> {
    every: u64,
    mode: UpdateMode,
    loss: LossKind,
    train: &'a Dataset,
    val: &'a Dataset,
    device: &'a Device,
    points: Vec<CurvePoint>,
}

impl Curve<'_> {
    fn measure(
        &mut self,
        step: &ClassifierStep,
        examples: u64,
        updates: u64,
        seconds: f64,
    ) -> Result<()> {
        let t = evaluate(step.model(), self.loss, self.train, self.device)?;
        let v = evaluate(step.model(), self.loss, self.val, self.device)?;
        if !t.loss.is_finite() {
            return Err(TrainError::Diverged {
                step: updates,
                what: format!(
                    "{}: the training loss is {} (try a lower learning rate)",
                    self.mode.label(),
                    t.loss
                ),
            });
        }
        self.points.push(CurvePoint {
            examples,
            updates,
            seconds,
            train_loss: t.loss,
            val_loss: v.loss,
            val_accuracy: v.accuracy,
        });
        Ok(())
    }
}

impl Hook<ClassifierStep> for Curve<'_> {
    fn due(&self, at: &At) -> bool {
        at.every(self.every)
    }

    fn run(&mut self, step: &ClassifierStep, at: &At) -> Result<Values> {
        self.measure(step, at.examples, at.step, at.seconds)?;
        Ok(Values::new())
    }
}

/// One mode's result with the peak memory of the process that ran it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measured {
    pub run: ModeRun,
    pub peak_rss_bytes: Option<u64>,
}

/// What the report says of the experiment's design.
pub struct Setup {
    pub seed: u64,
    /// Training and validation images.
    pub subset: usize,
    pub val_subset: usize,
    pub data: PathBuf,
    pub epochs: u64,
    pub lr: f64,
    pub mini_batch: usize,
}

/// Training loss against examples seen and against wall time, one line per mode.
pub fn plot_runs(path: &Path, measured: &[Measured]) -> Result<()> {
    let series = |x: fn(&CurvePoint) -> f64| -> Vec<Series> {
        measured
            .iter()
            .map(|m| {
                Series::new(
                    m.run.mode.label(),
                    m.run.curve.iter().map(|p| (x(p), p.train_loss)),
                )
            })
            .collect()
    };
    let panels = [
        Panel::new(
            "Training loss against examples seen",
            "examples seen",
            "training loss",
            series(|p| p.examples as f64),
        ),
        Panel::new(
            "Training loss against wall time",
            "training seconds",
            "training loss",
            series(|p| p.seconds),
        ),
    ];
    draw(path, &panels)
}

/// The report (`report.md`) of the modes of `setup`.
pub fn render_report(setup: &Setup, measured: &[Measured]) -> String {
    let mut md = format!(
        "# Batch vs online learning\n\n\
         The tutorial CNN, trained from the same seeded weights (seed {}) on the same \
         {} images of {} for {} passes with Adam (learning rate {}), in three modes: full-batch \
         gradient descent (one update per pass), mini-batches of {}, and online updates (one \
         image per update). Every mode sees the same number of examples. Training loss is the \
         mean loss on the whole training subset; validation on {} images; wall time counts \
         training only (measurements excluded). Each mode ran in its own process; peak RSS \
         is that process's `VmHWM`, data loading included.\n\n\
         ![loss curves](batch_vs_online.png)\n\n\
         | mode | batch | updates | train s | final train loss | val loss | val accuracy | peak RSS MB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        setup.seed,
        setup.subset,
        setup.data.display(),
        setup.epochs,
        setup.lr,
        setup.mini_batch,
        setup.val_subset
    );
    for m in measured {
        let Some(last) = m.run.last() else { continue };
        md.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.4} | {:.4} | {:.4} | {} |\n",
            m.run.mode.label(),
            m.run.batch_size,
            m.run.updates,
            m.run.seconds,
            last.train_loss,
            last.val_loss,
            last.val_accuracy,
            m.peak_rss_bytes
                .map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1e6))
        ));
    }
    md.push_str(&format!(
        "\nStarting training loss (all modes): {:.4}.\n",
        measured
            .first()
            .and_then(|m| m.run.curve.first())
            .map_or(f64::NAN, |p| p.train_loss)
    ));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use forger_models::MnistCnnConfig;

    /// Two classes told apart by brightness: learnable in a few updates.
    fn bright_dark(n: usize, offset: usize) -> Dataset {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let label = ((i + offset) % 2) as u32;
            let base = if label == 1 { 180 } else { 40 };
            pixels.extend((0..64).map(|p| (base + (p * 7 + i) % 50) as u8));
            labels.push(label);
        }
        Dataset::new(pixels, labels, [1, 8, 8], Dataset::numbered_classes(2)).unwrap()
    }

    #[test]
    fn every_mode_sees_the_same_examples_and_online_makes_the_most_updates() {
        let (train, val) = (bright_dark(24, 0), bright_dark(10, 1));
        let config = ModeConfig {
            model: ClassifierConfig::MnistCnn(MnistCnnConfig {
                input: [1, 8, 8],
                classes: 2,
                ..Default::default()
            }),
            loss: LossKind::SoftmaxCrossEntropy,
            optimizer: OptimizerConfig::adam(0.01),
            epochs: 3,
            points: 3,
            seed: 1,
        };
        let dev = Device::Cpu;
        let runs: Vec<ModeRun> = [
            UpdateMode::FullBatch,
            UpdateMode::MiniBatch(8),
            UpdateMode::Online,
        ]
        .into_iter()
        .map(|m| train_mode(m, &config, &train, &val, &dev).unwrap())
        .collect();
        let updates: Vec<u64> = runs.iter().map(|r| r.updates).collect();
        assert_eq!(updates, vec![3, 9, 72]);
        for run in &runs {
            assert_eq!(run.last().unwrap().examples, 72);
            assert_eq!(run.curve[0].examples, 0);
        }
        // All start from the same seeded weights.
        assert_eq!(runs[0].curve[0], runs[2].curve[0]);
        // 72 online updates learn brightness; 3 full-batch updates do not get as far.
        let online = runs[2].last().unwrap().train_loss;
        assert!(online < runs[2].curve[0].train_loss * 0.5, "{online}");
        assert!(online < runs[0].last().unwrap().train_loss, "{runs:?}");
    }
}
