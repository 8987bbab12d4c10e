//! How forger's model configurations read in reports and logs: one line a
//! person can read (`Display`), not Rust's debug output.

use std::fmt;

use crate::{
    CatDogCnnConfig, ClassifierConfig, GanArchitecture, GanConfig, MnistCnnConfig, ResNetConfig,
};

fn shape([c, h, w]: [usize; 3]) -> String {
    format!("{c}x{h}x{w}")
}

impl fmt::Display for MnistCnnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [_, h, w] = self.input;
        let [a, b] = self.channels;
        let k = self.kernel;
        write!(
            f,
            "the MNIST tutorial's CNN ({} input; two {k}x{k} SAME convolutions of {a} and {b} channels, \
             each with ReLU and 2x2 max-pool; linear {} -> {})",
            shape(self.input),
            b * (h / 4) * (w / 4),
            self.classes
        )
    }
}

impl fmt::Display for CatDogCnnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.filters;
        let [d1, d2] = self.dense;
        write!(
            f,
            "the cats-vs-dogs tutorial's CNN ({} input; three 3x3 SAME convolution blocks of {a}, {b}, {c} \
             filters with ReLU, 2x2 max-pool and dropout {}; dense {d1}, {d2}, {} outputs)",
            shape(self.input),
            self.dropout,
            self.classes
        )
    }
}

impl fmt::Display for ResNetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<String> = self.widths.iter().map(ToString::to_string).collect();
        write!(
            f,
            "a residual network ({} input; 3x3 stem of stride {}, stages of {} channels with {} basic \
             block(s) each, batch norm and ReLU, global average pooling, linear -> {})",
            shape(self.input),
            self.stem_stride,
            widths.join("/"),
            self.blocks,
            self.classes
        )
    }
}

impl fmt::Display for ClassifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MnistCnn(c) => c.fmt(f),
            Self::CatDogCnn(c) => c.fmt(f),
            Self::ResNet(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for GanConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.classes.is_some() {
            "conditional (class embedding into G, projection discriminator)"
        } else {
            "unconditional"
        };
        match &self.architecture {
            GanArchitecture::Dcgan => {
                let g: Vec<String> = self.generator_widths.iter().map(ToString::to_string).collect();
                let d: Vec<String> = self.discriminator_widths.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{kind} DCGAN for {} images, G widths {}, D widths {}, z {}",
                    shape(self.image),
                    g.join("/"),
                    d.join("/"),
                    self.latent
                )
            }
            GanArchitecture::Scaled {
                width,
                max_width,
                spectral_norm,
            } => write!(
                f,
                "{kind} scaled GAN for {} images (one block per doubling of the side, widths {width} at \
                 full size up to {max_width}{}), z {}",
                shape(self.image),
                if *spectral_norm { ", spectral norm on D" } else { "" },
                self.latent
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_read_as_sentences() {
        let mnist = ClassifierConfig::MnistCnn(MnistCnnConfig {
            classes: 2,
            ..Default::default()
        });
        assert_eq!(
            mnist.to_string(),
            "the MNIST tutorial's CNN (1x28x28 input; two 4x4 SAME convolutions of 4 and 8 channels, \
             each with ReLU and 2x2 max-pool; linear 392 -> 2)"
        );
        let catdog = ClassifierConfig::CatDogCnn(CatDogCnnConfig::default()).to_string();
        assert!(
            catdog.contains("3x64x64 input") && !catdog.contains('{'),
            "{catdog}"
        );
    }
}
