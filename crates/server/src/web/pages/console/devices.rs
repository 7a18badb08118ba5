//! 设备管理 (issue 18, DEVICES.md "Registry"): the enterprise's devices with their derived status,
//! filtered by type, site, group and status, and the form that registers one (its secret shown once
//! with the MQTT connection facts); a device's page with its facts, counters, latest properties
//! (named from the type's thing model), recent events and readings, and the forms that edit it,
//! issue a new secret and call one of its type's services. Every read and write goes through
//! `services::devices` (the same use cases, data scope and validation as `/api/v1/devices`).

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use cyltrace_domain::FieldError;
use cyltrace_domain::devices::model::DeviceType;
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
    Table, local, ok, pe,
};

const LIST: &str = "/console/devices";

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

    fn filtered(&self) -> bool {
        [&self.type_id, &self.site_id, &self.group, &self.status]
            .iter()
            .any(|s| given(s).is_some())
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
            let mut pairs: Vec<(&str, String)> = [
                ("type", &self.type_id),
                ("site_id", &self.site_id),
                ("group", &self.group),
                ("status", &self.status),
            ]
            .into_iter()
            .filter_map(|(k, v)| given(v).map(|v| (k, v)))
            .collect();
            pairs.push(("page", p.to_string()));
            format!(
                "{LIST}?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        };
        Pager {
            prev: if n > 0 { link(n - 1) } else { String::new() },
            next: if (n + 1) * (PAGE_ROWS as i64) < total && n < MAX_PAGE_NO as i64 {
                link(n + 1)
            } else {
                String::new()
            },
            note: format!("共 {total} 台，第 {} 页", n + 1),
        }
    }
}

/// The sites of the viewer's scope (closed ones too, to name the sites of older devices).
async fn sites(st: &AppState, v: &Viewer) -> Result<Vec<SiteRecord>, PageError> {
    pe(orgs::list_sites(
        st,
        &v.p,
        cyltrace_store::Page {
            limit: 500,
            offset: 0,
        },
    )
    .await)
}

fn site_name(sites: &[SiteRecord], id: Option<Uuid>) -> String {
    match id {
        None => "—".to_owned(),
        Some(id) => sites
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| id.to_string(), |s| s.name.clone()),
    }
}

/// The open sites as options, after `first` (the empty choice).
fn site_options(sites: &[SiteRecord], first: &str) -> Vec<(String, String)> {
    let mut o = vec![(String::new(), first.to_owned())];
    o.extend(sites.iter().filter(|s| s.active).map(|s| {
        (
            s.id.to_string(),
            format!("{}（{}）", s.name, s.kind.label_zh()),
        )
    }));
    o
}

fn type_options(types: &[DeviceType], first: Option<&str>) -> Vec<(String, String)> {
    first
        .map(|f| (String::new(), f.to_owned()))
        .into_iter()
        .chain(types.iter().map(|t| (t.id.clone(), t.name.clone())))
        .collect()
}

