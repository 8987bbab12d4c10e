//! Class-per-folder image trees, as Keras' `flow_from_directory` reads them:
//! `ROOT/<class>/<image>`, one subfolder per class, class names sorted so
//! that label `i` is the `i`-th name in byte order. Images are decoded with
//! the `image` crate (JPEG, PNG, BMP, GIF, WebP), converted to grey or RGB
//! and resized to one size.
//!
//! Discovery is strict so that mistakes show early: hidden entries (names
//! starting with `.`) are ignored, but a class folder that holds a non-image
//! file, a nested folder or no image at all is an error naming it.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, ImageDecoder, Pixel};
use rayon::prelude::*;

use crate::area_shrink::area_shrink;
use crate::limits::{check_pixels, open_regular, DEFAULT_MAX_IMAGE_PIXELS};
use crate::scaled_jpeg;
use crate::{DataError, Dataset, Result};

/// File extensions (lower case) taken as images.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "gif", "webp"];

/// Fraction of a single class-per-folder tree that [`crate::load`] holds
/// out as the test split by default (stratified, seed [`FOLDER_SPLIT_SEED`]).
pub const DEFAULT_TEST_SPLIT: f64 = 0.2;

/// Seed of the test split [`crate::load`] makes of a single tree.
pub const FOLDER_SPLIT_SEED: u64 = 0;

/// Channels of the decoded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// One channel (luma).
    Grey,
    /// Three channels, red, green, blue.
    #[default]
    Rgb,
}

impl ColorMode {
    /// Number of channels.
    pub fn channels(self) -> usize {
        match self {
            Self::Grey => 1,
            Self::Rgb => 3,
        }
    }
}

/// The filter used to resize images (the `image` crate's filters).
/// Keras' `load_img` uses nearest by default; forger defaults to area
/// averaging, which avoids aliasing when large photos shrink to 64x64 and is
/// the fastest of the filters that do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResizeFilter {
    /// Nearest neighbour: fastest, aliased.
    Nearest,
    /// The mean of the source area under each output pixel, the pixels on
    /// its edges weighted by the fraction inside (OpenCV's `INTER_AREA`);
    /// where the image grows, the `image` crate's `thumbnail`, which
    /// interpolates.
    #[default]
    Area,
    /// Bilinear (a triangle filter, widened when shrinking).
    Bilinear,
    /// Catmull-Rom cubic.
    CatmullRom,
    /// Gaussian.
    Gaussian,
    /// Lanczos with window 3: sharpest, slowest.
    Lanczos3,
}

impl ResizeFilter {
    /// Resizes to `width x height`.
    fn resize<P: Pixel<Subpixel = u8> + 'static>(
        self,
        image: &ImageBuffer<P, Vec<u8>>,
        width: u32,
        height: u32,
    ) -> Vec<u8> {
        let filter = match self {
            Self::Area => {
                let (size, new_size) = (image.dimensions(), (width, height));
                let channels = usize::from(P::CHANNEL_COUNT);
                return area_shrink(image.as_raw(), channels, size, new_size)
                    .unwrap_or_else(|| imageops::thumbnail(image, width, height).into_raw());
            }
            Self::Nearest => FilterType::Nearest,
            Self::Bilinear => FilterType::Triangle,
            Self::CatmullRom => FilterType::CatmullRom,
            Self::Gaussian => FilterType::Gaussian,
            Self::Lanczos3 => FilterType::Lanczos3,
        };
        imageops::resize(image, width, height, filter).into_raw()
    }
}

/// How images of a tree are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolderConfig {
    /// `[height, width]` every image is resized to (64x64 by default): any
    /// size (forger's models and study take squares of 28, 64, 128 and
    /// 256). Images larger than it are shrunk by the filter (area averaging
    /// by default); images smaller in a direction are enlarged, with the
    /// area filter by interpolation ([`ResizeFilter::Area`]).
    pub size: [usize; 2],
    /// Grey or RGB (RGB by default).
    pub color: ColorMode,
    /// Resize filter.
    pub filter: ResizeFilter,
    /// Skip images that cannot be decoded, logging each, instead of stopping
    /// with an error (off by default).
    pub skip_bad_images: bool,
    /// With the area filter, decode each JPEG at the smallest of 1/2, 1/4
    /// and 1/8 of its size that is still at least [`Self::size`], in the DCT
    /// domain, before the area resize (see [`crate::scaled_jpeg`]): several
    /// times faster for photos, and close to, not bit-identical with, the
    /// full-size decode. On by default; where the build found no libjpeg,
    /// JPEGs decode at full size either way.
    pub jpeg_dct_scaling: bool,
    /// Images whose header claims more pixels are refused before they are
    /// decoded ([`DEFAULT_MAX_IMAGE_PIXELS`] by default), so that memory is
    /// bounded by this limit rather than by what a header claims.
    pub max_image_pixels: u64,
}

