//! Gas ordered from the page behind a label (预约订气, F3): anyone who scans a cylinder may leave a
//! name, a phone, an address and a preferred time; the request lands with the cylinder's enterprise
//! (a business record of kind `order_request`, state `new`), which calls back, turns it into a
//! normal order for one of its customers (`converted`, with the order's id) or dismisses it.
//!
//! The request carries personal data: the enterprise (its admins and couriers) sees it in full, any
//! other role in scope (a regulator) masked; it is never written to the logs or the audit notes.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{self as dom, PersonalView, Phone, personal_view};
use cyltrace_domain::time::{china_date, cst};
use cyltrace_domain::{CylinderCode, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use super::circulation::{self as circ, visible_record};
use super::notices::{new_record, text_of};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The record kind of a public order request.
pub const ORDER_REQUEST: &str = "order_request";
/// How far ahead a delivery may be asked for.
pub const MAX_DAYS_AHEAD: i64 = 30;
/// Most cylinders one request asks for.
pub const MAX_QUANTITY: u32 = 5;

/// The times of day a delivery may be asked for: (value, label, first hour, last hour).
pub const SLOTS: [(&str, &str, u32, u32); 3] = [
    ("morning", "上午 8:00–12:00", 8, 12),
    ("afternoon", "下午 12:00–18:00", 12, 18),
    ("evening", "晚上 18:00–21:00", 18, 21),
];

fn slot(value: &str) -> Option<(&'static str, &'static str, u32, u32)> {
    SLOTS.iter().copied().find(|s| s.0 == value)
}

/// A request's state in Chinese.
pub fn state_zh(s: &str) -> &'static str {
    match s {
        "new" => "待回电",
        "called" => "已回电",
        "converted" => "已转订单",
        "dismissed" => "不受理",
        _ => "—",
    }
}

/// What the order form sends (all text, as typed).
#[derive(Debug, Default, Clone)]
pub struct OrderRequestInput {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub date: String,
    pub slot: String,
    pub quantity: String,
    pub remark: String,
}

fn text(
    errs: &mut ValidationErrors,
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> String {
    let v = value.trim();
    if required && v.is_empty() {
        errs.push(field, "不能为空");
    } else if v.chars().count() > max {
        errs.push(field, format!("不能超过 {max} 个字"));
    }
    v.to_owned()
}

/// A request from the public (F3) for the enterprise that owns `cylinder`. Every field is judged
/// before anything is stored; each refused one is named. Answers the request's id.
pub async fn submit_order_request(
    st: &AppState,
    cylinder: &CylinderCode,
    org: Uuid,
    f: &OrderRequestInput,
) -> ApiResult<Uuid> {
    let mut errs = ValidationErrors::default();
    let name = text(&mut errs, "name", &f.name, 20, true);
    let phone = match Phone::parse(&f.phone) {
        Ok(p) => p.as_str().to_owned(),
        Err(_) if f.phone.trim().is_empty() => {
            errs.push("phone", "请填写联系电话");
            String::new()
        }
        Err(_) => {
            errs.push(
                "phone",
                "电话号码格式不正确（11 位手机号或带区号的固定电话，如 0871-68881234）",
            );
            String::new()
        }
    };
    let address = text(&mut errs, "address", &f.address, 200, true);
    let today = china_date(st.now());
    match NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d") {
        Ok(d) if d < today => errs.push("date", "日期不能早于今天"),
        Ok(d) if (d - today).num_days() > MAX_DAYS_AHEAD => {
            errs.push("date", format!("只能预约 {MAX_DAYS_AHEAD} 天以内"))
        }
        Ok(_) => {}
        Err(_) => errs.push("date", "请选择送气日期"),
    }
    if slot(f.slot.trim()).is_none() {
        errs.push("slot", "请选择送气时段");
    }
    let quantity = match f.quantity.trim() {
        "" => 1,
        q => match q.parse::<u32>() {
            Ok(n) if (1..=MAX_QUANTITY).contains(&n) => n,
            _ => {
                errs.push("quantity", format!("数量应为 1–{MAX_QUANTITY} 瓶"));
                1
            }
        },
    };
    let remark = text(&mut errs, "remark", &f.remark, 200, false);
    errs.into_result(())?;
    let body = json!({
        "source": "scan", "cylinder": cylinder.as_str(), "name": name, "phone": phone,
        "address": address, "date": f.date.trim(), "slot": f.slot.trim(), "quantity": quantity,
        "remark": remark,
    });
    let r = new_record(st, ORDER_REQUEST, org, "new", body);
    st.store.insert_biz(&r).await?;
    Ok(r.id)
}

/// A request as the console shows it, personal data as the caller's roles may see it.
pub struct OrderRequestView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub cylinder: String,
    pub name: String,
    pub phone: String,
    pub address: String,
    /// `2026-11-21 上午 8:00–12:00`.
    pub preferred: String,
    pub quantity: u64,
    pub remark: String,
    pub state: String,
    /// The order it became.
    pub order_id: Option<Uuid>,
}

fn view_of(r: &BizRecord, view: PersonalView) -> OrderRequestView {
    let name = text_of(r, "name");
    let phone = text_of(r, "phone");
    let address = text_of(r, "address");
    let (name, phone, address) = match view {
        PersonalView::Contact => (name, phone, address),
        PersonalView::Masked => (
            dom::mask_name(&name),
            Phone::parse(&phone).map_or_else(|_| "—".to_owned(), |p| p.masked()),
            dom::mask_address(&address),
        ),
    };
    let slot_label = slot(&text_of(r, "slot")).map_or("", |s| s.1);
    OrderRequestView {
        id: r.id,
        org_id: r.org_id,
        created_at: r.created_at,
        cylinder: text_of(r, "cylinder"),
        name,
        phone,
        address,
        preferred: format!("{} {slot_label}", text_of(r, "date")),
        quantity: r.body["quantity"].as_u64().unwrap_or(1),
        remark: text_of(r, "remark"),
        state: r.state.clone(),
        order_id: r.body["order_id"].as_str().and_then(|s| s.parse().ok()),
    }
}

