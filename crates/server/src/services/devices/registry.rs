//! The device registry (DEVICES.md "Registry", 004 §4.2.5 b, §8.1.1): device types (the built-ins and
//! those users define), devices with a secret shown once (only its SHA-256 is kept), bindings to a
//! site, filling position, customer or vehicle, and the status derived from the last message.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::devices::model::{self, DeviceType};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{SiteKind, ValidationErrors};
use cyltrace_store::{
    DeviceEventRecord, DeviceFilter, DeviceRecord, DeviceTypeRecord, Page, Reading,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Principal, new_token, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::services::page;
use crate::state::AppState;

/// Online, offline, or never heard from (8.1.1: derived, never set by hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Offline,
    Never,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Offline => "offline",
            Status::Never => "never",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Online => "在线",
            Status::Offline => "离线",
            Status::Never => "未上线",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Online, Status::Offline, Status::Never]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The status of `d` at `now`: online while its last accepted message is younger than the type's
/// `offline_after_secs`.
pub fn status(d: &DeviceRecord, t: &DeviceType, now: DateTime<Utc>) -> Status {
    match d.last_seen {
        None => Status::Never,
        Some(seen) if now - seen <= Duration::seconds(i64::from(t.offline_after_secs)) => {
            Status::Online
        }
        Some(_) => Status::Offline,
    }
}

/// A device as the API and the pages show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub type_id: String,
    pub type_name: String,
    pub org_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vehicle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub disabled: bool,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    pub up_count: i64,
    pub down_count: i64,
    pub bad_count: i64,
    /// Latest values: id → `{"value","time"}`.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

pub fn view(d: DeviceRecord, t: &DeviceType, now: DateTime<Utc>) -> DeviceView {
    DeviceView {
        status: status(&d, t, now),
        type_name: t.name.clone(),
        id: d.id,
        type_id: d.type_id,
        org_id: d.org_id,
        site_id: d.site_id,
        name: d.name,
        serial: d.serial,
        group: d.group,
        tags: d.tags,
        customer_id: d.customer_id,
        vehicle: d.vehicle,
        channel_id: d.channel_id,
        stream_url: d.stream_url,
        position: d.position,
        phone: d.phone,
        disabled: d.disabled,
        last_seen: d.last_seen,
        up_count: d.up_count,
        down_count: d.down_count,
        bad_count: d.bad_count,
        properties: d.properties,
    }
}

/// The type `id`: a built-in, or one defined on this node (cached).
pub async fn device_type(st: &AppState, id: &str) -> ApiResult<Option<DeviceType>> {
    if let Some(t) = model::builtin(id) {
        return Ok(Some(t));
    }
    if let Some(t) = st.devices.types.get(&id.to_owned()) {
        return Ok(Some(t));
    }
    let t = st.store.get_device_type(id).await?.map(|r| r.model);
    if let Some(t) = &t {
        st.devices.types.put(id.to_owned(), t.clone(), None);
    }
    Ok(t)
}

/// The type of a registered device (its type can no longer be missing: types are never deleted).
pub async fn type_of(st: &AppState, d: &DeviceRecord) -> ApiResult<DeviceType> {
    device_type(st, &d.type_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("device type {} vanished", d.type_id)))
}

/// `GET /device-types`: the built-ins, then the types defined in the caller's scope.
pub async fn list_types(st: &AppState, p: &Principal) -> ApiResult<Vec<DeviceType>> {
    p.require(Action::Read)?;
    let mut all = model::builtins();
    all.extend(
        st.store
            .list_device_types(&p.scope())
            .await?
            .into_iter()
            .map(|r| r.model),
    );
    Ok(all)
}

/// `POST /device-types`: a user-defined type (node admin or enterprise admin).
pub async fn create_type(st: &AppState, p: &Principal, body: &Value) -> ApiResult<DeviceType> {
    p.require(Action::ManageDevices)?;
    let t = model::parse_device_type(body)?;
    let rec = DeviceTypeRecord {
        model: t.clone(),
        org_id: (!p.is_node_admin()).then_some(p.org_id),
        created_at: st.now(),
    };
    st.store
        .insert_device_type(&rec)
        .await
        .map_err(|e| match e {
            cyltrace_store::StoreError::Conflict(_) => conflict("type", "该设备类型标识已存在"),
            e => e.into(),
        })?;
    Ok(t)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceInput {
    /// A built-in type (`filling_scale`, `label_reader`, `leak_alarm`, `vehicle_terminal`,
    /// `camera`) or one defined with `POST /device-types`.
    #[serde(rename = "type")]
    pub type_id: String,
    pub org_id: Uuid,
    #[serde(default)]
    pub site_id: Option<Uuid>,
    pub name: String,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// A leak alarm's customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// A vehicle terminal's plate.
    #[serde(default)]
    pub vehicle: Option<String>,
    #[serde(default)]
    pub vehicle_id: Option<String>,
    /// A vehicle terminal's number as in its JT/T 808 header.
    #[serde(default)]
    pub phone: Option<String>,
    /// A camera's GB/T 28181 channel id (20 digits).
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub stream_url: Option<String>,
    /// The filling position a scale or camera serves.
    #[serde(default)]
    pub position: Option<i32>,
}

/// A registered device and its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    pub id: Uuid,
    pub secret: String,
    pub device: DeviceView,
}

