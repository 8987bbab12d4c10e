use std::path::Path;

use crate::{idx, npz, DataError, Result, Splits};

/// Loads a data set from a path, by what it is: a MedMNIST `.npz` file, or a
/// folder holding the four IDX files of MNIST or Fashion-MNIST.
pub fn load_spec(path: &Path) -> Result<Splits> {
    if path.is_dir() {
        idx::load_dir(path)
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
            "unknown data set: expected a MedMNIST .npz file or a folder of IDX files",
        ))
    }
}
