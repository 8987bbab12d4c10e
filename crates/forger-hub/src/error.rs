//! [`HubError`]: everything that can go wrong fetching and converting a data
//! set, and [`ParquetImageError`], what can go wrong reading a parquet shard
//! of images; each names the data set, file, URL or row concerned and what
//! was expected.

use std::path::PathBuf;

/// What went wrong fetching or converting a data set.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No catalog entry has this name.
    #[error(
        "unknown data set `{name}`: expected one of {known} \
         (`--list` shows each with its size, licence and source)"
    )]
    UnknownDataSet {
        name: String,
        /// The catalog's names, comma separated.
        known: String,
    },
    /// The endpoint is not an `http://` or `https://` URL.
    #[error(
        "endpoint `{endpoint}` is not a URL: expected http://HOST[:PORT] or https://HOST[:PORT]"
    )]
    BadEndpoint { endpoint: String },
    /// The endpoint's host could not be resolved or connected to.
    #[error("could not reach {endpoint}: {problem}\n{by_hand}")]
    Unreachable {
        endpoint: String,
        /// What was tried and how it failed.
        problem: String,
        /// How to place the files by hand instead.
        by_hand: String,
    },
    /// Offline mode, and the files are neither in the cache nor placed by hand.
    #[error("{by_hand}")]
    NotCached {
        name: String,
        cache: PathBuf,
        /// What is missing and how to place the files by hand.
        by_hand: String,
    },
    /// hf-hub's client could not be built.
    #[error("setting up the Hub client for {cache}: {source}", cache = cache.display())]
    Client {
        cache: PathBuf,
        #[source]
        source: hf_hub::api::sync::ApiError,
    },
    /// Every attempt at a file failed.
    #[error(
        "downloading {url} failed after {attempts} attempts: {source}\n\
         (the partial download is kept in {partial} and resumed next time)",
        partial = partial.display()
    )]
    Download {
        url: String,
        attempts: usize,
        /// hf-hub's cache, where the `.part` file stays.
        partial: PathBuf,
        #[source]
        source: hf_hub::api::sync::ApiError,
    },
    /// A file from the Hub has no sha256 to check it against.
    #[error(
        "{url}: cannot verify: the Hub sent no sha256 ETag (not an LFS file) \
         and none is pinned in the catalog"
    )]
    Unverifiable { url: String },
    /// A file from the Hub does not have the sha256 it should; it was removed.
    #[error(
        "checksum mismatch for {url}: sha256 {got}, expected {want} ({whose}); \
         the corrupt file was removed, run the download again"
    )]
    Checksum {
        url: String,
        got: String,
        want: String,
        /// Where `want` comes from: the Hub's ETag or the catalog's pin.
        whose: &'static str,
    },
    /// A file placed by hand does not have the catalog's pinned sha256.
    #[error("{file}: sha256 {got} does not match the pinned {want}; replace the file", file = file.display())]
    PinnedChecksum {
        file: PathBuf,
        got: String,
        want: &'static str,
    },
    /// A catalog entry does not fit its layout (a catalog bug).
    #[error("data set {name}: {problem}")]
    Catalog { name: &'static str, problem: String },
    /// Reading, writing, copying or removing a file failed.
    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. `reading`.
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The finished conversion could not be moved into place.
    #[error("moving {from} to {to}: {source}", from = from.display(), to = to.display())]
    Move {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A parquet shard could not be read or converted.
    #[error(transparent)]
    Parquet(#[from] ParquetImageError),
    /// The downloaded or converted data does not read back as forger reads it.
    #[error("{path} should be {expected}, but forger cannot read it: {source}", path = path.display())]
    ReadBack {
        path: PathBuf,
        /// What the file or folder should be, e.g. `an image folder`.
        expected: &'static str,
        #[source]
        source: forger_data::DataError,
    },
}

/// What went wrong reading or converting a parquet file of images.
#[derive(Debug, thiserror::Error)]
pub enum ParquetImageError {
    /// The file could not be opened.
    #[error("{}: cannot open: {source}", file.display())]
    Open {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The file is not parquet, or a part of it could not be read.
    #[error("{}: not a readable parquet file: {source}", file.display())]
    Parquet {
        file: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// A column forger needs is missing.
    #[error("{}: no column `{column}`: expected {expected}; the file has {found}", file.display())]
    MissingColumn {
        file: PathBuf,
        column: String,
        expected: &'static str,
        found: String,
    },
    /// A column has the wrong type.
    #[error("{}: column `{column}` is {found}: expected {expected}", file.display())]
    ColumnType {
        file: PathBuf,
        column: String,
        found: String,
        expected: &'static str,
    },
    /// A column is compressed with a codec this build does not read.
    #[error(
        "{}: column `{column}` is compressed with {codec}: this build reads Snappy or \
         uncompressed parquet (what the Hub serves)",
        file.display()
    )]
    Codec {
        file: PathBuf,
        column: String,
        codec: String,
    },
    /// A value in a row is not what the column should hold.
    #[error("{}: row {row}, column `{column}`: {problem}", file.display())]
    Value {
        file: PathBuf,
        row: usize,
        column: String,
        problem: String,
    },
    /// An image's bytes do not decode.
    #[error("{}: row {row}, column `{column}`: cannot decode the image: {source}", file.display())]
    Image {
        file: PathBuf,
        row: usize,
        column: &'static str,
        source: image::ImageError,
    },
    /// Nothing names the classes, so no class folders can be named.
    #[error("{}: no class names for column `{column}`: the file's metadata names none and the catalog gives none", file.display())]
    NoClassNames { file: PathBuf, column: String },
    /// The class names do not make distinct, valid folder names.
    #[error("{}: the class names {names:?} of column `{column}` do not make distinct folder names", file.display())]
    ClassNames {
        file: PathBuf,
        column: String,
        names: Vec<String>,
    },
    /// Writing a converted file failed.
    #[error("{}: writing: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result with [`HubError`].
pub type Result<T> = std::result::Result<T, HubError>;

impl HubError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