fn short(v: &Option<String>, field: &str, max: usize, errs: &mut ValidationErrors) {
    if let Some(s) = v
        && (s.trim().is_empty() || s.chars().count() > max)
    {
        errs.push(field, format!("应为 1–{max} 个字符"));
    }
}

fn check_tags(tags: &[String], errs: &mut ValidationErrors) {
    if tags.len() > 16 {
        errs.push("tags", "最多 16 个标签");
    }
    for (i, t) in tags.iter().enumerate() {
        if t.trim().is_empty() || t.chars().count() > 32 {
            errs.push(format!("tags[{i}]"), "标签应为 1–32 个字符");
        }
    }
}

/// Checks a device's bindings for its type: the site (a filling station for scales), the
/// customer, the camera channel, the terminal's number.
async fn check_binding(
    st: &AppState,
    p: &Principal,
    d: &DeviceRecord,
    errs: &mut ValidationErrors,
) -> ApiResult<()> {
    let t = d.type_id.as_str();
    if let Some(site_id) = d.site_id {
        match st.store.get_site(site_id).await? {
            None => errs.push("site_id", "站点不存在"),
            Some(s) if s.org_id != d.org_id => errs.push("site_id", "站点不属于该机构"),
            Some(s) if t == model::FILLING_SCALE && s.kind != SiteKind::FillingStation => {
                errs.push("site_id", "充装秤须绑定到充装站")
            }
            Some(_) => {}
        }
    } else if matches!(
        t,
        model::FILLING_SCALE | model::LABEL_READER | model::CAMERA
    ) {
        errs.push("site_id", "该类设备须绑定站点");
    }
    if let Some(c) = &d.customer_id {
        let found = match Uuid::parse_str(c) {
            Ok(id) => crate::services::circulation::customer(st, p, id)
                .await
                .is_ok(),
            Err(_) => false,
        };
        if !found {
            errs.push("customer_id", "用户不存在或不在您的数据权限范围内");
        }
    }
    if let Some(ch) = &d.channel_id
        && !(ch.len() == 20 && ch.bytes().all(|b| b.is_ascii_digit()))
    {
        errs.push("channel_id", "GB/T 28181 通道编号应为 20 位数字");
    }
    if t == model::CAMERA && d.channel_id.is_none() {
        errs.push("channel_id", "视频通道须填写通道编号");
    }
    if let Some(u) = &d.stream_url
        && !["rtsp://", "rtmp://", "http://", "https://"]
            .iter()
            .any(|s| u.starts_with(s))
    {
        errs.push(
            "stream_url",
            "视频流地址应以 rtsp://、rtmp://、http:// 或 https:// 开头",
        );
    }
    if let Some(ph) = &d.phone
        && !((1..=20).contains(&ph.len()) && ph.bytes().all(|b| b.is_ascii_digit()))
    {
        errs.push("phone", "终端手机号应为 1–20 位数字");
    }
    if t == model::VEHICLE_TERMINAL && d.phone.is_none() {
        errs.push("phone", "车载终端须填写终端手机号");
    }
    if let Some(pos) = d.position
        && !(1..=999).contains(&pos)
    {
        errs.push("position", "充装位编号应为 1–999");
    }
    Ok(())
}

