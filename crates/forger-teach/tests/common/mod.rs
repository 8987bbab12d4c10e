//! Tiny generated inputs for the site tests: a synthetic image folder, a real
//! data set and a study folder. Every image is different from every other.

use std::fs;
use std::path::Path;

use forger_data::Dataset;
use image::{GrayImage, Luma, Rgb, RgbImage};

pub const SIZE: u32 = 28;

pub fn classes() -> Vec<String> {
    vec!["normal".to_string(), "pneumonia".to_string()]
}

/// A 28x28 grey picture: a blob whose size depends on the class, with
/// texture from `id`, so that no two pictures are the same.
fn picture(class: usize, id: u32, soft: bool) -> Vec<u8> {
    let c = SIZE as f32 / 2.0;
    let radius = if class == 0 { 7.0 } else { 10.0 } + (id % 3) as f32;
    let mut out = Vec::with_capacity((SIZE * SIZE) as usize);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
            let blob = if soft {
                (1.0 - d / (radius * 1.4)).max(0.0) * 220.0
            } else if d < radius {
                200.0
            } else {
                30.0
            };
            let texture = ((x * 7 + y * 13 + id * 31) % 23) as f32 * if soft { 1.5 } else { 2.5 };
            out.push((blob + texture).min(255.0) as u8);
        }
    }
    out
}

/// `per_class` synthetic PNGs per class in `dir/<class>/`.
pub fn synthetic_folder(dir: &Path, per_class: u32) {
    for (class, name) in classes().iter().enumerate() {
        fs::create_dir_all(dir.join(name)).unwrap();
        for i in 0..per_class {
            let img = GrayImage::from_raw(SIZE, SIZE, picture(class, 1000 + i, true)).unwrap();
            img.save(dir.join(name).join(format!("{i:05}.png")))
                .unwrap();
        }
    }
}

/// `per_class` real images per class, classes interleaved.
pub fn real_dataset(per_class: u32) -> Dataset {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..per_class {
        for class in 0..2 {
            pixels.extend(picture(class, i * 2 + class as u32, false));
            labels.push(class as u32);
        }
    }
    Dataset::new(pixels, labels, [1, SIZE as usize, SIZE as usize], classes()).unwrap()
}

/// A study folder with a report that shows a table and one ROC image.
pub fn study_folder(dir: &Path) {
    fs::create_dir_all(dir.join("roc")).unwrap();
    let roc = RgbImage::from_fn(160, 120, |x, y| {
        if 119 - y == x * 3 / 4 || x == 0 || y == 119 {
            Rgb([20, 60, 200])
        } else if (119 - y) * 4 == x * 3 {
            Rgb([150, 150, 150])
        } else {
            Rgb([255, 255, 255])
        }
    });
    roc.save(dir.join("roc/real.png")).unwrap();
    GrayImage::from_pixel(4, 4, Luma([9]))
        .save(dir.join("unreferenced.png"))
        .unwrap();
    fs::write(
        dir.join("report.md"),
        "# Real vs synthetic: ROC AUC\n\nA tiny study made by the tests.\n\n\
         | arm | AUC | 95% CI |\n|---|---|---|\n| real | 0.940 | 0.92-0.96 |\n| synthetic | 0.910 | 0.88-0.94 |\n\n\
         ![ROC curve of the real arm](roc/real.png)\n",
    )
    .unwrap();
}
