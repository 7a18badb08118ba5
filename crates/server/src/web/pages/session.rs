//! Browser sessions: the login form, the session cookie and CSRF protection.
//!
//! A session is an ordinary API token (random, only its hash stored, same expiry) kept in an
//! `HttpOnly; SameSite=Strict` cookie. Every state-changing request made with the cookie must also
//! carry the session's CSRF token — a hidden `_csrf` form field, or the `X-CSRF-Token` header for the
//! pages' own scripts — which is derived from the session token and so cannot be read or forged by
//! another site. The login form itself is protected by a double-submit cookie.

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::json;
use sm3::{Digest, Sm3};

use super::kit::{LoginPage, error_response, render};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::services;
use crate::state::AppState;
use crate::web::middleware::LoginAttempt;

pub const SESSION_COOKIE: &str = "cyltrace_session";
const LOGIN_COOKIE: &str = "cyltrace_login";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token of a request, when it came with one (set by [`resolve`]).
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub csrf: String,
}

/// The CSRF token of a session: SM3 over a domain-separated session token (first 128 bits, hex).
pub fn csrf_of(token: &str) -> String {
    let mut h = Sm3::new();
    h.update(b"cyltrace-csrf\0");
    h.update(token.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A cookie's value from the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Session {
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        match given {
            Some(g) if constant_time_eq(g, &self.csrf) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "页面已过期或请求来源不可信（CSRF 校验失败），请刷新页面后重试".to_owned(),
            )),
        }
    }
}

/// Resolves the session cookie (if any) into the [`Principal`] and [`Session`] of the request, for
/// the pages and for the audit layer (which reads the principal from the response).
pub async fn resolve(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = cookie_value(req.headers(), SESSION_COOKIE) else {
        return next.run(req).await;
    };
    match services::authenticate(&st, &token).await {
        Ok(p) => {
            let csrf = csrf_of(&token);
            req.extensions_mut().insert(p.clone());
            req.extensions_mut().insert(Session { token, csrf });
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(p);
            resp
        }
        Err(_) => next.run(req).await,
    }
}

/// `Set-Cookie` for the session (or to clear it when `token` is empty).
fn session_cookie(st: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let c = Cookie::build((SESSION_COOKIE, token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(st.config.public_url.starts_with("https://"))
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site (no scheme, no `//host`) may be a redirect target after login.
fn safe_next(next: Option<&str>) -> Option<String> {
    // No control characters either: browsers drop tabs and newlines from URLs, so `/\t/evil` would
    // become `//evil`, another site.
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    })
    .map(str::to_owned)
}

/// The home page of a role.
pub fn home_of(p: &Principal) -> &'static str {
    use cyltrace_domain::Role;
    let has = |r| p.roles.contains(&r);
    if has(Role::NodeAdmin) || has(Role::Regulator) {
        "/supervision"
    } else if has(Role::EnterpriseAdmin) {
        "/console"
    } else if has(Role::Inspector) {
        "/inspection"
    } else {
        "/app/"
    }
}

async fn login_form(
    State(_st): State<AppState>,
    p: Option<axum::Extension<Principal>>,
    Query(q): Query<NextQuery>,
) -> Response {
    if let Some(axum::Extension(p)) = p {
        let to = safe_next(q.next.as_deref()).unwrap_or_else(|| home_of(&p).to_owned());
        return Redirect::to(&to).into_response();
    }
    login_page(StatusCode::OK, q.next.as_deref(), None, "")
}

fn login_page(
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
    username: &str,
) -> Response {
    let pre = hex::encode(rand::random::<[u8; 16]>());
    let page = LoginPage {
        csrf: pre.clone(),
        next: safe_next(next).unwrap_or_default(),
        error: error.map(str::to_owned),
        username: username.to_owned(),
    };
    let c = Cookie::build((LOGIN_COOKIE, pre))
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .build();
    let mut resp = render(status, &page);
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let attempt = LoginAttempt(f.username.chars().take(64).collect());
    let pre_ok =
        cookie_value(&headers, LOGIN_COOKIE).is_some_and(|c| constant_time_eq(&c, &f.csrf));
    let mut resp = if !pre_ok {
        login_page(
            StatusCode::FORBIDDEN,
            f.next.as_deref(),
            Some("登录页面已过期，请重新输入"),
            &f.username,
        )
    } else {
        match services::login(
            &st,
            &json!({"username": f.username, "password": f.password}),
        )
        .await
        {
            Ok((token, _, user)) => {
                let p = Principal::from(&user);
                let to = safe_next(f.next.as_deref()).unwrap_or_else(|| home_of(&p).to_owned());
                let mut r = Redirect::to(&to).into_response();
                let ttl = i64::try_from(st.config.token_ttl_secs).unwrap_or(i64::MAX);
                r.headers_mut()
                    .append(header::SET_COOKIE, session_cookie(&st, &token, ttl));
                r.extensions_mut().insert(p);
                r
            }
            Err(e) => {
                let msg = match &e {
                    ApiError::Unauthorized(m) => m.clone(),
                    ApiError::Invalid(_) => "请输入用户名和密码".to_owned(),
                    _ => "登录失败，请稍后再试".to_owned(),
                };
                login_page(
                    StatusCode::UNAUTHORIZED,
                    f.next.as_deref(),
                    Some(&msg),
                    &f.username,
                )
            }
        }
    };
    resp.extensions_mut().insert(attempt);
    resp
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
}

async fn logout(
    State(st): State<AppState>,
    s: Option<axum::Extension<Session>>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(axum::Extension(s)) = s {
        if let Err(e) = s.check_csrf(f.csrf.as_deref()) {
            return error_response(e);
        }
        if let Err(e) = services::logout(&st, &s.token).await {
            return error_response(e);
        }
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&st, "", 0));
    r
}

/// For the JSON API called from pages: the session cookie stands in for the bearer token, and every
/// write must carry the `X-CSRF-Token` header.
pub async fn api_session(
    st: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Option<Result<Principal, ApiError>> {
    let token = cookie_value(headers, SESSION_COOKIE)?;
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if write {
        let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let s = Session {
            csrf: csrf_of(&token),
            token: String::new(),
        };
        if let Err(e) = s.check_csrf(given) {
            return Some(Err(e));
        }
    }
    Some(services::authenticate(st, &token).await)
}
