//! Alarm rules on device data and the pure evaluator behind them (DEVICES.md "Alarm rules and
//! notification"; 004 §4.2.5 c, §8.1.2; requirements H3, H5, C10).
//!
//! A rule is parsed from the body of `POST /api/v1/alarm-rules` ([`parse_rule`]), selects devices
//! ([`AlarmRule::applies_to`]) and is evaluated per (rule, device) by [`step`], a state machine
//! fed with readings, events, status changes and clock ticks. Nothing here reads a clock: every
//! input carries its time. The stored alarm's two independent axes (active/cleared,
//! acknowledged/unacknowledged) are named by [`state_str`] and filtered by [`parse_state_filter`].

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ValidationErrors;

/// The longest `for_secs` a rule may ask for (one day).
pub const MAX_FOR_SECS: u32 = 86_400;
/// The most notification channels one rule may name.
pub const MAX_NOTIFY: usize = 16;
/// The longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// How serious an alarm is; the five levels of DEVICES.md, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Critical,
    Major,
    Minor,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Self::Critical,
        Self::Major,
        Self::Minor,
        Self::Warning,
        Self::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Major => "major",
            Self::Minor => "minor",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Critical => "严重",
            Self::Major => "重要",
            Self::Minor => "次要",
            Self::Warning => "警告",
            Self::Info => "提示",
        }
    }

    /// The wire name back to the level (`GET /api/v1/alarms?severity=`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A comparison of a reading against a rule's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl Op {
    pub const ALL: [Op; 5] = [Self::Gt, Self::Ge, Self::Lt, Self::Le, Self::Eq];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether `reading op value` holds (IEEE comparison: a NaN never satisfies anything).
    pub fn holds(self, reading: f64, value: f64) -> bool {
        match self {
            Self::Gt => reading > value,
            Self::Ge => reading >= value,
            Self::Lt => reading < value,
            Self::Le => reading <= value,
            Self::Eq => reading == value,
        }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A property reading compared with a number: `{"property","op","value"}`.
    Threshold {
        property: String,
        op: Op,
        value: f64,
    },
    /// A device event of this id: `{"event": id}`.
    Event { event: String },
    /// The device going offline: `{"offline": true}`.
    Offline,
}

/// A validated alarm rule (the body of `POST /api/v1/alarm-rules`).
///
/// A rule without `device_type`, `group` and `device_id` applies to every device in its scope.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule {
    pub name: String,
    pub device_type: Option<String>,
    pub group: Option<String>,
    pub device_id: Option<Uuid>,
    pub condition: Condition,
    /// How long the condition must hold before the alarm is raised (0 = at once). Ignored for
    /// event conditions, which are instantaneous.
    pub for_secs: u32,
    pub severity: Severity,
    /// Notification channel ids, without duplicates.
    pub notify: Vec<Uuid>,
    /// The property's Chinese name from the thing model (`浓度`), used in `detail_zh`. Not part of
    /// the request: the server may fill it in with [`AlarmRule::with_property_name`].
    pub property_name: Option<String>,
}

/// What a rule needs to know about a device to decide whether it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    pub id: Uuid,
    pub type_id: &'a str,
    pub group: Option<&'a str>,
}

impl AlarmRule {
    /// Whether this rule watches `device`: every selector the rule has must match; a rule with
    /// none applies to all devices.
    pub fn applies_to(&self, device: &DeviceFacts) -> bool {
        self.device_id.is_none_or(|id| id == device.id)
            && self
                .device_type
                .as_deref()
                .is_none_or(|t| t == device.type_id)
            && self
                .group
                .as_deref()
                .is_none_or(|g| Some(g) == device.group)
    }

    /// The same rule with the thing model's name for its property (shown in `detail_zh`).
    pub fn with_property_name(mut self, name: impl Into<String>) -> Self {
        self.property_name = Some(name.into());
        self
    }

    /// The rule as request JSON: `parse_rule(&rule.to_json())` gives the rule back (less
    /// `property_name`, which is not part of the request).
    pub fn to_json(&self) -> Value {
        let condition = match &self.condition {
            Condition::Threshold {
                property,
                op,
                value,
            } => json!({"property": property, "op": op.as_str(), "value": value}),
            Condition::Event { event } => json!({"event": event}),
            Condition::Offline => json!({"offline": true}),
        };
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(t) = &self.device_type {
            m.insert("device_type".into(), json!(t));
        }
        if let Some(g) = &self.group {
            m.insert("group".into(), json!(g));
        }
        if let Some(d) = &self.device_id {
            m.insert("device_id".into(), json!(d));
        }
        m.insert("condition".into(), condition);
        m.insert("for_secs".into(), json!(self.for_secs));
        m.insert("severity".into(), json!(self.severity.as_str()));
        m.insert("notify".into(), json!(self.notify));
        Value::Object(m)
    }
}

