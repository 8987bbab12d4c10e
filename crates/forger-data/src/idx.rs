//! IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! The header (magic number and dimensions, multiplied with checked
//! arithmetic) is checked against the file's length before the pixels are
//! allocated, so a corrupt header cannot ask for gigabytes. A gzip file
//! (one member or several) is first streamed through once, checking each
//! member's CRC and length and counting its bytes, and is decoded into
//! memory only when it holds exactly what its header claims.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::limits::{array_bytes, open_regular};
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

/// The bytes of an IDX file of unsigned bytes: the magic number (`0x803`
/// for images, `0x801` for labels), the dimensions, then `data`.
pub fn encode(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

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
    let mut file = open_regular(path)?;
    let mut head = [0u8; 2];
    let gzipped = file.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if !gzipped {
        let file_len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::new(file);
        let dims = read_header(&mut reader, path, magic, ndims)?;
        let payload = array_bytes(path, &dims)?;
        let expected = 4 + 4 * ndims as u64 + payload;
        if expected != file_len {
            return Err(size_mismatch(path, &dims, expected, file_len, "file has"));
        }
        let data = read_payload(&mut reader, path, payload)?;
        return Ok((data, dims));
    }
    // Gzip: a first pass checks every member's CRC and length and counts
    // the bytes, so that nothing is allocated for what the header claims
    // until the stream is known to hold exactly that.
    let gunzip = |file: File| flate2::read::MultiGzDecoder::new(BufReader::new(file));
    let mut reader = gunzip(file);
    let dims = read_header(&mut reader, path, magic, ndims)?;
    let payload = array_bytes(path, &dims)?;
    let held = std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| gzip_error(path, e))?;
    if held != payload {
        return Err(size_mismatch(
            path,
            &dims,
            payload,
            held,
            "uncompressed data holds",
        ));
    }
    let mut reader = gunzip(open_regular(path)?);
    read_header(&mut reader, path, magic, ndims)?;
    let data = read_payload(&mut reader, path, payload)?;
    Ok((data, dims))
}

/// The error for a file whose `dims` need `need` bytes where it `has`.
fn size_mismatch(path: &Path, dims: &[usize], need: u64, has: u64, holder: &str) -> DataError {
    let what = if has < need {
        "truncated file"
    } else {
        "trailing data"
    };
    DataError::format(
        path,
        format!("{what}: dimensions {dims:?} need {need} bytes, but the {holder} {has}"),
    )
}

/// Reads and checks the magic number and the `ndims` dimensions.
fn read_header(
    reader: &mut impl Read,
    path: &Path,
    magic: u32,
    ndims: usize,
) -> Result<Vec<usize>> {
    let mut word = [0u8; 4];
    let mut next = |what: &str| -> Result<u32> {
        reader.read_exact(&mut word).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                DataError::format(path, format!("truncated file: {what}"))
            }
            _ => gzip_error(path, e),
        })?;
        Ok(u32::from_be_bytes(word))
    };
    let found = next("no IDX header")?;
    if found != magic {
        return Err(DataError::format(
            path,
            format!(
                "wrong magic number {found:#010x}: expected {magic:#010x} (IDX {} of unsigned bytes)",
                if ndims == 1 { "labels" } else { "images" }
            ),
        ));
    }
    (0..ndims)
        .map(|d| Ok(next(&format!("header ends before dimension {d}"))? as usize))
        .collect()
}

/// Reads the `len` data bytes that follow the header.
fn read_payload(reader: &mut impl Read, path: &Path, len: u64) -> Result<Vec<u8>> {
    let mut data = vec![0u8; len as usize];
    reader.read_exact(&mut data).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            DataError::format(path, format!("truncated file: expected {len} data bytes"))
        }
        _ => gzip_error(path, e),
    })?;
    Ok(data)
}

