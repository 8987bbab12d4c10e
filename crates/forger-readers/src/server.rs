//! The study's HTTP server (axum on a multi-threaded tokio runtime): the
//! reader page and its JSON API, the case images, and the educator's
//! results behind a token. Every database call runs on tokio's blocking
//! pool under one lock, so checking and recording an answer is atomic.

use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use forger_teach::Truth;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::cases::{reader_order, Case};
use crate::results::{answers_csv, results_html};
use crate::store::{Answer, Level, Reader, RecordError, Store};
use crate::{pages, ReadersError, Result};

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 16 * 1024;
/// Characters a reader's name may have.
pub const NAME_LIMIT: usize = 80;
/// Characters a reader's note may have.
pub const NOTE_LIMIT: usize = 2000;
/// The cookie that holds a reader's session secret.
const COOKIE: &str = "forger_reader";

struct App {
    store: Mutex<Store>,
    cases: Vec<Case>,
    token: String,
}

type Shared = Arc<App>;

/// A bound, not yet running, study server.
pub struct ReaderServer {
    listener: TcpListener,
    addr: SocketAddr,
    app: Shared,
}

/// 128 random bits from the operating system, as hex.
fn secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ReaderServer {
    /// Binds `addr` for the study in `store`, which must hold cases, with a
    /// fresh random results token.
    pub fn bind(store: Store, addr: SocketAddr) -> Result<Self> {
        let cases = store.cases()?;
        if cases.is_empty() {
            return Err(ReadersError::NoStudy {
                db: store.path().to_path_buf(),
            });
        }
        let listener =
            TcpListener::bind(addr).map_err(|e| ReadersError::io(format!("binding {addr}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ReadersError::io(format!("binding {addr}"), e))?;
        Ok(Self {
            listener,
            addr,
            app: Arc::new(App {
                store: Mutex::new(store),
                cases,
                token: secret(),
            }),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The secret that the results page and CSV ask for.
    pub fn token(&self) -> &str {
        &self.app.token
    }

    /// Where readers start.
    pub fn reader_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The educator's results page, token included.
    pub fn results_url(&self) -> String {
        format!("http://{}/results?token={}", self.addr, self.app.token)
    }

    /// Serves until the process ends; returns only if the server cannot start.
    pub fn run(self) -> Result<()> {
        let (_keep, stop) = mpsc::channel();
        self.serve(stop)
    }

    /// Serves on a thread of its own until [`RunningServer::stop`] (or drop).
    pub fn spawn(self) -> Result<RunningServer> {
        let (addr, token) = (self.addr, self.app.token.clone());
        let (tx, stop) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("forger-readers-server".into())
            .spawn(move || self.serve(stop))
            .map_err(|e| ReadersError::io("starting the server thread", e))?;
        Ok(RunningServer {
            addr,
            token,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Serves until `stop` receives or its sender is dropped.
    fn serve(self, stop: mpsc::Receiver<()>) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build()
            .map_err(|e| ReadersError::io("starting the server runtime", e))?;
        let addr = self.addr;
        runtime.block_on(async move {
            self.listener
                .set_nonblocking(true)
                .map_err(|e| ReadersError::io(format!("listening on {addr}"), e))?;
            let listener = tokio::net::TcpListener::from_std(self.listener)
                .map_err(|e| ReadersError::io(format!("listening on {addr}"), e))?;
            let stopped = async move {
                let _ = tokio::task::spawn_blocking(move || stop.recv()).await;
            };
            axum::serve(listener, router(self.app))
                .with_graceful_shutdown(stopped)
                .await
                .map_err(|e| ReadersError::io(format!("serving on {addr}"), e))
        })
    }
}

/// A study server serving on its own thread; dropping it stops it too.
pub struct RunningServer {
    addr: SocketAddr,
    token: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The results token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops serving (after the requests in flight) and waits for the thread.
    pub fn stop(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        drop(self.stop.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ReadersError::io(
                "the server thread",
                std::io::Error::other("panicked"),
            )),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!("{e}");
        }
    }
}

fn router(app: Shared) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(pages::READER_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/reader.js",
            get(|| async { page(pages::READER_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/reader.css",
            get(|| async { page(pages::READER_CSS, "text/css; charset=utf-8") }),
        )
        .route("/case/{id}", get(case_image))
        .route("/api/sign-in", post(sign_in))
        .route("/api/state", get(state))
        .route("/api/answer", post(answer))
        .route("/results", get(results_page))
        .route("/results/answers.csv", get(results_csv))
        .route("/results/summary.json", get(results_json))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

/// A page or asset, with headers that keep it from loading anything else.
fn page(body: impl Into<axum::body::Body>, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refused request: its status and a message, sent as `{"error": ...}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<ReadersError> for ApiError {
    fn from(e: ReadersError) -> Self {
        tracing::error!("{e}");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the study database failed".into(),
        )
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

/// Runs `f` on the store, on the blocking pool.
async fn with_store<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&mut Store, &[Case]) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = app.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut store, &app.cases)
    })
    .await
    .map_err(|e| {
        tracing::error!("a database task failed: {e}");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the study database failed".into(),
        )
    })?
}

async fn case_image(State(app): State<Shared>, Path(id): Path<u32>) -> ApiResult<Response> {
    let case = find_case(&app.cases, id)?;
    Ok(page(case.png.clone(), "image/png"))
}

fn find_case(cases: &[Case], id: u32) -> ApiResult<&Case> {
    cases
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no case {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
    level: Level,
}

#[derive(Serialize)]
struct ReaderInfo {
    name: String,
    level: Level,
}

#[derive(Serialize)]
struct CaseInfo {
    id: u32,
    image: String,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct Score {
    correct: usize,
    total: usize,
}

/// Where a reader stands: their next case, or their score when done.
#[derive(Serialize)]
struct Progress {
    reader: ReaderInfo,
    total: usize,
    answered: usize,
    case: Option<CaseInfo>,
    result: Option<Score>,
}

fn progress(store: &Store, cases: &[Case], reader: &Reader) -> ApiResult<Progress> {
    let answered = store.answered(reader.id)?;
    let next = reader_order(reader.id, cases.len() as u32)
        .into_iter()
        .find(|id| !answered.iter().any(|(a, _)| a == id));
    let case = next.map(|id| find_case(cases, id)).transpose()?;
    Ok(Progress {
        reader: ReaderInfo {
            name: reader.name.clone(),
            level: reader.level,
        },
        total: cases.len(),
        answered: answered.len(),
        case: case.map(|c| CaseInfo {
            id: c.id,
            image: format!("/case/{}", c.id),
            width: c.width,
            height: c.height,
        }),
        result: next.is_none().then(|| Score {
            correct: answered.iter().filter(|(_, right)| *right).count(),
            total: cases.len(),
        }),
    })
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(COOKIE)?
                .strip_prefix('=')
                .map(str::to_string)
        })
}

fn signed_in(store: &Store, headers: &HeaderMap) -> ApiResult<Reader> {
    let unknown = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "not signed in: sign in with your name first".into(),
        )
    };
    let session = session_cookie(headers).ok_or_else(unknown)?;
    store.reader_by_session(&session)?.ok_or_else(unknown)
}

fn invalid(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, what.into())
}

async fn sign_in(State(app): State<Shared>, Json(request): Json<SignIn>) -> ApiResult<Response> {
    let name = request.name.trim().to_string();
    if name.is_empty() || name.chars().count() > NAME_LIMIT || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "name: expected 1 to {NAME_LIMIT} characters, no control characters"
        )));
    }
    let (reader, progress) = with_store(&app, move |store, cases| {
        let reader = store.sign_in(&name, request.level, &secret())?;
        let progress = progress(store, cases, &reader)?;
        Ok((reader, progress))
    })
    .await?;
    tracing::info!(reader = %reader.name, level = reader.level.word(), "reader signed in");
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000",
        reader.session
    );
    let mut response = Json(progress).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|_| invalid("session"))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

async fn state(State(app): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Progress>> {
    with_store(&app, move |store, cases| {
        let reader = signed_in(store, &headers)?;
        progress(store, cases, &reader).map(Json)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRequest {
    case: u32,
    answer: Truth,
    confidence: u8,
    #[serde(default)]
    note: String,
}

/// The ratings that go with an answer: 1-3 with "real", 3-5 with "synthetic".
fn fits(answer: Truth, confidence: u8) -> bool {
    match answer {
        Truth::Real => (1..=3).contains(&confidence),
        Truth::Synthetic => (3..=5).contains(&confidence),
    }
}

async fn answer(
    State(app): State<Shared>,
    headers: HeaderMap,
    Json(request): Json<AnswerRequest>,
) -> ApiResult<Json<Progress>> {
    if !fits(request.answer, request.confidence) {
        return Err(invalid(
            "confidence: expected 1 (definitely real) to 3 (unsure) for \"real\", 3 to 5 (definitely synthetic) for \"synthetic\"",
        ));
    }
    let note = request.note.trim().to_string();
    if note.chars().count() > NOTE_LIMIT {
        return Err(invalid(format!("note: at most {NOTE_LIMIT} characters")));
    }
    with_store(&app, move |store, cases| {
        let reader = signed_in(store, &headers)?;
        find_case(cases, request.case)?;
        let before = progress(store, cases, &reader)?;
        if before.case.as_ref().map(|c| c.id) != Some(request.case) {
            let answered = store
                .answered(reader.id)?
                .iter()
                .any(|(id, _)| *id == request.case);
            return Err(ApiError(
                StatusCode::CONFLICT,
                if answered {
                    format!("case {} is answered already", request.case)
                } else {
                    format!("case {} is not your current case", request.case)
                },
            ));
        }
        let answer = Answer {
            case: request.case,
            answer: request.answer,
            confidence: request.confidence,
            note,
        };
        match store.record(reader.id, &answer) {
            Ok(()) => {}
            Err(RecordError::Duplicate) => {
                return Err(ApiError(
                    StatusCode::CONFLICT,
                    format!("case {} is answered already", request.case),
                ))
            }
            Err(RecordError::Store(e)) => return Err(e.into()),
        }
        progress(store, cases, &reader).map(Json)
    })
    .await
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Fails unless `query` carries the results token (compared in constant time).
fn check_token(app: &App, query: &TokenQuery) -> ApiResult<()> {
    let given = query.token.as_deref().unwrap_or("").as_bytes();
    let want = app.token.as_bytes();
    let differ = given.len() != want.len()
        || given
            .iter()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0;
    if differ {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "the results need the token that `forger teach serve` printed (?token=...)".into(),
        ));
    }
    Ok(())
}

async fn summary_of(app: &Shared) -> ApiResult<crate::Summary> {
    with_store(app, |store, _| Ok(crate::results::summarize_store(store)?)).await
}

async fn results_page(
    State(app): State<Shared>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Response> {
    check_token(&app, &query)?;
    let summary = summary_of(&app).await?;
    Ok(page(
        results_html(&summary, "/assets/reader.css", |c| {
            format!("/case/{}", c.case)
        }),
        "text/html; charset=utf-8",
    ))
}

async fn results_csv(
    State(app): State<Shared>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Response> {
    check_token(&app, &query)?;
    let csv = with_store(&app, |store, _| Ok(answers_csv(&store.answers()?))).await?;
    let mut response = page(csv, "text/csv; charset=utf-8");
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"answers.csv\""),
    );
    Ok(response)
}

async fn results_json(
    State(app): State<Shared>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Json<crate::Summary>> {
    check_token(&app, &query)?;
    summary_of(&app).await.map(Json)
}
