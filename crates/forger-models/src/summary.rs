//! A Keras-style `model.summary()` for any [`ImageClassifier`]: its layers,
//! each one's output shape for one image, and parameter counts, trainable
//! and not. Parameters come from the model's weights, grouped by layer
//! name (`c1.weight` and `c1.bias` are layer `c1`); output shapes from one
//! forward pass through [`ImageClassifier::layer_outputs`], so a model
//! gets a summary without code of its own (the default reports the
//! logits' shape only).

use std::fmt;

use candle_core::{DType, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::ImageClassifier;

/// Records the output shape of each named stage of a forward pass, when
/// on: a model's forward code passes its stages' outputs through
/// [`Trace::record`] so that one body serves both the forward pass and
/// [`ImageClassifier::layer_outputs`].
#[derive(Debug, Default)]
pub struct Trace(Option<Vec<(String, Vec<usize>)>>);

impl Trace {
    /// A trace that records nothing (a plain forward pass).
    pub fn off() -> Self {
        Self(None)
    }

    /// A trace that records every stage.
    pub fn on() -> Self {
        Self(Some(Vec::new()))
    }

    /// Notes `x` as the output of stage `name` and hands it back.
    pub fn record(&mut self, name: &str, x: Tensor) -> Tensor {
        if let Some(shapes) = &mut self.0 {
            shapes.push((name.to_string(), x.dims().to_vec()));
        }
        x
    }

    /// The recorded `(stage, output shape)` pairs, in order.
    pub fn into_shapes(self) -> Vec<(String, Vec<usize>)> {
        self.0.unwrap_or_default()
    }
}

/// One layer of a [`ModelSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Its name, the prefix of its weights' names.
    pub name: String,
    /// Its output for one image (batch dimension first), when the model
    /// reports it.
    pub output_shape: Option<Vec<usize>>,
    /// Weights the optimizer updates.
    pub trainable: usize,
    /// Weights it does not (batch norm's running statistics).
    pub non_trainable: usize,
}

/// What [`ModelSummary::new`] reports of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// `[channels, height, width]` of the input.
    pub input: [usize; 3],
    /// The layers in forward order; layers with weights but no reported
    /// output follow, by name.
    pub layers: Vec<LayerSummary>,
}

/// Whether the weight `name` is a statistic rather than a learned weight.
fn is_statistic(name: &str) -> bool {
    name.rsplit('.')
        .next()
        .is_some_and(|last| last.starts_with("running_"))
}

impl ModelSummary {
    /// Summarises `model`, whose weights are in `varmap`, by one forward
    /// pass of a black image at its input shape.
    pub fn new(model: &dyn ImageClassifier, varmap: &VarMap) -> candle_core::Result<Self> {
        let input = model.input_shape();
        let mut counts: Vec<(String, usize, usize)> = Vec::new();
        let device = {
            let vars = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
            for (name, var) in vars.iter() {
                let layer = name.rsplit_once('.').map_or(name.as_str(), |(l, _)| l);
                let n = var.elem_count();
                let (t, s) = if is_statistic(name) { (0, n) } else { (n, 0) };
                match counts.iter_mut().find(|c| c.0 == layer) {
                    Some(c) => (c.1, c.2) = (c.1 + t, c.2 + s),
                    None => counts.push((layer.to_string(), t, s)),
                }
            }
            vars.values()
                .next()
                .map_or(candle_core::Device::Cpu, |v| v.device().clone())
        };
        counts.sort();
        let image = Tensor::zeros((1, input[0], input[1], input[2]), DType::F32, &device)?;
        let mut layers: Vec<LayerSummary> = model
            .layer_outputs(&image)?
            .into_iter()
            .map(|(name, shape)| {
                let (trainable, non_trainable) = counts
                    .iter()
                    .find(|c| c.0 == name)
                    .map_or((0, 0), |c| (c.1, c.2));
                LayerSummary {
                    name,
                    output_shape: Some(shape),
                    trainable,
                    non_trainable,
                }
            })
            .collect();
        for (name, trainable, non_trainable) in counts {
            if !layers.iter().any(|l| l.name == name) {
                layers.push(LayerSummary {
                    name,
                    output_shape: None,
                    trainable,
                    non_trainable,
                });
            }
        }
        Ok(Self { input, layers })
    }

