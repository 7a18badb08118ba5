//! `/api/v1` factory documents of cylinders (A2) and vehicle cylinder archives (A9).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::registry as svc;
use crate::state::AppState;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cylinder-documents", post(attach))
        .route("/cylinders/{code}/documents", get(documents))
        .route("/vehicle-cylinders", post(create).get(list))
        .route("/vehicle-cylinders/{code}", get(one))
        .route("/vehicle-cylinders/{code}/labels", get(three_labels))
        .route("/registrations", post(apply_registration))
}

async fn attach(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let n = svc::attach_document(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(json!({"attached": n}))),
        format!("factory document attached to {n} cylinders"),
    ))
}

async fn documents(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"items": svc::documents(&st, &p, &code).await?}),
    ))
}

async fn create(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_car_bottle(&st, &p, &body).await?;
    Ok(noted(
        (
            StatusCode::CREATED,
            Json(json!({"id": r.id, "code": r.key})),
        ),
        format!("vehicle cylinder {}", r.key.as_deref().unwrap_or_default()),
    ))
}

async fn list(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "items": svc::list_car_bottles(&st, &p).await? }),
    ))
}

async fn one(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(svc::car_bottle(&st, &p, &code).await?))
}

/// The three labels of a vehicle cylinder (mounted at 120° from each other), as one PDF.
async fn three_labels(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let pdf = svc::car_bottle_labels(&st, &p, &code).await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationQuery {
    /// `new` (ApplyNew) or `old` (ApplyOld: cylinders in use before the platform, with photos).
    kind: String,
}

/// A usage registration application (A3) in the Yunnan `ApplyNew`/`ApplyOld` body, for enterprises
/// that use this node directly rather than through `/PS`; decided by the regulator like those.
async fn apply_registration(
    State(st): State<AppState>,
    p: Principal,
    q: Result<axum::extract::Query<RegistrationQuery>, axum::extract::rejection::QueryRejection>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let old = match query(q)?.kind.as_str() {
        "new" => false,
        "old" => true,
        _ => return Err(ApiError::invalid("kind", "应为 new 或 old")),
    };
    let id = crate::services::ps::apply_registration(&st, &p, &body, old)
        .await
        .map_err(ps_to_api)?;
    Ok(noted(
        (StatusCode::CREATED, Json(json!({ "id": id }))),
        format!("registration application {id}"),
    ))
}

/// A `/PS` refusal as problem+json: its `field: reason` parts become the named fields.
fn ps_to_api(e: crate::services::ps::PsError) -> ApiError {
    use crate::services::ps::PsError;
    match e {
        PsError::BadRequest(m) => ApiError::BadRequest(m),
        PsError::Unauthorized(m) => ApiError::Forbidden(m),
        PsError::Internal(m) => ApiError::Internal(m),
        PsError::Refused(m) => ApiError::Invalid(cyltrace_domain::ValidationErrors(
            m.split('；')
                .map(|part| match part.split_once(": ") {
                    Some((f, r)) => cyltrace_domain::FieldError::new(f.trim(), r.trim()),
                    None => cyltrace_domain::FieldError::new("", part.trim()),
                })
                .collect(),
        )),
    }
}
