//! The one training loop. A model's update is a [`TrainStep`] (the
//! classifier's and the GAN's are two); the [`Learner`] drives any of them:
//! the schedule (steps or epochs), exact resume, the NaN guard, history rows
//! (`history.csv`), checkpoints, progress, evaluation hooks ([`Hook`]),
//! selection of the best weights and early stopping. It returns what it
//! trained ([`Trained`]); nothing is read back from disk.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use forger_data::{Batch, Loader};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::atomic::{remove_stale_temp_files, write_json};
use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::history::{write_csv, Record};
use crate::optim::named_vars;
use crate::provenance::Provenance;
use crate::{Progress, Result, RunDir, TrainError};

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// A number of optimizer steps (mini-batches).
    Steps(u64),
    /// A number of passes over the training set.
    Epochs(u64),
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Steps(n) => write!(f, "{n} steps"),
            Self::Epochs(n) => write!(f, "{n} epochs"),
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

/// Named values: what a step or a hook reports for the next history row.
pub type Values = Vec<(&'static str, Option<f64>)>;

/// The value named `name` in `values`, if it was reported.
pub fn value(values: &[(&'static str, Option<f64>)], name: &str) -> Option<f64> {
    values
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| *v)
}

/// What one update reports: totals over its batch, averaged into the next
/// history row as `sum(totals) / sum(weight)` (a loss times the batch size
/// with the batch size as weight gives the mean loss per image).
pub struct StepOutput {
    pub totals: Vec<(&'static str, f64)>,
    pub weight: f64,
}

/// Where training stands when hooks and rows are due.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// Updates done (1 after the first).
    pub step: u64,
    /// Updates in all.
    pub total: u64,
    /// Passes over the training data done (fractional).
    pub epoch: f64,
    /// Images trained on in this run (not counting before a resume).
    pub examples: u64,
    /// Training time so far, hooks excluded.
    pub seconds: f64,
    /// Whether the history's own cadence calls for a row here.
    pub row_due: bool,
}

impl At {
    /// Whether this is the last update.
    pub fn last(&self) -> bool {
        self.step == self.total
    }

    /// Whether `every` divides the step, or this is the last update.
    pub fn every(&self, every: u64) -> bool {
        self.step.is_multiple_of(every.max(1)) || self.last()
    }
}

/// One model's training: an update on a batch, its history row, and the
/// weights and optimizer state that a checkpoint holds.
pub trait TrainStep {
    /// A row of `history.csv`.
    type Row: Record + Clone + Serialize + DeserializeOwned;
    /// One update on `batch`; `step` counts updates from 0 and seeds the
    /// step's noise and dropout, so a resumed run draws the same.
    fn step(&mut self, batch: &Batch, step: u64) -> Result<StepOutput>;
    /// The history row from the means since the last row (`train`) and
    /// what the hooks measured (`measured`).
    fn row(&self, at: &At, train: &Values, measured: &Values) -> Self::Row;
    /// A one-line summary of a row for the log.
    fn describe(&self, row: &Self::Row) -> String;
    /// The weights, by checkpoint group (`model`; `g`, `d`).
    fn weights(&self) -> Vec<(&'static str, &VarMap)>;
    /// Adds the optimizers' state to a checkpoint.
    fn save_optimizers(&self, writer: CheckpointWriter) -> CheckpointWriter;
    /// Restores the optimizers' state from a checkpoint.
    fn restore_optimizers(&mut self, checkpoint: &Checkpoint) -> Result<()>;
    /// Sees each history row of the run's cadence (a plateau schedule
    /// watches its metric here).
    fn observe(&mut self, _row: &Self::Row) {}
}

/// Work done between updates: an evaluation, a sample grid, a measurement.
pub trait Hook<S: TrainStep> {
    /// Whether it runs after the update `at`.
    fn due(&self, at: &At) -> bool;
    /// Runs on the trained step; what it returns goes into the next history
    /// row, and a non-empty answer makes a row due.
    fn run(&mut self, step: &S, at: &At) -> Result<Values>;
}

/// How the best weights are chosen.
pub struct Select<R> {
    /// The score of a row, larger is better.
    pub score: fn(&R) -> f64,
    /// Keep a copy of the best weights (else only early stopping uses the score).
    pub keep_best: bool,
}

/// What a run is and where it writes.
pub struct RunRecord<'a> {
    /// The run directory; `None` trains in memory only (no files, no resume).
    pub dir: Option<&'a RunDir>,
    /// Written as `config.json`.
    pub config: serde_json::Value,
    /// Compared on resume: the config with whatever may change between
    /// the first run and its resumption (the schedule) left out.
    pub identity: serde_json::Value,
    /// Continue from the checkpoint in `dir`, if it has one.
    pub resume: bool,
}

impl RunRecord<'_> {
    /// Adds the size, image shape and content digest of each named data
    /// set to the identity, so that `--resume` refuses other data (another
    /// file, split, hold-out or image size) and names the set that differs.
    pub fn with_data(mut self, sets: &[(&str, &forger_data::Dataset)]) -> Self {
        let content: serde_json::Map<String, serde_json::Value> = sets
            .iter()
            .map(|(name, d)| {
                let summary = format!(
                    "{} images of {:?}, digest {:016x}",
                    d.len(),
                    d.image_shape(),
                    d.digest()
                );
                (name.to_string(), summary.into())
            })
            .collect();
        if let serde_json::Value::Object(identity) = &mut self.identity {
            identity.insert("data_content".into(), content.into());
        }
        self
    }

    /// A run in memory only: no files, no resume.
    pub fn in_memory() -> RunRecord<'static> {
        RunRecord {
            dir: None,
            config: serde_json::Value::Null,
            identity: serde_json::Value::Null,
            resume: false,
        }
    }
}

