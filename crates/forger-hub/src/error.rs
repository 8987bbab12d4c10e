//! [`HubError`]: everything that can go wrong fetching and converting a data
//! set, each naming the data set, file or URL concerned and what was expected.

use std::path::PathBuf;

pub use crate::parquet_images::ParquetImageError;

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
