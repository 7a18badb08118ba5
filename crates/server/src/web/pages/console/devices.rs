//! 设备管理 (issue 18, DEVICES.md "Registry"): the enterprise's devices with their derived status,
//! filtered by type, site, group and status, and the form that registers one (its secret shown once
//! with the MQTT connection facts); a device's page with its facts, counters, latest properties
//! (named from the type's thing model), recent events and readings, and the forms that edit it,
//! issue a new secret and call one of its type's services. Every read and write goes through
//! `services::devices` (the same use cases, data scope and validation as `/api/v1/devices`).

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use cyltrace_domain::devices::model::{DeviceType, Param};
use cyltrace_store::SiteRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::office::{Posted, object, table_or};
use super::{MAX_PAGE_NO, PAGE_ROWS, enterprise};
use crate::error::ApiError;
use crate::services::devices::calls;
use crate::services::devices::registry::{self, DeviceQuery, DeviceView, Status};
use crate::services::{orgs, parse_id};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Card, Cell, Field, Filter, FormFailure, FormSpec, Page, PageError, PageResult, Pager,
    Table, error_page, local, ok, pe,
};

const LIST: &str = "/console/devices";

const HEAD: &str = "名称 类型 站点 分组 状态 最后上报 上报 下发 异常";

const STATUSES: &[(&str, &str)] = &[
    ("", "全部状态"),
    ("online", "在线"),
    ("offline", "离线"),
    ("never", "未上线"),
];

#[derive(Deserialize, Default)]
pub(crate) struct DevicesQuery {
    #[serde(rename = "type")]
    type_id: Option<String>,
    site_id: Option<String>,
    group: Option<String>,
    status: Option<String>,
    page: Option<i64>,
}

