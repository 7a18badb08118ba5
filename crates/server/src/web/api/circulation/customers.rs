//! `/api/v1` customers (C5, C6): registration once in the node and binding to a dealer, customers
//! in scope (masked per role), real-name verification, the full ID number (audited), deposits and
//! holdings, account-opening progress.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Q, created, items};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::circulation as svc;
use crate::state::AppState;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub(super) async fn register_customer(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (r, created_now, bound) = svc::register_customer(&st, &p, &body).await?;
    let status = if created_now {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(noted(
        (
            status,
            Json(json!({"id": r.id, "created": created_now, "bound": bound})),
        ),
        format!("customer {} created={created_now} bound={bound}", r.id),
    ))
}

pub(super) async fn list_customers(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_customers(&st, &p, &query(q)?).await?))
}

pub(super) async fn get_customer(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(svc::customer_detail(&st, &p, &c).await?))
}

pub(super) async fn verify_customer(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::verify_customer(&st, &p, crate::services::parse_id(&c, "用户")?, &body).await?;
    Ok(noted(
        Json(json!({"id": r.id, "real_name_verified": true})),
        format!("customer {} verified", r.id),
    ))
}

/// The full ID number (a POST so that the read of personal data is in the audit log).
pub(super) async fn reveal(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Response> {
    let cid = crate::services::parse_id(&c, "用户")?;
    let number = svc::reveal_id(&st, &p, cid).await?;
    Ok(noted(
        Json(json!({"id_number": number})),
        format!("revealed the ID number of customer {cid}"),
    ))
}

pub(super) async fn add_deposit(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let cid = crate::services::parse_id(&c, "用户")?;
    let r = svc::add_deposit(&st, &p, cid, &body).await?;
    let (h, _) = svc::holdings(&st, cid).await?;
    Ok(created(
        json!({"id": r.id, "holdings": h}),
        format!("deposit {} customer {cid}", r.id),
    ))
}

pub(super) async fn list_deposits(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::deposits(&st, &p, &c).await?))
}

pub(super) async fn progress(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::progress(&st, &p).await?))
}
