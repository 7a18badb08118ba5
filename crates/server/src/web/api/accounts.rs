//! `/api/v1` accounts people can keep safe (G5): an admin changes a user (name, roles, active),
//! sets a password (optionally temporary) and resets a second factor; a user changes their own
//! password and enrols, confirms or disables a TOTP second factor. Every change is audited with
//! what it changed (old → new), never a password or a secret.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use super::{ApiRouter, parse_id, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::accounts::{
    self as svc, Enrolment, PasswordChange, PasswordReset, TotpStatus, UserPatch,
};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::JsonBody;
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(update_user)))
        .routes(v1(routes!(set_password)))
        .routes(v1(routes!(reset_totp)))
        .routes(v1(routes!(change_password)))
        .routes(v1(routes!(totp_status, begin_totp)))
        .routes(v1(routes!(confirm_totp)))
        .routes(v1(routes!(disable_totp)))
}

/// The paths a caller who must first change a temporary password may still use.
pub const CHANGE_PASSWORD_PATHS: [&str; 2] = ["/api/v1/auth/password", "/api/v1/session"];
/// The paths a caller who must first enrol a second factor may still use.
pub const ENROL_TOTP_PATHS: [&str; 4] = [
    "/api/v1/auth/password",
    "/api/v1/session",
    "/api/v1/auth/totp",
    "/api/v1/auth/totp/confirm",
];

/// Change a user's name, roles or whether the account is active.
///
/// `{"name"?, "roles"?, "active"?}`. Roles only as the caller may grant them; `active: false` ends the user's tokens and sessions at once; the last active node admin cannot
/// be deactivated (422 naming `active`); `username` cannot change (422).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "orgs", request_body = UserPatch,
    params(("id" = Uuid, Path, description = "The user")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update_user(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (user, note) = svc::update_user(&st, &p, parse_id(&id, "用户")?, &body).await?;
    Ok(noted(Json(UserView::from(user)), note))
}

/// Set a user's password (an admin), optionally as a temporary one.
///
/// `{"password", "temporary"?}`. With `temporary: true` the user must change it at the next login. Every other session of the user ends.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "orgs",
    request_body = PasswordReset,
    params(("id" = Uuid, Path, description = "The user")),
    security(("bearer" = [])),
    responses((status = 204, description = "Set; the user's other sessions ended"),
        (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
async fn set_password(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let note = svc::set_password(&st, &p, parse_id(&id, "用户")?, &body).await?;
    Ok(noted(StatusCode::NO_CONTENT, note))
}

/// Remove a user's second factor (an admin; e.g. a lost phone).
#[utoipa::path(delete, path = "/api/v1/users/{id}/totp", tag = "orgs",
    params(("id" = Uuid, Path, description = "The user")),
    security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn reset_totp(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let note = svc::reset_totp(&st, &p, parse_id(&id, "用户")?).await?;
    Ok(noted(StatusCode::NO_CONTENT, note))
}

/// Change the caller's own password.
///
/// `{"old_password","new_password"}`. The caller's other tokens and sessions end; this one keeps working. Replaces a temporary password.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; the other sessions ended"),
        (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn change_password(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let note = svc::change_own_password(&st, &p, &body).await?;
    Ok(noted(StatusCode::NO_CONTENT, note))
}

/// The caller's second factor: enabled, pending enrolment, recovery codes left, required.
#[utoipa::path(get, path = "/api/v1/auth/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TotpStatus), (status = 401, response = Problem)))]
async fn totp_status(State(st): State<AppState>, p: Principal) -> ApiResult<Json<TotpStatus>> {
    Ok(Json(svc::totp_status(&st, &p).await?))
}

/// Begin enrolling a TOTP second factor.
///
/// A new secret, its `otpauth://` URL and the QR code (SVG) for an authenticator app. Confirm with a first code. 409 when one is enabled already.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Enrolment), (status = 401, response = Problem),
        (status = 409, response = Problem)))]
async fn begin_totp(State(st): State<AppState>, p: Principal) -> ApiResult<Response> {
    let e = svc::begin_totp(&st, &p).await?;
    Ok(noted(
        Json(e),
        format!(
            "user {} {}: second factor enrolment begun",
            p.user_id, p.username
        ),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// One-time codes for logging in without the phone; shown only now.
    pub recovery_codes: Vec<String>,
}

/// Confirm the enrolment of a second factor with a first code.
///
/// `{"code"}`: the second factor is required at every login from now on. Answers ten one-time recovery codes, shown only this once.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth",
    request_body = svc::totp::CodeInput, security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodesView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn confirm_totp(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (codes, note) = svc::confirm_totp(&st, &p, &body).await?;
    Ok(noted(
        Json(RecoveryCodesView {
            recovery_codes: codes,
        }),
        note,
    ))
}

/// Turn the caller's own second factor off with a current code (or a recovery code).
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth",
    request_body = svc::totp::CodeInput, security(("bearer" = [])),
    responses((status = 204, description = "Disabled"), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
async fn disable_totp(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let note = svc::disable_own_totp(&st, &p, &body).await?;
    Ok(noted(StatusCode::NO_CONTENT, note))
}
