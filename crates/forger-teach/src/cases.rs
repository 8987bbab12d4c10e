//! The two sources of cases: the GAN's class-per-folder PNGs and a real
//! [`Dataset`]; and writing one case into the site as a PNG.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use forger_data::Dataset;
use image::{GrayImage, ImageFormat, RgbImage};

use crate::{Result, TeachError};

/// Where a case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Synthetic,
    Real,
}

impl Origin {
    /// The word the pages and the answer key use.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Origin::Synthetic => "synthetic",
            Origin::Real => "real",
        }
    }
}

/// The synthetic PNGs of each class, indexed like the real data's classes,
/// each list sorted by file name.
pub(crate) fn read_synthetic(dir: &Path, classes: &[String]) -> Result<Vec<Vec<PathBuf>>> {
    let mut found: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in read_dir(dir)? {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if entry.is_dir() && !name.starts_with('.') {
            let mut pngs: Vec<PathBuf> = read_dir(&entry)?
                .into_iter()
                .filter(|p| p.is_file() && is_png_name(p))
                .collect();
            pngs.sort();
            found.insert(name, pngs);
        }
    }
    if found.values().all(Vec::is_empty) {
        return Err(TeachError::NoSamples {
            path: dir.to_path_buf(),
        });
    }
    let mut real_sorted = classes.to_vec();
    real_sorted.sort();
    if found.keys().ne(real_sorted.iter()) {
        return Err(TeachError::ClassMismatch {
            path: dir.to_path_buf(),
            synthetic: found.into_keys().collect(),
            real: classes.to_vec(),
        });
    }
    classes
        .iter()
        .map(|class| {
            let pngs = found.remove(class).unwrap_or_default();
            if pngs.is_empty() {
                return Err(TeachError::EmptyClass {
                    path: dir.join(class),
                });
            }
            Ok(pngs)
        })
        .collect()
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(|e| TeachError::io(dir, e))
}

fn is_png_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Indices of the real images of each class, in data set order.
pub(crate) fn real_by_class(real: &Dataset) -> Vec<Vec<usize>> {
    let mut by_class = vec![Vec::new(); real.classes().len()];
    for (i, &label) in real.labels().iter().enumerate() {
        by_class[label as usize].push(i);
    }
    by_class
}

/// Fails unless the real images can be written as grey or RGB PNGs.
pub(crate) fn check_real(real: &Dataset) -> Result<()> {
    let [c, _, _] = real.image_shape();
    if c == 1 || c == 3 {
        Ok(())
    } else {
        Err(TeachError::RealData(format!(
            "images with {c} channels cannot be shown; expected 1 (grey) or 3 (RGB)"
        )))
    }
}

/// A case image written into the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaseImage {
    /// Path relative to the site root, with `/` separators.
    pub file: String,
    pub width: u32,
    pub height: u32,
}

/// Copies a synthetic PNG to `site/file` after checking that it decodes.
pub(crate) fn copy_synthetic(src: &Path, site: &Path, file: String) -> Result<CaseImage> {
    let image = image::ImageReader::open(src)
        .map_err(|e| TeachError::io(src, e))?
        .with_guessed_format()
        .map_err(|e| TeachError::io(src, e))?;
    if image.format() != Some(ImageFormat::Png) {
        return Err(TeachError::NotPng {
            path: src.to_path_buf(),
        });
    }
    let decoded = image.decode().map_err(|source| TeachError::Image {
        path: src.to_path_buf(),
        source,
    })?;
    let dst = site.join(&file);
    create_parent(&dst)?;
    fs::copy(src, &dst).map_err(|e| TeachError::io(&dst, e))?;
    Ok(CaseImage {
        file,
        width: decoded.width(),
        height: decoded.height(),
    })
}

