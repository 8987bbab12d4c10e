//! Opening a data set from a path, whatever it holds: [`load`] reads it
//! into memory as [`Splits`], [`open_source`] opens one part of it as a
//! [`Source`] read on demand. What a path is ([`Layout`]) is decided by
//! [`layout`]:
//! - a MedMNIST `.npz` file;
//! - a folder holding the IDX files of MNIST or Fashion-MNIST (recognised by
//!   any of the four standard names, [`idx::STANDARD_FILES`]);
//! - a root of split folders ([`crate::split_folders`]): `train/`, an
//!   optional `val/` and `test/` (or `training_set/`, `validation_set/`,
//!   `test_set/`), each a class-per-folder tree with the same classes;
//! - any other folder, a single class-per-folder tree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::image_folder::{
    FolderIndex, FolderLoad, ImageFolderConfig, DEFAULT_TEST_SPLIT, FOLDER_SPLIT_SEED,
};
use crate::source::{FolderSource, IdxSource, NpzSource, Source};
use crate::split_folders::{check_split_root, SplitTrees};
use crate::{idx, npz, DataError, Dataset, Part, Result, Splits};

/// What a data set path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A MedMNIST `.npz` file: train, val and test splits.
    Npz,
    /// A folder of IDX files: train and test (`t10k`) splits.
    Idx,
    /// Split folders (`train/`, optional `val/`, `test/`), each a
    /// class-per-folder tree.
    Splits,
    /// One class-per-folder tree.
    Tree,
}

/// What `path` holds; fails, naming it, when it is missing, is a file
/// other than `.npz`, or is a folder with some split folders but not both
/// a training and a test folder.
pub fn layout(path: &Path) -> Result<Layout> {
    if path.is_dir() {
        Ok(if is_idx_dir(path) {
            Layout::Idx
        } else if check_split_root(path)? {
            Layout::Splits
        } else {
            Layout::Tree
        })
    } else if path.extension().is_some_and(|e| e == "npz") {
        Ok(Layout::Npz)
    } else if !path.exists() {
        Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ))
    } else {
        Err(DataError::format(
            path,
            "unknown data set: expected a MedMNIST .npz file, a folder of IDX files or a class-per-folder image tree",
        ))
    }
}

/// Whether the folder `path` holds any of the standard IDX files.
fn is_idx_dir(path: &Path) -> bool {
    idx::STANDARD_FILES
        .iter()
        .any(|stem| idx::find_file(path, stem).is_ok())
}

/// How [`load`] reads a path.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// How the images of a class-per-folder tree are decoded (RGB 64x64 by
    /// default); `.npz` and IDX images stay as stored.
    pub folder: ImageFolderConfig,
    /// For sources without a validation split of their own (IDX files,
    /// image folders, split folders without `val/`), the fraction of each
    /// class of the training images held out for validation, drawn by
    /// `seed` (Keras' `validation_split`, but stratified). `None` (the
    /// default) holds out [`DEFAULT_VAL_SPLIT`] of a root of split folders
    /// without `val/` and nothing elsewhere; `Some(0.0)` leaves `val` empty.
    pub val_split: Option<f64>,
    /// For a single class-per-folder tree, the fraction of each class held
    /// out as the test set, always with seed [`FOLDER_SPLIT_SEED`], so that
    /// runs with different seeds are tested on the same images (20% by
    /// default; 0 keeps every image in `train`).
    pub test_split: f64,
    /// Seed of the validation split.
    pub seed: u64,
    /// Use only the test split and divide it: the first `len - n` images
    /// train, the last `n` test. For a folder of IDX files only the two
    /// `t10k` files are read, which is how forger trains on the MNIST test
    /// set alone.
    pub holdout: Option<usize>,
}

impl Default for LoadConfig {
    /// RGB 64x64 images, a 10% validation split of split folders without
    /// `val/` only, a 20% test split of a single tree, no hold-out.
    fn default() -> Self {
        Self {
            folder: ImageFolderConfig::default(),
            val_split: None,
            test_split: DEFAULT_TEST_SPLIT,
            seed: 0,
            holdout: None,
        }
    }
}

