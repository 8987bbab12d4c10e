//! `cargo xtask fuzz`: mutation fuzzing of the readers of hostile input on
//! the stable toolchain (cargo-fuzz needs nightly). Each target is a reader
//! forger points at user files: IDX (raw and gzip, in memory and by
//! offset), NPZ (in memory and by offset), image decoding (both JPEG paths,
//! PNG, BMP) and checkpoints. Seeds are real files of each format (the
//! JPEG in `tests/hostile/`, the rest written by forger's own writers and
//! the `image` crate); mutants are drawn from them by seeded random byte
//! edits (flips, interesting integers over header fields, inserts, cuts,
//! splices) and, for compressed formats, by edits of the uncompressed bytes
//! that are then compressed again, so that mutants get past the CRC to the
//! parsers behind it. Not coverage-guided: a budget of wall time per target.
//!
//! A reader may return `Ok` or `Err`; a panic, or a run past
//! [`SLOW`], is a crash: its input is saved under `tests/fuzz/crashes/
//! <target>/` and replayed by this module's test from then on. Before each
//! run the input is written to `target/fuzz/<target>.current`, so an abort
//! (which no catch can stop) leaves the input that caused it.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use candle_core::{DType, Device};
use clap::{Args, ValueEnum};
use forger_data::image_folder::{decode_image, ImageFolderConfig};
use forger_data::{idx, npz, IdxSource, NpzSource, Source};
use forger_train::checkpoint::{Checkpoint, CheckpointWriter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A run longer than this is saved as a (slow-input) crash.
const SLOW: Duration = Duration::from_secs(5);

/// The pixel limit images are decoded under while fuzzing (small, so that
/// an execution is quick; the limit itself is what is checked).
const FUZZ_MAX_PIXELS: u64 = 1 << 20;

/// A reader under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// IDX files, raw and gzip, read whole and by offset.
    Idx,
    /// MedMNIST `.npz` archives, read whole and by offset.
    Npz,
    /// Image files of a class folder, decoded by both JPEG paths.
    Image,
    /// Checkpoints and weight files.
    Checkpoint,
}

impl Target {
    const ALL: [Target; 4] = [Self::Idx, Self::Npz, Self::Image, Self::Checkpoint];

    fn name(self) -> &'static str {
        match self {
            Self::Idx => "idx",
            Self::Npz => "npz",
            Self::Image => "image",
            Self::Checkpoint => "checkpoint",
        }
    }

    /// Runs the reader on the file at `path`; `true` when it accepted it.
    fn run(self, path: &Path) -> bool {
        match self {
            Self::Idx => {
                let whole = idx::read_images(path).is_ok() | idx::read_labels(path).is_ok();
                let labels = path.with_extension("labels");
                let _ = std::fs::write(&labels, [0, 0, 8, 1, 0, 0, 0, 5, 0, 1, 2, 3, 4]);
                let offset = IdxSource::open(path, &labels).is_ok_and(|s| read_all(&s));
                whole | offset
            }
            Self::Npz => {
                let whole = npz::load(path).is_ok();
                let offset = NpzSource::open(path, "train").is_ok_and(|s| read_all(&s));
                whole | offset
            }
            Self::Image => [true, false]
                .into_iter()
                .map(|dct| {
                    let config = ImageFolderConfig {
                        size: [16, 16],
                        jpeg_dct_scaling: dct,
                        max_image_pixels: FUZZ_MAX_PIXELS,
                        ..Default::default()
                    };
                    decode_image(path, &config).is_ok()
                })
                .fold(false, |a, b| a | b),
            Self::Checkpoint => {
                let read = Checkpoint::read(path, &Device::Cpu)
                    .is_ok_and(|ck| ck.meta::<serde_json::Value>().is_ok());
                let vars = candle_nn::VarMap::new();
                let _ = vars.get(
                    (2, 3),
                    "w",
                    candle_nn::Init::Const(0.0),
                    DType::F32,
                    &Device::Cpu,
                );
                read | forger_train::load_weights(path, &vars, &Device::Cpu).is_ok()
            }
        }
    }

    /// Real files of the format to mutate, written into `dir`.
    fn seeds(self, dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
        Ok(match self {
            Self::Idx => {
                let images = idx::encode(0x803, &[5, 4, 4], &(0..80).collect::<Vec<u8>>());
                let labels = idx::encode(0x801, &[5], &[0, 1, 2, 3, 4]);
                vec![gzip(&images), images, labels]
            }
            Self::Npz => vec![
                npz_archive(zip::CompressionMethod::Deflated)?,
                npz_archive(zip::CompressionMethod::Stored)?,
            ],
            Self::Image => {
                let jpeg = std::fs::read(crate::workspace_root().join("tests/hostile/photo.jpg"))?;
                let photo = image::load_from_memory(&jpeg)?;
                let mut out = vec![jpeg];
                for format in [image::ImageFormat::Png, image::ImageFormat::Bmp] {
                    let mut bytes = std::io::Cursor::new(Vec::new());
                    photo
                        .resize(24, 20, image::imageops::FilterType::Nearest)
                        .write_to(&mut bytes, format)?;
                    out.push(bytes.into_inner());
                }
                let mut grey = Vec::new();
                image::codecs::jpeg::JpegEncoder::new(&mut grey).encode_image(&photo.to_luma8())?;
                out.push(grey);
                out
            }
            Self::Checkpoint => {
                let vars = candle_nn::VarMap::new();
                vars.get(
                    (2, 3),
                    "w",
                    candle_nn::Init::Const(0.5),
                    DType::F32,
                    &Device::Cpu,
                )?;
                let path = dir.join("seed.safetensors");
                CheckpointWriter::new()
                    .vars("model", &vars)
                    .write(&path, &serde_json::json!({"step": 7}))?;
                let weights = dir.join("weights.safetensors");
                forger_train::save_weights(&weights, &vars)?;
                vec![std::fs::read(&path)?, std::fs::read(&weights)?]
            }
        })
    }

    /// A mutant of one of `seeds`.
    fn mutate(self, seeds: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let seed = &seeds[rng.gen_range(0..seeds.len())];
        // Edit the uncompressed bytes, then compress again: past the CRC.
        let inner = rng.gen_bool(0.5);
        match self {
            Self::Idx if inner && seed.starts_with(&[0x1f, 0x8b]) => {
                let raw = gunzip(seed).unwrap_or_default();
                gzip(&mutate_bytes(&raw, seeds, rng))
            }
            Self::Npz if inner => {
                let member = npz::encode_npy(&[4, 3, 3], &[7; 36]);
                let edited = mutate_bytes(&member, seeds, rng);
                npz_with(zip::CompressionMethod::Deflated, &edited).unwrap_or_default()
            }
            _ => mutate_bytes(seed, seeds, rng),
        }
    }
}

