//! An image folder decoded on demand, as Keras' `flow_from_directory` does.

use std::path::{Path, PathBuf};

use super::raw::out_of_range;
use super::Source;
use crate::image_folder::{FolderIndex, ImageFolderConfig};
use crate::Result;

/// A class-per-folder tree (listed by [`FolderIndex`], by its rules) whose
/// images are decoded, converted and resized by an [`ImageFolderConfig`]
/// each time they are read. With [`ImageFolderConfig::skip_bad_images`], an
/// undecodable file reads as skipped (`Ok(None)`) instead of an error.
#[derive(Debug, Clone)]
pub struct FolderSource {
    index: FolderIndex,
    config: ImageFolderConfig,
}

impl FolderSource {
    /// A source over the files of `index`, decoded by `config`.
    pub fn new(index: FolderIndex, config: ImageFolderConfig) -> Self {
        Self { index, config }
    }

    /// Lists `root` ([`FolderIndex::discover`]) and decodes by `config`.
    pub fn open(root: &Path, config: ImageFolderConfig) -> Result<Self> {
        Ok(Self::new(FolderIndex::discover(root)?, config))
    }

    /// The listing.
    pub fn index(&self) -> &FolderIndex {
        &self.index
    }

    /// How the images are decoded.
    pub fn config(&self) -> &ImageFolderConfig {
        &self.config
    }
}

impl Source for FolderSource {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn image_shape(&self) -> [usize; 3] {
        self.config.image_shape()
    }
    fn classes(&self) -> &[String] {
        self.index.classes()
    }
    fn read(&self, i: usize, out: &mut [u8]) -> Result<Option<u32>> {
        if i >= self.index.len() {
            return Err(out_of_range(i, self.index.len()));
        }
        let Some(pixels) = self.index.decode(i, &self.config)? else {
            return Ok(None);
        };
        out.copy_from_slice(&pixels);
        Ok(Some(self.index.labels()[i]))
    }
    fn path(&self, i: usize) -> Option<PathBuf> {
        self.index.path(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_folder::tests::write_tree;

    #[test]
    fn decodes_on_demand_with_classes_from_folders_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        for (class, shade) in [("cat", 10u8), ("dog", 200)] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            for k in 0..2 {
                image::GrayImage::from_pixel(3, 3, image::Luma([shade + k]))
                    .save(dir.path().join(class).join(format!("{k}.png")))
                    .unwrap();
            }
        }
        let config = ImageFolderConfig::for_shape([1, 2, 2]).unwrap();
        let source = FolderSource::open(dir.path(), config.clone()).unwrap();
        assert_eq!(source.classes(), ["cat", "dog"]);
        let mut out = [0u8; 4];
        assert_eq!(source.read(3, &mut out).unwrap(), Some(1));
        assert_eq!(out, [201; 4]);
        assert!(source.read(4, &mut out).is_err());
        std::fs::write(dir.path().join("dog/bad.png"), b"nope").unwrap();
        let source = FolderSource::open(dir.path(), config.clone()).unwrap();
        let err = source.read(4, &mut out).unwrap_err().to_string();
        assert!(err.contains("bad.png"), "{err}");
        let skipping = FolderSource::open(
            dir.path(),
            ImageFolderConfig {
                skip_bad_images: true,
                ..config
            },
        )
        .unwrap();
        assert_eq!(skipping.read(4, &mut out).unwrap(), None);
        assert!(skipping.path(4).unwrap().ends_with("dog/bad.png"));
        let empty = tempfile::tempdir().unwrap();
        write_tree(empty.path(), &["only"], &[1]);
        let err = FolderSource::open(empty.path(), ImageFolderConfig::default()).unwrap_err();
        assert!(err.to_string().contains("class folder"), "{err}");
    }
}
