//! Small HTML helpers shared by the pages: escaping, the page frame and
//! image sizes.

use std::fmt::Write;

/// Escapes text for HTML content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON made safe to sit inside a `<script>` element: `<` only occurs in
/// strings, where `\u003c` means the same.
pub(crate) fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

/// The pages of the site, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    Library,
    Quiz,
    /// The study's `report.md`.
    Report,
    /// The study's memorisation audit, `audit.md`.
    Audit,
}

impl Page {
    pub(crate) fn file(self) -> &'static str {
        match self {
            Page::Library => "index.html",
            Page::Quiz => "quiz.html",
            Page::Report => "report.html",
            Page::Audit => "audit.html",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Page::Library => "Case library",
            Page::Quiz => "Reader test",
            Page::Report => "Study report",
            Page::Audit => "Can these cases be shared?",
        }
    }
}

/// A whole page: head, navigation (the library, the quiz and the `study`
/// pages the site has), `main` and the scripts, which are paths relative
/// to the site root.
pub(crate) fn page(current: Page, study: &[Page], main: &str, scripts: &[&str]) -> String {
    let mut nav = String::new();
    for &p in [Page::Library, Page::Quiz].iter().chain(study) {
        let current_attr = if p == current {
            r#" aria-current="page""#
        } else {
            ""
        };
        let _ = write!(
            nav,
            r#"<a href="{}"{current_attr}>{}</a>"#,
            p.file(),
            p.title()
        );
    }
    let mut script_tags = String::new();
    for s in scripts {
        let _ = write!(script_tags, "\n<script src=\"{}\"></script>", escape(s));
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · forger</title>
<link rel="stylesheet" href="assets/site.css">
</head>
<body>
<header class="top"><span class="brand">forger</span><nav aria-label="Site">{nav}</nav></header>
<main id="main">
{main}
</main>
<footer>Made by forger-teach. This site opens from disk and loads nothing from the network.</footer>{script_tags}
</body>
</html>
"#,
        title = current.title(),
    )
}

/// The on-screen size of an image: the largest whole multiple of its size
/// that fits `target` pixels on its longer side (at least 1x), so that
/// nearest-neighbour upscaling keeps every source pixel the same size.
pub(crate) fn display_size(width: u32, height: u32, target: u32) -> (u32, u32) {
    let scale = (target / width.max(height).max(1)).max(1);
    (width * scale, height * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            script_json(r#"{"a":"</script>"}"#),
            r#"{"a":"\u003c/script>"}"#
        );
    }

    #[test]
    fn display_size_is_a_whole_multiple() {
        assert_eq!(display_size(28, 28, 128), (112, 112));
        assert_eq!(display_size(64, 32, 128), (128, 64));
        assert_eq!(display_size(300, 200, 128), (300, 200));
    }

    #[test]
    fn navigation_lists_the_report_only_when_there_is_one() {
        let with = page(Page::Quiz, &[Page::Report], "<p>x</p>", &["assets/quiz.js"]);
        assert!(with.contains(r#"<a href="quiz.html" aria-current="page">"#));
        assert!(with.contains("report.html"));
        assert!(with.contains(r#"<script src="assets/quiz.js"></script>"#));
        assert!(!page(Page::Library, &[], "", &[]).contains("report.html"));
    }
}
