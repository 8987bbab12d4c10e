//! The conventions every run-making command shares, as a user meets them:
//! numbered run folders, `--config` re-making a run from its `config.json`
//! (or a hand-written TOML file, flags overriding it), provenance in every
//! `config.json`, and class names from the data to the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vendored(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(name)
}

/// Runs `forger ARGS` in `dir`, without backtraces.
fn forger(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forger"))
        .current_dir(dir)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap()
}

/// `history.csv` without its `seconds` column (wall time differs run to run).
fn history(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("history.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let seconds = header.iter().position(|c| *c == "seconds").unwrap();
    text.lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(seconds);
            cells.join(",")
        })
        .collect()
}

#[test]
fn a_classifier_run_is_numbered_named_recorded_and_re_made_from_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = vendored("pneumoniamnist.npz");
    let data = data.to_str().unwrap();
    let args = [
        "train",
        "mnist-cnn",
        "--data",
        data,
        "--steps",
        "20",
        "--eval-every",
        "10",
    ];
    ok(forger(dir.path(), &args));
    let first = dir.path().join("runs/mnist-cnn/001");
    let recorded = config(&first);
    // The known data set's class names, and how the run was made.
    assert_eq!(
        recorded["classes"],
        serde_json::json!(["normal", "pneumonia"])
    );
    let provenance = &recorded["provenance"];
    assert_eq!(provenance["forger_version"], env!("CARGO_PKG_VERSION"));
    assert!(provenance["command_line"]
        .as_str()
        .unwrap()
        .contains("--eval-every 10"));
    assert!(provenance["date"].as_str().unwrap().ends_with('Z'));
    assert!(provenance["jpeg_decoder"].is_string() && provenance["cpu_features"].is_array());

    // The same command again gets the next number; --config re-makes the run.
    let config_path = first.join("config.json");
    ok(forger(
        dir.path(),
        &[
            "train",
            "mnist-cnn",
            "--config",
            config_path.to_str().unwrap(),
        ],
    ));
    let second = dir.path().join("runs/mnist-cnn/002");
    assert_eq!(history(&second), history(&first));
    assert_eq!(config(&second)["fit"], recorded["fit"]);

    // A flag overrides the file: a shorter run is the longer one's first rows.
    let out = dir.path().join("short");
    ok(forger(
        dir.path(),
        &[
            "train",
            "mnist-cnn",
            "--config",
            config_path.to_str().unwrap(),
            "--steps",
            "10",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert_eq!(history(&out), history(&first)[..2]);
}

#[test]
fn a_hand_written_toml_config_starts_a_run_and_a_bad_one_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = vendored("pneumoniamnist.npz");
    let toml = format!(
        r#"
[inputs]
data = "{}"
class_names = ["clear", "opacity"]

[fit]
batch_size = 16
loss = "softmax_cross_entropy"
eval_every = 5
seed = 3
schedule = {{ steps = 10 }}
model = {{ architecture = "mnist_cnn", input = [1, 28, 28], classes = 2 }}
optimizer = {{ kind = "adam", lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 }}
"#,
        data.display()
    );
    std::fs::write(dir.path().join("run.toml"), toml).unwrap();
    ok(forger(
        dir.path(),
        &["train", "mnist-cnn", "--config", "run.toml", "--out", "a"],
    ));
    let recorded = config(&dir.path().join("a"));
    assert_eq!(recorded["fit"]["batch_size"], 16);
    assert_eq!(recorded["classes"], serde_json::json!(["clear", "opacity"]));
    assert_eq!(history(&dir.path().join("a")).len(), 3);

    std::fs::write(
        dir.path().join("bad.toml"),
        "[fit]\nbatch_size = \"many\"\n",
    )
    .unwrap();
    let output = forger(dir.path(), &["train", "mnist-cnn", "--config", "bad.toml"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("unreadable run config"),
        "{err}"
    );

    // A GAN run's config is not a classifier's.
    std::fs::write(dir.path().join("gan.toml"), "[train]\nsteps = 3\n").unwrap();
    let output = forger(dir.path(), &["train", "mnist-cnn", "--config", "gan.toml"]);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("is a GAN run") && err.contains("gan.toml"),
        "{err}"
    );
}

#[test]
fn a_gan_run_is_re_made_from_its_config_with_its_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = vendored("breastmnist.npz");
    let args = [
        "gan",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--sample-every",
        "2",
    ];
    ok(forger(dir.path(), &args));
    let first = dir.path().join("runs/gan/001");
    let recorded = config(&first);
    assert_eq!(
        recorded["classes"],
        serde_json::json!(["malignant", "normal_or_benign"])
    );
    assert!(
        recorded["train"]["gan"]["classes"] == 2,
        "conditional by default"
    );
    let config_path = first.join("config.json");
    ok(forger(
        dir.path(),
        &["gan", "train", "--config", config_path.to_str().unwrap()],
    ));
    assert_eq!(history(&dir.path().join("runs/gan/002")), history(&first));

    // Samples go to a numbered folder in the run, their classes by name.
    let text = ok(forger(
        dir.path(),
        &[
            "gan",
            "sample",
            "--run",
            first.to_str().unwrap(),
            "-n",
            "4",
            "--image-size",
            "28",
        ],
    ));
    assert!(text.contains("samples/001"), "{text}");
    assert!(first.join("samples/001/malignant").is_dir());

    // A size that is not the GAN's is refused before any work, naming both.
    let run = first.to_str().unwrap();
    let site = dir.path().join("site");
    for args in [
        vec!["gan", "sample", "--run", run, "--image-size", "64"],
        vec![
            "gan",
            "audit",
            "--run",
            run,
            "--real",
            data.to_str().unwrap(),
            "--image-size",
            "128",
        ],
        vec![
            "teach",
            "--gan",
            run,
            "--real",
            data.to_str().unwrap(),
            "--out",
            site.to_str().unwrap(),
            "--image-size",
            "128",
        ],
    ] {
        let output = forger(dir.path(), &args);
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} ran");
        assert!(
            err.contains("--image-size") && err.contains("makes 28x28 images"),
            "{args:?}: {err}"
        );
    }
    assert!(!site.exists(), "nothing written");
}

#[test]
fn resume_needs_an_out_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = forger(
        dir.path(),
        &["train", "mnist-cnn", "--data", "x.npz", "--resume"],
    );
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--out"), "{err}");
}