/// `POST /devices`: registers a device in the caller's scope; answers its secret once.
pub async fn create(st: &AppState, p: &Principal, body: &Value) -> ApiResult<Registered> {
    p.require(Action::ManageDevices)?;
    let input: NewDeviceInput = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    let t = device_type(st, &input.type_id).await?;
    if t.is_none() {
        errs.push("type", "设备类型不存在");
    }
    let org = st.store.get_org(input.org_id).await?;
    match &org {
        None => errs.push("org_id", "所属机构不存在"),
        Some(o) if !p.sees(&o.path) => errs.push("org_id", "所属机构不在您的数据权限范围内"),
        Some(_) => {}
    }
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        errs.push("name", "名称应为 1–64 个字符");
    }
    short(&input.serial, "serial", 64, &mut errs);
    short(&input.group, "group", 32, &mut errs);
    short(&input.vehicle, "vehicle", 32, &mut errs);
    let tags = input.tags.unwrap_or_default();
    check_tags(&tags, &mut errs);
    let (secret, secret_hash) = new_token()?;
    let d = DeviceRecord {
        id: Uuid::new_v4(),
        type_id: input.type_id,
        org_id: input.org_id,
        org_path: org.map(|o| o.path).unwrap_or_default(),
        site_id: input.site_id,
        name,
        serial: input.serial,
        group: input.group,
        tags,
        customer_id: input.customer_id,
        vehicle: input.vehicle.or(input.vehicle_id),
        channel_id: input.channel_id,
        position: input.position,
        phone: input.phone,
        stream_url: input.stream_url,
        secret_hash,
        disabled: false,
        created_at: st.now(),
        last_seen: None,
        online: false,
        up_count: 0,
        down_count: 0,
        bad_count: 0,
        properties: Map::new(),
    };
    check_binding(st, p, &d, &mut errs).await?;
    errs.into_result(())?;
    st.store.insert_device(&d).await.map_err(|e| match e {
        cyltrace_store::StoreError::Conflict(_) => conflict("phone", "该终端手机号已登记"),
        e => e.into(),
    })?;
    let t = t.expect("checked");
    Ok(Registered {
        id: d.id,
        secret,
        device: view(d, &t, st.now()),
    })
}

/// A device in the caller's scope.
pub async fn get(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<DeviceRecord> {
    p.require(Action::Read)?;
    let d = st
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("设备不存在".to_owned()))?;
    p.require_scope(&d.org_path, "该设备")?;
    Ok(d)
}

