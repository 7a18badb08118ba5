//! Browser sessions: the login form, the session cookie and CSRF protection.
//!
//! A session is an ordinary API token (random, only its hash stored, same expiry) kept in an
//! `HttpOnly; SameSite=Strict` cookie. Every state-changing request made with the cookie must also
//! carry the session's CSRF token — a hidden `_csrf` form field, or the `X-CSRF-Token` header for the
//! pages' own scripts — which is derived from the session token and so cannot be read or forged by
//! another site. The login form itself is protected by a double-submit cookie. An account with a
//! second factor signs in in two steps: after the password, the same form asks for the code (the
//! account waits under a random cookie of the login page for five minutes). A user who must first
//! change a temporary password or enrol a second factor is sent to that page from every other.

use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sm3::{Digest, Sm3};

use super::kit::{LoginPage, error_response, render};
use crate::auth::{Principal, Restriction};
use crate::config::Config;
use crate::error::ApiError;
use crate::services;
use crate::state::AppState;
use crate::web::cookies;
use crate::web::extract::ClientIp;
use crate::web::middleware::{AuditNote, LoginAttempt};

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
    let Some(token) = cookies::get(&st.config, req.headers(), cookies::SESSION) else {
        return next.run(req).await;
    };
    match services::authenticate(&st, &token).await {
        Ok(p) => {
            if let Some(to) = p.restriction.and_then(|r| forced_page(r, req.uri().path())) {
                let mut r = Redirect::to(to).into_response();
                r.extensions_mut().insert(p);
                return r;
            }
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

/// Where a restricted user is sent instead of `path`: the page that puts the account in order
/// (`None` when `path` is one of those pages, the sign-out or the stylesheet).
fn forced_page(r: Restriction, path: &str) -> Option<&'static str> {
    const ALWAYS: [&str; 4] = ["/logout", "/login", "/login/totp", "/assets/site.css"];
    let (to, open): (&'static str, &[&str]) = match r {
        Restriction::ChangePassword => ("/account/password", &["/account/password"]),
        Restriction::EnrolTotp => (
            "/account/totp",
            &[
                "/account/totp",
                "/account/totp/begin",
                "/account/totp/confirm",
                "/account/password",
            ],
        ),
    };
    (!open.contains(&path) && !ALWAYS.contains(&path)).then_some(to)
}

/// Where a user goes after signing in: the page that puts a restricted account in order, else
/// `next` (a path on this site) or the role's home.
fn after_login(st: &AppState, user: &cyltrace_store::UserRecord, next: Option<&str>) -> String {
    let p = Principal::from(user);
    let restriction = p
        .restriction
        .or(services::auth::must_enrol_totp(st, user).then_some(Restriction::EnrolTotp));
    match restriction.and_then(|r| forced_page(r, "/")) {
        Some(to) => to.to_owned(),
        None => safe_next(next).unwrap_or_else(|| home_of(&p).to_owned()),
    }
}

/// `Set-Cookie` for the session (or to clear it when `token` is empty).
fn session_cookie(st: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    cookies::set(&st.config, cookies::SESSION, token, Some(max_age_secs))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/totp", post(login_totp))
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
    State(st): State<AppState>,
    p: Option<axum::Extension<Principal>>,
    Query(q): Query<NextQuery>,
) -> Response {
    if let Some(axum::Extension(p)) = p {
        let to = safe_next(q.next.as_deref()).unwrap_or_else(|| home_of(&p).to_owned());
        return Redirect::to(&to).into_response();
    }
    login_page(&st.config, StatusCode::OK, q.next.as_deref(), None, "")
}

fn login_page(
    config: &Config,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
    username: &str,
) -> Response {
    login_page_step(config, status, next, error, username, false)
}

/// The login form; with `totp_step`, its second step asking for the second-factor code.
fn login_page_step(
    config: &Config,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
    username: &str,
    totp_step: bool,
) -> Response {
    let pre = hex::encode(rand::random::<[u8; 16]>());
    let page = LoginPage {
        csrf: pre.clone(),
        next: safe_next(next).unwrap_or_default(),
        error: error.map(str::to_owned),
        username: username.to_owned(),
        totp_step,
    };
    let mut resp = render(status, &page);
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(config, cookies::LOGIN, &pre, None),
    );
    resp
}

