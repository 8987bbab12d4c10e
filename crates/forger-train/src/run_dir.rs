//! The one run-directory layout every forger command shares.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::atomic::read_json;
use crate::TrainError;

/// Paths inside a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// A run directory at `root` (created when something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`: what was trained, on what classes, with which settings.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `history.csv`: one row per evaluation.
    pub fn history(&self) -> PathBuf {
        self.root.join("history.csv")
    }

    /// `checkpoint.safetensors`: the latest resumable state.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint.safetensors")
    }

    /// `model.safetensors`: the final weights (best on validation when the
    /// run selects, otherwise the last).
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }

    /// `last.safetensors`: the weights of the last step, beside the best
    /// ones in `model.safetensors` (only written when the run selects).
    pub fn last_model(&self) -> PathBuf {
        self.root.join("last.safetensors")
    }

    /// `metrics.json`: the final test metrics.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.json")
    }

    /// `curves.png`: accuracy and loss against step.
    pub fn curves(&self) -> PathBuf {
        self.root.join("curves.png")
    }

    /// Checks, before any work, that `--resume` has a checkpoint to
    /// continue: an error naming the folder when it has none.
    pub fn require_checkpoint(&self) -> crate::Result<()> {
        if self.checkpoint().is_file() {
            return Ok(());
        }
        Err(TrainError::Invalid(format!(
            "--resume: {} holds no checkpoint.safetensors to continue (drop --resume to start a new run there)",
            self.root.display()
        )))
    }

    /// Reads `config.json` as the config of a run of `kind` (`forger
    /// train`, `forger gan train`), whose settings are under `key`: a run of
    /// another kind is an error saying so, not a missing field.
    pub(crate) fn read_config<T: DeserializeOwned>(
        &self,
        key: &str,
        kind: &str,
    ) -> crate::Result<T> {
        read_run_config(&self.config(), key, kind)
    }

    /// A new numbered run directory `base/NNN` (`001`, `002`, ...): the
    /// first number not taken, so that no run overwrites another.
    pub fn numbered(base: &Path) -> Self {
        let root = (1..)
            .map(|i| base.join(format!("{i:03}")))
            .find(|p| !p.exists())
            .unwrap_or_else(|| base.to_path_buf());
        Self { root }
    }

    /// Any other file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// Reads a run configuration of a run of `kind` (`forger train`, `forger
/// gan train`) whose settings are under `key`: a run folder's
/// `config.json`, or a file in the same shape written by hand, as JSON or,
/// when its name ends in `.toml`, TOML. A file of another kind of run is an
/// error saying so, not a missing field; a bad field is named with its path.
pub fn read_run_config<T: DeserializeOwned>(
    path: &Path,
    key: &str,
    kind: &str,
) -> crate::Result<T> {
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "toml") {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainError::file(path, format!("not valid TOML: {e}")))?
    } else {
        read_json(path)?
    };
    if value.get(key).is_none() {
        return Err(TrainError::file(
            path,
            format!("not a run of `{kind}` (it has no `{key}` settings): pass a folder or config that `{kind}` wrote"),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| TrainError::file(path, format!("unreadable run config: {e}")))
}
