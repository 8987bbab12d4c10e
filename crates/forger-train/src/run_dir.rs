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

    /// Reads `config.json` as the config of a run of `kind`: a run of the
    /// other kind is an error naming the file, what it holds and the
    /// command to use instead, not a missing field.
    pub(crate) fn read_config<T: DeserializeOwned>(&self, kind: RunKind) -> crate::Result<T> {
        read_run_config(&self.config(), kind)
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

/// Reads the run configuration at `path` as one of a run of `kind` (see
/// [`RunDir::read_config`]): a run folder's `config.json`, or a file in the
/// same shape written by hand, as JSON or, when its name ends in `.toml`,
/// TOML.
pub fn read_run_config<T: DeserializeOwned>(path: &Path, kind: RunKind) -> crate::Result<T> {
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "toml") {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainError::file(path, format!("not valid TOML: {e}")))?
    } else {
        read_json(path)?
    };
    if value.get(kind.key()).is_none() {
        let found = [RunKind::Classifier, RunKind::Gan, RunKind::Study]
            .into_iter()
            .find(|k| value.get(k.key()).is_some());
        let message = match found {
            Some(other) => format!(
                "this is a {} run (its config has `{}` settings, as `{}` writes), not a {} run; use {}",
                other.name(),
                other.key(),
                other.command(),
                kind.name(),
                other.tools()
            ),
            None => format!(
                "not a run of `{}` (it has no `{}` settings): pass a folder or config that `{}` wrote",
                kind.command(),
                kind.key(),
                kind.command()
            ),
        };
        return Err(TrainError::file(path, message));
    }
    serde_json::from_value(value)
        .map_err(|e| TrainError::file(path, format!("unreadable run config: {e}")))
}

/// The two kinds of run folder, told apart by their `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `forger train`: settings under `fit`.
    Classifier,
    /// `forger gan train`: settings under `train`.
    Gan,
    /// `cargo xtask experiment gan-auc`: `study.json`, settings under `config`.
    Study,
}

impl RunKind {
    fn key(self) -> &'static str {
        match self {
            Self::Classifier => "fit",
            Self::Gan => "train",
            Self::Study => "config",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Classifier => "classifier",
            Self::Gan => "GAN",
            Self::Study => "study",
        }
    }

    fn command(self) -> &'static str {
        match self {
            Self::Classifier => "forger train",
            Self::Gan => "forger gan train",
            Self::Study => "cargo xtask experiment gan-auc",
        }
    }

    /// The commands that take a run of this kind.
    fn tools(self) -> &'static str {
        match self {
            Self::Classifier => "`forger eval` or `forger predict`",
            Self::Gan => "`forger gan sample` or `forger gan audit`",
            Self::Study => "`cargo xtask experiment gan-auc --config` or `gan-auc-report`",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_the_other_kind_is_named_with_the_command_to_use() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        std::fs::write(run.config(), r#"{"train": {}, "classes": []}"#).unwrap();
        let err = run
            .read_config::<serde_json::Value>(RunKind::Classifier)
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(
            err.contains("is a GAN run") && err.contains("not a classifier run"),
            "{err}"
        );
        assert!(err.contains("forger gan sample"), "{err}");
        std::fs::write(run.config(), r#"{"fit": {}}"#).unwrap();
        let err = run
            .read_config::<serde_json::Value>(RunKind::Gan)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is a classifier run") && err.contains("forger eval"),
            "{err}"
        );
        std::fs::write(run.config(), r#"{"other": 1}"#).unwrap();
        let err = run
            .read_config::<serde_json::Value>(RunKind::Gan)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a run of `forger gan train`"), "{err}");
    }
}
