//! What every run records about how it was made: forger's version, the git
//! commit of the checkout it was built from, the command line, the date,
//! the CPU's vector features and the JPEG decoder. A run folder's
//! `config.json` carries it under `provenance`; it is never compared on
//! resume.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How and where a run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// forger's version (the workspace's).
    pub forger_version: String,
    /// The commit of the checkout forger was built from, with `-dirty` when
    /// tracked files had changes; `None` outside a git checkout.
    pub git_commit: Option<String>,
    /// The command line, as typed.
    pub command_line: String,
    /// When the run started (UTC, RFC 3339).
    pub date: String,
    /// The vector instruction sets the CPU offers (x86-64), else the architecture.
    pub cpu_features: Vec<String>,
    /// How JPEGs are decoded in this build.
    pub jpeg_decoder: String,
}

impl Provenance {
    /// The provenance of this process, now.
    pub fn current() -> Self {
        Self {
            forger_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit(Path::new(env!("CARGO_MANIFEST_DIR"))),
            command_line: command_line(),
            date: rfc3339(SystemTime::now()),
            cpu_features: cpu_features(),
            jpeg_decoder: if forger_data::scaled_jpeg::available() {
                "libjpeg-turbo (reduced-scale DCT) with the image crate's decoder as fallback"
            } else {
                "the image crate's decoder (built without libjpeg headers)"
            }
            .to_string(),
        }
    }
}

/// The checkout's commit, `-dirty` when tracked files differ from it.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty())?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// The process's arguments, each quoted when a shell would need it.
fn command_line() -> String {
    let quote = |a: String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
        if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::env::args().map(quote).collect::<Vec<_>>().join(" ")
}

fn cpu_features() -> Vec<String> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        macro_rules! check {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    found.push($f.to_string());
                }
            )*};
        }
        check!("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl");
        found
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![std::env::consts::ARCH.to_string()]
    }
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ` (Hinnant's civil-from-days).
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_utc_rfc3339() {
        let at = |s| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.
        assert_eq!(at(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(at(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn the_current_provenance_names_this_build() {
        let p = Provenance::current();
        assert_eq!(p.forger_version, env!("CARGO_PKG_VERSION"));
        assert!(p.date.ends_with('Z') && p.date.len() == 20, "{}", p.date);
        assert!(!p.command_line.is_empty());
        assert!(!p.jpeg_decoder.is_empty());
    }
}
