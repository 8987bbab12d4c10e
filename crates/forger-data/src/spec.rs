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
        if idx::STANDARD_FILES
            .iter()
            .any(|stem| idx::find_file(path, stem).is_ok())
        {
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
}
