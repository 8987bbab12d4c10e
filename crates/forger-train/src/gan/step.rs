//! The GAN's [`TrainStep`]: each step, D learns real = 1 (or the smoothed
//! target) and fake = 0 on one mixed batch of real and generated images,
//! then G learns to make D say real (the non-saturating loss). Two weight
//! sets, two optimizers; the fakes are detached for the D step. With
//! [`DiffAugment`], D sees every image augmented, in both steps; with
//! LeCam, D's loss has the regulariser added, its averages kept here and
//! in the checkpoint.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use forger_data::{rng, Batch};
use forger_models::{seeded_vars, Discriminator, Generator, Mode};

use super::{noise, DiffAugment, GanHistoryRow, GanTrainConfig, LeCamState};
use crate::checkpoint::{Checkpoint, CheckpointWriter};
use crate::learner::{value, At, StepOutput, TrainStep, Values};
use crate::loss::bce_with_logits;
use crate::optim::{named_vars, Optimizer};
use crate::Result;

/// A generator and discriminator with their weights and optimizers.
pub struct GanStep {
    pub(super) g: Generator,
    pub(super) d: Discriminator,
    pub(super) g_vars: VarMap,
    pub(super) d_vars: VarMap,
    opt_g: Optimizer,
    opt_d: Optimizer,
    seed: u64,
    /// D's targets on the mixed batch (real, then fake) and G's (all real).
    d_targets: Tensor,
    g_targets: Tensor,
    device: Device,
    /// The real-vs-real Fréchet distance, shown beside the measured ones.
    pub(super) frechet_baseline: Option<f64>,
    diff_augment: Option<DiffAugment>,
    lecam: Option<LeCamState>,
}

impl GanStep {
    /// G and D of `config.gan` from seeded weights, with fresh optimizers.
    pub fn new(config: &GanTrainConfig, device: &Device) -> Result<Self> {
        let (g_vars, d_vars) = (VarMap::new(), VarMap::new());
        let (g, d) = config.gan.init(
            seeded_vars(&g_vars, rng::derive(config.seed, "init-g", 0), device),
            seeded_vars(&d_vars, rng::derive(config.seed, "init-d", 0), device),
        )?;
        let opt_g = config.optimizer.build(named_vars(&g_vars))?;
        let opt_d = config.optimizer.build(named_vars(&d_vars))?;
        let n = config.batch_size;
        let real_target = Tensor::full(config.real_target as f32, (n, 1), device)?;
        let d_targets = Tensor::cat(
            &[&real_target, &Tensor::zeros((n, 1), DType::F32, device)?],
            0,
        )?;
        Ok(Self {
            g,
            d,
            g_vars,
            d_vars,
            opt_g,
            opt_d,
            seed: config.seed,
            d_targets,
            g_targets: Tensor::ones((n, 1), DType::F32, device)?,
            device: device.clone(),
            frechet_baseline: None,
            diff_augment: config.diff_augment,
            lecam: config.lecam.map(LeCamState::new),
        })
    }

    /// The generator.
    pub fn generator(&self) -> &Generator {
        &self.g
    }

    /// `images` as D sees them at `step` in the pass `pass`: augmented
    /// when DiffAugment is on.
    fn augment(&self, images: &Tensor, pass: &str, step: u64) -> Result<Tensor> {
        Ok(match &self.diff_augment {
            Some(a) => a.apply(images, &mut rng::derive(self.seed, pass, step))?,
            None => images.clone(),
        })
    }
}

impl TrainStep for GanStep {
    type Row = GanHistoryRow;