/// A filter value as sent: `None` when left empty.
fn given(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl DevicesQuery {
    fn page_no(&self) -> i64 {
        self.page.unwrap_or(0).clamp(0, MAX_PAGE_NO as i64)
    }

    fn params(&self) -> [(&'static str, Option<String>); 4] {
        [
            ("type", given(&self.type_id)),
            ("site_id", given(&self.site_id)),
            ("group", given(&self.group)),
            ("status", given(&self.status)),
        ]
    }

    fn service_query(&self) -> DeviceQuery {
        DeviceQuery {
            type_id: given(&self.type_id),
            // A site id that is no id names no site: nothing of it to show.
            site_id: given(&self.site_id).map(|s| Uuid::parse_str(&s).unwrap_or(Uuid::nil())),
            group: given(&self.group),
            status: given(&self.status),
            limit: Some(PAGE_ROWS as i64),
            offset: Some(self.page_no() * PAGE_ROWS as i64),
            ..Default::default()
        }
    }

    /// Previous / next links keeping the filters (`total` counts the rows before the status).
    fn pager(&self, total: i64) -> Pager {
        let n = self.page_no();
        let link = |p: i64| {
            let mut pairs: Vec<(&str, String)> = self
                .params()
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            pairs.push(("page", p.to_string()));
            let qs = serde_urlencoded::to_string(pairs).unwrap_or_default();
            format!("{LIST}?{qs}")
        };
        let more = (n + 1) * (PAGE_ROWS as i64) < total && n < MAX_PAGE_NO as i64;
        Pager {
            prev: if n > 0 { link(n - 1) } else { String::new() },
            next: if more { link(n + 1) } else { String::new() },
            note: format!("共 {total} 台，第 {} 页", n + 1),
        }
    }
}

/// A row of facts.
fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

fn either<'a>(c: bool, yes: &'a str, no: &'a str) -> &'a str {
    if c { yes } else { no }
}

/// The sites of the viewer's scope (closed ones too, to name the sites of older devices).
async fn sites(st: &AppState, v: &Viewer) -> Result<Vec<SiteRecord>, PageError> {
    let all = cyltrace_store::Page {
        limit: 500,
        offset: 0,
    };
    pe(orgs::list_sites(st, &v.p, all).await)
}

fn site_name(sites: &[SiteRecord], id: Option<Uuid>) -> String {
    let Some(id) = id else {
        return "—".to_owned();
    };
    sites
        .iter()
        .find(|s| s.id == id)
        .map_or_else(|| id.to_string(), |s| s.name.clone())
}

/// The open sites as options, after `first` (the empty choice).
fn site_options(sites: &[SiteRecord], first: &str) -> Vec<(String, String)> {
    let open = sites.iter().filter(|s| s.active);
    std::iter::once((String::new(), first.to_owned()))
        .chain(open.map(|s| {
            (
                s.id.to_string(),
                format!("{}（{}）", s.name, s.kind.label_zh()),
            )
        }))
        .collect()
}

fn type_options(types: &[DeviceType], first: Option<&str>) -> Vec<(String, String)> {
    let first = first.map(|f| (String::new(), f.to_owned()));
    first
        .into_iter()
        .chain(types.iter().map(|t| (t.id.clone(), t.name.clone())))
        .collect()
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Online => "ok",
        Status::Offline => "bad",
        Status::Never => "warn",
    }
}

fn seen(d: &DeviceView) -> String {
    d.last_seen.map_or_else(|| "从未上报".to_owned(), local)
}

/// Tags as typed: comma-, 、- or space-separated.
fn tags_of(s: &str) -> Vec<String> {
    s.split([',', '，', '、', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------------------ the list

fn row(d: &DeviceView, sites: &[SiteRecord]) -> Vec<Cell> {
    let status = if d.disabled {
        Cell::text(format!("{}（已停用）", d.status.label_zh())).class("warn")
    } else {
        Cell::text(d.status.label_zh()).class(status_class(d.status))
    };
    vec![
        Cell::link(&d.name, format!("{LIST}/{}", d.id)),
        Cell::text(&d.type_name),
        Cell::text(site_name(sites, d.site_id)),
        Cell::text(d.group.as_deref().unwrap_or("—")),
        status,
        Cell::text(seen(d)),
        Cell::num(d.up_count),
        Cell::num(d.down_count),
        Cell::num(d.bad_count).class(either(d.bad_count > 0, "bad", "")),
    ]
}

fn register_form(types: &[DeviceType], sites: &[SiteRecord]) -> FormSpec {
    let camera = "通道编号（视频通道，20 位 GB/T 28181 编号）";
    let terminal = "终端手机号（车载终端，JT/T 808 报文头中的号码）";
    FormSpec {
        title: "登记设备".to_owned(),
        action: LIST.to_owned(),
        fields: vec![
            Field::new("type", "设备类型", "leak_alarm").options(type_options(types, None)),
            Field::new("name", "名称（如 3号充装秤、张三家厨房报警器）", "").required(),
            Field::new(
                "site_id",
                "所在站点（充装秤须为充装站；入户报警器可不选）",
                "",
            )
            .options(site_options(sites, "（不绑定站点）")),
            Field::new("serial", "出厂序列号", ""),
            Field::new("group", "分组（如 充装站、居民用户）", ""),
            Field::new("tags", "标签（多个用逗号分隔）", ""),
            Field::new("position", "充装位编号（充装秤、摄像机，1–999）", "").kind("number"),
            Field::new("customer_id", "用户编号（安装在用户家中的泄漏报警器）", ""),
            Field::new("channel_id", camera, ""),
            Field::new("stream_url", "视频流地址（视频通道，如 rtsp://…）", ""),
            Field::new("phone", terminal, ""),
        ],
        submit: "登记设备",
    }
}

async fn list_page(st: &AppState, v: &Viewer, q: &DevicesQuery) -> Result<Page, PageError> {
    enterprise(v)?;
    let (devices, total, _) = pe(registry::list(st, &v.p, q.service_query()).await)?;
    let types = pe(registry::list_types(st, &v.p).await)?;
    let sites = sites(st, v).await?;
    let mut page = v.page(st, "设备管理", LIST).await;
    page.intro = "充装秤、标签读写器、泄漏报警器、车载终端和视频通道：状态由设备最后一次上报推算\
                  （超过该类设备的离线时限即为离线）。点击设备名称查看详情、修改或远程调用。"
        .to_owned();
    let [ty, site, group, status] = q.params().map(|(_, v)| v.unwrap_or_default());
    let statuses = STATUSES
        .iter()
        .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()));
    page.filter = Some(Filter {
        action: LIST.to_owned(),
        fields: vec![
            Field::new("type", "类型", ty).options(type_options(&types, Some("全部类型"))),
            Field::new("site_id", "站点", site).options(site_options(&sites, "全部站点")),
            Field::new("group", "分组", group),
            Field::new("status", "状态", status).options(statuses.collect()),
        ],
    });
    let mut t = Table::new("devices", "", &HEAD.split(' ').collect::<Vec<_>>());
    t.rows = devices.iter().map(|d| row(d, &sites)).collect();
    t.pager = Some(q.pager(total));
    let filtered = q.params().iter().any(|(_, v)| v.is_some());
    page.blocks.push(if filtered && t.rows.is_empty() {
        Block::Note("没有符合条件的设备：请调整筛选条件。".to_owned())
    } else {
        let empty = "尚无设备：在下方登记充装秤、标签读写器、泄漏报警器、车载终端或视频通道，\
                     登记后将设备密钥配置到设备中即可接入。";
        table_or(t, q.page_no(), empty)
    });
    page.blocks.push(Block::Form(register_form(&types, &sites)));
    Ok(page)
}

pub(crate) async fn devices(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<DevicesQuery>,
) -> PageResult {
    ok(list_page(&st, &v, &q).await?)
}

/// The box that shows a device's secret this once, with how the device connects.
fn secret_blocks(id: Uuid, secret: &str) -> Vec<Block> {
    let note = "设备密钥仅显示一次，请立即配置到设备中：平台只保存密钥的摘要，离开本页后无法再\
                查看；遗失后只能在设备详情页重置密钥。";
    let up = format!("cyltrace/{id}/up/{{kind}}（kind：property、event、heartbeat 等）");
    let http =
        format!("POST /api/v1/devices/{id}/up/{{kind}}，Authorization: Device {id}:<设备密钥>");
    vec![
        Block::Note(note.to_owned()),
        Block::Facts(
            "设备接入信息（设备密钥仅显示一次）".to_owned(),
            vec![
                kv("设备标识（MQTT 用户名）", id),
                kv("设备密钥（MQTT 密码）", secret),
                kv("上报主题（设备发布）", up),
                kv("下发主题（设备订阅）", format!("cyltrace/{id}/down/#")),
                kv("HTTP 接入", http),
            ],
        ),
    ]
}

/// Registers a device; answers the list with its secret shown once (not a redirect: the secret
/// must not travel in a URL).
pub(crate) async fn register(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("type", f.required("type")),
        ("org_id", json!(v.p.org_id)),
        ("site_id", f.text("site_id")),
        ("name", f.required("name")),
        ("serial", f.text("serial")),
        ("group", f.text("group")),
        ("tags", json!(tags_of(f.get("tags")))),
        ("position", f.number("position")),
        ("customer_id", f.text("customer_id")),
        ("channel_id", f.text("channel_id")),
        ("stream_url", f.text("stream_url")),
        ("phone", f.text("phone")),
    ]);
    let q = DevicesQuery::default();
    match registry::create(&st, &v.p, &body).await {
        Ok(r) => {
            let mut page = list_page(&st, &v, &q).await?;
            let mut top = secret_blocks(r.id, &r.secret);
            let open = (format!("{LIST}/{}", r.id), "打开设备详情".to_owned());
            top.push(Block::Links(
                format!("已登记：{}", r.device.name),
                vec![open],
            ));
            page.blocks.splice(0..0, top);
            let note = format!("device {} {} registered", r.id, r.device.type_id);
            Ok(noted(ok(page)?, note))
        }
        Err(e) => {
            let failure = FormFailure::of(LIST, f.sent(), e)?;
            list_page(&st, &v, &q).await?.refused(failure)
        }
    }
}

