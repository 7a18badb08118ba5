//! `/api/v1` lab tests (化验) and repairs (维修) of cylinders (B8): recorded with a flat body,
//! listed like the fill and check records. Both are events: `POST /api/v1/events` with kind
//! `lab_test` / `repair` records them too.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use cyltrace_domain::workshop::{LabTest, Repair};
use cyltrace_domain::{EventData, EventKind, Timestamp};
use cyltrace_store::StoredEvent;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::filling::PageOf;
use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::RequestMeta;
use crate::services::filling::RecordQuery;
use crate::services::workshop as svc;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited};

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(record_lab_test, lab_tests)))
        .routes(v1(routes!(record_repair, repairs)))
}

/// One lab test or repair as listed: the event and its typed data.
#[derive(Serialize, ToSchema)]
pub struct WorkshopView<D> {
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub codes: Vec<String>,
    pub time: Timestamp,
    pub site_id: Option<Uuid>,
    pub operator: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub data: D,
}

fn view<D>(s: StoredEvent, data: impl Fn(EventData) -> Option<D>) -> ApiResult<WorkshopView<D>> {
    let e = s.event;
    Ok(WorkshopView {
        event_id: e.id,
        ledger_index: s.ledger_index,
        codes: e.codes.iter().map(|c| c.as_str().to_owned()).collect(),
        time: e.time.into(),
        site_id: e.site_id,
        operator: e.operator.as_ref().map(|o| o.to_string()),
        recorded_by: s.recorded_by,
        data: data(e.data)
            .ok_or_else(|| ApiError::Internal("a record of another kind".to_owned()))?,
    })
}

async fn list<D>(
    st: &AppState,
    p: &Principal,
    kind: EventKind,
    q: Result<Query<RecordQuery>, QueryRejection>,
    data: impl Fn(EventData) -> Option<D>,
) -> ApiResult<Json<PageOf<WorkshopView<D>>>> {
    let (events, total, page) = svc::records(st, p, kind, &query(q)?).await?;
    Ok(Json(PageOf {
        items: events
            .into_iter()
            .map(|e| view(e, &data))
            .collect::<ApiResult<_>>()?,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

async fn record(
    st: &AppState,
    p: &Principal,
    kind: EventKind,
    meta: RequestMeta,
    body: &Value,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED).note(format!("{} recorded", kind.as_str()));
    let a = svc::record(st, p, kind, body, Some(&audit)).await?;
    Ok(audited((
        StatusCode::CREATED,
        Json(json!({"id": a.id, "ledger_index": a.ledger_index})),
    )))
}

/// Record a lab test (化验, B8): 201 `{"id","ledger_index"}`.
#[utoipa::path(post, path = "/api/v1/lab-tests", tag = "workshop", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn record_lab_test(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    record(&st, &p, EventKind::LabTest, meta, &body).await
}

/// Lab tests (B8), newest first; filter by station, day, operator, user, cylinder.
#[utoipa::path(get, path = "/api/v1/lab-tests", tag = "workshop", params(RecordQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<WorkshopView<LabTest>>), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn lab_tests(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<WorkshopView<LabTest>>>> {
    list(&st, &p, EventKind::LabTest, q, |d| match d {
        EventData::LabTest(t) => Some(t),
        _ => None,
    })
    .await
}

/// Record a repair (维修, B8): 201 `{"id","ledger_index"}`.
#[utoipa::path(post, path = "/api/v1/repairs", tag = "workshop", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn record_repair(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    record(&st, &p, EventKind::Repair, meta, &body).await
}

/// Repairs (B8), newest first; filter by station, day, operator, user, cylinder.
#[utoipa::path(get, path = "/api/v1/repairs", tag = "workshop", params(RecordQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<WorkshopView<Repair>>), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn repairs(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<WorkshopView<Repair>>>> {
    list(&st, &p, EventKind::Repair, q, |d| match d {
        EventData::Repair(r) => Some(r),
        _ => None,
    })
    .await
}
