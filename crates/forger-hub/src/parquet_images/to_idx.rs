//! Parquet shards of small grey images as the four MNIST IDX files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{open_all, rows_bar, ImageTable, ParquetImageError, Record, Result, IMAGE_COLUMN};
use crate::catalog::Split;

/// Images of one split decoded to grey, all of one size.
struct GreySplit {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    /// `[rows, cols]` once an image has been seen.
    size: Option<[u32; 2]>,
}

/// Writes the train and test shards in `files` as the four MNIST IDX files
/// (gzip) in `out`; returns the image counts of train and test. Images are
/// decoded and converted to grey; every image must have the size of the
/// first, and labels must fit in a byte.
pub fn write_idx(files: &[(Split, PathBuf)], label: &str, out: &Path) -> Result<[usize; 2]> {
    let tables = open_all(files, label)?;
    let bar = rows_bar(
        tables.iter().map(|(_, t)| t.len()).sum(),
        "converting to IDX",
    );
    let mut size = None;
    let mut counts = [0; 2];
    for (i, (split, stem)) in [(Split::Train, "train"), (Split::Test, "t10k")]
        .into_iter()
        .enumerate()
    {
        let mut grey = GreySplit {
            pixels: Vec::new(),
            labels: Vec::new(),
            size,
        };
        for (_, table) in tables.iter().filter(|(s, _)| *s == split) {
            table.for_each(|record| {
                bar.inc(1);
                push_grey(table, &record, &mut grey)
            })?;
        }
        size = grey.size;
        let [rows, cols] = grey.size.unwrap_or([0, 0]);
        let n = grey.labels.len() as u32;
        write_gz_idx(
            &out.join(format!("{stem}-images-idx3-ubyte.gz")),
            0x803,
            &[n, rows, cols],
            &grey.pixels,
        )?;
        write_gz_idx(
            &out.join(format!("{stem}-labels-idx1-ubyte.gz")),
            0x801,
            &[n],
            &grey.labels,
        )?;
        counts[i] = grey.labels.len();
    }
    bar.finish_and_clear();
    Ok(counts)
}

fn push_grey(table: &ImageTable, record: &Record, into: &mut GreySplit) -> Result<()> {
    let grey = table.decode(record)?.to_luma8();
    let size = [grey.height(), grey.width()];
    if *into.size.get_or_insert(size) != size {
        let [h, w] = into.size.unwrap_or_default();
        return Err(table.value_error(
            record.row,
            IMAGE_COLUMN,
            &format!(
                "image is {}x{} (width x height): expected {w}x{h} like the images before it",
                size[1], size[0]
            ),
        ));
    }
    let label = u8::try_from(record.label).map_err(|_| {
        table.value_error(
            record.row,
            &table.label,
            &format!(
                "label {} does not fit an IDX label file (0 to 255)",
                record.label
            ),
        )
    })?;
    into.pixels.extend_from_slice(grey.as_raw());
    into.labels.push(label);
    Ok(())
}

fn write_gz_idx(path: &Path, magic: u32, dims: &[u32], data: &[u8]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let file = File::create(path)?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        gz.write_all(&magic.to_be_bytes())?;
        for d in dims {
            gz.write_all(&d.to_be_bytes())?;
        }
        gz.write_all(data)?;
        gz.finish()?.flush()
    };
    write().map_err(|source| ParquetImageError::Write {
        path: path.to_path_buf(),
        source,
    })
}
