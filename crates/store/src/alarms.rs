//! Alarm rules, their per-device state, notification channels, alarms and notification deliveries
//! (issue 18, DEVICES.md "Alarm rules and notification", "Leak alarms (C10)").

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::devices::notify::NewChannel;
use cyltrace_domain::devices::rules::{AlarmRule, RuleState, Severity, StateFilter};
use uuid::Uuid;

use crate::{Result, Scope};

/// A stored alarm rule: the parsed request, its owner and where it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRuleRecord {
    pub id: Uuid,
    /// The organisation that owns the rule (its creator's).
    pub org_id: Uuid,
    /// The data scope the rule applies in (`/` for a node admin's rule).
    pub scope_path: String,
    pub rule: AlarmRule,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A stored notification channel (its config holds the secrets: never shown as it is).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    /// The owner's tree path (read only).
    pub org_path: String,
    pub channel: NewChannel,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

/// `rule` (raised by a user rule) or `leak` (the built-in leak alarm, C10).
pub const KIND_RULE: &str = "rule";
pub const KIND_LEAK: &str = "leak";

/// An alarm raised on a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAlarm {
    pub id: Uuid,
    /// The rule that raised it (none for a built-in alarm).
    pub rule_id: Option<Uuid>,
    pub kind: String,
    pub device_id: Uuid,
    pub org_id: Uuid,
    /// The organisation's tree path (read only).
    pub org_path: String,
    pub customer_id: Option<String>,
    pub severity: Severity,
    pub active: bool,
    pub acked: bool,
    pub acked_by: Option<Uuid>,
    pub acked_at: Option<DateTime<Utc>>,
    pub raised_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// How many times the condition was reported while the alarm was open.
    pub count: i64,
    pub detail: String,
}

impl DeviceAlarm {
    /// Open = not (cleared and acknowledged).
    pub fn is_open(&self) -> bool {
        self.active || !self.acked
    }
}

/// What a transition changed about an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new alarm was opened.
    Opened,
    /// The open alarm was cleared (unacknowledged) and is active again.
    Reactivated,
    /// The open, active alarm was reported again (count + 1).
    Repeated,
}

/// Why a delivery is sent.
pub const PHASE_RAISED: &str = "raised";
pub const PHASE_REPEATED: &str = "repeated";
pub const PHASE_CLEARED: &str = "cleared";

/// Delivery states: waiting (first try or a retry), delivered, given up, refused by the hourly cap.
pub const DELIVERY_PENDING: &str = "pending";
pub const DELIVERY_SENT: &str = "sent";
pub const DELIVERY_FAILED: &str = "failed";
pub const DELIVERY_CAPPED: &str = "capped";

/// One notification of one alarm on one channel, and its attempts so far.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub alarm_id: Uuid,
    pub channel_id: Uuid,
    pub phase: String,
    /// Attempts made.
    pub attempt: i32,
    pub state: String,
    /// When the next attempt is due (pending).
    pub next_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The last failure (never with secrets).
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl DeliveryRecord {
    /// A delivery due at once.
    pub fn new(alarm_id: Uuid, channel_id: Uuid, phase: &str, at: DateTime<Utc>) -> Self {
        DeliveryRecord {
            id: Uuid::new_v4(),
            alarm_id,
            channel_id,
            phase: phase.to_owned(),
            attempt: 0,
            state: DELIVERY_PENDING.to_owned(),
            next_at: at,
            sent_at: None,
            error: None,
            created_at: at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeviceAlarmFilter {
    pub scope: Option<Scope>,
    pub state: Option<StateFilter>,
    pub severity: Option<Severity>,
    pub device_id: Option<Uuid>,
    /// `rule` or `leak`.
    pub kind: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

#[async_trait]
pub trait AlarmStore {
    async fn insert_alarm_rule(&self, r: &AlarmRuleRecord) -> Result<()>;
    async fn get_alarm_rule(&self, id: Uuid) -> Result<Option<AlarmRuleRecord>>;
    /// Rules whose owner lies in `scope` (all when none), newest first; `enabled_only` for
    /// evaluation.
    async fn list_alarm_rules(
        &self,
        scope: Option<&Scope>,
        enabled_only: bool,
    ) -> Result<Vec<AlarmRuleRecord>>;
    async fn set_alarm_rule_enabled(&self, id: Uuid, enabled: bool) -> Result<()>;

    async fn get_rule_state(&self, rule: Uuid, device: Uuid) -> Result<Option<RuleState>>;
    async fn put_rule_state(&self, rule: Uuid, device: Uuid, s: &RuleState) -> Result<()>;
    /// (rule, device, state) of the states waiting for their duration (`pending_since`, not
    /// active): the worker ticks them.
    async fn pending_rule_states(&self) -> Result<Vec<(Uuid, Uuid, RuleState)>>;

    async fn insert_channel(&self, c: &ChannelRecord) -> Result<()>;
    async fn get_channel(&self, id: Uuid) -> Result<Option<ChannelRecord>>;
    /// Channels not deleted whose owner lies in `scope`, or owned by `org` exactly.
    async fn list_channels(
        &self,
        scope: Option<&Scope>,
        org: Option<Uuid>,
    ) -> Result<Vec<ChannelRecord>>;
    async fn delete_channel(&self, id: Uuid) -> Result<()>;

    /// In one transaction: opens `new` unless an alarm of the same rule (or built-in kind) and
    /// device is open, which is then reported again (count + 1, updated, active again). When it
    /// was opened or reactivated, queues a `raised` delivery per channel of `notify`.
    async fn raise_device_alarm(
        &self,
        new: &DeviceAlarm,
        notify: &[Uuid],
    ) -> Result<(DeviceAlarm, Raised)>;
    /// In one transaction: the open, active alarm `id` becomes cleared at `at` and a `cleared`
    /// delivery per channel is queued. None when it was not active.
    async fn clear_device_alarm(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        notify: &[Uuid],
    ) -> Result<Option<DeviceAlarm>>;
    /// The open alarm of a rule (or built-in kind with no rule) and device.
    async fn open_device_alarm(
        &self,
        rule: Option<Uuid>,
        kind: &str,
        device: Uuid,
    ) -> Result<Option<DeviceAlarm>>;
    /// Acknowledges alarm `id`; None when it was acknowledged before.
    async fn ack_device_alarm(
        &self,
        id: Uuid,
        by: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<DeviceAlarm>>;
    async fn get_device_alarm(&self, id: Uuid) -> Result<Option<DeviceAlarm>>;
    /// Alarms, newest first, and the total of the filter.
    async fn list_device_alarms(&self, f: &DeviceAlarmFilter) -> Result<(Vec<DeviceAlarm>, i64)>;
    /// Active, unacknowledged alarms (candidates for reminders).
    async fn unacked_device_alarms(&self) -> Result<Vec<DeviceAlarm>>;

    async fn insert_deliveries(&self, d: &[DeliveryRecord]) -> Result<()>;
    /// Pending deliveries due at `now`, oldest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DeliveryRecord>>;
    async fn update_delivery(&self, d: &DeliveryRecord) -> Result<()>;
    /// The deliveries of one alarm, oldest first.
    async fn alarm_deliveries(&self, alarm: Uuid) -> Result<Vec<DeliveryRecord>>;
    /// When a channel's deliveries were sent at or after `since` (the hourly cap).
    async fn sent_since(&self, channel: Uuid, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>>;
}
