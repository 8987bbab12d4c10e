//! Atomic file writes: the bytes go to a temporary file in the same folder,
//! which is then renamed over the target, so a reader (or a crash) never sees
//! half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{DataError, Result};

/// Writes `bytes` to `path` atomically, creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

/// Removes the temporary files that [`write_atomic`] left in `dir` when its
/// process was killed mid-write (`.NAME.PID.tmp` of a process no longer
/// running); returns them. A missing folder has none.
pub fn remove_stale_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e| DataError::io(dir, e);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry.map_err(io)?.path();
        let Some(pid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running =
            pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
        if !running && path.is_file() {
            std::fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| DataError::format(path, e.to_string()))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads JSON written by [`write_json`], naming the file on error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| DataError::format(path, format!("unreadable JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"first version").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    /// Issue 22, item 9: the temporary file of a write killed by `kill -9`
    /// is removed; one of a running process, and other files, are kept.
    #[test]
    fn stale_temp_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".checkpoint.safetensors.4000000000.tmp");
        let alive = dir.path().join(format!(
            ".checkpoint.safetensors.{}.tmp",
            std::process::id()
        ));
        let other = dir.path().join("notes.tmp");
        for p in [&dead, &alive, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(
            remove_stale_temp_files(dir.path()).unwrap(),
            vec![dead.clone()]
        );
        assert!(!dead.exists() && alive.exists() && other.exists());
        assert!(remove_stale_temp_files(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
