//! 设备报警, 报警规则 and 通知渠道 (issue 18, DEVICES.md "Alarm rules and notification", C10):
//! the alarms of the enterprise's devices filtered by state and severity, with the buttons that
//! acknowledge and clear them, and an alarm's page with its deliveries; the rules with the form
//! that creates one (its JSON built from the form, every reason next to its field); the
//! notification channels (`notify_channels.rs`). Every read and write goes
//! through `services::devices::alarms` (the same use cases, data scope and validation as the v1
//! API).

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use cyltrace_domain::devices::model::DeviceType;
use cyltrace_domain::devices::rules::{AlarmRule, Condition, Op, Severity};
use cyltrace_store::{
    AlarmRuleRecord, ChannelRecord, DELIVERY_CAPPED, DELIVERY_FAILED, DELIVERY_PENDING,
    DELIVERY_SENT, DeliveryRecord, DeviceAlarm, KIND_LEAK, PHASE_CLEARED, PHASE_REPEATED,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::office::{Posted, object, table_or};
use super::{MAX_PAGE_NO, PAGE_ROWS, enterprise};
use crate::services::devices::alarms::{self, AlarmQuery};
use crate::services::devices::registry;
use crate::services::parse_id;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, Filter, FormFailure, FormSpec, Page, PageError, PageResult, Pager, Table,
    local, ok, pe,
};

const ALARMS: &str = "/console/alarms";
const RULES: &str = "/console/alarm-rules";

const STATES: &[(&str, &str)] = &[
    ("", "全部状态"),
    ("open", "待处理（告警中或未确认）"),
    ("active_unack", "告警中·未确认"),
    ("active_ack", "告警中·已确认"),
    ("cleared_unack", "已恢复·未确认"),
    ("cleared_ack", "已恢复·已确认"),
];

/// A filter value as sent: `None` when left empty.
fn given(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

fn severity_options(first: Option<&str>) -> Vec<(String, String)> {
    let first = first.map(|f| (String::new(), f.to_owned()));
    first
        .into_iter()
        .chain(
            Severity::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), s.label_zh().to_owned())),
        )
        .collect()
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::Major => "bad",
        Severity::Minor | Severity::Warning => "warn",
        Severity::Info => "",
    }
}

fn state_text(active: bool, acked: bool) -> String {
    let a = if active { "告警中" } else { "已恢复" };
    let b = if acked { "已确认" } else { "未确认" };
    format!("{a}·{b}")
}

fn state_class(active: bool, acked: bool) -> &'static str {
    match (active, acked) {
        (true, false) => "bad",
        (true, true) => "warn",
        (false, false) => "warn",
        (false, true) => "ok",
    }
}

fn kind_text(kind: &str) -> &'static str {
    if kind == KIND_LEAK {
        "泄漏"
    } else {
        "规则"
    }
}

// ------------------------------------------------------------------------------ alarms

#[derive(Deserialize, Default)]
pub(crate) struct AlarmsQuery {
    state: Option<String>,
    severity: Option<String>,
    page: Option<i64>,
}

impl AlarmsQuery {
    fn page_no(&self) -> i64 {
        self.page.unwrap_or(0).clamp(0, MAX_PAGE_NO as i64)
    }

    fn params(&self) -> [(&'static str, Option<String>); 2] {
        [
            ("state", given(&self.state)),
            ("severity", given(&self.severity)),
        ]
    }

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
            format!("{ALARMS}?{qs}")
        };
        let more = (n + 1) * (PAGE_ROWS as i64) < total && n < MAX_PAGE_NO as i64;
        Pager {
            prev: if n > 0 { link(n - 1) } else { String::new() },
            next: if more { link(n + 1) } else { String::new() },
            note: format!("共 {total} 条，第 {} 页", n + 1),
        }
    }
}

/// The names of the devices of `alarms` (the id when a device cannot be read).
async fn device_names(st: &AppState, v: &Viewer, alarms: &[DeviceAlarm]) -> HashMap<Uuid, String> {
    let mut names = HashMap::new();
    for a in alarms {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(a.device_id) {
            let name = registry::get(st, &v.p, a.device_id)
                .await
                .map_or_else(|_| a.device_id.to_string(), |d| d.name);
            slot.insert(name);
        }
    }
    names
}