/// A data set read into memory by [`load`].
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Train, validation and test images.
    pub splits: Splits,
    /// Image files that could not be decoded and were left out (only with
    /// [`ImageFolderConfig::skip_bad_images`]).
    pub skipped: Vec<PathBuf>,
}

/// The fraction of the training images of a root of split folders without
/// `val/` that [`load`] holds out for validation by default.
pub const DEFAULT_VAL_SPLIT: f64 = 0.1;

/// Reads the data set at `path` (see the module docs for what it may be)
/// into memory as `config` says. Split folders give their trees; a single
/// tree is split, stratified ([`crate::split::stratified_indices`]), into
/// train and test; then, where the source has no validation split,
/// [`LoadConfig::val_split`] of the training images become `val`.
pub fn load(path: &Path, config: &LoadConfig) -> Result<Loaded> {
    let layout = layout(path)?;
    let (mut splits, skipped) = match (layout, config.holdout) {
        (Layout::Idx, Some(n)) => {
            let test = idx::read_pair(
                &idx::find_file(path, idx::STANDARD_FILES[2])?,
                &idx::find_file(path, idx::STANDARD_FILES[3])?,
            )?;
            (hold_out(test, n)?, Vec::new())
        }
        (_, holdout) => {
            let (splits, skipped) = match layout {
                Layout::Npz => (npz::load(path)?, Vec::new()),
                Layout::Idx => (idx::load_dir(path)?, Vec::new()),
                Layout::Splits => load_split_folders(path, &config.folder)?,
                Layout::Tree => load_tree(path, config)?,
            };
            match holdout {
                Some(n) => (hold_out(splits.test, n)?, skipped),
                None => (splits, skipped),
            }
        }
    };
    let val_split = config.val_split.unwrap_or(match (layout, config.holdout) {
        (Layout::Splits, None) => DEFAULT_VAL_SPLIT,
        _ => 0.0,
    });
    if splits.val.is_empty() && val_split != 0.0 {
        let (train, val) = splits.train.split_stratified(val_split, config.seed)?;
        splits = Splits {
            val,
            train,
            ..splits
        };
    }
    Ok(Loaded {
        splits: with_known_names(path, splits)?,
        skipped,
    })
}

/// `splits` with the class names of the known data set at `path`
/// ([`crate::known`]), where the file only numbers its classes.
fn with_known_names(path: &Path, splits: Splits) -> Result<Splits> {
    let Some(known) = crate::known::known_dataset(path) else {
        return Ok(splits);
    };
    let numbered = Dataset::numbered_classes(known.classes.len());
    if splits.train.classes() != numbered.as_slice() {
        return Ok(splits);
    }
    Ok(Splits {
        train: splits.train.with_class_names(known.classes)?,
        val: splits.val.with_class_names(known.classes)?,
        test: splits.test.with_class_names(known.classes)?,
    })
}

/// The first `len - holdout` images as train, the last `holdout` as test.
fn hold_out(test: Dataset, holdout: usize) -> Result<Splits> {
    if holdout == 0 || holdout >= test.len() {
        return Err(DataError::Invalid(format!(
            "cannot hold out {holdout} of {} test images: keep at least one for each side",
            test.len()
        )));
    }
    let (train, test) = test.split_at(test.len() - holdout)?;
    let val = train.subset(&[])?;
    Ok(Splits { train, val, test })
}

