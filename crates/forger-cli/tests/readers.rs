//! `forger teach serve` and `forger teach results` as an educator runs
//! them: the server survives kill -9 with every answer and every reader's
//! place, the results match the answers, and the site-building invocation
//! still parses.

mod common;

use std::process::Command;

use common::{tiny_site, Served};
use forger_teach::{AnswerKey, Truth};
use serde_json::{json, Value};

/// Answers the reader's current case right, with the surest rating.
fn answer_right(s: &Served, key: &AnswerKey, cookie: &str, state: &Value) -> Value {
    let case = state["case"]["id"].as_u64().unwrap();
    let truth = key.questions[case as usize - 1].answer;
    let confidence = if truth == Truth::Real { 1 } else { 5 };
    let r = s.post(
        "/api/answer",
        Some(cookie),
        &json!({"case": case, "answer": truth.word(), "confidence": confidence, "note": "edges"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

fn forger(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_forger"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

#[test]
fn kill_9_loses_no_answer_and_readers_resume() {
    let dir = tempfile::tempdir().unwrap();
    let key = tiny_site(dir.path(), 8);
    let (site, db) = (dir.path().join("site"), dir.path().join("readers.sqlite"));

    let first = Served::start(&site, &db);
    assert!(first.reader_url.starts_with("http://127.0.0.1:"));
    let old_token = first.token().to_string();
    let (ann, mut ann_state) = first.sign_in("ann", "resident");
    for _ in 0..3 {
        ann_state = answer_right(&first, &key, &ann, &ann_state);
    }
    let (bob, bob_state) = first.sign_in("bob", "student");
    let bob_state = answer_right(&first, &key, &bob, &bob_state);
    // Killed in the middle of the session, with no chance to flush anything.
    first.kill();

    let second = Served::start(&site, &db);
    assert_ne!(second.token(), old_token, "each start prints a fresh token");
    assert_eq!(
        second
            .get(&format!("/results?token={old_token}"), None)
            .status,
        401
    );
    // Both readers continue where they were, by cookie.
    for (cookie, before) in [(&ann, &ann_state), (&bob, &bob_state)] {
        let now: Value =
            serde_json::from_slice(&second.get("/api/state", Some(cookie)).body).unwrap();
        assert_eq!(&now, before);
    }
    assert_eq!(ann_state["answered"], 3);
    let csv = second
        .get(
            &format!("/results/answers.csv?token={}", second.token()),
            None,
        )
        .text();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    // Ann, on a new device (no cookie), signs in by name and finishes.
    let (ann_again, mut state) = second.sign_in("ann", "resident");
    assert_eq!(ann_again, ann);
    assert_eq!(state, ann_state);
    while state["case"].is_object() {
        state = answer_right(&second, &key, &ann, &state);
    }
    assert_eq!(state["result"], json!({"correct": 8, "total": 8}));
    second.kill();

    let out = dir.path().join("results");
    let output = forger(&[
        "teach",
        "results",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 readers, 9 answers"), "{stdout}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let readers = summary["readers"].as_array().unwrap();
    assert_eq!(readers[0]["reader"], "ann");
    assert_eq!(
        (
            readers[0]["answered"].as_u64(),
            readers[0]["accuracy"].as_f64()
        ),
        (Some(8), Some(1.0))
    );
    // 8 of 8 right: 2 / 2^8.
    assert!((readers[0]["p_value"].as_f64().unwrap() - 2.0 / 256.0).abs() < 1e-12);
    assert_eq!(readers[0]["auc"].as_f64(), Some(1.0));
    assert_eq!(readers[1]["answered"].as_u64(), Some(1));
    assert!(readers[1]["auc"].is_null(), "one case has no AUC");
    let csv = std::fs::read_to_string(out.join("answers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 9);
    assert!(out.join("report.html").is_file());
}

#[test]
fn teach_keeps_building_sites_and_explains_bad_study_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-gan");
    // The site-building flags still parse: the error is about the GAN run.
    let output = forger(&[
        "teach",
        "--gan",
        missing.to_str().unwrap(),
        "--real",
        "x",
        "--out",
        "y",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no-gan") && !stderr.contains("Usage"),
        "{stderr}"
    );
    // Neither flags nor a subcommand: clap names the site-building flags;
    // the help lists the study subcommands too.
    let output = forger(&["teach"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--gan <GAN>"),
        "{output:?}"
    );
    let help = String::from_utf8_lossy(&forger(&["teach", "--help"]).stdout).to_string();
    assert!(
        help.contains("serve") && help.contains("results") && help.contains("--gan"),
        "{help}"
    );
    // Serving a folder that is not a site, and results from a missing database.
    let output = forger(&[
        "teach",
        "serve",
        "--site",
        dir.path().to_str().unwrap(),
        "--db",
        "x.sqlite",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a forger site"), "{stderr}");
    let output = forger(&["teach", "results", "--db", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--db") && stderr.contains("no such study database"),
        "{stderr}"
    );
    // Every flag of the study subcommands has help text.
    for sub in ["serve", "results"] {
        let help = String::from_utf8_lossy(&forger(&["teach", sub, "--help"]).stdout).to_string();
        for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
            let flag = line.split_whitespace().next().unwrap();
            assert!(
                line.split_whitespace().count() > 2 || flag == "--help",
                "{sub}: {line}"
            );
        }
    }
}
