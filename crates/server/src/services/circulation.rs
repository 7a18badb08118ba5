//! Circulation and sales (issue 6, C1–C11): vehicles, drivers and escorts, waybills and positions;
//! customers (registered once in the node, bound to dealers), deposits and cylinders held; orders and
//! their delivery; household safety checks and rectification; stock and stock-taking; the cylinder's
//! flow table; the guards `POST /events` applies to circulation events; handheld scan-to-act.
//!
//! Records live in the store's `biz_records` (JSON with the columns queries need). ID numbers are kept
//! SM4-encrypted under the node's personal-data key, and found again by a keyed SM3 hash of the
//! identity, so a person is registered once without the number being searchable in clear.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, Certificate, CheckItem, Confirmation, Deposit, Holdings, NewCustomer,
    NewHouseholdCheck, NewOrder, NewWaybill, OrderState, PersonalView, Plate, ScanAction, Staff,
    Stocktake, TrajectoryRow, Vehicle, personal_view,
};
use cyltrace_domain::event::{Deliver, Recycle, VehicleMove};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{
    CylinderCode, CylinderStatus, Date, Event, EventData, EventKind, FieldError, Role, Text,
    ValidationErrors,
};
use cyltrace_store::{BizFilter, BizRecord, CylinderRecord, Scope, StoreError, VehiclePosition};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::sm4::Sm4Key;
use crate::state::AppState;

pub const VEHICLE: &str = "vehicle";
pub const STAFF: &str = "staff";
pub const WAYBILL: &str = "waybill";
pub const CUSTOMER: &str = "customer";
pub const BINDING: &str = "binding";
pub const ORDER: &str = "order";
pub const DEPOSIT: &str = "deposit";
pub const HOUSEHOLD_CHECK: &str = "household_check";
pub const RECTIFICATION: &str = "rectification";
pub const STOCKTAKE: &str = "stocktake";
pub const ORG_DOC: &str = "org_doc";
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub state: Option<String>,
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

// ---------------------------------------------------------------------------------------------
// Vehicles, drivers and escorts, carrier documents (C2)

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

pub async fn create_vehicle(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::ManageTransport)?;
    let (org, v): (_, Vehicle) = owned(body)?;
    let org_id = owner(st, p, org).await?;
    let r = new_record(
        VEHICLE,
        org_id,
        Some(v.plate.as_str().to_owned()),
        None,
        "active",
        json!({"vehicle": v}),
        st.now(),
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict(
            "plate",
            format!("车牌号 {} 已登记", v.plate.as_str()),
        )),
        other => other.map(|()| r).map_err(Into::into),
    }
}

pub fn vehicle_view(r: &BizRecord, today: Date) -> ApiResult<Value> {
    let v: Vehicle = body_of(r, "vehicle")?;
    let mut out = serde_json::to_value(&v).unwrap_or_default();
    out["id"] = json!(r.id);
    out["org_id"] = json!(r.org_id);
    out["permit_valid"] = json!(v.refusal(today).is_none());
    Ok(out)
}

pub async fn create_staff(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::ManageTransport)?;
    let (org, s): (_, Staff) = owned(body)?;
    let org_id = owner(st, p, org).await?;
    if let Some(u) = s.user_id {
        let user = st
            .store
            .get_user(u)
            .await?
            .ok_or_else(|| ApiError::invalid("user_id", "用户不存在"))?;
        p.require_scope(&user.org_path, "该用户")?;
    }
    let key = format!(
        "{}:{}",
        serde_json::to_value(s.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        identity_key(st, &format!("id:{}", s.id_number.as_str()))
    );
    let r = new_record(
        STAFF,
        org_id,
        Some(key),
        None,
        "active",
        json!({
            "certificate": s.certificate(),
            "phone": s.phone,
            "id_masked": s.id_number.masked(),
            "id_sealed": seal_text(st, s.id_number.as_str())?,
            "user_id": s.user_id,
        }),
        st.now(),
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict(
            "id_number",
            format!("该人员已登记为{}", s.role.label_zh()),
        )),
        other => other.map(|()| r).map_err(Into::into),
    }
}

pub fn staff_view(r: &BizRecord, view: PersonalView, today: Date) -> ApiResult<Value> {
    let c: Certificate = body_of(r, "certificate")?;
    let phone = r.body["phone"].as_str().unwrap_or_default();
    let phone = match (view, dom::Phone::parse(phone)) {
        (PersonalView::Contact, _) => phone.to_owned(),
        (PersonalView::Masked, Ok(ph)) => ph.masked(),
        (PersonalView::Masked, Err(_)) => "***".to_owned(),
    };
    Ok(json!({
        "id": r.id, "org_id": r.org_id, "role": c.role, "name": c.name,
        "id_number": r.body["id_masked"], "phone": phone,
        "certificate_no": c.certificate_no, "certificate_valid_until": c.certificate_valid_until,
        "certificate_valid": c.refusal(today).is_none(), "user_id": r.body["user_id"],
    }))
}

pub async fn create_org_doc(
    st: &AppState,
    p: &Principal,
    org_id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        /// e.g. 道路危险货物运输经营许可证
        kind: Text,
        number: Text,
        #[serde(default)]
        valid_until: Option<Date>,
        /// SM3 of a file uploaded through `POST /api/v1/files`.
        file: String,
    }
    p.require(Action::ManageTransport)?;
    let d: Doc = parse(body)?;
    let org_id = owner(st, p, Some(org_id)).await?;
    if !super::files::exists(st, &super::files::reference(&d.file)) {
        return Err(ApiError::invalid(
            "file",
            "文件不存在，请先上传（POST /api/v1/files）",
        ));
    }
    let r = new_record(
        ORG_DOC,
        org_id,
        None,
        Some(org_id),
        "active",
        json!(d),
        st.now(),
    );
    st.store.insert_biz(&r).await?;
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionIn {
    time: DateTime<Utc>,
    lat: f64,
    lon: f64,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    heading: Option<f64>,
}

