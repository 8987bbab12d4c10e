//! How far reduced-scale JPEG decoding moves the pixels a model sees: every
//! image of a class-per-folder tree is decoded with and without
//! `ImageFolderConfig::jpeg_dct_scaling` (64x64 RGB, area filter), and the
//! mean absolute difference per image is summarised, in 8-bit levels.
//!
//! `cargo run --release -p forger-data --example jpeg_scaling_error -- DIR`

use forger_data::image_folder::{decode_image, FolderIndex, ImageFolderConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: jpeg_scaling_error DIR (a class-per-folder image tree)")?;
    if !forger_data::scaled_jpeg::available() {
        return Err("this build has no libjpeg: both decodes are full size".into());
    }
    let index = FolderIndex::discover(std::path::Path::new(&root))?;
    let reduced = ImageFolderConfig::default();
    let full = ImageFolderConfig {
        jpeg_dct_scaling: false,
        ..reduced.clone()
    };
    let mut means = Vec::new();
    let mut largest = 0;
    for path in index.paths() {
        let (a, b) = (decode_image(&path, &reduced)?, decode_image(&path, &full)?);
        let diffs = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y));
        largest = largest.max(diffs.clone().max().unwrap_or(0));
        means.push(diffs.map(f64::from).sum::<f64>() / a.len() as f64);
    }
    means.sort_by(f64::total_cmp);
    let n = means.len();
    println!(
        "{n} images: mean |difference| {:.2} levels (median image {:.2}, worst {:.2}); largest single difference {largest}",
        means.iter().sum::<f64>() / n as f64,
        means[n / 2],
        means[n - 1],
    );
    Ok(())
}
