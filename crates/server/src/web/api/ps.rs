//! `/api/v1` endpoints of the regulator side of the `/PS` interface: registration applications
//! (list, approve, reject), spot checks (order, list), inspection work orders and month counts
//! received, the SM4 key of a `/PS` account, the regulator's alarms and the uplink outbox.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::RequestMeta;
use crate::services::{self, ps as svc};
use crate::state::AppState;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

/// The `/api/v1` endpoints of the regulator side (behind the bearer token).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ps/applications", get(list_applications))
        .route("/ps/applications/{id}/approve", post(approve))
        .route("/ps/applications/{id}/reject", post(reject))
        .route(
            "/ps/spot-checks",
            post(create_spot_check).get(list_spot_checks),
        )
        .route("/ps/check-applies", get(list_check_applies))
        .route("/ps/business-counts", get(list_business_counts))
        .route("/ps/accounts/{user_id}/sm4-key", put(set_sm4_key))
        .route("/regulator/alarms", get(list_alarms))
        .route("/uplink/status", get(uplink_status))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DocQuery {
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

async fn list_applications(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["apply_new", "apply_old"], query(q)?).await
}

async fn list_spot_checks(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["spot_check"], query(q)?).await
}

async fn list_check_applies(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["check_apply"], query(q)?).await
}

async fn list_business_counts(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<DocQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    list_kind(&st, &p, &["business_count"], query(q)?).await
}

async fn approve(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Extension(meta): Extension<RequestMeta>,
) -> ApiResult<Response> {
    let audit =
        audit_to(meta, StatusCode::OK).note(format!("registration application {id} approved"));
    let v = svc::approve_registration(&st, &p, id, Some(&audit)).await?;
    Ok(audited(Json(v)))
}

async fn reject(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
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

/// Sets (or, with `{"key": null}`, removes) the SM4 key of a `/PS` account.
async fn set_sm4_key(
    State(st): State<AppState>,
    p: Principal,
    Path(user_id): Path<Uuid>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmQuery {
    kind: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

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

async fn uplink_status(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let (configured, s) = svc::uplink_status(&st, &p).await?;
    Ok(Json(json!({
        "configured": configured,
        "pending": s.pending, "sent": s.sent, "refused": s.refused,
        "oldest_pending": s.oldest_pending,
    })))
}