/// Reads every image of a source (errors are fine; panics are not).
fn read_all(source: &dyn Source) -> bool {
    let [c, h, w] = source.image_shape();
    let Some(len) = c.checked_mul(h).and_then(|n| n.checked_mul(w)) else {
        return false;
    };
    if len > 1 << 20 {
        return false;
    }
    let mut out = vec![0u8; len];
    (0..source.len().min(64)).all(|i| source.read(i, &mut out).is_ok())
}

/// Integers that break header arithmetic.
const INTERESTING: [u32; 9] = [
    0,
    1,
    0x7F,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x0100_0000,
];

/// One to four random edits of `bytes`.
fn mutate_bytes(bytes: &[u8], seeds: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = out.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..8) {
            0 if len > 0 => out[at] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => out[at] = [0, 0xFF, 0x7F, 0x80][rng.gen_range(0..4)],
            2 if len >= 4 => {
                let at = at.min(len - 4);
                let v = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                let word = if rng.gen() {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                out[at..at + 4].copy_from_slice(&word);
            }
            3 => {
                let n = rng.gen_range(1..=64);
                let fill: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                out.splice(at..at, fill);
            }
            4 if len > 0 => {
                let end = (at + rng.gen_range(1..=64)).min(len);
                out.drain(at..end);
            }
            5 => out.truncate(at),
            6 if len > 0 => {
                let end = (at + rng.gen_range(1..=128)).min(len);
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                let from = rng.gen_range(0..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out)?;
    Ok(out)
}

fn npz_archive(method: zip::CompressionMethod) -> anyhow::Result<Vec<u8>> {
    npz_with(method, &npz::encode_npy(&[4, 3, 3], &[7; 36]))
}

/// A MedMNIST-like archive whose `train_images` is `train`.
fn npz_with(method: zip::CompressionMethod, train: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    let images = npz::encode_npy(&[4, 3, 3], &[7; 36]);
    let labels = npz::encode_npy(&[4], &[0, 1, 0, 1]);
    for split in ["train", "val", "test"] {
        zip.start_file(format!("{split}_images.npy"), options)?;
        zip.write_all(if split == "train" { train } else { &images })?;
        zip.start_file(format!("{split}_labels.npy"), options)?;
        zip.write_all(&labels)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// `cargo xtask fuzz`'s arguments.
#[derive(Args)]
pub struct FuzzArgs {
    /// Wall time per target, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    seconds: u64,
    /// Targets to fuzz (all by default).
    #[arg(long, value_enum, value_delimiter = ',')]
    target: Vec<Target>,
    /// Seed of the mutations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// What one target's campaign did.
struct Campaign {
    executions: u64,
    accepted: u64,
    crashes: Vec<PathBuf>,
    slowest: Duration,
}

/// Fuzzes each target for `--seconds`, prints a table and fails when any
/// crash was found (its input saved as a test).
pub fn run(args: FuzzArgs) -> anyhow::Result<()> {
    let targets = if args.target.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.target.clone()
    };
    let work = crate::workspace_root().join("target/fuzz");
    std::fs::create_dir_all(&work)?;
    // The readers' own errors are expected; keep the hook for real panics.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut total_crashes = 0;
    println!("| target | executions | accepted | crashes | slowest run |");
    println!("|---|---|---|---|---|");
    for target in targets {
        let c = campaign(target, &work, Duration::from_secs(args.seconds), args.seed)?;
        println!(
            "| {} | {} | {} | {} | {:.1} ms |",
            target.name(),
            c.executions,
            c.accepted,
            c.crashes.len(),
            c.slowest.as_secs_f64() * 1e3
        );
        for crash in &c.crashes {
            println!("  crash kept as a test: {}", crash.display());
        }
        total_crashes += c.crashes.len();
    }
    std::panic::set_hook(hook);
    anyhow::ensure!(
        total_crashes == 0,
        "{total_crashes} crash(es) found: their inputs are in tests/fuzz/crashes/ (replayed by `cargo test -p xtask`)"
    );
    Ok(())
}

fn campaign(target: Target, work: &Path, budget: Duration, seed: u64) -> anyhow::Result<Campaign> {
    let dir = tempfile::tempdir()?;
    let seeds = target.seeds(dir.path())?;
    let current = work.join(format!("{}.current", target.name()));
    let input = dir.path().join("input");
    let mut rng = StdRng::seed_from_u64(seed ^ target as u64);
    let mut c = Campaign {
        executions: 0,
        accepted: 0,
        crashes: Vec::new(),
        slowest: Duration::ZERO,
    };
    let start = Instant::now();
    while start.elapsed() < budget {
        let bytes = target.mutate(&seeds, &mut rng);
        std::fs::write(&current, &bytes).context("writing the current input")?;
        std::fs::write(&input, &bytes)?;
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let took = t.elapsed();
        c.slowest = c.slowest.max(took);
        c.executions += 1;
        match outcome {
            Ok(accepted) if took < SLOW => c.accepted += u64::from(accepted),
            _ => c.crashes.push(keep_crash(target, &bytes)?),
        }
    }
    std::fs::remove_file(&current)?;
    Ok(c)
}

/// Saves a crashing input under `tests/fuzz/crashes/<target>/`.
fn keep_crash(target: Target, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = crashes_dir(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{:08x}.bin", crc32fast::hash(bytes)));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

fn crashes_dir(target: Target) -> PathBuf {
    crate::workspace_root()
        .join("tests/fuzz/crashes")
        .join(target.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kept crash (and each reproduction of issue 22 kept beside
    /// them) now reads as `Ok` or `Err`: no panic.
    #[test]
    fn kept_crashes_no_longer_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut replayed = 0;
        for target in Target::ALL {
            let Ok(entries) = std::fs::read_dir(crashes_dir(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let input = dir.path().join("input");
                std::fs::copy(&path, &input).unwrap();
                let outcome = catch_unwind(AssertUnwindSafe(|| target.run(&input)));
                assert!(
                    outcome.is_ok(),
                    "{} panics on {}",
                    target.name(),
                    path.display()
                );
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no kept inputs under tests/fuzz/crashes");
    }

    /// A short campaign per target runs, and accepts some of its mutants.
    #[test]
    fn mutants_of_real_files_are_read_without_crashing() {
        let dir = tempfile::tempdir().unwrap();
        for target in Target::ALL {
            let seeds = target.seeds(dir.path()).unwrap();
            let input = dir.path().join("input");
            for seed in &seeds {
                std::fs::write(&input, seed).unwrap();
                assert!(target.run(&input), "{} refuses its seed", target.name());
            }
            let mut rng = StdRng::seed_from_u64(1);
            for _ in 0..50 {
                std::fs::write(&input, target.mutate(&seeds, &mut rng)).unwrap();
                target.run(&input);
            }
        }
    }
}
