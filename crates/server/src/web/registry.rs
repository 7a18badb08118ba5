//! `/api/v1` factory documents of cylinders (A2) and vehicle cylinder archives (A9).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cyltrace_domain::access::Action;
use cyltrace_store::BizFilter;
use serde_json::{Value, json};

use super::JsonBody;
use super::api::noted;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::{labels, registry as svc};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cylinder-documents", post(attach))
        .route("/cylinders/{code}/documents", get(documents))
        .route("/vehicle-cylinders", post(create).get(list))
        .route("/vehicle-cylinders/{code}", get(one))
        .route("/vehicle-cylinders/{code}/labels", get(three_labels))
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
    p.require(Action::Read)?;
    let list = st
        .store
        .list_biz(&BizFilter {
            kind: svc::CAR_BOTTLE.to_owned(),
            scope: Some(p.scope()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let mut items = Vec::with_capacity(list.len());
    for r in &list {
        items.push(svc::car_bottle_view(&st, r).await?);
    }
    Ok(Json(json!({ "items": items })))
}

async fn one(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let r = st
        .store
        .biz_by_key(svc::CAR_BOTTLE, code.trim())
        .await?
        .ok_or_else(|| ApiError::NotFound("车用气瓶不存在".to_owned()))?;
    p.require_scope(&r.org_path, "该车用气瓶")?;
    Ok(Json(svc::car_bottle_view(&st, &r).await?))
}

/// The three labels of a vehicle cylinder (mounted at 120° from each other), as one PDF.
async fn three_labels(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let r = st
        .store
        .biz_by_key(svc::CAR_BOTTLE, code.trim())
        .await?
        .ok_or_else(|| ApiError::NotFound("车用气瓶不存在".to_owned()))?;
    p.require_scope(&r.org_path, "该车用气瓶")?;
    let codes = vec![code.trim().to_owned(); 3];
    let pdf = labels::sheet(&st, &p, &codes).await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}
