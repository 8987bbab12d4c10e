//! Channel-first 8-bit images to PNG: single images and labelled grids.

use image::{DynamicImage, GrayImage, RgbImage};

use crate::atomic::write_atomic;
use crate::{DataError, Dataset, Result};

/// A channel-first grey (1) or RGB (3) image as an `image` crate image.
pub fn to_image(pixels: &[u8], [c, h, w]: [usize; 3]) -> Result<DynamicImage> {
    let bad = || {
        DataError::Invalid(format!(
            "{} pixels do not make a {c}x{h}x{w} image",
            pixels.len()
        ))
    };
    if pixels.len() != c * h * w {
        return Err(bad());
    }
    let (w32, h32) = (w as u32, h as u32);
    match c {
        1 => GrayImage::from_raw(w32, h32, pixels.to_vec())
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(bad),
        3 => {
            let plane = h * w;
            let hwc: Vec<u8> = (0..plane)
                .flat_map(|p| [pixels[p], pixels[plane + p], pixels[2 * plane + p]])
                .collect();
            RgbImage::from_raw(w32, h32, hwc)
                .map(DynamicImage::ImageRgb8)
                .ok_or_else(bad)
        }
        _ => Err(DataError::Invalid(format!(
            "images have 1 or 3 channels, not {c}"
        ))),
    }
}

/// PNG bytes of one channel-first image.
pub fn encode_png(pixels: &[u8], shape: [usize; 3]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    to_image(pixels, shape)?
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| DataError::Invalid(format!("cannot encode PNG: {e}")))?;
    Ok(out)
}

/// PNG bytes of `rows` of images (each row a list of channel-first images of
/// one shape), each image scaled up `zoom` times (nearest neighbour), with a
/// 2-pixel white gutter.
pub fn encode_grid(rows: &[Vec<&[u8]>], shape: [usize; 3], zoom: usize) -> Result<Vec<u8>> {
    let [_, h, w] = shape;
    let zoom = zoom.max(1);
    let gap = 2;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let (cell_w, cell_h) = (w * zoom + gap, h * zoom + gap);
    let (gw, gh) = (
        (cols * cell_w + gap) as u32,
        (rows.len() * cell_h + gap) as u32,
    );
    let mut grid = RgbImage::from_pixel(gw.max(1), gh.max(1), image::Rgb([255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, pixels) in row.iter().enumerate() {
            let img = to_image(pixels, shape)?.to_rgb8();
            for y in 0..h * zoom {
                for x in 0..w * zoom {
                    let px = *img.get_pixel((x / zoom) as u32, (y / zoom) as u32);
                    grid.put_pixel(
                        (gap + c * cell_w + x) as u32,
                        (gap + r * cell_h + y) as u32,
                        px,
                    );
                }
            }
        }
    }
    let mut out = Vec::new();
    grid.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .map_err(|e| DataError::Invalid(format!("cannot encode PNG: {e}")))?;
    Ok(out)
}

/// Writes `data` as PNG files in one folder per class name
/// (`DIR/<class>/<index>.png`, written atomically): an image folder that
/// forger, Keras and torchvision read.
pub fn write_image_folder(data: &Dataset, dir: &std::path::Path) -> Result<()> {
    for i in 0..data.len() {
        let class = &data.classes()[data.labels()[i] as usize];
        let path = dir.join(class).join(format!("{i:05}.png"));
        write_atomic(&path, &encode_png(data.image(i), data.image_shape())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trips_through_png_and_grids_have_the_right_size() {
        let pixels: Vec<u8> = (0..3 * 2 * 2).map(|i| i as u8 * 20).collect();
        let png = encode_png(&pixels, [3, 2, 2]).unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back.get_pixel(1, 0).0, [20, 100, 180]);
        let grid = encode_grid(&[vec![&pixels, &pixels], vec![&pixels]], [3, 2, 2], 3).unwrap();
        let g = image::load_from_memory(&grid).unwrap();
        assert_eq!((g.width(), g.height()), (2 * 8 + 2, 2 * 8 + 2));
        assert!(encode_png(&pixels[1..], [3, 2, 2]).is_err());
    }
}
