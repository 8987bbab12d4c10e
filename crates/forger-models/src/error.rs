/// Errors from building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration that cannot make a working model.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// A tensor operation failed (shapes, devices, missing weights).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;
