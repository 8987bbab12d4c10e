//! The reader test's answer key (`quiz.json`) and the data its page embeds.

use serde::{Deserialize, Serialize};

use crate::cases::Origin;

/// The truth about a quiz image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truth {
    Real,
    Synthetic,
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
