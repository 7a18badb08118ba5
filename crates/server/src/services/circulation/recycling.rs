//! Recycling orders (回收单, C4; seed 001 §5.2.1.12): a courier, a keeper or the office records that a
//! customer has empty cylinders to give back; the station confirms what it received — one `recycle`
//! event naming the order, judged like every scan and written with the order's new state in the same
//! commit — or cancels the order.

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, NewRecyclingOrder, PersonalView, RecyclingOrderDoc, RecyclingState,
};
use cyltrace_domain::event::Recycle;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::{CylinderCode, Event, EventData, EventKind, Text, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::customers::{customer, customer_name};
use super::{ListQuery, doc_of, new_record, parse, save, to_body, visible_record};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::services::events::{Submission, api_error, submit};
use crate::state::AppState;

pub use cyltrace_domain::circulation::record_kind::RECYCLING_ORDER;

const WHAT: &str = "回收单";

/// A recycling order as answered (contact data masked for roles without need).
#[derive(Debug, Serialize)]
pub struct RecyclingOrderView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub contact: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub count: u32,
    pub codes: Vec<String>,
    pub note: Option<Text>,
    pub state: String,
    pub state_zh: &'static str,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub site_id: Option<Uuid>,
    /// The codes the station received (the `recycle` event's).
    pub received: Option<Vec<String>>,
    pub ledger_index: Option<i64>,
    pub cancel_reason: Option<Text>,
}

/// An order as `view` shows it.
pub async fn recycling_view(
    st: &AppState,
    r: &BizRecord,
    view: PersonalView,
) -> ApiResult<RecyclingOrderView> {
    let doc: RecyclingOrderDoc = doc_of(r)?;
    let o = &doc.order;
    let state = RecyclingState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("recycling order state {}", r.state)))?;
    let masked = view == PersonalView::Masked;
    let customer_name = match o.customer_id {
        Some(c) => Some(customer_name(st, c, view).await?),
        None => None,
    };
    let receipt = doc.receipt.as_ref();
    Ok(RecyclingOrderView {
        id: r.id,
        org_id: r.org_id,
        customer_id: o.customer_id,
        customer_name,
        contact: o.contact.as_ref().map(|c| {
            if masked {
                dom::mask_name(c.as_str())
            } else {
                c.as_str().to_owned()
            }
        }),
        phone: o.phone.as_ref().map(|p| {
            if masked {
                p.masked()
            } else {
                p.as_str().to_owned()
            }
        }),
        address: o.address.as_ref().map(|a| {
            if masked {
                dom::mask_address(a.as_str())
            } else {
                a.as_str().to_owned()
            }
        }),
        count: o.count,
        codes: o.codes.clone(),
        note: o.note.clone(),
        state: r.state.clone(),
        state_zh: state.label_zh(),
        created_at: r.created_at,
        created_by: doc.created_by,
        confirmed_at: receipt.map(|x| x.time),
        site_id: receipt.and_then(|x| x.site_id),
        received: receipt.map(|x| x.codes.clone()),
        ledger_index: receipt.map(|x| x.ledger_index),
        cancel_reason: doc.cancel_reason.clone(),
    })
}

