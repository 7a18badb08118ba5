//! `/api/v1` devices (DEVICES.md): device types, the registry, secrets, service calls, a device's
//! events and readings, and the up kinds over HTTP with device credentials
//! (`Authorization: Device <id>:<secret>`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyltrace_domain::devices::model::DeviceType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::filling::PageOf;
use super::{ApiRouter, parse_id, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::devices::calls::{self, CallOutcome};
use crate::services::devices::ingest;
use crate::services::devices::registry::{self, DeviceQuery, DeviceView, Registered};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::audited;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(device_types, create_device_type)))
        .routes(v1(routes!(create_device, list_devices)))
        .routes(v1(routes!(get_device, update_device)))
        .routes(v1(routes!(new_secret)))
        .routes(v1(routes!(call_service)))
        .routes(v1(routes!(device_events)))
        .routes(v1(routes!(telemetry)))
}

/// Device-authenticated: the up kinds over HTTP.
pub fn device_router() -> ApiRouter {
    OpenApiRouter::new().routes(v1(routes!(device_up)))
}

/// The built-in device types and those defined in the caller's scope (thing models).
#[utoipa::path(get, path = "/api/v1/device-types", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = Vec<Object>), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn device_types(
    State(st): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<DeviceType>>> {
    Ok(Json(registry::list_types(&st, &p).await?))
}

/// Define a device type (TSL-shaped thing model: properties, events, services).
#[utoipa::path(post, path = "/api/v1/device-types", tag = "devices", request_body = Object,
    security(("bearer" = [])),
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn create_device_type(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let t = registry::create_type(&st, &p, &body).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

/// Register a device; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices",
    request_body = registry::NewDeviceInput, security(("bearer" = [])),
    responses((status = 201, body = Registered), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn create_device(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = registry::create(&st, &p, &body).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

/// Devices in the caller's scope with their derived status.
///
/// Filter by organisation, site, type, group and status.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<DeviceView>), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_devices(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DeviceQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<DeviceView>>> {
    let (items, total, page) = registry::list(&st, &p, query(q)?).await?;
    Ok(Json(PageOf {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One device: status, counters, latest property values.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = Uuid, Path, description = "The device")), security(("bearer" = [])),
    responses((status = 200, body = DeviceView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn get_device(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceView>> {
    Ok(Json(
        registry::get_view(&st, &p, parse_id(&id, "设备")?).await?,
    ))
}

/// Change a device: name, site, group, tags, disabled, customer, stream URL, position.
#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", request_body = Object,
    params(("id" = Uuid, Path, description = "The device")), security(("bearer" = [])),
    responses((status = 200, body = DeviceView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update_device(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<DeviceView>> {
    Ok(Json(
        registry::update(&st, &p, parse_id(&id, "设备")?, &body).await?,
    ))
}

#[derive(Serialize, ToSchema)]
struct SecretView {
    id: Uuid,
    secret: String,
}

/// Issue a new secret (shown once); the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/devices/{id}/secret", tag = "devices",
    params(("id" = Uuid, Path, description = "The device")), security(("bearer" = [])),
    responses((status = 200, body = SecretView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn new_secret(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SecretView>> {
    let id = parse_id(&id, "设备")?;
    let secret = registry::new_secret(&st, &p, id).await?;
    Ok(Json(SecretView { id, secret }))
}

/// Call a device's service and wait for its reply or a timeout.
///
/// A remote command or parameter set (004 §8.1.3): `{"input"?: {…}, "timeout_secs"?: n}`.
#[utoipa::path(post, path = "/api/v1/devices/{id}/services/{service}", tag = "devices",
    request_body = Object,
    params(("id" = Uuid, Path, description = "The device"),
        ("service" = String, Path, description = "A service of the device's type")),
    security(("bearer" = [])),
    responses((status = 200, body = CallOutcome), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn call_service(
    State(st): State<AppState>,
    p: Principal,
    Path((id, service)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<CallOutcome>> {
    let id = parse_id(&id, "设备")?;
    Ok(Json(calls::call(&st, &p, id, &service, &body).await?))
}

#[derive(Serialize, ToSchema)]
struct DeviceEventView {
    id: Uuid,
    event: String,
    time: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    output: Option<Value>,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

/// A device's recent events (its own, and `online`/`offline`), newest first.
#[utoipa::path(get, path = "/api/v1/devices/{id}/events", tag = "devices",
    params(("id" = Uuid, Path, description = "The device")), security(("bearer" = [])),
    responses((status = 200, body = Vec<DeviceEventView>), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn device_events(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<DeviceEventView>>> {
    let events = registry::recent_events(&st, &p, parse_id(&id, "设备")?, 100).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| DeviceEventView {
                id: e.id,
                event: e.event,
                time: e.time,
                output: e.output,
                recorded_at: e.recorded_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TelemetryQuery {
    property: Option<String>,
    /// 1–1000 (default 100).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct ReadingView {
    property: String,
    time: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = Object)]
    value: Value,
}

/// A device's property readings, newest first.
#[utoipa::path(get, path = "/api/v1/devices/{id}/telemetry", tag = "devices",
    params(("id" = Uuid, Path, description = "The device"), TelemetryQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ReadingView>), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
async fn telemetry(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<TelemetryQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ReadingView>>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "应为 1–1000"));
    }
    let rows = registry::readings(
        &st,
        &p,
        parse_id(&id, "设备")?,
        q.property.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| ReadingView {
                property: r.property,
                time: r.time,
                value: r.value,
            })
            .collect(),
    ))
}

/// `Authorization: Device <id>:<secret>` for device `id`.
async fn device_auth(
    st: &AppState,
    headers: &HeaderMap,
    id: Uuid,
) -> ApiResult<cyltrace_store::DeviceRecord> {
    let refused =
        || ApiError::Unauthorized("需要设备凭据：Authorization: Device <id>:<secret>".to_owned());
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given.starts_with("Bearer ") {
        // An account is signed in, but only a device speaks for a device.
        return Err(ApiError::Forbidden(
            "账号不能以设备身份上报；设备须使用 Authorization: Device <id>:<secret>".to_owned(),
        ));
    }
    let h = given.strip_prefix("Device ").ok_or_else(refused)?;
    let (who, secret) = h.split_once(':').ok_or_else(refused)?;
    let who = Uuid::parse_str(who.trim()).map_err(|_| refused())?;
    if who != id {
        // H4: a device may speak only for itself.
        return Err(ApiError::Forbidden("设备只能上报本设备的消息".to_owned()));
    }
    registry::authenticate(st, id, secret.trim()).await
}

/// A device's up message over HTTP, with the device's credentials.
///
/// The same kinds as MQTT: `property`, `event`, `fill_request`, `fill_report`, `scan`,
/// `heartbeat`, `service_reply`. `fill_request` is answered with the decision, `fill_report` with
/// the fill's ledger index once committed.
#[utoipa::path(post, path = "/api/v1/devices/{id}/up/{kind}", tag = "devices",
    request_body = Object,
    params(("id" = Uuid, Path, description = "The device"),
        ("kind" = String, Path, description = "The up kind")),
    security(("device" = [])),
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
async fn device_up(
    State(st): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::Unauthorized("设备标识或密钥错误".to_owned()))?;
    let d = device_auth(&st, &headers, id).await?;
    // A device's messages are recorded as what they are (decisions, events, readings, counters),
    // like those over MQTT: no audit row each.
    Ok(audited(match ingest::handle(&st, &d, &kind, &body).await {
        Ok(a) => Json(a.body).into_response(),
        Err(r) => r.error.into_response(),
    }))
}
