//! Turning downloaded files into forger's on-disk formats. Each result is
//! built beside its destination and renamed into place only once it is
//! complete and reads back, so a destination that exists is always whole.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::catalog::{DataSet, Layout, Split};
use super::parquet_images;

/// Where `set` lands inside the cache: a folder, or an `.npz` file.
pub fn destination(cache: &Path, set: &DataSet) -> PathBuf {
    match set.layout {
        Layout::Npz => cache.join(format!("{}.npz", set.name)),
        Layout::ParquetIdx { .. } | Layout::ParquetFolder { .. } => cache.join(set.name),
    }
}

/// Builds `dest` from the downloaded `files` (in catalog order).
pub fn place(set: &DataSet, files: &[PathBuf], dest: &Path) -> anyhow::Result<()> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("data");
    let partial = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    remove(&partial)?;
    let built = build(set, files, &partial);
    if let Err(e) = built {
        let _ = remove(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, dest)
        .with_context(|| format!("moving {} to {}", partial.display(), dest.display()))
}

fn build(set: &DataSet, files: &[PathBuf], partial: &Path) -> anyhow::Result<()> {
    match set.layout {
        Layout::Npz => {
            let file = files.first().context("no file downloaded")?;
            std::fs::copy(file, partial).with_context(|| format!("copying {}", file.display()))?;
            forger_data::npz::load(partial)
                .context("the downloaded file is not a MedMNIST-style .npz")?;
        }
        Layout::ParquetIdx { label } => {
            let shards = shards(set, files)?;
            if shards.iter().any(|(s, _)| *s == Split::Validation) {
                bail!("{}: IDX files hold a train and a test split only", set.name);
            }
            std::fs::create_dir_all(partial)?;
            let [train, test] = parquet_images::write_idx(&shards, label, partial)?;
            tracing::info!("converted {train} training and {test} test images to IDX");
            forger_data::idx::load_dir(partial)
                .context("the converted IDX files do not read back")?;
        }
        Layout::ParquetFolder { label, classes } => {
            let shards = shards(set, files)?;
            std::fs::create_dir_all(partial)?;
            let count = parquet_images::write_folder(&shards, label, classes, partial)?;
            tracing::info!("wrote {count} images");
            check_folder(partial)?;
        }
    }
    Ok(())
}

/// The downloaded parquet shards with their splits.
fn shards(set: &DataSet, files: &[PathBuf]) -> anyhow::Result<Vec<(Split, PathBuf)>> {
    set.files
        .iter()
        .zip(files)
        .map(|(remote, path)| {
            let split = remote
                .split
                .with_context(|| format!("{}: the catalog names no split", remote.path))?;
            Ok((split, path.clone()))
        })
        .collect()
}

/// Checks that forger's loader takes the image folder at `root`: one tree,
/// or one per split folder (without decoding the images again).
fn check_folder(root: &Path) -> anyhow::Result<()> {
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
        forger_data::image_folder::FolderIndex::discover(&tree)
            .context("the written image folder does not read back")?;
    }
    Ok(())
}

fn remove(path: &Path) -> anyhow::Result<()> {
    let gone = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match gone {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}
