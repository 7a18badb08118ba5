//! Alarm rules, notification channels and device alarms (DEVICES.md "Alarm rules and
//! notification", "Leak alarms (C10)"; 004 §4.2.5 c, §8.1.2; H3, H5, C10).
//!
//! - Rules and channels are managed by the node admin and enterprise admins (`ManageDevices`) in
//!   their data scope; a rule applies to the devices of its owner's subtree (a node admin's to all)
//!   that its selectors match.
//! - [`evaluate`] is called by device ingest on every accepted message and status change: each
//!   applicable rule's stored state is stepped (`rules::step`); a raise opens an alarm (or reports
//!   the open one again), a clear clears it. One alarm per rule and device is open at a time
//!   (decided in the store's transaction, guarded by a unique index).
//! - The built-in leak alarm (C10): a `leak_alarm` device's `leak` event opens (or reports again)
//!   a critical `leak` alarm bound to the device's customer and organisation (the dealer), with no
//!   rule; it notifies every channel of the device's organisation.
//! - [`tick`] is the worker's pass: rules waiting for their duration, reminders of unacknowledged
//!   alarms (`repeat_every_secs`) and the sending of due deliveries with retries and the hourly cap.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use cyltrace_domain::ValidationErrors;
use cyltrace_domain::access::Action;
use cyltrace_domain::devices::notify::{
    AlarmVars, HourlyCap, Phase, due_repeat, parse_channel, retry_after,
};
use cyltrace_domain::devices::rules::{
    self, DeviceFacts, Input, RuleState, Severity, Transition, parse_rule, parse_state_filter,
    state_str,
};
use cyltrace_store::{
    AlarmRuleRecord, ChannelRecord, DELIVERY_CAPPED, DELIVERY_FAILED, DELIVERY_PENDING,
    DELIVERY_SENT, DeliveryRecord, DeviceAlarm, DeviceAlarmFilter, DeviceRecord, KIND_LEAK,
    KIND_RULE, PHASE_CLEARED, PHASE_REPEATED, Page, Raised, Store,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use uuid::Uuid;

use super::notify::{self, Notice};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The built-in leak alarm's device type and event (C10).
pub const LEAK_TYPE: &str = "leak_alarm";
pub const LEAK_EVENT: &str = "leak";
/// The name a leak alarm is notified under.
pub const LEAK_RULE_NAME: &str = "燃气泄漏";
/// How long the enabled rules are cached.
const RULES_TTL: Duration = Duration::from_secs(3);
/// Deliveries sent per pass at most.
const DELIVERIES_PER_TICK: i64 = 200;

// ---------------------------------------------------------------------------------------------
// Views

/// A rule as the API shows it.
pub fn rule_json(r: &AlarmRuleRecord) -> Value {
    let mut v = r.rule.to_json();
    v["id"] = json!(r.id);
    v["org_id"] = json!(r.org_id);
    v["enabled"] = json!(r.enabled);
    v["created_at"] = json!(r.created_at);
    v
}

/// A channel as the API shows it: secrets left out (`has_secret`, `has_password`).
pub fn channel_json(c: &ChannelRecord) -> Value {
    let mut v = c.channel.redacted_json();
    v["id"] = json!(c.id);
    v["org_id"] = json!(c.org_id);
    v["created_at"] = json!(c.created_at);
    v
}

/// An alarm as the API shows it (and the webhook sends it).
pub fn alarm_json(a: &DeviceAlarm) -> Value {
    let state = rules::AlarmState {
        active: a.active,
        acked: a.acked,
    };
    json!({
        "id": a.id, "rule_id": a.rule_id, "kind": a.kind, "device_id": a.device_id,
        "org_id": a.org_id, "customer_id": a.customer_id, "severity": a.severity.as_str(),
        "severity_zh": a.severity.label_zh(), "state": state_str(a.active, a.acked),
        "state_zh": state.label_zh(), "active": a.active, "acked": a.acked,
        "acked_by": a.acked_by, "acked_at": a.acked_at, "raised_at": a.raised_at,
        "updated_at": a.updated_at, "cleared_at": a.cleared_at, "count": a.count,
        "detail": a.detail,
    })
}

/// A delivery as the API shows it.
pub fn delivery_json(d: &DeliveryRecord) -> Value {
    json!({
        "id": d.id, "channel_id": d.channel_id, "phase": d.phase, "attempt": d.attempt,
        "state": d.state, "next_at": d.next_at, "sent_at": d.sent_at, "error": d.error,
        "created_at": d.created_at,
    })
}

// ---------------------------------------------------------------------------------------------
// Rules

/// The enabled rules of one store, kept a few seconds (evaluation runs per device message).
type Rules = Arc<Vec<AlarmRuleRecord>>;
type RuleCache = Mutex<Vec<(Weak<dyn Store>, Instant, Rules)>>;

fn rule_cache() -> &'static RuleCache {
    static CACHE: OnceLock<RuleCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Vec::new()))
}

