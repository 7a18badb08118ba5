//! `/api/v1` transport (C2): vehicles and their positions, drivers and escorts, carrier documents,
//! waybills.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Q, created, items};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::circulation as svc;
use crate::services::circulation::ListQuery;
use crate::services::circulation::TrackQuery;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};

/// Register a vehicle with its hazardous-goods transport permit: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/vehicles", tag = "transport", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn create_vehicle(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_vehicle(&st, &p, &body).await?;
    Ok(created(json!({"id": r.id}), format!("vehicle {}", r.id)))
}

/// Vehicles in scope, with whether the permit is valid today: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/vehicles", tag = "transport", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_vehicles(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_vehicles(&st, &p, &query(q)?).await?))
}

/// One vehicle.
#[utoipa::path(get, path = "/api/v1/vehicles/{id}", tag = "transport", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The vehicle")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn get_vehicle(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(svc::vehicle(&st, &p, &v).await?)))
}

/// Report positions of a vehicle: 201 `{"stored": n}`.
#[utoipa::path(post, path = "/api/v1/vehicles/{id}/positions", tag = "transport",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The vehicle")),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn report_positions(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let vid = crate::services::parse_id(&v, "车辆")?;
    let n = svc::report_positions(&st, &p, vid, &body).await?;
    Ok(created(
        json!({"stored": n}),
        format!("vehicle {vid} positions {n}"),
    ))
}

/// The last position of every vehicle in scope: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/vehicles/positions", tag = "transport",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
pub(super) async fn latest_positions(
    State(st): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::latest_positions(&st, &p).await?))
}

/// A vehicle's track between `from` and `to`: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/vehicles/{id}/positions", tag = "transport",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The vehicle"), TrackQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn track(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
    q: Result<Query<TrackQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::track(&st, &p, &v, query(q)?).await?))
}

/// Register a driver or escort with the qualification certificate: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/transport-staff", tag = "transport", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn create_staff(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_staff(&st, &p, &body).await?;
    Ok(created(
        json!({"id": r.id}),
        format!("transport staff {}", r.id),
    ))
}

/// Drivers and escorts in scope (ID numbers masked): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/transport-staff", tag = "transport", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_staff(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_staff(&st, &p, &query(q)?).await?))
}

/// Add a qualification document of an organisation: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/orgs/{id}/documents", tag = "transport",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The organisation")),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn create_doc(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_org_doc(&st, &p, crate::services::parse_id(&o, "机构")?, &body).await?;
    Ok(created(
        json!({"id": r.id}),
        format!("org document {}", r.id),
    ))
}

/// Qualification documents of an organisation: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/orgs/{id}/documents", tag = "transport",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The organisation")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn list_docs(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::org_docs(&st, &p, &o).await?))
}

/// Issue an electronic waybill: 201 `{"id","number"}`.
///
/// Refused (422) for an invalid permit or certificate.
#[utoipa::path(post, path = "/api/v1/waybills", tag = "transport", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn create_waybill(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_waybill(&st, &p, &body).await?;
    Ok(created(
        json!({"id": r.id, "number": r.key}),
        format!("waybill {}", r.key.as_deref().unwrap_or_default()),
    ))
}

/// Waybills in scope: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/waybills", tag = "transport", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_waybills(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_waybills(&st, &p, &query(q)?).await?))
}

/// One waybill with the codes loaded and unloaded.
#[utoipa::path(get, path = "/api/v1/waybills/{id}", tag = "transport", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The waybill")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn get_waybill(
    State(st): State<AppState>,
    p: Principal,
    Path(w): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(svc::waybill(&st, &p, &w).await?)))
}
