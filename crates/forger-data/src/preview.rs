//! Augmentation preview grids, so that a person can see what the model sees
//! (`forger augment-preview`).

use std::path::Path;

use crate::atomic::write_atomic;
use crate::augment::AugmentConfig;
use crate::image_folder::{FolderIndex, ImageFolderConfig};
use crate::png::encode_grid;
use crate::split_folders::training_root;
use crate::{rng, DataError, Dataset, Result};

/// The layout of a preview grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewConfig {
    /// Images shown, one per row, taken round-robin over the classes.
    pub rows: usize,
    /// Augmented versions per image, right of the original.
    pub variants: usize,
    /// Each pixel drawn as a `zoom x zoom` block.
    pub zoom: usize,
    /// Seed of the augmentations.
    pub seed: u64,
}

impl Default for PreviewConfig {
    fn default() -> Self {
        Self {
            rows: 4,
            variants: 7,
            zoom: 2,
            seed: 0,
        }
    }
}

/// PNG bytes of a grid of `config.rows` images of `data` (fewer if it has
/// fewer): each row shows the image unchanged, then `config.variants`
/// augmentations of it, the `k`-th tile of the grid drawn from
/// `rng::derive(seed, "augment-preview", k)`.
pub fn preview_png(
    data: &Dataset,
    augment: &AugmentConfig,
    config: &PreviewConfig,
) -> Result<Vec<u8>> {
    augment.validate()?;
    let picked = round_robin(data.labels(), data.classes().len(), config.rows);
    if picked.is_empty() {
        return Err(DataError::Invalid("no images to preview".into()));
    }
    let shape = data.image_shape();
    let cols = config.variants + 1;
    let tiles: Vec<Vec<Vec<u8>>> = picked
        .iter()
        .enumerate()
        .map(|(row, &i)| {
            let mut tiles = vec![data.image(i).to_vec()];
            for col in 1..cols {
                let mut rng =
                    rng::derive(config.seed, "augment-preview", (row * cols + col) as u64);
                tiles.push(augment.augment(data.image(i), shape, &mut rng));
            }
            tiles
        })
        .collect();
    let rows: Vec<Vec<&[u8]>> = tiles
        .iter()
        .map(|row| row.iter().map(Vec::as_slice).collect())
        .collect();
    encode_grid(&rows, shape, config.zoom)
}

/// Writes a preview grid PNG to `out` (atomically) for the class-per-folder
/// tree at `root` (its training folder in a root of split folders), decoding only
/// the images shown.
pub fn write_augment_preview(
    root: &Path,
    out: &Path,
    folder: &ImageFolderConfig,
    augment: &AugmentConfig,
    config: &PreviewConfig,
) -> Result<()> {
    let index = FolderIndex::discover(&training_root(root)?)?;
    let picked = round_robin(index.labels(), index.classes().len(), config.rows);
    let data = index.subset(&picked)?.load(folder)?.dataset;
    write_atomic(out, &preview_png(&data, augment, config)?)
}

/// Up to `n` indices, taking the first image of each class in turn, then the
/// second of each, and so on.
fn round_robin(labels: &[u32], classes: usize, n: usize) -> Vec<usize> {
    let mut by_class = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let deepest = by_class.iter().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|k| {
            by_class
                .iter()
                .filter_map(move |members| members.get(k).copied())
        })
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;

    #[test]
    fn round_robin_alternates_classes() {
        assert_eq!(round_robin(&[0, 0, 0, 1, 1], 2, 4), vec![0, 3, 1, 4]);
        assert_eq!(round_robin(&[0, 1], 2, 9), vec![0, 1]);
    }

    #[test]
    fn writes_a_grid_of_originals_and_augmentations() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("training_set"), &["cats", "dogs"], &[3, 2]);
        std::fs::create_dir(dir.path().join("test_set")).unwrap();
        let out = dir.path().join("grid.png");
        let folder = ImageFolderConfig {
            size: [10, 12],
            ..Default::default()
        };
        let config = PreviewConfig {
            rows: 3,
            variants: 2,
            zoom: 1,
            seed: 1,
        };
        write_augment_preview(
            dir.path(),
            &out,
            &folder,
            &AugmentConfig::tutorial(),
            &config,
        )
        .unwrap();
        let grid = image::open(&out).unwrap().to_rgb8();
        assert_eq!(grid.dimensions(), (3 * 14 + 2, 3 * 12 + 2));
        // Row 1 is the first dog (grey level 40), unchanged in column 0.
        assert_eq!(grid.get_pixel(2, 2 + 12), &image::Rgb([40, 40, 0]));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary file left"
        );
        let err = write_augment_preview(
            &dir.path().join("nope"),
            &out,
            &folder,
            &AugmentConfig::none(),
            &config,
        );
        assert!(err.unwrap_err().to_string().contains("nope"));
    }
}
