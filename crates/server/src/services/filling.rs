//! Filling control and its records (issue 3): the decision before each fill (B1, A8, B4), batches
//! (B5), fill and check records (B2, B3), refusal counts, illegal-label attempts and alarms.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::filling::{self, FillFacts, Refusal, canonical_medium, known_media};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::status::LabelStatus;
use cyltrace_domain::time::cst;
use cyltrace_domain::{CylinderCode, Date, OrgKind, SiteKind, Text, Timestamp, ValidationErrors};
use cyltrace_store::{
    AlarmFilter, AlarmRecord, BatchFill, BatchFillCounts, BatchRecord, DecisionFilter,
    DecisionRecord, EventFilter, Page, RefusalRecord, SiteRecord, StoredEvent, WriteRequest,
};
use std::collections::HashMap;

use cyltrace_domain::LicenceKind;
use cyltrace_domain::event::EventData;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::page;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FillControlInput {
    /// The 10-digit label number as scanned.
    pub code: String,
    pub site_id: Uuid,
    /// The medium about to be filled, e.g. 液化石油气.
    pub medium: String,
    /// The scanned label (its QR URL) when the station scans the QR code: a missing or forged
    /// anti-counterfeit signature refuses the fill as an illegal label (A8).
    #[serde(default)]
    pub label: Option<String>,
}

/// `POST /fill-control`: decides, records the decision (durably, before answering), and answers it.
pub async fn fill_control(
    st: &AppState,
    p: &Principal,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<DecisionRecord> {
    let input: FillControlInput = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    let medium = canonical_medium(&input.medium);
    if medium.is_none() {
        errs.push(
            "medium",
            format!(
                "平台不支持的充装介质“{}”，允许：{}",
                input.medium.trim(),
                known_media().join("、")
            ),
        );
    }
    let code = match CylinderCode::parse(&input.code) {
        Ok(c) => Some(c),
        Err(m) => {
            errs.push("code", m);
            None
        }
    };
    let station = station(st, input.site_id).await?;
    match &station {
        None => errs.push("site_id", "站点不存在"),
        Some((s, _)) if s.kind != SiteKind::FillingStation => {
            errs.push("site_id", "该站点不是充装站，不能进行充装控制")
        }
        Some((s, _)) if !s.active => {
            errs.push("site_id", "该充装站已关闭（停用），不能进行充装控制")
        }
        Some(_) => {}
    }
    errs.into_result(())?;
    let ((site, enterprise), medium, code) = (
        station.expect("checked"),
        medium.expect("checked"),
        code.expect("checked"),
    );
    p.require(Action::FillControl)?;
    p.require_scope(&site.org_path, "该充装站")?;
    let now = st.now();
    let cylinder = st.store.get_cylinder(&code).await?;
    let (decision, illegal) = match &cylinder {
        None => (
            filling::Decision {
                allow: false,
                refusals: vec![filling::illegal_label(None)],
                fill_limit_kg: None,
                target_gross_kg: None,
            },
            true,
        ),
        Some(c) => {
            // B1.7 reads the regulator's permission (B9) and whether it is a vehicle cylinder
            // (A9) only for another owner's cylinder.
            let owner = c.archive.owner_org_id;
            let (entrusted_until, vehicle) = if owner == Some(enterprise.id) {
                (None, false)
            } else {
                let until = match owner {
                    Some(o) => st.store.entrusted_until(o, enterprise.id).await?,
                    None => None,
                };
                let car = st
                    .store
                    .biz_by_key(super::registry::CAR_BOTTLE, code.as_str());
                (until, car.await?.is_some())
            };
            let facts = FillFacts {
                archive: &c.archive,
                status: &c.status,
                enterprise_id: enterprise.id,
                licences: &enterprise.licences,
                medium,
                entrusted_until,
                vehicle,
            };
            let mut d = filling::decide(&facts, now);
            let void = c.status.label == LabelStatus::Void;
            let forged = input
                .label
                .as_deref()
                .and_then(|l| super::labels::scanned_refusal(st, l, &code));
            if let Some(reason) = &forged {
                d.refusals.insert(
                    0,
                    filling::Refusal {
                        rule: filling::Rule::A8,
                        reason: format!("{reason}，严禁充装"),
                    },
                );
                d.allow = false;
            } else if void {
                d.refusals
                    .insert(0, filling::illegal_label(Some(&c.status)));
                d.allow = false;
            }
            (d, void || forged.is_some())
        }
    };
    let record = DecisionRecord {
        id: Uuid::new_v4(),
        at: now,
        user_id: Some(p.user_id),
        org_id: enterprise.id,
        site_id: site.id,
        code: code.to_string(),
        medium: medium.to_owned(),
        allow: decision.allow,
        refusals: decision.refusals.iter().map(refusal_record).collect(),
        illegal_label: illegal,
        fill_limit_kg: decision.fill_limit_kg,
        target_gross_kg: decision.target_gross_kg,
    };
    // Recorded, with the request's audit row, before the answer: the regulator's refusal counts and
    // illegal-label attempts are built on every decision.
    let rules: Vec<&str> = record.refusals.iter().map(|r| r.rule.as_str()).collect();
    let detail = format!(
        "decision {} code {} site {} allow {} {}",
        record.id,
        record.code,
        record.site_id,
        record.allow,
        rules.join(",")
    );
    let req = WriteRequest {
        decision: Some(record.clone()),
        audit: audit.map(|a| a.record(p, detail, now)),
        ..Default::default()
    };
    st.store.write(req).await.map_err(|e| e.into_store())?;
    st.metrics
        .fill_decisions
        .get_or_create(&crate::metrics::DecisionLabels {
            allow: record.allow,
        })
        .inc();
    if illegal {
        st.metrics.illegal_labels.inc();
        tracing::warn!(code = %record.code, site = %site.id, "illegal label attempt");
    }
    Ok(record)
}

/// A site and its organisation (licences), cached for a few seconds: every fill asks.
async fn station(
    st: &AppState,
    site_id: Uuid,
) -> ApiResult<Option<(SiteRecord, cyltrace_store::OrgRecord)>> {
    if let Some(hit) = st.caches.stations.get(&site_id) {
        return Ok(Some(hit));
    }
    let Some(site) = st.store.get_site(site_id).await? else {
        return Ok(None);
    };
    let org = st
        .store
        .get_org(site.org_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("site {site_id} without org")))?;
    st.caches
        .stations
        .put(site_id, (site.clone(), org.clone()), None);
    Ok(Some((site, org)))
}

