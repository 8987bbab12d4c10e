//! The `download` command's flags, shared by `cargo xtask download` and
//! `forger download`, and the one call that carries them out.

use std::path::PathBuf;

use crate::{fetch, find, list, Options, Result, DEFAULT_ENDPOINT};

/// `download [NAME] [--list] [--cache DIR] [--offline] [--endpoint URL]
/// [--attempts N]`.
#[derive(Debug, Clone, clap::Args)]
pub struct DownloadArgs {
    /// The data set to fetch (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List every data set with its size, licence and source.
    #[arg(long)]
    pub list: bool,
    /// Cache folder (default: $FORGER_DATA, else a `data/` folder: the
    /// workspace's for `cargo xtask`, the current folder's for `forger`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Use only what is already on disk; never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// The Hub endpoint.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Attempts per file; each resumes the partial download.
    #[arg(long, default_value_t = 3)]
    pub attempts: usize,
}

impl DownloadArgs {
    /// The fetch options these flags give: the cache is `--cache`, else
    /// `$FORGER_DATA`, else `default_cache`; `command` is how the user runs
    /// the download (named in the instructions for placing files by hand).
    pub fn options(&self, default_cache: PathBuf, command: &str) -> Options {
        let cache = self
            .cache
            .clone()
            .or_else(|| std::env::var_os("FORGER_DATA").map(PathBuf::from))
            .unwrap_or(default_cache);
        Options {
            cache,
            endpoint: self.endpoint.trim_end_matches('/').to_string(),
            offline: self.offline,
            attempts: self.attempts.max(1),
            command: command.to_string(),
            ..Options::default()
        }
    }

    /// Carries out the command (see [`options`](Self::options)) and returns
    /// what it prints: the [`list`], or where the data set now is.
    pub fn run(&self, default_cache: PathBuf, command: &str) -> Result<String> {
        let opts = self.options(default_cache, command);
        if self.list {
            return Ok(list(&opts));
        }
        let set = find(self.name.as_deref().unwrap_or_default())?;
        let dest = fetch(set, &opts)?;
        Ok(format!("{} is in {}\n", set.name, dest.display()))
    }
}
