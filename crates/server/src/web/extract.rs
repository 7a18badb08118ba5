//! The extractors handlers share: the JSON body as a `Value` (typed parsing is the services'), the
//! query-string rejection as a 422, the authenticated [`Principal`] of an API request, the
//! [`Viewer`] of a page (its session; without one, the browser goes to the login page), and the
//! [`ClientIp`] the login throttle counts by.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect};
use serde_json::Value;

use super::pages::kit::PageError;
use super::pages::session::Session;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use super::form::form_pairs;

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
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("JSON 格式错误：{e}")))?;
        // Text no field can store (NUL) is refused here, once for every handler, naming the field.
        if let Some((path, why)) = cyltrace_domain::units::unstorable_in(&v) {
            let field = if path.is_empty() {
                "body".to_owned()
            } else {
                path
            };
            return Err(ApiError::invalid(field, why));
        }
        Ok(JsonBody(v))
    }
}

/// Where the URI of a request holds text no field can store: the parameter of its query string
/// (invalid UTF-8 or NUL once decoded) or `path` (a NUL in a segment), with the reason. The
/// `/api/v1` and `/PS` routers refuse such a request before any handler decodes it.
pub fn unreadable_uri(uri: &axum::http::Uri) -> Option<(String, &'static str)> {
    if let Some(q) = uri.query()
        && let Err(bad) = form_pairs(q.as_bytes())
    {
        return Some(bad);
    }
    let path = uri.path().as_bytes();
    let nul = path
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    nul.then(|| ("path".to_owned(), "不能包含 NUL 字符（U+0000）"))
}

/// A query string parsed into `T`, or 422 naming the query.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid("query", format!("查询参数无效：{}", e.body_text())))
}

/// The principal that `require_auth` (bearer token or session cookie) resolved for an API request.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("缺少有效的访问令牌".to_owned()))
    }
}

/// The signed-in user of a page: without a session, the browser goes to the login page.
pub struct Viewer {
    pub p: Principal,
    pub session: Session,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _st: &AppState) -> Result<Self, PageError> {
        let p = parts.extensions.get::<Principal>().cloned();
        let s = parts.extensions.get::<Session>().cloned();
        match (p, s) {
            (Some(p), Some(session)) => Ok(Viewer { p, session }),
            _ => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned();
                let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Err(Redirect::to(&format!("/login?{q}")).into_response().into())
            }
        }
    }
}

/// The client's address: the TCP peer, or — when the peer is one of the `trusted_proxies` — the
/// address those proxies name in `X-Forwarded-For`. `None` when the server was not given the peer
/// (never in a served node).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
        Ok(ClientIp(
            st.guards.proxies.client(peer, forwarded.as_deref()),
        ))
    }
}
