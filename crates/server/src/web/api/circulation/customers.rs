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
use crate::services::circulation::ListQuery;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

/// Register a customer once in the node and bind them to a dealer.
///
/// 201 `{"id","created":true,"bound"}` for a new customer, 200 with `"created":false` for a known one.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 200, body = Object),
        (status = 400, response = Problem), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
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

/// Customers bound to organisations in scope (masked by role): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_customers(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Response> {
    let list = svc::list_customers(&st, &p, &query(q)?).await?;
    // G2: a customer list is personal data; its read is audited.
    let note = format!("listed {} customers", list.len());
    Ok(noted(items(list), note))
}

/// One customer with cylinders held, deposits and owed.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The customer")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn get_customer(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(svc::customer_detail(&st, &p, &c).await?))
}

/// Record the real-name verification: `{"id","real_name_verified":true}`.
#[utoipa::path(post, path = "/api/v1/customers/{id}/verify", tag = "customers",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The customer")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
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

/// The full ID number, `{"id_number"}` (admins).
///
/// A POST so that the read of personal data is in the audit log.
#[utoipa::path(post, path = "/api/v1/customers/{id}/reveal", tag = "customers",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The customer")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
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

/// A cylinder deposit paid or refunded: 201 `{"id","holdings"}`.
#[utoipa::path(post, path = "/api/v1/customers/{id}/deposits", tag = "customers",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The customer")),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
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

/// Deposits of a customer: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/customers/{id}/deposits", tag = "customers",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The customer")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn list_deposits(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::deposits(&st, &p, &c).await?))
}

/// Account opening and real-name progress per organisation: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/customers/progress", tag = "customers",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
pub(super) async fn progress(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::progress(&st, &p).await?))
}