impl Default for ImageFolderConfig {
    fn default() -> Self {
        Self {
            size: [64, 64],
            color: ColorMode::Rgb,
            filter: ResizeFilter::Area,
            skip_bad_images: false,
            jpeg_dct_scaling: true,
            max_image_pixels: DEFAULT_MAX_IMAGE_PIXELS,
        }
    }
}

impl ImageFolderConfig {
    /// `[channels, height, width]` of the decoded images.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.color.channels(), self.size[0], self.size[1]]
    }

    /// The config that decodes images to `[channels, height, width]`
    /// (1 channel: grey, 3: RGB), with the default filter.
    pub fn for_shape([channels, height, width]: [usize; 3]) -> Result<Self> {
        let color = match channels {
            1 => ColorMode::Grey,
            3 => ColorMode::Rgb,
            _ => {
                return Err(DataError::Invalid(format!(
                    "image folders decode to 1 (grey) or 3 (RGB) channels, not {channels}"
                )))
            }
        };
        Ok(Self {
            size: [height, width],
            color,
            ..Self::default()
        })
    }
}

/// The files of a class-per-folder tree and their labels, not yet decoded:
/// the one listing of an image folder, used both to load a tree into memory
/// ([`FolderIndex::load`]) and to decode it on demand
/// ([`crate::source::FolderSource`]). The file list is kept compact (the
/// names in one string, about 12 bytes per image besides the name), since
/// it is what grows with the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderIndex {
    root: PathBuf,
    classes: Vec<String>,
    /// Every file name, one after another.
    names: String,
    /// Where each image's name ends in `names`.
    ends: Vec<usize>,
    labels: Vec<u32>,
}

/// A decoded tree: the data set and the files skipped as undecodable (empty
/// unless [`ImageFolderConfig::skip_bad_images`] is set).
#[derive(Debug, Clone)]
pub struct FolderLoad {
    /// The decoded images and their labels.
    pub dataset: Dataset,
    /// Files that could not be decoded and were left out.
    pub skipped: Vec<PathBuf>,
}

impl FolderIndex {
    /// Lists the classes and image files under `root`, classes in sorted
    /// order, files sorted by name within each class (see the module docs
    /// for the rules). Links are followed; names must be UTF-8.
    pub fn discover(root: &Path) -> Result<Self> {
        let mut class_dirs = Vec::new();
        for entry in visible_entries(root)? {
            if entry.is_dir() {
                class_dirs.push(entry);
            } else {
                tracing::debug!(file = %entry.display(), "ignoring a file beside the class folders");
            }
        }
        if class_dirs.len() < 2 {
            return Err(DataError::format(
                root,
                format!(
                    "found {} class folder(s): a class-per-folder image tree needs at least two subfolders, one per class",
                    class_dirs.len()
                ),
            ));
        }
        let mut index = Self {
            root: root.to_path_buf(),
            classes: Vec::with_capacity(class_dirs.len()),
            names: String::new(),
            ends: Vec::new(),
            labels: Vec::new(),
        };
        for (label, dir) in class_dirs.iter().enumerate() {
            let name = utf8_name(dir)?;
            let before = index.len();
            for entry in visible_entries(dir)? {
                if entry.is_dir() {
                    return Err(DataError::format(
                        &entry,
                        "unexpected folder inside a class folder: class folders hold image files only \
                         (a root of split folders names them train/, val/ and test/, or training_set/, \
                         validation_set/ and test_set/)",
                    ));
                }
                if !entry.is_file() {
                    return Err(DataError::format(
                        &entry,
                        "not a regular file (a FIFO, socket, device or broken link): class folders hold image files only",
                    ));
                }
                if !is_image_name(&entry) {
                    return Err(DataError::format(
                        &entry,
                        format!(
                            "not an image file: expected one of the extensions {}",
                            IMAGE_EXTENSIONS.join(", ")
                        ),
                    ));
                }
                index.names.push_str(&utf8_name(&entry)?);
                index.ends.push(index.names.len());
                index.labels.push(label as u32);
            }
            if index.len() == before {
                return Err(DataError::format(
                    dir,
                    format!("class folder `{name}` holds no images"),
                ));
            }
            index.classes.push(name);
        }
        index.names.shrink_to_fit();
        Ok(index)
    }

