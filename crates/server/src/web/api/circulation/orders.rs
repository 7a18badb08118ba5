//! `/api/v1` orders and their delivery (C3, C11).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use cyltrace_domain::circulation::personal_view;
use serde_json::{Value, json};

use super::{Q, created, items};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::circulation as svc;
use crate::services::circulation::ListQuery;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

/// Create an order: 201, the order.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn create_order(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_order(&st, &p, &body).await?;
    Ok(created(
        json!(svc::order_view(
            &r,
            personal_view(&p.roles),
            svc::shows_code(&p)
        )?),
        format!("order {}", r.id),
    ))
}

/// Orders in scope (`state=`, `customer_id=`): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_orders(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::orders(&st, &p, &query(q)?).await?))
}

/// One order.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
pub(super) async fn get_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(svc::order(&st, &p, &o).await?)))
}

/// Dispatch an order to a courier: the order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/dispatch", tag = "orders",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The order")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn dispatch_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::dispatch_order(&st, &p, crate::services::parse_id(&o, "订单")?, &body).await?;
    Ok(noted(
        Json(json!(svc::order_view(&r, personal_view(&p.roles), false)?)),
        format!("order {} dispatched", r.id),
    ))
}

/// Cancel an order: the order.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn cancel_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Response> {
    let r = svc::cancel_order(&st, &p, crate::services::parse_id(&o, "订单")?).await?;
    Ok(noted(
        Json(json!(svc::order_view(&r, personal_view(&p.roles), false)?)),
        format!("order {} cancelled", r.id),
    ))
}

/// Hand the order over with the customer's confirmation: the order and its `ledger_index`.
#[utoipa::path(post, path = "/api/v1/orders/{id}/deliver", tag = "orders",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "The order")),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn deliver_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let order = crate::services::parse_id(&o, "订单")?;
    let audit = audit_to(meta, StatusCode::OK).note(format!("order {order} delivered"));
    let (r, idx) = svc::deliver_order(&st, &p, order, &body, Some(&audit)).await?;
    let mut v = json!(svc::order_view(&r, personal_view(&p.roles), false)?);
    v["ledger_index"] = json!(idx);
    Ok(audited(Json(v)))
}