// ------------------------------------------------------------------------------ one device

/// A value of the thing model as a person reads it.
fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(b) => either(*b, "是", "否").to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A property's name and unit from the type's model (the id when the model does not know it).
fn property_label(t: &DeviceType, id: &str) -> (String, String) {
    t.properties.iter().find(|p| p.id == id).map_or_else(
        || (id.to_owned(), String::new()),
        |p| (p.label().to_owned(), p.unit.clone().unwrap_or_default()),
    )
}

fn event_label(t: &DeviceType, id: &str) -> String {
    match id {
        "online" => "上线".to_owned(),
        "offline" => "离线".to_owned(),
        _ => t
            .events
            .iter()
            .find(|e| e.id == id)
            .map_or_else(|| id.to_owned(), |e| e.name.clone()),
    }
}

fn facts(d: &DeviceView, t: &DeviceType, sites: &[SiteRecord]) -> Vec<(String, String)> {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "—".to_owned());
    let tags = d.tags.join("、");
    let mut facts = vec![
        kv("设备标识", d.id),
        kv("名称", &d.name),
        kv("类型", format!("{}（{}）", d.type_name, d.type_id)),
        kv("状态", d.status.label_zh()),
        kv("所在站点", site_name(sites, d.site_id)),
        kv("分组", opt(&d.group)),
        kv("标签", either(tags.is_empty(), "—", &tags)),
        kv("出厂序列号", opt(&d.serial)),
    ];
    let optional = [
        ("充装位", d.position.map(|p| p.to_string())),
        ("用户编号", d.customer_id.clone()),
        ("车辆", d.vehicle.clone()),
        ("通道编号", d.channel_id.clone()),
        ("视频流地址", d.stream_url.clone()),
        ("终端手机号", d.phone.clone()),
    ];
    facts.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| kv(k, v))),
    );
    facts.push(kv(
        "启用",
        either(d.disabled, "已停用（设备无法登录）", "启用"),
    ));
    facts.push(kv("最后上报", seen(d)));
    let limit = format!("{} 秒无消息即为离线", t.offline_after_secs);
    facts.push(kv("离线时限", limit));
    facts
}

