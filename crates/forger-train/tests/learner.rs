//! The Learner with a step of one's own: a single weight `w` pulled
//! towards the mean pixel of each batch by SGD. Checks the row cadence,
//! a hook forcing a row, the NaN guard naming the value, the "already holds
//! a run" error, and exact resume from cuts between rows with the best
//! weights kept.

use candle_core::{DType, Device, Var};
use candle_nn::VarMap;
use forger_data::{Batch, BatchConfig, Dataset, Loader};
use forger_train::checkpoint::{Checkpoint, CheckpointWriter};
use forger_train::history::Record;
use forger_train::learner::{value, At, RunRecord, Select, StepOutput, Values};
use forger_train::optim::named_vars;
use forger_train::{
    Hook, Learner, Optimizer, OptimizerConfig, Result, RunDir, Schedule, TrainError, TrainStep,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    step: u64,
    loss: f64,
    w: Option<f64>,
    seconds: f64,
}

impl Record for Row {
    fn decimals(_: &str) -> usize {
        6
    }
}

struct Pull {
    vars: VarMap,
    w: Var,
    opt: Optimizer,
    /// Report a NaN loss at this update (counting from 0).
    nan_at: Option<u64>,
}

impl Pull {
    fn new() -> Self {
        let vars = VarMap::new();
        vars.get(
            1,
            "w",
            candle_nn::Init::Const(0.0),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let w = named_vars(&vars).remove(0).1;
        let opt = OptimizerConfig::Sgd {
            lr: 0.3,
            momentum: 0.5,
        }
        .build(named_vars(&vars))
        .unwrap();
        Self {
            vars,
            w,
            opt,
            nan_at: None,
        }
    }

    fn w(&self) -> f64 {
        f64::from(self.w.as_tensor().to_vec1::<f32>().unwrap()[0])
    }
}

impl TrainStep for Pull {
    type Row = Row;

    fn step(&mut self, batch: &Batch, step: u64) -> Result<StepOutput> {
        let target = batch.images.mean_all()?;
        let loss = self
            .w
            .as_tensor()
            .broadcast_sub(&target)?
            .sqr()?
            .sum_all()?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        self.opt.backward_step(&loss)?;
        let value = if self.nan_at == Some(step) {
            f64::NAN
        } else {
            value
        };
        Ok(StepOutput {
            totals: vec![("loss", value)],
            weight: 1.0,
        })
    }

    fn row(&self, at: &At, train: &Values, measured: &Values) -> Row {
        Row {
            step: at.step,
            loss: value(train, "loss").unwrap_or(f64::NAN),
            w: value(measured, "w"),
            seconds: 0.0,
        }
    }

    fn describe(&self, row: &Row) -> String {
        format!("step {} loss {:.4}", row.step, row.loss)
    }

    fn weights(&self) -> Vec<(&'static str, &VarMap)> {
        vec![("model", &self.vars)]
    }

    fn save_optimizers(&self, writer: CheckpointWriter) -> CheckpointWriter {
        writer.optimizer("optim", &self.opt)
    }

    fn restore_optimizers(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        checkpoint.restore_optimizer("optim", &mut self.opt)
    }
}

/// Reports `w` every `every` updates.
struct Probe {
    every: u64,
}

impl Hook<Pull> for Probe {
    fn due(&self, at: &At) -> bool {
        at.step.is_multiple_of(self.every)
    }

    fn run(&mut self, step: &Pull, _: &At) -> Result<Values> {
        Ok(vec![("w", Some(step.w()))])
    }
}

/// 40 one-pixel images of brightness 0..=39: batches of 4, 10 per epoch.
fn loader() -> Loader {
    let data = Dataset::new(
        (0..40u8).collect(),
        vec![0; 40],
        [1, 1, 1],
        Dataset::numbered_classes(2),
    )
    .unwrap();
    Loader::new(&data, BatchConfig::new(4).seed(5)).unwrap()
}

fn learner(steps: u64) -> Learner<Row> {
    Learner {
        schedule: Schedule::Steps(steps),
        log_every: Some(4),
        // The lowest loss wins.
        selection: Some(Select {
            score: |r: &Row| -r.loss,
            keep_best: true,
        }),
        early_stopping: None,
        label: "test",
    }
}

fn record(dir: &RunDir, resume: bool) -> RunRecord<'_> {
    RunRecord {
        dir: Some(dir),
        config: serde_json::json!({"what": "pull"}),
        identity: serde_json::json!({"what": "pull"}),
        resume,
    }
}

