//! `/api/v1` periodic inspection (D1–D3): applications, the station's worklist, results with the
//! issued report.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, Binary, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::inspection as svc;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::JsonBody;
use crate::web::middleware::{audit_to, audited};

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(apply, list_applications)))
        .routes(v1(routes!(worklist)))
        .routes(v1(routes!(record_result)))
        .routes(v1(routes!(report)))
}

/// Send cylinders to an inspection station: 201 `{"id","state"}`.
#[utoipa::path(post, path = "/api/v1/inspection-applications", tag = "inspection",
    security(("bearer" = [])), request_body = Object,
    operation_id = "apply_inspection",
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn apply(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED).note("inspection application");
    let r = svc::apply(&st, &p, &body, Some(&audit)).await?;
    Ok(audited((
        StatusCode::CREATED,
        Json(json!({"id": r.id, "state": r.state})),
    )))
}

/// Applications of the caller's organisations, or sent to the caller's station.
///
/// `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/inspection-applications", tag = "inspection",
    security(("bearer" = [])),
    operation_id = "list_inspection_applications",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list_applications(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::applications(&st, &p).await?;
    Ok(Json(json!({"items": list.iter().map(|r| {
        let mut v = r.body.clone();
        v["id"] = json!(r.id);
        v["org_id"] = json!(r.org_id);
        v["state"] = json!(r.state);
        v["created_at"] = json!(r.created_at);
        v
    }).collect::<Vec<_>>()})))
}

/// The station's cylinders waiting for a result: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/inspection/worklist", tag = "inspection",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn worklist(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": svc::worklist(&st, &p).await?})))
}

/// Record a result (table D.1) and issue the report PDF: 201 `{"ledger_index","report_file"}`.
#[utoipa::path(post, path = "/api/v1/inspection/results", tag = "inspection",
    security(("bearer" = [])), request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn record_result(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED).note("inspection result");
    let (idx, hash) = svc::record_result(&st, &p, &body, Some(&audit)).await?;
    Ok(audited((
        StatusCode::CREATED,
        Json(json!({"ledger_index": idx, "report_file": hash})),
    )))
}

/// The latest inspection report of a cylinder, as PDF.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}/inspection-report", tag = "inspection",
    security(("bearer" = [])), params(("code" = String, Path, description = "The label number")),
    operation_id = "inspection_report",
    responses((status = 200, body = Binary, content_type = "application/pdf"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn report(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let (c, bytes) = svc::latest_report(&st, &p, &code).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"inspection-{}.pdf\"", c.archive.code),
            ),
        ],
        bytes,
    )
        .into_response())
}
