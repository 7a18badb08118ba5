//! `/api/v1` recycling orders (回收单, C4): created by a courier, a keeper or the office, confirmed
//! at the station with one `recycle` event, or cancelled.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use cyltrace_domain::circulation::personal_view;
use serde_json::{Value, json};

use super::{created, items};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::circulation::{self as svc, RecyclingOrderQuery};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

const WHAT: &str = "回收单";

/// Create a recycling order: 201, the order (a retry with the same `id` answers the first).
#[utoipa::path(post, path = "/api/v1/recycling-orders", tag = "recycling", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn create_recycling_order(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_recycling_order(&st, &p, &body).await?;
    let v = svc::recycling_view(&st, &r, personal_view(&p.roles)).await?;
    Ok(created(json!(v), format!("recycling order {}", r.id)))
}

/// Recycling orders in scope (`state=`, `customer_id=`): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/recycling-orders", tag = "recycling", security(("bearer" = [])),
    params(RecyclingOrderQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_recycling_orders(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecyclingOrderQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::recycling_orders(&st, &p, &query(q)?).await?))
}

/// One recycling order.
#[utoipa::path(get, path = "/api/v1/recycling-orders/{id}", tag = "recycling",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The recycling order")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn get_recycling_order(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(svc::recycling_order(&st, &p, &id).await?)))
}

/// Confirm at the station the empty cylinders received: the order and the `recycle` event's `ledger_index`.
#[utoipa::path(post, path = "/api/v1/recycling-orders/{id}/confirm", tag = "recycling",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The recycling order")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn confirm_recycling_order(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = crate::services::parse_id(&id, WHAT)?;
    let audit = audit_to(meta, StatusCode::OK).note(format!("recycling order {id} confirmed"));
    let (r, idx) = svc::confirm_recycling_order(&st, &p, id, &body, Some(&audit)).await?;
    let mut v = json!(svc::recycling_view(&st, &r, personal_view(&p.roles)).await?);
    v["ledger_index"] = json!(idx);
    Ok(audited(Json(v)))
}

/// Cancel an open recycling order with the reason: the order.
#[utoipa::path(post, path = "/api/v1/recycling-orders/{id}/cancel", tag = "recycling",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The recycling order")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn cancel_recycling_order(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = crate::services::parse_id(&id, WHAT)?;
    let r = svc::cancel_recycling_order(&st, &p, id, &body).await?;
    Ok(noted(
        Json(json!(
            svc::recycling_view(&st, &r, personal_view(&p.roles)).await?
        )),
        format!("recycling order {id} cancelled"),
    ))
}
