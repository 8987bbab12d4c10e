//! NPZ archives of MedMNIST 2D data sets: `{train,val,test}_{images,labels}`,
//! `uint8`, images `(N, H, W)` (grey) or `(N, H, W, 3)` (RGB), labels `(N,)`
//! or `(N, 1)`.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::limits::{array_bytes, open_regular};
use crate::{DataError, Dataset, Result, Splits};

/// An array read from an `.npy` member: `uint8` data in C order and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Loads the three splits of a MedMNIST `.npz` file. Class names are the
/// label numbers; the number of classes is one more than the largest label.
pub fn load(path: &Path) -> Result<Splits> {
    let file = open_regular(path)?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| DataError::format(path, format!("not an NPZ (zip) archive: {e}")))?;
    let mut read_split = |split: &str| -> Result<(NpyArray, NpyArray)> {
        let images = read_member(&mut archive, path, &format!("{split}_images"))?;
        let labels = read_member(&mut archive, path, &format!("{split}_labels"))?;
        Ok((images, labels))
    };
    let raw = [
        read_split("train")?,
        read_split("val")?,
        read_split("test")?,
    ];
    let max_label = raw
        .iter()
        .flat_map(|(_, labels)| labels.data.iter().copied())
        .max()
        .unwrap_or(0);
    let classes = Dataset::numbered_classes(usize::from(max_label) + 1);
    let [train, val, test] = raw;
    let splits = Splits {
        train: to_dataset(path, "train", train, &classes)?,
        val: to_dataset(path, "val", val, &classes)?,
        test: to_dataset(path, "test", test, &classes)?,
    };
    for (split, data) in [("val", &splits.val), ("test", &splits.test)] {
        if data.image_shape() != splits.train.image_shape() {
            return Err(DataError::format(
                path,
                format!(
                    "{split}_images are {:?} (C, H, W), but train_images are {:?}: every split must have one image shape",
                    data.image_shape(),
                    splits.train.image_shape()
                ),
            ));
        }
    }
    Ok(splits)
}

/// The most bytes of a member read to find its `.npy` header.
const HEADER_READ: u64 = 64 << 10;

/// Reads member `name.npy`. Its header's shape is checked (with checked
/// arithmetic, against [`MAX_ARRAY_BYTES`](crate::limits::MAX_ARRAY_BYTES)
/// and against the size the archive declares) before its data is read, the
/// data is read no further than the shape needs, and the member's CRC is
/// checked at its end: a zip bomb is refused, not inflated.
fn read_member(archive: &mut zip::ZipArchive<File>, path: &Path, name: &str) -> Result<NpyArray> {
    let mut member = archive.by_name(&format!("{name}.npy")).map_err(|_| {
        DataError::format(
            path,
            format!(
                "missing array `{name}`: a MedMNIST NPZ holds {{train,val,test}}_{{images,labels}}"
            ),
        )
    })?;
    let bad = |what: String| DataError::format(path, format!("array `{name}`: {what}"));
    let corrupt = |e: std::io::Error| bad(format!("corrupt data: {e}"));
    let declared = member.size();
    let mut data = Vec::new();
    (&mut member)
        .take(declared.min(HEADER_READ))
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    let (shape, data_start) = parse_npy_header(&data).map_err(bad)?;
    let count = array_bytes(path, &shape)?;
    if data_start as u64 + count != declared {
        return Err(bad(format!(
            "shape {shape:?} needs {} bytes, but the archive declares {declared}",
            data_start as u64 + count
        )));
    }
    data.drain(..data_start);
    let rest = count - data.len() as u64;
    (&mut member)
        .take(rest)
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    if data.len() as u64 != count {
        return Err(bad(format!(
            "truncated: shape {shape:?} needs {count} bytes, the member holds {}",
            data.len()
        )));
    }
    // Reading at the end makes the zip reader check the member's CRC.
    if member.read(&mut [0u8]).map_err(corrupt)? != 0 {
        return Err(bad(format!(
            "the member holds more than the {count} bytes of shape {shape:?}"
        )));
    }
    Ok(NpyArray { shape, data })
}

