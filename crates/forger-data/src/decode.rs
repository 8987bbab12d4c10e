//! Decoding single image files into forger's channel-first pixels.

use std::path::Path;

use crate::image_folder::{decode_image, ImageFolderConfig};
use crate::Result;

/// Decodes the image at `path` (any format the `image` crate reads), converts
/// it to grey (`channels` 1) or RGB (3) and resizes it to `height x width`
/// with the filter image folders use by default (so that a model sees a
/// single file as it saw its training images); returns channel-first pixels.
pub fn load_image(path: &Path, shape: [usize; 3]) -> Result<Vec<u8>> {
    decode_image(path, &ImageFolderConfig::for_shape(shape)?)
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
