//! Fetching a data set's files from a Hugging Face Hub endpoint with
//! `hf-hub` (its blocking API), and checking every file's sha256.
//!
//! hf-hub downloads into `<blob>.part` and renames only a finished file, so
//! an interrupted download never leaves a half file in place; the next
//! attempt resumes the `.part` with an HTTP range request.

use std::io::{IsTerminal, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hf_hub::api::sync::{Api, ApiBuilder};
use hf_hub::{Cache, Repo, RepoType};
use sha2::{Digest, Sha256};

use crate::catalog::{DataSet, Remote};
use crate::error::{HubError, Result};
use crate::Options;

/// hf-hub's cache, inside forger's data cache.
pub fn hub_cache(opts: &Options) -> PathBuf {
    opts.cache.join(".hf-hub")
}

/// Where files placed by hand for `set` are looked for.
pub fn incoming_dir(opts: &Options, set: &DataSet) -> PathBuf {
    opts.cache.join("incoming").join(set.name)
}

/// Where a file of `set` placed by hand is looked for: its path in the
/// repository, below the incoming folder.
pub fn incoming_file(opts: &Options, set: &DataSet, remote: &Remote) -> PathBuf {
    incoming_dir(opts, set).join(remote.path)
}

fn repo(set: &DataSet) -> Repo {
    Repo::with_revision(
        set.repo.to_string(),
        RepoType::Dataset,
        set.revision.to_string(),
    )
}

/// The URL hf-hub fetches `remote` from (a revision's `/` encoded, as
/// hf-hub sends it).
pub fn url(set: &DataSet, remote: &Remote, opts: &Options) -> String {
    format!(
        "{}/datasets/{}/resolve/{}/{}",
        opts.endpoint,
        set.repo,
        set.revision.replace('/', "%2F"),
        remote.path
    )
}

/// Downloads (or resumes) every file of `set`, verifies each, and returns
/// their paths in hf-hub's cache.
pub fn download(set: &DataSet, opts: &Options) -> Result<Vec<PathBuf>> {
    if let Some(problem) = unreachable(&opts.endpoint, opts.connect_timeout)? {
        return Err(HubError::Unreachable {
            endpoint: opts.endpoint.clone(),
            problem,
            by_hand: by_hand(set, opts, "could not reach the Hub"),
        });
    }
    // hf-hub 0.4 reads no environment variables when built from a cache:
    // cache folder and endpoint are both set here.
    let api: Api = ApiBuilder::from_cache(Cache::new(hub_cache(opts)))
        .with_endpoint(opts.endpoint.clone())
        .with_progress(opts.progress && std::io::stderr().is_terminal())
        .with_retries(0)
        .build()
        .map_err(|source| HubError::Client {
            cache: hub_cache(opts),
            source,
        })?;
    let repo = api.repo(repo(set));
    let mut paths = Vec::with_capacity(set.files.len());
    for remote in set.files {
        let mut attempt = 0;
        let path = loop {
            attempt += 1;
            match repo.download(remote.path) {
                Ok(path) => break path,
                Err(e) if attempt < opts.attempts => tracing::warn!(
                    "{}: attempt {attempt} of {} failed ({e}); resuming",
                    remote.path,
                    opts.attempts
                ),
                Err(source) => {
                    return Err(HubError::Download {
                        url: url(set, remote, opts),
                        attempts: attempt,
                        partial: hub_cache(opts),
                        source,
                    })
                }
            }
        };
        verify_download(&path, &url(set, remote, opts), remote)?;
        paths.push(path);
    }
    Ok(paths)
}

/// The files of `set` already on disk, for offline use: in hf-hub's cache
/// (verified again), or placed by hand in the incoming folder (checked
/// against pinned checksums where the catalog has them).
pub fn cached(set: &DataSet, opts: &Options) -> Result<Option<Vec<PathBuf>>> {
    let hub = Cache::new(hub_cache(opts)).repo(repo(set));
    if let Some(paths) = set
        .files
        .iter()
        .map(|f| hub.get(f.path))
        .collect::<Option<Vec<_>>>()
    {
        for (path, remote) in paths.iter().zip(set.files) {
            verify_download(path, &url(set, remote, opts), remote)?;
        }
        return Ok(Some(paths));
    }
    let by_hand: Vec<PathBuf> = set
        .files
        .iter()
        .map(|f| incoming_file(opts, set, f))
        .collect();
    if !by_hand.iter().all(|p| p.is_file()) {
        return Ok(None);
    }
    for (path, remote) in by_hand.iter().zip(set.files) {
        let got = sha256_file(path)?;
        match remote.sha256 {
            Some(want) if want != got => {
                return Err(HubError::PinnedChecksum {
                    file: path.clone(),
                    got,
                    want,
                })
            }
            Some(_) => {}
            None => tracing::warn!(
                "{}: no checksum is pinned for this file; its sha256 is {got}",
                path.display()
            ),
        }
    }
    Ok(Some(by_hand))
}

/// Checks a file hf-hub delivered: its sha256 must equal the Hub's LFS
/// digest (the blob's name, which hf-hub takes from the ETag) and the pin,
/// where there is one. A file that fails is removed, so that the next run
/// downloads it again. `url` is where it came from, for messages.
fn verify_download(path: &Path, url: &str, remote: &Remote) -> Result<()> {
    let blob = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let etag = blob
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase);
    let expected: Vec<(&'static str, String)> = etag
        .map(|e| ("the Hub's sha256 (ETag)", e))
        .into_iter()
        .chain(
            remote
                .sha256
                .map(|p| ("the catalog's pinned sha256", p.to_string())),
        )
        .collect();
    if expected.is_empty() {
        return Err(HubError::Unverifiable {
            url: url.to_string(),
        });
    }
    let got = sha256_file(&blob)?;
    if let Some((whose, want)) = expected.into_iter().find(|(_, want)| *want != got) {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(path);
        return Err(HubError::Checksum {
            url: url.to_string(),
            got,
            want,
            whose,
        });
    }
    Ok(())
}

/// The sha256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| HubError::io("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| HubError::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Why the endpoint's host cannot be resolved or connected to within
/// `timeout`, naming what was tried; `None` when it can. This fails fast,
/// before hf-hub's own, longer timeouts. An endpoint that is not a URL is
/// an error.
fn unreachable(endpoint: &str, timeout: Duration) -> Result<Option<String>> {
    let bad = || HubError::BadEndpoint {
        endpoint: endpoint.to_string(),
    };
    let (scheme, rest) = endpoint.split_once("://").ok_or_else(bad)?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return Err(bad()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad());
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addrs: Vec<_> = match address.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Ok(Some(format!("resolving {address} failed ({e})"))),
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => return Ok(None),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Ok(Some(format!(
        "connecting to {address} failed ({})",
        last.unwrap_or_else(|| "no addresses".into())
    )))
}

/// How to place the files of `set` by hand, after `what` went wrong.
pub fn by_hand(set: &DataSet, opts: &Options, what: &str) -> String {
    let mut text = format!(
        "{what}. To install {} without this machine downloading it, fetch these files \
         (from the dataset repository {} on the Hugging Face Hub, or any copy):\n",
        set.name, set.repo
    );
    for remote in set.files {
        text.push_str(&format!(
            "  {}\n    -> {}\n",
            url(set, remote, opts),
            incoming_file(opts, set, remote).display()
        ));
    }
    text.push_str(&format!(
        "then run `{} {} --offline --cache {}`, which checks and converts them.",
        opts.command,
        set.name,
        opts.cache.display()
    ));
    text
}