impl Serialize for AlarmRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Small helpers for walking untrusted JSON field by field, collecting every error (shared with
/// `notify`).
pub(crate) mod walk {
    use serde_json::{Map, Value};
    use uuid::Uuid;

    use crate::error::{ValidationErrors, join_path};

    pub const MISSING: &str = "缺少必填字段";
    pub const UNKNOWN: &str = "不允许的字段（未知字段）";

    /// The object at `path`, or an error.
    pub fn object<'a>(
        v: &'a Value,
        path: &str,
        errs: &mut ValidationErrors,
    ) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                errs.push(path, "类型错误：应为 对象");
                None
            }
        }
    }

    /// Refuses keys not in `allowed`.
    pub fn no_unknown(
        obj: &Map<String, Value>,
        allowed: &[&str],
        prefix: &str,
        errs: &mut ValidationErrors,
    ) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                errs.push(join_path(prefix, k), UNKNOWN);
            }
        }
    }

    /// The value of an optional key; `null` counts as absent.
    pub fn opt<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    /// A required key's value, or "missing".
    pub fn req<'a>(
        obj: &'a Map<String, Value>,
        key: &str,
        prefix: &str,
        errs: &mut ValidationErrors,
    ) -> Option<&'a Value> {
        let v = opt(obj, key);
        if v.is_none() {
            errs.push(join_path(prefix, key), MISSING);
        }
        v
    }

    /// A string value, or a type error at `path`.
    pub fn string<'a>(v: &'a Value, path: &str, errs: &mut ValidationErrors) -> Option<&'a str> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                errs.push(path, "类型错误：应为 字符串");
                None
            }
        }
    }

    /// A trimmed text of 1..=max characters without control characters.
    pub fn text(
        v: &Value,
        path: &str,
        what: &str,
        max: usize,
        errs: &mut ValidationErrors,
    ) -> Option<String> {
        let s = string(v, path, errs)?.trim();
        if s.is_empty() {
            errs.push(path, format!("{what}不能为空"));
            None
        } else if s.chars().count() > max {
            errs.push(path, format!("{what}最多 {max} 个字符"));
            None
        } else if s.chars().any(char::is_control) {
            errs.push(path, format!("{what}不能含控制字符"));
            None
        } else {
            Some(s.to_owned())
        }
    }

    /// An identifier as used by the thing model (`leak_alarm`, `concentration`): 1..=64 ASCII
    /// letters, digits, `_`, `-` or `.`.
    pub fn ident(v: &Value, path: &str, what: &str, errs: &mut ValidationErrors) -> Option<String> {
        let s = string(v, path, errs)?;
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Some(s.to_owned())
        } else {
            errs.push(
                path,
                format!("{what}应为 1–64 位字母、数字、下划线、连字符或点"),
            );
            None
        }
    }

    /// A UUID string.
    pub fn uuid(v: &Value, path: &str, what: &str, errs: &mut ValidationErrors) -> Option<Uuid> {
        let s = string(v, path, errs)?;
        match Uuid::parse_str(s) {
            Ok(u) => Some(u),
            Err(_) => {
                errs.push(path, format!("{what}应为 UUID"));
                None
            }
        }
    }

    /// A whole number in `min..=max`.
    pub fn int_in(
        v: &Value,
        path: &str,
        what: &str,
        min: u64,
        max: u64,
        errs: &mut ValidationErrors,
    ) -> Option<u64> {
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                errs.push(path, format!("{what}应为 {min} 到 {max} 之间的整数"));
                None
            }
        }
    }

    /// An array value, or a type error.
    pub fn array<'a>(v: &'a Value, path: &str, errs: &mut ValidationErrors) -> Option<&'a [Value]> {
        match v {
            Value::Array(a) => Some(a),
            _ => {
                errs.push(path, "类型错误：应为 数组");
                None
            }
        }
    }
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "device_type",
    "group",
    "device_id",
    "condition",
    "for_secs",
    "severity",
    "notify",
];

const CONDITION_SHAPES: &str =
    "条件应为以下之一：属性阈值 {property, op, value}、事件 {event} 或离线 {offline: true}";

