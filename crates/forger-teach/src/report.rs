//! The study report: `report.md` rendered to HTML, with the images it shows
//! (and local files it links to) copied into the site.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path};

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use crate::cases::create_parent;
use crate::html::{page, Page};
use crate::{Result, TeachError};

/// The report's file name in the study folder.
pub(crate) const REPORT_MD: &str = "report.md";
/// The memorisation audit's file name in the study folder.
pub(crate) const AUDIT_MD: &str = "audit.md";
/// The site folder that holds the report's images.
const REPORT_ASSETS: &str = "report";

/// Renders a study page (`study_dir/report.md` for [`Page::Report`],
/// `audit.md` for [`Page::Audit`]) and copies the images it shows into
/// `site/report/`. Every image must be a file inside the study folder,
/// named by a relative path; linked local files are copied when they exist,
/// and other links are left as they are. `study` lists the study pages the
/// site has, for the navigation.
pub(crate) fn render(
    study_dir: &Path,
    current: Page,
    study: &[Page],
    site: &Path,
) -> Result<String> {
    let source = if current == Page::Audit {
        AUDIT_MD
    } else {
        REPORT_MD
    };
    let md_path = study_dir.join(source);
    let markdown = fs::read_to_string(&md_path).map_err(|e| TeachError::io(&md_path, e))?;
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    let mut copied = HashSet::new();
    let mut events = Vec::new();
    for event in Parser::new_ext(&markdown, options) {
        let event = match event {
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest_url = copy_local(study_dir, site, &md_path, &dest_url, true, &mut copied)?
                    .map_or(dest_url, CowStr::from);
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest_url = if is_safe_link(&dest_url) {
                    copy_local(study_dir, site, &md_path, &dest_url, false, &mut copied)?
                        .map_or(dest_url, CowStr::from)
                } else {
                    tracing::warn!(file = %md_path.display(), url = %dest_url, "dropping an unsafe link");
                    CowStr::from("#")
                };
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            // Raw HTML (`<script>`, `onerror=`) is shown as text, never run.
            Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
            other => other,
        };
        events.push(event);
    }
    let mut article = String::from("<article class=\"report\">\n");
    pulldown_cmark::html::push_html(&mut article, events.into_iter());
    article.push_str("</article>");
    Ok(page(current, study, &article, &[]))
}