fn refusal_record(r: &Refusal) -> RefusalRecord {
    RefusalRecord {
        rule: r.rule.id().to_owned(),
        reason: r.reason.clone(),
    }
}

/// Query parameters shared by the record lists: a China calendar `date`, or `from`/`to`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub site_id: Option<Uuid>,
    pub code: Option<String>,
    /// A day on the China calendar (YYYY-MM-DD); or use `from`/`to`.
    pub date: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// The operator (staff name or number) recorded on the event.
    pub operator: Option<String>,
    /// The user who recorded it.
    pub user_id: Option<Uuid>,
    /// For `/checks`: `pre_fill_check`, `in_fill_check` or `post_fill_check` (default all three).
    pub kind: Option<String>,
    /// For decisions: only allowed (`true`) or refused (`false`).
    pub allow: Option<bool>,
    /// For decisions: only illegal-label attempts.
    pub illegal_label: Option<bool>,
    /// For decisions: only those that failed this rule (e.g. `B1.4`).
    pub rule: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The time window of a query: `date` (a whole China day) or `from`/`to`.
fn window(
    q: &RecordQuery,
    errs: &mut ValidationErrors,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut time = |name: &str, v: &Option<String>| {
        v.as_ref().and_then(|s| {
            Timestamp::parse(s)
                .map(Timestamp::utc)
                .map_err(|m| errs.push(name, m))
                .ok()
        })
    };
    let (from, to) = (time("from", &q.from), time("to", &q.to));
    match &q.date {
        None => (from, to),
        Some(d) => match Date::parse(d) {
            Ok(day) => {
                let start = day
                    .naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_local_timezone(cst())
                    .single()
                    .expect("fixed offset");
                let start = start.with_timezone(&Utc);
                (Some(start), Some(start + Duration::days(1)))
            }
            Err(m) => {
                errs.push("date", m);
                (None, None)
            }
        },
    }
}

