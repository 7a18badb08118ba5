//! The web layer: routing, middleware (auth, audit, metrics), body parsing and response views.

pub mod api;
pub mod archives;
pub mod circulation;
pub mod console;
pub mod filling;
pub mod handheld;
pub mod inspection;
pub mod labels;
pub mod ledger;
pub mod ops;
pub mod pages;
pub mod ps;
pub mod registry;
pub mod session;
pub mod supervision;
pub mod views;

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, OriginalUri, Request, State};
use axum::http::{Method, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use cyltrace_store::AuditRecord;
use serde_json::Value;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::services;
use crate::services::audit::{Audit, RequestMeta};
use crate::state::AppState;

/// The whole application.
pub fn router(st: AppState) -> Router {
    let protected = api::protected().layer(from_fn_with_state(st.clone(), require_auth));
    let v1 = Router::new()
        .merge(api::public())
        .merge(protected)
        .fallback(|| async { ApiError::NotFound("接口不存在".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn_with_state(st.clone(), audit));
    let ps = ps::router().layer(from_fn_with_state(st.clone(), audit));
    Router::new()
        .nest("/api/v1", v1)
        .merge(ps)
        .merge(ops::router())
        .merge(pages::router())
        .merge(
            session::router()
                .merge(console::router())
                .merge(supervision::router())
                .merge(handheld::router())
                .layer(from_fn_with_state(st.clone(), audit))
                .layer(from_fn_with_state(st.clone(), session::resolve)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            st.config.max_body_bytes,
        ))
        .layer(from_fn_with_state(st.clone(), record_metrics))
        // One structured log line per request (method, path, status, latency); headers, and so tokens,
        // are not logged.
        .layer(
            TraceLayer::new_for_http()
                // The path only: `/PS` callers put their ticket and data in the query string.
                .make_span_with(|req: &Request| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(st)
}

/// A JSON body parsed into a `Value`: malformed JSON is 400, an oversized body 413, and the typed
/// parsing (422 with field paths) happens in the services.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("无法读取请求体：{}", e.body_text()))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("JSON 格式错误：{e}")))
    }
}

/// What a handler wants the audit record to say about a write (ids, counts; never secrets).
#[derive(Clone, Debug)]
pub struct AuditNote(pub String);

/// The username a login attempt named (the login route has no principal yet).
#[derive(Clone, Debug)]
pub struct LoginAttempt(pub String);

/// Resolves the bearer token into a [`Principal`] for the handlers, and hands it to the audit layer
/// through the response.
async fn require_auth(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let resolved = match token.filter(|t| !t.is_empty()) {
        Some(token) => services::authenticate(&st, &token).await,
        None => {
            match session::api_session(&st, &req.headers().clone(), &req.method().clone()).await {
                Some(r) => r,
                None => {
                    return ApiError::Unauthorized(
                        "缺少访问令牌（Authorization: Bearer …）".to_owned(),
                    )
                    .into_response();
                }
            }
        }
    };
    match resolved {
        Ok(p) => {
            req.extensions_mut().insert(p.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(p);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// G2: every write through the API leaves an audit record — who, when, what, from where, outcome.
/// A write that commits its own row (the event write path, filling decisions) answers with
/// [`Audited`]; every other write, and every refused one, is recorded here after the answer.
async fn audit(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !write {
        return next.run(req).await;
    }
    let meta = request_meta(&req);
    req.extensions_mut().insert(meta.clone());
    // A page request's principal comes from its session cookie (resolved before this layer).
    let session_principal = req.extensions().get::<Principal>().cloned();
    let resp = next.run(req).await;
    if resp.extensions().get::<Audited>().is_some() {
        return resp;
    }
    let principal = resp
        .extensions()
        .get::<Principal>()
        .or(session_principal.as_ref());
    let attempt = resp.extensions().get::<LoginAttempt>().map(|a| a.0.clone());
    let record = AuditRecord {
        id: 0,
        at: st.now(),
        user_id: principal.map(|p| p.user_id),
        username: principal.map(|p| p.username.clone()).or(attempt),
        org_id: principal.map(|p| p.org_id),
        org_path: principal.map(|p| p.org_path.clone()),
        method: meta.method,
        path: meta.path,
        status: i64::from(resp.status().as_u16()),
        ip: meta.ip,
        detail: resp.extensions().get::<AuditNote>().map(|n| n.0.clone()),
    };
    if let Err(e) = st.store.insert_audit(&record).await {
        st.metrics.audit_failures.inc();
        tracing::error!(error = %e, path = %record.path, "audit record could not be written");
    }
    resp
}

/// Who called, how and from where, as the audit row records it.
fn request_meta(req: &Request) -> RequestMeta {
    // Nesting strips `/api/v1` from `uri()`; the audit keeps the path the caller used.
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_owned(), |u| u.0.path().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(100).collect::<String>());
    let ip = match (peer, forwarded) {
        (Some(p), Some(f)) => Some(format!("{p} (X-Forwarded-For: {f})")),
        (p, _) => p,
    };
    RequestMeta {
        method: req.method().to_string(),
        path,
        ip,
    }
}

/// Marks a response whose audit row was committed with the write it answers.
#[derive(Clone, Copy, Debug)]
pub struct Audited;

/// The audit row a handler's write commits with, answered with `status` on success.
pub fn audit_to(meta: RequestMeta, status: axum::http::StatusCode) -> Audit {
    Audit::new(meta, status.as_u16())
}

/// A response to a write that committed its own audit row.
pub fn audited(resp: impl IntoResponse) -> Response {
    let mut r = resp.into_response();
    r.extensions_mut().insert(Audited);
    r
}

async fn record_metrics(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    st.metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    st.metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    resp
}
