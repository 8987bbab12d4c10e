//! The GAN's evaluation hooks: sample grids from fixed noise, and the
//! Fréchet distance of generated to real images in a classifier's feature
//! space.

use std::path::PathBuf;

use candle_core::Device;
use forger_data::Dataset;

use super::step::GanStep;
use super::{balanced_labels, generate, write_grid};
use crate::learner::{At, Hook, Values};
use crate::quality::{sample_subset, FeatureSpace};
use crate::{Result, RunDir};

/// Generated (and real) images per Fréchet-distance measurement.
const FRECHET_SAMPLES: usize = 1000;

/// Writes `samples/step_NNNNNN.png` every `every` steps and at the end.
pub(super) struct SampleGrids<'a> {
    pub every: u64,
    pub classes: Vec<String>,
    pub seed: u64,
    pub dir: PathBuf,
    pub device: &'a Device,
}

impl Hook<GanStep> for SampleGrids<'_> {
    fn due(&self, at: &At) -> bool {
        at.every(self.every)
    }

    fn run(&mut self, step: &GanStep, at: &At) -> Result<Values> {
        let path = self.dir.join(format!("samples/step_{:06}.png", at.step));
        write_grid(
            step.generator(),
            self.seed,
            &self.classes,
            &path,
            self.device,
        )?;
        Ok(Values::new())
    }
}

/// The Fréchet distance of 1,000 generated images (classes in equal
/// shares) to 1,000 real ones, every `every` steps and at the end, in the
/// feature space of a classifier trained on the real images. Read it beside
/// [`Frechet::baseline`], the distance between two halves of the real images.
pub struct Frechet {
    space: FeatureSpace,
    real: Dataset,
    labels: Vec<u32>,
    classes: Vec<String>,
    every: u64,
    seed: u64,
    baseline: f64,
    device: Device,
}

impl Frechet {
    /// Measures in `space` (a classifier trained on `data`, as
    /// [`FeatureSpace::train`] makes one) against `data`, every `every`
    /// steps, with the generator's noise seeded by `seed`.
    pub fn new(
        space: FeatureSpace,
        data: &Dataset,
        every: u64,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let (a, b) = data.split_at(data.len() / 2)?;
        let baseline = space.distance(
            &sample_subset(&a, FRECHET_SAMPLES, 1)?,
            &sample_subset(&b, FRECHET_SAMPLES, 2)?,
        )?;
        Ok(Self {
            space,
            real: sample_subset(data, FRECHET_SAMPLES, 3)?,
            labels: balanced_labels(data.classes().len(), FRECHET_SAMPLES),
            classes: data.classes().to_vec(),
            every,
            seed,
            baseline,
            device: device.clone(),
        })
    }

    /// Trains the feature classifier on `data` (its run in
    /// `run/feature-classifier`, continued if already there) and measures
    /// against `data` every `every` steps.
    pub fn train(
        data: &Dataset,
        run: &RunDir,
        every: u64,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let features = RunDir::new(run.file("feature-classifier"));
        let space = FeatureSpace::train(data, data, &features, seed, device)?;
        Self::new(space, data, every, seed, device)
    }

    /// The real-vs-real distance: what a perfect generator would score, about.
    pub fn baseline(&self) -> f64 {
        self.baseline
    }
}

impl Hook<GanStep> for Frechet {
    fn due(&self, at: &At) -> bool {
        at.every(self.every)
    }

    fn run(&mut self, step: &GanStep, at: &At) -> Result<Values> {
        let generated = generate(
            step.generator(),
            self.seed,
            at.step,
            &self.labels,
            &self.classes,
            &self.device,
        )?;
        Ok(vec![(
            "frechet",
            Some(self.space.distance(&generated, &self.real)?),
        )])
    }
}