fn same_store(w: &Weak<dyn Store>, st: &AppState) -> bool {
    w.upgrade().is_some_and(|s| Arc::ptr_eq(&s, &st.store))
}

async fn enabled_rules(st: &AppState) -> ApiResult<Rules> {
    {
        let cache = rule_cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, at, rules)) = cache.iter().find(|(w, _, _)| same_store(w, st))
            && at.elapsed() < RULES_TTL
        {
            return Ok(rules.clone());
        }
    }
    let rules: Rules = Arc::new(st.store.list_alarm_rules(None, true).await?);
    let mut cache = rule_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(w, _, _)| w.strong_count() > 0 && !same_store(w, st));
    cache.push((Arc::downgrade(&st.store), Instant::now(), rules.clone()));
    Ok(rules)
}

/// Drops this store's cached rules (a rule was created or deleted).
fn forget_rules(st: &AppState) {
    let mut cache = rule_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(w, _, _)| w.strong_count() > 0 && !same_store(w, st));
}

/// `POST /alarm-rules`: the rule applies inside the caller's data scope; its device and channels
/// must be in that scope.
pub async fn create_rule(st: &AppState, p: &Principal, body: &Value) -> ApiResult<AlarmRuleRecord> {
    p.require(Action::ManageDevices)?;
    let rule = parse_rule(body)?;
    let mut errs = ValidationErrors::default();
    if let Some(d) = rule.device_id {
        let seen = st.store.get_device(d).await?;
        if !seen.is_some_and(|d| p.sees(&d.org_path)) {
            errs.push("device_id", "设备不存在或不在您的数据权限范围内");
        }
    }
    for (i, id) in rule.notify.iter().enumerate() {
        let ch = st.store.get_channel(*id).await?;
        if !ch.is_some_and(|c| !c.deleted && p.sees(&c.org_path)) {
            errs.push(
                format!("notify[{i}]"),
                "通知渠道不存在或不在您的数据权限范围内",
            );
        }
    }
    errs.into_result(())?;
    let r = AlarmRuleRecord {
        id: Uuid::new_v4(),
        org_id: p.org_id,
        scope_path: p.scope().0,
        rule,
        enabled: true,
        created_at: st.now(),
    };
    st.store.insert_alarm_rule(&r).await?;
    forget_rules(st);
    Ok(r)
}

/// Rules owned inside the caller's scope (deleted ones too, marked `enabled: false`).
pub async fn list_rules(st: &AppState, p: &Principal) -> ApiResult<Vec<AlarmRuleRecord>> {
    p.require(Action::ManageDevices)?;
    Ok(st.store.list_alarm_rules(Some(&p.scope()), false).await?)
}

