//! `cargo xtask download`: fetch a data set from the Hugging Face Hub into
//! forger's data cache and convert it to a format forger reads (IDX, NPZ or
//! an image folder).

mod catalog;
mod convert;
mod hub;
#[cfg(test)]
mod parquet_fixture;
mod parquet_images;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::workspace_root;
use catalog::{DataSet, CATALOG};

#[derive(Args)]
pub struct DownloadArgs {
    /// The data set to fetch (see --list).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List every data set with its size, licence and source.
    #[arg(long)]
    list: bool,
    /// Cache folder (default: $FORGER_DATA, else `data/` in the workspace).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Use only what is already on disk; never touch the network.
    #[arg(long)]
    offline: bool,
    /// The Hub endpoint.
    #[arg(long, default_value = "https://huggingface.co")]
    endpoint: String,
    /// Attempts per file; each resumes the partial download.
    #[arg(long, default_value_t = 3)]
    attempts: usize,
}

/// Where and how to fetch.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache: PathBuf,
    pub endpoint: String,
    pub offline: bool,
    pub attempts: usize,
    /// Progress bars (drawn only on a terminal).
    pub progress: bool,
    pub connect_timeout: Duration,
}

pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    let cache = args
        .cache
        .or_else(|| std::env::var_os("FORGER_DATA").map(PathBuf::from))
        .unwrap_or_else(|| workspace_root().join("data"));
    let opts = Options {
        cache,
        endpoint: args.endpoint.trim_end_matches('/').to_string(),
        offline: args.offline,
        attempts: args.attempts.max(1),
        progress: true,
        connect_timeout: Duration::from_secs(5),
    };
    if args.list {
        print!("{}", list(&opts));
        return Ok(());
    }
    let name = args.name.unwrap_or_default();
    let Some(set) = catalog::find(&name) else {
        let names: Vec<_> = CATALOG.iter().map(|d| d.name).collect();
        bail!(
            "unknown data set `{name}`: expected one of {}",
            names.join(", ")
        );
    };
    let dest = fetch(set, &opts)?;
    println!("{} is in {}", set.name, dest.display());
    Ok(())
}

/// Makes `set` available in the cache and returns where it is: already
/// there, from files on disk (offline), or downloaded, verified and converted.
pub fn fetch(set: &DataSet, opts: &Options) -> anyhow::Result<PathBuf> {
    let dest = convert::destination(&opts.cache, set);
    if dest.exists() {
        tracing::info!("{} is already in the cache", set.name);
        return Ok(dest);
    }
    let files = match hub::cached(set, opts)? {
        Some(files) => files,
        None if opts.offline => bail!(
            "{}",
            hub::by_hand(
                set,
                opts,
                &format!(
                    "{} is not in the cache {} and --offline forbids downloading",
                    set.name,
                    opts.cache.display()
                )
            )
        ),
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

/// The `--list` table.
fn list(opts: &Options) -> String {
    let mut out = format!(
        "Data sets, from their Hugging Face dataset repositories (see \
         xtask/src/download/catalog.rs for how each entry was checked)\ncache: {}\n\n",
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
    out.push_str(
        "\nNot offered: ChestMNIST (14 labels per image: forger reads single-label data).\n",
    );
    out
}