/// Writes real image `index` of `real` as the PNG `site/file`.
pub(crate) fn write_real(
    real: &Dataset,
    index: usize,
    site: &Path,
    file: String,
) -> Result<CaseImage> {
    let [c, h, w] = real.image_shape();
    let pixels = real.image(index);
    let (width, height) = (w as u32, h as u32);
    let dst = site.join(&file);
    create_parent(&dst)?;
    let saved = if c == 1 {
        GrayImage::from_raw(width, height, pixels.to_vec()).map(|img| img.save(&dst))
    } else {
        // Channel-first to interleaved RGB.
        let plane = h * w;
        let rgb = (0..plane)
            .flat_map(|p| (0..3).map(move |ch| pixels[ch * plane + p]))
            .collect();
        RgbImage::from_raw(width, height, rgb).map(|img| img.save(&dst))
    };
    match saved {
        Some(Ok(())) => Ok(CaseImage {
            file,
            width,
            height,
        }),
        Some(Err(source)) => Err(TeachError::Image { path: dst, source }),
        None => Err(TeachError::RealData(format!(
            "image {index} does not hold {c}x{h}x{w} pixels"
        ))),
    }
}

/// Creates the folder that will hold `path`.
pub(crate) fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| TeachError::io(parent, e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, shade: u8) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        GrayImage::from_pixel(4, 3, image::Luma([shade]))
            .save(path)
            .unwrap();
    }

    fn classes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_class_folders_in_real_class_order() {
        let dir = tempfile::tempdir().unwrap();
        png(&dir.path().join("b/2.png"), 1);
        png(&dir.path().join("b/1.PNG"), 2);
        png(&dir.path().join("a/x.png"), 3);
        fs::write(dir.path().join("a/notes.txt"), "not an image").unwrap();
        fs::write(dir.path().join("grid.png"), "top-level files are ignored").unwrap();
        let found = read_synthetic(dir.path(), &classes(&["b", "a"])).unwrap();
        let names: Vec<Vec<String>> = found
            .iter()
            .map(|c| {
                c.iter()
                    .map(|p| p.file_name().unwrap().to_string_lossy().into())
                    .collect()
            })
            .collect();
        assert_eq!(names, vec![vec!["1.PNG", "2.png"], vec!["x.png"]]);
    }

    #[test]
    fn empty_folder_mismatch_and_empty_class_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        let err = read_synthetic(dir.path(), &classes(&["a"])).unwrap_err();
        assert!(matches!(err, TeachError::NoSamples { .. }), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));

        png(&dir.path().join("b/1.png"), 0);
        let err = read_synthetic(dir.path(), &classes(&["a", "c"])).unwrap_err();
        assert!(matches!(err, TeachError::ClassMismatch { .. }), "{err}");
        assert!(err.to_string().contains("\"c\""), "{err}");

        let err = read_synthetic(dir.path(), &classes(&["a", "b"])).unwrap_err();
        assert!(
            matches!(err, TeachError::EmptyClass { ref path } if path.ends_with("a")),
            "{err}"
        );

        let err = read_synthetic(&dir.path().join("missing"), &classes(&["a"])).unwrap_err();
        assert!(matches!(err, TeachError::Io { .. }), "{err}");
    }

    #[test]
    fn a_corrupt_png_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.png");
        fs::write(&bad, b"\x89PNG\r\n\x1a\nbroken").unwrap();
        let err = copy_synthetic(&bad, dir.path(), "out.png".into()).unwrap_err();
        assert!(err.to_string().contains("bad.png"), "{err}");
        fs::write(&bad, b"plain text").unwrap();
        assert!(copy_synthetic(&bad, dir.path(), "out.png".into()).is_err());
    }

    #[test]
    fn real_rgb_images_are_written_interleaved() {
        let dir = tempfile::tempdir().unwrap();
        // One 1x2 RGB image: red plane [10, 11], green [20, 21], blue [30, 31].
        let real = Dataset::new(
            vec![10, 11, 20, 21, 30, 31],
            vec![0],
            [3, 1, 2],
            classes(&["a"]),
        )
        .unwrap();
        let case = write_real(&real, 0, dir.path(), "r/0.png".into()).unwrap();
        assert_eq!((case.width, case.height), (2, 1));
        let back = image::open(dir.path().join("r/0.png")).unwrap().to_rgb8();
        assert_eq!(back.get_pixel(1, 0).0, [11, 21, 31]);
        assert_eq!(real_by_class(&real), vec![vec![0]]);
    }
}
