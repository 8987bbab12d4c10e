//! The checks every reader makes before it allocates or blocks (the
//! README's reader policy): sizes from headers multiplied with checked
//! arithmetic and held to a limit, and only regular files opened.

use std::fs::File;
use std::path::Path;

use crate::{DataError, Result};

/// The most bytes one IDX or NPZ array may hold (8 GiB): a header that
/// claims more is refused before anything is allocated.
pub const MAX_ARRAY_BYTES: u64 = 8 << 30;

/// The default of [`crate::image_folder::ImageFolderConfig::max_image_pixels`]:
/// 40 megapixels, above a full-field digital mammogram (about 4,000 x 5,000)
/// and far above the chest X-rays and photos forger trains on.
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// The bytes of an array of shape `dims` (one byte per element), or an
/// error naming `path` when the product overflows or passes
/// [`MAX_ARRAY_BYTES`].
pub(crate) fn array_bytes(path: &Path, dims: &[usize]) -> Result<u64> {
    let bytes = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&b| b <= MAX_ARRAY_BYTES)
        .ok_or_else(|| {
            DataError::format(
                path,
                format!(
                    "dimensions {dims:?} claim more than the {} GiB an array may hold",
                    MAX_ARRAY_BYTES >> 30
                ),
            )
        })?;
    Ok(bytes)
}

/// Refuses images of more than `max_pixels` pixels, from the size their
/// header claims, before they are decoded.
pub(crate) fn check_pixels(path: &Path, width: u32, height: u32, max_pixels: u64) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(DataError::format(
            path,
            format!(
                "the image claims {width}x{height} = {pixels} pixels, more than the limit of \
                 {max_pixels} (--max-image-pixels)"
            ),
        ));
    }
    Ok(())
}

/// Opens `path` if it is a regular file (links followed): a FIFO would
/// block the reader and a device such as `/dev/zero` would never end.
pub(crate) fn open_regular(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::format(
            path,
            "not a regular file (a folder, FIFO, socket or device): only regular files are read",
        ));
    }
    File::open(path).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_that_overflow_or_pass_the_limit_are_refused() {
        let p = Path::new("x");
        assert_eq!(array_bytes(p, &[2, 3, 4]).unwrap(), 24);
        // 2^31 * 2^31 * 4 wraps to 0 in 64 bits.
        let err = array_bytes(p, &[4, 1 << 31, 1 << 31])
            .unwrap_err()
            .to_string();
        assert!(err.contains("claim more than the 8 GiB"), "{err}");
        assert!(array_bytes(p, &[983_040, 256, 256]).is_err());
        assert!(check_pixels(p, 16_000, 16_000, DEFAULT_MAX_IMAGE_PIXELS).is_err());
        assert!(check_pixels(p, 4_000, 5_000, DEFAULT_MAX_IMAGE_PIXELS).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("x.jpg");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = open_regular(&link).unwrap_err().to_string();
        assert!(
            err.contains("x.jpg") && err.contains("not a regular file"),
            "{err}"
        );
        assert!(open_regular(dir.path()).is_err());
    }
}
