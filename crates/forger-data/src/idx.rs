//! IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! The header (magic number and dimensions) is checked against the file's
//! length (or, for gzip, the uncompressed length in its trailer) before the
//! pixels are allocated, so a corrupt header cannot ask for gigabytes.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, Result, Splits};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST and Fashion-MNIST both have ten classes.
const IDX_CLASSES: usize = 10;

/// The standard file stems of the four MNIST files: train images, train
/// labels, test images, test labels. Each may carry a `.gz` suffix.
pub const STANDARD_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Reads an IDX image file: returns the pixels and `[count, rows, cols]`.
pub fn read_images(path: &Path) -> Result<(Vec<u8>, [usize; 3])> {
    let (data, dims) = read_idx(path, IMAGES_MAGIC, 3)?;
    Ok((data, [dims[0], dims[1], dims[2]]))
}

/// Reads an IDX label file.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    Ok(read_idx(path, LABELS_MAGIC, 1)?.0)
}

/// Reads an image file and its label file into a [`Dataset`] of ten classes.
pub fn read_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let (pixels, [n, rows, cols]) = read_images(images)?;
    let raw_labels = read_labels(labels)?;
    if raw_labels.len() != n {
        return Err(DataError::format(
            labels,
            format!(
                "{} labels, but {} holds {n} images",
                raw_labels.len(),
                images.display()
            ),
        ));
    }
    if let Some((i, &l)) = raw_labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= IDX_CLASSES)
    {
        return Err(DataError::format(
            labels,
            format!(
                "label {l} at index {i} is out of range: expected 0 to {}",
                IDX_CLASSES - 1
            ),
        ));
    }
    let labels = raw_labels.into_iter().map(u32::from).collect();
    Dataset::new(
        pixels,
        labels,
        [1, rows, cols],
        Dataset::numbered_classes(IDX_CLASSES),
    )
}

/// Loads a folder holding the four standard files (see [`STANDARD_FILES`]).
/// The returned `val` split is empty: IDX sources have none.
pub fn load_dir(dir: &Path) -> Result<Splits> {
    let [train_x, train_y, test_x, test_y] = STANDARD_FILES.map(|stem| find_file(dir, stem));
    let train = read_pair(&train_x?, &train_y?)?;
    let test = read_pair(&test_x?, &test_y?)?;
    let val = train.subset(&[])?;
    Ok(Splits { train, val, test })
}

/// Finds `stem` or `stem.gz` in `dir`.
pub fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(DataError::format(
            dir,
            format!("missing {stem} (or {stem}.gz): an IDX folder holds the four MNIST files"),
        ))
    }
}

fn read_idx(path: &Path, magic: u32, ndims: usize) -> Result<(Vec<u8>, Vec<usize>)> {
    let io = |e| DataError::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut head = [0u8; 2];
    let gzipped = file.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b];
    // For gzip the trailer's ISIZE field holds the uncompressed length mod 2^32.
    let stored_len = if gzipped {
        if file_len < 18 {
            return Err(DataError::format(path, "truncated gzip file"));
        }
        file.seek(SeekFrom::End(-4)).map_err(io)?;
        let mut isize = [0u8; 4];
        file.read_exact(&mut isize).map_err(io)?;
        u64::from(u32::from_le_bytes(isize))
    } else {
        file_len
    };
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };

    let truncated = |what: &str| DataError::format(path, format!("truncated file: {what}"));
    let mut word = [0u8; 4];
    reader
        .read_exact(&mut word)
        .map_err(|_| truncated("no IDX header"))?;
    let found = u32::from_be_bytes(word);
    if found != magic {
        return Err(DataError::format(
            path,
            format!(
                "wrong magic number {found:#010x}: expected {magic:#010x} (IDX {} of unsigned bytes)",
                if ndims == 1 { "labels" } else { "images" }
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    for d in 0..ndims {
        reader
            .read_exact(&mut word)
            .map_err(|_| truncated(&format!("header ends before dimension {d}")))?;
        dims.push(u32::from_be_bytes(word) as usize);
    }
    let payload: u64 = dims.iter().map(|&d| d as u64).product();
    let expected = 4 + 4 * ndims as u64 + payload;
    let matches = if gzipped {
        expected % (1 << 32) == stored_len
    } else {
        expected == stored_len
    };
    if !matches {
        let kind = if gzipped { "uncompressed " } else { "" };
        let what = if stored_len < expected {
            "truncated file"
        } else {
            "trailing data"
        };
        return Err(DataError::format(
            path,
            format!(
                "{what}: dimensions {dims:?} need {expected} bytes, but the {kind}file has {stored_len}"
            ),
        ));
    }
    let mut data = vec![0u8; payload as usize];
    reader.read_exact(&mut data).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => truncated(&format!("expected {payload} data bytes")),
        _ => DataError::format(path, format!("corrupt data: {e}")),
    })?;
    Ok((data, dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_raw_and_gzip_images() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = idx_bytes(IMAGES_MAGIC, &[2, 2, 3], &(0..12).collect::<Vec<_>>());
        let raw = write(dir.path(), "raw", &bytes);
        let gz = write(dir.path(), "gz", &gzip(&bytes));
        for p in [raw, gz] {
            let (px, dims) = read_images(&p).unwrap();
            assert_eq!(dims, [2, 2, 3]);
            assert_eq!(px[11], 11);
        }
    }

    #[test]
    fn wrong_magic_names_file_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labels", &idx_bytes(LABELS_MAGIC, &[1], &[3]));
        let err = read_images(&p).unwrap_err().to_string();
        assert!(
            err.contains("labels") && err.contains("wrong magic number"),
            "{err}"
        );
        assert!(err.contains("0x00000803"), "{err}");
    }

    #[test]
    fn truncated_files_are_caught_before_allocation() {
        let dir = tempfile::tempdir().unwrap();
        // A header that claims 4 billion images must not allocate them.
        let huge = idx_bytes(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[0; 10]);
        let err = read_images(&write(dir.path(), "huge", &huge))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated file"), "{err}");
        let err = read_images(&write(dir.path(), "huge.gz", &gzip(&huge)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated file"), "{err}");
        let mut cut = gzip(&idx_bytes(IMAGES_MAGIC, &[1, 2, 2], &[1, 2, 3, 4]));
        cut.truncate(cut.len() - 12);
        assert!(read_images(&write(dir.path(), "cut.gz", &cut)).is_err());
        let long = idx_bytes(LABELS_MAGIC, &[1], &[1, 2]);
        let err = read_labels(&write(dir.path(), "long", &long))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailing data"), "{err}");
        let err = read_labels(&write(dir.path(), "empty", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn count_mismatch_and_label_range_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let images = write(
            dir.path(),
            "x",
            &idx_bytes(IMAGES_MAGIC, &[2, 1, 1], &[0, 1]),
        );
        let one = write(dir.path(), "y1", &idx_bytes(LABELS_MAGIC, &[1], &[0]));
        let err = read_pair(&images, &one).unwrap_err().to_string();
        assert!(
            err.contains("1 labels") && err.contains("2 images"),
            "{err}"
        );
        let bad = write(dir.path(), "y2", &idx_bytes(LABELS_MAGIC, &[2], &[0, 10]));
        let err = read_pair(&images, &bad).unwrap_err().to_string();
        assert!(err.contains("label 10 at index 1 is out of range"), "{err}");
    }

    #[test]
    fn missing_file_in_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
    }
}
