//! Data set downloads for forger: fetch a data set from the Hugging Face Hub
//! into forger's data cache and convert it to a format forger reads (IDX,
//! NPZ or an image folder). `catalog` is the table of data sets ([`CATALOG`],
//! [`find`]); `hub` fetches their files with `hf-hub`, checking each file's
//! sha256, resuming partial downloads, and in offline mode taking files from
//! the cache or placed by hand; `convert` builds the result beside its
//! destination and moves it into place once it reads back, through
//! `parquet_images` for parquet shards of encoded images; `error` holds
//! [`HubError`] and [`ParquetImageError`]; `args` (feature `clap`) the
//! `download` command's flags, `DownloadArgs`, shared by `cargo xtask
//! download` and `forger download`.
//!
//! ```no_run
//! # fn main() -> forger_hub::Result<()> {
//! let opts = forger_hub::Options {
//!     cache: "data".into(),
//!     ..forger_hub::Options::default()
//! };
//! let mnist = forger_hub::fetch(forger_hub::find("mnist")?, &opts)?;
//! println!("MNIST's IDX files are in {}", mnist.display());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "clap")]
mod args;
mod catalog;
mod convert;
mod error;
mod hub;
#[cfg(test)]
mod parquet_fixture;
mod parquet_images;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "clap")]
pub use args::DownloadArgs;
pub use catalog::{
    find, medmnist_plus_files, DataSet, Layout, Remote, Split, CATALOG, MEDMNIST_PLUS_RECORD,
    MEDMNIST_PLUS_SIDES,
};
pub use error::{HubError, ParquetImageError, Result};

/// The Hugging Face Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct Options {
    /// forger's data cache: converted data sets, hf-hub's cache
    /// (`.hf-hub/`) and files placed by hand (`incoming/`).
    pub cache: PathBuf,
    /// The Hub endpoint, without a trailing `/`.
    pub endpoint: String,
    /// Use only what is already on disk; never touch the network.
    pub offline: bool,
    /// Attempts per file (at least 1); each resumes the partial download.
    pub attempts: usize,
    /// Progress bars (drawn only on a terminal).
    pub progress: bool,
    /// How long connecting to the endpoint may take before it counts as
    /// unreachable.
    pub connect_timeout: Duration,
    /// The command that downloads, as the instructions for placing files
    /// by hand name it.
    pub command: String,
}

impl Default for Options {
    /// `data/` in the working directory, the Hub, online, 3 attempts,
    /// progress bars, a 5 s connect timeout, `forger download`.
    fn default() -> Self {
        Self {
            cache: PathBuf::from("data"),
            endpoint: DEFAULT_ENDPOINT.to_string(),
            offline: false,
            attempts: 3,
            progress: true,
            connect_timeout: Duration::from_secs(5),
            command: "forger download".to_string(),
        }
    }
}

/// Makes `set` available in the cache and returns where it is: already
/// there, from files on disk (offline), or downloaded, verified and converted.
pub fn fetch(set: &DataSet, opts: &Options) -> Result<PathBuf> {
    let dest = convert::destination(&opts.cache, set);
    if dest.exists() {
        tracing::info!("{} is already in the cache", set.name);
        return Ok(dest);
    }
    let files = match hub::cached(set, opts)? {
        Some(files) => files,
        None if opts.offline => {
            return Err(HubError::NotCached {
                name: set.name.to_string(),
                cache: opts.cache.clone(),
                by_hand: hub::by_hand(
                    set,
                    opts,
                    &format!(
                        "{} is not in the cache {} and --offline forbids downloading",
                        set.name,
                        opts.cache.display()
                    ),
                ),
            })
        }
        None => {
            tracing::info!(
                "downloading {} ({}) from {}/datasets/{}",
                set.name,
                set.size,
                opts.endpoint,
                set.repo
            );
            hub::download(set, opts)?
        }
    };
    convert::place(set, &files, &dest)?;
    Ok(dest)
}

/// The table of every data set in [`CATALOG`]: name, size, whether it is in
/// `opts.cache`, what it is, licence, source and files.
pub fn list(opts: &Options) -> String {
    let mut out = format!(
        "Data sets, from their Hugging Face dataset repositories (see \
         crates/forger-hub/src/catalog.rs for how each entry was checked)\ncache: {}\n\n",
        opts.cache.display()
    );
    out.push_str(&format!(
        "{:<22} {:>11}  {:<7} {}\n",
        "name", "size", "cached", "what"
    ));
    let indent = " ".repeat(44);
    for set in CATALOG {
        let cached = convert::destination(&opts.cache, set).exists();
        let revision = if set.revision == "main" {
            String::new()
        } else {
            format!(" at {}", set.revision)
        };
        let files = set
            .files
            .iter()
            .map(|f| f.path)
            .collect::<Vec<_>>()
            .join(&format!("\n{indent}         "));
        out.push_str(&format!(
            "{:<22} {:>11}  {:<7} {}\n{indent}licence: {}\n{indent}source:  {}/datasets/{}{revision}\n{indent}files:   {files}\n",
            set.name,
            set.size,
            if cached { "yes" } else { "no" },
            set.what,
            set.licence,
            opts.endpoint,
            set.repo,
        ));
    }
    out.push_str(&format!(
        "\nMedMNIST+ ({}, {} and {} px; not downloaded: fetch them from {}/files/<file>\n\
         and give forger the file's path, as `--data pneumoniamnist_128.npz`):\n",
        MEDMNIST_PLUS_SIDES[0],
        MEDMNIST_PLUS_SIDES[1],
        MEDMNIST_PLUS_SIDES[2],
        MEDMNIST_PLUS_RECORD
    ));
    for (_, files) in medmnist_plus_files() {
        out.push_str(&format!("  {}\n", files.join("  ")));
    }
    out.push_str(
        "\nNot offered: ChestMNIST (14 labels per image: forger reads single-label data).\n",
    );
    out
}