/// Whether a person may clear the alarm: an active leak alarm or one of an event rule (whose
/// condition never clears by itself).
fn clearable(a: &DeviceAlarm, rules: &HashMap<Uuid, AlarmRule>) -> bool {
    a.active
        && (a.kind == KIND_LEAK
            || a.rule_id
                .and_then(|r| rules.get(&r))
                .is_some_and(|r| matches!(r.condition, Condition::Event { .. })))
}

async fn rule_map(st: &AppState, v: &Viewer) -> Result<HashMap<Uuid, AlarmRule>, PageError> {
    let rules = pe(alarms::list_rules(st, &v.p).await)?;
    Ok(rules.into_iter().map(|r| (r.id, r.rule)).collect())
}

fn alarm_row(
    a: &DeviceAlarm,
    names: &HashMap<Uuid, String>,
    rules: &HashMap<Uuid, AlarmRule>,
) -> Vec<Cell> {
    let device = names
        .get(&a.device_id)
        .cloned()
        .unwrap_or_else(|| a.device_id.to_string());
    let ack = if a.acked {
        Cell::text("")
    } else {
        Cell::button(format!("{ALARMS}/{}/ack", a.id), "确认")
    };
    let clear = if clearable(a, rules) {
        Cell::button(format!("{ALARMS}/{}/clear", a.id), "解除")
    } else {
        Cell::text("")
    };
    vec![
        Cell::link(local(a.raised_at), format!("{ALARMS}/{}", a.id)),
        Cell::link(device, format!("/console/devices/{}", a.device_id)),
        Cell::text(kind_text(&a.kind)),
        Cell::text(a.severity.label_zh()).class(severity_class(a.severity)),
        Cell::text(state_text(a.active, a.acked)).class(state_class(a.active, a.acked)),
        Cell::num(a.count),
        Cell::text(&a.detail),
        ack,
        clear,
    ]
}

async fn alarms_page(st: &AppState, v: &Viewer, q: &AlarmsQuery) -> Result<Page, PageError> {
    enterprise(v)?;
    let sq = AlarmQuery {
        state: given(&q.state),
        severity: given(&q.severity),
        device_id: None,
        limit: Some(PAGE_ROWS as i64),
        offset: Some(q.page_no() * PAGE_ROWS as i64),
    };
    let (items, total, _) = pe(alarms::list_alarms(st, &v.p, &sq).await)?;
    let names = device_names(st, v, &items).await;
    let rules = rule_map(st, v).await?;
    let mut page = v.page(st, "设备报警", ALARMS).await;
    page.intro = "泄漏报警器上报的燃气泄漏和报警规则触发的告警：确认表示已知悉（停止重复提醒），\
                  解除用于设备事件和泄漏告警（其条件不会自行恢复）。点击时间查看通知发送情况。"
        .to_owned();
    let [state, severity] = q.params().map(|(_, v)| v.unwrap_or_default());
    let states = STATES
        .iter()
        .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()));
    page.filter = Some(Filter {
        action: ALARMS.to_owned(),
        fields: vec![
            Field::new("state", "状态", state).options(states.collect()),
            Field::new("severity", "级别", severity).options(severity_options(Some("全部级别"))),
        ],
    });
    let head = "时间 设备 类型 级别 状态 次数 说明 确认 解除";
    let mut t = Table::new("alarms", "", &head.split(' ').collect::<Vec<_>>());
    t.rows = items.iter().map(|a| alarm_row(a, &names, &rules)).collect();
    t.pager = Some(q.pager(total));
    let filtered = q.params().iter().any(|(_, v)| v.is_some());
    page.blocks.push(if filtered && t.rows.is_empty() {
        Block::Note("没有符合条件的报警：请调整筛选条件。".to_owned())
    } else {
        let empty = "暂无设备报警：泄漏报警器上报泄漏或报警规则的条件成立时，报警会显示在这里。";
        table_or(t, q.page_no(), empty)
    });
    Ok(page)
}

pub(crate) async fn alarm_list(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<AlarmsQuery>,
) -> PageResult {
    ok(alarms_page(&st, &v, &q).await?)
}

fn phase_text(p: &str) -> &'static str {
    match p {
        PHASE_REPEATED => "重复提醒",
        PHASE_CLEARED => "恢复",
        _ => "报警",
    }
}

fn delivery_state(d: &DeliveryRecord) -> (&'static str, &'static str) {
    match d.state.as_str() {
        DELIVERY_SENT => ("已发送", "ok"),
        DELIVERY_FAILED => ("失败", "bad"),
        DELIVERY_CAPPED => ("超限", "warn"),
        DELIVERY_PENDING if d.attempt > 0 => ("失败·等待重试", "warn"),
        _ => ("待发送", ""),
    }
}

