//! Raw IDX files and uncompressed NPZ members read by offset. Only the
//! header (and, for NPZ, one pass over the labels to count classes) is read
//! when a source is opened.
//!
//! Reads are positioned reads (`pread`) rather than memory maps: pages of a
//! mapped file count toward the process's resident set once touched, so an
//! epoch over a mapped file would grow the RSS to the file's size, while
//! positioned reads leave those pages in the kernel's page cache.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::Source;
use crate::limits::{array_bytes, open_regular};
use crate::npz::parse_npy_header;
use crate::{DataError, Dataset, Result};

pub(super) fn out_of_range(i: usize, len: usize) -> DataError {
    DataError::Invalid(format!(
        "index {i} is out of range for a data set of {len} images"
    ))
}

/// Reads exactly `buf.len()` bytes at `offset`.
fn read_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    #[cfg(unix)]
    let done = std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
    #[cfg(windows)]
    let done = {
        use std::os::windows::fs::FileExt;
        let mut at = 0;
        loop {
            if at == buf.len() {
                break Ok(());
            }
            match file.seek_read(&mut buf[at..], offset + at as u64) {
                Ok(0) => break Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => at += n,
                Err(e) => break Err(e),
            }
        }
    };
    done.map_err(|e| DataError::io(path, e))
}

/// One array of `uint8` stored uncompressed in a file, read by offset.
#[derive(Debug)]
struct RawArray {
    path: PathBuf,
    file: File,
    /// Where element 0 starts.
    offset: u64,
    shape: Vec<usize>,
}

impl RawArray {
    fn count(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    fn item_len(&self) -> usize {
        self.shape[1..].iter().product()
    }

    fn read_item(&self, i: usize, out: &mut [u8]) -> Result<()> {
        let at = self.offset + (i * self.item_len()) as u64;
        read_at(&self.file, &self.path, out, at)
    }

    /// The largest byte in the array, read in bounded chunks.
    fn max_byte(&self) -> Result<u8> {
        let total = self.count() * self.item_len();
        let mut chunk = vec![0u8; total.min(1 << 16)];
        let (mut at, mut max) = (0, 0u8);
        while at < total {
            let n = chunk.len().min(total - at);
            read_at(
                &self.file,
                &self.path,
                &mut chunk[..n],
                self.offset + at as u64,
            )?;
            max = chunk[..n].iter().copied().fold(max, u8::max);
            at += n;
        }
        Ok(max)
    }
}

/// A raw (uncompressed) IDX image file and its label file, read by offset.
#[derive(Debug)]
pub struct IdxSource {
    images: RawArray,
    labels: RawArray,
    classes: Vec<String>,
}

impl IdxSource {
    /// Opens an image file and a label file. Both must be raw: gzip members
    /// cannot be read by offset (decompress them with `gunzip` first).
    pub fn open(images: &Path, labels: &Path) -> Result<Self> {
        let images = open_idx(images, 0x0803, 3)?;
        let labels = open_idx(labels, 0x0801, 1)?;
        if images.count() != labels.count() {
            return Err(DataError::format(
                &labels.path,
                format!(
                    "{} labels, but {} holds {} images",
                    labels.count(),
                    images.path.display(),
                    images.count()
                ),
            ));
        }
        Ok(Self {
            images,
            labels,
            classes: Dataset::numbered_classes(10),
        })
    }
}

fn open_idx(path: &Path, magic: u32, ndims: usize) -> Result<RawArray> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let mut head = vec![0u8; 4 + 4 * ndims];
    if len < head.len() as u64 {
        return Err(DataError::format(path, "truncated file: no IDX header"));
    }
    read_at(&file, path, &mut head, 0)?;
    if head[..2] == [0x1f, 0x8b] {
        return Err(DataError::format(
            path,
            "gzip-compressed: streaming reads IDX files by offset, so they must be raw (gunzip them)",
        ));
    }
    let word = |k: usize| u32::from_be_bytes([head[k], head[k + 1], head[k + 2], head[k + 3]]);
    if word(0) != magic {
        return Err(DataError::format(
            path,
            format!(
                "wrong magic number {:#010x}: expected {magic:#010x}",
                word(0)
            ),
        ));
    }
    let shape: Vec<usize> = (0..ndims).map(|d| word(4 + 4 * d) as usize).collect();
    let need = head.len() as u64 + array_bytes(path, &shape)?;
    if need != len {
        return Err(DataError::format(
            path,
            format!("dimensions {shape:?} need {need} bytes, but the file has {len}"),
        ));
    }
    Ok(RawArray {
        path: path.to_path_buf(),
        file,
        offset: head.len() as u64,
        shape,
    })
}