/// The settings of the loop.
pub struct Learner<R> {
    pub schedule: Schedule,
    /// A history row (and checkpoint) every this many updates; `None` = at
    /// each epoch's end. There is always one after the last update.
    pub log_every: Option<u64>,
    pub selection: Option<Select<R>>,
    pub early_stopping: Option<EarlyStopping>,
    /// The progress bar's label.
    pub label: &'static str,
}

/// What a checkpoint's metadata holds besides the tensors.
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "R: Serialize + DeserializeOwned")]
struct State<R> {
    identity: serde_json::Value,
    step: u64,
    seconds: f64,
    history: Vec<R>,
    best: Option<(u64, f64)>,
    evals_since_best: u32,
    /// Set when the run stopped between two rows of its cadence: its last
    /// row is then only the cut's, and this is what came before it, so a
    /// resumed run drops that row and goes on as an unbroken run would.
    #[serde(default)]
    cut: Option<Cut>,
}

/// The running means and selection state from before a cut's last row.
#[derive(Clone, Serialize, Deserialize)]
struct Cut {
    sums: Vec<(String, f64)>,
    weight: f64,
    best: Option<(u64, f64)>,
    evals_since_best: u32,
    /// Whether the cut's row became the best (the earlier best weights are
    /// then in the checkpoint's `before_cut` group).
    best_changed: bool,
}

/// The outcome of [`Learner::fit`].
pub struct Trained<S: TrainStep> {
    /// The step, holding the last weights.
    pub step: S,
    pub history: Vec<S::Row>,
    /// Updates done, over all runs of a resumed training.
    pub steps: u64,
    /// Updates in one epoch.
    pub per_epoch: u64,
    /// Training time, hooks excluded.
    pub seconds: f64,
    /// The kept best weights, when a selection keeps them: the step and the
    /// weights by `group.variable`.
    pub best: Option<(u64, HashMap<String, Tensor>)>,
    pub stopped_early: bool,
}

impl<S: TrainStep> Trained<S> {
    /// Puts the kept best weights into the step's variables.
    pub fn restore_best(&self) -> Result<()> {
        if let Some((_, weights)) = &self.best {
            restore(&self.step.weights(), weights)?;
        }
        Ok(())
    }
}