/// Requests for the organisations in the caller's scope, newest first (`state` to filter).
pub async fn order_requests(
    st: &AppState,
    p: &Principal,
    state: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<OrderRequestView>> {
    p.require(Action::Read)?;
    let rows = st
        .store
        .list_biz(&BizFilter {
            kind: ORDER_REQUEST.to_owned(),
            scope: Some(p.scope()),
            state: state.map(str::to_owned),
            limit,
            ..Default::default()
        })
        .await?;
    let view = personal_view(&p.roles);
    Ok(rows.iter().map(|r| view_of(r, view)).collect())
}

/// One request of the caller's scope.
pub async fn order_request(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<OrderRequestView> {
    p.require(Action::Read)?;
    let r = visible_record(st, p, ORDER_REQUEST, id, "订气申请").await?;
    Ok(view_of(&r, personal_view(&p.roles)))
}

async fn save(st: &AppState, mut r: BizRecord) -> ApiResult<()> {
    let expected = r.updated_at;
    r.updated_at = st.now().max(expected + chrono::Duration::microseconds(1));
    if st.store.update_biz(&r, expected).await? {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "该申请已被他人处理，请刷新".to_owned(),
            vec![],
        ))
    }
}

/// An open request (new or called back) of the caller's scope, for someone who manages orders.
async fn open_request(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    p.require(Action::ManageOrders)?;
    let r = visible_record(st, p, ORDER_REQUEST, id, "订气申请").await?;
    if !matches!(r.state.as_str(), "new" | "called") {
        return Err(ApiError::Conflict(
            format!("该申请{}，不能再处理", state_zh(&r.state)),
            vec![],
        ));
    }
    Ok(r)
}

/// Marks a request called back (`called`) or dismissed (`dismissed`).
pub async fn set_request_state(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    state: &str,
) -> ApiResult<()> {
    if !matches!(state, "called" | "dismissed") {
        return Err(ApiError::NotFound("未知的操作".to_owned()));
    }
    let mut r = open_request(st, p, id).await?;
    r.state = state.to_owned();
    r.body["handled_by"] = json!(p.username);
    save(st, r).await
}

/// When the visitor asked for the gas: the start of the chosen slot on the chosen day (China time),
/// or now when that is past.
fn requested_at(r: &BizRecord, now: DateTime<Utc>) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(&text_of(r, "date"), "%Y-%m-%d").ok();
    let hour = slot(&text_of(r, "slot")).map_or(8, |s| s.2);
    day.and_then(|d| {
        cst()
            .from_local_datetime(&d.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?))
            .single()
    })
    .map(|t| t.with_timezone(&Utc))
    .filter(|t| *t > now)
    .unwrap_or(now)
}

/// Turns a request into an order for `customer_id` (a customer the caller may order for), with the
/// quantity, medium and specification the enterprise settled on the phone. Answers the order's id.
pub async fn convert_request(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    customer_id: &str,
    quantity: &str,
    medium: &str,
    spec: &str,
) -> ApiResult<Uuid> {
    let r = open_request(st, p, id).await?;
    let mut errs = ValidationErrors::default();
    if customer_id.trim().parse::<Uuid>().is_err() {
        errs.push("customer_id", "请选择用户（新用户请先在“用户管理”中开户）");
    }
    let qty: Value = quantity
        .trim()
        .parse::<u32>()
        .map_or_else(|_| json!(quantity.trim()), |n| json!(n));
    errs.into_result(())?;
    let remark = match text_of(&r, "remark") {
        rm if rm.is_empty() => "来源：扫码订气".to_owned(),
        rm => format!("来源：扫码订气；{rm}"),
    };
    let body = json!({
        "org_id": r.org_id, "customer_id": customer_id.trim(), "address_index": 0,
        "requested_at": requested_at(&r, st.now()), "remark": remark,
        "items": [{"medium": medium.trim(), "spec": spec.trim(), "quantity": qty}],
    });
    let order = circ::create_order(st, p, &body).await?;
    let mut r = r;
    r.state = "converted".to_owned();
    r.body["order_id"] = json!(order.id);
    r.body["handled_by"] = json!(p.username);
    save(st, r).await?;
    Ok(order.id)
}

/// The day a request form offers first (today, China time) and last.
pub fn date_range(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = china_date(now);
    (today, today + chrono::Duration::days(MAX_DAYS_AHEAD))
}

/// The enterprise a request from the page of `code` goes to: the cylinder, the enterprise's id,
/// name and service phone (when it recorded one).
pub struct Target {
    pub cylinder: CylinderCode,
    pub org_id: Uuid,
    pub org_name: String,
    pub phone: Option<String>,
}

/// The target of an order request from the page of `code`; 404 for a code that is no cylinder here.
pub async fn target(st: &AppState, code: &str) -> ApiResult<Target> {
    let (cylinder, org_id) = super::complaints::complaint_target(st, code).await?;
    let org = st.store.get_org(org_id).await?;
    Ok(Target {
        cylinder,
        org_id,
        org_name: org.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
        phone: org.and_then(|o| o.phone).filter(|p| !p.trim().is_empty()),
    })
}
