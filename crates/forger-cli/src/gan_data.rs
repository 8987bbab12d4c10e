//! What the GAN commands read and generate: the splits of a data set as a
//! GAN trains on them, and labelled samples of a trained generator.

use std::path::Path;

use forger_data::image_folder::{ColorMode, ImageFolderConfig};
use forger_data::{load, Dataset, LoadConfig, Splits};
use forger_train::gan::TrainedGan;

/// The splits of `path` as a GAN reads them: the train split of an IDX
/// folder or NPZ, or every image of a class-per-folder tree (the training
/// folder of a root of split folders) resized to `size`, with any test split
/// the source defines (none is cut from the training images).
pub fn gan_data(path: &Path, size: usize, rgb: bool) -> anyhow::Result<Splits> {
    let config = LoadConfig {
        folder: ImageFolderConfig {
            size: [size, size],
            color: if rgb { ColorMode::Rgb } else { ColorMode::Grey },
            ..Default::default()
        },
        val_split: Some(0.0),
        test_split: 0.0,
        ..Default::default()
    };
    Ok(load(path, &config)?.splits)
}

/// The side a GAN's images have, which real images are read at: the
/// GAN's own; `--image-size`, when given, must be it.
pub fn gan_side(gan: &TrainedGan, run: &Path, image_size: Option<usize>) -> anyhow::Result<usize> {
    let [_, side, _] = gan.config.train.gan.image;
    match image_size {
        Some(asked) if asked != side => anyhow::bail!(
            "--image-size {asked}: the GAN in {} makes {side}x{side} images; pass --image-size {side} \
             (or train a GAN at {asked} px with `forger gan train --image-size {asked}`)",
            run.display()
        ),
        _ => Ok(side),
    }
}

/// Generates `n` images from `gan`: all of `class`, or in equal shares.
pub fn sample(
    gan: &TrainedGan,
    n: usize,
    class: Option<&str>,
    seed: u64,
) -> anyhow::Result<Dataset> {
    let classes = gan.classes();
    let labels: Vec<u32> = match class {
        Some(name) => {
            let Some(k) = classes.iter().position(|c| c == name) else {
                anyhow::bail!("no class `{name}`: the GAN knows {classes:?}");
            };
            vec![k as u32; n]
        }
        None => (0..n)
            .map(|i| (i * classes.len() / n.max(1)) as u32)
            .collect(),
    };
    Ok(gan.sample(&labels, seed)?)
}