impl<R: Record + Clone + Serialize + DeserializeOwned> Learner<R> {
    /// Trains `step` on `batches`, running `hooks` between updates, and
    /// writes history and checkpoints to `record.dir`. With
    /// `record.resume` a checkpoint there is continued exactly: the history
    /// is then the one an unbroken run would have written (up to the
    /// `seconds` column), and the identity must match the first run's.
    pub fn fit<S: TrainStep<Row = R>>(
        &self,
        mut step: S,
        batches: &Loader,
        hooks: &mut [&mut dyn Hook<S>],
        record: RunRecord,
        device: &Device,
    ) -> Result<Trained<S>> {
        let per_epoch = batches.batches_per_epoch() as u64;
        if per_epoch == 0 {
            return Err(TrainError::Invalid(
                "the training set gives no batch".into(),
            ));
        }
        let total = match self.schedule {
            Schedule::Steps(n) => n,
            Schedule::Epochs(e) => e * per_epoch,
        };
        let every = self.log_every.unwrap_or(per_epoch).max(1);
        let mut sums: Vec<(&'static str, f64)> = Vec::new();
        let Start {
            mut state,
            mut best,
            mut weight,
            // Running sums a resumed cut carries over, added in at the first update.
            mut carried,
        } = start(&mut step, &record, total, device)?;

        let progress = Progress::new(total, self.label);
        let mut examples = 0;
        let mut stopped_early = false;
        'training: while state.step < total {
            let epoch = state.step / per_epoch;
            let skip = (state.step % per_epoch) as usize;
            for batch in batches.epoch_from(epoch, skip, device) {
                let batch = batch?;
                let started = Instant::now();
                let out = step.step(&batch, state.step)?;
                state.seconds += started.elapsed().as_secs_f64();
                state.step += 1;
                examples += batch.indices.len() as u64;
                if let Some((name, v)) = out.totals.iter().find(|(_, v)| !v.is_finite()) {
                    return Err(diverged(
                        state.step,
                        &format!("the {name} is {v}"),
                        record.dir,
                    ));
                }
                accumulate(&mut sums, &out.totals);
                for (name, v) in carried.drain(..) {
                    if let Some((_, s)) = sums.iter_mut().find(|(n, _)| *n == name) {
                        *s += v;
                    }
                }
                weight += out.weight;
                progress.set(state.step);

                let at = At {
                    step: state.step,
                    total,
                    epoch: state.step as f64 / per_epoch as f64,
                    examples,
                    seconds: state.seconds,
                    row_due: state.step.is_multiple_of(every) || state.step == total,
                };
                // What an unbroken, longer run would do at this step.
                let unbroken = At {
                    total: u64::MAX,
                    row_due: state.step.is_multiple_of(every),
                    ..at
                };
                let mut measured = Values::new();
                let mut regular = unbroken.row_due;
                for hook in hooks.iter_mut() {
                    if hook.due(&at) {
                        let values = hook.run(&step, &at)?;
                        regular |= hook.due(&unbroken) && !values.is_empty();
                        measured.extend(values);
                    }
                }
                if at.row_due || !measured.is_empty() {
                    let before = (sums.clone(), weight, state.best, state.evals_since_best);
                    let train: Values = sums
                        .iter()
                        .map(|&(name, s)| (name, Some(s / weight.max(1.0))))
                        .collect();
                    let row = step.row(&at, &train, &measured);
                    (sums, weight) = (Vec::new(), 0.0);
                    progress.report(&step.describe(&row));
                    let prior_best = best.clone();
                    if regular {
                        step.observe(&row);
                    }
                    if let Some(selection) = &self.selection {
                        let score = (selection.score)(&row);
                        let min_delta = self.early_stopping.map_or(0.0, |e| e.min_delta);
                        if state.best.is_none_or(|(_, b)| score > b + min_delta) {
                            state.best = Some((state.step, score));
                            state.evals_since_best = 0;
                            if selection.keep_best {
                                best = Some((state.step, snapshot(&step.weights())?));
                            }
                        } else {
                            state.evals_since_best += 1;
                        }
                    }
                    state.history.push(row);
                    let best_changed =
                        best.as_ref().map(|b| b.0) != prior_best.as_ref().map(|b| b.0);
                    state.cut = (!regular).then(|| Cut {
                        sums: before.0.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
                        weight: before.1,
                        best: before.2,
                        evals_since_best: before.3,
                        best_changed,
                    });
                    if let Some(dir) = record.dir {
                        let before_cut = prior_best
                            .as_ref()
                            .filter(|_| !regular && best_changed)
                            .map(|(_, w)| w);
                        save(
                            dir,
                            &step,
                            best.as_ref().map(|(_, w)| w),
                            before_cut,
                            &state,
                        )?;
                        write_csv(&dir.history(), &state.history)?;
                    }
                    if let Some(es) = self.early_stopping {
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
                }
                if state.step == total {
                    break;
                }
            }
        }
        progress.finish();
        Ok(Trained {
            step,
            history: state.history,
            steps: state.step,
            per_epoch,
            seconds: state.seconds,
            best,
            stopped_early,
        })
    }
}

/// Where a run starts: fresh, or from its checkpoint.
struct Start<R> {
    state: State<R>,
    best: Option<(u64, HashMap<String, Tensor>)>,
    /// The running sums and weight of a resumed cut.
    carried: Vec<(String, f64)>,
    weight: f64,
}

/// Checks the run directory, restores a run to resume (undoing a cut's
/// last row when the run goes on past it) and writes `config.json`.
fn start<S: TrainStep>(
    step: &mut S,
    record: &RunRecord,
    total: u64,
    device: &Device,
) -> Result<Start<S::Row>> {
    let mut start = Start {
        state: State {
            identity: record.identity.clone(),
            step: 0,
            seconds: 0.0,
            history: Vec::new(),
            best: None,
            evals_since_best: 0,
            cut: None,
        },
        best: None,
        carried: Vec::new(),
        weight: 0.0,
    };
    let Some(dir) = record.dir else {
        return Ok(start);
    };
    for stale in remove_stale_temp_files(dir.root())? {
        tracing::info!(
            "removed {}, left by a write that was killed",
            stale.display()
        );
    }
    if record.resume && dir.checkpoint().exists() {
        let ck = Checkpoint::read(&dir.checkpoint(), device)?;
        let mut state: State<S::Row> = ck.meta()?;
        if state.identity != record.identity {
            let mut differ = Vec::new();
            differences(&state.identity, &record.identity, "", &mut differ);
            return Err(TrainError::file(
                &dir.checkpoint(),
                format!(
                    "the run was started with other settings or data ({} differ); start a new run directory instead of --resume",
                    differ.join(", ")
                ),
            ));
        }
        for (group, vars) in step.weights() {
            ck.restore_vars(group, vars)?;
        }
        step.restore_optimizers(&ck)?;
        let mut kept = ck.group("best");
        if let Some(cut) = state.cut.take().filter(|_| total > state.step) {
            state.history.pop();
            (state.best, state.evals_since_best) = (cut.best, cut.evals_since_best);
            if cut.best_changed {
                kept = ck.group("before_cut");
            }
            (start.carried, start.weight) = (cut.sums, cut.weight);
        }
        start.best = state
            .best
            .filter(|_| !kept.is_empty())
            .map(|(s, _)| (s, kept));
        tracing::info!("resuming {} at step {}", dir.root().display(), state.step);
        start.state = state;
    } else if dir.checkpoint().exists() {
        return Err(TrainError::Invalid(format!(
            "{} already holds a run: pass --resume to continue it, or choose another output folder",
            dir.root().display()
        )));
    }
    let resumed = record.resume && start.state.step > 0;
    write_json(
        &dir.config(),
        &with_provenance(&record.config, dir, resumed),
    )?;
    Ok(start)
}

/// `config` with the run's [`Provenance`] added under `provenance`: this
/// process's for a new run; for a resumed one, the first run's (from its
/// `config.json`), this process's appended under `resumed`.
fn with_provenance(config: &serde_json::Value, dir: &RunDir, resumed: bool) -> serde_json::Value {
    let serde_json::Value::Object(fields) = config else {
        return config.clone();
    };
    let now = serde_json::to_value(Provenance::current()).unwrap_or_default();
    let earlier = resumed
        .then(|| std::fs::read(dir.config()).ok())
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let mut fields = fields.clone();
    match earlier.as_ref().and_then(|e| e.get("provenance")) {
        Some(first) => {
            let mut resumes = earlier
                .as_ref()
                .and_then(|e| e.get("resumed"))
                .and_then(|r| r.as_array().cloned())
                .unwrap_or_default();
            resumes.push(now);
            fields.insert("provenance".into(), first.clone());
            fields.insert("resumed".into(), resumes.into());
        }
        None => {
            fields.insert("provenance".into(), now);
        }
    }
    serde_json::Value::Object(fields)
}

/// Pushes onto `out` the paths (`fit.optimizer.lr`, `data_content.train`)
/// under `at` where `a` and `b` differ.
fn differences(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => differences(u, v, &path, out),
                    _ => out.push(path),
                }
            }
        }
        _ if a != b => out.push(if at.is_empty() {
            "the whole config".into()
        } else {
            at.into()
        }),
        _ => {}
    }
}