impl Source for IdxSource {
    fn len(&self) -> usize {
        self.images.count()
    }
    fn image_shape(&self) -> [usize; 3] {
        [1, self.images.shape[1], self.images.shape[2]]
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<Option<u32>> {
        read_labelled(&self.images, &self.labels, self.classes.len(), i, out).map(Some)
    }
}

fn read_labelled(
    images: &RawArray,
    labels: &RawArray,
    classes: usize,
    i: usize,
    out: &mut [u8],
) -> Result<u32> {
    if i >= images.count() {
        return Err(out_of_range(i, images.count()));
    }
    images.read_item(i, out)?;
    let mut label = [0u8];
    labels.read_item(i, &mut label)?;
    if usize::from(label[0]) >= classes {
        return Err(DataError::format(
            &labels.path,
            format!(
                "label {} at index {i} is out of range: expected 0 to {}",
                label[0],
                classes - 1
            ),
        ));
    }
    Ok(u32::from(label[0]))
}

/// One split of a MedMNIST `.npz` file, read by offset. The members must be
/// stored uncompressed (`numpy.savez`); deflated members (`savez_compressed`,
/// as the official MedMNIST files) cannot be read by offset.
#[derive(Debug)]
pub struct NpzSource {
    images: RawArray,
    labels: RawArray,
    /// The images are `(N, H, W, 3)`, channel-last on disk.
    rgb: bool,
    classes: Vec<String>,
    scratch_len: usize,
}

impl NpzSource {
    /// Opens split `split` (`train`, `val` or `test`). The classes are
    /// counted from this split's labels.
    pub fn open(path: &Path, split: &str) -> Result<Self> {
        let images = npz_member(path, &format!("{split}_images"))?;
        let labels = npz_member(path, &format!("{split}_labels"))?;
        let rgb = match images.shape[..] {
            [_, _, _] => false,
            [_, _, _, 3] => true,
            ref s => {
                return Err(DataError::format(
                    path,
                    format!("{split}_images has shape {s:?}: expected (N, H, W) or (N, H, W, 3)"),
                ))
            }
        };
        let n = images.count();
        if !matches!(labels.shape[..], [m] | [m, 1] if m == n) {
            return Err(DataError::format(
                path,
                format!(
                    "{split}_labels has shape {:?}: expected ({n},) or ({n}, 1)",
                    labels.shape
                ),
            ));
        }
        let classes = Dataset::numbered_classes(usize::from(labels.max_byte()?) + 1);
        let scratch_len = images.item_len();
        Ok(Self {
            images,
            labels,
            rgb,
            classes,
            scratch_len,
        })
    }
}

fn npz_member(path: &Path, name: &str) -> Result<RawArray> {
    let file = open_regular(path)?;
    let mut archive = zip::ZipArchive::new(&file)
        .map_err(|e| DataError::format(path, format!("not an NPZ (zip) archive: {e}")))?;
    let member = archive
        .by_name(&format!("{name}.npy"))
        .map_err(|_| DataError::format(path, format!("missing array `{name}`")))?;
    if member.compression() != zip::CompressionMethod::Stored {
        return Err(DataError::format(
            path,
            format!(
                "array `{name}` is compressed ({}): streaming reads stored members by offset; \
                 re-save with numpy.savez, or load the file into memory instead",
                member.compression()
            ),
        ));
    }
    let start = member.data_start().ok_or_else(|| {
        DataError::format(
            path,
            format!("array `{name}`: the archive gives no data offset"),
        )
    })?;
    let size = member.size();
    drop(member);
    drop(archive);
    let mut head = vec![0u8; size.min(4096) as usize];
    read_at(&file, path, &mut head, start)?;
    let (shape, header_len) = parse_npy_header(&head)
        .map_err(|what| DataError::format(path, format!("array `{name}`: {what}")))?;
    let count = array_bytes(path, &shape)?;
    if (header_len as u64).checked_add(count) != Some(size) {
        return Err(DataError::format(
            path,
            format!("array `{name}`: shape {shape:?} does not match its {size} stored bytes"),
        ));
    }
    if shape.is_empty() {
        return Err(DataError::format(
            path,
            format!("array `{name}` is a scalar"),
        ));
    }
    Ok(RawArray {
        path: path.to_path_buf(),
        file,
        offset: start + header_len as u64,
        shape,
    })
}

impl Source for NpzSource {
    fn len(&self) -> usize {
        self.images.count()
    }
    fn image_shape(&self) -> [usize; 3] {
        let s = &self.images.shape;
        [if self.rgb { 3 } else { 1 }, s[1], s[2]]
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<Option<u32>> {
        if !self.rgb {
            return read_labelled(&self.images, &self.labels, self.classes.len(), i, out).map(Some);
        }
        let mut hwc = vec![0u8; self.scratch_len];
        let label = read_labelled(&self.images, &self.labels, self.classes.len(), i, &mut hwc)?;
        let plane = hwc.len() / 3;
        for (p, px) in hwc.chunks_exact(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                out[c * plane + p] = v;
            }
        }
        Ok(Some(label))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn idx(path: &Path, magic: u32, dims: &[u32], data: &[u8]) {
        let mut out = magic.to_be_bytes().to_vec();
        dims.iter()
            .for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
        out.extend_from_slice(data);
        std::fs::write(path, out).unwrap();
    }

    fn npy(shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn npz(path: &Path, method: zip::CompressionMethod, rgb: bool) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let (shape, n) = if rgb {
            ("(3, 1, 2, 3)", 18)
        } else {
            ("(3, 2, 3)", 18)
        };
        for split in ["train", "val", "test"] {
            zip.start_file(format!("{split}_images.npy"), options)
                .unwrap();
            zip.write_all(&npy(shape, &(0..n).collect::<Vec<u8>>()))
                .unwrap();
            zip.start_file(format!("{split}_labels.npy"), options)
                .unwrap();
            zip.write_all(&npy("(3, 1)", &[0, 2, 1])).unwrap();
        }
        zip.finish().unwrap();
    }

    fn all(source: &dyn Source) -> (Vec<u8>, Vec<u32>) {
        let mut out = vec![0u8; source.image_shape().iter().product()];
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for i in 0..source.len() {
            labels.push(source.read(i, &mut out).unwrap().unwrap());
            pixels.extend_from_slice(&out);
        }
        (pixels, labels)
    }

    #[test]
    fn idx_source_reads_what_the_in_memory_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (x, y) = (dir.path().join("x"), dir.path().join("y"));
        idx(&x, 0x803, &[3, 2, 2], &(0..12).collect::<Vec<u8>>());
        idx(&y, 0x801, &[3], &[4, 0, 9]);
        let source = IdxSource::open(&x, &y).unwrap();
        let memory = crate::idx::read_pair(&x, &y).unwrap();
        assert_eq!((source.len(), source.image_shape()), (3, [1, 2, 2]));
        assert_eq!(all(&source), all(&memory));
        assert!(source.read(3, &mut [0; 4]).is_err());

        idx(&y, 0x801, &[3], &[4, 0, 10]);
        let err = IdxSource::open(&x, &y)
            .unwrap()
            .read(2, &mut [0; 4])
            .unwrap_err();
        assert!(err.to_string().contains("label 10 at index 2"), "{err}");
        idx(&y, 0x801, &[2], &[4, 0]);
        let err = IdxSource::open(&x, &y).unwrap_err().to_string();
        assert!(
            err.contains("2 labels") && err.contains("3 images"),
            "{err}"
        );
        let gz = dir.path().join("x.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let err = IdxSource::open(&gz, &y).unwrap_err().to_string();
        assert!(err.contains("x.gz") && err.contains("gunzip"), "{err}");
        idx(&x, 0x803, &[4, 2, 2], &[0; 12]);
        let err = IdxSource::open(&x, &y).unwrap_err().to_string();
        assert!(err.contains("need 32 bytes"), "{err}");
    }

    #[test]
    fn npz_source_reads_stored_members_and_refuses_deflated_ones() {
        let dir = tempfile::tempdir().unwrap();
        for rgb in [false, true] {
            let path = dir.path().join(format!("s{rgb}.npz"));
            npz(&path, zip::CompressionMethod::Stored, rgb);
            let source = NpzSource::open(&path, "val").unwrap();
            let memory = crate::npz::load(&path).unwrap().val;
            assert_eq!(source.image_shape(), memory.image_shape());
            assert_eq!(source.classes(), memory.classes());
            assert_eq!(all(&source), all(&memory));
        }
        let path = dir.path().join("deflated.npz");
        npz(&path, zip::CompressionMethod::Deflated, false);
        let err = NpzSource::open(&path, "train").unwrap_err().to_string();
        assert!(
            err.contains("deflated.npz") && err.contains("compressed"),
            "{err}"
        );
        let err = NpzSource::open(&path, "extra").unwrap_err().to_string();
        assert!(err.contains("missing array `extra_images`"), "{err}");
    }
}