fn status_cell(s: Status) -> Cell {
    Cell::text(s.label_zh()).class(match s {
        Status::Online => "ok",
        Status::Offline => "bad",
        Status::Never => "warn",
    })
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

async fn list_page(st: &AppState, v: &Viewer, q: &DevicesQuery) -> Result<Page, PageError> {
    enterprise(v)?;
    let (devices, total, _) = pe(registry::list(st, &v.p, q.service_query()).await)?;
    let types = pe(registry::list_types(st, &v.p).await)?;
    let sites = sites(st, v).await?;
    let mut page = v.page(st, "设备管理", LIST).await;
    page.intro = "充装秤、标签读写器、泄漏报警器、车载终端和视频通道：状态由设备最后一次上报推算\
                  （超过该类设备的离线时限即为离线）。点击设备名称查看详情、修改或远程调用。"
        .to_owned();
    page.filter = Some(Filter {
        action: LIST.to_owned(),
        fields: vec![
            Field::new("type", "类型", given(&q.type_id).unwrap_or_default())
                .options(type_options(&types, Some("全部类型"))),
            Field::new("site_id", "站点", given(&q.site_id).unwrap_or_default())
                .options(site_options(&sites, "全部站点")),
            Field::new("group", "分组", given(&q.group).unwrap_or_default()),
            Field::new("status", "状态", given(&q.status).unwrap_or_default()).options(
                [
                    ("", "全部状态"),
                    ("online", "在线"),
                    ("offline", "离线"),
                    ("never", "未上线"),
                ]
                .into_iter()
                .map(|(k, l)| (k.to_owned(), l.to_owned()))
                .collect(),
            ),
        ],
    });
    let mut t = Table::new(
        "devices",
        "",
        &[
            "名称",
            "类型",
            "站点",
            "分组",
            "状态",
            "最后上报",
            "上报",
            "下发",
            "异常",
        ],
    );
    t.rows = devices
        .iter()
        .map(|d| {
            vec![
                Cell::link(&d.name, format!("{LIST}/{}", d.id)),
                Cell::text(&d.type_name),
                Cell::text(site_name(&sites, d.site_id)),
                Cell::text(d.group.as_deref().unwrap_or("—")),
                if d.disabled {
                    Cell::text(format!("{}（已停用）", d.status.label_zh())).class("warn")
                } else {
                    status_cell(d.status)
                },
                Cell::text(seen(d)),
                Cell::num(d.up_count),
                Cell::num(d.down_count),
                if d.bad_count > 0 {
                    Cell::num(d.bad_count).class("bad")
                } else {
                    Cell::num(d.bad_count)
                },
            ]
        })
        .collect();
    t.pager = Some(q.pager(total));
    if q.filtered() && t.rows.is_empty() {
        page.blocks.push(Block::Note(
            "没有符合条件的设备：请调整筛选条件。".to_owned(),
        ));
    } else {
        page.blocks.push(table_or(
            t,
            q.page_no(),
            "尚无设备：在下方登记充装秤、标签读写器、泄漏报警器、车载终端或视频通道，\
             登记后将设备密钥配置到设备中即可接入。",
        ));
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "登记设备".to_owned(),
        action: LIST.to_owned(),
        fields: vec![
            Field::new("type", "设备类型", "leak_alarm").options(type_options(&types, None)),
            Field::new("name", "名称（如 3号充装秤、张三家厨房报警器）", "").required(),
            Field::new(
                "site_id",
                "所在站点（充装秤须为充装站；入户报警器可不选）",
                "",
            )
            .options(site_options(&sites, "（不绑定站点）")),
            Field::new("serial", "出厂序列号", ""),
            Field::new("group", "分组（如 充装站、居民用户）", ""),
            Field::new("tags", "标签（多个用逗号分隔）", ""),
            Field::new("position", "充装位编号（充装秤、摄像机，1–999）", "").kind("number"),
            Field::new("customer_id", "用户编号（安装在用户家中的泄漏报警器）", ""),
            Field::new(
                "channel_id",
                "通道编号（视频通道，20 位 GB/T 28181 编号）",
                "",
            ),
            Field::new("stream_url", "视频流地址（视频通道，如 rtsp://…）", ""),
            Field::new(
                "phone",
                "终端手机号（车载终端，JT/T 808 报文头中的号码）",
                "",
            ),
        ],
        submit: "登记设备",
    }));
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
    vec![
        Block::Note(
            "设备密钥仅显示一次，请立即配置到设备中：平台只保存密钥的摘要，离开本页后无法再查看；\
             遗失后只能在设备详情页重置密钥。"
                .to_owned(),
        ),
        Block::Facts(
            "设备接入信息（设备密钥仅显示一次）".to_owned(),
            vec![
                ("设备标识（MQTT 用户名）".to_owned(), id.to_string()),
                ("设备密钥（MQTT 密码）".to_owned(), secret.to_owned()),
                (
                    "上报主题（设备发布）".to_owned(),
                    format!("cyltrace/{id}/up/{{kind}}（kind：property、event、heartbeat 等）"),
                ),
                (
                    "下发主题（设备订阅）".to_owned(),
                    format!("cyltrace/{id}/down/#"),
                ),
                (
                    "HTTP 接入".to_owned(),
                    format!(
                        "POST /api/v1/devices/{id}/up/{{kind}}，请求头 Authorization: Device {id}:<设备密钥>"
                    ),
                ),
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
    let tags = tags_of(f.get("tags"));
    let body = object(vec![
        ("type", f.required("type")),
        ("org_id", json!(v.p.org_id)),
        ("site_id", f.text("site_id")),
        ("name", f.required("name")),
        ("serial", f.text("serial")),
        ("group", f.text("group")),
        (
            "tags",
            if tags.is_empty() {
                Value::Null
            } else {
                json!(tags)
            },
        ),
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
            top.push(Block::Links(
                format!("已登记：{}", r.device.name),
                vec![(format!("{LIST}/{}", r.id), "打开设备详情".to_owned())],
            ));
            page.blocks.splice(0..0, top);
            Ok(noted(
                ok(page)?,
                format!("device {} {} registered", r.id, r.device.type_id),
            ))
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
        Value::Bool(b) => (if *b { "是" } else { "否" }).to_owned(),
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

async fn device_page(st: &AppState, v: &Viewer, id: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let id = pe(parse_id(id, "设备"))?;
    let d = pe(registry::get_view(st, &v.p, id).await)?;
    let t = pe(registry::device_type(st, &d.type_id).await)?.ok_or_else(|| {
        crate::web::pages::kit::error_page(ApiError::NotFound("设备类型不存在".to_owned()))
    })?;
    let events = pe(registry::recent_events(st, &v.p, id).await)?;
    let readings = pe(registry::readings(st, &v.p, id, None).await)?;
    let sites = sites(st, v).await?;
    let mut page = v.page(st, &format!("设备详情 · {}", d.name), LIST).await;
    page.intro = format!("{} · 最后上报：{}", d.type_name, seen(&d));
    let status_class = match d.status {
        Status::Online => "",
        Status::Offline => "bad",
        Status::Never => "warn",
    };
    page.cards = vec![
        Card::new("status", "状态", d.status.label_zh()).class(status_class),
        Card::new("up", "上报消息", d.up_count),
        Card::new("down", "下发消息", d.down_count),
        Card::new("bad", "异常消息", d.bad_count).class(if d.bad_count > 0 { "warn" } else { "" }),
    ];
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "—".to_owned());
    let mut facts = vec![
        ("设备标识".to_owned(), d.id.to_string()),
        ("名称".to_owned(), d.name.clone()),
        (
            "类型".to_owned(),
            format!("{}（{}）", d.type_name, d.type_id),
        ),
        ("状态".to_owned(), d.status.label_zh().to_owned()),
        ("所在站点".to_owned(), site_name(&sites, d.site_id)),
        ("分组".to_owned(), opt(&d.group)),
        (
            "标签".to_owned(),
            if d.tags.is_empty() {
                "—".to_owned()
            } else {
                d.tags.join("、")
            },
        ),
        ("出厂序列号".to_owned(), opt(&d.serial)),
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
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    facts.push((
        "启用".to_owned(),
        if d.disabled {
            "已停用（设备无法登录）"
        } else {
            "启用"
        }
        .to_owned(),
    ));
    facts.push(("最后上报".to_owned(), seen(&d)));
    facts.push((
        "离线时限".to_owned(),
        format!("{} 秒无消息即为离线", t.offline_after_secs),
    ));
    page.blocks.push(Block::Facts("设备信息".to_owned(), facts));

    let mut props = Table::new("properties", "最新属性", &["属性", "值", "单位", "时间"]);
    let mut ids: Vec<&str> = t.properties.iter().map(|p| p.id.as_str()).collect();
    ids.extend(
        d.properties
            .keys()
            .map(String::as_str)
            .filter(|k| !t.properties.iter().any(|p| p.id == *k)),
    );
    props.rows = ids
        .into_iter()
        .filter_map(|k| d.properties.get(k).map(|x| (k, x)))
        .map(|(k, x)| {
            let (name, unit) = property_label(&t, k);
            let time = x["time"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map_or_else(|| "—".to_owned(), |t| local(t.to_utc()));
            vec![
                Cell::text(name),
                Cell::text(value_text(&x["value"])),
                Cell::text(if unit.is_empty() {
                    "—".to_owned()
                } else {
                    unit
                }),
                Cell::text(time),
            ]
        })
        .collect();
    page.blocks.push(if props.rows.is_empty() {
        Block::Note(
            "该设备还没有上报属性：设备接入后发布到 up/property 主题即可在此看到。".to_owned(),
        )
    } else {
        Block::Table(props)
    });

    let mut ev = Table::new("events", "最近事件", &["时间", "事件", "内容"]);
    ev.rows = events
        .iter()
        .map(|e| {
            vec![
                Cell::text(local(e.time)),
                Cell::text(event_label(&t, &e.event)),
                Cell::text(
                    e.output
                        .as_ref()
                        .map_or_else(|| "—".to_owned(), Value::to_string),
                ),
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
            vec![
                Cell::text(local(r.time)),
                Cell::text(name),
                Cell::text(
                    format!("{} {unit}", value_text(&r.value))
                        .trim_end()
                        .to_owned(),
                ),
            ]
        })
        .collect();
    if !rd.rows.is_empty() {
        page.blocks.push(Block::Table(rd));
    }

    page.blocks.push(Block::Form(FormSpec {
        title: "修改设备".to_owned(),
        action: format!("{LIST}/{id}"),
        fields: vec![
            Field::new("name", "名称", d.name.clone()).required(),
            Field::new("group", "分组", d.group.clone().unwrap_or_default()),
            Field::new("tags", "标签（多个用逗号分隔）", d.tags.join(",")),
            Field::new(
                "site_id",
                "所在站点",
                d.site_id.map(|s| s.to_string()).unwrap_or_default(),
            )
            .options(site_options(&sites, "（不绑定站点）")),
            Field::new(
                "disabled",
                "停用（停用后设备无法登录和上报）",
                if d.disabled { "on" } else { "" },
            )
            .kind("checkbox"),
        ],
        submit: "保存修改",
    }));
    if !t.services.is_empty() {
        let help = t
            .services
            .iter()
            .map(|s| {
                let params = if s.input.is_empty() {
                    "无参数".to_owned()
                } else {
                    s.input
                        .iter()
                        .map(|p| {
                            let range = match (p.min, p.max) {
                                (Some(a), Some(b)) => format!(" {a}–{b}"),
                                _ => String::new(),
                            };
                            format!(
                                "{}（{}）{range}{}",
                                p.id,
                                p.label(),
                                p.unit.as_deref().unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("，")
                };
                (format!("{}（{}）", s.name, s.id), params)
            })
            .collect();
        page.blocks
            .push(Block::Facts("可远程调用的服务及参数".to_owned(), help));
        page.blocks.push(Block::Form(FormSpec {
            title: "远程调用".to_owned(),
            action: format!("{LIST}/{id}/call"),
            fields: vec![
                Field::new("service", "服务", "").options(
                    t.services
                        .iter()
                        .map(|s| (s.id.clone(), s.name.clone()))
                        .collect(),
                ),
                Field::new(
                    "input",
                    "参数（可选，JSON 对象，如 {\"tolerance_kg\": 0.5}）",
                    "",
                )
                .kind("textarea"),
            ],
            submit: "发送调用",
        }));
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

/// 修改设备: name, group, tags, site, disabled.
pub(crate) async fn save(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let uid = pe(parse_id(&id, "设备"))?;
    let body = json!({
        "name": f.required("name"),
        "group": f.text("group"),
        "tags": tags_of(f.get("tags")),
        "site_id": f.text("site_id"),
        "disabled": f.get("disabled") == "on",
    });
    let action = format!("{LIST}/{id}");
    match registry::update(&st, &v.p, uid, &body).await {
        Ok(d) => Ok(noted(
            Redirect::to(&action),
            format!("device {} updated (disabled={})", d.id, d.disabled),
        )),
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
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let uid = pe(parse_id(&id, "设备"))?;
    let secret = pe(registry::new_secret(&st, &v.p, uid).await)?;
    let mut page = device_page(&st, &v, &id).await?;
    page.blocks.splice(0..0, secret_blocks(uid, &secret));
    Ok(noted(ok(page)?, format!("device {uid} secret reset")))
}

/// 远程调用: sends one of the type's services and shows what became of it (已回复 / 超时).
pub(crate) async fn call(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let uid = pe(parse_id(&id, "设备"))?;
    // The device first: a missing one is a 404 page, whatever else is wrong.
    pe(registry::get(&st, &v.p, uid).await)?;
    let action = format!("{LIST}/{id}/call");
    let service = f.get("service").trim().to_owned();
    let raw = f.get("input").trim();
    let input = if raw.is_empty() {
        Ok(Value::Null)
    } else {
        match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(ApiError::invalid(
                "input",
                "参数应为 JSON 对象，如 {\"tolerance_kg\": 0.5}",
            )),
        }
    };
    let outcome = match input {
        Ok(input) => calls::call(&st, &v.p, uid, &service, &json!({ "input": input })).await,
        Err(e) => Err(e),
    };
    let outcome = match outcome {
        Ok(o) => o,
        // A disabled device or an unknown service: said above the form, not as an error page.
        Err(ApiError::Forbidden(m) | ApiError::NotFound(m)) => {
            let failure = FormFailure {
                action: action.clone(),
                values: f.sent(),
                status: axum::http::StatusCode::CONFLICT,
                errors: vec![FieldError::new("", m)],
            };
            return device_page(&st, &v, &id).await?.refused(failure);
        }
        Err(e) => {
            let failure = FormFailure::of(&action, f.sent(), e)?;
            return device_page(&st, &v, &id).await?.refused(failure);
        }
    };
    let replied = outcome.status == "replied";
    let mut facts = vec![
        ("服务".to_owned(), service.clone()),
        ("请求编号".to_owned(), outcome.request_id.clone()),
        (
            "结果".to_owned(),
            if replied {
                "已回复"
            } else {
                "超时（设备未在时限内回复）"
            }
            .to_owned(),
        ),
    ];
    if let Some(code) = outcome.code {
        facts.push((
            "返回码".to_owned(),
            format!(
                "{code}{}",
                if code == 0 {
                    "（成功）"
                } else {
                    "（失败）"
                }
            ),
        ));
    }
    if let Some(m) = &outcome.message {
        facts.push(("说明".to_owned(), m.clone()));
    }
    if let Some(o) = &outcome.output {
        facts.push(("返回内容".to_owned(), o.to_string()));
    }
    let mut page = device_page(&st, &v, &id).await?;
    page.blocks
        .insert(0, Block::Facts("远程调用结果".to_owned(), facts));
    Ok(noted(
        ok(page)?,
        format!("device {uid} service {service} called: {}", outcome.status),
    ))
}