async fn alarm_page(st: &AppState, v: &Viewer, id: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let id = pe(parse_id(id, "报警"))?;
    let (a, deliveries) = pe(alarms::get_alarm(st, &v.p, id).await)?;
    let names = device_names(st, v, std::slice::from_ref(&a)).await;
    let rules = pe(alarms::list_rules(st, &v.p).await)?;
    let channels = pe(alarms::list_channels(st, &v.p).await)?;
    let rule = a.rule_id.and_then(|r| rules.iter().find(|x| x.id == r));
    let device = names.get(&a.device_id).cloned().unwrap_or_default();
    let mut page = v.page(st, &format!("报警详情 · {device}"), ALARMS).await;
    page.intro = format!(
        "{} · {} · {}",
        kind_text(&a.kind),
        a.severity.label_zh(),
        state_text(a.active, a.acked)
    );
    let opt = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or_else(|| "—".to_owned(), local);
    let mut facts = vec![
        kv("报警编号", a.id),
        kv("设备", format!("{device}（{}）", a.device_id)),
        kv("类型", kind_text(&a.kind)),
        kv(
            "规则",
            rule.map_or_else(|| "—（内置泄漏报警）".to_owned(), |r| r.rule.name.clone()),
        ),
        kv("级别", a.severity.label_zh()),
        kv("状态", state_text(a.active, a.acked)),
        kv("首次报警", local(a.raised_at)),
        kv("最近更新", local(a.updated_at)),
        kv("恢复时间", opt(a.cleared_at)),
        kv("确认时间", opt(a.acked_at)),
        kv("次数", a.count),
        kv("说明", &a.detail),
    ];
    if let Some(c) = &a.customer_id {
        facts.insert(2, kv("用户编号", c));
    }
    page.blocks.push(Block::Facts("报警信息".to_owned(), facts));
    let channel_name = |c: Uuid| {
        channels
            .iter()
            .find(|x| x.id == c)
            .map_or_else(|| c.to_string(), |x| x.channel.name.clone())
    };
    let mut t = Table::new(
        "deliveries",
        "通知发送",
        &["渠道", "阶段", "状态", "次数", "错误", "时间"],
    );
    t.rows = deliveries
        .iter()
        .map(|d| {
            let (state, class) = delivery_state(d);
            vec![
                Cell::text(channel_name(d.channel_id)),
                Cell::text(phase_text(&d.phase)),
                Cell::text(state).class(class),
                Cell::num(d.attempt),
                Cell::text(d.error.as_deref().unwrap_or("—")),
                Cell::text(local(d.sent_at.unwrap_or(d.created_at))),
            ]
        })
        .collect();
    page.blocks.push(if t.rows.is_empty() {
        Block::Note("该报警没有通知记录（规则未设通知渠道，或本单位尚无通知渠道）。".to_owned())
    } else {
        Block::Table(t)
    });
    if !a.acked {
        page.blocks.push(Block::Form(FormSpec {
            title: "确认报警（已知悉，停止重复提醒）".to_owned(),
            action: format!("{ALARMS}/{id}/ack?back=detail"),
            fields: vec![],
            submit: "确认",
        }));
    }
    let rules: HashMap<Uuid, AlarmRule> = rules.into_iter().map(|r| (r.id, r.rule)).collect();
    if clearable(&a, &rules) {
        page.blocks.push(Block::Form(FormSpec {
            title: "解除报警（现场已处置）".to_owned(),
            action: format!("{ALARMS}/{id}/clear?back=detail"),
            fields: vec![],
            submit: "解除",
        }));
    }
    Ok(page)
}

pub(crate) async fn alarm(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    ok(alarm_page(&st, &v, &id).await?)
}

#[derive(Deserialize, Default)]
pub(crate) struct Back {
    back: Option<String>,
}

