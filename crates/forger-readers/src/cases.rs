//! The study's cases: the questions of a teaching site's reader test, with
//! their images, and the order each reader sees them in.

use std::path::{Component, Path};

use forger_teach::{AnswerKey, Truth};
use rand::seq::SliceRandom;

use crate::{ReadersError, Result};

/// One case of the study: an image and the truth about it. Its `id` is its
/// 1-based place in the site's answer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// 1-based number of the case, as pages and answers name it.
    pub id: u32,
    /// The image's path in the site (`quiz/001.png`); it says nothing of the truth.
    pub image: String,
    /// The image's class name.
    pub class: String,
    /// Whether the image is real or synthetic.
    pub truth: Truth,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Case {
    /// A case from a PNG file's bytes; fails unless they are a PNG.
    pub fn new(
        id: u32,
        image: String,
        class: String,
        truth: Truth,
        png: Vec<u8>,
    ) -> std::result::Result<Self, String> {
        if image::guess_format(&png).ok() != Some(image::ImageFormat::Png) {
            return Err("not a PNG image".into());
        }
        let (width, height) = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .map(|i| (i.width(), i.height()))
            .map_err(|e| format!("not a readable PNG image: {e}"))?;
        Ok(Self {
            id,
            image,
            class,
            truth,
            png,
            width,
            height,
        })
    }
}

/// The cases of the site in `site_dir` (built by `forger teach`): its
/// answer key and the images it names, which must lie inside the site.
pub fn read_site(site_dir: &Path) -> Result<Vec<Case>> {
    let key = AnswerKey::read(site_dir)?;
    key.questions
        .into_iter()
        .enumerate()
        .map(|(n, q)| {
            let bad = |what: String| ReadersError::BadCase {
                site: site_dir.to_path_buf(),
                case: n + 1,
                image: q.image.clone(),
                what,
            };
            let inside = Path::new(&q.image)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            if !inside {
                return Err(bad("the image path leaves the site folder".into()));
            }
            let path = site_dir.join(&q.image);
            let png = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
            let id = u32::try_from(n + 1).map_err(|_| bad("too many cases".into()))?;
            Case::new(id, q.image.clone(), q.class.clone(), q.answer, png).map_err(bad)
        })
        .collect()
}

/// The order in which reader `reader` sees case ids `1..=count`: a shuffle
/// seeded by the reader's number (stream `readers-order`), the same on
/// every call, so that a reader resumes in the same order.
pub fn reader_order(reader: i64, count: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (1..=count).collect();
    let mut rng = forger_data::rng::derive(reader as u64, "readers-order", 0);
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reader_has_a_fixed_shuffle_of_every_case() {
        let a = reader_order(1, 20);
        assert_eq!(a, reader_order(1, 20));
        assert_ne!(a, reader_order(2, 20));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn a_case_must_be_a_png() {
        let err = Case::new(
            1,
            "quiz/001.png".into(),
            "a".into(),
            Truth::Real,
            b"GIF89a".to_vec(),
        );
        assert_eq!(err.unwrap_err(), "not a PNG image");
    }
}
