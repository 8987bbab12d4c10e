//! The reader study: readers judge a teaching site's cases real or
//! synthetic, with confidence, on a small HTTP server, and the educator gets
//! the statistics that reader studies report.
//!
//! Modules: `cases` (the site's cases and each reader's seeded order),
//! `store` (the SQLite database, WAL mode: cases, readers, answers),
//! `server` (the axum server: binding, running, routes), `app` (the state
//! its handlers share, and its random secrets), `api` (its
//! handlers: the reader's JSON API, case images, token-guarded results), `pages` (the reader page and its script), `stats` (accuracy
//! and its exact binomial p-value, sensitivity and specificity, ROC AUC,
//! Fleiss' kappa, per reader, group and pooled), `results` (CSV, JSON and
//! HTML results), `load` (simulated concurrent readers), `http` (the
//! minimal client they use) and `error`.
//!
//! ```no_run
//! use forger_readers::{ReaderServer, Store};
//! let store = Store::open_for_site("readers.sqlite".as_ref(), "site".as_ref())?;
//! let server = ReaderServer::bind(store, "127.0.0.1:8080".parse()?)?;
//! println!("reader URL: {}", server.reader_url());
//! println!("results URL: {}", server.results_url());
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod app;
mod cases;
mod error;
pub mod http;
pub mod load;
mod pages;
mod results;
mod server;
pub mod stats;
mod store;

pub use api::{NAME_LIMIT, NOTE_LIMIT};
pub use cases::{read_site, reader_order, Case};
pub use error::{ReadersError, Result};
pub use results::{answers_csv, results_html, summarize_store, write_results};
pub use server::{ReaderServer, RunningServer, BODY_LIMIT};
pub use stats::{fleiss_kappa, Summary};
pub use store::{Answer, AnswerRow, Level, Reader, RecordError, Store};
