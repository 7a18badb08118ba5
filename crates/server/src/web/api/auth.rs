//! `/api/v1` sign-in: a bearer token for username and password, the caller (`/me`), and for the
//! pages' own scripts who is signed in with the session's CSRF token (`/session`).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cyltrace_domain::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::cookies;
use crate::web::extract::{ClientIp, JsonBody};
use crate::web::middleware::{LoginAttempt, noted};
use crate::web::pages::session::{csrf_of, home_of};

pub fn public_router() -> ApiRouter {
    OpenApiRouter::new().routes(v1(routes!(token)))
}

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(me)))
        .routes(v1(routes!(whoami)))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
    /// For an account with a second factor: the current 6-digit TOTP code, or a recovery code.
    pub totp: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub token: String,
    pub expires_at: Timestamp,
}

/// Exchange username and password for a bearer token.
///
/// An account with a second factor adds a current TOTP code (or a recovery code) as `totp`. Failed
/// logins are throttled per client address
/// (429 with `Retry-After`) besides the lock-out of the account.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
async fn token(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody,
) -> Response {
    let attempted = body
        .get("username")
        .and_then(|u| u.as_str())
        .map(|u| u.chars().take(64).collect::<String>());
    let result = services::login(&st, &body, client).await;
    // The audit row names the account (and so its organisation, for regulators) when it exists.
    let account = match (&result, &attempted) {
        (Ok((_, _, user)), _) => Some(Principal::from(user)),
        (Err(_), Some(name)) => services::auth::failed_login_account(&st, name).await,
        (Err(_), None) => None,
    };
    let mut resp = match result {
        Ok((token, expires_at, _)) => Json(TokenView {
            token,
            expires_at: expires_at.into(),
        })
        .into_response(),
        Err(refusal) => match refusal.why {
            Some(why) => noted(refusal.error, why.to_owned()),
            None => refusal.error.into_response(),
        },
    };
    if let Some(u) = attempted {
        resp.extensions_mut().insert(LoginAttempt(u));
    }
    if let Some(p) = account {
        resp.extensions_mut().insert(p);
    }
    resp
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, response = Problem)))]
async fn me(State(st): State<AppState>, p: Principal) -> ApiResult<Json<UserView>> {
    Ok(Json(services::get_user(&st, &p, p.user_id).await?.into()))
}

/// Who is signed in, the CSRF token for the page scripts, and the home page.
///
/// `{"user_id","username","name","org_id","org_name","roles","roles_zh","home","csrf"}`.
#[utoipa::path(get, path = "/api/v1/session", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem)))]
async fn whoami(
    State(st): State<AppState>,
    headers: HeaderMap,
    p: Principal,
) -> Result<Response, ApiError> {
    let user = services::auth::session_user(&st, &p).await?;
    let csrf = cookies::get(&st.config, &headers, cookies::SESSION).map(|t| csrf_of(&t));
    Ok(axum::Json(json!({
        "user_id": p.user_id, "username": p.username, "name": user.name, "org_id": p.org_id,
        "org_name": user.org_name,
        "roles": p.roles, "roles_zh": p.roles.iter().map(|r| r.label_zh()).collect::<Vec<_>>(),
        "home": home_of(&p), "csrf": csrf,
    }))
    .into_response())
}