fn code_filter(q: &RecordQuery, errs: &mut ValidationErrors) -> Option<String> {
    q.code.as_ref().and_then(|c| {
        CylinderCode::parse(c)
            .map(|c| c.to_string())
            .map_err(|m| errs.push("code", m))
            .ok()
    })
}

/// The filter of a decision query, validated.
fn decision_filter(p: &Principal, q: &RecordQuery) -> ApiResult<DecisionFilter> {
    let mut errs = ValidationErrors::default();
    let (from, to) = window(q, &mut errs);
    let code = code_filter(q, &mut errs);
    if let Some(r) = &q.rule
        && filling::Rule::parse(r).is_none()
    {
        errs.push("rule", format!("未知规则“{r}”"));
    }
    let pg = page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    Ok(DecisionFilter {
        scope: (!p.is_node_admin()).then(|| p.scope()),
        site_id: q.site_id,
        code,
        allow: q.allow,
        illegal_label: q.illegal_label,
        rule: q.rule.clone(),
        from,
        to,
        limit: pg.limit,
        offset: pg.offset,
    })
}

pub async fn decisions(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<(Vec<DecisionRecord>, i64, Page)> {
    p.require(Action::Read)?;
    let f = decision_filter(p, q)?;
    let (items, total) = st.store.list_decisions(&f).await?;
    Ok((
        items,
        total,
        Page {
            limit: f.limit,
            offset: f.offset,
        },
    ))
}

/// Refusals per rule, every rule listed (zero when it never refused), in rule order.
pub async fn refusal_counts(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<Vec<(filling::Rule, i64)>> {
    p.require(Action::Read)?;
    let f = decision_filter(p, q)?;
    let counts = st.store.refusal_counts(&f).await?;
    Ok([filling::Rule::A8, filling::Rule::A10]
        .into_iter()
        .chain(filling::Rule::TABLE_B1)
        .map(|r| {
            (
                r,
                counts
                    .iter()
                    .find(|(id, _)| id == r.id())
                    .map_or(0, |(_, n)| *n),
            )
        })
        .collect())
}

/// Illegal-label attempts counted per filling station, with the sites' names.
pub async fn illegal_label_counts(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<Vec<(SiteRecord, i64)>> {
    p.require(Action::Read)?;
    let f = decision_filter(p, q)?;
    let mut out = Vec::new();
    for (site_id, n) in st.store.illegal_label_counts(&f).await? {
        if let Some(site) = st.store.get_site(site_id).await? {
            out.push((site, n));
        }
    }
    Ok(out)
}

pub(crate) fn event_filter(
    p: &Principal,
    q: &RecordQuery,
    kinds: Vec<&'static str>,
) -> ApiResult<EventFilter> {
    let mut errs = ValidationErrors::default();
    let (from, to) = window(q, &mut errs);
    let code = code_filter(q, &mut errs);
    let pg = page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    Ok(EventFilter {
        scope: (!p.is_node_admin()).then(|| p.scope()),
        kinds,
        site_id: q.site_id,
        code,
        operator: q.operator.clone(),
        recorded_by: q.user_id,
        from,
        to,
        limit: pg.limit,
        offset: pg.offset,
    })
}

/// Fill records (table C.1), newest first.
pub async fn fills(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<(Vec<StoredEvent>, i64, Page)> {
    p.require(Action::Read)?;
    let f = event_filter(p, q, vec!["fill"])?;
    let (items, total) = st.store.list_events(&f).await?;
    Ok((
        items,
        total,
        Page {
            limit: f.limit,
            offset: f.offset,
        },
    ))
}

/// A fill record in the shape of table C.1 (plus the Yunnan `Fill` net weight and batch).
#[derive(Serialize, ToSchema)]
pub struct FillRecordView {
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub code: String,
    pub enterprise: Option<String>,
    pub filling_licence: Option<String>,
    pub site_id: Option<Uuid>,
    /// 充装设备编号
    pub scale_no: String,
    /// 员工工号/姓名
    pub operator: Option<String>,
    pub recorded_by: Option<Uuid>,
    /// 充装日期 (China calendar)
    pub date: String,
    pub begin: Timestamp,
    pub end: Timestamp,
    pub tare_kg: f64,
    pub gross_kg: f64,
    pub net_kg: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
}

/// [`fills`] as table C.1 rows, with each station's enterprise and its filling licence.
pub async fn fill_records(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<(Vec<FillRecordView>, i64, Page)> {
    let (events, total, page) = fills(st, p, q).await?;
    // The enterprise and its filling licence, per station.
    let mut enterprises: HashMap<Uuid, (Option<String>, Option<String>)> = HashMap::new();
    let mut items = Vec::with_capacity(events.len());
    for s in events {
        let EventData::Fill(f) = &s.event.data else {
            continue;
        };
        let ent = match s.event.site_id {
            Some(site_id) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = enterprises.entry(site_id)
                {
                    let org = match st.store.get_site(site_id).await? {
                        Some(site) => st.store.get_org(site.org_id).await?,
                        None => None,
                    };
                    let v = org.map_or((None, None), |o| {
                        let licence = o
                            .licences
                            .iter()
                            .find(|l| l.kind == LicenceKind::Filling)
                            .map(|l| l.number.to_string());
                        (Some(o.name), licence)
                    });
                    slot.insert(v);
                }
                enterprises[&site_id].clone()
            }
            None => (None, None),
        };
        items.push(FillRecordView {
            event_id: s.event.id,
            ledger_index: s.ledger_index,
            code: s
                .event
                .codes
                .first()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            enterprise: ent.0,
            filling_licence: ent.1,
            site_id: s.event.site_id,
            scale_no: f.scale_no.to_string(),
            operator: s.event.operator.as_ref().map(|o| o.to_string()),
            recorded_by: s.recorded_by,
            date: cyltrace_domain::time::china_date(f.begin.utc())
                .format("%Y-%m-%d")
                .to_string(),
            begin: f.begin,
            end: f.end,
            tare_kg: f.tare_kg.get(),
            gross_kg: f.gross_kg.get(),
            net_kg: (f.net_kg() * 1000.0).round() / 1000.0,
            batch: f.batch.as_ref().map(|b| b.to_string()),
            medium: f.medium.as_ref().map(|m| m.to_string()),
        });
    }
    Ok((items, total, page))
}

const CHECK_KINDS: [&str; 3] = ["pre_fill_check", "in_fill_check", "post_fill_check"];

/// Check records (table C.2), newest first.
pub async fn checks(
    st: &AppState,
    p: &Principal,
    q: &RecordQuery,
) -> ApiResult<(Vec<StoredEvent>, i64, Page)> {
    p.require(Action::Read)?;
    let kinds = match q.kind.as_deref() {
        None => CHECK_KINDS.to_vec(),
        Some(k) => match CHECK_KINDS.iter().find(|c| **c == k) {
            Some(c) => vec![*c],
            None => {
                return Err(ApiError::invalid(
                    "kind",
                    format!("检查类型应为 {} 之一", CHECK_KINDS.join("、")),
                ));
            }
        },
    };
    let f = event_filter(p, q, kinds)?;
    let (items, total) = st.store.list_events(&f).await?;
    Ok((
        items,
        total,
        Page {
            limit: f.limit,
            offset: f.offset,
        },
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    /// e.g. `overfill`.
    pub kind: Option<String>,
    pub code: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn alarms(
    st: &AppState,
    p: &Principal,
    q: AlarmQuery,
) -> ApiResult<(Vec<AlarmRecord>, i64, Page)> {
    p.require(Action::Read)?;
    let mut errs = ValidationErrors::default();
    let pg = page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    let f = AlarmFilter {
        scope: (!p.is_node_admin()).then(|| p.scope()),
        kind: q.kind,
        code: q.code,
        limit: pg.limit,
        offset: pg.offset,
    };
    let (items, total) = st.store.list_alarms(&f).await?;
    Ok((items, total, pg))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatchInput {
    /// The batch number fills carry in `data.batch`, unique within the enterprise.
    pub number: Text,
    #[serde(default)]
    pub name: Option<Text>,
    /// The filling enterprise (default: the caller's organisation).
    #[serde(default)]
    pub org_id: Option<Uuid>,
    #[serde(default)]
    pub site_id: Option<Uuid>,
    #[serde(default)]
    pub medium: Option<String>,
}

/// B5: an enterprise defines a filling batch.
pub async fn create_batch(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BatchRecord> {
    p.require(Action::ManageBatches)?;
    let input: NewBatchInput = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    let org_id = input.org_id.unwrap_or(p.org_id);
    let org = st.store.get_org(org_id).await?;
    match &org {
        None => errs.push("org_id", "机构不存在"),
        Some(o) if o.kind != OrgKind::FillingEnterprise => {
            errs.push("org_id", "只有充装单位可以建立充装批次")
        }
        Some(_) => {}
    }
    let medium = match &input.medium {
        None => None,
        Some(m) => canonical_medium(m).map(str::to_owned).or_else(|| {
            errs.push("medium", format!("平台不支持的充装介质“{m}”"));
            None
        }),
    };
    if let Some(site_id) = input.site_id {
        match st.store.get_site(site_id).await? {
            Some(s) if s.org_id == org_id && s.kind == SiteKind::FillingStation => {}
            Some(_) => errs.push("site_id", "该站点不是本单位的充装站"),
            None => errs.push("site_id", "站点不存在"),
        }
    }
    errs.into_result(())?;
    let org = org.expect("checked");
    p.require_scope(&org.path, "该充装单位")?;
    let batch = BatchRecord {
        id: Uuid::new_v4(),
        org_id,
        number: input.number.to_string(),
        name: input.name.map(|n| n.to_string()),
        site_id: input.site_id,
        medium,
        created_by: Some(p.user_id),
        created_at: st.now(),
    };
    st.store.insert_batch(&batch).await.map_err(|e| match e {
        cyltrace_store::StoreError::Conflict(n) => {
            let msg = format!("批次号 {n} 已存在");
            ApiError::Conflict(
                msg.clone(),
                vec![cyltrace_domain::FieldError::new("number", msg)],
            )
        }
        other => other.into(),
    })?;
    Ok(batch)
}

/// Filling batches of the enterprises in the caller's scope.
pub async fn list_batches(st: &AppState, p: &Principal, page: Page) -> ApiResult<Vec<BatchRecord>> {
    p.require(Action::Read)?;
    Ok(st.store.list_batches(&p.scope(), page).await?)
}

/// One batch the caller sees (`id` as the path gives it): 404 when unknown, 403 when it is another
/// enterprise's.
pub async fn batch(st: &AppState, p: &Principal, id: &str) -> ApiResult<BatchRecord> {
    p.require(Action::Read)?;
    let id = super::parse_id(id, "充装批次")?;
    let b = st
        .store
        .get_batch_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("充装批次不存在".to_owned()))?;
    let org = st
        .store
        .get_org(b.org_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("batch {id} without its org")))?;
    p.require_scope(&org.path, "该充装批次")?;
    Ok(b)
}

/// B5: a batch's fills (those at its enterprise's stations naming its number), newest first, a page
/// of them, and what all of them add up to.
pub async fn batch_fills(
    st: &AppState,
    p: &Principal,
    id: &str,
    page: Page,
) -> ApiResult<(BatchRecord, Vec<BatchFill>, BatchFillCounts)> {
    let b = batch(st, p, id).await?;
    let fills = st.store.batch_fills(b.org_id, &b.number, page).await?;
    let counts = st.store.batch_fill_counts(b.org_id, &b.number).await?;
    Ok((b, fills, counts))
}