/// Parses the body of `POST /api/v1/alarm-rules`, naming every wrong field with a Chinese reason.
///
/// `null` counts as absent for optional fields; unknown fields are refused; `notify` may be
/// omitted (no notifications: the alarm only shows on the console).
pub fn parse_rule(v: &Value) -> Result<AlarmRule, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let Some(obj) = walk::object(v, "", &mut errs) else {
        return Err(errs);
    };
    walk::no_unknown(obj, RULE_FIELDS, "", &mut errs);

    let name = walk::req(obj, "name", "", &mut errs)
        .and_then(|v| walk::text(v, "name", "规则名称", MAX_NAME_CHARS, &mut errs));
    let device_type =
        walk::opt(obj, "device_type").map(|v| walk::ident(v, "device_type", "设备类型", &mut errs));
    let group = walk::opt(obj, "group").map(|v| walk::text(v, "group", "分组", 64, &mut errs));
    let device_id =
        walk::opt(obj, "device_id").map(|v| walk::uuid(v, "device_id", "设备编号", &mut errs));
    let condition =
        walk::req(obj, "condition", "", &mut errs).and_then(|v| parse_condition(v, &mut errs));
    let for_secs = match walk::opt(obj, "for_secs") {
        None => Some(0),
        Some(v) => walk::int_in(
            v,
            "for_secs",
            "持续时间（秒）",
            0,
            MAX_FOR_SECS.into(),
            &mut errs,
        )
        .map(|n| n as u32),
    };
    let severity = walk::req(obj, "severity", "", &mut errs).and_then(|v| {
        let s = walk::string(v, "severity", &mut errs)?;
        let sev = Severity::parse(s);
        if sev.is_none() {
            errs.push(
                "severity",
                "级别应为 critical（严重）、major（重要）、minor（次要）、warning（警告）或 info（提示）",
            );
        }
        sev
    });
    let notify = match walk::opt(obj, "notify") {
        None => Some(Vec::new()),
        Some(v) => parse_notify(v, &mut errs),
    };

    match (
        name,
        device_type,
        group,
        device_id,
        condition,
        for_secs,
        severity,
        notify,
    ) {
        (
            Some(name),
            device_type,
            group,
            device_id,
            Some(condition),
            Some(for_secs),
            Some(severity),
            Some(notify),
        ) if errs.is_empty() => Ok(AlarmRule {
            name,
            device_type: device_type.flatten(),
            group: group.flatten(),
            device_id: device_id.flatten(),
            condition,
            for_secs,
            severity,
            notify,
            property_name: None,
        }),
        _ => Err(errs),
    }
}

fn parse_condition(v: &Value, errs: &mut ValidationErrors) -> Option<Condition> {
    let obj = walk::object(v, "condition", errs)?;
    let has = |k: &str| obj.contains_key(k);
    let shapes = [has("property"), has("event"), has("offline")];
    if shapes.iter().filter(|b| **b).count() != 1 {
        errs.push("condition", CONDITION_SHAPES);
        return None;
    }
    let p = "condition";
    if has("property") {
        walk::no_unknown(obj, &["property", "op", "value"], p, errs);
        let property = walk::req(obj, "property", p, errs)
            .and_then(|v| walk::ident(v, "condition.property", "属性标识", errs));
        let op = walk::req(obj, "op", p, errs).and_then(|v| {
            let op = v.as_str().and_then(Op::parse);
            if op.is_none() {
                errs.push("condition.op", "比较符应为 >、>=、<、<=、==");
            }
            op
        });
        let value = walk::req(obj, "value", p, errs).and_then(|v| {
            let n = v.as_f64().filter(|n| n.is_finite());
            if n.is_none() {
                errs.push("condition.value", "阈值应为数字");
            }
            n
        });
        Some(Condition::Threshold {
            property: property?,
            op: op?,
            value: value?,
        })
    } else if has("event") {
        walk::no_unknown(obj, &["event"], p, errs);
        let event = walk::req(obj, "event", p, errs)
            .and_then(|v| walk::ident(v, "condition.event", "事件标识", errs))?;
        Some(Condition::Event { event })
    } else {
        walk::no_unknown(obj, &["offline"], p, errs);
        if obj.get("offline") == Some(&Value::Bool(true)) {
            Some(Condition::Offline)
        } else {
            errs.push("condition.offline", "离线条件应写作 {\"offline\": true}");
            None
        }
    }
}

