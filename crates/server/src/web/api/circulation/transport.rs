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
use crate::services::circulation::TrackQuery;
use crate::state::AppState;
use crate::web::extract::{JsonBody, query};

pub(super) async fn create_vehicle(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_vehicle(&st, &p, &body).await?;
    Ok(created(json!({"id": r.id}), format!("vehicle {}", r.id)))
}

pub(super) async fn list_vehicles(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_vehicles(&st, &p, &query(q)?).await?))
}

pub(super) async fn get_vehicle(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(svc::vehicle(&st, &p, &v).await?)))
}

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

pub(super) async fn latest_positions(
    State(st): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::latest_positions(&st, &p).await?))
}

pub(super) async fn track(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
    q: Result<Query<TrackQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::track(&st, &p, &v, query(q)?).await?))
}

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

pub(super) async fn list_staff(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_staff(&st, &p, &query(q)?).await?))
}

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

pub(super) async fn list_docs(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::org_docs(&st, &p, &o).await?))
}

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

pub(super) async fn list_waybills(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_waybills(&st, &p, &query(q)?).await?))
}

pub(super) async fn get_waybill(
    State(st): State<AppState>,
    p: Principal,
    Path(w): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(svc::waybill(&st, &p, &w).await?))
}
