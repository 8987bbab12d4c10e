//! What the browser tests need (shared by forger-teach's and forger-cli's
//! browser tests through `#[path]`): the missing tools, by name.

use std::path::Path;
use std::process::Command;

/// Chromium at `chromium`, `node` on the path and playwright-core installed
/// in `browser_dir`: the ones not found.
pub fn missing_tools(browser_dir: &Path, chromium: &Path) -> Vec<String> {
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
