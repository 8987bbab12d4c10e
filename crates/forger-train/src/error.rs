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
    /// Images of one shape given to a model built for another
    /// ([`crate::check_image_shape`]).
    #[error(
        "the {what} images are {} but the model was built for {}: read the images at the \
         model's size and colour, or build the model for theirs",
        shape_text(*.images),
        shape_text(*.model)
    )]
    ImageShape {
        /// Which images (`training`, `test`, ...).
        what: String,
        /// `[channels, height, width]` of the images.
        images: [usize; 3],
        /// `[channels, height, width]` the model takes.
        model: [usize; 3],
    },
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

/// `[channels, height, width]` in words: `64x64 px, 1 channel`.
fn shape_text([channels, height, width]: [usize; 3]) -> String {
    let plural = if channels == 1 { "" } else { "s" };
    format!("{height}x{width} px, {channels} channel{plural}")
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
