//! A trained classifier ([`TrainedClassifier`]): evaluation, prediction of
//! image files, and its weights as plain safetensors files.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use forger_data::{rng, Dataset};
use forger_models::{
    seeded_vars, ClassifierConfig, ImageClassifier, Mode, ModelConfig, ModelSummary,
};

use crate::atomic::write_atomic;
use crate::checksum::{add_checksums, verify_checksums};
use crate::evaluate::{evaluate, Evaluation};
use crate::optim::named_vars;
use crate::run_dir::{read_run_config, RunKind};
use crate::{Result, RunConfig, RunDir, TrainError};

/// A trained classifier with the config it was trained with: as [`crate::fit`]
/// returns it, or loaded from a run directory.
pub struct TrainedClassifier<M: ModelConfig = ClassifierConfig> {
    pub model: Box<dyn ImageClassifier>,
    pub config: RunConfig<M>,
    pub varmap: VarMap,
}

impl<M: ModelConfig> TrainedClassifier<M> {
    /// Rebuilds the model of `run` from its `config.json` and `model.safetensors`.
    pub fn load(run: &RunDir, device: &Device) -> Result<Self> {
        let config: RunConfig<M> = run.read_config(RunKind::Classifier)?;
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
        evaluate(self.model.as_ref(), self.config.fit.loss, data, device)
    }

    /// The most likely class of the image file at `path`, its probability,
    /// and the image as the model saw it.
    pub fn predict_file(&self, path: &std::path::Path, device: &Device) -> Result<Prediction> {
        let shape = self.model.input_shape();
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

/// The [`ModelSummary`] of the classifier a run describes: `path` is the
/// run folder or a run config file (`config.json`). The model is built
/// from the config alone, so the summary needs no weights.
pub fn run_summary<M: ModelConfig>(path: &std::path::Path) -> Result<ModelSummary> {
    let file = if path.is_dir() {
        RunDir::new(path).config()
    } else {
        path.to_path_buf()
    };
    let config: RunConfig<M> = read_run_config(&file, RunKind::Classifier)?;
    let (model, varmap) = crate::init_classifier(&config.fit.model, 0, &Device::Cpu)?;
    Ok(ModelSummary::new(model.as_ref(), &varmap)?)
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

/// Writes the variables as a plain safetensors file (readable by any
/// safetensors tool and by Candle's `VarBuilder`), atomically, with a
/// checksum of each tensor in its metadata.
pub fn save_weights(path: &std::path::Path, varmap: &VarMap) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = named_vars(varmap)
        .into_iter()
        .map(|(n, v)| Ok((n, v.as_tensor().to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    let mut meta = std::collections::HashMap::new();
    add_checksums(&tensors, &mut meta);
    let bytes = safetensors::serialize(tensors, Some(meta))
        .map_err(|e| TrainError::file(path, format!("cannot serialise weights: {e}")))?;
    Ok(write_atomic(path, &bytes)?)
}

/// Loads weights written by [`save_weights`] into `varmap`, verifying
/// their checksums.
pub fn load_weights(path: &std::path::Path, varmap: &VarMap, device: &Device) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    verify_checksums(path, &bytes)?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
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
