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
                let dest_url =
                    copy_local(study_dir, site, &md_path, &dest_url, false, &mut copied)?
                        .map_or(dest_url, CowStr::from);
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            other => other,
        };
        events.push(event);
    }
    let mut article = String::from("<article class=\"report\">\n");
    pulldown_cmark::html::push_html(&mut article, events.into_iter());
    article.push_str("</article>");
    Ok(page(current, study, &article, &[]))
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
