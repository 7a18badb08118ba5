//! `/api/v1` periodic inspection (D1–D3): applications, the station's worklist, results with the
//! issued report.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::inspection as svc;
use crate::state::AppState;
use crate::web::extract::JsonBody;
use crate::web::middleware::{audit_to, audited};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/inspection-applications",
            post(apply).get(list_applications),
        )
        .route("/inspection/worklist", get(worklist))
        .route("/inspection/results", post(record_result))
        .route("/cylinders/{code}/inspection-report", get(report))
}

async fn apply(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED).note("inspection application");
    let r = svc::apply(&st, &p, &body, Some(&audit)).await?;
    Ok(audited((
        StatusCode::CREATED,
        Json(json!({"id": r.id, "state": r.state})),
    )))
}

/// Applications of the caller's organisations, or sent to the caller's station.
async fn list_applications(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::applications(&st, &p).await?;
    Ok(Json(json!({"items": list.iter().map(|r| {
        let mut v = r.body.clone();
        v["id"] = json!(r.id);
        v["org_id"] = json!(r.org_id);
        v["state"] = json!(r.state);
        v["created_at"] = json!(r.created_at);
        v
    }).collect::<Vec<_>>()})))
}

async fn worklist(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": svc::worklist(&st, &p).await?})))
}

async fn record_result(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED).note("inspection result");
    let (idx, hash) = svc::record_result(&st, &p, &body, Some(&audit)).await?;
    Ok(audited((
        StatusCode::CREATED,
        Json(json!({"ledger_index": idx, "report_file": hash})),
    )))
}

/// The latest inspection report of a cylinder, as PDF.
async fn report(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let (c, bytes) = svc::latest_report(&st, &p, &code).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"inspection-{}.pdf\"", c.archive.code),
            ),
        ],
        bytes,
    )
        .into_response())
}
