//! The HTTP side: axum routes over [`RunIndex`] and [`Studies`], every one a GET.
//! File reads and database queries run on tokio's blocking pool; each response
//! carries its server time in a `Server-Timing` header (what the benchmark reads).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::DashboardError;
use crate::runs::RunIndex;
use crate::studies::Studies;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");

/// The page's content security policy: its own script, style, images and API, nothing else.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Served files: nothing inside them runs (an SVG opened on its own included).
const FILE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) runs: RunIndex,
    pub(crate) studies: Studies,
}

type Shared = State<Arc<AppState>>;
type Params = Query<HashMap<String, String>>;

/// The router of the dashboard.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { page(INDEX, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
        .route("/api/runs", get(runs))
        .route("/api/run", get(run))
        .route("/api/curves", get(curves))
        .route("/api/file", get(file))
        .route("/api/studies", get(studies))
        .route("/api/study", get(study))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn(timing))
        .with_state(state)
}

fn page(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn json<T: serde::Serialize>(value: &T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(value)).into_response()
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match self {
            DashboardError::NotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, &self.to_string())
    }
}

/// Adds `Server-Timing: app;dur=<ms>` and `X-Content-Type-Options: nosniff`.
async fn timing(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut response = next.run(request).await;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", v);
    }
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, DashboardError> + Send + 'static,
) -> Result<T, DashboardError> {
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .unwrap_or_else(|e| Err(DashboardError::NotFound { what: format!("an answer (the handler failed: {e})") }))
}

fn param(params: &HashMap<String, String>, name: &str) -> Result<String, DashboardError> {
    params.get(name).cloned().ok_or_else(|| DashboardError::NotFound { what: format!("the query parameter {name:?}") })
}

/// The JSON of `result`, or its error's answer.
fn answer<T: serde::Serialize>(result: Result<T, DashboardError>) -> Response {
    match result {
        Ok(value) => json(&value),
        Err(e) => e.into_response(),
    }
}

async fn runs(State(state): Shared) -> Response {
    answer(blocking(state, |s| Ok(serde_json::json!({ "runs": s.runs.rows() }))).await)
}

async fn run(State(state): Shared, Query(q): Params) -> Response {
    let id = match param(&q, "id") {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    answer(blocking(state, move |s| s.runs.detail(&id)).await)
}

async fn curves(State(state): Shared, Query(q): Params) -> Response {
    let id = match param(&q, "id") {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let from = q.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
    answer(blocking(state, move |s| s.runs.curves(&id, from)).await)
}

async fn file(State(state): Shared, Query(q): Params) -> Response {
    let result = async {
        let id = param(&q, "id")?;
        let name = param(&q, "name")?;
        blocking(state, move |s| s.runs.file(&id, &name)).await
    };
    match result.await {
        Ok((bytes, kind)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CONTENT_SECURITY_POLICY, FILE_POLICY),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn studies(State(state): Shared) -> Response {
    answer(blocking(state, |s| Ok(serde_json::json!({ "studies": s.studies.rows()? }))).await)
}

async fn study(State(state): Shared, Query(q): Params) -> Response {
    let (source, name) = match (param(&q, "source"), param(&q, "name")) {
        (Ok(source), Ok(name)) => (source, name),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    answer(blocking(state, move |s| s.studies.view(&source, &name)).await)
}
