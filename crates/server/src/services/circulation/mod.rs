//! Circulation and sales (issue 6, C1–C11), one module per area:
//!
//! - `transport`: vehicles, drivers and escorts, carrier documents, positions and waybills (C2);
//! - `customers`: customers registered once in the node and bound to dealers, deposits and
//!   cylinders held, account-opening progress (C5, C6);
//! - `orders`: orders and their delivery (C3, C11);
//! - `recycling`: recycling orders confirmed at the station (C4);
//! - `household`: household safety checks and rectification (C9, E8);
//! - `stock`: stock per site and stock-taking (C1);
//! - `trajectory`: a cylinder's flow table (C8);
//! - `scan`: the handheld's scan-to-act (G9), which records events through `record_events`;
//! - `guards`: the checks `POST /events` applies to circulation events, and what a stored batch
//!   moves afterwards (waybills).
//!
//! This module holds what they share: the record kinds, personal-data sealing and the record helpers.
//! Records live in the store's `biz_records` (JSON with the columns queries need). ID numbers are kept
//! SM4-encrypted under the node's personal-data key, and found again by a keyed SM3 hash of the
//! identity, so a person is registered once without the number being searchable in clear.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, FieldError, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::sm4::Sm4Key;
use crate::state::AppState;

// The areas below reach these through `super::` (their code moved here unchanged).
use super::{MAX_EVENTS_PER_REQUEST, MAX_FUTURE_SKEW, archives, envelope, files, get_cylinder};

mod customers;
mod household;
mod orders;
mod recycling;
mod scan;
mod stock;
mod trajectory;
mod transport;

pub use customers::{
    AddressView, CustomerDoc, CustomerView, ProgressRow, add_deposit, customer, customer_detail,
    customer_name, customer_view, deposits, holdings, list_customers, progress, register_customer,
    reveal_id, verify_customer,
};
pub use household::{
    CheckFilter, check_items, close_rectification, household_checks, household_checks_where,
    read_check_items, record_household_check, rectification_view, rectifications, reminders,
    set_check_items,
};
pub use orders::{
    DeliveryAddress, OrderView, cancel_order, create_order, deliver_order, dispatch_order,
    dispatch_to_first_courier, order, order_view, orders, shows_code,
};
pub use recycling::{
    RECYCLING_ORDER, RecyclingOrderView, RecyclingQuery as RecyclingOrderQuery,
    cancel_recycling_order, confirm_recycling_order, create_recycling_order, recycling_order,
    recycling_orders, recycling_view,
};
pub use scan::{ScanResult, scan};
pub use stock::{
    RecyclingQuery, StockRow, recycle_events, stock, stock_codes, stocktake, stocktakes,
};
pub use trajectory::{trajectory, trajectory_table};
pub use transport::{
    PositionView, StaffDoc, StaffView, TrackQuery, VehicleView, WaybillView, create_org_doc,
    create_staff, create_vehicle, create_waybill, latest_positions, list_staff, list_vehicles,
    list_waybills, org_docs, position_view, report_positions, staff_view, track, vehicle,
    vehicle_view, waybill, waybill_view,
};

pub use cyltrace_domain::circulation::record_kind::{
    BINDING, CUSTOMER, DEPOSIT, HOUSEHOLD_CHECK, ORDER, ORG_DOC, RECTIFICATION, STAFF, STOCKTAKE,
    VEHICLE, WAYBILL,
};
/// The node setting holding the household check items (JSON), when changed from the defaults.
const CHECK_ITEMS_SETTING: &str = "household_check_items";

// ---------------------------------------------------------------------------------------------
// Personal data at rest

/// The node's personal-data key from `path`, generated there (mode 0600) on first start.
pub fn load_pii_key(path: &Path) -> anyhow::Result<Sm4Key> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            super::ledger::check_private(path)?;
            Sm4Key::parse_hex(&s).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 16];
            getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let hex = hex::encode(k);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            super::ledger::write_private(path, hex.as_bytes())?;
            tracing::info!(path = %path.display(), "generated the node's personal-data key");
            Sm4Key::parse_hex(&hex).map_err(|e| anyhow::anyhow!(e))
        }
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    }
}

pub(crate) fn seal_text(st: &AppState, s: &str) -> ApiResult<Value> {
    let (iv, ct) = crate::sm4::encrypt(&st.pii_key, s.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(json!({"iv": hex::encode(iv), "c": hex::encode(ct)}))
}

fn open_text(st: &AppState, v: &Value) -> ApiResult<String> {
    let part = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| ApiError::Internal("sealed personal data is malformed".to_owned()))
    };
    let plain = crate::sm4::decrypt(&st.pii_key, &part("iv")?, &part("c")?)
        .map_err(|_| ApiError::Internal("personal data cannot be decrypted".to_owned()))?;
    String::from_utf8(plain).map_err(|_| ApiError::Internal("personal data is not text".to_owned()))
}

