//! The reader study in a real browser: `forger teach serve` on a tiny site,
//! then `crates/forger-teach/tests/browser/readers.mjs` (Node with
//! playwright-core driving Debian's Chromium) has two readers take it in
//! two browser contexts with answers fixed from the key, checks the
//! results page against statistics it computes itself, and writes them;
//! here `forger teach results` must give the same numbers. Screenshots stay
//! in `target/tmp/forger-readers-browser/`.
//!
//! Needs `crates/forger-teach/tests/browser/install.sh` to have run;
//! without Chromium, Node or playwright-core the test is skipped with a
//! notice, except in CI (`CI` set), where that is a failure.

// The HTTP helpers of `common` are for the other reader-study tests.
#[allow(dead_code)]
mod common;
#[path = "../../forger-teach/tests/browser/tools.rs"]
mod tools;

use std::path::Path;
use std::process::Command;

use common::{tiny_site, Served};
use serde_json::Value;

fn close(got: &Value, want: &Value, what: &str) {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() < 1e-9,
            "{what}: summary.json {g}, browser test {w}"
        ),
        _ => assert_eq!(got, want, "{what}"),
    }
}

#[test]
fn two_readers_in_chromium_and_the_results_agree() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../forger-teach/tests/browser");
    let Some(chromium) = tools::chromium_or_skip("reader-study browser test", &browser_dir) else {
        return;
    };
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("forger-readers-browser");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    tiny_site(&work, 12);
    let (site, db) = (work.join("site"), work.join("readers.sqlite"));
    let served = Served::start(&site, &db);
    let expected_path = work.join("expected.json");
    let output = Command::new("node")
        .arg(browser_dir.join("readers.mjs"))
        .arg(&served.reader_url)
        .arg(&served.results_url)
        .arg(site.join("quiz.json"))
        .arg(&expected_path)
        .arg(work.join("shots"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("running node");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser check failed: {}",
        output.status
    );
    served.kill();

    let out = work.join("results");
    let status = Command::new(env!("CARGO_BIN_EXE_forger"))
        .args(["teach", "results", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let read =
        |p: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (summary, expected) = (read(&out.join("summary.json")), read(&expected_path));
    let readers = summary["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 2);
    for reader in readers {
        let name = reader["reader"].as_str().unwrap();
        let want = &expected["readers"][name];
        for stat in [
            "answered",
            "correct",
            "accuracy",
            "p_value",
            "sensitivity",
            "specificity",
            "auc",
        ] {
            close(&reader[stat], &want[stat], &format!("{name}: {stat}"));
        }
    }
    close(
        &summary["overall"]["fleiss_kappa"],
        &expected["fleiss_kappa"],
        "Fleiss' kappa",
    );
    for stat in ["answered", "correct", "accuracy", "p_value", "auc"] {
        close(
            &summary["overall"][stat],
            &expected["overall"][stat],
            &format!("pooled {stat}"),
        );
    }
}
