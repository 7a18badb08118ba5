//! `/api/v1` filling control and its records: `POST /fill-control` (contract § Filling control),
//! decisions, refusal counts, illegal-label attempts, batches, fill and check records, alarms.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use cyltrace_domain::Timestamp;
use cyltrace_domain::event::EventData;
use cyltrace_store::{
    AlarmRecord, BatchFill, BatchRecord, DecisionRecord, RefusalRecord, StoredEvent,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiRouter, ListView, PageQuery, list, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::audit::RequestMeta;
use crate::services::filling::{
    self as svc, AlarmQuery, FillControlInput, FillRecordView, NewBatchInput, RecordQuery,
};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(fill_control)))
        .routes(v1(routes!(decisions)))
        .routes(v1(routes!(refusal_counts)))
        .routes(v1(routes!(illegal_labels)))
        .routes(v1(routes!(create_batch, list_batches)))
        .routes(v1(routes!(batch_fills)))
        .routes(v1(routes!(fills)))
        .routes(v1(routes!(checks)))
        .routes(v1(routes!(alarms)))
}

#[derive(Serialize, ToSchema)]
pub struct RefusalView {
    /// `B1.1` … `B1.12`, `A8` for an illegal or void label, or `A10` for a locked archive.
    pub rule: String,
    pub reason: String,
}

