//! Turning downloaded files into forger's on-disk formats. Each result is
//! built beside its destination and renamed into place only once it is
//! complete and reads back, so a destination that exists is always whole.

use std::path::{Path, PathBuf};

use crate::catalog::{DataSet, Layout, Split};
use crate::error::{HubError, Result};
use crate::parquet_images;

/// Where `set` lands inside the cache: a folder, or an `.npz` file.
pub fn destination(cache: &Path, set: &DataSet) -> PathBuf {
    match set.layout {
        Layout::Npz => cache.join(format!("{}.npz", set.name)),
        Layout::ParquetIdx { .. } | Layout::ParquetFolder { .. } => cache.join(set.name),
    }
}

/// Builds `dest` from the downloaded `files` (in catalog order).
pub fn place(set: &DataSet, files: &[PathBuf], dest: &Path) -> Result<()> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("data");
    let partial = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    remove(&partial)?;
    let built = build(set, files, &partial);
    if let Err(e) = built {
        let _ = remove(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, dest).map_err(|source| HubError::Move {
        from: partial.clone(),
        to: dest.to_path_buf(),
        source,
    })
}

fn build(set: &DataSet, files: &[PathBuf], partial: &Path) -> Result<()> {
    match set.layout {
        Layout::Npz => {
            let [file] = files else {
                return Err(HubError::Catalog {
                    name: set.name,
                    problem: format!("an .npz data set has one file, not {}", files.len()),
                });
            };
            std::fs::copy(file, partial).map_err(|e| HubError::io("copying", file, e))?;
            forger_data::npz::load(partial).map_err(|source| HubError::ReadBack {
                path: file.clone(),
                expected: "a MedMNIST-style .npz",
                source,
            })?;
        }
        Layout::ParquetIdx { label } => {
            let shards = shards(set, files)?;
            if shards.iter().any(|(s, _)| *s == Split::Validation) {
                return Err(HubError::Catalog {
                    name: set.name,
                    problem: "IDX files hold a train and a test split only".into(),
                });
            }
            create_dir(partial)?;
            let [train, test] = parquet_images::write_idx(&shards, label, partial)?;
            tracing::info!("converted {train} training and {test} test images to IDX");
            forger_data::idx::load_dir(partial).map_err(|source| HubError::ReadBack {
                path: partial.to_path_buf(),
                expected: "the four MNIST IDX files",
                source,
            })?;
        }
        Layout::ParquetFolder { label, classes } => {
            let shards = shards(set, files)?;
            create_dir(partial)?;
            let count = parquet_images::write_folder(&shards, label, classes, partial)?;
            tracing::info!("wrote {count} images");
            check_folder(partial)?;
        }
    }
    Ok(())
}

/// The downloaded parquet shards with their splits.
fn shards(set: &DataSet, files: &[PathBuf]) -> Result<Vec<(Split, PathBuf)>> {
    set.files
        .iter()
        .zip(files)
        .map(|(remote, path)| {
            let split = remote.split.ok_or_else(|| HubError::Catalog {
                name: set.name,
                problem: format!("the parquet shard {} names no split", remote.path),
            })?;
            Ok((split, path.clone()))
        })
        .collect()
}

/// Checks that forger's loader takes the image folder at `root`: one tree,
/// or one per split folder (without decoding the images again).
fn check_folder(root: &Path) -> Result<()> {
    let splits: Vec<PathBuf> = [Split::Train, Split::Validation, Split::Test]
        .iter()
        .map(|s| root.join(s.folder()))
        .filter(|p| p.is_dir())
        .collect();
    let trees = if splits.is_empty() {
        vec![root.to_path_buf()]
    } else {
        splits
    };
    for tree in trees {
        forger_data::image_folder::FolderIndex::discover(&tree).map_err(|source| {
            HubError::ReadBack {
                path: tree.clone(),
                expected: "an image folder (one folder per class)",
                source,
            }
        })?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| HubError::io("creating", path, e))
}

fn remove(path: &Path) -> Result<()> {
    let gone = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match gone {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(HubError::io("removing", path, e))
        }
        _ => Ok(()),
    }
}
