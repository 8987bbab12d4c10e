//! The whole download path against a fake Hub on 127.0.0.1: a small HTTP
//! server answering the two requests hf-hub makes per file (a `Range:
//! bytes=0-0` probe that must return `ETag`, `X-Repo-Commit` and
//! `Content-Range`, then a ranged GET of the body from the `.part` length).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parquet::basic::Compression;

use crate::catalog::{DataSet, Layout, Remote, Split};
use crate::parquet_fixture::{jpeg, noise, parquet, png, Labels};
use crate::{fetch, hub, list, HubError, Options, ParquetImageError, CATALOG};

/// How the server treats a file's body requests.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Serve {
    Good,
    /// Bytes that do not match the advertised sha256.
    Corrupt,
    /// The first body request is cut off halfway; later ones are whole.
    DropFirst,
    /// Every body request is cut off halfway.
    DropAlways,
}

struct Hosted {
    bytes: Vec<u8>,
    sha256: String,
    serve: Serve,
    body_requests: AtomicUsize,
}

/// A fake Hub serving files under `/datasets/<repo>/resolve/main/<path>`.
struct FakeHub {
    endpoint: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl FakeHub {
    fn start(files: Vec<(String, Vec<u8>, Serve)>) -> Self {
        let hosted: HashMap<String, Hosted> = files
            .into_iter()
            .map(|(url_path, bytes, serve)| {
                let sha256 = sha256(&bytes);
                let bytes = if serve == Serve::Corrupt {
                    bytes.iter().map(|b| b ^ 0x5a).collect()
                } else {
                    bytes
                };
                let hosted = Hosted {
                    bytes,
                    sha256,
                    serve,
                    body_requests: AtomicUsize::new(0),
                };
                (url_path, hosted)
            })
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (Arc::clone(&stop), Arc::clone(&log));
        let thread = std::thread::spawn(move || {
            // Bounded: the server gives up after a minute whatever happens.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(line) = answer(stream, &hosted) {
                            log2.lock().unwrap().push(line);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            endpoint,
            stop,
            thread: Some(thread),
            log,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request; returns "PATH RANGE" for the log.
fn answer(mut stream: TcpStream, hosted: &HashMap<String, Hosted>) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16_384 {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let range = head
        .lines()
        .find_map(|l| l.strip_prefix("Range: ").or(l.strip_prefix("range: ")))
        .unwrap_or("")
        .trim()
        .to_string();
    let log = format!("{path} {range}");
    let Some(file) = hosted.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some(log);
    };
    let len = file.bytes.len();
    let (start, end) = match range.strip_prefix("bytes=").and_then(|r| r.split_once('-')) {
        Some((a, b)) => (
            a.parse::<usize>().unwrap_or(0),
            b.parse::<usize>().map_or(len - 1, |b| b.min(len - 1)),
        ),
        None => (0, len - 1),
    };
    let body = &file.bytes[start..=end];
    let header = format!(
        "HTTP/1.1 206 Partial Content\r\nETag: \"{}\"\r\nX-Repo-Commit: {}\r\n\
         Content-Range: bytes {start}-{end}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        file.sha256,
        "0123456789abcdef0123456789abcdef01234567",
        body.len()
    );
    stream.write_all(header.as_bytes()).ok()?;
    let probe = start == 0 && end == 0;
    let n = if probe {
        0
    } else {
        file.body_requests.fetch_add(1, Ordering::Relaxed)
    };
    let cut =
        !probe && (file.serve == Serve::DropAlways || (file.serve == Serve::DropFirst && n == 0));
    if cut {
        // Half the body, then the connection drops.
        let _ = stream.write_all(&body[..body.len() / 2]);
        let _ = stream.flush();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    } else {
        let _ = stream.write_all(body);
    }
    Some(log)
}

/// The data set at `path`, loaded as forger loads it by default.
fn load_splits(path: &Path) -> forger_data::Splits {
    let config = forger_data::LoadConfig::default();
    forger_data::load(path, &config).unwrap().splits
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` grey 28x28 images of noise: their pixels and PNG files.
fn digits(seed: u32, n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let pixels: Vec<Vec<u8>> = (0..n).map(|i| noise(seed + i as u32, 28 * 28)).collect();
    let files = pixels.iter().map(|p| png(28, 28, p)).collect();
    (pixels, files)
}

fn npz_file() -> Vec<u8> {
    let npy = |shape: &str, data: &[u8]| {
        let header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for split in ["train", "val", "test"] {
        zip.start_file(format!("{split}_images.npy"), options)
            .unwrap();
        zip.write_all(&npy("(2, 2, 2)", &[0, 1, 2, 3, 4, 5, 6, 7]))
            .unwrap();
        zip.start_file(format!("{split}_labels.npy"), options)
            .unwrap();
        zip.write_all(&npy("(2, 1)", &[0, 1])).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A catalog entry for `repo` with `files` (path, split, bytes), and the
/// server's view of them.
fn hosted_set(
    repo: &str,
    layout: Layout,
    files: Vec<(&'static str, Option<Split>, Vec<u8>)>,
    serve: impl Fn(usize) -> Serve,
) -> (DataSet, Vec<(String, Vec<u8>, Serve)>) {
    let remotes: Vec<Remote> = files
        .iter()
        .map(|&(path, split, _)| Remote {
            path,
            sha256: None,
            split,
        })
        .collect();
    let set = DataSet {
        name: leak(repo.replace('/', "-")),
        what: "test data",
        size: "1 kB",
        licence: "test",
        repo: leak(repo.to_string()),
        revision: "main",
        files: Box::leak(remotes.into_boxed_slice()),
        layout,
    };
    let served = files
        .into_iter()
        .enumerate()
        .map(|(i, (path, _, bytes))| {
            (
                format!("/datasets/{repo}/resolve/main/{path}"),
                bytes,
                serve(i),
            )
        })
        .collect();
    (set, served)
}

fn options(cache: &Path, endpoint: &str) -> Options {
    Options {
        cache: cache.to_path_buf(),
        endpoint: endpoint.to_string(),
        offline: false,
        attempts: 3,
        progress: false,
        connect_timeout: Duration::from_secs(2),
        command: "forger download".to_string(),
    }
}

fn files_named(dir: &Path, suffix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[test]
fn parquet_shards_resume_after_a_dropped_connection_then_become_idx_and_work_offline() {
    let (train_pixels, train_png) = digits(1, 16);
    let (test_pixels, test_png) = digits(100, 3);
    let train_labels: Vec<i64> = (0..16).map(|i| (i * 7) % 10).collect();
    let train = parquet(
        &train_png,
        Labels::Int(&train_labels),
        "label",
        None,
        Compression::UNCOMPRESSED,
    );
    // More than one read buffer, so that a cut body is really partial.
    assert!(train.len() > 10_000, "{}", train.len());
    let test = parquet(
        &test_png,
        Labels::Int(&[4, 0, 9]),
        "label",
        Some(&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
        Compression::SNAPPY,
    );
    let (set, served) = hosted_set(
        "test/digits",
        Layout::ParquetIdx { label: "label" },
        vec![
            (
                "mnist/train-00000-of-00001.parquet",
                Some(Split::Train),
                train,
            ),
            ("mnist/test-00000-of-00001.parquet", Some(Split::Test), test),
        ],
        |i| {
            if i == 0 {
                Serve::DropFirst
            } else {
                Serve::Good
            }
        },
    );
    let (npz, npz_served) = hosted_set(
        "test/npz",
        Layout::Npz,
        vec![("data/tiny.npz", None, npz_file())],
        |_| Serve::Good,
    );
    let server = FakeHub::start(served.into_iter().chain(npz_served).collect());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);

    let dest = fetch(&set, &opts).unwrap();
    assert_eq!(dest, cache.path().join("test-digits"));
    for stem in forger_data::idx::STANDARD_FILES {
        assert!(dest.join(format!("{stem}.gz")).is_file(), "{stem}");
    }
    let splits = load_splits(&dest);
    assert_eq!((splits.train.len(), splits.test.len()), (16, 3));
    assert_eq!(splits.train.image_shape(), [1, 28, 28]);
    let want: Vec<u32> = train_labels.iter().map(|&l| l as u32).collect();
    assert_eq!(splits.train.labels(), want.as_slice());
    assert_eq!(splits.test.labels(), &[4, 0, 9]);
    for (i, pixels) in train_pixels.iter().enumerate() {
        assert_eq!(splits.train.image(i), pixels.as_slice(), "train image {i}");
    }
    assert_eq!(splits.test.image(2), test_pixels[2].as_slice());
    // The cut first body was resumed from where it stopped, not restarted.
    let log = server.requests();
    let first: Vec<&String> = log.iter().filter(|l| l.contains("train-0000")).collect();
    assert_eq!(first.len(), 4, "{log:?}");
    assert!(
        first[3].contains("bytes=") && !first[3].ends_with("bytes=0-"),
        "{log:?}"
    );
    assert!(files_named(cache.path(), ".part").is_empty());

    let npz_dest = fetch(&npz, &opts).unwrap();
    assert_eq!(npz_dest, cache.path().join("test-npz.npz"));
    assert_eq!(forger_data::npz::load(&npz_dest).unwrap().train.len(), 2);

    drop(server);
    let offline = Options {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(fetch(&set, &offline).unwrap(), dest);
    // Without the converted folder, offline mode rebuilds it from hf-hub's cache.
    std::fs::remove_dir_all(&dest).unwrap();
    assert_eq!(fetch(&set, &offline).unwrap(), dest);
    assert_eq!(
        forger_data::idx::load_dir(&dest).unwrap().test.labels(),
        &[4, 0, 9]
    );
}

#[test]
fn parquet_shards_become_image_folders_that_forger_loads() {
    // Two splits, Snappy, label names in the file's metadata: a Kaggle
    // layout (`training_set/`, `test_set/`) with the file's class names.
    let pixels: Vec<Vec<u8>> = (0..7).map(|i| noise(i, 20 * 12)).collect();
    let images: Vec<Vec<u8>> = pixels.iter().map(|p| png(20, 12, p)).collect();
    let train_labels = [0, 1, 1, 0, 1];
    let train = parquet(
        &images[..5],
        Labels::Int(&train_labels),
        "label",
        Some(&["NORMAL", "PNEUMONIA"]),
        Compression::SNAPPY,
    );
    let test = parquet(
        &images[5..],
        Labels::Int(&[1, 0]),
        "label",
        Some(&["NORMAL", "PNEUMONIA"]),
        Compression::SNAPPY,
    );
    let (mut xray, xray_served) = hosted_set(
        "test/xray",
        Layout::ParquetFolder {
            label: "label",
            classes: &["NORMAL", "PNEUMONIA"],
        },
        vec![
            ("default/train/0000.parquet", Some(Split::Train), train),
            ("default/test/0000.parquet", Some(Split::Test), test),
        ],
        |_| Serve::Good,
    );
    // Served from a branch whose name has slashes, as the chest X-rays are.
    xray.revision = "refs/convert/parquet";
    let xray_served: Vec<_> = xray_served
        .into_iter()
        .map(|(path, bytes, serve)| {
            let path = path.replace("/resolve/main/", "/resolve/refs%2Fconvert%2Fparquet/");
            (path, bytes, serve)
        })
        .collect();
    // One split in two shards, no names in the files (the catalog's are
    // used), column `labels`, a JPEG among the PNGs: one class-per-folder tree.
    let pets_images = [
        png(9, 7, &noise(20, 63)),
        jpeg(16, 16, &noise(21, 256)),
        png(9, 7, &noise(22, 63)),
        png(5, 5, &noise(23, 25)),
        png(9, 7, &noise(24, 63)),
    ];
    let shard = |range: std::ops::Range<usize>, labels: &[i64]| {
        parquet(
            &pets_images[range],
            Labels::Int(labels),
            "labels",
            None,
            Compression::UNCOMPRESSED,
        )
    };
    let (pets, pets_served) = hosted_set(
        "test/pets",
        Layout::ParquetFolder {
            label: "labels",
            classes: &["cat", "dog"],
        },
        vec![
            (
                "data/train-00000-of-00002.parquet",
                Some(Split::Train),
                shard(0..3, &[0, 1, 0]),
            ),
            (
                "data/train-00001-of-00002.parquet",
                Some(Split::Train),
                shard(3..5, &[1, 1]),
            ),
        ],
        |_| Serve::Good,
    );
    let server = FakeHub::start(xray_served.into_iter().chain(pets_served).collect());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);

    let dest = fetch(&xray, &opts).unwrap();
    let first = hub::url(&xray, &xray.files[0], &opts);
    let asked = format!("{}{} ", server.endpoint, server.requests()[0]);
    assert!(asked.starts_with(&format!("{first} ")), "{asked} {first}");
    // Each image keeps its bytes, numbered in its split, under its class.
    assert_eq!(
        std::fs::read(dest.join("training_set/PNEUMONIA/000002.png")).unwrap(),
        images[2]
    );
    assert_eq!(
        std::fs::read(dest.join("test_set/NORMAL/000001.png")).unwrap(),
        images[6]
    );
    let splits = load_splits(&dest);
    assert_eq!(splits.train.classes(), &["NORMAL", "PNEUMONIA"]);
    assert_eq!(splits.train.class_counts(), vec![2, 3]);
    assert_eq!(splits.test.class_counts(), vec![1, 1]);
    let config = forger_data::image_folder::ImageFolderConfig {
        size: [12, 20],
        color: forger_data::image_folder::ColorMode::Grey,
        filter: forger_data::image_folder::ResizeFilter::Nearest,
        ..Default::default()
    };
    let config = forger_data::LoadConfig {
        folder: config,
        ..Default::default()
    };
    let exact = forger_data::load(&dest, &config).unwrap().splits;
    // Files sort by name within a class: NORMAL holds rows 0 and 3.
    assert_eq!(exact.train.labels(), &[0, 0, 1, 1, 1]);
    assert_eq!(exact.train.image(1), pixels[3].as_slice());
    assert_eq!(exact.test.image(0), pixels[6].as_slice());

    let pets_dest = fetch(&pets, &opts).unwrap();
    let mut names: Vec<String> = files_named(&pets_dest, "")
        .iter()
        .map(|p| {
            p.strip_prefix(&*pets_dest.to_string_lossy())
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "/cat/000000.png",
            "/cat/000002.png",
            "/dog/000001.jpg",
            "/dog/000003.png",
            "/dog/000004.png"
        ]
    );
    let splits = load_splits(&pets_dest);
    assert_eq!(splits.train.classes(), &["cat", "dog"]);
    assert_eq!(splits.train.len() + splits.test.len(), 5);

    // Offline, the folder is rebuilt from hf-hub's cache of that branch.
    drop(server);
    std::fs::remove_dir_all(&dest).unwrap();
    let offline = Options {
        offline: true,
        ..opts.clone()
    };
    assert_eq!(fetch(&xray, &offline).unwrap(), dest);
    assert_eq!(
        std::fs::read(dest.join("test_set/NORMAL/000001.png")).unwrap(),
        images[6]
    );
}

#[test]
fn the_list_shows_every_data_set_with_its_size_licence_and_source() {
    let cache = tempfile::tempdir().unwrap();
    let text = list(&options(cache.path(), "https://huggingface.co"));
    for set in CATALOG {
        let entry = text
            .split('\n')
            .skip_while(|l| !l.starts_with(&format!("{} ", set.name)))
            .take(4 + set.files.len())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            entry.contains(set.size)
                && entry.contains(&format!("licence: {}", set.licence))
                && entry.contains(&format!(
                    "source:  https://huggingface.co/datasets/{}",
                    set.repo
                ))
                && set.files.iter().all(|f| entry.contains(f.path)),
            "{}:\n{entry}",
            set.name
        );
    }
    assert!(
        text.contains("fetch them from https://zenodo.org/records/10519652/files/<file>")
            && text.contains(
                "  pneumoniamnist_64.npz  pneumoniamnist_128.npz  pneumoniamnist_224.npz\n"
            ),
        "{text}"
    );
}

#[test]
fn a_parquet_without_the_label_column_is_a_clear_error_and_nothing_is_placed() {
    let (_, images) = digits(7, 2);
    let wrong = parquet(
        &images,
        Labels::Int(&[1, 2]),
        "target",
        None,
        Compression::SNAPPY,
    );
    let (_, test_images) = digits(9, 1);
    let test = parquet(
        &test_images,
        Labels::Int(&[3]),
        "label",
        None,
        Compression::SNAPPY,
    );
    let (set, served) = hosted_set(
        "test/schema",
        Layout::ParquetIdx { label: "label" },
        vec![
            (
                "mnist/train-00000-of-00001.parquet",
                Some(Split::Train),
                wrong,
            ),
            ("mnist/test-00000-of-00001.parquet", Some(Split::Test), test),
        ],
        |_| Serve::Good,
    );
    let server = FakeHub::start(served);
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&set, &options(cache.path(), &server.endpoint)).unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Parquet(ParquetImageError::MissingColumn { .. })
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("train-00000-of-00001.parquet")
            && text.contains("no column `label`")
            && text.contains("`image`, `target`"),
        "{text}"
    );
    assert!(!cache.path().join("test-schema").exists());
    let left: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| !n.contains("partial")), "{left:?}");
}

#[test]
fn a_corrupted_file_is_a_checksum_error_and_nothing_is_left_in_place() {
    let (set, served) = hosted_set(
        "test/bad",
        Layout::Npz,
        vec![("tiny.npz", None, npz_file())],
        |_| Serve::Corrupt,
    );
    let server = FakeHub::start(served);
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&set, &options(cache.path(), &server.endpoint)).unwrap_err();
    let HubError::Checksum {
        ref url,
        ref got,
        ref want,
        whose,
    } = err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        url,
        &format!(
            "{}/datasets/test/bad/resolve/main/tiny.npz",
            server.endpoint
        )
    );
    assert_ne!(got, want);
    assert_eq!(whose, "the Hub's sha256 (ETag)");
    let text = err.to_string();
    assert!(
        text.contains("checksum mismatch") && text.contains("tiny.npz"),
        "{text}"
    );
    assert!(!cache.path().join("test-bad.npz").exists());
    let blobs = cache.path().join(".hf-hub/datasets--test--bad/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.iter().all(|n| n.to_string_lossy().ends_with(".lock")),
        "{left:?}"
    );
}

#[test]
fn a_connection_that_always_drops_fails_after_bounded_attempts_without_a_half_file() {
    let (set, served) = hosted_set(
        "test/drop",
        Layout::Npz,
        vec![("tiny.npz", None, npz_file())],
        |_| Serve::DropAlways,
    );
    let server = FakeHub::start(served);
    let cache = tempfile::tempdir().unwrap();
    let opts = Options {
        attempts: 2,
        ..options(cache.path(), &server.endpoint)
    };
    let err = fetch(&set, &opts).unwrap_err();
    assert!(
        matches!(err, HubError::Download { attempts: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("failed after 2 attempts"), "{text}");
    assert!(!cache.path().join("test-drop.npz").exists());
    assert_eq!(files_named(cache.path(), ".part").len(), 1);
    assert!(files_named(cache.path(), "tiny.npz").is_empty());
}

#[test]
fn without_network_it_fails_fast_saying_what_it_tried_and_how_to_place_files() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (set, _) = hosted_set(
        "test/away",
        Layout::Npz,
        vec![("data/tiny.npz", None, npz_file())],
        |_| Serve::Good,
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &closed);
    let err = fetch(&set, &opts).unwrap_err();
    assert!(matches!(err, HubError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("could not reach") && text.contains(&closed),
        "{text}"
    );
    let incoming = hub::incoming_dir(&opts, &set).join("data/tiny.npz");
    let rerun = format!(
        "`forger download test-away --offline --cache {}`",
        cache.path().display()
    );
    assert!(
        text.contains(&incoming.display().to_string()) && text.contains(&rerun),
        "{text}"
    );

    let offline = Options {
        offline: true,
        ..opts.clone()
    };
    let err = fetch(&set, &offline).unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("--offline forbids downloading"), "{text}");
    // Placed by hand as the message says, the offline run converts it.
    std::fs::create_dir_all(incoming.parent().unwrap()).unwrap();
    std::fs::write(&incoming, npz_file()).unwrap();
    let dest = fetch(&set, &offline).unwrap();
    assert_eq!(forger_data::npz::load(&dest).unwrap().test.len(), 2);
}

#[test]
fn an_endpoint_that_is_not_a_url_is_an_error_naming_it() {
    let (set, _) = hosted_set(
        "test/url",
        Layout::Npz,
        vec![("data/tiny.npz", None, npz_file())],
        |_| Serve::Good,
    );
    let cache = tempfile::tempdir().unwrap();
    for endpoint in ["huggingface.co", "ftp://huggingface.co", "https://"] {
        let err = fetch(&set, &options(cache.path(), endpoint)).unwrap_err();
        assert!(matches!(err, HubError::BadEndpoint { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!(
                "endpoint `{endpoint}` is not a URL: expected http://"
            )),
            "{err}"
        );
    }
}
