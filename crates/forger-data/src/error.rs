use std::path::{Path, PathBuf};

/// Errors from reading or batching data. Each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its contents are not what the format requires.
    #[error("{path}: {what}")]
    Format { path: PathBuf, what: String },
    /// Two data sets or arguments do not fit together.
    #[error("{0}")]
    Invalid(String),
    /// A tensor could not be built from the data.
    #[error("building a tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Result with [`DataError`].
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn format(path: &Path, what: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
