use candle_core::Tensor;
use candle_nn::VarBuilder;
use rand_pcg::Pcg64;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Whether a forward pass trains (dropout active, its masks drawn from the
/// given generator) or evaluates.
pub enum Mode<'a> {
    /// Inference: no dropout.
    Eval,
    /// Training: dropout masks come from this generator.
    Train(&'a mut Pcg64),
}

/// An image classifier: `(N, C, H, W)` images in, `(N, classes)` logits
/// out. Any Candle module can implement it (only `logits`, `num_classes`
/// and `input_shape` are required) and be trained by forger-train's
/// `Learner`, with checkpoints, exact resume, selection and metrics.
pub trait ImageClassifier {
    /// Logits for a batch of images.
    fn logits(&self, images: &Tensor, mode: Mode<'_>) -> candle_core::Result<Tensor>;
    /// The activations that feed the last layer, flattened to `(N, F)`, in
    /// evaluation mode: the feature space of forger's Fréchet distance. A
    /// model that does not expose them keeps this default, an error.
    fn features(&self, _images: &Tensor) -> candle_core::Result<Tensor> {
        candle_core::bail!("this classifier exposes no features (ImageClassifier::features)")
    }
    /// Each top-level layer's name (the prefix of its weights' names) and
    /// output shape for a batch of `images`, in forward order, for
    /// [`crate::ModelSummary`]. The default runs [`Self::logits`] and reports
    /// only its output, as `logits`; forger's models report every stage
    /// through a [`crate::Trace`].
    fn layer_outputs(&self, images: &Tensor) -> candle_core::Result<Vec<(String, Vec<usize>)>> {
        let logits = self.logits(images, Mode::Eval)?;
        Ok(vec![("logits".to_string(), logits.dims().to_vec())])
    }
    /// Number of classes (columns of the logits).
    fn num_classes(&self) -> usize;
    /// `[channels, height, width]` of the images the model takes.
    fn input_shape(&self) -> [usize; 3];
}

/// A classifier's configuration: what a run records in its `config.json`
/// and builds the model from (at the start, on resume, and when a trained
/// run is loaded). forger's own models are [`crate::ClassifierConfig`]; a
/// model of your own needs only a config type implementing this.
pub trait ModelConfig: Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned {
    /// Builds the model with its weights in `vb`.
    fn init(&self, vb: VarBuilder) -> crate::Result<Box<dyn ImageClassifier>>;
}
