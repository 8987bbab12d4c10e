//! Decoding single image files into forger's channel-first pixels.

use std::path::Path;

use crate::image_folder::{decode_image, ColorMode, ImageFolderConfig, ResizeFilter};
use crate::{DataError, Result};

/// Decodes the image at `path` (any format the `image` crate reads), converts
/// it to grey (`channels` 1) or RGB (3) and resizes it bilinearly to
/// `height x width`; returns channel-first pixels.
pub fn load_image(path: &Path, [channels, height, width]: [usize; 3]) -> Result<Vec<u8>> {
    let color = match channels {
        1 => ColorMode::Grey,
        3 => ColorMode::Rgb,
        c => {
            return Err(DataError::Invalid(format!(
                "images have 1 or 3 channels, not {c}"
            )))
        }
    };
    let config = ImageFolderConfig {
        size: [height, width],
        color,
        filter: ResizeFilter::Bilinear,
        skip_bad_images: false,
    };
    decode_image(path, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_resizes_and_orders_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        image::RgbImage::from_fn(4, 2, |x, _| image::Rgb([x as u8 * 10, 100, 200]))
            .save(&path)
            .unwrap();
        let rgb = load_image(&path, [3, 2, 4]).unwrap();
        assert_eq!(&rgb[..4], &[0, 10, 20, 30]);
        assert_eq!(rgb[8], 100);
        assert_eq!(load_image(&path, [1, 3, 3]).unwrap().len(), 9);
        std::fs::write(dir.path().join("bad.png"), b"nope").unwrap();
        let err = load_image(&dir.path().join("bad.png"), [1, 2, 2])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.png") && err.contains("cannot decode"),
            "{err}"
        );
    }
}
