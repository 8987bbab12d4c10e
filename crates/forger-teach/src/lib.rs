//! The teaching side of forger: a self-contained static site that puts the
//! study's images in front of a person.
//!
//! [`build_site`] writes, into one folder that opens from disk with no server
//! and no network:
//! - `index.html`, the case library: synthetic cases per class beside a
//!   smaller set of real ones, with class filters;
//! - `quiz.html` and its answer key `quiz.json`, the "real or synthetic?"
//!   reader test (a visual Turing test), seeded and shuffled;
//! - `report.html`, the study's `report.md` rendered with its images, when a
//!   study folder is given, and `audit.html`, its memorisation audit
//!   (`audit.md`: can these cases be shared?), when the study has one.
//!
//! Modules: `site` (the entry point, [`build_site`]), `cases` (reading the
//! synthetic and real cases), `selection` (which cases the library and the
//! quiz show, seeded), `quiz` (the reader test and its [`AnswerKey`]),
//! `pages` and `html` (the pages and their escaping, [`escape_html`]), `report` (the study
//! report as HTML) and `error`.
//!
//! ```no_run
//! use forger_teach::{build_site, SiteInputs, SiteOptions};
//! let path = "datasets/pneumoniamnist.npz".as_ref();
//! let splits = forger_data::load(path, &forger_data::LoadConfig::default())?.splits;
//! let inputs = SiteInputs {
//!     synthetic_dir: "runs/gan-auc/synthetic".as_ref(),
//!     real: &splits.test,
//!     study_dir: Some("runs/gan-auc".as_ref()),
//! };
//! let site = build_site(&inputs, &SiteOptions::default(), "runs/gan-auc/site".as_ref())?;
//! println!("open {}", site.out.join("index.html").display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cases;
mod error;
mod html;
mod pages;
mod quiz;
mod report;
mod selection;
mod site;

pub use error::{Result, TeachError};
pub use html::escape as escape_html;
pub use quiz::{AnswerKey, Question, Truth, ANSWER_KEY_FILE};
pub use site::{build_site, SiteInputs, SiteOptions, SiteSummary, SITE_MARKER};