fn to_dataset(
    path: &Path,
    split: &str,
    (images, labels): (NpyArray, NpyArray),
    classes: &[String],
) -> Result<Dataset> {
    let bad = |what: String| DataError::format(path, format!("{split} split: {what}"));
    let (n, h, w, c) = match images.shape[..] {
        [n, h, w] => (n, h, w, 1),
        [n, h, w, 3] => (n, h, w, 3),
        ref s => {
            return Err(bad(format!(
                "images have shape {s:?}: expected (N, H, W) or (N, H, W, 3)"
            )))
        }
    };
    match labels.shape[..] {
        [m] | [m, 1] if m == n => {}
        ref s => {
            return Err(bad(format!(
                "labels have shape {s:?}: expected ({n},) or ({n}, 1) for {n} images"
            )))
        }
    }
    let pixels = if c == 1 {
        images.data
    } else {
        hwc_to_chw(&images.data, n, h, w, c)
    };
    let labels = labels.data.into_iter().map(u32::from).collect();
    Dataset::new(pixels, labels, [c, h, w], classes.to_vec()).map_err(|e| bad(e.to_string()))
}

fn hwc_to_chw(data: &[u8], n: usize, h: usize, w: usize, c: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    let per = h * w * c;
    for img in 0..n {
        for p in 0..h * w {
            for ch in 0..c {
                out[img * per + ch * h * w + p] = data[img * per + p * c + ch];
            }
        }
    }
    out
}