pub async fn get_rule(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<AlarmRuleRecord> {
    p.require(Action::ManageDevices)?;
    let r = st
        .store
        .get_alarm_rule(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("告警规则不存在".to_owned()))?;
    p.require_scope(&r.scope_path, "该告警规则")?;
    Ok(r)
}

/// Deleting a rule disables it: it raises nothing more; its alarms stay as they are.
pub async fn delete_rule(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<()> {
    get_rule(st, p, id).await?;
    st.store.set_alarm_rule_enabled(id, false).await?;
    forget_rules(st);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Channels

pub async fn create_channel(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<ChannelRecord> {
    p.require(Action::ManageDevices)?;
    let channel = parse_channel(body)?;
    let org = st
        .store
        .get_org(p.org_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's organisation is missing".to_owned()))?;
    let c = ChannelRecord {
        id: Uuid::new_v4(),
        org_id: p.org_id,
        org_path: org.path,
        channel,
        deleted: false,
        created_at: st.now(),
    };
    st.store.insert_channel(&c).await?;
    Ok(c)
}

pub async fn list_channels(st: &AppState, p: &Principal) -> ApiResult<Vec<ChannelRecord>> {
    p.require(Action::ManageDevices)?;
    Ok(st.store.list_channels(Some(&p.scope()), None).await?)
}

/// Deleting a channel stops its deliveries (pending ones fail); rules naming it skip it.
pub async fn delete_channel(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<()> {
    p.require(Action::ManageDevices)?;
    let c = st
        .store
        .get_channel(id)
        .await?
        .filter(|c| !c.deleted)
        .ok_or_else(|| ApiError::NotFound("通知渠道不存在".to_owned()))?;
    p.require_scope(&c.org_path, "该通知渠道")?;
    st.store.delete_channel(id).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Alarms

/// `GET /alarms` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlarmQuery {
    /// `active_unack`, `active_ack`, `cleared_unack`, `cleared_ack`, `active`, `cleared`,
    /// `unack`, `ack` or `open`.
    pub state: Option<String>,
    /// `critical`, `major`, `minor`, `warning` or `info`.
    pub severity: Option<String>,
    pub device_id: Option<Uuid>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Alarms in the caller's scope, newest first, and the total.
pub async fn list_alarms(
    st: &AppState,
    p: &Principal,
    q: &AlarmQuery,
) -> ApiResult<(Vec<DeviceAlarm>, i64, Page)> {
    p.require(Action::Read)?;
    let mut errs = ValidationErrors::default();
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => match parse_state_filter(s) {
            Ok(f) => Some(f),
            Err(e) => {
                errs.0.extend(e.0);
                None
            }
        },
    };
    let severity = q.severity.as_deref().and_then(|s| {
        let v = Severity::parse(s);
        if v.is_none() {
            errs.push(
                "severity",
                "级别应为 critical、major、minor、warning 或 info",
            );
        }
        v
    });
    let page = crate::services::page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    let f = DeviceAlarmFilter {
        scope: Some(p.scope()),
        state,
        severity,
        device_id: q.device_id,
        limit: page.limit,
        offset: page.offset,
        kind: None,
    };
    let (items, total) = st.store.list_device_alarms(&f).await?;
    Ok((items, total, page))
}

async fn alarm_in_scope(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<DeviceAlarm> {
    let a = st
        .store
        .get_device_alarm(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("告警不存在".to_owned()))?;
    p.require_scope(&a.org_path, "该告警")?;
    Ok(a)
}

/// One alarm and its deliveries.
pub async fn get_alarm(
    st: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<(DeviceAlarm, Vec<DeliveryRecord>)> {
    p.require(Action::Read)?;
    let a = alarm_in_scope(st, p, id).await?;
    let d = st.store.alarm_deliveries(id).await?;
    Ok((a, d))
}

/// Acknowledges an alarm (the enterprise or the regulator, H3/C10); acknowledging twice keeps
/// the first acknowledgement. Reminders stop.
pub async fn ack_alarm(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<DeviceAlarm> {
    p.require(Action::AckAlarms)?;
    let a = alarm_in_scope(st, p, id).await?;
    Ok(st
        .store
        .ack_device_alarm(id, p.user_id, st.now())
        .await?
        .unwrap_or(a))
}

/// A person clears an alarm (an event alarm, whose condition never clears by itself): its rule
/// starts afresh for the device, so the next event raises again. 409 when it is not active.
pub async fn clear_alarm(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<DeviceAlarm> {
    p.require(Action::AckAlarms)?;
    let a = alarm_in_scope(st, p, id).await?;
    if !a.active {
        return Err(ApiError::Conflict("告警已清除".to_owned(), Vec::new()));
    }
    let notify = channels_of(st, &a).await?;
    let cleared = st
        .store
        .clear_device_alarm(id, st.now(), &notify)
        .await?
        .ok_or_else(|| ApiError::Conflict("告警已清除".to_owned(), Vec::new()))?;
    if let Some(rule) = a.rule_id {
        st.store
            .put_rule_state(rule, a.device_id, &RuleState::default())
            .await?;
    }
    Ok(cleared)
}

/// The channels an alarm notifies: its rule's, or (a leak alarm) every channel of the device's
/// organisation.
async fn channels_of(st: &AppState, a: &DeviceAlarm) -> ApiResult<Vec<Uuid>> {
    Ok(match a.rule_id {
        Some(r) => st
            .store
            .get_alarm_rule(r)
            .await?
            .map(|r| r.rule.notify)
            .unwrap_or_default(),
        None => org_channels(st, a.org_id).await?,
    })
}

async fn org_channels(st: &AppState, org: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(st
        .store
        .list_channels(None, Some(org))
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// The hook of device ingest: called on every accepted device message and status change.
pub async fn evaluate(st: &AppState, device: &DeviceRecord, input: Input<'_>) -> ApiResult<()> {
    // C10: the built-in leak alarm, without any rule.
    if device.type_id == LEAK_TYPE
        && let Input::Event { event, at } = input
        && event == LEAK_EVENT
    {
        raise_leak(st, device, at).await?;
    }
    let facts = DeviceFacts {
        id: device.id,
        type_id: &device.type_id,
        group: device.group.as_deref(),
    };
    for r in enabled_rules(st).await?.iter() {
        if !device.org_path.starts_with(&r.scope_path) || !r.rule.applies_to(&facts) {
            continue;
        }
        let state = st
            .store
            .get_rule_state(r.id, device.id)
            .await?
            .unwrap_or_default();
        let rule = named(st, &r.rule, device).await?;
        let (next, t) = rules::step(&rule, &state, input);
        apply(st, r, device, &state, &next, t).await?;
    }
    Ok(())
}

/// `rule` with its property named as the device's thing model names it, so that the alarm text
/// reads 浓度 concentration = 25 > 20.
async fn named(
    st: &AppState,
    rule: &rules::AlarmRule,
    device: &DeviceRecord,
) -> ApiResult<rules::AlarmRule> {
    if let rules::Condition::Threshold { property, .. } = &rule.condition {
        let t = super::registry::type_of(st, device).await?;
        if let Some(name) = t.property(property).and_then(|p| p.name.clone()) {
            return Ok(rule.clone().with_property_name(name));
        }
    }
    Ok(rule.clone())
}

/// Stores a rule's new state and acts on its transition.
async fn apply(
    st: &AppState,
    r: &AlarmRuleRecord,
    device: &DeviceRecord,
    old: &RuleState,
    next: &RuleState,
    t: Option<Transition>,
) -> ApiResult<()> {
    if next != old {
        st.store.put_rule_state(r.id, device.id, next).await?;
    }
    match t {
        None => {}
        Some(Transition::Raise { at, detail_zh }) => {
            raise(
                st,
                Some(r.id),
                device,
                r.rule.severity,
                at,
                detail_zh,
                &r.rule.notify,
            )
            .await?;
        }
        Some(Transition::Update { at }) => {
            raise(
                st,
                Some(r.id),
                device,
                r.rule.severity,
                at,
                String::new(),
                &r.rule.notify,
            )
            .await?;
        }
        Some(Transition::Clear { .. }) => {
            if let Some(a) = st
                .store
                .open_device_alarm(Some(r.id), KIND_RULE, device.id)
                .await?
            {
                st.store
                    .clear_device_alarm(a.id, st.now(), &r.rule.notify)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Opens an alarm, or reports the open one of the same rule (or kind) and device again.
async fn raise(
    st: &AppState,
    rule: Option<Uuid>,
    device: &DeviceRecord,
    severity: Severity,
    at: DateTime<Utc>,
    detail: String,
    notify: &[Uuid],
) -> ApiResult<(DeviceAlarm, Raised)> {
    let now = st.now();
    let new = DeviceAlarm {
        id: Uuid::new_v4(),
        rule_id: rule,
        kind: if rule.is_some() { KIND_RULE } else { KIND_LEAK }.to_owned(),
        device_id: device.id,
        org_id: device.org_id,
        org_path: device.org_path.clone(),
        customer_id: device.customer_id.clone(),
        severity,
        active: true,
        acked: false,
        acked_by: None,
        acked_at: None,
        raised_at: at.min(now),
        updated_at: now,
        cleared_at: None,
        count: 1,
        detail,
    };
    Ok(st.store.raise_device_alarm(&new, notify).await?)
}

/// C10: a leak alarm's `leak` event: a critical alarm bound to the customer and the dealer.
async fn raise_leak(st: &AppState, device: &DeviceRecord, at: DateTime<Utc>) -> ApiResult<()> {
    let detail = match &device.customer_id {
        Some(c) => format!("报警器检测到燃气泄漏（用户 {c}）"),
        None => "报警器检测到燃气泄漏".to_owned(),
    };
    let notify = org_channels(st, device.org_id).await?;
    raise(st, None, device, Severity::Critical, at, detail, &notify).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The worker's pass

/// One pass of the alarm worker: rules whose condition has held long enough raise, reminders of
/// unacknowledged alarms are queued, due deliveries are sent (retried with backoff, capped per
/// channel and hour).
pub async fn tick(st: &AppState) -> anyhow::Result<()> {
    let now = st.now();
    held_long_enough(st, now).await?;
    reminders(st, now).await?;
    deliver(st, now).await?;
    Ok(())
}

/// `Input::Tick` for the states waiting for their duration (no new readings needed, H5).
async fn held_long_enough(st: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let rules = enabled_rules(st).await?;
    for (rule_id, device_id, state) in st.store.pending_rule_states().await? {
        let Some(r) = rules.iter().find(|r| r.id == rule_id) else {
            continue;
        };
        let Some(device) = st.store.get_device(device_id).await? else {
            continue;
        };
        let rule = named(st, &r.rule, &device).await?;
        let (next, t) = rules::step(&rule, &state, Input::Tick { now });
        apply(st, r, &device, &state, &next, t).await?;
    }
    Ok(())
}

/// H3: `repeat_every_secs` re-notifies an active alarm until it is acknowledged.
async fn reminders(st: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut channels: HashMap<Uuid, Option<ChannelRecord>> = HashMap::new();
    for a in st.store.unacked_device_alarms().await? {
        let deliveries = st.store.alarm_deliveries(a.id).await?;
        let mut queued = Vec::new();
        for ch in channels_of(st, &a).await? {
            if let Entry::Vacant(e) = channels.entry(ch) {
                e.insert(st.store.get_channel(ch).await?);
            }
            let Some(Some(c)) = channels.get(&ch) else {
                continue;
            };
            if c.deleted {
                continue;
            }
            let last = deliveries
                .iter()
                .filter(|d| d.channel_id == ch)
                .map(|d| d.created_at)
                .max()
                .unwrap_or(a.raised_at);
            if due_repeat(last, c.channel.repeat_every_secs, a.acked, now) {
                queued.push(DeliveryRecord::new(a.id, ch, PHASE_REPEATED, now));
            }
        }
        if !queued.is_empty() {
            st.store.insert_deliveries(&queued).await?;
        }
    }
    Ok(())
}

/// Sends the due deliveries: each attempt is recorded (sent, retried later, given up, or capped).
async fn deliver(st: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut caps: HashMap<Uuid, HourlyCap> = HashMap::new();
    for mut d in st.store.due_deliveries(now, DELIVERIES_PER_TICK).await? {
        let ch = st.store.get_channel(d.channel_id).await?;
        let Some(ch) = ch.filter(|c| !c.deleted) else {
            d.state = DELIVERY_FAILED.to_owned();
            d.error = Some("通知渠道已删除".to_owned());
            st.store.update_delivery(&d).await?;
            continue;
        };
        if let Entry::Vacant(e) = caps.entry(ch.id) {
            let sent = st
                .store
                .sent_since(ch.id, now - TimeDelta::hours(1))
                .await?;
            e.insert(HourlyCap::with_history(ch.channel.max_per_hour, sent));
        }
        let admitted = caps.get_mut(&ch.id).is_some_and(|cap| cap.admit(now));
        if !admitted {
            d.state = DELIVERY_CAPPED.to_owned();
            d.error = Some(format!(
                "超过该渠道每小时最多 {} 次通知的上限",
                ch.channel.max_per_hour
            ));
            st.store.update_delivery(&d).await?;
            continue;
        }
        let outcome = send_one(st, &ch, &d, now).await?;
        d.attempt += 1;
        match outcome {
            Ok(()) => {
                d.state = DELIVERY_SENT.to_owned();
                d.sent_at = Some(now);
                d.error = None;
            }
            Err(e) => {
                tracing::warn!(delivery = %d.id, channel = %ch.id, attempt = d.attempt,
                    error = %e, "alarm notification failed");
                d.error = Some(e);
                match retry_after(d.attempt.max(0) as u32) {
                    Some(wait) => {
                        d.state = DELIVERY_PENDING.to_owned();
                        d.next_at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                    }
                    None => d.state = DELIVERY_FAILED.to_owned(),
                }
            }
        }
        st.store.update_delivery(&d).await?;
    }
    Ok(())
}

/// One attempt: Ok, or the reason (without secrets) it failed.
async fn send_one(
    st: &AppState,
    ch: &ChannelRecord,
    d: &DeliveryRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<Result<(), String>> {
    let Some(a) = st.store.get_device_alarm(d.alarm_id).await? else {
        return Ok(Err("告警不存在".to_owned()));
    };
    let device = st
        .store
        .get_device(a.device_id)
        .await?
        .map_or_else(|| a.device_id.to_string(), |d| d.name);
    let rule_name = match a.rule_id {
        Some(r) => st
            .store
            .get_alarm_rule(r)
            .await?
            .map_or_else(String::new, |r| r.rule.name),
        None => LEAK_RULE_NAME.to_owned(),
    };
    let phase = match d.phase.as_str() {
        PHASE_CLEARED => Phase::Cleared,
        PHASE_REPEATED => Phase::Repeated,
        _ => Phase::Raised,
    };
    let notice = Notice {
        vars: AlarmVars {
            alarm_id: a.id,
            phase,
            severity: a.severity,
            rule_name: &rule_name,
            device: &device,
            detail_zh: &a.detail,
            time: if phase == Phase::Cleared {
                a.cleared_at.unwrap_or(a.updated_at)
            } else {
                a.raised_at
            },
            phone: "",
        },
        alarm: alarm_json(&a),
        now,
    };
    Ok(notify::send(&ch.channel, &notice).await)
}