/// The latest value of each property, in the model's order (then any the model does not name).
fn properties(d: &DeviceView, t: &DeviceType) -> Table {
    let mut props = Table::new("properties", "最新属性", &["属性", "值", "单位", "时间"]);
    let known = |k: &str| t.properties.iter().any(|p| p.id == k);
    let mut ids: Vec<&str> = t.properties.iter().map(|p| p.id.as_str()).collect();
    ids.extend(
        d.properties
            .keys()
            .map(String::as_str)
            .filter(|k| !known(k)),
    );
    props.rows = ids
        .into_iter()
        .filter_map(|k| d.properties.get(k).map(|x| (k, x)))
        .map(|(k, x)| {
            let (name, unit) = property_label(t, k);
            let time = x["time"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or_else(|| "—".to_owned(), |t| local(t.to_utc()));
            vec![
                Cell::text(name),
                Cell::text(value_text(&x["value"])),
                Cell::text(either(unit.is_empty(), "—", &unit)),
                Cell::text(time),
            ]
        })
        .collect();
    props
}

/// The service form; each service named with what it takes (`id：name min–max unit`).
fn service_form(id: Uuid, t: &DeviceType) -> FormSpec {
    let param = |p: &Param| {
        let range = p.min.zip(p.max).map(|(a, b)| format!(" {a}–{b}"));
        let unit = p.unit.as_deref().unwrap_or("");
        format!("{}：{}{}{unit}", p.id, p.label(), range.unwrap_or_default())
    };
    let services = t.services.iter().map(|s| {
        let params = s.input.iter().map(param).collect::<Vec<_>>().join("，");
        let params = either(params.is_empty(), "无参数", &params);
        (s.id.clone(), format!("{}（{params}）", s.name))
    });
    let input = "参数（可选，JSON 对象，如 {\"tolerance_kg\": 0.5}）";
    FormSpec {
        title: "远程调用".to_owned(),
        action: format!("{LIST}/{id}/call"),
        fields: vec![
            Field::new("service", "服务", "").options(services.collect()),
            Field::new("input", input, "").kind("textarea"),
        ],
        submit: "发送调用",
    }
}

async fn device_page(st: &AppState, v: &Viewer, id: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let id = pe(parse_id(id, "设备"))?;
    let d = pe(registry::get_view(st, &v.p, id).await)?;
    let t = pe(registry::device_type(st, &d.type_id).await)?
        .ok_or_else(|| error_page(ApiError::NotFound("设备类型不存在".to_owned())))?;
    let events = pe(registry::recent_events(st, &v.p, id, registry::RECENT).await)?;
    let readings = pe(registry::readings(st, &v.p, id, None, registry::RECENT).await)?;
    let sites = sites(st, v).await?;
    let mut page = v.page(st, &format!("设备详情 · {}", d.name), LIST).await;
    page.intro = format!("{} · 最后上报：{}", d.type_name, seen(&d));
    let status = match d.status {
        Status::Online => "",
        s => status_class(s),
    };
    page.cards = vec![
        Card::new("status", "状态", d.status.label_zh()).class(status),
        Card::new("up", "上报消息", d.up_count),
        Card::new("down", "下发消息", d.down_count),
        Card::new("bad", "异常消息", d.bad_count).class(either(d.bad_count > 0, "warn", "")),
    ];
    page.blocks
        .push(Block::Facts("设备信息".to_owned(), facts(&d, &t, &sites)));
    let props = properties(&d, &t);
    page.blocks.push(if props.rows.is_empty() {
        let none = "该设备还没有上报属性：设备接入后发布到 up/property 主题即可在此看到。";
        Block::Note(none.to_owned())
    } else {
        Block::Table(props)
    });
    let mut ev = Table::new("events", "最近事件", &["时间", "事件", "内容"]);
    ev.rows = events
        .iter()
        .map(|e| {
            let output = e.output.as_ref().map(Value::to_string);
            vec![
                Cell::text(local(e.time)),
                Cell::text(event_label(&t, &e.event)),
                Cell::text(output.unwrap_or_else(|| "—".to_owned())),
            ]
        })
        .collect();
    page.blocks.push(if ev.rows.is_empty() {
        Block::Note("暂无事件（上线、离线和设备上报的事件会记录在此）。".to_owned())
    } else {
        Block::Table(ev)
    });
    let mut rd = Table::new("readings", "最近读数", &["时间", "属性", "值"]);
    rd.rows = readings
        .iter()
        .map(|r| {
            let (name, unit) = property_label(&t, &r.property);
            let value = format!("{} {unit}", value_text(&r.value));
            let value = Cell::text(value.trim_end());
            vec![Cell::text(local(r.time)), Cell::text(name), value]
        })
        .collect();
    if !rd.rows.is_empty() {
        page.blocks.push(Block::Table(rd));
    }
    let site = d.site_id.map(|s| s.to_string()).unwrap_or_default();
    let disabled = either(d.disabled, "on", "");
    page.blocks.push(Block::Form(FormSpec {
        title: "修改设备".to_owned(),
        action: format!("{LIST}/{id}"),
        fields: vec![
            Field::new("name", "名称", d.name.clone()).required(),
            Field::new("group", "分组", d.group.clone().unwrap_or_default()),
            Field::new("tags", "标签（多个用逗号分隔）", d.tags.join(",")),
            Field::new("site_id", "所在站点", site).options(site_options(&sites, "（不绑定站点）")),
            Field::new("disabled", "停用（停用后设备无法登录和上报）", disabled).kind("checkbox"),
        ],
        submit: "保存修改",
    }));
    if !t.services.is_empty() {
        page.blocks.push(Block::Form(service_form(id, &t)));
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "重置密钥（旧密钥立即失效，新密钥仅显示一次）".to_owned(),
        action: format!("{LIST}/{id}/secret"),
        fields: vec![],
        submit: "重置密钥",
    }));
    Ok(page)
}

