//! What the browser tests need (shared by forger-teach's and forger-cli's
//! browser tests through `#[path]`): Chromium, Node and playwright-core.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium to drive (`$CHROMIUM`, else Debian's), when Chromium, Node
/// and playwright-core (in `browser_dir`) are all there. Otherwise the
/// `what` test is skipped with a notice naming what is missing, except in
/// CI (`CI` set), where that is a failure.
pub fn chromium_or_skip(what: &str, browser_dir: &Path) -> Option<PathBuf> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let missing = missing_tools(browser_dir, &chromium);
    if missing.is_empty() {
        return Some(chromium);
    }
    let notice = format!(
        "{what} cannot run: missing {}. Run {}/install.sh.",
        missing.join(", "),
        browser_dir.display()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{notice} In CI this is a failure.");
    }
    eprintln!("\n{bar}\nSKIPPED: {notice}\n{bar}\n", bar = "!".repeat(78));
    None
}

/// Chromium at `chromium`, `node` on the path and playwright-core installed
/// in `browser_dir`: the ones not found.
fn missing_tools(browser_dir: &Path, chromium: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !chromium.is_file() {
        missing.push(format!("Chromium at {}", chromium.display()));
    }
    if Command::new("node")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        missing.push("node on PATH".to_string());
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        missing.push(format!(
            "{}/node_modules/playwright-core",
            browser_dir.display()
        ));
    }
    missing
}
