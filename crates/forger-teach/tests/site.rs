//! Building whole sites from tiny generated inputs: what is written, that it
//! is reproducible and self-contained, and the errors on bad input.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use forger_teach::{
    build_site, AnswerKey, SiteInputs, SiteOptions, TeachError, Truth, SITE_MARKER,
};

struct Inputs {
    dir: tempfile::TempDir,
    synthetic: PathBuf,
    study: PathBuf,
    real: forger_data::Dataset,
}

impl Inputs {
    fn new(synthetic_per_class: u32, real_per_class: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let synthetic = dir.path().join("synthetic");
        let study = dir.path().join("study");
        common::synthetic_folder(&synthetic, synthetic_per_class);
        common::study_folder(&study);
        Self {
            dir,
            synthetic,
            study,
            real: common::real_dataset(real_per_class),
        }
    }

    fn site_inputs(&self) -> SiteInputs<'_> {
        SiteInputs {
            synthetic_dir: &self.synthetic,
            real: &self.real,
            study_dir: Some(&self.study),
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out/site")
    }
}

fn options(seed: u64) -> SiteOptions {
    SiteOptions {
        synthetic_per_class: 5,
        real_per_class: 3,
        quiz_length: 10,
        synthetic_fraction: 0.6,
        seed,
        ask_class: false,
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn writes_every_page_with_a_key_that_matches_the_options() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.out();
    let summary = build_site(&inputs.site_inputs(), &options(3), &out).unwrap();
    for file in [
        "index.html",
        "quiz.html",
        "quiz.json",
        "report.html",
        "assets/site.css",
        "assets/quiz.js",
        SITE_MARKER,
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(out.join("report/roc/real.png").is_file());
    assert!(!out.join("report/unreferenced.png").exists());
    assert_eq!((summary.library_synthetic, summary.library_real), (10, 6));
    assert!(summary.has_report);

    let key = AnswerKey::read(&out).unwrap();
    assert_eq!(key, summary.answer_key);
    assert_eq!(key.questions.len(), 10);
    let synthetic = key
        .questions
        .iter()
        .filter(|q| q.answer == Truth::Synthetic)
        .count();
    assert_eq!(synthetic, 6);
    for q in &key.questions {
        assert!(out.join(&q.image).is_file(), "{} missing", q.image);
        assert!(common::classes().contains(&q.class));
        assert!(
            !q.image.contains("real") && !q.image.contains("synthetic"),
            "{} gives the answer away",
            q.image
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("quiz.json")).unwrap()).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["questions"]
    );
    assert!(json["questions"][0]["answer"].is_string());

    // No quiz image is also in the library (every generated image differs).
    let bytes = |p: &Path| fs::read(p).unwrap();
    let library: HashSet<Vec<u8>> = files_under(&out.join("cases"))
        .iter()
        .map(|p| bytes(p))
        .collect();
    assert_eq!(library.len(), 16);
    for q in &key.questions {
        assert!(
            !library.contains(&bytes(&out.join(&q.image))),
            "{} is in the library too",
            q.image
        );
    }

    let index = fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(index.matches("<img ").count(), 16);
    assert!(index.contains(r#"alt="Synthetic case 1 of class pneumonia""#));
    let css = fs::read_to_string(out.join("assets/site.css")).unwrap();
    assert!(css.contains("image-rendering: pixelated"));
    let quiz = fs::read_to_string(out.join("quiz.html")).unwrap();
    assert!(!quiz.contains("class-choice"));
    let report = fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("<table>") && report.contains(r#"src="report/roc/real.png""#));
    // No audit.md in the study folder: no audit page, none in the navigation.
    assert!(!out.join("audit.html").exists() && !report.contains("audit.html"));
}

#[test]
fn a_study_with_a_memorisation_audit_gets_its_page() {
    let inputs = Inputs::new(12, 8);
    fs::write(
        inputs.study.join("audit.md"),
        "# Can these cases be shared?\n\n| budget | flagged |\n|---|---|\n| 5% | 3 of 400 |\n\n![pairs](roc/real.png)\n",
    )
    .unwrap();
    let out = inputs.out();
    build_site(&inputs.site_inputs(), &options(3), &out).unwrap();
    let audit = fs::read_to_string(out.join("audit.html")).unwrap();
    assert!(
        audit.contains("3 of 400") && audit.contains(r#"src="report/roc/real.png""#),
        "{audit}"
    );
    assert!(
        audit.contains(r#"href="audit.html" aria-current="page""#),
        "{audit}"
    );
    for page in ["index.html", "quiz.html", "report.html"] {
        let html = fs::read_to_string(out.join(page)).unwrap();
        assert!(
            html.contains(r#"href="audit.html""#),
            "{page} does not link the audit"
        );
    }
}

#[test]
fn the_site_is_self_contained() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.out();
    build_site(&inputs.site_inputs(), &options(1), &out).unwrap();
    for file in files_under(&out) {
        if file
            .extension()
            .is_some_and(|e| e == "html" || e == "css" || e == "js")
        {
            let text = fs::read_to_string(&file).unwrap();
            for remote in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(
                    !text.contains(remote),
                    "{} refers to {remote}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn same_seed_same_site_other_seed_other_quiz() {
    let inputs = Inputs::new(12, 8);
    let read = |out: &Path| fs::read_to_string(out.join("quiz.json")).unwrap();
    let a = inputs.dir.path().join("a");
    let b = inputs.dir.path().join("b");
    let c = inputs.dir.path().join("c");
    build_site(&inputs.site_inputs(), &options(5), &a).unwrap();
    build_site(&inputs.site_inputs(), &options(5), &b).unwrap();
    build_site(&inputs.site_inputs(), &options(6), &c).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_eq!(
        fs::read(a.join("quiz/001.png")).unwrap(),
        fs::read(b.join("quiz/001.png")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(a.join("index.html")).unwrap(),
        fs::read_to_string(b.join("index.html")).unwrap()
    );
    assert_ne!(read(&a), read(&c));
}

#[test]
fn a_site_is_rebuilt_in_place_and_an_empty_folder_is_used() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.out();
    build_site(&inputs.site_inputs(), &options(1), &out).unwrap();
    fs::write(out.join("stale.txt"), "from an older build").unwrap();
    let no_report = SiteInputs {
        study_dir: None,
        ..inputs.site_inputs()
    };
    let summary = build_site(
        &no_report,
        &SiteOptions {
            ask_class: true,
            ..options(2)
        },
        &out,
    )
    .unwrap();
    assert!(!summary.has_report);
    assert!(!out.join("stale.txt").exists());
    assert!(!out.join("report.html").exists());
    assert!(!fs::read_to_string(out.join("index.html"))
        .unwrap()
        .contains("report.html"));
    assert!(fs::read_to_string(out.join("quiz.html"))
        .unwrap()
        .contains("class-choice"));
    // Nothing is left beside the site.
    let siblings: Vec<_> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, ["site"]);

    let empty = inputs.dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    build_site(&inputs.site_inputs(), &options(1), &empty).unwrap();
    assert!(empty.join("index.html").is_file());
}

#[test]
fn a_folder_that_is_not_a_site_is_refused_untouched() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.dir.path().join("mine");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("thesis.tex"), "precious").unwrap();
    let err = build_site(&inputs.site_inputs(), &options(1), &out).unwrap_err();
    assert!(matches!(err, TeachError::NotASite { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&out.display().to_string()) && text.contains(SITE_MARKER),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(out.join("thesis.tex")).unwrap(),
        "precious"
    );

    let file = inputs.dir.path().join("a-file");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        build_site(&inputs.site_inputs(), &options(1), &file).unwrap_err(),
        TeachError::NotASite { .. }
    ));
}

#[test]
fn bad_inputs_are_clear_errors_naming_the_path() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.out();

    let empty = inputs.dir.path().join("no-samples");
    fs::create_dir_all(empty.join("normal")).unwrap();
    let err = build_site(
        &SiteInputs {
            synthetic_dir: &empty,
            ..inputs.site_inputs()
        },
        &options(1),
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, TeachError::NoSamples { .. }), "{err}");
    assert!(err.to_string().contains("no-samples"), "{err}");

    let other = forger_data::Dataset::new(
        vec![0; 28 * 28],
        vec![0],
        [1, 28, 28],
        vec!["cat".into(), "dog".into()],
    )
    .unwrap();
    let err = build_site(
        &SiteInputs {
            real: &other,
            ..inputs.site_inputs()
        },
        &options(1),
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, TeachError::ClassMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("synthetic") && text.contains("\"dog\"") && text.contains("\"pneumonia\""),
        "{text}"
    );

    let err = build_site(
        &inputs.site_inputs(),
        &SiteOptions {
            quiz_length: 100,
            ..options(1)
        },
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, TeachError::TooFewCases { .. }), "{err}");

    let err = build_site(
        &inputs.site_inputs(),
        &SiteOptions {
            synthetic_fraction: 1.5,
            ..options(1)
        },
        &out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("synthetic_fraction"), "{err}");

    let no_report = inputs.dir.path().join("no-report");
    fs::create_dir(&no_report).unwrap();
    let err = build_site(
        &SiteInputs {
            study_dir: Some(&no_report),
            ..inputs.site_inputs()
        },
        &options(1),
        &out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("report.md"), "{err}");

    // Nothing was written by the failed builds.
    assert!(!out.exists());
    let leftovers: Vec<_> = fs::read_dir(inputs.dir.path().join("out"))
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(
        leftovers.iter().all(|&n| n == 0),
        "staging folders were left behind"
    );
}

#[test]
fn reading_an_answer_key_names_what_is_wrong() {
    let inputs = Inputs::new(12, 8);
    let out = inputs.out();
    build_site(&inputs.site_inputs(), &options(3), &out).unwrap();
    fs::write(out.join("quiz.json"), r#"{"questions": [{"image": 1}]}"#).unwrap();
    let err = AnswerKey::read(&out).unwrap_err().to_string();
    assert!(
        err.contains("quiz.json") && err.contains("not a forger answer key"),
        "{err}"
    );
    let err = AnswerKey::read(inputs.dir.path()).unwrap_err();
    assert!(matches!(err, TeachError::NoSite { .. }), "{err}");
    let missing = inputs.dir.path().join("missing");
    let err = AnswerKey::read(&missing).unwrap_err().to_string();
    assert!(
        err.contains("missing")
            && err.contains("is not a forger site to read")
            && !err.contains("exists"),
        "{err}"
    );
}
