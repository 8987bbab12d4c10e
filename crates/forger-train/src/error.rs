use std::path::{Path, PathBuf};

/// Errors from training, evaluation and the files they read and write.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file forger wrote earlier (checkpoint, run config) is not what it should be.
    #[error("{path}: {what}")]
    File { path: PathBuf, what: String },
    /// Arguments that cannot work together.
    #[error("{0}")]
    Invalid(String),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: {what}")]
    Diverged { step: u64, what: String },
    #[error(transparent)]
    Data(#[from] forger_data::DataError),
    #[error(transparent)]
    Model(#[from] forger_models::ModelError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A file forger wrote that is not what it should be.
    pub fn file(path: &Path, what: impl Into<String>) -> Self {
        Self::File {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
