use std::path::{Path, PathBuf};

/// Errors from building a teaching site. Each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum TeachError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A synthetic case is not a readable image.
    #[error("{path}: not a readable PNG image: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// A synthetic case named `.png` holds something else.
    #[error("{path}: not a PNG image")]
    NotPng { path: PathBuf },
    /// The synthetic folder holds no class folder with PNG images.
    #[error("{path}: no synthetic samples: expected one folder per class holding PNG images (DIR/<class>/*.png)")]
    NoSamples { path: PathBuf },
    /// A class folder of the synthetic cases holds no PNG image.
    #[error("{path}: this synthetic class folder holds no PNG images")]
    EmptyClass { path: PathBuf },
    /// The synthetic class folders are not the real data's classes.
    #[error("{path}: the synthetic class folders {synthetic:?} do not match the real data's classes {real:?}")]
    ClassMismatch {
        path: PathBuf,
        synthetic: Vec<String>,
        real: Vec<String>,
    },
    /// The output folder exists and was not written by this crate.
    #[error("{path}: exists and is not a forger site (it has no {marker} marker file); choose a new or empty folder")]
    NotASite { path: PathBuf, marker: &'static str },
    /// The folder to read a site from holds none (or does not exist).
    #[error("{path}: is not a forger site to read (no {marker} marker file there): build one with `forger teach --gan RUN --real DATA --out SITE`")]
    NoSite { path: PathBuf, marker: &'static str },
    /// There are not enough cases for what the options ask.
    #[error("{what}: {needed} needed but only {available} available")]
    TooFewCases {
        what: String,
        needed: usize,
        available: usize,
    },
    /// The real data cannot be shown as images.
    #[error("real data: {0}")]
    RealData(String),
    /// An option is out of range.
    #[error("option {name}: {what}")]
    Option { name: &'static str, what: String },
    /// `report.md` refers to an image the site cannot hold.
    #[error("{path}: image {url:?}: {what}")]
    ReportImage {
        path: PathBuf,
        url: String,
        what: String,
    },
    /// A site's answer key is not the JSON this crate writes.
    #[error("{path}: not a forger answer key (expected {{\"questions\": [{{\"image\", \"answer\", \"class\"}}, ...]}}): {source}")]
    BadKey {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The quiz data could not be written as JSON.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`TeachError`].
pub type Result<T> = std::result::Result<T, TeachError>;

impl TeachError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