/// Records a recycling order (C4). The customer, when named, must be one the caller sees; codes
/// named up front must be codes. A retry with the same `id` answers the order created first.
pub async fn create_recycling_order(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<BizRecord> {
    p.require(Action::RecordEvent(EventKind::Recycle))?;
    let mut o: NewRecyclingOrder = parse(body)?;
    o.validate()?;
    let mut errs = ValidationErrors::default();
    let mut codes = Vec::with_capacity(o.codes.len());
    for (i, c) in o.codes.iter().enumerate() {
        match CylinderCode::parse(c) {
            Ok(c) => codes.push(c.as_str().to_owned()),
            Err(m) => errs.push(format!("codes[{i}]"), m),
        }
    }
    errs.into_result(())?;
    o.codes = codes;
    if let Some(id) = o.id
        && let Some(r) = st.store.get_biz(RECYCLING_ORDER, id).await?
    {
        p.require_scope(&r.org_path, WHAT)?;
        let first: RecyclingOrderDoc = doc_of(&r)?;
        if first.order != o {
            return Err(ApiError::Conflict(
                format!("回收单 id {id} 已被另一张不同的回收单使用"),
                vec![cyltrace_domain::FieldError::new(
                    "id",
                    "已被另一张回收单使用",
                )],
            ));
        }
        return Ok(r);
    }
    if let Some(c) = o.customer_id {
        customer(st, p, c)
            .await
            .map_err(|_| ApiError::invalid("customer_id", "客户不存在或不在您的数据范围内"))?;
    }
    let doc = RecyclingOrderDoc {
        order: o.clone(),
        created_by: Some(p.user_id),
        receipt: None,
        cancel_reason: None,
    };
    let mut r = new_record(
        RECYCLING_ORDER,
        p.org_id,
        None,
        o.customer_id,
        RecyclingState::Open.as_str(),
        to_body(&doc)?,
        st.now(),
    );
    if let Some(id) = o.id {
        r.id = id;
    }
    st.store.insert_biz(&r).await?;
    Ok(r)
}

/// The query of the recycling order list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecyclingQuery {
    /// `open`, `confirmed` or `cancelled`.
    pub state: Option<String>,
    pub customer_id: Option<Uuid>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Recycling orders in scope, newest first.
pub async fn recycling_orders(
    st: &AppState,
    p: &Principal,
    q: &RecyclingQuery,
) -> ApiResult<Vec<RecyclingOrderView>> {
    p.require(Action::Read)?;
    if let Some(s) = &q.state
        && RecyclingState::parse(s).is_none()
    {
        return Err(ApiError::invalid(
            "state",
            "取值不在允许范围内，允许：open, confirmed, cancelled",
        ));
    }
    let f: BizFilter = ListQuery {
        limit: q.limit,
        offset: q.offset,
        state: q.state.clone(),
        customer_id: q.customer_id,
    }
    .biz_filter(RECYCLING_ORDER, p)?;
    let view = dom::personal_view(&p.roles);
    let mut out = Vec::new();
    for r in st.store.list_biz(&f).await? {
        out.push(recycling_view(st, &r, view).await?);
    }
    Ok(out)
}

/// One recycling order (`id` as the path gives it).
pub async fn recycling_order(
    st: &AppState,
    p: &Principal,
    id: &str,
) -> ApiResult<RecyclingOrderView> {
    p.require(Action::Read)?;
    let id = crate::services::parse_id(id, WHAT)?;
    let r = visible_record(st, p, RECYCLING_ORDER, id, WHAT).await?;
    recycling_view(st, &r, dom::personal_view(&p.roles)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    /// The idempotency key: the `recycle` event's id.
    id: Uuid,
    site_id: Uuid,
    codes: Vec<String>,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
}

/// The station received the order's empty cylinders (C4): one `recycle` event for the codes at the
/// site, naming the order and its customer, judged like any return; the order is confirmed in the
/// same commit. A retry with the same `id` answers the same.
pub async fn confirm_recycling_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<(BizRecord, i64)> {
    p.require(Action::ConfirmRecycling)?;
    let c: Confirm = parse(body)?;
    let mut errs = ValidationErrors::default();
    if c.codes.is_empty() {
        errs.push("codes", "请扫描收到的空瓶");
    }
    let mut codes = Vec::with_capacity(c.codes.len());
    for (i, code) in c.codes.iter().enumerate() {
        match CylinderCode::parse(code) {
            Ok(code) if codes.contains(&code) => errs.push(format!("codes[{i}]"), "重复的气瓶编码"),
            Ok(code) => codes.push(code),
            Err(m) => errs.push(format!("codes[{i}]"), m),
        }
    }
    errs.into_result(())?;
    let order = visible_record(st, p, RECYCLING_ORDER, id, WHAT).await?;
    let customer = order
        .ref_id
        .map(|u| Text::parse(&u.to_string()))
        .transpose()
        .map_err(ApiError::Internal)?;
    let event = Event {
        id: c.id,
        data: EventData::Recycle(Recycle {
            customer_id: customer,
            recycling_order_id: Some(id),
        }),
        codes,
        time: c.time.unwrap_or_else(|| st.now()),
        site_id: Some(c.site_id),
        operator: None,
        device: None,
        position: None,
    };
    let appended = submit(st, p, Submission::new(vec![event], Naming::Fields), audit)
        .await
        .map_err(api_error)?;
    let idx = appended.first().map_or(-1, |a| a.ledger_index);
    Ok((visible_record(st, p, RECYCLING_ORDER, id, WHAT).await?, idx))
}

/// Cancels an open order with the reason: its creator or the station.
pub async fn cancel_recycling_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct C {
        reason: Text,
    }
    let c: C = parse(body)?;
    let mut r = visible_record(st, p, RECYCLING_ORDER, id, WHAT).await?;
    let mut doc: RecyclingOrderDoc = doc_of(&r)?;
    if doc.created_by != Some(p.user_id) {
        p.require(Action::ConfirmRecycling)?;
    }
    let state = RecyclingState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("recycling order state {}", r.state)))?;
    r.state = state
        .cancel()
        .map_err(|m| ApiError::invalid("state", m))?
        .as_str()
        .to_owned();
    doc.cancel_reason = Some(c.reason);
    r.body = to_body(&doc)?;
    save(st, r).await
}