/// Split folders, decoded; `val` is empty where the root has no `val/`.
fn load_split_folders(root: &Path, folder: &ImageFolderConfig) -> Result<(Splits, Vec<PathBuf>)> {
    let trees = SplitTrees::discover(root)?;
    let load = |index: &FolderIndex| index.load(folder);
    let (train, test): (FolderLoad, FolderLoad) = (load(&trees.train)?, load(&trees.test)?);
    let val = match &trees.val {
        Some(index) => load(index)?,
        None => FolderLoad {
            dataset: train.dataset.subset(&[])?,
            skipped: Vec::new(),
        },
    };
    let skipped = [train.skipped, val.skipped, test.skipped].concat();
    let splits = Splits {
        train: train.dataset,
        val: val.dataset,
        test: test.dataset,
    };
    Ok((splits, skipped))
}

/// A single tree, decoded and split into train and test.
fn load_tree(root: &Path, config: &LoadConfig) -> Result<(Splits, Vec<PathBuf>)> {
    let load = FolderIndex::discover(root)?.load(&config.folder)?;
    let (train, test) = load
        .dataset
        .split_stratified(config.test_split, FOLDER_SPLIT_SEED)?;
    let val = train.subset(&[])?;
    Ok((Splits { train, val, test }, load.skipped))
}