fn parse_notify(v: &Value, errs: &mut ValidationErrors) -> Option<Vec<Uuid>> {
    let items = walk::array(v, "notify", errs)?;
    if items.len() > MAX_NOTIFY {
        errs.push("notify", format!("最多 {MAX_NOTIFY} 个通知渠道"));
        return None;
    }
    let before = errs.0.len();
    let mut out: Vec<Uuid> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("notify[{i}]");
        if let Some(id) = walk::uuid(item, &path, "通知渠道编号", errs) {
            if out.contains(&id) {
                errs.push(path, "通知渠道重复");
            } else {
                out.push(id);
            }
        }
    }
    (errs.0.len() == before).then_some(out)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// One thing that happened to a device, fed to [`step`].
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A property report's values (`up/property` `values`).
    Property {
        values: &'a Map<String, Value>,
        at: DateTime<Utc>,
    },
    /// A device event (`up/event` `event`).
    Event { event: &'a str, at: DateTime<Utc> },
    /// The device's status went offline.
    Offline { at: DateTime<Utc> },
    /// The device's status came back online.
    Online { at: DateTime<Utc> },
    /// Time passes: raises a pending condition whose `for_secs` has elapsed.
    Tick { now: DateTime<Utc> },
}

/// The evaluator's memory for one (rule, device). Stored between inputs (it is plain JSON).
///
/// When a person clears an event alarm by hand, the store resets this to `RuleState::default()`
/// so the next event opens a new alarm.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Since when the condition has held without interruption (threshold and offline rules).
    pub pending_since: Option<DateTime<Utc>>,
    /// Whether an alarm of this rule is open and active for the device.
    pub active: bool,
    /// The latest reading that satisfied a threshold condition (for `detail_zh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
}

/// What the alarm of a (rule, device) should do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Open (or reopen after a clear) the alarm, saying what happened in Chinese.
    Raise {
        at: DateTime<Utc>,
        detail_zh: String,
    },
    /// The condition repeated while the alarm is open: update its last-seen time and count.
    Update { at: DateTime<Utc> },
    /// The condition no longer holds: the alarm becomes cleared.
    Clear { at: DateTime<Utc> },
}

/// One step of the evaluator for `rule` on one device.
///
/// - Threshold: the condition must hold continuously for `for_secs`, counted from the first
///   satisfying reading, before `Raise` (on a reading or on a `Tick`); a reading that does not
///   satisfy it resets the pending time and, if active, `Clear`s. A report without the property
///   (or with a value that is not a number or a boolean) changes nothing. A satisfying reading
///   while active is an `Update`.
/// - Event: each matching event raises (first) or `Update`s; `step` never clears an event alarm.
/// - Offline: `Offline` starts the pending time (`for_secs` as above), `Online` resets it and
///   `Clear`s; a repeated `Offline` while active is an `Update`.
///
/// Inputs of other kinds leave the state untouched. Times may go backwards (device clocks): a
/// duration that comes out negative simply has not elapsed.
pub fn step(rule: &AlarmRule, state: &RuleState, input: Input) -> (RuleState, Option<Transition>) {
    let mut next = state.clone();
    let t = match (&rule.condition, input) {
        (
            Condition::Threshold {
                property,
                op,
                value,
            },
            Input::Property { values, at },
        ) => {
            let Some(reading) = values.get(property).and_then(number) else {
                return (next, None);
            };
            if op.holds(reading, *value) {
                next.last_value = Some(reading);
                hold(rule, &mut next, at)
            } else {
                release(&mut next, at)
            }
        }
        (Condition::Event { event }, Input::Event { event: e, at }) if e == event => {
            if next.active {
                Some(Transition::Update { at })
            } else {
                next.active = true;
                Some(Transition::Raise {
                    at,
                    detail_zh: format!("发生事件 {event}"),
                })
            }
        }
        (Condition::Offline, Input::Offline { at }) => hold(rule, &mut next, at),
        (Condition::Offline, Input::Online { at }) => release(&mut next, at),
        (Condition::Threshold { .. } | Condition::Offline, Input::Tick { now }) => {
            match next.pending_since {
                Some(since) if !next.active && elapsed(since, now, rule.for_secs) => {
                    next.active = true;
                    Some(Transition::Raise {
                        at: now,
                        detail_zh: detail_zh(rule, &next),
                    })
                }
                _ => None,
            }
        }
        _ => None,
    };
    (next, t)
}

/// The condition holds at `at`.
fn hold(rule: &AlarmRule, next: &mut RuleState, at: DateTime<Utc>) -> Option<Transition> {
    if next.active {
        return Some(Transition::Update { at });
    }
    let since = *next.pending_since.get_or_insert(at);
    if elapsed(since, at, rule.for_secs) {
        next.active = true;
        Some(Transition::Raise {
            at,
            detail_zh: detail_zh(rule, next),
        })
    } else {
        None
    }
}

