//! The study server in process, over loopback: the reader's way through
//! the cases, resuming, the 4xx answers to bad requests, escaping, the
//! results token, and 50 concurrent simulated readers.

use std::net::SocketAddr;
use std::time::Duration;

use forger_readers::http::{request, HttpResponse};
use forger_readers::load::{generated_cases, load_run};
use forger_readers::{reader_order, Case, ReaderServer, RunningServer, Store, BODY_LIMIT};
use forger_teach::Truth;
use serde_json::{json, Value};

struct Study {
    _dir: tempfile::TempDir,
    server: RunningServer,
    db: std::path::PathBuf,
}

/// A server on a free port over `cases` in a fresh database.
fn start(cases: &[Case]) -> Study {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readers.sqlite");
    let mut store = Store::open(&db).unwrap();
    store.add_cases(cases).unwrap();
    let server = ReaderServer::bind(store, SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap()
        .spawn()
        .unwrap();
    Study {
        _dir: dir,
        server,
        db,
    }
}

impl Study {
    fn get(&self, path: &str, cookie: Option<&str>) -> HttpResponse {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
        request(self.server.addr(), "GET", path, &headers, b"").unwrap()
    }

    fn post(&self, path: &str, cookie: Option<&str>, body: &[u8]) -> HttpResponse {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(cookie.map(|c| ("cookie", c)));
        request(self.server.addr(), "POST", path, &headers, body).unwrap()
    }

    /// Signs `name` in: the cookie and the reader's state.
    fn sign_in(&self, name: &str, level: &str) -> (String, Value) {
        let r = self.post(
            "/api/sign-in",
            None,
            json!({"name": name, "level": level}).to_string().as_bytes(),
        );
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

    fn answer(
        &self,
        cookie: &str,
        case: u64,
        answer: &str,
        confidence: u8,
        note: &str,
    ) -> HttpResponse {
        let body = json!({"case": case, "answer": answer, "confidence": confidence, "note": note});
        self.post("/api/answer", Some(cookie), body.to_string().as_bytes())
    }

    fn token(&self) -> String {
        self.server.token().to_string()
    }
}

#[test]
fn a_reader_takes_the_cases_in_their_own_order_and_resumes() {
    let cases = generated_cases(6);
    let study = start(&cases);
    let (cookie, state) = study.sign_in("Dr Ann", "resident");
    assert_eq!(
        (state["total"].as_u64(), state["answered"].as_u64()),
        (Some(6), Some(0))
    );
    // The reader's state never carries the truth.
    assert!(
        !state.to_string().contains("truth") && state["case"].get("class").is_none(),
        "{state}"
    );
    // The order is the reader's seeded shuffle (readers are numbered from 1).
    let order = reader_order(1, 6);
    let mut seen = Vec::new();
    let mut right = 0;
    let mut state = state;
    for (i, &want) in order.iter().enumerate() {
        let case = state["case"]["id"].as_u64().unwrap();
        assert_eq!(case, u64::from(want));
        seen.push(case);
        let img = study.get(state["case"]["image"].as_str().unwrap(), None);
        assert_eq!(
            (img.status, img.header("content-type")),
            (200, Some("image/png"))
        );
        // Always "synthetic": right on the synthetic cases.
        let r = study.answer(&cookie, case, "synthetic", 4, "");
        assert_eq!(r.status, 200, "{}", r.text());
        right += usize::from(cases[want as usize - 1].truth == Truth::Synthetic);
        state = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(state["answered"].as_u64(), Some(i as u64 + 1));
        if i == 2 {
            // Closing the tab: a new request with the cookie, and signing in
            // again by name without it, both resume at the same case.
            let again = study.get("/api/state", Some(&cookie));
            assert_eq!(serde_json::from_slice::<Value>(&again.body).unwrap(), state);
            let (cookie2, by_name) = study.sign_in("Dr Ann", "student");
            assert_eq!((cookie2, by_name.clone()), (cookie.clone(), state.clone()));
            assert_eq!(
                by_name["reader"]["level"], "resident",
                "the first level stays"
            );
        }
    }
    assert!(state["case"].is_null());
    assert_eq!(state["result"], json!({"correct": right, "total": 6}));
    // A second reader gets another order.
    let (_, other) = study.sign_in("Bob", "student");
    assert_eq!(
        other["case"]["id"].as_u64(),
        Some(u64::from(reader_order(2, 6)[0]))
    );
}

#[test]
fn bad_requests_get_4xx_and_change_nothing() {
    let study = start(&generated_cases(4));
    let (cookie, state) = study.sign_in("ann", "student");
    let current = state["case"]["id"].as_u64().unwrap();
    let other = (1..=4).find(|&c| c != current).unwrap();
    let status = |r: HttpResponse| r.status;
    // Not signed in, or with a made-up session.
    assert_eq!(status(study.get("/api/state", None)), 401);
    assert_eq!(
        status(study.get("/api/state", Some("forger_reader=0123"))),
        401
    );
    assert_eq!(
        status(study.post(
            "/api/answer",
            None,
            br#"{"case":1,"answer":"real","confidence":1}"#
        )),
        401
    );
    // Unknown case ids.
    assert_eq!(status(study.answer(&cookie, 99, "real", 1, "")), 404);
    assert_eq!(status(study.get("/case/99", None)), 404);
    assert_eq!(status(study.get("/case/0", None)), 404);
    assert_eq!(status(study.get("/case/abc", None)), 400);
    // A case that is not the reader's current one.
    assert_eq!(status(study.answer(&cookie, other, "real", 1, "")), 409);
    // Malformed bodies: not JSON, wrong types, unknown fields, bad values.
    for body in [
        &b"{not json"[..],
        br#"{"case":"one","answer":"real","confidence":1}"#,
        br#"{"case":1,"answer":"maybe","confidence":1}"#,
        br#"{"case":1,"answer":"real","confidence":1,"truth":"real"}"#,
        br#"[]"#,
    ] {
        let s = status(study.post("/api/answer", Some(&cookie), body));
        assert!(
            (400..500).contains(&s),
            "{} got {s}",
            String::from_utf8_lossy(body)
        );
    }
    // Confidence out of range or not fitting the answer.
    for (answer, confidence) in [("real", 0), ("real", 6), ("real", 4), ("synthetic", 2)] {
        assert_eq!(
            status(study.answer(&cookie, current, answer, confidence, "")),
            422
        );
    }
    assert_eq!(
        status(study.answer(&cookie, current, "real", 2, &"x".repeat(2001))),
        422
    );
    // Oversize bodies.
    let huge = format!(
        r#"{{"case":{current},"answer":"real","confidence":1,"note":"{}"}}"#,
        "x".repeat(BODY_LIMIT)
    );
    assert_eq!(
        status(study.post("/api/answer", Some(&cookie), huge.as_bytes())),
        413
    );
    // Sign-in: empty or control-character names, unknown levels.
    for body in [
        json!({"name": "  ", "level": "student"}),
        json!({"name": "a\u{7}b", "level": "student"}),
        json!({"name": "a", "level": "boss"}),
    ] {
        assert_eq!(
            status(study.post("/api/sign-in", None, body.to_string().as_bytes())),
            422,
            "{body}"
        );
    }
    // Nothing was recorded by any of that; then a double submission.
    assert_eq!(Store::open(&study.db).unwrap().answers().unwrap().len(), 0);
    assert_eq!(status(study.answer(&cookie, current, "real", 2, "")), 200);
    assert_eq!(status(study.answer(&cookie, current, "real", 2, "")), 409);
    assert_eq!(Store::open(&study.db).unwrap().answers().unwrap().len(), 1);
    // The server is still fine.
    assert_eq!(status(study.get("/api/state", Some(&cookie))), 200);
}

#[test]
fn results_need_the_token_and_escape_what_readers_typed() {
    let mut cases = generated_cases(2);
    cases[0].class = r#"<b class="x">&'"#.to_string();
    let study = start(&cases);
    let name = "<script>alert('name')</script>";
    let note = r#"<img src=x onerror="alert(1)">, "quoted""#;
    let (cookie, state) = study.sign_in(name, "radiologist");
    assert_eq!(
        state["reader"]["name"], name,
        "JSON carries the name as typed"
    );
    // Answer both wrong, with the note.
    let mut state = state;
    while let Some(case) = state["case"]["id"].as_u64() {
        let wrong = match cases[case as usize - 1].truth {
            Truth::Real => ("synthetic", 5),
            Truth::Synthetic => ("real", 1),
        };
        let r = study.answer(&cookie, case, wrong.0, wrong.1, note);
        state = serde_json::from_slice(&r.body).unwrap();
    }
    assert_eq!(state["result"]["correct"], 0);

    for path in ["/results", "/results/answers.csv", "/results/summary.json"] {
        assert_eq!(study.get(path, None).status, 401, "{path}");
        assert_eq!(
            study.get(&format!("{path}?token=wrong"), None).status,
            401,
            "{path}"
        );
        let mut bad = study.token();
        bad.replace_range(0..1, if bad.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            study.get(&format!("{path}?token={bad}"), None).status,
            401,
            "{path}"
        );
        assert_eq!(
            study
                .get(&format!("{path}?token={}", study.token()), None)
                .status,
            200,
            "{path}"
        );
    }
    let page = study
        .get(&format!("/results?token={}", study.token()), None)
        .text();
    for raw in [name, note, cases[0].class.as_str()] {
        assert!(!page.contains(raw), "results page shows {raw:?} unescaped");
    }
    assert!(page.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
    assert!(page.contains("&lt;b class=&quot;x&quot;&gt;&amp;&#39;"));
    let csv = study
        .get(
            &format!("/results/answers.csv?token={}", study.token()),
            None,
        )
        .text();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("reader,level,case,class,truth,answer,confidence,correct,note,time")
    );
    assert_eq!(csv.matches("radiologist").count(), 2);
    assert!(
        csv.contains(r#""<img src=x onerror=""alert(1)"">, ""quoted""""#),
        "{csv}"
    );
    // The reader page itself carries no case data.
    let reader_page = study.get("/", None).text();
    assert!(reader_page.contains(r#"id="reader-name""#) && !reader_page.contains("<b class"));
}

#[test]
fn fifty_concurrent_readers_lose_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let report = load_run(dir.path(), 50, 20, Duration::from_secs(30)).unwrap();
    println!(
        "load: {} readers, {} answers in {:.2} s; answer latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.readers, report.answers, report.seconds, report.p50_ms, report.p99_ms, report.max_ms
    );
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.lost, 0);
    assert_eq!(
        (report.finished, report.answers),
        (50, 50 * 20),
        "every reader finished within 30 s"
    );
    assert!(report.seconds < 30.0 + 5.0);
}