/// The bytes of an `.npy` file (version 1) of `uint8` in C order: the
/// header, padded as numpy pads it, then `data`.
pub fn encode_npy(shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
    let mut header = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(" ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Parses an `.npy` file of `uint8` in C order.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    let (shape, data_start) = parse_npy_header(bytes)?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let data = &bytes[data_start..];
    if data.len() != count {
        return Err(format!(
            "shape {shape:?} needs {count} bytes but the array holds {} (truncated or corrupt)",
            data.len()
        ));
    }
    Ok(NpyArray {
        shape,
        data: data.to_vec(),
    })
}

/// Parses the header at the start of an `.npy` file of `uint8` in C order:
/// returns the shape and where the data starts.
pub(crate) fn parse_npy_header(bytes: &[u8]) -> std::result::Result<(Vec<usize>, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an .npy array (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    if !matches!(
        descr.trim_matches(|c| c == '\'' || c == '"'),
        "|u1" | "<u1" | ">u1" | "u1"
    ) {
        return Err(format!("dtype {descr}: expected uint8 ('|u1')"));
    }
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran order is not supported: expected C order".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("unreadable shape {shape_text}"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("unreadable shape ({inner})"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((shape, start + header_len))
}

/// The literal after `'key':` in a Python dict: a quoted string, a tuple, or
/// a bare word.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = match rest.chars().next()? {
        q @ ('\'' | '"') => rest[1..].find(q)? + 2,
        '(' => rest.find(')')? + 1,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shapes_of_one_and_more_dims() {
        assert_eq!(
            parse_npy(&encode_npy(&[3], &[1, 2, 3])).unwrap().shape,
            vec![3]
        );
        assert_eq!(
            parse_npy(&encode_npy(&[2, 1], &[1, 2])).unwrap().shape,
            vec![2, 1]
        );
        let err = parse_npy(&encode_npy(&[2, 2], &[1, 2, 3])).unwrap_err();
        assert!(err.contains("needs 4 bytes"), "{err}");
        let mut f4 = encode_npy(&[1], &[0]);
        let at = f4.windows(3).position(|w| w == b"|u1").unwrap();
        f4[at..at + 3].copy_from_slice(b"<f4");
        assert!(parse_npy(&f4).unwrap_err().contains("expected uint8"));
    }

    /// A MedMNIST-like archive of `members` (name, `.npy` bytes), deflated.
    fn npz(path: &Path, members: &[(&str, Vec<u8>)]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in members {
            zip.start_file(format!("{name}.npy"), options).unwrap();
            std::io::Write::write_all(&mut zip, bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn splits(images: [Vec<u8>; 3]) -> Vec<(&'static str, Vec<u8>)> {
        let [train, val, test] = images;
        vec![
            ("train_images", train),
            ("train_labels", encode_npy(&[2], &[0, 1])),
            ("val_images", val),
            ("val_labels", encode_npy(&[2], &[0, 1])),
            ("test_images", test),
            ("test_labels", encode_npy(&[2], &[0, 1])),
        ]
    }

    /// Issue 22, item 13: a zip bomb (a small header over megabytes of
    /// zeros) is refused from its header, not inflated; a flipped byte
    /// fails the member's CRC; a split of another image shape names the
    /// file and the splits.
    #[test]
    fn bombs_corruption_and_shape_mismatches_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let img = || encode_npy(&[2, 2, 2], &[1; 8]);
        let path = dir.path().join("ok.npz");
        npz(&path, &splits([img(), img(), img()]));
        assert_eq!(load(&path).unwrap().test.len(), 2);

        let mut bomb = encode_npy(&[2, 2, 2], &[1; 8]);
        bomb.resize(8 << 20, 0);
        let path = dir.path().join("bomb.npz");
        npz(&path, &splits([bomb, img(), img()]));
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("bomb.npz") && err.contains("`train_images`: shape [2, 2, 2] needs"),
            "{err}"
        );

        let path = dir.path().join("crc.npz");
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        for (name, bytes) in splits([img(), img(), img()]) {
            zip.start_file(format!("{name}.npy"), stored).unwrap();
            std::io::Write::write_all(&mut zip, &bytes).unwrap();
        }
        zip.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(8).position(|w| w == [1; 8]).unwrap();
        bytes[at] = 9;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");

        let path = dir.path().join("shapes.npz");
        npz(
            &path,
            &splits([img(), img(), encode_npy(&[2, 1, 4], &[1; 8])]),
        );
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("shapes.npz") && err.contains("test_images are [1, 1, 4]"),
            "{err}"
        );
    }

    /// MedMNIST+ files (`<set>_64.npz`, `<set>_128.npz`, `<set>_224.npz`)
    /// have the keys of the 28-px ones and load at their own size.
    #[test]
    fn medmnist_plus_files_load_at_their_size() {
        let dir = tempfile::tempdir().unwrap();
        for (name, shape) in [
            ("pneumoniamnist_128.npz", vec![2, 128, 128]),
            ("bloodmnist_64.npz", vec![2, 64, 64, 3]),
        ] {
            let len: usize = shape.iter().product();
            let pixels: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let img = || encode_npy(&shape, &pixels);
            let path = dir.path().join(name);
            npz(&path, &splits([img(), img(), img()]));
            let side = shape[1];
            let channels = if shape.len() == 4 { 3 } else { 1 };
            let config = crate::LoadConfig::default();
            let loaded = crate::load(&path, &config).unwrap().splits;
            assert_eq!(loaded.test.image_shape(), [channels, side, side], "{name}");
            assert_eq!(loaded.train.labels(), [0, 1]);
            // The last pixel of image 1, channel-first.
            let last = loaded.val.image(1)[channels * side * side - 1];
            assert_eq!(last, pixels[len - 1], "{name}");
        }
    }

    #[test]
    fn rgb_is_made_channel_first() {
        // one 1x2 image, pixels (r,g,b) = (1,2,3), (4,5,6)
        assert_eq!(
            hwc_to_chw(&[1, 2, 3, 4, 5, 6], 1, 1, 2, 3),
            vec![1, 4, 2, 5, 3, 6]
        );
    }
}