/// A keyed hash (HMAC-SM3) of an identity (`id:<number>`, `cc:<credit code>`): the unique key of a
/// person, without the number being searchable in clear.
fn identity_key(st: &AppState, identity: &str) -> String {
    hex::encode(
        st.pii_key
            .mac(&[b"cyltrace identity v1", identity.as_bytes()]),
    )
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

fn today(t: DateTime<Utc>) -> Date {
    Date(china_date(t))
}

fn parse<T: serde::de::DeserializeOwned>(body: &Value) -> ApiResult<T> {
    from_value(body, "").map_err(ApiError::from)
}

fn body_of<T: serde::de::DeserializeOwned>(r: &BizRecord, field: &str) -> ApiResult<T> {
    serde_json::from_value(r.body[field].clone())
        .map_err(|e| ApiError::Internal(format!("{} {} body.{field}: {e}", r.kind, r.id)))
}

/// A record's whole body as its typed document.
fn doc_of<T: serde::de::DeserializeOwned>(r: &BizRecord) -> ApiResult<T> {
    serde_json::from_value(r.body.clone())
        .map_err(|e| ApiError::Internal(format!("{} {}: {e}", r.kind, r.id)))
}

/// A typed document as a record's body.
fn to_body<T: serde::Serialize>(doc: &T) -> ApiResult<Value> {
    serde_json::to_value(doc).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The organisation a record is created for: the caller's own unless `org_id` names one in scope.
async fn owner(st: &AppState, p: &Principal, org_id: Option<Uuid>) -> ApiResult<Uuid> {
    let id = org_id.unwrap_or(p.org_id);
    let org = st
        .store
        .get_org(id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "机构不存在"))?;
    p.require_scope(&org.path, "该机构")?;
    Ok(id)
}

fn new_record(
    kind: &str,
    org_id: Uuid,
    key: Option<String>,
    ref_id: Option<Uuid>,
    state: &str,
    body: Value,
    now: DateTime<Utc>,
) -> BizRecord {
    BizRecord {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        org_id,
        org_path: String::new(),
        key,
        ref_id,
        state: state.to_owned(),
        due: None,
        body,
        created_at: now,
        updated_at: now,
    }
}

/// A record of `kind` the caller sees, or 404 / 403.
pub async fn visible_record(
    st: &AppState,
    p: &Principal,
    kind: &str,
    id: Uuid,
    what: &str,
) -> ApiResult<BizRecord> {
    let r = st
        .store
        .get_biz(kind, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{what}不存在")))?;
    p.require_scope(&r.org_path, what)?;
    Ok(r)
}

fn filter(kind: &str, scope: Option<Scope>, limit: i64, offset: i64) -> BizFilter {
    BizFilter {
        kind: kind.to_owned(),
        scope,
        limit,
        offset,
        ..Default::default()
    }
}

/// Writes a changed record; another writer in between → 409 (the caller retries).
async fn save(st: &AppState, mut r: BizRecord) -> ApiResult<BizRecord> {
    let expected = r.updated_at;
    r.updated_at = st.now().max(expected + Duration::microseconds(1));
    if st.store.update_biz(&r, expected).await? {
        Ok(r)
    } else {
        Err(ApiError::Conflict(
            "记录已被他人修改，请刷新后重试".to_owned(),
            vec![],
        ))
    }
}

fn conflict(field: &str, msg: String) -> ApiError {
    ApiError::Conflict(msg.clone(), vec![FieldError::new(field, msg)])
}

/// The query of the circulation lists (documented in the OpenAPI document).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Only records in this state (orders, rectification tasks).
    pub state: Option<String>,
    /// Only records of this customer (orders).
    pub customer_id: Option<Uuid>,
}

impl ListQuery {
    pub fn biz_filter(&self, kind: &str, p: &Principal) -> ApiResult<BizFilter> {
        let mut errs = ValidationErrors::default();
        let page = super::page(self.limit, self.offset, &mut errs);
        errs.into_result(())?;
        Ok(BizFilter {
            state: self.state.clone(),
            ref_id: self.customer_id,
            ..filter(kind, Some(p.scope()), page.limit, page.offset)
        })
    }
}

/// Splits an optional `org_id` off a body and parses the rest as `T`.
fn owned<T: serde::de::DeserializeOwned>(body: &Value) -> ApiResult<(Option<Uuid>, T)> {
    let mut b = body.clone();
    let org = match b.as_object_mut().and_then(|m| m.remove("org_id")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Uuid>(v)
                .map_err(|_| ApiError::invalid("org_id", "应为机构 id（UUID）"))?,
        ),
    };
    Ok((org, parse(&b)?))
}

/// Records of `kind` in the caller's scope (the API's list query: state, customer, paging).
async fn list_in_scope(
    st: &AppState,
    p: &Principal,
    kind: &str,
    q: &ListQuery,
) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    let f = q.biz_filter(kind, p)?;
    Ok(st.store.list_biz(&f).await?)
}

/// The newest `limit` records of `kind` in the caller's scope (the consoles' lists).
pub async fn records(
    st: &AppState,
    p: &Principal,
    kind: &str,
    limit: i64,
) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_biz(&filter(kind, Some(p.scope()), limit, 0))
        .await?)
}

/// A record of the caller's scope as the API shows it: its body with `id` and the given columns.
fn with_columns(r: &BizRecord, columns: &[&str]) -> Value {
    let mut v = r.body.clone();
    v["id"] = json!(r.id);
    for c in columns {
        v[*c] = match *c {
            "org_id" => json!(r.org_id),
            "state" => json!(r.state),
            "created_at" => json!(r.created_at),
            _ => Value::Null,
        };
    }
    v
}
