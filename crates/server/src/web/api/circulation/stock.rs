//! `/api/v1` stock and stock-taking (C1), recycling, a cylinder's flow table (C8) and the
//! handheld's scan-to-act (G9).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{created, items};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::circulation as svc;
use crate::services::circulation::RecyclingQuery;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::api::Binary;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StockQuery {
    /// One site only.
    site_id: Option<Uuid>,
}

/// Full and empty cylinders per warehouse or store: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/stock", tag = "stock", security(("bearer" = [])),
    params(StockQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn stock(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<StockQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    Ok(items(svc::stock(&st, &p, q.site_id).await?))
}

/// The cylinders in stock at a site: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/stock/{site_id}/codes", tag = "stock",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The warehouse or store")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn stock_codes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::stock_codes(&st, &p, &s).await?))
}

/// Stock-taking: compare scanned codes with the records: 201, the result.
#[utoipa::path(post, path = "/api/v1/stock/{site_id}/stocktakes", tag = "stock",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The warehouse or store")),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn stocktake(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::stocktake(&st, &p, crate::services::parse_id(&s, "站点")?, &body).await?;
    let mut v = r.body["result"].clone();
    v["id"] = json!(r.id);
    v["state"] = json!(r.state);
    Ok(created(v, format!("stocktake {} {}", r.id, r.state)))
}

/// Stock-takes of a site: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/stock/{site_id}/stocktakes", tag = "stock",
    security(("bearer" = [])),
    params(("site_id" = Uuid, Path, description = "The warehouse or store")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn list_stocktakes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::stocktakes(&st, &p, &s).await?))
}

/// Recycle records (回收单) in scope, newest first: `{"items": [...], "total"}`.
#[utoipa::path(get, path = "/api/v1/recycling", tag = "stock", security(("bearer" = [])),
    params(RecyclingQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn recycling(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecyclingQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let (events, total) = svc::recycle_events(&st, &p, query(q)?, None).await?;
    Ok(Json(json!({
        "items": events.iter().map(|e| json!({
            "id": e.event.id, "time": e.event.time, "codes": e.event.codes,
            "site_id": e.event.site_id, "data": e.event.data.data_json(),
            "ledger_index": e.ledger_index,
        })).collect::<Vec<_>>(),
        "total": total,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct TrajectoryQuery {
    /// `json` (the default), `csv` or `xlsx`.
    format: Option<String>,
}

/// A cylinder's flow table (C8): `{"code","rows"}`, or a CSV or xlsx file with `format=`.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}/trajectory", tag = "cylinders",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The label number"), TrajectoryQuery),
    responses((status = 200, description = "The flow table", content(
            (Object = "application/json"),
            (Binary = "text/csv; charset=utf-8"),
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn trajectory(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    q: Result<Query<TrajectoryQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let rows = svc::trajectory(&st, &p, &code).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(json!({"code": code, "rows": rows})).into_response()),
        Some(f @ ("csv" | "xlsx")) => {
            let format = crate::services::archives::FileFormat::parse(f)
                .map_err(|m| ApiError::invalid("format", m))?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        crate::services::archives::content_type(format).to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"trajectory-{code}.{f}\""),
                    ),
                ],
                svc::trajectory_table(&rows, format)?,
            )
                .into_response())
        }
        Some(_) => Err(ApiError::invalid("format", "应为 json、csv 或 xlsx")),
    }
}

/// Scan-to-act: receive_empty, store_full, dispatch, load, unload, deliver, recycle.
///
/// `{"results": [...]}`, one per scanned code.
#[utoipa::path(post, path = "/api/v1/scan/{action}", tag = "handheld", security(("bearer" = [])),
    params(("action" = String, Path, description = "receive_empty, store_full, dispatch, load, unload, deliver or recycle")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn scan(
    State(st): State<AppState>,
    p: Principal,
    Path(action): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::OK).note(format!("scan {action}"));
    let results = svc::scan(&st, &p, &action, &body, Some(&audit)).await?;
    Ok(audited(Json(json!({ "results": results }))))
}
