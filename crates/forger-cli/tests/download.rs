//! `forger download` as a user runs it: the listing, and an unknown name.

use std::process::{Command, Output};

/// Runs `forger download ARGS` with a fresh cache folder and no backtraces.
fn forger_download(args: &[&str]) -> (Output, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_forger"))
        .arg("download")
        .args(args)
        .arg("--cache")
        .arg(cache.path())
        .env("RUST_BACKTRACE", "0")
        .env_remove("FORGER_DATA")
        .output()
        .unwrap();
    (output, cache)
}

#[test]
fn download_list_shows_the_catalog_and_the_cache() {
    let (output, cache) = forger_download(&["--list"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!("cache: {}", cache.path().display())),
        "{text}"
    );
    for set in forger_hub::CATALOG {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{} ", set.name)))
            .unwrap_or_else(|| panic!("{} is not listed:\n{text}", set.name));
        assert!(
            line.contains(set.size) && line.contains(set.what) && line.contains(" no "),
            "{line}"
        );
        assert!(
            text.contains(&format!(
                "source:  https://huggingface.co/datasets/{}",
                set.repo
            )),
            "{}",
            set.name
        );
    }
    // Nothing was downloaded or created for a listing.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn download_of_an_unknown_set_fails_naming_it_and_suggesting_the_list() {
    let (output, cache) = forger_download(&["no-such-set"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("unknown data set `no-such-set`")
            && text.contains("expected one of mnist, fashion-mnist")
            && text.contains("`--list`"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn download_offline_names_the_files_to_place_and_the_command_to_rerun() {
    let (output, cache) = forger_download(&["breastmnist", "--offline"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8(output.stderr).unwrap();
    let incoming = cache
        .path()
        .join("incoming/breastmnist/data/breastmnist.npz");
    assert!(
        text.contains("--offline forbids downloading")
            && text.contains(&incoming.display().to_string())
            && text.contains(&format!(
                "`forger download breastmnist --offline --cache {}`",
                cache.path().display()
            )),
        "{text}"
    );
}