impl From<&RefusalRecord> for RefusalView {
    fn from(r: &RefusalRecord) -> Self {
        RefusalView {
            rule: r.rule.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// The contract's answer, plus what was decided about (for the decision lists).
#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    pub allow: bool,
    pub refusals: Vec<RefusalView>,
    pub fill_limit_kg: Option<f64>,
    pub target_gross_kg: Option<f64>,
    pub decision_id: Uuid,
    pub code: String,
    pub site_id: Uuid,
    pub medium: String,
    pub at: Timestamp,
    pub illegal_label: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

impl From<DecisionRecord> for DecisionView {
    fn from(d: DecisionRecord) -> Self {
        DecisionView {
            allow: d.allow,
            refusals: d.refusals.iter().map(RefusalView::from).collect(),
            fill_limit_kg: d.fill_limit_kg,
            target_gross_kg: d.target_gross_kg,
            decision_id: d.id,
            code: d.code,
            site_id: d.site_id,
            medium: d.medium,
            at: d.at.into(),
            illegal_label: d.illegal_label,
            user_id: d.user_id,
        }
    }
}

/// May this cylinder be filled now?
///
/// Every failing rule is listed in rule order; the decision is recorded before the answer.
#[utoipa::path(post, path = "/api/v1/fill-control", tag = "filling",
    request_body = FillControlInput, security(("bearer" = [])),
    responses((status = 200, body = DecisionView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn fill_control(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::OK);
    let d = svc::fill_control(&st, &p, &body, Some(&audit)).await?;
    Ok(audited(Json(DecisionView::from(d))))
}

#[derive(Serialize, ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

fn page_of<R, V: From<R>>(
    items: Vec<R>,
    total: i64,
    page: cyltrace_store::Page,
) -> Json<PageOf<V>> {
    Json(PageOf {
        items: items.into_iter().map(V::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// Recorded decisions, newest first.
#[utoipa::path(get, path = "/api/v1/fill-control/decisions", tag = "filling", params(RecordQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<DecisionView>), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn decisions(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<DecisionView>>> {
    let (items, total, page) = svc::decisions(&st, &p, &query(q)?).await?;
    Ok(page_of(items, total, page))
}

#[derive(Serialize, ToSchema)]
pub struct RuleCount {
    pub rule: String,
    pub title: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RefusalCounts {
    pub counts: Vec<RuleCount>,
}

/// How often each rule refused (A8, A10 and B1.1–B1.12, zero included).
#[utoipa::path(get, path = "/api/v1/fill-control/refusal-counts", tag = "filling",
    params(RecordQuery), security(("bearer" = [])),
    responses((status = 200, body = RefusalCounts), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn refusal_counts(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<RefusalCounts>> {
    let counts = svc::refusal_counts(&st, &p, &query(q)?).await?;
    Ok(Json(RefusalCounts {
        counts: counts
            .into_iter()
            .map(|(r, n)| RuleCount {
                rule: r.id().to_owned(),
                title: r.title_zh().to_owned(),
                count: n,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StationCount {
    pub site_id: Uuid,
    pub site_name: String,
    pub org_id: Uuid,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct IllegalLabels {
    /// Attempts per filling station.
    pub per_station: Vec<StationCount>,
    /// The attempts themselves, newest first.
    pub attempts: PageOf<DecisionView>,
}

/// A8: fill-control requests for codes without an archive or with a void label.
#[utoipa::path(get, path = "/api/v1/fill-control/illegal-labels", tag = "filling",
    params(RecordQuery), security(("bearer" = [])),
    responses((status = 200, body = IllegalLabels), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn illegal_labels(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<IllegalLabels>> {
    let mut q = query(q)?;
    q.illegal_label = Some(true);
    let per_station = svc::illegal_label_counts(&st, &p, &q)
        .await?
        .into_iter()
        .map(|(s, n)| StationCount {
            site_id: s.id,
            site_name: s.name,
            org_id: s.org_id,
            count: n,
        })
        .collect();
    let (items, total, page) = svc::decisions(&st, &p, &q).await?;
    Ok(Json(IllegalLabels {
        per_station,
        attempts: page_of(items, total, page).0,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    pub created_at: Timestamp,
}

impl From<BatchRecord> for BatchView {
    fn from(b: BatchRecord) -> Self {
        BatchView {
            id: b.id,
            org_id: b.org_id,
            number: b.number,
            name: b.name,
            site_id: b.site_id,
            medium: b.medium,
            created_at: b.created_at.into(),
        }
    }
}

/// B5: define a filling batch; fills name it in `data.batch`.
#[utoipa::path(post, path = "/api/v1/batches", tag = "filling", request_body = NewBatchInput,
    security(("bearer" = [])),
    responses((status = 201, body = BatchView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn create_batch(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let b = svc::create_batch(&st, &p, &body).await?;
    let note = format!("batch {} {} of org {}", b.id, b.number, b.org_id);
    Ok(noted((StatusCode::CREATED, Json(BatchView::from(b))), note))
}

/// Filling batches of the caller's organisations.
#[utoipa::path(get, path = "/api/v1/batches", tag = "filling", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<BatchView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_batches(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<BatchView>>> {
    let page = query(q)?.page()?;
    Ok(list(svc::list_batches(&st, &p, page).await?, page))
}

/// A fill of a batch (B5): the cylinder, when and where, the weighing, and whether it was filled
/// although the last filling-control decision for the cylinder refused it.
#[derive(Serialize, ToSchema)]
pub struct BatchFillView {
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub code: String,
    pub time: Timestamp,
    pub site_id: Option<Uuid>,
    pub operator: Option<String>,
    pub scale_no: String,
    pub tare_kg: f64,
    pub gross_kg: f64,
    pub net_kg: f64,
    pub refused: bool,
}

impl From<BatchFill> for BatchFillView {
    fn from(f: BatchFill) -> Self {
        let e = f.event.event;
        let (scale_no, tare_kg, gross_kg) = match &e.data {
            EventData::Fill(d) => (d.scale_no.to_string(), d.tare_kg.get(), d.gross_kg.get()),
            _ => (String::new(), 0.0, 0.0),
        };
        BatchFillView {
            event_id: e.id,
            ledger_index: f.event.ledger_index,
            code: e.codes.first().map(|c| c.to_string()).unwrap_or_default(),
            time: e.time.into(),
            site_id: e.site_id,
            operator: e.operator.as_ref().map(|o| o.to_string()),
            scale_no,
            tare_kg,
            gross_kg,
            net_kg: ((gross_kg - tare_kg) * 1000.0).round() / 1000.0,
            refused: f.refused,
        }
    }
}

/// What a batch's fills add up to.
#[derive(Serialize, ToSchema)]
pub struct BatchCountsView {
    pub fills: i64,
    /// Total net weight (gross − tare), kg.
    pub net_kg: f64,
    /// Fills made although the last filling-control decision for the cylinder refused it.
    pub refused: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BatchFillsView {
    pub batch: BatchView,
    pub counts: BatchCountsView,
    pub items: Vec<BatchFillView>,
    pub limit: i64,
    pub offset: i64,
}

/// B5: a batch's fills, newest first, and their count, total net weight and refused fills.
#[utoipa::path(get, path = "/api/v1/batches/{id}/fills", tag = "filling",
    params(("id" = Uuid, Path, description = "The batch"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = BatchFillsView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
async fn batch_fills(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<BatchFillsView>> {
    let page = query(q)?.page()?;
    let (b, fills, c) = svc::batch_fills(&st, &p, &id, page).await?;
    Ok(Json(BatchFillsView {
        batch: b.into(),
        counts: BatchCountsView {
            fills: c.fills,
            net_kg: (c.net_kg * 1000.0).round() / 1000.0,
            refused: c.refused,
        },
        items: fills.into_iter().map(BatchFillView::from).collect(),
        limit: page.limit,
        offset: page.offset,
    }))
}

/// A check record (table C.2): which check, passed or not, and the failed items.
#[derive(Serialize, ToSchema)]
pub struct CheckRecordView {
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub kind: String,
    pub code: String,
    pub time: Timestamp,
    pub site_id: Option<Uuid>,
    pub operator: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub passed: bool,
    /// The items answered `false`.
    pub failed_items: Vec<String>,
    pub items: Value,
}

/// Fill records (C.1), newest first; filter by station, day, operator, user, cylinder.
#[utoipa::path(get, path = "/api/v1/fills", tag = "filling", params(RecordQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<FillRecordView>), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn fills(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<FillRecordView>>> {
    let (items, total, page) = svc::fill_records(&st, &p, &query(q)?).await?;
    Ok(Json(PageOf {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

fn check_view(s: StoredEvent) -> CheckRecordView {
    let items = s.event.data.data_json();
    let failed_items = items
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| **v == Value::Bool(false))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let passed = match &s.event.data {
        EventData::PreFillCheck(c) => c.passed(),
        EventData::InFillCheck(c) => c.passed(),
        EventData::PostFillCheck(c) => c.passed(),
        _ => false,
    };
    CheckRecordView {
        event_id: s.event.id,
        ledger_index: s.ledger_index,
        kind: s.event.kind().as_str().to_owned(),
        code: s
            .event
            .codes
            .first()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        time: s.event.time.into(),
        site_id: s.event.site_id,
        operator: s.event.operator.as_ref().map(|o| o.to_string()),
        recorded_by: s.recorded_by,
        passed,
        failed_items,
        items,
    }
}

/// Check records (C.2): pre-, in- and post-fill checks, newest first.
#[utoipa::path(get, path = "/api/v1/checks", tag = "filling", params(RecordQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<CheckRecordView>), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn checks(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecordQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<CheckRecordView>>> {
    let (events, total, page) = svc::checks(&st, &p, &query(q)?).await?;
    Ok(Json(PageOf {
        items: events.into_iter().map(check_view).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AlarmView {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub event_id: Uuid,
    pub org_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    pub message: String,
    pub at: Timestamp,
}

impl From<AlarmRecord> for AlarmView {
    fn from(a: AlarmRecord) -> Self {
        AlarmView {
            id: a.id,
            kind: a.kind,
            code: a.code,
            event_id: a.event_id,
            org_id: a.org_id,
            site_id: a.site_id,
            message: a.message,
            at: a.at.into(),
        }
    }
}

/// Alarms raised by events (B4 overfill), newest first.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "filling", params(AlarmQuery),
    security(("bearer" = [])),
    responses((status = 200, body = PageOf<AlarmView>), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn alarms(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AlarmQuery>, QueryRejection>,
) -> ApiResult<Json<PageOf<AlarmView>>> {
    let (items, total, page) = svc::alarms(&st, &p, query(q)?).await?;
    Ok(page_of(items, total, page))
}
