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
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StockQuery {
    site_id: Option<Uuid>,
}

pub(super) async fn stock(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<StockQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    Ok(items(svc::stock(&st, &p, q.site_id).await?))
}

pub(super) async fn stock_codes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::stock_codes(&st, &p, &s).await?))
}

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

pub(super) async fn list_stocktakes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::stocktakes(&st, &p, &s).await?))
}

/// Recycle records (回收单) in scope, newest first.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrajectoryQuery {
    format: Option<String>,
}

/// A cylinder's flow table (C8) as JSON, or CSV with `?format=csv`.
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
