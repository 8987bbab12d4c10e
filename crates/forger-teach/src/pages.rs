//! The case library (`index.html`) and the reader test (`quiz.html`).

use std::fmt::Write;

use crate::cases::{CaseImage, Origin};
use crate::html::{display_size, escape, page, Page};

/// On-screen size of the longer side of a library image, in CSS pixels.
const LIBRARY_SIZE: u32 = 128;
/// On-screen size of the longer side of a quiz image, in CSS pixels.
const QUIZ_SIZE: u32 = 448;

/// A case written into the site, with its class index.
#[derive(Debug, Clone)]
pub(crate) struct SiteCase {
    pub origin: Origin,
    pub class: usize,
    pub image: CaseImage,
}

/// The case library: the synthetic cases, then the real ones, each grouped
/// by class, with class filter buttons that the script shows.
pub(crate) fn library(classes: &[String], cases: &[SiteCase], study: &[Page]) -> String {
    let count = |origin| cases.iter().filter(|c| c.origin == origin).count();
    let mut main = format!(
        r#"<h1>Case library</h1>
<p class="lead">{} synthetic cases made by the GAN and {} real cases for comparison. Images are enlarged without smoothing, so each source pixel shows as a square.</p>
<div class="filters" role="group" aria-label="Show class" hidden>
<button type="button" data-filter="" aria-pressed="true">All classes</button>"#,
        count(Origin::Synthetic),
        count(Origin::Real),
    );
    for (i, class) in classes.iter().enumerate() {
        let _ = write!(
            main,
            "\n<button type=\"button\" data-filter=\"{i}\" aria-pressed=\"false\">{}</button>",
            escape(class)
        );
    }
    main.push_str("\n</div>");
    for (origin, heading) in [
        (Origin::Synthetic, "Synthetic cases"),
        (Origin::Real, "Real cases"),
    ] {
        let _ = write!(
            main,
            "\n<section class=\"origin\" aria-labelledby=\"{0}-h\">\n<h2 id=\"{0}-h\">{heading}</h2>",
            origin.word()
        );
        for (class_index, class) in classes.iter().enumerate() {
            let in_class: Vec<&SiteCase> = cases
                .iter()
                .filter(|c| c.origin == origin && c.class == class_index)
                .collect();
            main.push_str(&class_group(origin, class_index, class, &in_class));
        }
        main.push_str("\n</section>");
    }
    page(Page::Library, study, &main, &["assets/library.js"])
}

fn class_group(origin: Origin, class_index: usize, class: &str, cases: &[&SiteCase]) -> String {
    let class = escape(class);
    let mut out = format!(
        "\n<div class=\"class-group\" data-class=\"{class_index}\">\n<h3>{class} <span class=\"count\">({})</span></h3>",
        cases.len()
    );
    if cases.is_empty() {
        out.push_str("\n<p class=\"muted\">No cases of this class.</p>");
    } else {
        out.push_str("\n<div class=\"grid\">");
        for (n, case) in cases.iter().enumerate() {
            let (w, h) = display_size(case.image.width, case.image.height, LIBRARY_SIZE);
            let alt = format!(
                "{} case {} of class {class}",
                capitalised(origin.word()),
                n + 1
            );
            let _ = write!(
                out,
                "\n<figure class=\"case\"><img src=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"{alt}\" loading=\"lazy\"><figcaption>{class}</figcaption></figure>",
                escape(&case.image.file)
            );
        }
        out.push_str("\n</div>");
    }
    out.push_str("\n</div>");
    out
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The reader test. `data_json` is the embedded [`crate::quiz::PageData`];
/// the script shows one question at a time and builds the result.
pub(crate) fn quiz(
    data_json: &str,
    questions: usize,
    classes: &[String],
    ask_class: bool,
    study: &[Page],
) -> String {
    let (w, h) = (QUIZ_SIZE, QUIZ_SIZE);
    let class_choice = if ask_class {
        let mut radios = String::new();
        for (i, class) in classes.iter().enumerate() {
            let key = if i < 9 {
                format!(" <kbd>{}</kbd>", i + 1)
            } else {
                String::new()
            };
            let _ = write!(
                radios,
                "\n<label><input type=\"radio\" name=\"class\" value=\"{0}\"> {0}{key}</label>",
                escape(class)
            );
        }
        format!("\n<fieldset id=\"class-choice\"><legend>Class (optional, choose first)</legend>{radios}\n</fieldset>")
    } else {
        String::new()
    };
    let class_hint = if ask_class {
        " Also choose the class you see, with the radio buttons or the number keys, before answering."
    } else {
        ""
    };
    let main = format!(
        r#"<h1>Reader test: real or synthetic?</h1>
<p class="lead">{questions} images, one at a time. Some are real cases, some were made by the GAN. Answer with the buttons or the keys <kbd>R</kbd> (real) and <kbd>S</kbd> (synthetic).{class_hint} At the end you see your score and every answer with the truth.</p>
<noscript><p class="warn">The reader test needs JavaScript.</p></noscript>
<section id="question" class="question" aria-labelledby="progress" hidden>
<p id="progress" class="progress" aria-live="polite"></p>
<img id="question-image" alt="" width="{w}" height="{h}">{class_choice}
<div class="answers">
<button type="button" data-answer="real"><kbd>R</kbd> Real</button>
<button type="button" data-answer="synthetic"><kbd>S</kbd> Synthetic</button>
</div>
</section>
<div id="result-area"></div>
<script type="application/json" id="quiz-data">{data_json}</script>"#
    );
    page(Page::Quiz, study, &main, &["assets/quiz.js"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(origin: Origin, class: usize, file: &str) -> SiteCase {
        SiteCase {
            origin,
            class,
            image: CaseImage {
                file: file.into(),
                width: 28,
                height: 28,
            },
        }
    }

    #[test]
    fn library_groups_cases_with_alt_text_and_escaped_names() {
        let classes = vec!["normal".to_string(), "<b>&".to_string()];
        let html = library(
            &classes,
            &[
                case(Origin::Synthetic, 0, "cases/s.png"),
                case(Origin::Real, 1, "cases/r.png"),
            ],
            &[],
        );
        assert!(html.contains(r#"<img src="cases/s.png" width="112" height="112" alt="Synthetic case 1 of class normal""#));
        assert!(html.contains(r#"alt="Real case 1 of class &lt;b&gt;&amp;""#));
        assert!(html.contains(r#"data-filter="1" aria-pressed="false">&lt;b&gt;&amp;</button>"#));
        assert!(!html.contains("<b>&"));
        assert_eq!(html.matches("No cases of this class.").count(), 2);
    }

    #[test]
    fn quiz_has_exactly_one_pair_of_answer_buttons() {
        let classes = vec!["a".to_string(), "b".to_string()];
        let html = quiz("{}", 3, &classes, false, &[Page::Report]);
        assert_eq!(html.matches(r#"data-answer="real""#).count(), 1);
        assert_eq!(html.matches(r#"data-answer="synthetic""#).count(), 1);
        assert!(!html.contains("class-choice"));
        assert!(
            !html.contains(r#"id="result""#),
            "the result only appears after the last answer"
        );
        let asking = quiz("{}", 3, &classes, true, &[Page::Report]);
        assert!(asking.contains(r#"<input type="radio" name="class" value="b"> b <kbd>2</kbd>"#));
    }
}