/// A form posted by an enterprise admin with the session's token.
pub(super) fn posted(v: &Viewer, f: Vec<(String, String)>) -> Result<Posted, PageError> {
    enterprise(v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    Ok(f)
}

fn back_to(id: Uuid, b: &Back) -> String {
    if b.back.as_deref() == Some("detail") {
        format!("{ALARMS}/{id}")
    } else {
        ALARMS.to_owned()
    }
}

/// 确认: acknowledges an alarm.
pub(crate) async fn ack(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(b): Query<Back>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    posted(&v, f)?;
    let id = pe(parse_id(&id, "报警"))?;
    pe(alarms::ack_alarm(&st, &v.p, id).await)?;
    Ok(noted(
        Redirect::to(&back_to(id, &b)),
        format!("alarm {id} acknowledged"),
    ))
}

/// 解除: clears an active event or leak alarm.
pub(crate) async fn clear(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(b): Query<Back>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    posted(&v, f)?;
    let id = pe(parse_id(&id, "报警"))?;
    pe(alarms::clear_alarm(&st, &v.p, id).await)?;
    Ok(noted(
        Redirect::to(&back_to(id, &b)),
        format!("alarm {id} cleared"),
    ))
}

// ------------------------------------------------------------------------------ rules

const CONDITIONS: &[(&str, &str)] = &[
    ("property", "属性阈值"),
    ("event", "设备事件"),
    ("offline", "离线"),
];

fn property_name(types: &[DeviceType], ty: Option<&str>, id: &str) -> String {
    types
        .iter()
        .filter(|t| ty.is_none_or(|ty| ty == t.id))
        .flat_map(|t| t.properties.iter())
        .find(|p| p.id == id)
        .map_or_else(String::new, |p| p.label().to_owned())
}

fn event_name(types: &[DeviceType], ty: Option<&str>, id: &str) -> String {
    types
        .iter()
        .filter(|t| ty.is_none_or(|ty| ty == t.id))
        .flat_map(|t| t.events.iter())
        .find(|e| e.id == id)
        .map_or_else(|| id.to_owned(), |e| format!("{}（{id}）", e.name))
}

/// The condition as a person reads it: `浓度 concentration > 20 持续 60 秒`.
fn condition_text(r: &AlarmRule, types: &[DeviceType]) -> String {
    let ty = r.device_type.as_deref();
    let lasting = if r.for_secs > 0 {
        format!(" 持续 {} 秒", r.for_secs)
    } else {
        String::new()
    };
    match &r.condition {
        Condition::Threshold {
            property,
            op,
            value,
        } => {
            let name = property_name(types, ty, property);
            let name = if name.is_empty() { name } else { name + " " };
            format!("{name}{property} {} {value}{lasting}", op.as_str())
        }
        Condition::Event { event } => format!("设备事件 {}", event_name(types, ty, event)),
        Condition::Offline => format!("离线{lasting}"),
    }
}

fn rule_form(types: &[DeviceType], channels: &[ChannelRecord]) -> FormSpec {
    let type_options = std::iter::once((String::new(), "（所有类型）".to_owned()))
        .chain(types.iter().map(|t| (t.id.clone(), t.name.clone())))
        .collect();
    let conditions = CONDITIONS
        .iter()
        .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
        .collect();
    let ops = Op::ALL
        .iter()
        .map(|o| (o.as_str().to_owned(), o.as_str().to_owned()))
        .collect();
    let notify = channels
        .iter()
        .map(|c| {
            (
                c.id.to_string(),
                format!("{}（{}）", c.channel.name, c.channel.kind()),
            )
        })
        .collect();
    FormSpec {
        title: "新建报警规则".to_owned(),
        action: RULES.to_owned(),
        fields: vec![
            Field::new("name", "规则名称（如 燃气浓度过高）", "").required(),
            Field::new("device_type", "设备类型", "").options(type_options),
            Field::new("group", "设备分组（可选，只对该分组的设备生效）", ""),
            Field::new("condition", "条件类型", "property").options(conditions),
            Field::new("property", "属性标识（属性阈值，如 concentration）", ""),
            Field::new("op", "比较符（属性阈值）", ">").options(ops),
            Field::new("value", "阈值（属性阈值）", "").kind("number"),
            Field::new("event", "事件标识（设备事件，如 leak、tamper）", ""),
            Field::new(
                "for_secs",
                "持续时间（秒，0 为立即报警；设备事件忽略）",
                "0",
            )
            .kind("number"),
            Field::new("severity", "级别", "major").options(severity_options(None)),
            Field::new("notify", "通知渠道", "")
                .kind("checkboxes")
                .options(notify),
        ],
        submit: "创建规则",
    }
}

async fn rules_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    enterprise(v)?;
    let rules = pe(alarms::list_rules(st, &v.p).await)?;
    let channels = pe(alarms::list_channels(st, &v.p).await)?;
    let channels: Vec<ChannelRecord> = channels.into_iter().filter(|c| !c.deleted).collect();
    let types = pe(registry::list_types(st, &v.p).await)?;
    let mut page = v.page(st, "报警规则", RULES).await;
    page.intro = "规则对本单位（及下级单位）中符合设备类型和分组的设备生效：属性读数越过阈值、\
                  设备上报某事件或设备离线时报警，并按所选渠道通知。删除的规则不再报警，已有报警不变。"
        .to_owned();
    let type_name = |id: &Option<String>| {
        id.as_deref().map_or_else(
            || "所有类型".to_owned(),
            |id| {
                types
                    .iter()
                    .find(|t| t.id == id)
                    .map_or_else(|| id.to_owned(), |t| t.name.clone())
            },
        )
    };
    let channel_names = |ids: &[Uuid]| {
        let names: Vec<String> = ids
            .iter()
            .map(|id| {
                channels
                    .iter()
                    .find(|c| c.id == *id)
                    .map_or_else(|| "（已删除）".to_owned(), |c| c.channel.name.clone())
            })
            .collect();
        if names.is_empty() {
            "不通知".to_owned()
        } else {
            names.join("、")
        }
    };
    let head = "名称 设备类型 分组 条件 级别 通知渠道 状态 删除";
    let mut t = Table::new("rules", "", &head.split(' ').collect::<Vec<_>>());
    t.rows = rules
        .iter()
        .map(|r: &AlarmRuleRecord| {
            let rule = &r.rule;
            let (state, delete) = if r.enabled {
                let url = format!("{RULES}/{}/delete", r.id);
                (Cell::text("启用").class("ok"), Cell::button(url, "删除"))
            } else {
                (Cell::text("已删除").class("warn"), Cell::text(""))
            };
            vec![
                Cell::text(&rule.name),
                Cell::text(type_name(&rule.device_type)),
                Cell::text(rule.group.as_deref().unwrap_or("—")),
                Cell::text(condition_text(rule, &types)),
                Cell::text(rule.severity.label_zh()).class(severity_class(rule.severity)),
                Cell::text(channel_names(&rule.notify)),
                state,
                delete,
            ]
        })
        .collect();
    let empty = "尚无报警规则：在下方新建，如 泄漏报警器 浓度 concentration > 20 持续 60 秒。";
    page.blocks.push(table_or(t, 0, empty));
    page.blocks.push(Block::Form(rule_form(&types, &channels)));
    Ok(page)
}