/// Opens part `part` of the data set at `path` as a [`Source`] that reads
/// each image when it is asked for, for data larger than memory: the raw
/// IDX files of that split (gzip-compressed files cannot be read by
/// offset), the stored (uncompressed) members of a `.npz` file, or a
/// class-per-folder tree decoded by `folder` (a split folder; a single
/// tree is one training part).
/// Fails, naming the path, for a part the data set does not have.
pub fn open_source(path: &Path, part: Part, folder: &ImageFolderConfig) -> Result<Arc<dyn Source>> {
    let missing = |what: &str| Err(DataError::format(path, what.to_string()));
    Ok(match (layout(path)?, part) {
        (Layout::Npz, part) => {
            let split = match part {
                Part::Train => "train",
                Part::Val => "val",
                Part::Test => "test",
            };
            Arc::new(NpzSource::open(path, split)?)
        }
        (Layout::Idx, Part::Val) => return missing("IDX files have no validation split"),
        (Layout::Idx, part) => {
            let [images, labels] = match part {
                Part::Train => [0, 1],
                _ => [2, 3],
            }
            .map(|k| idx::find_file(path, idx::STANDARD_FILES[k]));
            Arc::new(IdxSource::open(&images?, &labels?)?)
        }
        (Layout::Splits, part) => match SplitTrees::discover(path)?.part(part) {
            Some(index) => Arc::new(FolderSource::new(index.clone(), folder.clone())),
            None => return missing("has no val/ folder: its validation split exists only when it is loaded into memory"),
        },
        (Layout::Tree, Part::Train) => Arc::new(FolderSource::open(path, folder.clone())?),
        (Layout::Tree, _) => {
            return missing(
                "a single class-per-folder tree is read on demand whole, as the training part; \
                 its test split exists only when it is loaded into memory",
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;

    fn small() -> ImageFolderConfig {
        ImageFolderConfig {
            size: [4, 6],
            ..Default::default()
        }
    }

    fn pixels(d: &Dataset) -> Vec<u8> {
        (0..d.len()).flat_map(|i| d.image(i).to_vec()).collect()
    }

    #[test]
    fn folders_load_as_idx_or_as_images_by_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("training_set"), &["cats", "dogs"], &[2, 3]);
        write_tree(&dir.path().join("test_set"), &["cats", "dogs"], &[1, 1]);
        assert_eq!(layout(dir.path()).unwrap(), Layout::Splits);
        let splits = load(dir.path(), &LoadConfig::default()).unwrap().splits;
        assert_eq!(splits.train.class_counts(), vec![2, 3]);
        assert_eq!(splits.test.image_shape(), [3, 64, 64]);

        // One IDX file is enough to call a folder IDX, and then the error
        // names the file that is missing rather than class folders.
        let idx_dir = tempfile::tempdir().unwrap();
        std::fs::write(idx_dir.path().join("t10k-labels-idx1-ubyte"), b"").unwrap();
        assert_eq!(layout(idx_dir.path()).unwrap(), Layout::Idx);
        let err = load(idx_dir.path(), &LoadConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        let missing = dir.path().join("nothing.npz");
        let err = layout(&missing.with_extension("csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing.csv"), "{err}");
        std::fs::write(dir.path().join("notes.csv"), b"x").unwrap();
        let err = layout(&dir.path().join("notes.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("notes.csv") && err.contains("unknown data set"),
            "{err}"
        );
    }

    #[test]
    fn split_folders_and_single_trees() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("training_set"), &["cats", "dogs"], &[5, 5]);
        write_tree(&dir.path().join("test_set"), &["cats", "dogs"], &[1, 2]);
        let config = LoadConfig {
            folder: small(),
            ..Default::default()
        };
        // No val/: 10% of each class of training_set/ by default.
        let splits = load(dir.path(), &config).unwrap().splits;
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (8, 2, 3)
        );
        assert_eq!(splits.test.classes(), ["cats", "dogs"]);

        let tree = dir.path().join("training_set");
        let single = load(&tree, &config).unwrap().splits;
        assert_eq!(single.test.class_counts(), vec![1, 1]);
        assert_eq!(single.train.class_counts(), vec![4, 4]);
        let whole = LoadConfig {
            test_split: 0.0,
            ..config.clone()
        };
        let all = load(&tree, &whole).unwrap().splits;
        let index = FolderIndex::discover(&tree).unwrap();
        assert_eq!(
            pixels(&all.train),
            pixels(&index.load(&small()).unwrap().dataset)
        );
        assert!(all.test.is_empty());

        write_tree(&dir.path().join("test_set"), &["horses"], &[1]);
        let err = load(dir.path(), &config).unwrap_err().to_string();
        assert!(err.contains("test_set") && err.contains("horses"), "{err}");
    }

    #[test]
    fn train_val_test_folders_are_the_three_splits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_tree(&root.join("train"), &["benign", "malignant"], &[6, 4]);
        write_tree(&root.join("val"), &["benign", "malignant"], &[2, 1]);
        write_tree(&root.join("test"), &["benign", "malignant"], &[3, 2]);
        let config = LoadConfig {
            folder: small(),
            ..Default::default()
        };
        assert_eq!(layout(root).unwrap(), Layout::Splits);
        let splits = load(root, &config).unwrap().splits;
        assert_eq!(splits.train.class_counts(), vec![6, 4]);
        assert_eq!(splits.val.class_counts(), vec![2, 1]);
        assert_eq!(splits.test.class_counts(), vec![3, 2]);
        assert_eq!(splits.val.classes(), ["benign", "malignant"]);
        // val/ is the validation split, whatever `val_split` asks.
        let asked = LoadConfig {
            val_split: Some(0.5),
            ..config.clone()
        };
        assert_eq!(load(root, &asked).unwrap().splits.train.len(), 10);
        let val = open_source(root, Part::Val, &small()).unwrap();
        assert_eq!((val.len(), val.image_shape()), (3, [3, 4, 6]));

        // Without val/, a stratified, seeded share of train/.
        std::fs::remove_dir_all(root.join("val")).unwrap();
        let cut = |val_split, seed| {
            let config = LoadConfig {
                val_split,
                seed,
                ..config.clone()
            };
            load(root, &config).unwrap().splits
        };
        let default = cut(None, 3);
        assert_eq!(default.val.class_counts(), vec![1, 0]);
        let quarter = cut(Some(0.25), 3);
        assert_eq!(quarter.val.class_counts(), vec![2, 1]);
        assert_eq!(quarter.train.class_counts(), vec![4, 3]);
        assert_eq!(pixels(&cut(Some(0.25), 3).val), pixels(&quarter.val));
        assert_ne!(pixels(&cut(Some(0.25), 4).val), pixels(&quarter.val));
        assert!(cut(Some(0.0), 3).val.is_empty());

        // Splits with other classes, and a lone split folder, are errors
        // naming the folder.
        write_tree(&root.join("test"), &["normal"], &[1]);
        let err = load(root, &config).unwrap_err().to_string();
        let test = root.join("test").display().to_string();
        assert!(
            err.starts_with(&test) && err.contains("\"normal\""),
            "{err}"
        );
        std::fs::remove_dir_all(root.join("test")).unwrap();
        let err = load(root, &config).unwrap_err().to_string();
        assert!(
            err.contains("split folder") && err.contains("train") && err.contains("test/"),
            "{err}"
        );
    }

    /// The shared real folders (`../shared/data`), where this checkout has
    /// them: the counts of their README.
    #[test]
    fn the_shared_split_folders_load_with_their_counts() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        for (name, side, counts) in [
            ("busi_256", 64, [412, 58, 118]),
            ("shenzhen_montgomery_128", 128, [434, 62, 124]),
        ] {
            let root = shared.join(name);
            if !root.is_dir() {
                eprintln!("skipped: {} is not here", root.display());
                continue;
            }
            let config = LoadConfig {
                folder: ImageFolderConfig::for_shape([1, side, side]).unwrap(),
                ..Default::default()
            };
            let splits = load(&root, &config).unwrap().splits;
            let got = [&splits.train, &splits.val, &splits.test].map(|d| d.len());
            assert_eq!(got, counts, "{name}");
            assert_eq!(splits.test.image_shape(), [1, side, side], "{name}");
            assert_eq!(splits.train.classes(), splits.test.classes(), "{name}");
        }
    }

    #[test]
    fn validation_split_is_stratified_seeded_and_the_test_split_fixed() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[10, 20]);
        let config = |seed| LoadConfig {
            folder: small(),
            val_split: Some(0.2),
            test_split: 0.1,
            seed,
            holdout: None,
        };
        let a = load(dir.path(), &config(1)).unwrap().splits;
        assert_eq!(a.test.class_counts(), vec![1, 2]);
        assert_eq!(a.val.class_counts(), vec![2, 4]);
        assert_eq!(a.train.class_counts(), vec![7, 14]);
        let again = load(dir.path(), &config(1)).unwrap().splits;
        assert_eq!(pixels(&again.val), pixels(&a.val));
        let other = load(dir.path(), &config(2)).unwrap().splits;
        assert_eq!(
            pixels(&other.test),
            pixels(&a.test),
            "one test set for every seed"
        );
        assert_ne!(
            pixels(&other.val),
            pixels(&a.val),
            "the seed draws the validation set"
        );
    }

    #[test]
    fn holdout_divides_the_test_split() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[5, 5]);
        let config = |holdout| LoadConfig {
            folder: small(),
            holdout: Some(holdout),
            ..Default::default()
        };
        // The 20% test split of a single tree is 2 images.
        let splits = load(dir.path(), &config(1)).unwrap().splits;
        assert_eq!(
            (splits.train.len(), splits.val.len(), splits.test.len()),
            (1, 0, 1)
        );
        let err = load(dir.path(), &config(2)).unwrap_err().to_string();
        assert!(err.contains("cannot hold out 2 of 2"), "{err}");
    }

    #[test]
    fn sources_open_the_parts_a_data_set_has() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("training_set"), &["cats", "dogs"], &[2, 3]);
        write_tree(&dir.path().join("test_set"), &["cats", "dogs"], &[1, 1]);
        let test = open_source(dir.path(), Part::Test, &small()).unwrap();
        assert_eq!((test.len(), test.image_shape()), (2, [3, 4, 6]));
        let train = open_source(&dir.path().join("training_set"), Part::Train, &small()).unwrap();
        assert_eq!(train.len(), 5);
        let err = open_source(dir.path(), Part::Val, &small())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("has no val/ folder"), "{err}");
        let err = open_source(&dir.path().join("test_set"), Part::Test, &small())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("test_set") && err.contains("whole"), "{err}");
    }
}