pub(crate) async fn device(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    ok(device_page(&st, &v, &id).await?)
}

/// A form posted about device `id` by an enterprise admin with the session's token.
fn posted(v: &Viewer, id: &str, f: Vec<(String, String)>) -> Result<(Posted, Uuid), PageError> {
    enterprise(v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    Ok((f, pe(parse_id(id, "设备"))?))
}

/// 修改设备: name, group, tags, site, disabled.
pub(crate) async fn save(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let (f, uid) = posted(&v, &id, f)?;
    let body = json!({
        "name": f.required("name"),
        "group": f.text("group"),
        "tags": tags_of(f.get("tags")),
        "site_id": f.text("site_id"),
        "disabled": f.get("disabled") == "on",
    });
    let action = format!("{LIST}/{id}");
    match registry::update(&st, &v.p, uid, &body).await {
        Ok(d) => {
            let note = format!("device {} updated (disabled={})", d.id, d.disabled);
            Ok(noted(Redirect::to(&action), note))
        }
        Err(e) => {
            let failure = FormFailure::of(&action, f.sent(), e)?;
            device_page(&st, &v, &id).await?.refused(failure)
        }
    }
}

/// 重置密钥: a new secret, shown this once on the device's page.
pub(crate) async fn reset_secret(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let (_, uid) = posted(&v, &id, f)?;
    let secret = pe(registry::new_secret(&st, &v.p, uid).await)?;
    let mut page = device_page(&st, &v, &id).await?;
    page.blocks.splice(0..0, secret_blocks(uid, &secret));
    Ok(noted(ok(page)?, format!("device {uid} secret reset")))
}

/// The JSON input of a call as typed: nothing, or an object.
fn call_input(raw: &str) -> Result<Value, ApiError> {
    match raw.trim() {
        "" => Ok(Value::Null),
        raw => match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(ApiError::invalid(
                "input",
                "参数应为 JSON 对象，如 {\"tolerance_kg\": 0.5}",
            )),
        },
    }
}