pub(crate) async fn rules(State(st): State<AppState>, v: Viewer) -> PageResult {
    ok(rules_page(&st, &v).await?)
}

/// The body of `create_rule` from the form.
fn rule_body(f: &Posted) -> Value {
    let condition = match f.get("condition") {
        "event" => object(vec![("event", f.required("event"))]),
        "offline" => json!({"offline": true}),
        _ => object(vec![
            ("property", f.required("property")),
            ("op", f.required("op")),
            ("value", f.number("value")),
        ]),
    };
    let notify: Vec<&str> = f.all("notify");
    object(vec![
        ("name", f.required("name")),
        ("device_type", f.text("device_type")),
        ("group", f.text("group")),
        ("condition", condition),
        ("for_secs", f.number("for_secs")),
        ("severity", f.required("severity")),
        ("notify", json!(notify)),
    ])
}

/// What was sent, the checked channels as one comma-separated value (a `checkboxes` field).
fn sent_with_checks(f: &Posted, name: &str) -> Vec<(String, String)> {
    let mut sent: Vec<(String, String)> = f.sent().into_iter().filter(|(k, _)| k != name).collect();
    sent.push((name.to_owned(), f.all(name).join(",")));
    sent
}

pub(crate) async fn create_rule(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = posted(&v, f)?;
    match alarms::create_rule(&st, &v.p, &rule_body(&f)).await {
        Ok(r) => Ok(noted(
            Redirect::to(RULES),
            format!("alarm rule {} created", r.id),
        )),
        Err(e) => {
            let failure = FormFailure::of(RULES, sent_with_checks(&f, "notify"), e)?;
            rules_page(&st, &v).await?.refused(failure)
        }
    }
}

pub(crate) async fn delete_rule(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    posted(&v, f)?;
    let id = pe(parse_id(&id, "报警规则"))?;
    pe(alarms::delete_rule(&st, &v.p, id).await)?;
    Ok(noted(
        Redirect::to(RULES),
        format!("alarm rule {id} deleted"),
    ))
}
