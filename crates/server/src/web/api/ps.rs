//! `/api/v1` endpoints of the regulator side of the `/PS` interface: registration applications
//! (list, approve, reject), spot checks (order, list), inspection work orders and month counts
//! received, the SM4 key of a `/PS` account, the regulator's alarms and the uplink outbox.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::RequestMeta;
use crate::services::{self, ps as svc};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

/// The `/api/v1` endpoints of the regulator side (behind the bearer token).
pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(list_applications)))
        .routes(v1(routes!(approve)))
        .routes(v1(routes!(reject)))
        .routes(v1(routes!(create_spot_check, list_spot_checks)))
        .routes(v1(routes!(list_check_applies)))
        .routes(v1(routes!(list_business_counts)))
        .routes(v1(routes!(set_sm4_key)))
        .routes(v1(routes!(list_alarms)))
        .routes(v1(routes!(uplink_status)))
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DocQuery {
    /// Only documents in this state.
    state: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn doc_view(d: &cyltrace_store::PsDoc) -> Value {
    json!({"id": d.id, "kind": d.kind, "org_id": d.org_id, "target_org_id": d.target_org_id,
        "third_id": d.third_id, "state": d.state, "body": d.body,
        "created_at": d.created_at, "updated_at": d.updated_at})
}

async fn list_kind(
    st: &AppState,
    p: &Principal,
    kinds: &[&str],
    q: DocQuery,
) -> ApiResult<Json<Value>> {
    let mut errs = cyltrace_domain::ValidationErrors::default();
    let page = services::page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    let mut items = Vec::new();
    for k in kinds {
        for d in svc::list_docs(st, p, k, q.state.clone(), page).await? {
            items.push(doc_view(&d));
        }
    }
    Ok(Json(json!({"items": items})))
}

/// Registration applications received over `/PS` (or `/api/v1/registrations`): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/ps/applications", tag = "regulator", security(("bearer" = [])),
    params(DocQuery),
    operation_id = "list_registration_applications",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_applications(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["apply_new", "apply_old"], query(q)?).await
}

/// Spot checks: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/ps/spot-checks", tag = "regulator", security(("bearer" = [])),
    params(DocQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_spot_checks(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["spot_check"], query(q)?).await
}

/// Inspection work orders received over `/PS`: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/ps/check-applies", tag = "regulator", security(("bearer" = [])),
    params(DocQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_check_applies(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["check_apply"], query(q)?).await
}

/// Month counts reported over `/PS`, and whether they match: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/ps/business-counts", tag = "regulator",
    security(("bearer" = [])), params(DocQuery),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_business_counts(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["business_count"], query(q)?).await
}

/// Approve a registration application (the cylinders become registered).
#[utoipa::path(post, path = "/api/v1/ps/applications/{id}/approve", tag = "regulator",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The application")), operation_id = "approve_registration",
    responses((status = 200, body = Object),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn approve(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Extension(meta): Extension<RequestMeta>,
) -> ApiResult<Response> {
    let id = application_id(&id)?;
    let audit =
        audit_to(meta, StatusCode::OK).note(format!("registration application {id} approved"));
    let v = svc::approve_registration(&st, &p, id, Some(&audit)).await?;
    Ok(audited(Json(v)))
}

/// Reject a registration application with `{"reason"}`: `{"id","state":"rejected"}`.
#[utoipa::path(post, path = "/api/v1/ps/applications/{id}/reject", tag = "regulator",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The application")), request_body = Object, operation_id = "reject_registration",
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn reject(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = application_id(&id)?;
    let reason = body
        .get("reason")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("reason", "缺少驳回原因"))?;
    svc::reject_registration(&st, &p, id, reason).await?;
    Ok(noted(
        Json(json!({"id": id, "state": "rejected"})),
        format!("registration application {id} rejected"),
    ))
}

/// An application's id from the path: one that is not a number names no application (404, like
/// every id of `/api/v1` that does not parse, rather than the extractor's plain-text 400).
fn application_id(s: &str) -> ApiResult<i64> {
    s.parse()
        .map_err(|_| ApiError::NotFound("申请不存在".to_owned()))
}

/// Issue a spot check: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/ps/spot-checks", tag = "regulator", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn create_spot_check(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let id = svc::create_spot_check(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(json!({"id": id}))),
        format!("spot check {id}"),
    ))
}

/// Set (or, with `{"key": null}`, remove) the SM4 key of a `/PS` account.
#[utoipa::path(put, path = "/api/v1/ps/accounts/{user_id}/sm4-key", tag = "regulator",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "The `/PS` account")), request_body = Object,
    responses((status = 204, description = "Set or removed"),
        (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn set_sm4_key(
    State(st): State<AppState>,
    p: Principal,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let user_id = super::parse_id(&user_id, "账号")?;
    let (user, set) = svc::set_account_key(&st, &p, user_id, &body).await?;
    // The key itself is never written to the audit record.
    Ok(noted(
        StatusCode::NO_CONTENT,
        format!(
            "SM4 key of {} {}",
            user.username,
            if set { "set" } else { "removed" }
        ),
    ))
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AlarmQuery {
    /// Only alarms of this kind (e.g. `ledger_tamper`, `count_mismatch`).
    kind: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Alarms for the regulator (ledger tamper, count mismatch, uplink): `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/regulator/alarms", tag = "regulator", security(("bearer" = [])),
    params(AlarmQuery),
    operation_id = "list_regulator_alarms",
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_alarms(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AlarmQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let items = svc::alarms(&st, &p, q.kind, q.limit, q.offset).await?;
    Ok(Json(json!({"items": items.iter().map(|a| json!({
        "id": a.id, "org_id": a.org_id, "kind": a.kind, "message": a.message, "at": a.at,
    })).collect::<Vec<_>>()})))
}

/// The uplink outbox: `{"configured","pending","sent","refused","oldest_pending"}`.
#[utoipa::path(get, path = "/api/v1/uplink/status", tag = "regulator", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn uplink_status(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let (configured, s) = svc::uplink_status(&st, &p).await?;
    Ok(Json(json!({
        "configured": configured,
        "pending": s.pending, "sent": s.sent, "refused": s.refused,
        "oldest_pending": s.oldest_pending,
    })))
}
