//! Turning downloaded files into forger's on-disk formats. Each result is
//! built beside its destination and renamed into place only once it is
//! complete and reads back, so a destination that exists is always whole.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::catalog::{DataSet, Layout};

/// Where `set` lands inside the cache: a folder, or an `.npz` file.
pub fn destination(cache: &Path, set: &DataSet) -> PathBuf {
    match set.layout {
        Layout::Npz => cache.join(format!("{}.npz", set.name)),
        Layout::Idx | Layout::ZipFolder { .. } => cache.join(set.name),
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
        Layout::Idx => {
            std::fs::create_dir_all(partial)?;
            for (file, remote) in files.iter().zip(set.files) {
                let name = super::hub::base_name(remote);
                std::fs::copy(file, partial.join(name))
                    .with_context(|| format!("copying {}", file.display()))?;
            }
            forger_data::idx::load_dir(partial)
                .context("the downloaded files are not the four MNIST-style IDX files")?;
        }
        Layout::Npz => {
            let file = files.first().context("no file downloaded")?;
            std::fs::copy(file, partial).with_context(|| format!("copying {}", file.display()))?;
            forger_data::npz::load(partial)
                .context("the downloaded file is not a MedMNIST-style .npz")?;
        }
        Layout::ZipFolder { strip } => {
            let file = files.first().context("no file downloaded")?;
            let count = extract_images(file, strip, partial)?;
            tracing::info!("extracted {count} images");
        }
    }
    Ok(())
}

/// Extracts the images (JPEG, PNG) below `strip` in the zip at `zip_path`
/// into `out`, keeping their relative paths; returns how many.
fn extract_images(zip_path: &Path, strip: &str, out: &Path) -> anyhow::Result<usize> {
    let file =
        std::fs::File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", zip_path.display()))?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(archive.len() as u64).with_message("extracting")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut count = 0;
    for i in 0..archive.len() {
        bar.set_position(i as u64);
        let mut entry = archive.by_index(i)?;
        // `enclosed_name` refuses absolute paths and `..`.
        let Some(path) = entry.enclosed_name() else {
            continue;
        };
        let Ok(relative) = path.strip_prefix(strip) else {
            continue;
        };
        let is_image = relative
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_ascii_lowercase().as_str()));
        let junk = relative
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with("__MACOSX"));
        if entry.is_dir() || !is_image || junk {
            continue;
        }
        let target = out.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut writer = std::fs::File::create(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        std::io::copy(&mut entry, &mut writer).with_context(|| {
            format!(
                "extracting {} from {}",
                relative.display(),
                zip_path.display()
            )
        })?;
        count += 1;
    }
    bar.finish_and_clear();
    if count == 0 {
        bail!("{} holds no images under `{strip}`", zip_path.display());
    }
    Ok(count)
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
