//! The flags every run-making command shares (`--config`, `--out`,
//! `--resume`, `--seed`, `--cuda`), and how a run's
//! recorded data flags fill in the ones not given.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use forger_data::image_folder::ColorMode;
use forger_train::{RunDir, RunKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where a run goes and how it starts.
#[derive(Args)]
pub struct RunArgs {
    /// Start from a run configuration: a run folder's `config.json`, or a
    /// TOML or JSON file of the same shape. Flags given with it override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The run directory to write (default: a new numbered `runs/<command>/NNN`
    /// under the current folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in `--out` from its last checkpoint (the settings
    /// must be the first run's; the schedule may be longer).
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Seed of everything random: weights, batches, augmentation, noise
    /// (default 0, or the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on the first CUDA GPU (needs a build with the `cuda` feature).
    #[arg(long)]
    pub cuda: bool,
}

impl RunArgs {
    /// The run directory: `--out`, or a new `runs/<kind>/NNN`. With
    /// `--resume`, it must hold a checkpoint.
    pub fn run_dir(&self, kind: &str) -> anyhow::Result<RunDir> {
        let run = match &self.out {
            Some(out) => RunDir::new(out),
            None => RunDir::numbered(&Path::new("runs").join(kind)),
        };
        if self.resume {
            run.require_checkpoint()?;
        }
        Ok(run)
    }

    /// The run configuration of `--config`, read as a run of `kind`.
    pub fn config_file<T: DeserializeOwned>(&self, kind: RunKind) -> anyhow::Result<Option<T>> {
        Ok(self
            .config
            .as_deref()
            .map(|path| forger_train::read_run_config(path, kind))
            .transpose()?)
    }
}

/// Grey or RGB decoding of image folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    /// One grey channel.
    Grey,
    /// Three colour channels.
    Rgb,
}

impl From<Color> for ColorMode {
    fn from(c: Color) -> Self {
        match c {
            Color::Grey => ColorMode::Grey,
            Color::Rgb => ColorMode::Rgb,
        }
    }
}

/// `flags` with each field the command line left unset (`null`, or a
/// switch left off) taken from `recorded`, the data flags a run's
/// `config.json` holds under `inputs`.
pub fn fill_from<T: Serialize + DeserializeOwned>(
    flags: T,
    recorded: Option<&serde_json::Value>,
) -> anyhow::Result<T> {
    let Some(serde_json::Value::Object(recorded)) = recorded else {
        return Ok(flags);
    };
    let serde_json::Value::Object(mut given) = serde_json::to_value(&flags)? else {
        return Ok(flags);
    };
    for (key, value) in recorded {
        let unset = matches!(
            given.get(key),
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false))
        );
        if unset {
            given.insert(key.clone(), value.clone());
        }
    }
    serde_json::from_value(serde_json::Value::Object(given)).map_err(|e| {
        anyhow::anyhow!("--config: the recorded data flags (`inputs`) do not fit this command: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Flags {
        data: Option<PathBuf>,
        holdout: Option<u32>,
        rgb: bool,
    }

    #[test]
    fn unset_flags_come_from_the_record_and_given_ones_win() {
        let recorded = serde_json::json!({"data": "a.npz", "holdout": 10, "rgb": true});
        let flags = Flags {
            data: Some("b.npz".into()),
            holdout: None,
            rgb: false,
        };
        let filled = fill_from(flags, Some(&recorded)).unwrap();
        assert_eq!(
            filled,
            Flags {
                data: Some("b.npz".into()),
                holdout: Some(10),
                rgb: true
            }
        );
    }

    #[test]
    fn a_record_of_another_shape_is_a_clear_error() {
        let recorded = serde_json::json!({"holdout": "many"});
        let flags = Flags {
            data: None,
            holdout: None,
            rgb: false,
        };
        let err = fill_from(flags, Some(&recorded)).unwrap_err().to_string();
        assert!(err.contains("--config") && err.contains("inputs"), "{err}");
    }
}
