//! A CNN of your own, fitted by forger's Learner on the vendored
//! PneumoniaMNIST, with checkpoints, exact resume, selection and metrics:
//! `cargo run --release --example custom_model [-- --steps N --out DIR]`.

use anyhow::Context;
use forger::data::{load, LoadConfig};
use forger::models::layers::{conv2d_same, linear, Conv2d, Linear};
use forger::models::{ImageClassifier, Mode, ModelConfig, ModelError};
use forger::train::{fit, FitConfig, FitData, RunDir, Schedule, Selection};

/// The config is what a run records and rebuilds the model from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct TinyCnnConfig {
    channels: usize,
}

/// One 3x3 convolution with ReLU and 4x4 max-pooling, then a linear layer.
struct TinyCnn {
    conv: Conv2d,
    fc: Linear,
}

impl ModelConfig for TinyCnnConfig {
    fn init(&self, vb: candle_nn::VarBuilder) -> Result<Box<dyn ImageClassifier>, ModelError> {
        Ok(Box::new(TinyCnn {
            conv: conv2d_same(1, self.channels, 3, vb.pp("conv"))?,
            fc: linear(self.channels * 7 * 7, 2, vb.pp("fc"))?,
        }))
    }
}

impl ImageClassifier for TinyCnn {
    fn logits(&self, x: &candle_core::Tensor, _: Mode) -> candle_core::Result<candle_core::Tensor> {
        let x = self.conv.forward_leaky_relu_max_pool(x, 0.0, 4)?;
        candle_core::Module::forward(&self.fc, &x.flatten_from(1)?)
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [1, 28, 28]
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .context(format!("{name} needs a value")),
    };
    let steps = match flag("--steps")? {
        Some(s) => s
            .parse()
            .context(format!("--steps: expected a number of steps, not `{s}`"))?,
        None => 600,
    };
    let out = flag("--out")?.unwrap_or_else(|| "runs/custom-model".into());
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/pneumoniamnist.npz");
    let splits = load(data.as_ref(), &LoadConfig::default())?.splits;
    let config = FitConfig {
        schedule: Schedule::Steps(steps),
        selection: Some(Selection::Auc),
        ..FitConfig::mnist_tutorial(TinyCnnConfig { channels: 8 })
    };
    let report = fit(
        &config,
        &FitData::from_splits(&splits, data),
        &RunDir::new(&out),
        &candle_core::Device::Cpu,
        true, // continue a run already in `out`
    )?;
    let m = &report.metrics;
    println!(
        "test AUC {:.4}, accuracy {:.4}, weights of step {} kept; run in {out}",
        m.test_auc.unwrap_or(f64::NAN),
        m.test_accuracy,
        m.kept_step
    );
    Ok(())
}
