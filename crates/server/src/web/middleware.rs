//! The middleware of the web layer: bearer-token authentication of `/api/v1` (a page's session cookie
//! stands in for the token; a caller who must first change a temporary password or enrol a second
//! factor may do only that), the audit record of every write (G2), and the request metrics; plus the
//! response extensions handlers use to talk to the audit layer.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, OriginalUri, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cyltrace_store::AuditRecord;

use super::api::accounts;
use super::pages::session;
use crate::auth::{Principal, Restriction};
use crate::error::ApiError;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::services;
use crate::services::audit::{Audit, RequestMeta};
use crate::state::AppState;

/// An `/api/v1` request whose URI holds text no field can store (a query parameter that is not
/// UTF-8 or holds NUL, a NUL in the path) is answered 422 naming the parameter, before any handler
/// or store sees it: the same answer on SQLite and PostgreSQL (G4).
pub(super) async fn readable_uri(req: Request, next: Next) -> Response {
    match super::extract::unreadable_uri(req.uri()) {
        Some((field, why)) => ApiError::invalid(field, why).into_response(),
        None => next.run(req).await,
    }
}

/// What a handler wants the audit record to say about a write (ids, counts; never secrets).
#[derive(Clone, Debug)]
pub struct AuditNote(pub String);

/// A response carrying a note for the audit record.
pub fn noted(resp: impl IntoResponse, note: String) -> Response {
    let mut r = resp.into_response();
    r.extensions_mut().insert(AuditNote(note));
    r
}

/// Marks a response whose audit row was committed with the write it answers (the event write path,
/// filling decisions): the audit layer writes no second row for it.
#[derive(Clone, Copy, Debug)]
pub struct Audited;

/// The audit row a handler's write commits with, answered with `status` when the write succeeds.
pub fn audit_to(meta: RequestMeta, status: axum::http::StatusCode) -> Audit {
    Audit::new(meta, status.as_u16())
}

/// A response to a write that committed its own audit row.
pub fn audited(resp: impl IntoResponse) -> Response {
    let mut r = resp.into_response();
    r.extensions_mut().insert(Audited);
    r
}

/// The username a login attempt named (the login route has no principal yet).
#[derive(Clone, Debug)]
pub struct LoginAttempt(pub String);

/// Resolves the bearer token into a [`Principal`] for the handlers, and hands it to the audit layer
/// through the response.
pub(super) async fn require_auth(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
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
            if let Some(r) = p.restriction {
                let path = req
                    .extensions()
                    .get::<OriginalUri>()
                    .map_or_else(|| req.uri().path().to_owned(), |u| u.0.path().to_owned());
                let open = match r {
                    Restriction::ChangePassword => &accounts::CHANGE_PASSWORD_PATHS[..],
                    Restriction::EnrolTotp => &accounts::ENROL_TOTP_PATHS[..],
                };
                if !open.contains(&path.as_str()) {
                    let mut resp = ApiError::Forbidden(r.reason_zh().to_owned()).into_response();
                    resp.extensions_mut().insert(p);
                    return resp;
                }
            }
            req.extensions_mut().insert(p.clone());
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(p);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// G2: every write through the API leaves an audit record — who, when, what, from where, outcome —
/// and so does a read whose handler notes it (personal data, customer lists). The request's [`RequestMeta`] is handed to the handlers, so that a write that commits its own
/// row (answered [`Audited`]) needs none here; every other write, and every refused one, is
/// recorded here after the answer.
pub(super) async fn audit(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let meta = request_meta(&req);
    // A page request's principal comes from its session cookie (resolved before this layer).
    let session_principal = req.extensions().get::<Principal>().cloned();
    if !write {
        // A read is audited when its handler notes it (personal data shown, a customer list).
        let resp = next.run(req).await;
        if resp.extensions().get::<AuditNote>().is_some() {
            let record = audit_record(&st, meta, session_principal.as_ref(), &resp);
            services::audit::record(&st, &record).await;
        }
        return resp;
    }
    req.extensions_mut().insert(meta.clone());
    let resp = next.run(req).await;
    if resp.extensions().get::<Audited>().is_some() {
        return resp;
    }
    let record = audit_record(&st, meta, session_principal.as_ref(), &resp);
    services::audit::record(&st, &record).await;
    resp
}

/// The audit row of a request answered `resp`: the principal the answer names (an API caller, a
/// login) or the page session's.
fn audit_record(
    st: &AppState,
    meta: RequestMeta,
    session: Option<&Principal>,
    resp: &Response,
) -> AuditRecord {
    let principal = resp.extensions().get::<Principal>().or(session);
    let attempt = resp.extensions().get::<LoginAttempt>().map(|a| a.0.clone());
    AuditRecord {
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
    }
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

pub(super) async fn record_metrics(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
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
