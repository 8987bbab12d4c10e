//! The reader test's answer key (`quiz.json`) and the data its page embeds.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cases::Origin;
use crate::{Result, TeachError, SITE_MARKER};

/// The answer key's file name in a site folder.
pub const ANSWER_KEY_FILE: &str = "quiz.json";

/// The truth about a quiz image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truth {
    Real,
    Synthetic,
}

impl Truth {
    /// The truth's word, as `quiz.json` writes it: `real` or `synthetic`.
    pub fn word(self) -> &'static str {
        match self {
            Truth::Real => "real",
            Truth::Synthetic => "synthetic",
        }
    }
}

impl From<Origin> for Truth {
    fn from(origin: Origin) -> Self {
        match origin {
            Origin::Real => Truth::Real,
            Origin::Synthetic => Truth::Synthetic,
        }
    }
}

/// One question of the reader test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The image, relative to `quiz.html`.
    pub image: String,
    /// Whether the image is real or synthetic.
    pub answer: Truth,
    /// The image's class name.
    pub class: String,
}

/// The contents of `quiz.json`: the questions in the order the page asks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerKey {
    pub questions: Vec<Question>,
}

impl AnswerKey {
    /// Reads the answer key of a site that [`crate::build_site`] wrote in
    /// `site_dir`. Fails naming the path when the folder is not such a site
    /// or its `quiz.json` does not parse.
    pub fn read(site_dir: &Path) -> Result<Self> {
        if !site_dir.join(SITE_MARKER).is_file() {
            return Err(TeachError::NoSite {
                path: site_dir.to_path_buf(),
                marker: SITE_MARKER,
            });
        }
        let path = site_dir.join(ANSWER_KEY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TeachError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|source| TeachError::BadKey { path, source })
    }
}

/// What `quiz.html` embeds: the key plus what the page needs to show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageData<'a> {
    pub questions: Vec<PageQuestion<'a>>,
    pub classes: &'a [String],
    pub ask_class: bool,
}

/// A question as the page sees it: the key's entry and the image's size.
#[derive(Debug, Serialize)]
pub(crate) struct PageQuestion<'a> {
    #[serde(flatten)]
    pub question: &'a Question,
    pub width: u32,
    pub height: u32,
}
