use std::path::PathBuf;

/// Errors of the reader study: opening a site or database, serving, and
/// writing results. Each names the path or address it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ReadersError {
    /// The teaching site could not be read.
    #[error(transparent)]
    Site(#[from] forger_teach::TeachError),
    /// A case of the site's answer key is unusable.
    #[error("{site}: case {case} ({image}): {what}")]
    BadCase {
        site: PathBuf,
        case: usize,
        image: String,
        what: String,
    },
    /// The database holds another site's cases.
    #[error(
        "{db}: this database holds a study of other cases ({what}); use a new --db for this site"
    )]
    OtherStudy { db: PathBuf, what: String },
    /// The database holds no cases (it was never served from a site).
    #[error("{db}: no study in this database: start one with `forger teach serve --site SITE --db {db}`", db = .db.display())]
    NoStudy { db: PathBuf },
    /// SQLite failed.
    #[error("{db}: SQLite: {source}")]
    Sqlite {
        db: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A file or socket failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A value could not be written as JSON.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`ReadersError`].
pub type Result<T> = std::result::Result<T, ReadersError>;

impl ReadersError {
    pub(crate) fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_string(),
            source,
        }
    }
}