    /// The folder the tree was read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The path of image `i`, or `None` past the end.
    pub fn path(&self, i: usize) -> Option<PathBuf> {
        let class = &self.classes[*self.labels.get(i)? as usize];
        Some(self.root.join(class).join(self.name(i)?))
    }

    /// The file name of image `i`.
    fn name(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.names[start..end])
    }

    /// Every image path, grouped by class.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        (0..self.len()).filter_map(|i| self.path(i))
    }

    /// Label of each file.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Number of image files.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no files (never true for a discovered tree).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The files at `indices`, in that order, with the same classes.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let mut out = Self {
            root: self.root.clone(),
            classes: self.classes.clone(),
            names: String::new(),
            ends: Vec::with_capacity(indices.len()),
            labels: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            let name = self.name(i).ok_or_else(|| {
                DataError::Invalid(format!(
                    "index {i} is out of range for a tree of {} images",
                    self.len()
                ))
            })?;
            out.names.push_str(name);
            out.ends.push(out.names.len());
            out.labels.push(self.labels[i]);
        }
        Ok(out)
    }

    /// Decodes image `i`. `Ok(None)` means it was undecodable and skipped
    /// (logged) because the config says so.
    pub fn decode(&self, i: usize, config: &ImageFolderConfig) -> Result<Option<Vec<u8>>> {
        let path = self.path(i).ok_or_else(|| {
            DataError::Invalid(format!(
                "index {i} is out of range for a tree of {} images",
                self.len()
            ))
        })?;
        match decode_image(&path, config) {
            Ok(pixels) => Ok(Some(pixels)),
            Err(e) if config.skip_bad_images => {
                tracing::warn!(file = %path.display(), error = %e, "skipping a bad image");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Decodes every image (in parallel) into a [`Dataset`].
    pub fn load(&self, config: &ImageFolderConfig) -> Result<FolderLoad> {
        let decoded: Vec<Result<Option<Vec<u8>>>> = (0..self.len())
            .into_par_iter()
            .map(|i| self.decode(i, config))
            .collect();
        let mut pixels =
            Vec::with_capacity(self.len() * config.image_shape().iter().product::<usize>());
        let mut labels = Vec::with_capacity(self.len());
        let mut skipped = Vec::new();
        for (i, image) in decoded.into_iter().enumerate() {
            match image? {
                Some(p) => {
                    pixels.extend_from_slice(&p);
                    labels.push(self.labels[i]);
                }
                None => skipped.extend(self.path(i)),
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(root = %self.root.display(), skipped = skipped.len(), "skipped bad images");
        }
        let dataset = Dataset::new(pixels, labels, config.image_shape(), self.classes.clone())?;
        Ok(FolderLoad { dataset, skipped })
    }
}

/// Decodes one image file into channel-first pixels of `config`'s shape.
/// The format is sniffed from the contents, so a misnamed file still loads.
/// By the reader policy: only a regular file is read; an image whose header
/// claims more than [`ImageFolderConfig::max_image_pixels`] is refused
/// before it is decoded; a JPEG must end with its end-of-image marker, and
/// libjpeg's warnings (corrupt or missing data) are errors.
pub fn decode_image(path: &Path, config: &ImageFolderConfig) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    let cannot = |what: String| DataError::format(path, format!("cannot decode the image: {what}"));
    if scaled_jpeg::is_jpeg(&bytes) {
        if !scaled_jpeg::has_end_of_image(&bytes) {
            return Err(cannot(
                "the JPEG has no end-of-image marker after its data (truncated file)".into(),
            ));
        }
        // Reduced-scale decoding where the config allows, full size otherwise.
        let scaled = config.jpeg_dct_scaling && config.filter == ResizeFilter::Area;
        let [h, w] = if scaled {
            config.size.map(|s| s as u32)
        } else {
            [u32::MAX; 2]
        };
        if let Some(rgb) = scaled_jpeg::decode(&bytes, w, h, config.max_image_pixels)
            .map_err(|e| cannot(format!("libjpeg: {e}")))?
        {
            return Ok(to_chw(&DynamicImage::ImageRgb8(rgb), config));
        }
    }
    let image = decode_with_limit(path, &bytes, config.max_image_pixels).map_err(cannot)?;
    Ok(to_chw(&image, config))
}

/// Decodes with the `image` crate, refusing (from the header) images of
/// more than `max_pixels` pixels, and capping its allocations to match.
fn decode_with_limit(
    path: &Path,
    bytes: &[u8],
    max_pixels: u64,
) -> std::result::Result<DynamicImage, String> {
    let text = |e: image::ImageError| e.to_string();
    let mut decoder = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_decoder()
        .map_err(text)?;
    let (width, height) = decoder.dimensions();
    check_pixels(path, width, height, max_pixels).map_err(|e| match e {
        DataError::Format { what, .. } => what,
        e => e.to_string(),
    })?;
    let mut limits = image::Limits::default();
    // Up to 16-bit RGBA per pixel, and the decoders' own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    decoder.set_limits(limits).map_err(text)?;
    DynamicImage::from_decoder(decoder).map_err(text)
}

/// Converts and resizes a decoded image into channel-first pixels.
pub fn to_chw(image: &DynamicImage, config: &ImageFolderConfig) -> Vec<u8> {
    let [h, w] = config.size.map(|s| s as u32);
    let filter = config.filter;
    // Borrow the decoded buffer when it already has the wanted channels.
    let (hwc, c) = match (config.color, image) {
        (ColorMode::Grey, DynamicImage::ImageLuma8(b)) => (filter.resize(b, w, h), 1),
        (ColorMode::Grey, _) => (filter.resize(&image.to_luma8(), w, h), 1),
        (ColorMode::Rgb, DynamicImage::ImageRgb8(b)) => (filter.resize(b, w, h), 3),
        (ColorMode::Rgb, _) => (filter.resize(&image.to_rgb8(), w, h), 3),
    };
    let plane = hwc.len() / c;
    let mut chw = vec![0u8; hwc.len()];
    for (p, px) in hwc.chunks_exact(c).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            chw[ch * plane + p] = v;
        }
    }
    chw
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The last component of `path` as UTF-8, or an error naming it.
fn utf8_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            DataError::format(
                path,
                "the name is not UTF-8: rename it to use it in an image folder",
            )
        })
}

