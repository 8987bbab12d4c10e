//! Building the whole site: checking the inputs and the output folder,
//! writing every page into a temporary folder beside the output, then
//! putting it in place with renames.

use std::fs;
use std::path::{Path, PathBuf};

use forger_data::Dataset;

use crate::cases::{self, Origin};
use crate::html::Page;
use crate::pages::{self, SiteCase};
use crate::quiz::{AnswerKey, PageData, PageQuestion, Question};
use crate::selection::{self, Counts, Pick};
use crate::{html, report, Result, TeachError};

/// The file that marks a folder as a site built by this crate; only such a
/// folder (or an empty one) is replaced by [`build_site`].
pub const SITE_MARKER: &str = ".forger-site";

const STYLE_CSS: &str = include_str!("assets/site.css");
const LIBRARY_JS: &str = include_str!("assets/library.js");
const QUIZ_JS: &str = include_str!("assets/quiz.js");

/// What the site is built from.
#[derive(Debug, Clone, Copy)]
pub struct SiteInputs<'a> {
    /// The GAN's synthetic cases: one folder per class holding PNGs
    /// (`DIR/<class name>/*.png`); the folder names must be the real data's
    /// class names.
    pub synthetic_dir: &'a Path,
    /// The real cases (1- or 3-channel images), for comparison and the quiz.
    pub real: &'a Dataset,
    /// A study run folder holding `report.md` and the images it shows; the
    /// site gets `report.html` when this is given.
    pub study_dir: Option<&'a Path>,
}

/// How many cases the site shows and how the reader test is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteOptions {
    /// Synthetic cases per class in the library.
    pub synthetic_per_class: usize,
    /// Real cases per class in the library.
    pub real_per_class: usize,
    /// Questions in the reader test.
    pub quiz_length: usize,
    /// Share of the questions that show synthetic images, in `[0, 1]`
    /// (rounded to a whole number of questions).
    pub synthetic_fraction: f64,
    /// Seed of every shuffle and draw (streams `teach-*` of
    /// [`forger_data::rng::derive`]).
    pub seed: u64,
    /// Whether the reader is also asked for each image's class.
    pub ask_class: bool,
}

impl Default for SiteOptions {
    fn default() -> Self {
        Self {
            synthetic_per_class: 24,
            real_per_class: 8,
            quiz_length: 20,
            synthetic_fraction: 0.5,
            seed: 0,
            ask_class: false,
        }
    }
}

/// What [`build_site`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSummary {
    /// The site folder; open `index.html` in it.
    pub out: PathBuf,
    /// Class names, in the real data's order.
    pub classes: Vec<String>,
    /// Synthetic cases in the library.
    pub library_synthetic: usize,
    /// Real cases in the library.
    pub library_real: usize,
    /// The reader test's answer key, as written to `quiz.json`.
    pub answer_key: AnswerKey,
    /// Whether `report.html` was written.
    pub has_report: bool,
}