/// The condition does not hold at `at`.
fn release(next: &mut RuleState, at: DateTime<Utc>) -> Option<Transition> {
    next.pending_since = None;
    next.last_value = None;
    if next.active {
        next.active = false;
        Some(Transition::Clear { at })
    } else {
        None
    }
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>, for_secs: u32) -> bool {
    now - since >= TimeDelta::seconds(for_secs.into())
}

/// A reading as a number: numbers as they are, booleans as 1 and 0.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// `浓度 concentration = 23.5 > 20（持续 60 秒）`, `设备离线（持续 300 秒）`.
fn detail_zh(rule: &AlarmRule, state: &RuleState) -> String {
    let held = if rule.for_secs > 0 {
        format!("（持续 {} 秒）", rule.for_secs)
    } else {
        String::new()
    };
    match &rule.condition {
        Condition::Threshold {
            property,
            op,
            value,
        } => {
            let name = match &rule.property_name {
                Some(n) => format!("{n} {property}"),
                None => property.clone(),
            };
            let reading = state
                .last_value
                .map_or_else(|| "?".to_owned(), |v| v.to_string());
            format!("{name} = {reading} {} {value}{held}", op.as_str())
        }
        Condition::Event { event } => format!("发生事件 {event}"),
        Condition::Offline => format!("设备离线{held}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The stored alarm's state

/// The two independent axes of a stored alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlarmState {
    pub active: bool,
    pub acked: bool,
}

impl AlarmState {
    /// `active_unack`, `active_ack`, `cleared_unack` or `cleared_ack`.
    pub fn as_str(self) -> &'static str {
        state_str(self.active, self.acked)
    }

    /// Open = still needs attention: not both cleared and acknowledged. One open alarm per rule
    /// and device.
    pub fn is_open(self) -> bool {
        self.active || !self.acked
    }

    /// Chinese label for the console (`活动·未确认`).
    pub fn label_zh(self) -> &'static str {
        match (self.active, self.acked) {
            (true, false) => "活动·未确认",
            (true, true) => "活动·已确认",
            (false, false) => "已清除·未确认",
            (false, true) => "已清除·已确认",
        }
    }
}

/// The stored alarm's state name: `active_unack`, `active_ack`, `cleared_unack`, `cleared_ack`.
pub fn state_str(active: bool, acked: bool) -> &'static str {
    match (active, acked) {
        (true, false) => "active_unack",
        (true, true) => "active_ack",
        (false, false) => "cleared_unack",
        (false, true) => "cleared_ack",
    }
}

/// A `GET /api/v1/alarms?state=` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateFilter {
    ActiveUnack,
    ActiveAck,
    ClearedUnack,
    ClearedAck,
    Active,
    Cleared,
    Unack,
    Ack,
    /// Not (cleared and acknowledged).
    Open,
}

impl StateFilter {
    pub const ALL: [StateFilter; 9] = [
        Self::ActiveUnack,
        Self::ActiveAck,
        Self::ClearedUnack,
        Self::ClearedAck,
        Self::Active,
        Self::Cleared,
        Self::Unack,
        Self::Ack,
        Self::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActiveUnack => "active_unack",
            Self::ActiveAck => "active_ack",
            Self::ClearedUnack => "cleared_unack",
            Self::ClearedAck => "cleared_ack",
            Self::Active => "active",
            Self::Cleared => "cleared",
            Self::Unack => "unack",
            Self::Ack => "ack",
            Self::Open => "open",
        }
    }

    /// Whether an alarm in this state passes the filter.
    pub fn matches(self, active: bool, acked: bool) -> bool {
        match self {
            Self::ActiveUnack => active && !acked,
            Self::ActiveAck => active && acked,
            Self::ClearedUnack => !active && !acked,
            Self::ClearedAck => !active && acked,
            Self::Active => active,
            Self::Cleared => !active,
            Self::Unack => !acked,
            Self::Ack => acked,
            Self::Open => AlarmState { active, acked }.is_open(),
        }
    }
}

/// Parses `?state=`; the error names the field `state`.
pub fn parse_state_filter(s: &str) -> Result<StateFilter, ValidationErrors> {
    StateFilter::ALL
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| {
            ValidationErrors::one(
                "state",
                "状态应为 active_unack、active_ack、cleared_unack、cleared_ack、active、cleared、unack、ack 或 open",
            )
        })
}

#[cfg(test)]
#[path = "rules_tests.rs"]
pub(crate) mod tests;
