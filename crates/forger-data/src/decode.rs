//! Decoding single image files into forger's channel-first pixels.

use std::path::Path;

use image::imageops::FilterType;

use crate::{DataError, Result};

/// Decodes the image at `path` (any format the `image` crate reads), converts
/// it to grey (`channels` 1) or RGB (3) and resizes it to `height x width`;
/// returns channel-first pixels.
pub fn load_image(path: &Path, [channels, height, width]: [usize; 3]) -> Result<Vec<u8>> {
    let img = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?
        .decode()
        .map_err(|e| DataError::format(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (width as u32, height as u32);
    let img = if img.width() == w && img.height() == h {
        img
    } else {
        img.resize_exact(w, h, FilterType::Triangle)
    };
    match channels {
        1 => Ok(img.to_luma8().into_raw()),
        3 => {
            let rgb = img.to_rgb8().into_raw();
            let plane = height * width;
            let mut out = vec![0u8; 3 * plane];
            for (p, px) in rgb.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    out[c * plane + p] = px[c];
                }
            }
            Ok(out)
        }
        c => Err(DataError::Invalid(format!(
            "images have 1 or 3 channels, not {c}"
        ))),
    }
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
