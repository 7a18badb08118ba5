//! Vehicles and their positions, drivers and escorts with their certificates, carrier documents,
//! and electronic waybills (C2).

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, Certificate, NewWaybill, PersonalView, Staff, Vehicle, WaybillDoc,
};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, FieldError, Text, ValidationErrors};
use cyltrace_store::{BizRecord, StoreError, VehiclePosition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    ListQuery, ORG_DOC, STAFF, VEHICLE, WAYBILL, body_of, conflict, doc_of, identity_key,
    list_in_scope, new_record, owned, owner, parse, seal_text, to_body, today, visible_record,
    with_columns,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

/// A vehicle as the API and the console show it: its registration and whether its permit is valid.
#[derive(Debug, Clone, Serialize)]
pub struct VehicleView {
    pub id: Uuid,
    pub org_id: Uuid,
    #[serde(flatten)]
    pub vehicle: Vehicle,
    pub permit_valid: bool,
}

pub fn vehicle_view(r: &BizRecord, today: Date) -> ApiResult<VehicleView> {
    let v: Vehicle = body_of(r, "vehicle")?;
    Ok(VehicleView {
        id: r.id,
        org_id: r.org_id,
        permit_valid: v.refusal(today).is_none(),
        vehicle: v,
    })
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

/// What a driver or escort record holds (`create_staff`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffDoc {
    pub certificate: Certificate,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub id_masked: Option<String>,
    #[serde(default)]
    pub id_sealed: Value,
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

impl StaffDoc {
    pub fn of(r: &BizRecord) -> ApiResult<StaffDoc> {
        serde_json::from_value(r.body.clone())
            .map_err(|e| ApiError::Internal(format!("{} {}: {e}", r.kind, r.id)))
    }
}

/// A driver or escort as the API and the console show them: the ID number masked, the phone per
/// role, and whether the certificate is valid.
#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub role: dom::StaffRole,
    pub name: Text,
    pub id_number: Option<String>,
    pub phone: String,
    pub certificate_no: Text,
    pub certificate_valid_until: Date,
    pub certificate_valid: bool,
    pub user_id: Option<Uuid>,
}

pub fn staff_view(r: &BizRecord, view: PersonalView, today: Date) -> ApiResult<StaffView> {
    let d = StaffDoc::of(r)?;
    let c = d.certificate;
    let phone = match (view, dom::Phone::parse(&d.phone)) {
        (PersonalView::Contact, _) => d.phone.clone(),
        (PersonalView::Masked, Ok(ph)) => ph.masked(),
        (PersonalView::Masked, Err(_)) => "***".to_owned(),
    };
    Ok(StaffView {
        id: r.id,
        org_id: r.org_id,
        role: c.role,
        certificate_valid: c.refusal(today).is_none(),
        name: c.name,
        id_number: d.id_masked,
        phone,
        certificate_no: c.certificate_no,
        certificate_valid_until: c.certificate_valid_until,
        user_id: d.user_id,
    })
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
    if !super::files::usable(st, p, &d.file).await? {
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
    super::files::own(st, org_id, Some(p.user_id), &d.file).await?;
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

/// A reported position of a vehicle, with its plate.
#[derive(Debug, Clone, Serialize)]
pub struct PositionView {
    pub vehicle_id: Uuid,
    pub plate: Option<String>,
    pub time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed: Option<f64>,
    pub heading: Option<f64>,
}

pub fn position_view(v: &VehiclePosition, plate: Option<&str>) -> PositionView {
    PositionView {
        vehicle_id: v.vehicle_id,
        plate: plate.map(str::to_owned),
        time: v.time,
        lat: v.lat,
        lon: v.lon,
        speed: v.speed,
        heading: v.heading,
    }
}

/// The latest position of each vehicle in scope, with its plate.
pub async fn latest_positions(st: &AppState, p: &Principal) -> ApiResult<Vec<PositionView>> {
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

pub(super) async fn certificate_of(
    st: &AppState,
    id: Uuid,
) -> ApiResult<Option<(BizRecord, Certificate)>> {
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
        to_body(&WaybillDoc {
            number: number.clone(),
            waybill: w,
            plate: v.plate,
            driver,
            escort: escort.map(|e| e.1),
            loaded: Default::default(),
            unloaded: Default::default(),
        })?,
        now,
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict("number", format!("运单号 {number} 已存在"))),
        other => other.map(|()| r).map_err(Into::into),
    }
}

/// A waybill as answered: the document, with its record's id, organisation, state and time.
#[derive(Debug, Serialize)]
pub struct WaybillView {
    #[serde(flatten)]
    pub doc: WaybillDoc,
    pub id: Uuid,
    pub org_id: Uuid,
    /// `created`, `in_transit` (something loaded), `done` (everything loaded was unloaded).
    pub state: String,
    pub created_at: DateTime<Utc>,
}

pub fn waybill_view(r: &BizRecord) -> ApiResult<WaybillView> {
    Ok(WaybillView {
        doc: doc_of(r)?,
        id: r.id,
        org_id: r.org_id,
        state: r.state.clone(),
        created_at: r.created_at,
    })
}

// --- reads ---------------------------------------------------------------------------------

/// Vehicles in scope, each with whether its permit is valid today.
pub async fn list_vehicles(
    st: &AppState,
    p: &Principal,
    q: &ListQuery,
) -> ApiResult<Vec<VehicleView>> {
    let list = list_in_scope(st, p, VEHICLE, q).await?;
    let t = today(st.now());
    list.iter().map(|r| vehicle_view(r, t)).collect()
}

/// One vehicle (`id` as the path gives it).
pub async fn vehicle(st: &AppState, p: &Principal, id: &str) -> ApiResult<VehicleView> {
    p.require(Action::Read)?;
    let r = visible_record(
        st,
        p,
        VEHICLE,
        crate::services::parse_id(id, "车辆")?,
        "车辆",
    )
    .await?;
    vehicle_view(&r, today(st.now()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrackQuery {
    /// RFC 3339; default 24 hours before `to`.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; default now (and five minutes).
    pub to: Option<DateTime<Utc>>,
    /// At most this many positions, 1–50,000 (default 5,000).
    pub limit: Option<i64>,
}

/// A vehicle's track: its positions in `[from, to]` (default the last 24 hours), at most `limit`.
pub async fn track(
    st: &AppState,
    p: &Principal,
    id: &str,
    q: TrackQuery,
) -> ApiResult<Vec<PositionView>> {
    p.require(Action::Read)?;
    let r = visible_record(
        st,
        p,
        VEHICLE,
        crate::services::parse_id(id, "车辆")?,
        "车辆",
    )
    .await?;
    let to =
        q.to.unwrap_or_else(|| st.now() + chrono::Duration::minutes(5));
    let from = q.from.unwrap_or(to - chrono::Duration::hours(24));
    let limit = q.limit.unwrap_or(5000).clamp(1, 50_000);
    let pts = st.store.vehicle_track(r.id, from, to, limit).await?;
    Ok(pts
        .iter()
        .map(|pt| position_view(pt, r.key.as_deref()))
        .collect())
}

/// Drivers and escorts in scope (ID numbers masked, phones per role).
pub async fn list_staff(st: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Vec<StaffView>> {
    let list = list_in_scope(st, p, STAFF, q).await?;
    let (view, t) = (dom::personal_view(&p.roles), today(st.now()));
    list.iter().map(|r| staff_view(r, view, t)).collect()
}

/// The qualification documents of an organisation the caller sees.
pub async fn org_docs(st: &AppState, p: &Principal, org_id: &str) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let org = crate::services::get_org(st, p, crate::services::parse_id(org_id, "机构")?).await?;
    let f = cyltrace_store::BizFilter {
        kind: ORG_DOC.to_owned(),
        org_id: Some(org.id),
        limit: 500,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(list
        .iter()
        .map(|r| with_columns(r, &["created_at"]))
        .collect())
}

/// Waybills in scope.
pub async fn list_waybills(
    st: &AppState,
    p: &Principal,
    q: &ListQuery,
) -> ApiResult<Vec<WaybillView>> {
    let list = list_in_scope(st, p, WAYBILL, q).await?;
    list.iter().map(waybill_view).collect()
}

/// One waybill (`id` as the path gives it) with the codes loaded and unloaded.
pub async fn waybill(st: &AppState, p: &Principal, id: &str) -> ApiResult<WaybillView> {
    p.require(Action::Read)?;
    let r = visible_record(
        st,
        p,
        WAYBILL,
        crate::services::parse_id(id, "运单")?,
        "运单",
    )
    .await?;
    waybill_view(&r)
}
