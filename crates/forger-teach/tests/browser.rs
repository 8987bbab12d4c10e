//! End-to-end test in a real browser: builds a small site, then runs
//! `tests/browser/check.mjs` (Node with playwright-core driving Debian's
//! Chromium) to take the reader test three ways, check the library and
//! the report, and screenshot every page; the screenshots are then checked
//! here to be non-blank. They stay in `target/tmp/forger-teach-browser/`.
//!
//! Needs `tests/browser/install.sh` to have run. Without Chromium, Node or
//! playwright-core the test is skipped with a notice, except in CI (the env
//! var `CI` set), where that is a failure.

mod common;
#[path = "browser/tools.rs"]
mod tools;

use std::fs;
use std::path::Path;
use std::process::Command;

use forger_teach::{build_site, SiteInputs, SiteOptions};

/// A screenshot is blank when (almost) every pixel has the same colour.
fn assert_not_blank(path: &Path) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let mut counts = std::collections::HashMap::new();
    for p in img.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let most = counts.values().max().copied().unwrap_or(0);
    let share_other = 1.0 - most as f64 / (img.width() * img.height()) as f64;
    assert!(
        counts.len() >= 32 && share_other > 0.02,
        "{} looks blank: {} colours, {:.1}% of pixels differ from the background",
        path.display(),
        counts.len(),
        share_other * 100.0
    );
}

#[test]
fn reader_test_library_and_report_work_in_headless_chromium() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let Some(chromium) = tools::chromium_or_skip("forger-teach browser test", &browser_dir) else {
        return;
    };

    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("forger-teach-browser");
    let input_dir = work.join("inputs");
    let shots = work.join("shots");
    let _ = fs::remove_dir_all(&input_dir);
    let _ = fs::remove_dir_all(&shots);
    let (synthetic_dir, study_dir) = (input_dir.join("synthetic"), input_dir.join("study"));
    common::synthetic_folder(&synthetic_dir, 16);
    common::study_folder(&study_dir);
    let real = common::real_dataset(10);
    // The default site, and one that also asks for the class and has no report.
    for (name, ask_class, study) in [
        ("site", false, Some(study_dir.as_path())),
        ("site-ask-class", true, None),
    ] {
        let site = work.join(name);
        let shots = shots.join(name);
        let options = SiteOptions {
            synthetic_per_class: 8,
            real_per_class: 4,
            quiz_length: 12,
            synthetic_fraction: 0.5,
            seed: 11,
            ask_class,
        };
        let inputs = SiteInputs {
            synthetic_dir: &synthetic_dir,
            real: &real,
            study_dir: study,
        };
        build_site(&inputs, &options, &site).unwrap();

        let output = Command::new("node")
            .arg(browser_dir.join("check.mjs"))
            .arg(&site)
            .arg(&shots)
            .env("CHROMIUM", &chromium)
            .output()
            .expect("running node");
        println!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "the browser check of {name} failed: {}",
            output.status
        );

        let mut expected = vec![
            "index.png",
            "quiz.png",
            "quiz-result.png",
            "index-phone.png",
            "quiz-phone.png",
        ];
        if study.is_some() {
            expected.push("report.png");
        }
        for shot in expected {
            assert_not_blank(&shots.join(shot));
        }
        assert_eq!(shots.join("report.png").exists(), study.is_some());
    }
}
