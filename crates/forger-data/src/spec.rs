use std::path::Path;

use crate::{idx, image_folder, npz, DataError, Dataset, Result, Splits};

/// Loads a data set from a path, by what it is:
/// - a MedMNIST `.npz` file;
/// - a folder holding the IDX files of MNIST or Fashion-MNIST (recognised by
///   any of the four standard names);
/// - any other folder, as images ([`image_folder::load_splits`]): a Kaggle
///   layout (`training_set/`, `test_set/`) gives its two trees; a single
///   class-per-folder tree is split, stratified, into train and a 20% test
///   part with a fixed seed. Images are RGB 64x64; `val` is empty.
pub fn load_spec(path: &Path) -> Result<Splits> {
    if path.is_dir() {
        if is_idx_dir(path) {
            idx::load_dir(path)
        } else {
            image_folder::load_splits(path)
        }
    } else if path.extension().is_some_and(|e| e == "npz") {
        npz::load(path)
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

/// Which images of a data set to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Val,
    Test,
}

/// The images of `path` to evaluate a model that takes `shape` images on.
/// A single class-per-folder tree (no `training_set/`, no IDX files) gives
/// all its images, decoded to `shape`, whatever `part` says; a Kaggle layout
/// gives `part` (its validation part is empty) decoded to `shape`; a `.npz`
/// file or IDX folder gives `part` as stored.
pub fn load_part(path: &Path, part: Part, shape: [usize; 3]) -> Result<Dataset> {
    let is_folder = path.is_dir() && !is_idx_dir(path);
    if is_folder && !image_folder::is_kaggle_layout(path) {
        let config = image_folder::ImageFolderConfig::for_shape(shape)?;
        return Ok(image_folder::load_folder(path, &config)?.dataset);
    }
    let splits = if is_folder {
        let config = image_folder::FolderSplitConfig {
            folder: image_folder::ImageFolderConfig::for_shape(shape)?,
            ..Default::default()
        };
        image_folder::load_folder_splits(path, &config)?.splits
    } else {
        load_spec(path)?
    };
    Ok(match part {
        Part::Train => splits.train,
        Part::Val => splits.val,
        Part::Test => splits.test,
    })
}

/// Whether the folder `path` holds any of the standard IDX files.
fn is_idx_dir(path: &Path) -> bool {
    idx::STANDARD_FILES
        .iter()
        .any(|stem| idx::find_file(path, stem).is_ok())
}

/// Loads only the test split of a data set and divides it: the first
/// `len - holdout` images train, the last `holdout` test. For a folder of IDX
/// files only the two `t10k` files are needed, which is how forger trains on
/// the MNIST test set alone. `val` is empty.
pub fn load_holdout(path: &Path, holdout: usize) -> Result<Splits> {
    let test: Dataset = if path.is_dir() {
        idx::read_pair(
            &idx::find_file(path, idx::STANDARD_FILES[2])?,
            &idx::find_file(path, idx::STANDARD_FILES[3])?,
        )?
    } else {
        load_spec(path)?.test
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;

    #[test]
    fn folders_load_as_idx_or_as_images_by_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(&dir.path().join("training_set"), &["cats", "dogs"], &[2, 3]);
        write_tree(&dir.path().join("test_set"), &["cats", "dogs"], &[1, 1]);
        let splits = load_spec(dir.path()).unwrap();
        assert_eq!(splits.train.class_counts(), vec![2, 3]);
        assert_eq!(splits.test.image_shape(), [3, 64, 64]);

        // One IDX file is enough to call a folder IDX, and then the error
        // names the file that is missing rather than class folders.
        let idx_dir = tempfile::tempdir().unwrap();
        std::fs::write(idx_dir.path().join("t10k-labels-idx1-ubyte"), b"").unwrap();
        let err = load_spec(idx_dir.path()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    }

    #[test]
    fn load_part_decodes_to_the_models_shape() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[3, 2]);
        let all = load_part(dir.path(), Part::Test, [1, 8, 8]).unwrap();
        assert_eq!((all.len(), all.image_shape()), (5, [1, 8, 8]));
        write_tree(
            &dir.path().join("kaggle/training_set"),
            &["a", "b"],
            &[2, 2],
        );
        write_tree(&dir.path().join("kaggle/test_set"), &["a", "b"], &[1, 1]);
        let test = load_part(&dir.path().join("kaggle"), Part::Test, [3, 5, 5]).unwrap();
        assert_eq!((test.len(), test.image_shape()), (2, [3, 5, 5]));
        let err = load_part(dir.path(), Part::Test, [2, 8, 8]).unwrap_err();
        assert!(err.to_string().contains("not 2"), "{err}");
    }
}
