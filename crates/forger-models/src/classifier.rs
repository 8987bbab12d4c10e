use candle_core::Tensor;
use rand_pcg::Pcg64;

/// Whether a forward pass trains (dropout active, its masks drawn from the
/// given generator) or evaluates.
pub enum Mode<'a> {
    /// Inference: no dropout.
    Eval,
    /// Training: dropout masks come from this generator.
    Train(&'a mut Pcg64),
}

/// An image classifier: `(N, C, H, W)` images in, `(N, classes)` logits out.
pub trait ImageClassifier {
    /// Logits for a batch of images.
    fn logits(&self, images: &Tensor, mode: Mode<'_>) -> candle_core::Result<Tensor>;
    /// The activations that feed the last layer, flattened to `(N, F)`, in
    /// evaluation mode: the feature space of forger's Fréchet distance.
    fn features(&self, images: &Tensor) -> candle_core::Result<Tensor>;
    /// Number of classes (columns of the logits).
    fn num_classes(&self) -> usize;
    /// `[channels, height, width]` of the images the model takes.
    fn input_shape(&self) -> [usize; 3];
}