fn fit(steps: u64, dir: &RunDir, resume: bool) -> Result<(Vec<Row>, f64, Option<u64>)> {
    let loader = loader();
    let mut probe = Probe { every: 6 };
    let trained = learner(steps).fit(
        Pull::new(),
        &loader,
        &mut [&mut probe],
        record(dir, resume),
        &Device::Cpu,
    )?;
    let best = trained.best.as_ref().map(|(s, _)| *s);
    trained.restore_best()?;
    Ok((trained.history, trained.step.w(), best))
}

#[test]
fn rows_follow_the_cadence_and_the_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, _, _) = fit(13, &RunDir::new(dir.path()), false).unwrap();
    let steps: Vec<u64> = rows.iter().map(|r| r.step).collect();
    // Every 4, the probe's 6 and 12, and the last update.
    assert_eq!(steps, [4, 6, 8, 12, 13]);
    assert!(rows[1].w.is_some() && rows[0].w.is_none());
    assert!(dir.path().join("history.csv").exists());
    let err = fit(13, &RunDir::new(dir.path()), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds a run"), "{err}");
}

#[test]
fn runs_cut_between_rows_resume_exactly() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) = (RunDir::new(dirs[0].path()), RunDir::new(dirs[1].path()));
    let unbroken = fit(23, &a, false).unwrap();
    for (steps, resume) in [(5, false), (7, true), (13, true), (23, true)] {
        let cut = fit(steps, &b, resume).unwrap();
        assert_eq!(cut.0.last().unwrap().step, steps);
    }
    let resumed = fit(23, &b, true).unwrap();
    assert_eq!(resumed, unbroken);
    assert!(unbroken.2.is_some());
}

#[test]
fn a_non_finite_value_stops_the_run_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let loader = loader();
    let step = Pull {
        nan_at: Some(2),
        ..Pull::new()
    };
    let err = learner(10)
        .fit(
            step,
            &loader,
            &mut [],
            record(&RunDir::new(dir.path()), false),
            &Device::Cpu,
        )
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Diverged { step: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the loss is NaN") && text.contains("checkpoint"),
        "{text}"
    );
}

/// Issue 22, items 6, 7 and 9: `--resume` on other data (another hold-out
/// gives other images) is refused naming the set; a folder with no
/// checkpoint is refused by `require_checkpoint`; a temporary file left by
/// a killed write is removed when the run opens its folder.
#[test]
fn resume_refuses_other_data_and_stale_temp_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("run"));
    let err = run.require_checkpoint().unwrap_err().to_string();
    assert!(
        err.contains("--resume") && err.contains("holds no checkpoint"),
        "{err}"
    );
    let images = |n: u8| {
        Dataset::new(
            (0..n).collect(),
            vec![0; usize::from(n)],
            [1, 1, 1],
            Dataset::numbered_classes(2),
        )
        .unwrap()
    };
    let go = |data: &Dataset, resume: bool| {
        learner(8).fit(
            Pull::new(),
            &loader(),
            &mut [],
            record(&run, resume).with_data(&[("train", data)]),
            &Device::Cpu,
        )
    };
    go(&images(40), false).unwrap();
    run.require_checkpoint().unwrap();
    let stale = run.file(".checkpoint.safetensors.4000000000.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let err = go(&images(39), true).err().unwrap().to_string();
    assert!(
        err.contains("data_content.train differ") && err.contains("--resume"),
        "{err}"
    );
    assert!(!stale.exists());
    go(&images(40), true).unwrap();
}
