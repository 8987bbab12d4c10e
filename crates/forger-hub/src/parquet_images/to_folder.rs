//! Parquet shards as an image folder, one folder per class.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::{open_all, rows_bar, ImageTable, ParquetImageError, Result, IMAGE_COLUMN};
use crate::catalog::Split;

/// Writes the shards in `files` as an image folder in `out`: one folder per
/// class, named from the file's label names (else `classes`), inside one
/// folder per split ([`Split::folder`]) when there are several splits. Each
/// image keeps its bytes, in a file numbered by its place in its split, and
/// is decoded once to check it. Returns the number of images. (forger
/// numbers classes by folder name in byte order: for the catalog's sets,
/// cat/dog and NORMAL/PNEUMONIA, that is their label order.)
pub fn write_folder(
    files: &[(Split, PathBuf)],
    label: &str,
    classes: &[&str],
    out: &Path,
) -> Result<usize> {
    let tables = open_all(files, label)?;
    let splits: BTreeSet<&'static str> = tables.iter().map(|(s, _)| s.folder()).collect();
    let bar = rows_bar(tables.iter().map(|(_, t)| t.len()).sum(), "writing images");
    let mut written = 0;
    let mut in_split = HashMap::new();
    for (split, table) in &tables {
        let names = class_folders(table, classes)?;
        let root = if splits.len() > 1 {
            out.join(split.folder())
        } else {
            out.to_path_buf()
        };
        let counter = in_split.entry(split.folder()).or_insert(0usize);
        table.for_each(|record| {
            bar.inc(1);
            let Some(class) = names.get(record.label as usize) else {
                return Err(table.value_error(
                    record.row,
                    label,
                    &format!(
                        "label {} is out of range: the data set has {} classes ({})",
                        record.label,
                        names.len(),
                        names.join(", ")
                    ),
                ));
            };
            table.decode(&record)?;
            let ext = extension(&record.bytes).ok_or_else(|| {
                table.value_error(
                    record.row,
                    IMAGE_COLUMN,
                    "decodes, but is not a format forger's image folders take (PNG, JPEG, BMP, GIF, WebP)",
                )
            })?;
            let dir = root.join(class);
            let path = dir.join(format!("{:06}.{ext}", *counter));
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&path, &record.bytes)
            };
            write().map_err(|source| ParquetImageError::Write {
                path: path.clone(),
                source,
            })?;
            *counter += 1;
            written += 1;
            Ok(())
        })?;
    }
    bar.finish_and_clear();
    Ok(written)
}

/// Folder names for the classes of `table`: its own label names where its
/// metadata has them (they describe the data it holds), else `classes`.
fn class_folders(table: &ImageTable, classes: &[&str]) -> Result<Vec<String>> {
    let names: Vec<String> = match table.class_names() {
        Some(own) => {
            if !classes.is_empty() && own.iter().map(String::as_str).ne(classes.iter().copied()) {
                tracing::warn!(
                    "{}: the file names its classes {own:?}, the catalog {classes:?}: using the file's",
                    table.path.display()
                );
            }
            own.to_vec()
        }
        None if !classes.is_empty() => classes.iter().map(|c| c.to_string()).collect(),
        None => {
            return Err(ParquetImageError::NoClassNames {
                file: table.path.clone(),
                column: table.label.clone(),
            })
        }
    };
    // A class name becomes a folder name: no separators, no hidden folders.
    let folders: Vec<String> = names
        .iter()
        .map(|n| {
            let safe: String = n
                .trim()
                .chars()
                .map(|c| {
                    if matches!(c, '/' | '\\' | '\0') {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            safe.trim_start_matches('.').to_string()
        })
        .collect();
    let distinct: BTreeSet<&String> = folders.iter().collect();
    if distinct.len() != folders.len() || folders.iter().any(String::is_empty) {
        return Err(ParquetImageError::ClassNames {
            file: table.path.clone(),
            column: table.label.clone(),
            names,
        });
    }
    Ok(folders)
}

/// The file extension for an encoded image forger's image folders read.
fn extension(bytes: &[u8]) -> Option<&'static str> {
    use image::ImageFormat as F;
    match image::guess_format(bytes).ok()? {
        F::Png => Some("png"),
        F::Jpeg => Some("jpg"),
        F::Bmp => Some("bmp"),
        F::Gif => Some("gif"),
        F::WebP => Some("webp"),
        _ => None,
    }
}
