//! `/api/v1` alarm rules, notification channels and device alarms (issue 18, DEVICES.md "Alarm
//! rules and notification", "Leak alarms (C10)"). Bodies are checked by the domain's parsers,
//! naming every wrong field; channel secrets are never answered.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, parse_id, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::devices::alarms::{self as svc, AlarmQuery};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(create_rule, list_rules)))
        .routes(v1(routes!(get_rule, delete_rule)))
        .routes(v1(routes!(create_channel, list_channels)))
        .routes(v1(routes!(delete_channel)))
        .routes(v1(routes!(list_device_alarms)))
        .routes(v1(routes!(get_device_alarm)))
        .routes(v1(routes!(ack_device_alarm)))
        .routes(v1(routes!(clear_device_alarm)))
}

/// Create an alarm rule (H3, H5); 201 with the rule.
///
/// `{"name","device_type"?,"group"?,"device_id"?,"condition","for_secs"?,"severity","notify"?}`.
#[utoipa::path(post, path = "/api/v1/alarm-rules", tag = "devices", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn create_rule(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_rule(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(svc::rule_json(&r))),
        format!("alarm rule {}", r.id),
    ))
}

/// Alarm rules owned in the caller's scope, newest first (deleted ones with `enabled: false`).
#[utoipa::path(get, path = "/api/v1/alarm-rules", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list_rules(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let items: Vec<Value> = svc::list_rules(&st, &p)
        .await?
        .iter()
        .map(svc::rule_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// One alarm rule.
#[utoipa::path(get, path = "/api/v1/alarm-rules/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The rule")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn get_rule(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = svc::get_rule(&st, &p, parse_id(&id, "告警规则")?).await?;
    Ok(Json(svc::rule_json(&r)))
}

/// Delete (disable) an alarm rule: it raises nothing more; its alarms stay. 204.
#[utoipa::path(delete, path = "/api/v1/alarm-rules/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The rule")), security(("bearer" = [])),
    responses((status = 204), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn delete_rule(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "告警规则")?;
    svc::delete_rule(&st, &p, id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT,
        format!("alarm rule {id} deleted"),
    ))
}

/// Create a notification channel; 201 with the channel, its secrets left out.
///
/// `{"kind": "webhook"|"email"|"sms","name", …}`.
#[utoipa::path(post, path = "/api/v1/notify-channels", tag = "devices",
    security(("bearer" = [])), request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn create_channel(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let c = svc::create_channel(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(svc::channel_json(&c))),
        format!("notify channel {} {}", c.id, c.channel.kind()),
    ))
}

/// Notification channels owned in the caller's scope (secrets left out).
#[utoipa::path(get, path = "/api/v1/notify-channels", tag = "devices",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list_channels(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let items: Vec<Value> = svc::list_channels(&st, &p)
        .await?
        .iter()
        .map(svc::channel_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Delete a notification channel: its pending deliveries are given up. 204.
#[utoipa::path(delete, path = "/api/v1/notify-channels/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The channel")), security(("bearer" = [])),
    responses((status = 204), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn delete_channel(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "通知渠道")?;
    svc::delete_channel(&st, &p, id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT,
        format!("notify channel {id} deleted"),
    ))
}

/// Device alarms in the caller's scope, newest first: `{"items","total","limit","offset"}`.
#[utoipa::path(get, path = "/api/v1/device-alarms", tag = "devices", params(AlarmQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_device_alarms(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AlarmQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let (items, total, page) = svc::list_alarms(&st, &p, &query(q)?).await?;
    let items: Vec<Value> = items.iter().map(svc::alarm_json).collect();
    Ok(Json(json!({
        "items": items, "total": total, "limit": page.limit, "offset": page.offset,
    })))
}

/// One alarm with its notification deliveries (`deliveries`).
#[utoipa::path(get, path = "/api/v1/device-alarms/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The alarm")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn get_device_alarm(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (a, deliveries) = svc::get_alarm(&st, &p, parse_id(&id, "告警")?).await?;
    let mut v = svc::alarm_json(&a);
    v["deliveries"] = deliveries.iter().map(svc::delivery_json).collect();
    Ok(Json(v))
}

/// Acknowledge an alarm (the enterprise or the regulator): reminders stop. 200 with the alarm.
#[utoipa::path(post, path = "/api/v1/device-alarms/{id}/ack", tag = "devices",
    params(("id" = Uuid, Path, description = "The alarm")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn ack_device_alarm(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = svc::ack_alarm(&st, &p, parse_id(&id, "告警")?).await?;
    Ok(noted(
        Json(svc::alarm_json(&a)),
        format!("alarm {} acked", a.id),
    ))
}

/// Clear an active alarm by hand; 200 with the alarm, 409 when it is already cleared.
///
/// For event alarms, which never clear by themselves.
#[utoipa::path(post, path = "/api/v1/device-alarms/{id}/clear", tag = "devices",
    params(("id" = Uuid, Path, description = "The alarm")), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
async fn clear_device_alarm(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let a = svc::clear_alarm(&st, &p, parse_id(&id, "告警")?).await?;
    Ok(noted(
        Json(svc::alarm_json(&a)),
        format!("alarm {} cleared", a.id),
    ))
}
