use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{CatDogCnnConfig, ImageClassifier, MnistCnnConfig, ModelConfig, ResNetConfig, Result};

/// Every classifier forger can build, by configuration. A run directory
/// stores this, so `eval` and `predict` rebuild the model that was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "snake_case")]
pub enum ClassifierConfig {
    /// The MNIST tutorial's CNN.
    MnistCnn(MnistCnnConfig),
    /// The cats-vs-dogs tutorial's CNN.
    CatDogCnn(CatDogCnnConfig),
    /// A small residual network with batch norm, for 28 to 256 px.
    #[serde(rename = "resnet")]
    ResNet(ResNetConfig),
}

impl ModelConfig for ClassifierConfig {
    fn init(&self, vb: VarBuilder) -> Result<Box<dyn ImageClassifier>> {
        Ok(match self {
            Self::MnistCnn(c) => Box::new(c.init(vb)?),
            Self::CatDogCnn(c) => Box::new(c.init(vb)?),
            Self::ResNet(c) => Box::new(c.init(vb)?),
        })
    }
}

impl ClassifierConfig {
    /// `[channels, height, width]` of the images the model takes.
    pub fn input_shape(&self) -> [usize; 3] {
        match self {
            Self::MnistCnn(c) => c.input,
            Self::CatDogCnn(c) => c.input,
            Self::ResNet(c) => c.input,
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        match self {
            Self::MnistCnn(c) => c.classes,
            Self::CatDogCnn(c) => c.classes,
            Self::ResNet(c) => c.classes,
        }
    }
}