/// The entries of `dir` whose names do not start with `.`, sorted by name.
fn visible_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e| DataError::io(dir, e);
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            entries.push(entry.path());
        }
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// Writes `counts[i]` small images of class `names[i]` under `root`, in
    /// mixed formats; image `k` of class `i` is a flat colour `(40 i + k, ...)`.
    pub(crate) fn write_tree(root: &Path, names: &[&str], counts: &[usize]) {
        for (i, (name, &n)) in names.iter().zip(counts).enumerate() {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            for k in 0..n {
                let v = (40 * i + k) as u8;
                let img =
                    RgbImage::from_fn(12, 10, |x, _| Rgb([v, v, if x < 6 { 0 } else { 255 }]));
                let ext = ["png", "bmp", "png"][k % 3];
                img.save(dir.join(format!("img{k:02}.{ext}"))).unwrap();
            }
        }
    }

    fn small() -> ImageFolderConfig {
        ImageFolderConfig {
            size: [4, 6],
            ..Default::default()
        }
    }

    #[test]
    fn discovers_sorted_classes_and_files() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["dogs", "cats", "birds"], &[2, 3, 1]);
        std::fs::write(dir.path().join("cats/.DS_Store"), b"x").unwrap();
        let index = FolderIndex::discover(dir.path()).unwrap();
        assert_eq!(index.classes(), ["birds", "cats", "dogs"]);
        assert_eq!(index.labels(), [0, 1, 1, 1, 2, 2]);
        assert!(index.path(1).unwrap().ends_with("cats/img00.png"));
        assert_eq!(index.path(6), None);
        let load = index.load(&small()).unwrap();
        assert_eq!(load.dataset.image_shape(), [3, 4, 6]);
        assert_eq!(load.dataset.len(), 6);
        // cats image 2: red = green = 40 + 2; blue 0 left, 255 right.
        let img = load.dataset.image(3);
        assert_eq!(&img[..6], &[42; 6]);
        assert_eq!((img[2 * 24], img[2 * 24 + 5]), (0, 255));
        let grey = index
            .load(&ImageFolderConfig {
                color: ColorMode::Grey,
                ..small()
            })
            .unwrap();
        assert_eq!(grey.dataset.image_shape(), [1, 4, 6]);
    }

    #[test]
    fn bad_trees_are_reported_clearly() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats"], &[2]);
        let err = FolderIndex::discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("found 1 class folder"), "{err}");
        std::fs::create_dir(dir.path().join("dogs")).unwrap();
        let err = FolderIndex::discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("`dogs` holds no images"), "{err}");
        std::fs::write(dir.path().join("dogs/notes.txt"), b"hello").unwrap();
        let err = FolderIndex::discover(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt") && err.contains("not an image file"),
            "{err}"
        );
        let err = FolderIndex::discover(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn corrupt_image_stops_or_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["cats", "dogs"], &[2, 2]);
        let bad = dir.path().join("dogs/broken.jpg");
        std::fs::write(&bad, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
        let index = FolderIndex::discover(dir.path()).unwrap();
        let err = index.load(&small()).unwrap_err().to_string();
        assert!(
            err.contains("broken.jpg") && err.contains("cannot decode"),
            "{err}"
        );
        let skip = ImageFolderConfig {
            skip_bad_images: true,
            ..small()
        };
        let load = index.load(&skip).unwrap();
        assert_eq!(load.skipped, vec![bad]);
        assert_eq!(load.dataset.labels(), [0, 0, 1, 1]);
    }

    /// A JPEG of `photo` under `dir`, and its bytes.
    fn jpeg_file(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
        let path = dir.join(name);
        crate::scaled_jpeg::tests::photo(96, 80)
            .save(&path)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    /// Both JPEG paths (reduced-scale and full-size decoding).
    fn both_jpeg_paths() -> [ImageFolderConfig; 2] {
        let reduced = small();
        let full = ImageFolderConfig {
            jpeg_dct_scaling: false,
            ..small()
        };
        [reduced, full]
    }

    /// Issue 22, item 5: header-only files, cuts at 10-90% and runs of 0xFF
    /// are errors naming the file on both JPEG paths, and skipped with
    /// `skip_bad_images`.
    #[test]
    fn truncated_or_corrupt_jpegs_are_errors_not_grey_images() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = jpeg_file(dir.path(), "whole.jpg");
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let mut smeared = bytes.clone();
        smeared[sos + 200..sos + 260].fill(0xFF);
        let mut broken = vec![("header.jpg", bytes[..sos + 20].to_vec())];
        // Without libjpeg the image crate decodes the rest, and takes this.
        if crate::scaled_jpeg::available() {
            broken.push(("ff.jpg", smeared));
        }
        for cut in [10, 30, 50, 70, 90] {
            broken.push(("cut.jpg", bytes[..bytes.len() * cut / 100].to_vec()));
        }
        for config in both_jpeg_paths() {
            assert!(decode_image(&path, &config).is_ok());
            for (name, data) in &broken {
                let p = dir.path().join(name);
                std::fs::write(&p, data).unwrap();
                let err = decode_image(&p, &config).unwrap_err().to_string();
                assert!(err.contains(name) && err.contains("cannot decode"), "{err}");
            }
        }
        write_tree(dir.path(), &["a", "b"], &[1, 1]);
        std::fs::write(dir.path().join("b/cut.jpg"), &bytes[..bytes.len() / 2]).unwrap();
        let skip = ImageFolderConfig {
            skip_bad_images: true,
            ..small()
        };
        let load = FolderIndex::discover(dir.path())
            .unwrap()
            .load(&skip)
            .unwrap();
        assert_eq!(load.skipped, vec![dir.path().join("b/cut.jpg")]);
    }

    /// Issue 22, items 5 and 13: a 758-byte JPEG claiming 65500 x 65500 and
    /// a small PNG claiming 16000 x 16000 are refused from their headers.
    #[test]
    fn images_past_the_pixel_limit_are_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut bytes) = jpeg_file(dir.path(), "a.jpg");
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
        let huge_jpeg = dir.path().join("huge.jpg");
        std::fs::write(&huge_jpeg, &bytes).unwrap();
        let png_path = dir.path().join("huge.png");
        image::GrayImage::new(4, 4).save(&png_path).unwrap();
        let mut png = std::fs::read(&png_path).unwrap();
        // IHDR's width and height, then its CRC over type and data.
        png[16..24].copy_from_slice(&[0, 0, 0x3E, 0x80, 0, 0, 0x3E, 0x80]);
        let crc = crc32fast::hash(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(&png_path, &png).unwrap();
        for config in both_jpeg_paths() {
            for (path, claim) in [(&huge_jpeg, "65500x65500"), (&png_path, "16000x16000")] {
                let err = decode_image(path, &config).unwrap_err().to_string();
                assert!(
                    err.contains(claim) && err.contains("--max-image-pixels"),
                    "{err}"
                );
            }
        }
        let lifted = ImageFolderConfig {
            max_image_pixels: u64::MAX,
            ..small()
        };
        let err = decode_image(&png_path, &lifted).unwrap_err().to_string();
        assert!(!err.contains("--max-image-pixels"), "{err}");
    }

    /// Issue 22, item 13: a FIFO named `x.jpg` (which would block) and a
    /// link to `/dev/zero` (which would never end) are refused by name.
    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read_from_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &["a", "b"], &[1, 1]);
        let link = dir.path().join("b/x.jpg");
        let refused = || {
            let err = FolderIndex::discover(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains("x.jpg") && err.contains("not a regular file"),
                "{err}"
            );
            let err = decode_image(&link, &small()).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        };
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        refused();
        std::fs::remove_file(&link).unwrap();
        let status = std::process::Command::new("mkfifo").arg(&link).status();
        if status.is_ok_and(|s| s.success()) {
            refused();
        }
    }

    /// Square sizes from 28 to 256 px: shrinking averages areas exactly
    /// (a 256-px checkerboard halves to flat grey), enlarging
    /// interpolates (a flat 12x10 image stays flat at 256 px).
    #[test]
    fn images_shrink_by_area_and_enlarge_to_any_square_size() {
        let dir = tempfile::tempdir().unwrap();
        let checks = image::GrayImage::from_fn(256, 256, |x, y| {
            image::Luma([if (x + y) % 2 == 0 { 0 } else { 200 }])
        });
        let path = dir.path().join("checks.png");
        checks.save(&path).unwrap();
        for side in [28, 64, 128, 256] {
            let config = ImageFolderConfig::for_shape([1, side, side]).unwrap();
            let pixels = decode_image(&path, &config).unwrap();
            assert_eq!(pixels.len(), side * side);
            if side == 128 {
                assert!(pixels.iter().all(|&p| p == 100), "{side} px");
            }
        }
        write_tree(dir.path(), &["a", "b"], &[1, 1]);
        let flat = dir.path().join("b/img00.png");
        let config = ImageFolderConfig::for_shape([3, 256, 256]).unwrap();
        let pixels = decode_image(&flat, &config).unwrap();
        assert_eq!(pixels.len(), 3 * 256 * 256);
        assert!(
            pixels[..256 * 256].iter().all(|&p| p == 40),
            "red stays flat"
        );
    }

    /// A JPEG file decodes to the same shape, and nearly the same pixels,
    /// with and without reduced-scale decoding, in RGB and in grey.
    #[test]
    fn jpeg_files_decode_alike_reduced_or_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        crate::scaled_jpeg::tests::photo(320, 240)
            .save(&path)
            .unwrap();
        for color in [ColorMode::Rgb, ColorMode::Grey] {
            let reduced = ImageFolderConfig {
                size: [48, 64],
                color,
                ..Default::default()
            };
            let full = ImageFolderConfig {
                jpeg_dct_scaling: false,
                ..reduced.clone()
            };
            let (a, b) = (
                decode_image(&path, &reduced).unwrap(),
                decode_image(&path, &full).unwrap(),
            );
            assert_eq!(a.len(), color.channels() * 48 * 64);
            assert_eq!(a.len(), b.len());
            let mean = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(x.abs_diff(*y)))
                .sum::<f64>()
                / a.len() as f64;
            assert!(mean < 3.0, "{color:?}: mean difference {mean:.2} levels");
        }
    }
}