    /// Trainable weights in all layers.
    pub fn trainable(&self) -> usize {
        self.layers.iter().map(|l| l.trainable).sum()
    }

    /// Non-trainable weights in all layers.
    pub fn non_trainable(&self) -> usize {
        self.layers.iter().map(|l| l.non_trainable).sum()
    }

    /// All weights.
    pub fn total(&self) -> usize {
        self.trainable() + self.non_trainable()
    }
}

/// A shape as Keras prints it, the batch dimension as `None`.
fn shape_text(shape: &Option<Vec<usize>>) -> String {
    match shape {
        None => "?".to_string(),
        Some(dims) => {
            let rest: Vec<String> = dims.iter().skip(1).map(|d| d.to_string()).collect();
            format!("(None, {})", rest.join(", "))
        }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for ModelSummary {
    /// A table of layer, output shape and parameters, then the totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<(String, String, String)> = self
            .layers
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    shape_text(&l.output_shape),
                    thousands(l.trainable + l.non_trainable),
                )
            })
            .collect();
        let width = |header: &str, col: fn(&(String, String, String)) -> &String| {
            rows.iter()
                .map(|r| col(r).chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        };
        let (a, b, c) = (
            width("Layer", |r| &r.0),
            width("Output shape", |r| &r.1),
            width("Params", |r| &r.2),
        );
        let [ch, h, w] = self.input;
        writeln!(f, "Input (None, {ch}, {h}, {w})")?;
        writeln!(
            f,
            "{:<a$}  {:<b$}  {:>c$}",
            "Layer", "Output shape", "Params"
        )?;
        writeln!(f, "{}", "-".repeat(a + b + c + 4))?;
        for (name, shape, params) in &rows {
            writeln!(f, "{name:<a$}  {shape:<b$}  {params:>c$}")?;
        }
        writeln!(f, "{}", "-".repeat(a + b + c + 4))?;
        writeln!(f, "Total params: {}", thousands(self.total()))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable()))?;
        write!(
            f,
            "Non-trainable params: {}",
            thousands(self.non_trainable())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{seeded_vars, CatDogCnnConfig, MnistCnnConfig};
    use candle_core::Device;
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn mnist_cnn_summary_lists_layers_shapes_and_counts() {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(0), &Device::Cpu);
        let model = MnistCnnConfig::default().init(vb).unwrap();
        let summary = ModelSummary::new(&model, &vm).unwrap();
        let rows: Vec<(&str, Option<&[usize]>, usize)> = summary
            .layers
            .iter()
            .map(|l| (l.name.as_str(), l.output_shape.as_deref(), l.trainable))
            .collect();
        assert_eq!(
            rows,
            [
                ("c1", Some(&[1, 4, 14, 14][..]), 68),
                ("c2", Some(&[1, 8, 7, 7][..]), 520),
                ("flatten", Some(&[1, 392][..]), 0),
                ("fc", Some(&[1, 10][..]), 3930),
            ]
        );
        assert_eq!((summary.total(), summary.non_trainable()), (4518, 0));
        let text = summary.to_string();
        assert!(
            text.contains("c2       (None, 8, 7, 7)       520"),
            "{text}"
        );
        assert!(text.contains("Total params: 4,518"), "{text}");
    }

    #[test]
    fn statistics_are_non_trainable_and_unreported_layers_still_count() {
        let vm = VarMap::new();
        let vb = seeded_vars(&vm, Pcg64::seed_from_u64(0), &Device::Cpu);
        let model = CatDogCnnConfig::default().init(vb.clone()).unwrap();
        // A weight the forward pass does not report, and a statistic.
        vb.get_with_hints(3, "bn.running_mean", candle_nn::Init::Const(0.0))
            .unwrap();
        vb.get_with_hints(3, "bn.weight", candle_nn::Init::Const(1.0))
            .unwrap();
        let summary = ModelSummary::new(&model, &vm).unwrap();
        let last = summary.layers.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.output_shape.is_none()),
            ("bn", true)
        );
        assert_eq!((last.trainable, last.non_trainable), (3, 3));
        assert_eq!(summary.trainable(), 2_253_090 + 3);
        assert!(summary.to_string().contains("Non-trainable params: 3"));
        assert_eq!(thousands(2_252_093), "2,252,093");
        assert_eq!(thousands(999), "999");
    }
}
