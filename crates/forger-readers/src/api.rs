//! The server's handlers: the reader's JSON API (sign-in, state, answer),
//! case images and the token-guarded results, with the 4xx answers to bad
//! requests. Database calls run on tokio's blocking pool.

use std::sync::PoisonError;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forger_teach::Truth;
use serde::{Deserialize, Serialize};

use crate::app::{secret, App, Shared};
use crate::cases::{reader_order, Case};
use crate::results::{answers_csv, results_html};
use crate::store::{Answer, Level, Reader, RecordError, Store};
use crate::ReadersError;

/// Characters a reader's name may have.
pub const NAME_LIMIT: usize = 80;
/// Characters a reader's note may have.
pub const NOTE_LIMIT: usize = 2000;
/// The cookie that holds a reader's session secret.
const COOKIE: &str = "forger_reader";

/// A page or asset, with headers that keep it from loading anything else.
pub(crate) fn page(body: impl Into<axum::body::Body>, content_type: &'static str) -> Response {
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
pub(crate) struct ApiError(StatusCode, String);

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

pub(crate) type ApiResult<T> = std::result::Result<T, ApiError>;

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

pub(crate) async fn case_image(
    State(app): State<Shared>,
    Path(id): Path<u32>,
) -> ApiResult<Response> {
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
pub(crate) struct SignIn {
    name: String,
    level: Level,
}

#[derive(Serialize)]
pub(crate) struct ReaderInfo {
    name: String,
    level: Level,
}

#[derive(Serialize)]
pub(crate) struct CaseInfo {
    id: u32,
    image: String,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
pub(crate) struct Score {
    correct: usize,
    total: usize,
}

/// Where a reader stands: their next case, or their score when done.
#[derive(Serialize)]
pub(crate) struct Progress {
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

pub(crate) async fn sign_in(
    State(app): State<Shared>,
    Json(request): Json<SignIn>,
) -> ApiResult<Response> {
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

pub(crate) async fn state(
    State(app): State<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Progress>> {
    with_store(&app, move |store, cases| {
        let reader = signed_in(store, &headers)?;
        progress(store, cases, &reader).map(Json)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerRequest {
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

pub(crate) async fn answer(
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
pub(crate) struct TokenQuery {
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

pub(crate) async fn results_page(
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

pub(crate) async fn results_csv(
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

pub(crate) async fn results_json(
    State(app): State<Shared>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<Json<crate::Summary>> {
    check_token(&app, &query)?;
    summary_of(&app).await.map(Json)
}
