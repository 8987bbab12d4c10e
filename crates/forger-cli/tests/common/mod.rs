//! For the reader-study tests: a tiny teaching site built in a moment, and
//! `forger teach serve` run as a child process, with its URLs parsed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use forger_readers::http::{request, HttpResponse};
use forger_teach::{build_site, AnswerKey, SiteInputs, SiteOptions};
use serde_json::{json, Value};

/// A 12x12 grey picture, different for every `id`.
fn picture(id: u32) -> Vec<u8> {
    (0..144u32)
        .map(|i| ((i * 7 + id * 37 + i * i * id) % 251) as u8)
        .collect()
}

/// Builds a site with `quiz` questions (half synthetic) in `dir/site` and
/// returns its answer key.
pub fn tiny_site(dir: &Path, quiz: usize) -> AnswerKey {
    let classes = vec!["normal".to_string(), "pneumonia".to_string()];
    let synthetic = dir.join("synthetic");
    for (c, name) in classes.iter().enumerate() {
        std::fs::create_dir_all(synthetic.join(name)).unwrap();
        for i in 0..quiz as u32 {
            image::GrayImage::from_raw(12, 12, picture(1000 + 100 * c as u32 + i))
                .unwrap()
                .save(synthetic.join(name).join(format!("{i:03}.png")))
                .unwrap();
        }
    }
    let per_class = quiz as u32;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..per_class * 2 {
        pixels.extend(picture(i));
        labels.push(i % 2);
    }
    let real = forger_data::Dataset::new(pixels, labels, [1, 12, 12], classes).unwrap();
    let options = SiteOptions {
        synthetic_per_class: 1,
        real_per_class: 1,
        quiz_length: quiz,
        synthetic_fraction: 0.5,
        seed: 5,
        ask_class: false,
    };
    let inputs = SiteInputs {
        synthetic_dir: &synthetic,
        real: &real,
        study_dir: None,
    };
    build_site(&inputs, &options, &dir.join("site"))
        .unwrap()
        .answer_key
}

/// `forger teach serve` running on a free loopback port.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    pub reader_url: String,
    pub results_url: String,
}

impl Served {
    /// Starts `forger teach serve --site SITE --db DB --bind 127.0.0.1:0`
    /// and waits for its two URL lines.
    pub fn start(site: &Path, db: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_forger"))
            .args(["teach", "serve", "--bind", "127.0.0.1:0", "--site"])
            .arg(site)
            .arg("--db")
            .arg(db)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = |prefix: &str| {
            let line = lines
                .next()
                .expect("forger teach serve printed nothing")
                .unwrap();
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected `{prefix}...`, got {line:?}"))
                .to_string()
        };
        let reader_url = url("reader URL: ");
        let results_url = url("results URL: ");
        let addr = reader_url
            .strip_prefix("http://")
            .and_then(|r| r.strip_suffix('/'))
            .unwrap()
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            reader_url,
            results_url,
        }
    }

    /// The token in the results URL.
    pub fn token(&self) -> &str {
        self.results_url.split("?token=").nth(1).unwrap()
    }

    /// Kills the server with SIGKILL and waits for it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        request(self.addr, "GET", path, &headers, b"").unwrap()
    }

    pub fn post(&self, path: &str, cookie: Option<&str>, body: &Value) -> HttpResponse {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(cookie.map(|c| ("cookie", c)));
        request(
            self.addr,
            "POST",
            path,
            &headers,
            body.to_string().as_bytes(),
        )
        .unwrap()
    }

    /// Signs `name` in: the session cookie and the state.
    pub fn sign_in(&self, name: &str, level: &str) -> (String, Value) {
        let r = self.post("/api/sign-in", None, &json!({"name": name, "level": level}));
        assert_eq!(r.status, 200, "{}", r.text());
        let cookie = r
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        (cookie, serde_json::from_slice(&r.body).unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
