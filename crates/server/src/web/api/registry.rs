//! `/api/v1` factory documents of cylinders (A2) and vehicle cylinder archives (A9).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, Binary, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::registry as svc;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(attach)))
        .routes(v1(routes!(documents)))
        .routes(v1(routes!(create, list)))
        .routes(v1(routes!(one)))
        .routes(v1(routes!(three_labels)))
        .routes(v1(routes!(apply_registration)))
}

/// Attach a factory document to cylinders: 201 `{"attached": n}`.
#[utoipa::path(post, path = "/api/v1/cylinder-documents", tag = "cylinders",
    security(("bearer" = [])), request_body = Object,
    operation_id = "attach_cylinder_document",
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
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

/// A cylinder's factory documents: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}/documents", tag = "cylinders",
    security(("bearer" = [])), params(("code" = String, Path, description = "The label number")),
    operation_id = "cylinder_documents",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn documents(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"items": svc::documents(&st, &p, &code).await?}),
    ))
}

/// Register a vehicle cylinder (CarBottle): 201 `{"id","code"}`.
#[utoipa::path(post, path = "/api/v1/vehicle-cylinders", tag = "cylinders",
    security(("bearer" = [])), request_body = Object,
    operation_id = "create_vehicle_cylinder",
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
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

/// Vehicle cylinders in scope: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/vehicle-cylinders", tag = "cylinders",
    security(("bearer" = [])),
    operation_id = "list_vehicle_cylinders",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "items": svc::list_car_bottles(&st, &p).await? }),
    ))
}

/// One vehicle cylinder.
#[utoipa::path(get, path = "/api/v1/vehicle-cylinders/{code}", tag = "cylinders",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The vehicle cylinder's code")),
    operation_id = "get_vehicle_cylinder",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn one(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(svc::car_bottle(&st, &p, &code).await?))
}

/// The three labels of a vehicle cylinder (mounted at 120° from each other), as one PDF.
#[utoipa::path(get, path = "/api/v1/vehicle-cylinders/{code}/labels", tag = "cylinders",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The vehicle cylinder's code")),
    operation_id = "vehicle_cylinder_labels",
    responses((status = 200, body = Binary, content_type = "application/pdf"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn three_labels(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let pdf = svc::car_bottle_labels(&st, &p, &code).await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RegistrationQuery {
    /// `new` (ApplyNew) or `old` (ApplyOld: cylinders in use before the platform, with photos).
    kind: String,
}

/// Apply for usage registration (A3) with the Yunnan `ApplyNew`/`ApplyOld` body: 201 `{"id"}`.
///
/// For enterprises that use this node directly rather than through `/PS`; decided by the regulator
/// like those.
#[utoipa::path(post, path = "/api/v1/registrations", tag = "cylinders", security(("bearer" = [])),
    params(RegistrationQuery),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
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
        PsError::Throttled(m, secs) => ApiError::TooManyRequests(m, secs),
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
