//! Simulated readers: many concurrent readers answering over loopback, the
//! latency of each answer, and a check that the database holds every answer
//! the server accepted. The load test and `cargo xtask bench` run this.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use forger_teach::Truth;
use rand::Rng;
use serde::Serialize;

use crate::cases::Case;
use crate::http::{request, HttpResponse};
use crate::server::ReaderServer;
use crate::store::{Level, Store};
use crate::Result;

/// What a run of simulated readers did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Readers simulated.
    pub readers: usize,
    /// Readers who answered every case before the time limit.
    pub finished: usize,
    /// Answers the server accepted.
    pub answers: usize,
    /// Requests that failed or got an unexpected status.
    pub errors: usize,
    /// The first such failure, for the log.
    pub first_error: Option<String>,
    /// Answers accepted but not found in the database afterwards.
    pub lost: usize,
    /// Wall time of the run.
    pub seconds: f64,
    /// Median latency of an answer, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency of an answer, milliseconds.
    pub p99_ms: f64,
    /// Slowest answer, milliseconds.
    pub max_ms: f64,
}

/// `count` small generated cases (16x16 grey PNGs, alternately real and
/// synthetic), for load tests and benchmarks that need no site.
pub fn generated_cases(count: u32) -> Vec<Case> {
    (1..=count)
        .map(|id| {
            let img = image::GrayImage::from_fn(16, 16, |x, y| {
                image::Luma([((x * 13 + y * 7 + id * 31) % 256) as u8])
            });
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    let truth = if id % 2 == 0 {
                        Truth::Real
                    } else {
                        Truth::Synthetic
                    };
                    Case::new(
                        id,
                        format!("quiz/{id:03}.png"),
                        "generated".into(),
                        truth,
                        png,
                    )
                })
                .unwrap_or_else(|e| unreachable!("a generated case is a PNG: {e}"))
        })
        .collect()
}

struct ReaderRun {
    latencies: Vec<Duration>,
    finished: bool,
    errors: Vec<String>,
}

fn json(r: &HttpResponse) -> std::result::Result<serde_json::Value, String> {
    if r.status != 200 {
        return Err(format!("HTTP {}: {}", r.status, r.text()));
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("bad JSON: {e}"))
}

/// One simulated reader: signs in as `name`, then answers (at random) each
/// case the server gives until done or `deadline`.
fn one_reader(addr: SocketAddr, name: &str, level: Level, deadline: Instant) -> ReaderRun {
    let mut run = ReaderRun {
        latencies: Vec::new(),
        finished: false,
        errors: Vec::new(),
    };
    let mut rng = rand::thread_rng();
    let content = ("content-type", "application/json");
    let body = serde_json::json!({ "name": name, "level": level }).to_string();
    let signed = request(addr, "POST", "/api/sign-in", &[content], body.as_bytes())
        .map_err(|e| e.to_string());
    let (mut state, cookie) = match signed.and_then(|r| {
        let cookie = r
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        Ok((json(&r)?, cookie.ok_or("no session cookie")?))
    }) {
        Ok(x) => x,
        Err(e) => {
            run.errors.push(format!("{name}: sign-in: {e}"));
            return run;
        }
    };
    while Instant::now() < deadline {
        let Some(case) = state["case"]["id"].as_u64() else {
            run.finished = state["result"].is_object();
            return run;
        };
        let answer = if rng.gen_bool(0.5) {
            "real"
        } else {
            "synthetic"
        };
        let confidence = if answer == "real" {
            rng.gen_range(1..=3)
        } else {
            rng.gen_range(3..=5)
        };
        let body = serde_json::json!({ "case": case, "answer": answer, "confidence": confidence, "note": "" }).to_string();
        let start = Instant::now();
        let sent = request(
            addr,
            "POST",
            "/api/answer",
            &[content, ("cookie", &cookie)],
            body.as_bytes(),
        );
        let elapsed = start.elapsed();
        match sent.map_err(|e| e.to_string()).and_then(|r| json(&r)) {
            Ok(next) => {
                run.latencies.push(elapsed);
                state = next;
            }
            Err(e) => {
                run.errors.push(format!("{name}: case {case}: {e}"));
                return run;
            }
        }
    }
    run
}

/// The `q` quantile (type 1: the smallest value with at least `q` of the
/// values at or below it) of sorted `values`, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Runs `readers` simulated readers at once against the server at `addr`,
/// each answering every case unless `limit` passes first; their names
/// start with `prefix`.
pub fn simulate_readers(
    addr: SocketAddr,
    readers: usize,
    limit: Duration,
    prefix: &str,
) -> LoadReport {
    let start = Instant::now();
    let deadline = start + limit;
    let runs: Vec<ReaderRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..readers)
            .map(|i| {
                let name = format!("{prefix}{i:03}");
                let level = Level::ALL[i % Level::ALL.len()];
                scope.spawn(move || one_reader(addr, &name, level, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| ReaderRun {
                    latencies: Vec::new(),
                    finished: false,
                    errors: vec!["a simulated reader panicked".into()],
                })
            })
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = runs
        .iter()
        .flat_map(|r| r.latencies.iter().copied())
        .collect();
    latencies.sort();
    let errors: Vec<&String> = runs.iter().flat_map(|r| &r.errors).collect();
    LoadReport {
        readers,
        finished: runs.iter().filter(|r| r.finished).count(),
        answers: latencies.len(),
        errors: errors.len(),
        first_error: errors.first().map(|e| e.to_string()),
        lost: 0,
        seconds,
        p50_ms: quantile_ms(&latencies, 0.5),
        p99_ms: quantile_ms(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    }
}

/// A whole load run: a fresh database of `cases` generated cases in `dir`,
/// a server on a free loopback port, `readers` simulated readers for at
/// most `limit`, then a count of the answers in the database (`lost`).
pub fn load_run(dir: &Path, readers: usize, cases: u32, limit: Duration) -> Result<LoadReport> {
    let db = dir.join("load.sqlite");
    let mut store = Store::open(&db)?;
    store.add_cases(&generated_cases(cases))?;
    let server = ReaderServer::bind(store, SocketAddr::from(([127, 0, 0, 1], 0)))?.spawn()?;
    let mut report = simulate_readers(server.addr(), readers, limit, "simulated-");
    server.stop()?;
    let stored = Store::open(&db)?.answers()?.len();
    report.lost = report.answers.saturating_sub(stored);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_order_statistics() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&ms, 0.99), 99.0);
        assert_eq!(quantile_ms(&ms, 0.5), 50.0);
        assert_eq!(quantile_ms(&ms[..1], 0.99), 1.0);
        assert_eq!(quantile_ms(&[], 0.99), 0.0);
    }
}