pub async fn get_view(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<DeviceView> {
    let d = get(st, p, id).await?;
    let t = type_of(st, &d).await?;
    Ok(view(d, &t, st.now()))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceQuery {
    pub org_id: Option<Uuid>,
    pub site_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_id: Option<String>,
    pub group: Option<String>,
    /// `online`, `offline` or `never` (filters the page read).
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /devices`: newest first, filtered, with the derived status.
pub async fn list(
    st: &AppState,
    p: &Principal,
    q: DeviceQuery,
) -> ApiResult<(Vec<DeviceView>, i64, Page)> {
    p.require(Action::Read)?;
    let mut errs = ValidationErrors::default();
    let pg = page(q.limit, q.offset, &mut errs);
    let want = match q.status.as_deref() {
        None => None,
        Some(s) => {
            let st = Status::parse(s);
            if st.is_none() {
                errs.push("status", "状态应为 online、offline 或 never");
            }
            st
        }
    };
    errs.into_result(())?;
    let f = DeviceFilter {
        scope: Some(p.scope()),
        org_id: q.org_id,
        site_id: q.site_id,
        type_id: q.type_id,
        group: q.group,
        limit: pg.limit,
        offset: pg.offset,
    };
    let (rows, total) = st.store.list_devices(&f).await?;
    let now = st.now();
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        let t = type_of(st, &d).await?;
        let v = view(d, &t, now);
        if want.is_none_or(|w| w == v.status) {
            out.push(v);
        }
    }
    Ok((out, total, pg))
}

fn conflict(field: &str, m: &str) -> ApiError {
    ApiError::Conflict(
        m.to_owned(),
        vec![cyltrace_domain::FieldError::new(field, m)],
    )
}

/// A string member of a PATCH body: absent → `None`; `null` → `Some(None)` (cleared).
fn patch_str(
    o: &Map<String, Value>,
    k: &str,
    errs: &mut ValidationErrors,
) -> Option<Option<String>> {
    match o.get(k)? {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.trim().to_owned())),
        _ => {
            errs.push(k, "类型错误：应为字符串或 null");
            None
        }
    }
}

/// `PATCH /devices/{id}`: name, site, group, tags, disabled, customer, stream URL, position (a
/// `null` clears an optional one). The type, the organisation and the secret do not change here.
pub async fn update(st: &AppState, p: &Principal, id: Uuid, body: &Value) -> ApiResult<DeviceView> {
    p.require(Action::ManageDevices)?;
    let mut d = get(st, p, id).await?;
    let o = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("", "请求体应为 JSON 对象"))?;
    let mut errs = ValidationErrors::default();
    const KNOWN: [&str; 8] = [
        "name",
        "site_id",
        "group",
        "tags",
        "disabled",
        "customer_id",
        "stream_url",
        "position",
    ];
    for k in o.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        errs.push(k.as_str(), "不允许的字段（未知字段）");
    }
    if let Some(n) = patch_str(o, "name", &mut errs) {
        match n {
            Some(n) if !n.is_empty() && n.chars().count() <= 64 => d.name = n,
            _ => errs.push("name", "名称应为 1–64 个字符"),
        }
    }
    if let Some(g) = patch_str(o, "group", &mut errs) {
        d.group = g;
        short(&d.group, "group", 32, &mut errs);
    }
    if let Some(c) = patch_str(o, "customer_id", &mut errs) {
        d.customer_id = c;
    }
    if let Some(u) = patch_str(o, "stream_url", &mut errs) {
        d.stream_url = u;
    }
    if let Some(v) = o.get("site_id") {
        d.site_id = match v {
            Value::Null => None,
            Value::String(s) => match Uuid::parse_str(s) {
                Ok(u) => Some(u),
                Err(_) => {
                    errs.push("site_id", "站点不存在");
                    d.site_id
                }
            },
            _ => {
                errs.push("site_id", "类型错误：应为字符串或 null");
                d.site_id
            }
        };
    }
    if let Some(v) = o.get("position") {
        d.position = match v {
            Value::Null => None,
            Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).or_else(|| {
                errs.push("position", "充装位编号应为 1–999");
                d.position
            }),
            _ => {
                errs.push("position", "类型错误：应为整数或 null");
                d.position
            }
        };
    }
    if let Some(v) = o.get("tags") {
        match from_value::<Vec<String>>(v, "tags") {
            Ok(t) => {
                check_tags(&t, &mut errs);
                d.tags = t;
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    if let Some(v) = o.get("disabled") {
        match v.as_bool() {
            Some(b) => d.disabled = b,
            None => errs.push("disabled", "类型错误：应为布尔值"),
        }
    }
    check_binding(st, p, &d, &mut errs).await?;
    errs.into_result(())?;
    st.store.update_device(&d).await?;
    st.devices.records.remove(&d.id);
    let t = type_of(st, &d).await?;
    Ok(view(d, &t, st.now()))
}

/// `POST /devices/{id}/secret`: a new secret (shown once); the old one stops working at once.
pub async fn new_secret(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<String> {
    p.require(Action::ManageDevices)?;
    let mut d = get(st, p, id).await?;
    let (secret, hash) = new_token()?;
    d.secret_hash = hash;
    st.store.update_device(&d).await?;
    st.devices.records.remove(&d.id);
    Ok(secret)
}

/// How many recent events and readings a device's page shows.
pub const RECENT: i64 = 20;

/// A device's `limit` latest events (its own, and `online`/`offline`), newest first; the device
/// must be in the caller's scope.
pub async fn recent_events(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    limit: i64,
) -> ApiResult<Vec<DeviceEventRecord>> {
    let d = get(st, p, id).await?;
    Ok(st.store.device_events(d.id, limit).await?)
}

/// A device's recent readings (one property or all), newest first; the device must be in the
/// caller's scope.
pub async fn readings(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    property: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<Reading>> {
    let d = get(st, p, id).await?;
    Ok(st.store.telemetry(d.id, property, limit).await?)
}

/// A device by id, read through the hub's cache (every message asks).
pub async fn cached(st: &AppState, id: Uuid) -> ApiResult<Option<DeviceRecord>> {
    if let Some(d) = st.devices.records.get(&id) {
        return Ok(Some(d));
    }
    let d = st.store.get_device(id).await?;
    if let Some(d) = &d {
        st.devices.records.put(id, d.clone(), None);
    }
    Ok(d)
}

/// The device `id` if `secret` is its secret and it is not disabled; the same answer for an unknown
/// device and a wrong secret.
pub async fn authenticate(st: &AppState, id: Uuid, secret: &str) -> ApiResult<DeviceRecord> {
    let refused = || ApiError::Unauthorized("设备标识或密钥错误".to_owned());
    let d = cached(st, id).await?.ok_or_else(refused)?;
    let given = token_hash(secret);
    if !constant_eq(given.as_bytes(), d.secret_hash.as_bytes()) {
        return Err(refused());
    }
    if d.disabled {
        return Err(ApiError::Forbidden("该设备已停用".to_owned()));
    }
    Ok(d)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the regulator's overview shows of devices (issue 18): the stations' equipment and how much
/// of it is offline, and leak alarms not yet dealt with (C10).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct DeviceFigures {
    pub station_devices: i64,
    pub station_offline: i64,
    pub leak_alarms_open: i64,
}

pub async fn supervision_figures(st: &AppState, p: &Principal) -> ApiResult<DeviceFigures> {
    p.require(Action::Read)?;
    let scope = p.scope();
    // The built-in station types all go offline after the default silence.
    let cutoff = st.now() - Duration::seconds(i64::from(model::DEFAULT_OFFLINE_AFTER_SECS));
    let (station_devices, station_offline) = st.store.count_station_devices(&scope, cutoff).await?;
    let (_, leak_alarms_open) = st
        .store
        .list_device_alarms(&cyltrace_store::DeviceAlarmFilter {
            scope: Some(scope),
            state: Some(cyltrace_domain::devices::rules::StateFilter::Open),
            kind: Some("leak".to_owned()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(DeviceFigures {
        station_devices,
        station_offline,
        leak_alarms_open,
    })
}