/// Whether a link may stand in the site: a relative URL, a fragment, or
/// `http:`, `https:` or `mailto:` (not `javascript:`, `data:`, ...).
fn is_safe_link(url: &str) -> bool {
    // Browsers ignore control characters and spaces inside a scheme.
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    match cleaned.find([':', '/', '?', '#']) {
        Some(at) if cleaned[at..].starts_with(':') => {
            matches!(&cleaned[..at], "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// Whether `url` names a regular file inside `study_dir` once links are
/// resolved (a link inside the folder may point out of it).
fn inside_study(study_dir: &Path, url: &str) -> bool {
    let file = study_dir.join(url);
    match (fs::canonicalize(study_dir), fs::canonicalize(&file)) {
        (Ok(root), Ok(real)) => real.starts_with(root) && real.is_file(),
        _ => false,
    }
}

/// Copies the study file `url` names into the site and returns its new URL.
/// For an image (`required`), anything but an existing file inside the study
/// folder is an error; for a link, such URLs are left alone (`None`).
fn copy_local(
    study_dir: &Path,
    site: &Path,
    md_path: &Path,
    url: &str,
    required: bool,
    copied: &mut HashSet<String>,
) -> Result<Option<String>> {
    let problem = if url.contains(':') || url.starts_with('/') || url.starts_with('#') {
        Some("must be a relative path to a file in the study folder (the site loads nothing from elsewhere)")
    } else if !Path::new(url)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        Some("must stay inside the study folder")
    } else if !study_dir.join(url).is_file() {
        Some("no such file in the study folder")
    } else if !inside_study(study_dir, url) {
        Some("must stay inside the study folder (it links out of it)")
    } else {
        None
    };
    match problem {
        Some(what) if required => Err(TeachError::ReportImage {
            path: md_path.to_path_buf(),
            url: url.to_string(),
            what: what.to_string(),
        }),
        Some(_) => Ok(None),
        None => {
            let target = format!("{REPORT_ASSETS}/{url}");
            if copied.insert(url.to_string()) {
                let (src, dst) = (study_dir.join(url), site.join(&target));
                create_parent(&dst)?;
                fs::copy(&src, &dst).map_err(|e| TeachError::io(&src, e))?;
            }
            Ok(Some(target))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(md: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(REPORT_MD), md).unwrap();
        fs::create_dir(dir.path().join("roc")).unwrap();
        fs::write(dir.path().join("roc/real.png"), b"png bytes").unwrap();
        fs::write(dir.path().join("results.json"), b"{}").unwrap();
        dir
    }

    #[test]
    fn renders_tables_and_copies_images_and_linked_files() {
        let dir = study(
            "# Study\n\n| arm | AUC |\n|---|---|\n| real | 0.94 |\n\n![ROC](roc/real.png)\n\n[data](results.json) [web](https://example.invalid) [top](#study)\n",
        );
        let site = tempfile::tempdir().unwrap();
        let html = render(dir.path(), Page::Report, &[Page::Report], site.path()).unwrap();
        assert!(html.contains("<table>"), "{html}");
        assert!(
            html.contains(r#"<img src="report/roc/real.png" alt="ROC""#),
            "{html}"
        );
        assert!(html.contains(r#"href="report/results.json""#), "{html}");
        assert!(html.contains(r##"href="#study""##), "{html}");
        assert_eq!(
            fs::read(site.path().join("report/roc/real.png")).unwrap(),
            b"png bytes"
        );
        assert!(site.path().join("report/results.json").is_file());
    }

    #[test]
    fn images_outside_the_study_or_missing_are_errors_naming_the_report() {
        let site = tempfile::tempdir().unwrap();
        for (md, what) in [
            ("![x](../secret.png)", "inside"),
            ("![x](https://cdn.invalid/x.png)", "relative"),
            ("![x](roc/missing.png)", "no such file"),
        ] {
            let dir = study(md);
            let err = render(dir.path(), Page::Report, &[Page::Report], site.path()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("report.md") && text.contains(what), "{text}");
        }
    }

    /// Issue 22, item 13: raw `<script>` and `onerror` HTML becomes text,
    /// `javascript:` links are dropped, and a file linked out of the study
    /// folder is neither shown nor copied.
    #[test]
    fn raw_html_unsafe_links_and_links_out_of_the_study_are_neutralised() {
        let dir = study(
            "<script>alert(1)</script>\n\nHi <img src=x onerror=alert(2)> \
             [a](javascript:alert(3)) [b]( JaVa\tScRiPt:alert(4)) [c](data:text/html,x) \
             [ok](https://example.invalid) [m](mailto:a@b.invalid)\n",
        );
        let site = tempfile::tempdir().unwrap();
        let html = render(dir.path(), Page::Report, &[Page::Report], site.path()).unwrap();
        assert!(
            !html.contains("<script>alert") && html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(
            !html.to_ascii_lowercase().contains("javascript:alert"),
            "{html}"
        );
        assert!(!html.contains("data:text"), "{html}");
        assert!(html.contains(r#"href="https://example.invalid""#), "{html}");
        assert!(html.contains(r#"href="mailto:a@b.invalid""#), "{html}");
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            fs::write(outside.path().join("secret.png"), b"secret").unwrap();
            std::os::unix::fs::symlink(outside.path().join("secret.png"), dir.path().join("s.png"))
                .unwrap();
            fs::write(dir.path().join(REPORT_MD), "![x](s.png)").unwrap();
            let err = render(dir.path(), Page::Report, &[Page::Report], site.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains("inside the study folder"), "{err}");
            fs::write(dir.path().join(REPORT_MD), "[x](s.png)").unwrap();
            render(dir.path(), Page::Report, &[Page::Report], site.path()).unwrap();
            assert!(!site.path().join("report/s.png").exists());
        }
    }

    #[test]
    fn a_missing_report_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = render(dir.path(), Page::Report, &[Page::Report], dir.path()).unwrap_err();
        assert!(
            matches!(err, TeachError::Io { ref path, .. } if path.ends_with(REPORT_MD)),
            "{err}"
        );
    }
}