/// A read error of a (gzip) stream, worded for the user.
fn gzip_error(path: &Path, e: std::io::Error) -> DataError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            DataError::format(path, "truncated gzip stream: it ends before its trailer")
        }
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            DataError::format(path, format!("corrupt gzip data: {e}"))
        }
        _ => DataError::io(path, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
        let bytes = encode(IMAGES_MAGIC, &[2, 2, 3], &(0..12).collect::<Vec<_>>());
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
        let p = write(dir.path(), "labels", &encode(LABELS_MAGIC, &[1], &[3]));
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
        // A header that claims a million images must not allocate them.
        let huge = encode(IMAGES_MAGIC, &[1_000_000, 28, 28], &[0; 10]);
        let err = read_images(&write(dir.path(), "huge", &huge))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated file"), "{err}");
        let err = read_images(&write(dir.path(), "huge.gz", &gzip(&huge)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated file"), "{err}");
        let mut cut = gzip(&encode(IMAGES_MAGIC, &[1, 2, 2], &[1, 2, 3, 4]));
        cut.truncate(cut.len() - 12);
        assert!(read_images(&write(dir.path(), "cut.gz", &cut)).is_err());
        let long = encode(LABELS_MAGIC, &[1], &[1, 2]);
        let err = read_labels(&write(dir.path(), "long", &long))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailing data"), "{err}");
        let err = read_labels(&write(dir.path(), "empty", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    /// Issue 22, item 1: dimensions whose product wraps past 2^64 (to 0)
    /// are refused, raw and gzipped, instead of passing the size check.
    #[test]
    fn dimensions_that_overflow_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wraps = encode(IMAGES_MAGIC, &[4, 1 << 31, 1 << 31], &[]);
        for (name, bytes) in [("raw", wraps.clone()), ("raw.gz", gzip(&wraps))] {
            let err = read_images(&write(dir.path(), name, &bytes))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(name) && err.contains("claim more than"),
                "{err}"
            );
        }
    }

    /// Issue 22, item 2: a 31-byte gzip claiming 983,040 x 256 x 256, and a
    /// header whose claim matches the stream's length only modulo 2^32
    /// (ISIZE), are refused before anything is allocated.
    #[test]
    fn gzip_claims_are_checked_against_the_whole_stream() {
        let dir = tempfile::tempdir().unwrap();
        let claim = gzip(&encode(IMAGES_MAGIC, &[983_040, 256, 256], &[]));
        let err = read_images(&write(dir.path(), "claim.gz", &claim))
            .unwrap_err()
            .to_string();
        assert!(err.contains("claim more than"), "{err}");
        // 2^32 + 8 bytes claimed, 8 held: ISIZE agrees modulo 2^32.
        let modulo = gzip(&encode(IMAGES_MAGIC, &[(1 << 29) + 1, 1, 8], &[7; 8]));
        let err = read_images(&write(dir.path(), "modulo.gz", &modulo))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated file") && err.contains("holds 8"),
            "{err}"
        );
    }

    /// Issue 22, items 3 and 4: a flipped CRC or data byte is an error, not
    /// pixels; a corrupt header, a cut stream and a multi-member file each
    /// read as what they are.
    #[test]
    fn gzip_integrity_is_checked_and_errors_say_what_broke() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(IMAGES_MAGIC, &[3, 4, 4], &(0..48).collect::<Vec<_>>());
        let good = gzip(&bytes);
        let mut crc = good.clone();
        let at = crc.len() - 8;
        crc[at] ^= 1;
        let err = read_images(&write(dir.path(), "crc.gz", &crc))
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt gzip data"), "{err}");
        let mut data = good.clone();
        data[12] ^= 0x40;
        assert!(read_images(&write(dir.path(), "data.gz", &data)).is_err());
        let mut header = good.clone();
        header[3] = 0xE0; // reserved flag bits
        let err = read_images(&write(dir.path(), "header.gz", &header))
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt gzip data"), "{err}");
        let cut = &good[..good.len() - 6];
        let err = read_images(&write(dir.path(), "cut.gz", cut))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated gzip stream"), "{err}");
        let multi = [gzip(&bytes[..20]), gzip(&bytes[20..])].concat();
        let (px, dims) = read_images(&write(dir.path(), "multi.gz", &multi)).unwrap();
        assert_eq!((dims, px[47]), ([3, 4, 4], 47));
    }

    #[test]
    fn count_mismatch_and_label_range_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let images = write(dir.path(), "x", &encode(IMAGES_MAGIC, &[2, 1, 1], &[0, 1]));
        let one = write(dir.path(), "y1", &encode(LABELS_MAGIC, &[1], &[0]));
        let err = read_pair(&images, &one).unwrap_err().to_string();
        assert!(
            err.contains("1 labels") && err.contains("2 images"),
            "{err}"
        );
        let bad = write(dir.path(), "y2", &encode(LABELS_MAGIC, &[2], &[0, 10]));
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