impl SiteOptions {
    fn counts(&self) -> Result<Counts> {
        if self.quiz_length == 0 {
            return Err(TeachError::Option {
                name: "quiz_length",
                what: "the reader test needs at least one question".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.synthetic_fraction) {
            return Err(TeachError::Option {
                name: "synthetic_fraction",
                what: format!("{} is not between 0 and 1", self.synthetic_fraction),
            });
        }
        let quiz_synthetic = (self.quiz_length as f64 * self.synthetic_fraction).round() as usize;
        Ok(Counts {
            quiz_synthetic,
            quiz_real: self.quiz_length - quiz_synthetic,
            library_synthetic_per_class: self.synthetic_per_class,
            library_real_per_class: self.real_per_class,
        })
    }
}

/// Builds the teaching site in `out`: `index.html` (case library),
/// `quiz.html` and `quiz.json` (reader test and its answer key), and
/// `report.html` when a study folder is given, with every image, style and
/// script inside `out`. Quiz images are not in the library, and their file
/// names give nothing away; the answers are embedded in `quiz.html` for
/// scoring, so the test is for self-assessment, not an exam.
///
/// `out` must not exist, be empty, or be a site built before (it is then
/// replaced whole). Fails with a [`TeachError`] naming the path on a
/// synthetic folder without samples, classes that differ between the
/// synthetic and real cases, too few cases for the quiz, or an `out` that is
/// something else.
pub fn build_site(
    inputs: &SiteInputs<'_>,
    options: &SiteOptions,
    out: &Path,
) -> Result<SiteSummary> {
    let counts = options.counts()?;
    check_out(out)?;
    let classes = inputs.real.classes().to_vec();
    cases::check_real(inputs.real)?;
    let synthetic_files = cases::read_synthetic(inputs.synthetic_dir, &classes)?;
    let synthetic_items: Vec<Vec<usize>> = synthetic_files
        .iter()
        .map(|f| (0..f.len()).collect())
        .collect();
    let chosen = selection::select(
        &synthetic_items,
        &cases::real_by_class(inputs.real),
        counts,
        options.seed,
    )?;

    for (origin, got, per_class) in [
        (
            "synthetic",
            chosen.library_synthetic.len(),
            options.synthetic_per_class,
        ),
        ("real", chosen.library_real.len(), options.real_per_class),
    ] {
        if got < per_class * classes.len() {
            tracing::warn!(
                "the library shows {got} {origin} cases, fewer than the {per_class} per class asked for: the rest are in the reader test or do not exist"
            );
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|e| TeachError::io(parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".forger-site-")
        .tempdir_in(parent)
        .map_err(|e| TeachError::io(parent, e))?;
    let site = staging.path();
    let write_case = |pick: &Pick, file: String| -> Result<SiteCase> {
        let image = match pick.origin {
            Origin::Synthetic => {
                cases::copy_synthetic(&synthetic_files[pick.class][pick.item], site, file)?
            }
            Origin::Real => cases::write_real(inputs.real, pick.item, site, file)?,
        };
        Ok(SiteCase {
            origin: pick.origin,
            class: pick.class,
            image,
        })
    };

    let library = chosen
        .library_synthetic
        .iter()
        .chain(&chosen.library_real)
        .enumerate()
        .map(|(n, pick)| write_case(pick, format!("cases/{}-{n:04}.png", pick.origin.word())))
        .collect::<Result<Vec<_>>>()?;
    // Quiz file names carry no hint of the answer.
    let quiz_cases = chosen
        .quiz
        .iter()
        .enumerate()
        .map(|(n, pick)| write_case(pick, format!("quiz/{:03}.png", n + 1)))
        .collect::<Result<Vec<_>>>()?;
    let answer_key = AnswerKey {
        questions: quiz_cases
            .iter()
            .map(|c| Question {
                image: c.image.file.clone(),
                answer: c.origin.into(),
                class: classes[c.class].clone(),
            })
            .collect(),
    };

    let mut study_pages = Vec::new();
    if let Some(study) = inputs.study_dir {
        study_pages.push(Page::Report);
        if study.join(report::AUDIT_MD).is_file() {
            study_pages.push(Page::Audit);
        }
        for &p in &study_pages {
            write(
                site,
                p.file(),
                &report::render(study, p, &study_pages, site)?,
            )?;
        }
    }
    let has_report = !study_pages.is_empty();
    write(
        site,
        "index.html",
        &pages::library(&classes, &library, &study_pages),
    )?;
    let page_data = PageData {
        questions: answer_key
            .questions
            .iter()
            .zip(&quiz_cases)
            .map(|(question, case)| PageQuestion {
                question,
                width: case.image.width,
                height: case.image.height,
            })
            .collect(),
        classes: &classes,
        ask_class: options.ask_class,
    };
    let page_json = html::script_json(&serde_json::to_string(&page_data)?);
    let quiz_html = pages::quiz(
        &page_json,
        quiz_cases.len(),
        &classes,
        options.ask_class,
        &study_pages,
    );
    write(site, "quiz.html", &quiz_html)?;
    write(
        site,
        crate::quiz::ANSWER_KEY_FILE,
        &serde_json::to_string_pretty(&answer_key)?,
    )?;
    write(site, "assets/site.css", STYLE_CSS)?;
    write(site, "assets/library.js", LIBRARY_JS)?;
    write(site, "assets/quiz.js", QUIZ_JS)?;
    write(
        site,
        SITE_MARKER,
        "A teaching site built by forger-teach. Building it again replaces this whole folder.\n",
    )?;

    put_in_place(staging, out)?;
    tracing::info!(
        out = %out.display(),
        library = library.len(),
        quiz = answer_key.questions.len(),
        report = has_report,
        "wrote teaching site"
    );
    Ok(SiteSummary {
        out: out.to_path_buf(),
        classes,
        library_synthetic: chosen.library_synthetic.len(),
        library_real: chosen.library_real.len(),
        answer_key,
        has_report,
    })
}

fn write(site: &Path, file: &str, contents: &str) -> Result<()> {
    let path = site.join(file);
    cases::create_parent(&path)?;
    fs::write(&path, contents).map_err(|e| TeachError::io(&path, e))
}

/// Fails unless `out` is absent, an empty folder or a site built before.
fn check_out(out: &Path) -> Result<()> {
    let not_a_site = || TeachError::NotASite {
        path: out.to_path_buf(),
        marker: SITE_MARKER,
    };
    match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(TeachError::io(out, e)),
        Ok(meta) if !meta.is_dir() => Err(not_a_site()),
        Ok(_) if out.join(SITE_MARKER).is_file() => Ok(()),
        Ok(_) => {
            let mut entries = fs::read_dir(out).map_err(|e| TeachError::io(out, e))?;
            if entries.next().is_none() {
                Ok(())
            } else {
                Err(not_a_site())
            }
        }
    }
}

/// Renames the finished staging folder to `out`, moving an old site (or empty
/// folder) aside first and removing it after.
fn put_in_place(staging: tempfile::TempDir, out: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| TeachError::io(staging.path(), e))?;
    }
    let old = out.exists().then(|| {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".old-{}", std::process::id()));
        out.with_file_name(name)
    });
    if let Some(old) = &old {
        fs::rename(out, old).map_err(|e| TeachError::io(out, e))?;
    }
    if let Err(e) = fs::rename(staging.path(), out) {
        if let Some(old) = &old {
            // Best effort: put the old site back; the staging folder is removed on drop.
            let _ = fs::rename(old, out);
        }
        return Err(TeachError::io(out, e));
    }
    // Renamed away: nothing is left for the guard to remove.
    let _ = staging.keep();
    if let Some(old) = &old {
        fs::remove_dir_all(old).map_err(|e| TeachError::io(old, e))?;
    }
    Ok(())
}