/// 远程调用: sends one of the type's services and shows what became of it (已回复 / 超时).
pub(crate) async fn call(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let (f, uid) = posted(&v, &id, f)?;
    // The device first: a missing one is a 404 page, whatever else is wrong.
    pe(registry::get(&st, &v.p, uid).await)?;
    let action = format!("{LIST}/{id}/call");
    let service = f.get("service").trim().to_owned();
    let result = match call_input(f.get("input")) {
        Ok(input) => calls::call(&st, &v.p, uid, &service, &json!({ "input": input })).await,
        Err(e) => Err(e),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            // A disabled device or an unknown service: said above the form, not as an error page.
            let e = match e {
                ApiError::Forbidden(m) | ApiError::NotFound(m) => ApiError::Conflict(m, vec![]),
                e => e,
            };
            let failure = FormFailure::of(&action, f.sent(), e)?;
            return device_page(&st, &v, &id).await?.refused(failure);
        }
    };
    let replied = outcome.status == "replied";
    let mut facts = vec![
        kv("服务", &service),
        kv("请求编号", &outcome.request_id),
        kv(
            "结果",
            either(replied, "已回复", "超时（设备未在时限内回复）"),
        ),
    ];
    if let Some(code) = outcome.code {
        let meaning = either(code == 0, "（成功）", "（失败）");
        facts.push(kv("返回码", format!("{code}{meaning}")));
    }
    if let Some(m) = &outcome.message {
        facts.push(kv("说明", m));
    }
    if let Some(o) = &outcome.output {
        facts.push(kv("返回内容", o));
    }
    let mut page = device_page(&st, &v, &id).await?;
    page.blocks
        .insert(0, Block::Facts("远程调用结果".to_owned(), facts));
    let note = format!("device {uid} service {service} called: {}", outcome.status);
    Ok(noted(ok(page)?, note))
}