/// Adds `totals` into the running sums, by name.
fn accumulate(sums: &mut Vec<(&'static str, f64)>, totals: &[(&'static str, f64)]) {
    for &(name, v) in totals {
        match sums.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += v,
            None => sums.push((name, v)),
        }
    }
}

fn diverged(step: u64, what: &str, dir: Option<&RunDir>) -> TrainError {
    let last_good = dir.map_or("none (an in-memory run)".to_string(), |d| {
        d.checkpoint().display().to_string()
    });
    TrainError::Diverged {
        step,
        what: format!(
            "{what}; the last good checkpoint is {last_good} (try a lower learning rate)"
        ),
    }
}

/// Writes the checkpoint, after checking that no weight went non-finite
/// (a broken checkpoint never replaces a good one).
fn save<S: TrainStep>(
    dir: &RunDir,
    step: &S,
    best: Option<&HashMap<String, Tensor>>,
    before_cut: Option<&HashMap<String, Tensor>>,
    state: &State<S::Row>,
) -> Result<()> {
    let mut writer = CheckpointWriter::new();
    for (group, vars) in step.weights() {
        for (name, var) in named_vars(vars) {
            let total = var
                .as_tensor()
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            if !total.is_finite() {
                return Err(diverged(
                    state.step,
                    &format!("weight `{group}.{name}` is no longer finite"),
                    Some(dir),
                ));
            }
        }
        writer = writer.vars(group, vars);
    }
    writer = step.save_optimizers(writer);
    if let Some(best) = best {
        writer = writer.tensors("best", best);
    }
    if let Some(before_cut) = before_cut {
        writer = writer.tensors("before_cut", before_cut);
    }
    writer.write(&dir.checkpoint(), state)
}

/// Copies of the weights, by `group.variable`.
fn snapshot(weights: &[(&'static str, &VarMap)]) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (group, vars) in weights {
        for (name, var) in named_vars(vars) {
            out.insert(format!("{group}.{name}"), var.as_tensor().copy()?);
        }
    }
    Ok(out)
}

/// Sets the weights from a [`snapshot`].
fn restore(weights: &[(&'static str, &VarMap)], saved: &HashMap<String, Tensor>) -> Result<()> {
    for (group, vars) in weights {
        for (name, var) in named_vars(vars) {
            if let Some(w) = saved.get(&format!("{group}.{name}")) {
                var.set(w)?;
            }
        }
    }
    Ok(())
}