    fn step(&mut self, batch: &Batch, step: u64) -> Result<StepOutput> {
        let n = batch.indices.len();
        let gan = self.g.config();
        let labels = gan.classes.is_some().then_some(&batch.labels);
        let z = noise(n, gan.latent, self.seed, "noise", step, &self.device)?;
        let fake = self.g.forward(&z, labels, true)?;

        // D: real = 1, fake = 0, on one mixed batch.
        let mixed = Tensor::cat(&[&batch.images, &fake.detach()], 0)?;
        let mixed = self.augment(&mixed, "diff-augment-d", step)?;
        let mixed_labels = labels.map(|y| Tensor::cat(&[y, y], 0)).transpose()?;
        let mut d_rng = rng::derive(self.seed, "dropout-d", step);
        let d_logits = self
            .d
            .forward(&mixed, mixed_labels.as_ref(), Mode::Train(&mut d_rng))?;
        let mut d_loss = bce_with_logits(&d_logits, &self.d_targets)?;
        if let Some(lecam) = &mut self.lecam {
            let penalty = lecam.penalty(&d_logits.narrow(0, 0, n)?, &d_logits.narrow(0, n, n)?)?;
            d_loss = (d_loss + penalty)?;
        }
        self.opt_d.step(&d_loss.backward()?)?;

        // G: make D say real (non-saturating). D's weights are constants
        // here: this step updates only G's.
        let mut g_rng = rng::derive(self.seed, "dropout-g", step);
        let seen = self.augment(&fake, "diff-augment-g", step)?;
        let g_logits = self
            .d
            .frozen()
            .forward(&seen, labels, Mode::Train(&mut g_rng))?;
        let g_loss = bce_with_logits(&g_logits, &self.g_targets)?;
        self.opt_g.step(&g_loss.backward()?)?;

        let probs = candle_nn::ops::sigmoid(&d_logits.detach())?;
        let mean = |from: usize| -> Result<f64> {
            let m = probs.narrow(0, from, n)?.mean_all()?.to_scalar::<f32>()?;
            Ok(f64::from(m))
        };
        Ok(StepOutput {
            totals: vec![
                ("D loss", f64::from(d_loss.to_scalar::<f32>()?)),
                ("G loss", f64::from(g_loss.to_scalar::<f32>()?)),
                ("D(x)", mean(0)?),
                ("D(G(z))", mean(n)?),
            ],
            weight: 1.0,
        })
    }

    fn row(&self, at: &At, train: &Values, measured: &Values) -> GanHistoryRow {
        let mean = |name| value(train, name).unwrap_or(f64::NAN);
        GanHistoryRow {
            step: at.step,
            d_loss: mean("D loss"),
            g_loss: mean("G loss"),
            d_real: mean("D(x)"),
            d_fake: mean("D(G(z))"),
            frechet: value(measured, "frechet"),
            seconds: at.seconds,
        }
    }

    fn describe(&self, row: &GanHistoryRow) -> String {
        let fd = match (row.frechet, self.frechet_baseline) {
            (Some(f), Some(b)) => format!(" frechet {f:.2} (real vs real {b:.2})"),
            _ => String::new(),
        };
        format!(
            "step {}: d_loss {:.4} g_loss {:.4} D(x) {:.3} D(G(z)) {:.3}{fd}",
            row.step, row.d_loss, row.g_loss, row.d_real, row.d_fake
        )
    }

    fn weights(&self) -> Vec<(&'static str, &VarMap)> {
        vec![("g", &self.g_vars), ("d", &self.d_vars)]
    }

    /// The optimizers' state, and LeCam's averages when it is on.
    fn save_optimizers(&self, writer: CheckpointWriter) -> CheckpointWriter {
        let writer = writer
            .optimizer("opt_g", &self.opt_g)
            .optimizer("opt_d", &self.opt_d);
        match &self.lecam {
            Some(lecam) => lecam.save(writer),
            None => writer,
        }
    }

    fn restore_optimizers(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        checkpoint.restore_optimizer("opt_g", &mut self.opt_g)?;
        checkpoint.restore_optimizer("opt_d", &mut self.opt_d)?;
        if let Some(lecam) = &mut self.lecam {
            lecam.restore(checkpoint)?;
        }
        Ok(())
    }
}