/// The cookie that carries a login's second step (five minutes).
fn step_cookie(config: &Config, value: &str, max_age_secs: i64) -> HeaderValue {
    cookies::set(config, cookies::LOGIN_STEP, value, Some(max_age_secs))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

/// A refused login as the login page says it (429 with `Retry-After` when throttled), with why
/// for the audit record.
fn refused_page(
    config: &Config,
    r: services::auth::LoginRefusal,
    next: Option<&str>,
    username: &str,
    totp_step: bool,
) -> Response {
    let (status, msg, retry) = match &r.error {
        ApiError::TooManyRequests(m, secs) => {
            (StatusCode::TOO_MANY_REQUESTS, m.clone(), Some(*secs))
        }
        ApiError::Unauthorized(m) | ApiError::SecondFactor(m) => {
            (StatusCode::UNAUTHORIZED, m.clone(), None)
        }
        ApiError::Invalid(_) => (
            StatusCode::UNAUTHORIZED,
            "请输入用户名和密码".to_owned(),
            None,
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            "登录失败，请稍后再试".to_owned(),
            None,
        ),
    };
    let mut resp = login_page_step(config, status, next, Some(&msg), username, totp_step);
    if let Some(secs) = retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(why) = r.why {
        resp.extensions_mut().insert(AuditNote(why.to_owned()));
    }
    resp
}

/// A session for a user whose login succeeded: the cookie, and on to where they must or want to go.
fn signed_in(st: &AppState, issued: services::auth::Issued, next: Option<&str>) -> Response {
    let (token, _, user) = issued;
    let to = after_login(st, &user, next);
    let mut r = Redirect::to(&to).into_response();
    let ttl = i64::try_from(st.config.token_ttl_secs).unwrap_or(i64::MAX);
    r.headers_mut()
        .append(header::SET_COOKIE, session_cookie(st, &token, ttl));
    r.headers_mut()
        .append(header::SET_COOKIE, step_cookie(&st.config, "", 0));
    r.extensions_mut().insert(Principal::from(&user));
    r
}

async fn login(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let attempt = LoginAttempt(f.username.chars().take(64).collect());
    let pre_ok = cookies::get(&st.config, &headers, cookies::LOGIN)
        .is_some_and(|c| constant_time_eq(&c, &f.csrf));
    let mut resp = if !pre_ok {
        login_page(
            &st.config,
            StatusCode::FORBIDDEN,
            f.next.as_deref(),
            Some("登录页面已过期，请重新输入"),
            &f.username,
        )
    } else {
        match services::auth::check_password(&st, &f.username, &f.password, client).await {
            Ok(user) if user.totp_enabled => match services::auth::begin_second_step(&st, &user) {
                Ok(step) => {
                    let mut r = login_page_step(
                        &st.config,
                        StatusCode::OK,
                        f.next.as_deref(),
                        None,
                        &user.username,
                        true,
                    );
                    r.headers_mut()
                        .append(header::SET_COOKIE, step_cookie(&st.config, &step, 300));
                    r
                }
                Err(e) => error_response(e),
            },
            Ok(user) => match services::auth::issue(&st, user, st.config.token_ttl_secs).await {
                Ok(issued) => signed_in(&st, issued, f.next.as_deref()),
                Err(e) => error_response(e),
            },
            Err(r) => refused_page(&st.config, r, f.next.as_deref(), &f.username, false),
        }
    };
    resp.extensions_mut().insert(attempt);
    resp
}

#[derive(Deserialize)]
struct TotpForm {
    code: String,
    /// Shown again and named in the audit record; the account is the one of the step cookie.
    #[serde(default)]
    username: String,
    #[serde(rename = "_csrf")]
    csrf: String,
    next: Option<String>,
}

/// The second step of a login: the code for the account whose password was right.
async fn login_totp(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(f): Form<TotpForm>,
) -> Response {
    let attempt = LoginAttempt(f.username.chars().take(64).collect());
    let pre_ok = cookies::get(&st.config, &headers, cookies::LOGIN)
        .is_some_and(|c| constant_time_eq(&c, &f.csrf));
    let step = cookies::get(&st.config, &headers, cookies::LOGIN_STEP);
    let mut resp = match step {
        _ if !pre_ok => login_page(
            &st.config,
            StatusCode::FORBIDDEN,
            f.next.as_deref(),
            Some("登录页面已过期，请重新输入"),
            &f.username,
        ),
        None => login_page(
            &st.config,
            StatusCode::UNAUTHORIZED,
            f.next.as_deref(),
            Some("登录已超时，请重新输入用户名和密码"),
            &f.username,
        ),
        Some(step) => {
            match services::auth::finish_second_step(&st, &step, &f.code, client).await {
                Ok(issued) => signed_in(&st, issued, f.next.as_deref()),
                Err(r) => {
                    // A wrong code asks again; an expired step or a locked account starts over.
                    let again = matches!(
                        r.error,
                        ApiError::SecondFactor(_) | ApiError::TooManyRequests(..)
                    );
                    refused_page(&st.config, r, f.next.as_deref(), &f.username, again)
                }
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
    let token = cookies::get(&st.config, headers, cookies::SESSION)?;
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
