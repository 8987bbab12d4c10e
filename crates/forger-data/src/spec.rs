use std::path::Path;

use crate::{idx, image_folder, npz, DataError, Result, Splits};

/// Loads a data set from a path, by what it is:
/// - a MedMNIST `.npz` file;
/// - a folder holding the IDX files of MNIST or Fashion-MNIST (recognised by
///   its `train-images-idx3-ubyte[.gz]`);
/// - any other folder, as images ([`image_folder::load_splits`]): a Kaggle
///   layout (`training_set/`, `test_set/`) gives its two trees; a single
///   class-per-folder tree is split, stratified, into train and a 20% test
///   part with a fixed seed. Images are RGB 64x64; `val` is empty.
pub fn load_spec(path: &Path) -> Result<Splits> {
    if path.is_dir() {
        if idx::find_file(path, idx::STANDARD_FILES[0]).is_ok() {
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
