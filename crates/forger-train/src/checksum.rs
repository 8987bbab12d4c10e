//! CRC-32 checksums of the tensors (and the other metadata) of the
//! safetensors files forger writes, kept in the file's header and verified
//! when it is read: a flipped byte is an error naming the tensor, not
//! weights that train to a loss of 10^9, and a hand-edited step is refused.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::Tensor;
use safetensors::SafeTensors;

use crate::{Result, TrainError};

/// The metadata key of the checksums.
const KEY: &str = "forger_crc32";

/// Prefix of the checksum of a metadata entry (tensor names never start
/// with it).
const META: &str = "__meta.";

/// Adds to `meta` the checksums of `tensors` and of `meta`'s entries.
pub(crate) fn add_checksums(tensors: &[(String, Tensor)], meta: &mut HashMap<String, String>) {
    let mut sums: BTreeMap<String, u32> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), crc32fast::hash(&safetensors::View::data(t))))
        .collect();
    for (key, value) in meta.iter() {
        sums.insert(format!("{META}{key}"), crc32fast::hash(value.as_bytes()));
    }
    let text = serde_json::to_string(&sums).expect("a map of numbers serialises");
    meta.insert(KEY.to_string(), text);
}

/// Checks the safetensors `bytes` read from `path` against their
/// checksums: every tensor and metadata entry must have one, and match it.
pub(crate) fn verify_checksums(path: &Path, bytes: &[u8]) -> Result<()> {
    let bad = |what: String| TrainError::file(path, what);
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let sums: BTreeMap<String, u32> = meta
        .get(KEY)
        .ok_or_else(|| {
            bad(
                "no tensor checksums: not written by this version of forger (start a new run)"
                    .into(),
            )
        })
        .and_then(|text| {
            serde_json::from_str(text).map_err(|e| bad(format!("unreadable checksums: {e}")))
        })?;
    let mut checked = 0;
    for (name, view) in file.tensors() {
        let want = sums
            .get(&name)
            .ok_or_else(|| bad(format!("tensor `{name}` has no checksum")))?;
        if crc32fast::hash(view.data()) != *want {
            return Err(bad(format!(
                "tensor `{name}` does not match its checksum: the file is corrupt"
            )));
        }
        checked += 1;
    }
    for (key, value) in meta.iter().filter(|(k, _)| k.as_str() != KEY) {
        let want = sums
            .get(&format!("{META}{key}"))
            .ok_or_else(|| bad(format!("metadata `{key}` has no checksum")))?;
        if crc32fast::hash(value.as_bytes()) != *want {
            return Err(bad(format!(
                "metadata `{key}` does not match its checksum: the file is corrupt or was edited"
            )));
        }
        checked += 1;
    }
    if checked != sums.len() {
        return Err(bad(format!(
            "{} checksums for {checked} tensors and metadata entries: entries are missing",
            sums.len()
        )));
    }
    Ok(())
}
