//! `/api/v1` household safety checks and rectification (C9, E8).

use axum::Json;
use axum::extract::{Path, State};
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

/// The household safety check items: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/household-check-items", tag = "household checks",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
pub(super) async fn check_items(
    State(st): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"items": svc::read_check_items(&st, &p).await?}),
    ))
}

/// Configure the household safety check items (regulators): `{"items": [...]}`.
#[utoipa::path(put, path = "/api/v1/household-check-items", tag = "household checks",
    security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn set_check_items(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let items = svc::set_check_items(&st, &p, &body).await?;
    Ok(noted(
        Json(json!({ "items": items })),
        format!("household check items: {}", items.len()),
    ))
}

/// Record a household safety check: 201 `{"id","result","rectifications"}`.
#[utoipa::path(post, path = "/api/v1/household-checks", tag = "household checks",
    security(("bearer" = [])), request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn record_household_check(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (check, tasks) = svc::record_household_check(&st, &p, &body).await?;
    let now = st.now();
    Ok(created(
        json!({"id": check.id, "result": check.state,
               "rectifications": tasks.iter().map(|t| svc::rectification_view(t, now)).collect::<Vec<_>>()}),
        format!("household check {} {}", check.id, check.state),
    ))
}

/// Household safety checks in scope: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/household-checks", tag = "household checks",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_household_checks(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::household_checks(&st, &p, &query(q)?).await?))
}

/// Rectification tasks (`state=`): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/rectifications", tag = "household checks",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
pub(super) async fn list_rectifications(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    Ok(items(svc::rectifications(&st, &p, &query(q)?).await?))
}

/// Open rectification tasks due within a day or overdue: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/rectifications/reminders", tag = "household checks",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
pub(super) async fn reminders(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::reminders(&st, &p).await?))
}

/// Close a rectification task: the task.
#[utoipa::path(post, path = "/api/v1/rectifications/{id}/close", tag = "household checks",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The task")), request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
pub(super) async fn close_rectification(
    State(st): State<AppState>,
    p: Principal,
    Path(r): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::close_rectification(&st, &p, crate::services::parse_id(&r, "整改任务")?, &body)
        .await?;
    Ok(noted(
        Json(svc::rectification_view(&r, st.now())),
        format!("rectification {} closed", r.id),
    ))
}