/// Stores positions of a vehicle reported by its driver's phone or an HTTP terminal.
pub async fn report_positions(
    st: &AppState,
    p: &Principal,
    vehicle_id: Uuid,
    body: &Value,
) -> ApiResult<usize> {
    p.require(Action::ReportPosition)?;
    let v = visible_record(st, p, VEHICLE, vehicle_id, "车辆").await?;
    let list = super::envelope(body, "positions", 1000)?;
    let mut errs = ValidationErrors::default();
    let mut points = Vec::with_capacity(list.len());
    let now = st.now();
    for (i, item) in list.iter().enumerate() {
        let at = format!("positions[{i}]");
        match from_value::<PositionIn>(item, &at) {
            Ok(pt) => {
                let mut e = ValidationErrors::default();
                cyltrace_domain::org::check_position(Some(pt.lat), Some(pt.lon), &mut e);
                if pt.time > now + super::MAX_FUTURE_SKEW {
                    e.push("time", "时间晚于服务器当前时间");
                }
                if pt.speed.is_some_and(|s| !(0.0..=300.0).contains(&s)) {
                    e.push("speed", "速度应在 0–300 km/h");
                }
                if pt.heading.is_some_and(|h| !(0.0..360.0).contains(&h)) {
                    e.push("heading", "方向应在 0–360 度");
                }
                errs.extend_under(&at, e);
                points.push(VehiclePosition {
                    vehicle_id,
                    org_id: v.org_id,
                    time: pt.time,
                    lat: pt.lat,
                    lon: pt.lon,
                    speed: pt.speed,
                    heading: pt.heading,
                });
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    st.store.insert_positions(&points, now).await?;
    Ok(points.len())
}

pub fn position_view(v: &VehiclePosition, plate: Option<&str>) -> Value {
    json!({"vehicle_id": v.vehicle_id, "plate": plate, "time": v.time, "lat": v.lat, "lon": v.lon,
           "speed": v.speed, "heading": v.heading})
}

/// The latest position of each vehicle in scope, with its plate.
pub async fn latest_positions(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let points = st.store.latest_positions(&p.scope()).await?;
    let mut out = Vec::with_capacity(points.len());
    for pt in &points {
        let plate = st
            .store
            .get_biz(VEHICLE, pt.vehicle_id)
            .await?
            .and_then(|r| r.key);
        out.push(position_view(pt, plate.as_deref()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Waybills (C2)

async fn certificate_of(st: &AppState, id: Uuid) -> ApiResult<Option<(BizRecord, Certificate)>> {
    match st.store.get_biz(STAFF, id).await? {
        Some(r) => {
            let c = body_of(&r, "certificate")?;
            Ok(Some((r, c)))
        }
        None => Ok(None),
    }
}

pub async fn create_waybill(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::ManageTransport)?;
    let w: NewWaybill = parse(body)?;
    w.validate()?;
    let now = st.now();
    let mut errs = ValidationErrors::default();
    let origin = st.store.get_site(w.origin_site_id).await?;
    match &origin {
        None => errs.push("origin_site_id", "站点不存在"),
        Some(s) => p.require_scope(&s.org_path, "起运站点")?,
    }
    if let Some(d) = w.destination_site_id
        && st.store.get_site(d).await?.is_none()
    {
        errs.push("destination_site_id", "站点不存在");
    }
    let vehicle = st.store.get_biz(VEHICLE, w.vehicle_id).await?;
    if vehicle.is_none() {
        errs.push("vehicle_id", "车辆不存在");
    }
    let driver = certificate_of(st, w.driver_id).await?;
    if driver.is_none() {
        errs.push("driver_id", "驾驶员不存在");
    }
    let escort = match w.escort_id {
        Some(id) => {
            let e = certificate_of(st, id).await?;
            if e.is_none() {
                errs.push("escort_id", "押运员不存在");
            }
            e
        }
        None => None,
    };
    errs.into_result(())?;
    let (vehicle, (driver_rec, driver)) = (vehicle.expect("checked"), driver.expect("checked"));
    for r in [
        Some(&vehicle),
        Some(&driver_rec),
        escort.as_ref().map(|e| &e.0),
    ]
    .into_iter()
    .flatten()
    {
        p.require_scope(&r.org_path, "车辆或人员")?;
    }
    let v: Vehicle = body_of(&vehicle, "vehicle")?;
    // C2: a vehicle without a valid permit, a driver or escort without a valid certificate cannot
    // be assigned to a waybill.
    let refusals = dom::transport_refusals(
        &v,
        &driver,
        escort.as_ref().map(|e| &e.1),
        today(w.depart_at.max(now)),
    );
    if !refusals.is_empty() {
        return Err(ApiError::Invalid(ValidationErrors(
            refusals
                .into_iter()
                .map(|(f, m)| FieldError::new(f, m))
                .collect(),
        )));
    }
    let org_id = origin.expect("checked").org_id;
    let number = match &w.number {
        Some(n) => n.as_str().to_owned(),
        None => format!(
            "YD{}{:04}",
            china_date(now).format("%Y%m%d"),
            rand::random::<u16>() % 10_000
        ),
    };
    let r = new_record(
        WAYBILL,
        org_id,
        Some(number.clone()),
        Some(w.vehicle_id),
        "created",
        json!({
            "number": number, "waybill": w, "plate": v.plate,
            "driver": driver, "escort": escort.map(|e| e.1),
            "loaded": [], "unloaded": [],
        }),
        now,
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict("number", format!("运单号 {number} 已存在"))),
        other => other.map(|()| r).map_err(Into::into),
    }
}

pub fn waybill_view(r: &BizRecord) -> Value {
    let mut v = r.body.clone();
    v["id"] = json!(r.id);
    v["org_id"] = json!(r.org_id);
    v["state"] = json!(r.state);
    v["created_at"] = json!(r.created_at);
    v
}

/// Adds loaded / unloaded codes to the waybill after the events are stored (idempotent: sets).
async fn note_on_waybill(
    st: &AppState,
    number: &str,
    kind: EventKind,
    codes: &[CylinderCode],
) -> ApiResult<()> {
    for _ in 0..5 {
        let Some(mut r) = st.store.biz_by_key(WAYBILL, number).await? else {
            return Ok(());
        };
        let field = if kind == EventKind::Load {
            "loaded"
        } else {
            "unloaded"
        };
        let mut set: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body[field].clone()).unwrap_or_default();
        let before = set.len();
        set.extend(codes.iter().map(|c| c.as_str().to_owned()));
        if set.len() == before {
            return Ok(());
        }
        r.body[field] = json!(set);
        let loaded: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body["loaded"].clone()).unwrap_or_default();
        let unloaded: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body["unloaded"].clone()).unwrap_or_default();
        r.state = if !loaded.is_empty() && loaded.is_subset(&unloaded) {
            "done"
        } else {
            "in_transit"
        }
        .to_owned();
        match save(st, r).await {
            Ok(_) => return Ok(()),
            Err(ApiError::Conflict(..)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Conflict(
        "运单正被同时修改，请重试".to_owned(),
        vec![],
    ))
}

// ---------------------------------------------------------------------------------------------
// Guards on circulation events

/// Checks the circulation events of a batch before they are stored: vehicles and drivers of
/// `load`/`unload` (C2), the cylinder guards (`deliver` only a full cylinder that may be used,
/// `recycle` only from the customer who holds it …), customers and orders named. Events whose id is
/// already stored are retries and are not checked again. Every refusal names the field.
pub async fn guard_events(
    st: &AppState,
    p: &Principal,
    events: &[Event],
    cylinders: &HashMap<CylinderCode, Option<CylinderRecord>>,
) -> ApiResult<()> {
    let mut errs = ValidationErrors::default();
    let mut statuses: HashMap<&CylinderCode, CylinderStatus> = HashMap::new();
    let mut my_staff: Option<Option<Certificate>> = None;
    for (i, e) in events.iter().enumerate() {
        let circulation = matches!(
            e.kind(),
            EventKind::StoreIn
                | EventKind::StoreOut
                | EventKind::Load
                | EventKind::Unload
                | EventKind::Deliver
                | EventKind::Recycle
        );
        if !circulation || st.store.get_event(e.id).await?.is_some() {
            continue;
        }
        let at = |f: &str| format!("events[{i}].{f}");
        let day = today(e.time);
        match &e.data {
            EventData::Load(m) | EventData::Unload(m) => {
                transport_guard(st, p, m, day, &at, &mut errs, &mut my_staff).await?;
            }
            EventData::Deliver(d) => {
                if let Some(c) = &d.customer_id {
                    customer_guard(st, p, c.as_str(), &at("data.customer_id"), &mut errs).await?;
                }
                if let Some(o) = &d.order_id {
                    order_guard(st, p, o.as_str(), d.customer_id.as_ref(), &at, &mut errs).await?;
                }
            }
            EventData::Recycle(Recycle {
                customer_id: Some(c),
            }) => {
                customer_guard(st, p, c.as_str(), &at("data.customer_id"), &mut errs).await?;
            }
            _ => {}
        }
        for (j, code) in e.codes.iter().enumerate() {
            let Some(Some(rec)) = cylinders.get(code) else {
                continue;
            };
            let status = statuses.entry(code).or_insert_with(|| rec.status.clone());
            for reason in dom::cylinder_refusals(&e.data, &rec.archive, status, day) {
                errs.push(at(&format!("codes[{j}]")), format!("气瓶 {code}：{reason}"));
            }
            status.apply(e);
        }
    }
    errs.into_result(()).map_err(ApiError::from)
}

#[allow(clippy::too_many_arguments)]
async fn transport_guard(
    st: &AppState,
    p: &Principal,
    m: &VehicleMove,
    day: Date,
    at: &(dyn Fn(&str) -> String + Sync),
    errs: &mut ValidationErrors,
    my_staff: &mut Option<Option<Certificate>>,
) -> ApiResult<()> {
    let plate = match Plate::parse(m.vehicle.as_str()) {
        Ok(pl) => pl,
        Err(e) => {
            errs.push(at("data.vehicle"), e);
            return Ok(());
        }
    };
    let Some(vrec) = st.store.biz_by_key(VEHICLE, plate.as_str()).await? else {
        errs.push(
            at("data.vehicle"),
            format!("车辆 {} 未登记", plate.as_str()),
        );
        return Ok(());
    };
    let v: Vehicle = body_of(&vrec, "vehicle")?;
    if let Some(r) = v.refusal(day) {
        errs.push(at("data.vehicle"), r);
    }
    if let Some(number) = &m.waybill {
        let Some(w) = st.store.biz_by_key(WAYBILL, number.as_str()).await? else {
            errs.push(at("data.waybill"), format!("运单 {number} 不存在"));
            return Ok(());
        };
        if !p.sees(&w.org_path) {
            errs.push(at("data.waybill"), "该运单不在您的数据权限范围内");
            return Ok(());
        }
        if w.ref_id != Some(vrec.id) {
            errs.push(
                at("data.vehicle"),
                format!(
                    "运单 {number} 的车辆是 {}",
                    w.body["plate"].as_str().unwrap_or("?")
                ),
            );
        }
        // The people's certificates as registered now (a renewal after the waybill counts).
        let waybill: NewWaybill = body_of(&w, "waybill")?;
        for (id, field) in [
            (Some(waybill.driver_id), "driver"),
            (waybill.escort_id, "escort"),
        ] {
            if let Some(id) = id
                && let Some((_, c)) = certificate_of(st, id).await?
                && let Some(r) = c.refusal(day)
            {
                errs.push(at("data.waybill"), format!("运单 {number}：{r}（{field}）"));
            }
        }
    } else {
        // Without a waybill, the recording person must be a registered driver with a valid
        // certificate.
        if my_staff.is_none() {
            let mut found = None;
            for r in st
                .store
                .list_biz(&filter(STAFF, Some(Scope(p.org_path.clone())), 500, 0))
                .await?
            {
                if r.body["user_id"].as_str() == Some(p.user_id.to_string().as_str()) {
                    found = Some(body_of::<Certificate>(&r, "certificate")?);
                    break;
                }
            }
            *my_staff = Some(found);
        }
        match my_staff.as_ref().expect("looked up") {
            Some(c) if c.role == dom::StaffRole::Driver => {
                if let Some(r) = c.refusal(day) {
                    errs.push(at("data.vehicle"), r);
                }
            }
            _ => errs.push(
                at("data.waybill"),
                "装卸车须填写电子运单号，或由已登记从业资格证的驾驶员本人记录",
            ),
        }
    }
    Ok(())
}

async fn customer_guard(
    st: &AppState,
    p: &Principal,
    id: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> ApiResult<()> {
    let Ok(uuid) = Uuid::parse_str(id) else {
        errs.push(field, "用户 id 应为已登记用户的 id");
        return Ok(());
    };
    // Holdings are matched on the id's text: only the canonical form is accepted.
    if uuid.to_string() != id {
        errs.push(field, format!("用户 id 应写作小写带连字符的形式：{uuid}"));
        return Ok(());
    }
    if st.store.get_biz(CUSTOMER, uuid).await?.is_none() {
        errs.push(field, "用户未登记");
    } else if !bound_in_scope(st, p, uuid).await? {
        errs.push(field, "该用户未在您的单位开户");
    }
    Ok(())
}

async fn bound_in_scope(st: &AppState, p: &Principal, customer: Uuid) -> ApiResult<bool> {
    let f = BizFilter {
        ref_id: Some(customer),
        ..filter(BINDING, Some(p.scope()), 1, 0)
    };
    Ok(!st.store.list_biz(&f).await?.is_empty())
}

async fn order_guard(
    st: &AppState,
    p: &Principal,
    order: &str,
    customer: Option<&Text>,
    at: &(dyn Fn(&str) -> String + Sync),
    errs: &mut ValidationErrors,
) -> ApiResult<()> {
    let rec = match Uuid::parse_str(order) {
        Ok(id) => st.store.get_biz(ORDER, id).await?,
        Err(_) => st.store.biz_by_key(ORDER, order).await?,
    };
    match rec {
        None => errs.push(at("data.order_id"), "订单不存在"),
        Some(o) if !p.sees(&o.org_path) => {
            errs.push(at("data.order_id"), "该订单不在您的数据权限范围内")
        }
        Some(o) => {
            let oc = o.ref_id.map(|u| u.to_string());
            if customer.map(|c| c.as_str().to_owned()) != oc {
                errs.push(at("data.customer_id"), "与订单的用户不一致");
            }
        }
    }
    Ok(())
}

/// After a batch is stored: what other records it moves (waybills).
pub async fn after_append(st: &AppState, events: &[Event]) -> ApiResult<()> {
    for e in events {
        if let EventData::Load(m) | EventData::Unload(m) = &e.data
            && let Some(w) = &m.waybill
        {
            note_on_waybill(st, w.as_str(), e.kind(), &e.codes).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Customers (C5, C6)

/// Registers a customer once in the node and binds them to the caller's organisation (or `org_id`,
/// a dealer in scope). A person already registered (same ID number or credit code) is not created
/// again: they are bound and their id answered. Answers (customer, created, newly bound).
pub async fn register_customer(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(BizRecord, bool, bool)> {
    p.require(Action::RegisterCustomers)?;
    let (org, c): (_, NewCustomer) = owned(body)?;
    c.validate()?;
    let org_id = owner(st, p, org).await?;
    let key = identity_key(st, &c.identity());
    let now = st.now();
    let existing = st.store.biz_by_key(CUSTOMER, &key).await?;
    let (rec, created) = match existing {
        Some(r) => (r, false),
        None => {
            let id_sealed = match &c.id_number {
                Some(id) => seal_text(st, id.as_str())?,
                None => Value::Null,
            };
            let r = new_record(
                CUSTOMER,
                org_id,
                Some(key.clone()),
                None,
                "unverified",
                json!({
                    "kind": c.kind, "name": c.name, "phone": c.phone, "addresses": c.addresses,
                    "credit_code": c.credit_code, "contact": c.contact,
                    "id_masked": c.id_number.as_ref().map(|i| i.masked()),
                    "id_sealed": id_sealed,
                }),
                now,
            );
            match st.store.insert_biz(&r).await {
                Ok(()) => (r, true),
                // Registered at the same moment by another dealer: use that one.
                Err(StoreError::Conflict(_)) => (
                    st.store
                        .biz_by_key(CUSTOMER, &key)
                        .await?
                        .ok_or_else(|| ApiError::Internal("customer vanished".to_owned()))?,
                    false,
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let bound = bind(st, rec.id, org_id, now).await?;
    Ok((rec, created, bound))
}

/// Binds a customer to a dealer organisation; false when already bound.
async fn bind(st: &AppState, customer: Uuid, org_id: Uuid, now: DateTime<Utc>) -> ApiResult<bool> {
    let b = new_record(
        BINDING,
        org_id,
        Some(format!("{customer}/{org_id}")),
        Some(customer),
        "active",
        json!({}),
        now,
    );
    match st.store.insert_biz(&b).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A customer the caller may see: bound to an organisation in scope (or registered by one).
pub async fn customer(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    let r = st
        .store
        .get_biz(CUSTOMER, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("用户不存在".to_owned()))?;
    if p.sees(&r.org_path) || bound_in_scope(st, p, id).await? {
        Ok(r)
    } else {
        Err(ApiError::Forbidden(
            "该用户不在您的数据权限范围内".to_owned(),
        ))
    }
}

/// A customer as the caller may see them: contact data in full for roles that deliver, masked for
/// the others; the ID number always masked (see [`reveal_id`]).
pub fn customer_view(r: &BizRecord, view: PersonalView) -> Value {
    let b = &r.body;
    let name = b["name"].as_str().unwrap_or_default();
    let phone = b["phone"].as_str().unwrap_or_default();
    let mut addresses = b["addresses"].clone();
    let (name, phone) = match view {
        PersonalView::Contact => (name.to_owned(), phone.to_owned()),
        PersonalView::Masked => {
            if let Some(list) = addresses.as_array_mut() {
                for a in list {
                    let text = a["address"].as_str().unwrap_or_default().to_owned();
                    a["address"] = json!(dom::mask_address(&text));
                    if let Some(m) = a.as_object_mut() {
                        m.remove("lat");
                        m.remove("lon");
                    }
                }
            }
            let commercial = b["kind"] == "commercial";
            (
                if commercial {
                    name.to_owned()
                } else {
                    dom::mask_name(name)
                },
                dom::Phone::parse(phone).map_or_else(|_| "***".to_owned(), |p| p.masked()),
            )
        }
    };
    json!({
        "id": r.id, "kind": b["kind"], "name": name, "phone": phone, "addresses": addresses,
        "id_number": b["id_masked"], "credit_code": b["credit_code"], "contact": b["contact"],
        "real_name_verified": r.state == "verified", "verified_at": b["verified_at"],
        "registered_by_org_id": r.org_id, "created_at": r.created_at,
    })
}

/// The full ID number, for roles that may see it; the caller records the read in the audit log.
pub async fn reveal_id(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<String> {
    if !dom::may_reveal_id(&p.roles) {
        return Err(ApiError::Forbidden(
            "当前角色无权查看完整身份证号".to_owned(),
        ));
    }
    let r = customer(st, p, id).await?;
    match r.body.get("id_sealed").filter(|v| !v.is_null()) {
        Some(v) => open_text(st, v),
        None => Err(ApiError::NotFound("该用户未登记身份证号".to_owned())),
    }
}

/// Marks a customer's real name as verified (checked against the ID card in person or online).
pub async fn verify_customer(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct V {
        method: Text,
    }
    p.require(Action::ManageCustomers)?;
    let v: V = parse(body)?;
    let mut r = customer(st, p, id).await?;
    if r.state == "verified" {
        return Ok(r);
    }
    r.state = "verified".to_owned();
    r.body["verified_at"] = json!(st.now());
    r.body["verified_by"] = json!(p.user_id);
    r.body["verified_method"] = json!(v.method);
    save(st, r).await
}

/// Customers bound to organisations in scope, newest binding first.
pub async fn list_customers(st: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let bindings = st
        .store
        .list_biz(&BizFilter {
            state: None,
            ref_id: None,
            ..q.biz_filter(BINDING, p)?
        })
        .await?;
    let view = personal_view(&p.roles);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for b in bindings {
        if let Some(c) = b.ref_id
            && seen.insert(c)
            && let Some(r) = st.store.get_biz(CUSTOMER, c).await?
        {
            out.push(customer_view(&r, view));
        }
    }
    Ok(out)
}

/// Cylinders held, deposits and owed (C5).
pub async fn holdings(st: &AppState, id: Uuid) -> ApiResult<(Holdings, Vec<CylinderCode>)> {
    let held = st.store.held_by(&id.to_string()).await?;
    let deposits = deposits_paid(st, id).await?;
    Ok((Holdings::of(held.len() as i64, deposits), held))
}

async fn deposits_paid(st: &AppState, customer: Uuid) -> ApiResult<i64> {
    let f = BizFilter {
        ref_id: Some(customer),
        ..filter(DEPOSIT, None, 10_000, 0)
    };
    Ok(st
        .store
        .list_biz(&f)
        .await?
        .iter()
        .map(|d| d.body["count"].as_i64().unwrap_or(0))
        .sum())
}

pub async fn add_deposit(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    p.require(Action::ManageCustomers)?;
    let d: Deposit = parse(body)?;
    customer(st, p, id).await?;
    d.validate(deposits_paid(st, id).await?)?;
    let r = new_record(
        DEPOSIT,
        p.org_id,
        Some(format!("{}/{}", p.org_id, d.receipt_no)),
        Some(id),
        if d.count > 0 { "paid" } else { "refunded" },
        json!(d),
        st.now(),
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict(
            "receipt_no",
            format!("收据号 {} 已使用", d.receipt_no),
        )),
        other => other.map(|()| r).map_err(Into::into),
    }
}

/// Account-opening and real-name progress per organisation in scope (UI.md 开户进度 / 实名制进度):
/// customers registered, of them verified, cylinders held by customers without a verified real name.
pub async fn progress(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let bindings = st
        .store
        .list_biz(&filter(BINDING, Some(p.scope()), 100_000, 0))
        .await?;
    let mut per_org: BTreeMap<Uuid, (i64, i64, i64)> = BTreeMap::new();
    let mut customers: HashMap<Uuid, (bool, i64)> = HashMap::new();
    for b in &bindings {
        let Some(c) = b.ref_id else { continue };
        if let std::collections::hash_map::Entry::Vacant(v) = customers.entry(c) {
            let verified = st
                .store
                .get_biz(CUSTOMER, c)
                .await?
                .is_some_and(|r| r.state == "verified");
            let held = st.store.held_by(&c.to_string()).await?.len() as i64;
            v.insert((verified, held));
        }
        let (verified, held) = customers[&c];
        let e = per_org.entry(b.org_id).or_default();
        e.0 += 1;
        if verified {
            e.1 += 1;
        } else {
            e.2 += held;
        }
    }
    let mut out = Vec::new();
    for (org, (registered, verified, held)) in per_org {
        let name = st.store.get_org(org).await?.map(|o| o.name);
        out.push(
            json!({"org_id": org, "org_name": name, "registered": registered,
            "verified": verified, "held_without_real_name": held}),
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Orders and delivery (C3, C11)

pub async fn create_order(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::ManageOrders)?;
    let (org, o): (_, NewOrder) = owned(body)?;
    let org_id = owner(st, p, org).await?;
    let c = customer(st, p, o.customer_id).await?;
    let addresses = c.body["addresses"].as_array().map_or(0, Vec::len);
    o.validate(addresses)?;
    let now = st.now();
    let code = dom::handover_code(rand::random::<u32>());
    let r = new_record(
        ORDER,
        org_id,
        None,
        Some(o.customer_id),
        OrderState::Created.as_str(),
        json!({"order": o, "address": c.body["addresses"][o.address_index], "handover_code": code,
               "events": []}),
        now,
    );
    st.store.insert_biz(&r).await?;
    Ok(r)
}

pub fn order_view(r: &BizRecord, view: PersonalView, show_code: bool) -> Value {
    let mut v = json!({
        "id": r.id, "org_id": r.org_id, "customer_id": r.ref_id, "state": r.state,
        "state_zh": OrderState::parse(&r.state).map(OrderState::label_zh),
        "items": r.body["order"]["items"], "requested_at": r.body["order"]["requested_at"],
        "remark": r.body["order"]["remark"], "address": r.body["address"],
        "courier_id": r.body["courier_id"], "dispatched_at": r.body["dispatched_at"],
        "delivered_at": r.body["delivered_at"], "codes": r.body["codes"],
        "confirmation": r.body["confirmation"]["method"], "created_at": r.created_at,
    });
    if view == PersonalView::Masked
        && let Some(a) = v["address"]["address"].as_str().map(dom::mask_address)
    {
        v["address"] = json!({"address": a});
    }
    if show_code {
        v["handover_code"] = r.body["handover_code"].clone();
    }
    v
}

pub async fn dispatch_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct D {
        courier_id: Uuid,
    }
    p.require(Action::ManageOrders)?;
    let d: D = parse(body)?;
    let mut r = visible_record(st, p, ORDER, id, "订单").await?;
    let courier = st
        .store
        .get_user(d.courier_id)
        .await?
        .ok_or_else(|| ApiError::invalid("courier_id", "用户不存在"))?;
    if !courier.roles.contains(&Role::Courier) {
        return Err(ApiError::invalid("courier_id", "该用户不是配送员"));
    }
    p.require_scope(&courier.org_path, "该配送员")?;
    let state = OrderState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("order state {}", r.state)))?;
    let next = state
        .dispatch()
        .map_err(|m| ApiError::invalid("state", m))?;
    r.state = next.as_str().to_owned();
    r.body["courier_id"] = json!(d.courier_id);
    r.body["dispatched_at"] = json!(st.now());
    save(st, r).await
}

pub async fn cancel_order(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    p.require(Action::ManageOrders)?;
    let mut r = visible_record(st, p, ORDER, id, "订单").await?;
    let state = OrderState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("order state {}", r.state)))?;
    r.state = state
        .cancel()
        .map_err(|m| ApiError::invalid("state", m))?
        .as_str()
        .to_owned();
    save(st, r).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverOrder {
    /// The idempotency key of the delivery (the `deliver` event's id).
    id: Uuid,
    codes: Vec<String>,
    time: DateTime<Utc>,
    confirmation: Confirmation,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

/// Hands the order's cylinders to the customer: checks the confirmation (handover code or an
/// uploaded e-signature), records one `deliver` event for the codes (with the guards of
/// `POST /events`), and marks the order delivered. A retry with the same `id` answers the same.
pub async fn deliver_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<(BizRecord, i64)> {
    p.require(Action::RecordEvent(EventKind::Deliver))?;
    let d: DeliverOrder = parse(body)?;
    let r = visible_record(st, p, ORDER, id, "订单").await?;
    if let Some(prev) = r.body["delivery_event"].as_str() {
        if prev == d.id.to_string() {
            let idx = r.body["ledger_index"].as_i64().unwrap_or(-1);
            return Ok((r, idx));
        }
        return Err(conflict("state", "订单已送达".to_owned()));
    }
    let state = OrderState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("order state {}", r.state)))?;
    state.deliver().map_err(|m| ApiError::invalid("state", m))?;
    if r.body["courier_id"].as_str() != Some(p.user_id.to_string().as_str())
        && !p.roles.contains(&Role::EnterpriseAdmin)
        && !p.is_node_admin()
    {
        return Err(ApiError::Forbidden("该订单未派给您".to_owned()));
    }
    match &d.confirmation {
        Confirmation::Code { code } => {
            if r.body["handover_code"].as_str() != Some(code.trim()) {
                return Err(ApiError::invalid("confirmation.code", "交接码不正确"));
            }
        }
        Confirmation::Signature { file } => {
            if !dom::is_file_hash(file) || !super::files::exists(st, &super::files::reference(file))
            {
                return Err(ApiError::invalid(
                    "confirmation.file",
                    "签名文件不存在，请先上传（POST /api/v1/files）",
                ));
            }
        }
    }
    let ordered = serde_json::from_value::<NewOrder>(r.body["order"].clone())
        .map(|o| o.quantity())
        .unwrap_or(0);
    if d.codes.is_empty() || d.codes.len() > ordered as usize {
        return Err(ApiError::invalid(
            "codes",
            format!("交付气瓶数应为 1–{ordered}（订单数量）"),
        ));
    }
    let event = json!({
        "id": d.id, "kind": "deliver", "codes": d.codes, "time": d.time, "lat": d.lat, "lon": d.lon,
        "data": {"customer_id": r.ref_id.map(|u| u.to_string()), "order_id": r.id.to_string(),
                 "confirmation": d.confirmation},
    });
    let appended = super::record_events(st, p, &json!({"events": [event]}))
        .await
        .map_err(|e| rename_fields(e, delivery_field))?;
    let idx = appended.first().map_or(-1, |a| a.ledger_index);
    let mut r = r;
    r.state = OrderState::Delivered.as_str().to_owned();
    r.body["delivery_event"] = json!(d.id);
    r.body["ledger_index"] = json!(idx);
    r.body["codes"] = json!(d.codes);
    r.body["delivered_at"] = json!(d.time);
    r.body["confirmation"] = json!(d.confirmation);
    Ok((save(st, r).await?, idx))
}

// ---------------------------------------------------------------------------------------------
// Household safety checks and rectification (C9, E8)

pub async fn check_items(st: &AppState) -> ApiResult<Vec<CheckItem>> {
    match st.store.get_setting(CHECK_ITEMS_SETTING).await? {
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ApiError::Internal(format!("stored check items: {e}"))),
        None => Ok(dom::default_check_items()),
    }
}

pub async fn set_check_items(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<Vec<CheckItem>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Items {
        items: Vec<CheckItem>,
    }
    p.require(Action::ConfigureCheckItems)?;
    let items: Items = parse(body)?;
    let mut errs = ValidationErrors::default();
    let mut codes = std::collections::HashSet::new();
    for (i, it) in items.items.iter().enumerate() {
        if !codes.insert(it.code.as_str()) {
            errs.push(format!("items[{i}].code"), "项目代码重复");
        }
        if it.rectify_days == 0 || it.rectify_days > 365 {
            errs.push(format!("items[{i}].rectify_days"), "整改期限应为 1–365 天");
        }
    }
    if !items.items.iter().any(|i| i.active) {
        errs.push("items", "至少需要一个启用的安检项目");
    }
    errs.into_result(())?;
    st.store
        .set_setting(
            CHECK_ITEMS_SETTING,
            &serde_json::to_string(&items.items).unwrap_or_default(),
            st.now(),
        )
        .await?;
    Ok(items.items)
}

/// Records a household check; each failed item opens a rectification task with its due time.
pub async fn record_household_check(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(BizRecord, Vec<BizRecord>)> {
    p.require(Action::HouseholdCheck)?;
    let hc: NewHouseholdCheck = parse(body)?;
    let c = customer(st, p, hc.customer_id).await?;
    let addresses = c.body["addresses"].as_array().map_or(0, Vec::len);
    let now = st.now();
    if hc.time > now + super::MAX_FUTURE_SKEW {
        return Err(ApiError::invalid("time", "时间晚于服务器当前时间"));
    }
    let tasks = hc.rectifications(&check_items(st).await?, addresses)?;
    let mut errs = ValidationErrors::default();
    for (field, h) in std::iter::once(("signature".to_owned(), &hc.signature)).chain(
        hc.photos
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("photos[{i}]"), p)),
    ) {
        if !super::files::exists(st, &super::files::reference(h)) {
            errs.push(field, "文件不存在，请先上传（POST /api/v1/files）");
        }
    }
    errs.into_result(())?;
    let check = new_record(
        HOUSEHOLD_CHECK,
        p.org_id,
        None,
        Some(hc.customer_id),
        if tasks.is_empty() { "passed" } else { "failed" },
        json!({"check": hc, "inspector": p.user_id, "address": c.body["addresses"][hc.address_index]}),
        now,
    );
    st.store.insert_biz(&check).await?;
    let mut out = Vec::new();
    for t in tasks {
        let mut r = new_record(
            RECTIFICATION,
            p.org_id,
            None,
            Some(hc.customer_id),
            "open",
            json!({"check_id": check.id, "item": t.item, "text": t.text}),
            now,
        );
        r.due = Some(t.due);
        st.store.insert_biz(&r).await?;
        out.push(r);
    }
    Ok((check, out))
}

pub fn rectification_view(r: &BizRecord, now: DateTime<Utc>) -> Value {
    let reminder = (r.state == "open")
        .then(|| r.due.and_then(|d| dom::reminder(d, now)))
        .flatten();
    json!({"id": r.id, "customer_id": r.ref_id, "check_id": r.body["check_id"], "item": r.body["item"],
           "text": r.body["text"], "state": r.state, "due": r.due, "reminder": reminder,
           "closed_at": r.body["closed_at"], "remark": r.body["remark"], "photos": r.body["photos"]})
}

pub async fn close_rectification(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Close {
        remark: Text,
        #[serde(default)]
        photos: Vec<String>,
    }
    p.require(Action::HouseholdCheck)?;
    let c: Close = parse(body)?;
    for (i, h) in c.photos.iter().enumerate() {
        if !dom::is_file_hash(h) || !super::files::exists(st, &super::files::reference(h)) {
            return Err(ApiError::invalid(
                format!("photos[{i}]"),
                "文件不存在，请先上传",
            ));
        }
    }
    let mut r = visible_record(st, p, RECTIFICATION, id, "整改任务").await?;
    if r.state != "open" {
        return Err(conflict("state", "整改任务已关闭".to_owned()));
    }
    r.state = "closed".to_owned();
    r.body["closed_at"] = json!(st.now());
    r.body["closed_by"] = json!(p.user_id);
    r.body["remark"] = json!(c.remark);
    r.body["photos"] = json!(c.photos);
    save(st, r).await
}

/// Open rectification tasks that need a reminder now (due within a day, or overdue), in scope.
pub async fn reminders(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let now = st.now();
    let f = BizFilter {
        state: Some("open".to_owned()),
        due_before: Some(now + Duration::days(1)),
        ..filter(RECTIFICATION, Some(p.scope()), 1000, 0)
    };
    Ok(st
        .store
        .list_biz(&f)
        .await?
        .iter()
        .map(|r| rectification_view(r, now))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Stock (C1)

/// Stock per site in scope (or one site): full and empty counts, with the site's name and kind.
pub async fn stock(st: &AppState, p: &Principal, site: Option<Uuid>) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    if let Some(s) = site {
        let rec = st
            .store
            .get_site(s)
            .await?
            .ok_or_else(|| ApiError::NotFound("站点不存在".to_owned()))?;
        p.require_scope(&rec.org_path, "该站点")?;
    }
    let rows = st.store.stock(&p.scope(), site).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = st.store.get_site(r.site_id).await?;
        out.push(
            json!({"site_id": r.site_id, "site_name": s.as_ref().map(|s| s.name.clone()),
            "site_kind": s.as_ref().map(|s| s.kind.as_str()), "org_id": s.map(|s| s.org_id),
            "full": r.full, "empty": r.empty}),
        );
    }
    Ok(out)
}

/// Compares the codes scanned in a store with the records and keeps the result.
pub async fn stocktake(
    st: &AppState,
    p: &Principal,
    site: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    p.require(Action::RecordEvent(EventKind::StoreIn))?;
    let rec = st
        .store
        .get_site(site)
        .await?
        .ok_or_else(|| ApiError::NotFound("站点不存在".to_owned()))?;
    p.require_scope(&rec.org_path, "该站点")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scanned {
        codes: Vec<Value>,
    }
    // An empty list is a stock-take of an empty store.
    let list = parse::<Scanned>(body)?.codes;
    if list.len() > 100_000 {
        return Err(ApiError::invalid("codes", "一次最多 100000 个编码"));
    }
    let mut errs = ValidationErrors::default();
    let mut scanned = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(CylinderCode::parse) {
            Some(Ok(c)) => scanned.push(c.as_str().to_owned()),
            Some(Err(e)) => errs.push(format!("codes[{i}]"), e),
            None => errs.push(format!("codes[{i}]"), "应为气瓶编码字符串"),
        }
    }
    errs.into_result(())?;
    let expected: Vec<String> = st
        .store
        .stock_codes(site)
        .await?
        .into_iter()
        .map(|(c, _)| c.as_str().to_owned())
        .collect();
    let result = Stocktake::compare(&expected, &scanned);
    let r = new_record(
        STOCKTAKE,
        rec.org_id,
        None,
        Some(site),
        if result.missing.is_empty() && result.unexpected.is_empty() {
            "match"
        } else {
            "mismatch"
        },
        json!({"site_id": site, "by": p.user_id, "result": result}),
        st.now(),
    );
    st.store.insert_biz(&r).await?;
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// Trajectory (C8)

/// A cylinder's flow table, oldest first, with names resolved and customers masked per role.
pub async fn trajectory(st: &AppState, p: &Principal, code: &str) -> ApiResult<Vec<TrajectoryRow>> {
    let rec = super::get_cylinder(st, p, code).await?;
    let events = st.store.events_of(&rec.archive.code).await?;
    let view = personal_view(&p.roles);
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut sorted: Vec<_> = events.iter().collect();
    sorted.sort_by_key(|e| (e.event.time, e.ledger_index));
    for se in sorted {
        let e = &se.event;
        let mut ids: Vec<String> = Vec::new();
        match &e.data {
            EventData::Deliver(Deliver {
                customer_id: Some(c),
                ..
            })
            | EventData::Recycle(Recycle {
                customer_id: Some(c),
            }) => ids.push(c.as_str().to_owned()),
            EventData::InspectionSend(s) => ids.push(s.station_org_id.to_string()),
            EventData::InspectionResult(r) => ids.push(r.station_org_id.to_string()),
            _ => {}
        }
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            let Ok(u) = Uuid::parse_str(&id) else {
                continue;
            };
            let name = if let Some(c) = st.store.get_biz(CUSTOMER, u).await? {
                let n = c.body["name"].as_str().unwrap_or_default();
                if view == PersonalView::Contact {
                    n.to_owned()
                } else {
                    dom::mask_name(n)
                }
            } else if let Some(o) = st.store.get_org(u).await? {
                o.name
            } else {
                continue;
            };
            names.insert(id, name);
        }
        let place = match e.site_id {
            Some(s) => match st.store.get_site(s).await? {
                Some(site) => site.name,
                None => s.to_string(),
            },
            None => match m_vehicle(&e.data) {
                Some(v) => format!("车辆 {v}"),
                None => e
                    .position
                    .as_ref()
                    .map_or_else(String::new, |pos| format!("{:.5}, {:.5}", pos.lat, pos.lon)),
            },
        };
        let operator = match (&e.operator, se.recorded_by) {
            (Some(op), _) => op.to_string(),
            (None, Some(u)) => match st.store.get_user(u).await? {
                Some(user) => user.name,
                None => String::new(),
            },
            (None, None) => String::new(),
        };
        let (tare, gross) = match &e.data {
            EventData::Fill(f) => (Some(f.tare_kg.get()), Some(f.gross_kg.get())),
            _ => (rec.archive.tare_kg.map(|t| t.get()), None),
        };
        rows.push(TrajectoryRow {
            time: e.time,
            kind: e.kind(),
            operation: e.kind().label_zh().to_owned(),
            operator,
            place,
            target: dom::trajectory_target(&e.data, &|id| names.get(id).cloned()),
            tare_kg: tare,
            gross_kg: gross,
            ledger_index: se.ledger_index,
        });
    }
    Ok(rows)
}

fn m_vehicle(d: &EventData) -> Option<String> {
    match d {
        EventData::Load(m) | EventData::Unload(m) => Some(m.vehicle.to_string()),
        _ => None,
    }
}

/// The flow table as CSV (UTF-8 with BOM so that Excel reads the Chinese) or xlsx.
pub fn trajectory_table(
    rows: &[TrajectoryRow],
    format: super::archives::FileFormat,
) -> ApiResult<Vec<u8>> {
    use super::archives::{Cell, TableWriter};
    let headers = [
        "时间",
        "操作",
        "操作人",
        "地点",
        "去向/对象",
        "皮重(kg)",
        "毛重(kg)",
        "存证序号",
    ];
    let mut w = TableWriter::new(format, "流转记录", &headers).map_err(ApiError::Internal)?;
    let kg = |v: Option<f64>| v.map_or_else(|| Cell::Text(String::new()), Cell::Number);
    for r in rows {
        let t = r
            .time
            .with_timezone(&cyltrace_domain::time::cst())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        w.row(&[
            Cell::Text(t),
            Cell::Text(r.operation.clone()),
            Cell::Text(r.operator.clone()),
            Cell::Text(r.place.clone()),
            Cell::Text(r.target.clone()),
            kg(r.tare_kg),
            kg(r.gross_kg),
            Cell::Number(r.ledger_index as f64),
        ])
        .map_err(ApiError::Internal)?;
    }
    w.finish().map_err(ApiError::Internal)
}

// ---------------------------------------------------------------------------------------------
// Handheld scan-to-act (G9)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    /// The event id chosen by the handheld (idempotency key).
    id: Uuid,
    code: String,
    time: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBatch {
    scans: Vec<Value>,
    #[serde(default)]
    site_id: Option<Uuid>,
    #[serde(default)]
    vehicle: Option<String>,
    #[serde(default)]
    waybill: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

/// One handheld action on one or many scanned codes, answered in one round trip: each code's state
/// after the action and its warnings. All or nothing, like `POST /events`.
pub async fn scan(
    st: &AppState,
    p: &Principal,
    action: &str,
    body: &Value,
) -> ApiResult<Vec<Value>> {
    let action = ScanAction::parse(action).ok_or_else(|| {
        ApiError::NotFound(
            "未知的扫码操作（receive_empty, store_full, dispatch, load, unload, deliver, recycle）"
                .to_owned(),
        )
    })?;
    let b: ScanBatch = parse(body)?;
    if b.scans.is_empty() || b.scans.len() > super::MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::invalid("scans", "应为 1–1000 条扫码记录"));
    }
    if action.needs_site() && b.site_id.is_none() {
        return Err(ApiError::invalid(
            "site_id",
            format!("{}须指定站点", action.label_zh()),
        ));
    }
    let data = match action {
        ScanAction::ReceiveEmpty => json!({"full": false}),
        ScanAction::StoreFull | ScanAction::Dispatch => json!({"full": true}),
        ScanAction::Load | ScanAction::Unload => {
            let v = b
                .vehicle
                .clone()
                .ok_or_else(|| ApiError::invalid("vehicle", "缺少必填字段"))?;
            json!({"vehicle": v, "waybill": b.waybill})
        }
        ScanAction::Deliver => json!({"customer_id": b.customer_id, "order_id": b.order_id}),
        ScanAction::Recycle => json!({"customer_id": b.customer_id}),
    };
    let data = strip_nulls(data);
    let mut events = Vec::with_capacity(b.scans.len());
    let mut codes = Vec::with_capacity(b.scans.len());
    let mut errs = ValidationErrors::default();
    for (i, s) in b.scans.iter().enumerate() {
        match from_value::<Scan>(s, &format!("scans[{i}]")) {
            Ok(s) => {
                codes.push(s.code.clone());
                events.push(json!({
                    "id": s.id, "kind": action.kind().as_str(), "codes": [s.code], "time": s.time,
                    "site_id": b.site_id, "lat": b.lat, "lon": b.lon, "data": data,
                }));
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    let appended = super::record_events(st, p, &json!({"events": events}))
        .await
        .map_err(|e| rename_fields(e, scan_field))?;
    let now = st.now();
    let mut out = Vec::with_capacity(codes.len());
    for (code, a) in codes.iter().zip(&appended) {
        let rec = super::get_cylinder(st, p, code).await?;
        let warnings = dom::scan_warnings(&rec.archive, &rec.status, today(now));
        out.push(json!({
            "code": rec.archive.code, "id": a.id, "ledger_index": a.ledger_index, "new": a.new,
            "state": rec.status.state, "location_kind": rec.status.location_kind,
            "location_zh": rec.status.location_kind.label_zh(), "full": rec.status.full,
            "next_check_date": rec.status.next_check_date,
            "verdict": cyltrace_domain::Verdict::of(&rec.archive, &rec.status, today(now)).as_str(),
            "warnings": warnings,
        }));
    }
    Ok(out)
}

/// `events[3].codes[0]` → (3, `codes[0]`).
fn event_field(f: &str) -> Option<(&str, &str)> {
    let rest = f.strip_prefix("events[")?;
    let (i, rest) = rest.split_once(']')?;
    Some((i, rest.strip_prefix('.').unwrap_or(rest)))
}

/// A scan request's own name for a field of the events built from it.
fn scan_field(f: &str) -> String {
    match event_field(f) {
        Some((i, "codes[0]")) => format!("scans[{i}].code"),
        Some((i, r @ ("id" | "time"))) => format!("scans[{i}].{r}"),
        Some((_, r)) => r.strip_prefix("data.").unwrap_or(r).to_owned(),
        None => f.to_owned(),
    }
}

/// An order delivery's own name for a field of its `deliver` event.
fn delivery_field(f: &str) -> String {
    match event_field(f) {
        Some((_, r)) => r.strip_prefix("data.").unwrap_or(r).to_owned(),
        None => f.to_owned(),
    }
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// Renames the fields of errors from the events built for a request to the request's own fields
/// (`events[3].codes[0]` → `scans[3].code`, `events[0].data.vehicle` → `vehicle`), by `fix`.
pub(crate) fn rename_fields(e: ApiError, fix: impl Fn(&str) -> String) -> ApiError {
    match e {
        ApiError::Invalid(errs) => ApiError::Invalid(ValidationErrors(
            errs.0
                .into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        )),
        ApiError::Conflict(m, f) => ApiError::Conflict(
            m,
            f.into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        ),
        other => other,
    }
}
