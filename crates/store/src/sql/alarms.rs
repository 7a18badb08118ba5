//! [`AlarmStore`] over both backends. Rules, channels and states are written directly; raising and
//! clearing an alarm commit with the deliveries they queue, and "one open alarm per rule and
//! device" is decided inside that transaction (and guarded by the partial unique index
//! `device_alarms_open`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::devices::notify::parse_channel;
use cyltrace_domain::devices::rules::{RuleState, Severity, parse_rule};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, Row, sql, to_json};
use crate::alarms::*;
use crate::{Result, Scope, StoreError};

fn rule(r: &Row) -> Result<AlarmRuleRecord> {
    let body: Value = r.json("body")?;
    Ok(AlarmRuleRecord {
        id: r.uuid("rule_id")?,
        org_id: r.uuid("org_id")?,
        scope_path: r.get("scope_path")?,
        rule: parse_rule(&body).map_err(|e| StoreError::Corrupt(format!("alarm rule: {e}")))?,
        enabled: r.get("enabled")?,
        created_at: r.time("created_at")?,
    })
}

fn channel(r: &Row) -> Result<ChannelRecord> {
    let config: Value = r.json("config")?;
    Ok(ChannelRecord {
        id: r.uuid("channel_id")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        channel: parse_channel(&config)
            .map_err(|e| StoreError::Corrupt(format!("notify channel: {e}")))?,
        deleted: r.get("deleted")?,
        created_at: r.time("created_at")?,
    })
}

fn alarm(r: &Row) -> Result<DeviceAlarm> {
    let severity: String = r.get("severity")?;
    Ok(DeviceAlarm {
        id: r.uuid("alarm_id")?,
        rule_id: r.opt_uuid("rule_id")?,
        kind: r.get("kind")?,
        device_id: r.uuid("device_id")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        customer_id: r.get("customer_id")?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| StoreError::Corrupt(format!("severity {severity}")))?,
        active: r.get("active")?,
        acked: r.get("acked")?,
        acked_by: r.opt_uuid("acked_by")?,
        acked_at: r.opt_time("acked_at")?,
        raised_at: r.time("raised_at")?,
        updated_at: r.time("updated_at")?,
        cleared_at: r.opt_time("cleared_at")?,
        count: r.get("count")?,
        detail: r.get("detail")?,
    })
}

fn delivery(r: &Row) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.uuid("delivery_id")?,
        alarm_id: r.uuid("alarm_id")?,
        channel_id: r.uuid("channel_id")?,
        phase: r.get("phase")?,
        attempt: r.get("attempt")?,
        state: r.get("state")?,
        next_at: r.time("next_at")?,
        sent_at: r.opt_time("sent_at")?,
        error: r.get("error")?,
        created_at: r.time("created_at")?,
    })
}

const CHANNELS: &str =
    "select c.*, o.path from notify_channels c join orgs o on o.org_id = c.org_id";
const ALARMS: &str = "select a.*, o.path from device_alarms a join orgs o on o.org_id = a.org_id";

async fn get_device_alarm(c: &mut Conn<'_>, id: Uuid) -> Result<Option<DeviceAlarm>> {
    sql(AssertSqlSafe(format!("{ALARMS} where a.alarm_id = $1")))
        .bind(id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(alarm)
        .transpose()
}

async fn open(
    c: &mut Conn<'_>,
    rule: Option<Uuid>,
    kind: &str,
    device: Uuid,
) -> Result<Option<DeviceAlarm>> {
    let key = rule.map_or_else(|| kind.to_owned(), |r| r.to_string());
    sql(AssertSqlSafe(format!(
        "{ALARMS} where coalesce(a.rule_id, a.kind) = $1 and a.device_id = $2
         and (a.active = $3 or a.acked = $4)"
    )))
    .bind(key)
    .bind(device)
    .bind(true)
    .bind(false)
    .fetch_optional(c)
    .await?
    .as_ref()
    .map(alarm)
    .transpose()
}

async fn insert_deliveries(c: &mut Conn<'_>, ds: &[DeliveryRecord]) -> Result<()> {
    for d in ds {
        sql(
            "insert into notify_deliveries (delivery_id, alarm_id, channel_id, phase, attempt,
                state, next_at, sent_at, error, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.id)
        .bind(d.alarm_id)
        .bind(d.channel_id)
        .bind(&d.phase)
        .bind(d.attempt)
        .bind(&d.state)
        .bind(d.next_at)
        .bind(d.sent_at)
        .bind(d.error.as_deref())
        .bind(d.created_at)
        .execute(c)
        .await?;
    }
    Ok(())
}

fn queue(alarm: Uuid, notify: &[Uuid], phase: &str, at: DateTime<Utc>) -> Vec<DeliveryRecord> {
    notify
        .iter()
        .map(|ch| DeliveryRecord::new(alarm, *ch, phase, at))
        .collect()
}

#[async_trait]
impl AlarmStore for SqlStore {
    async fn insert_alarm_rule(&self, r: &AlarmRuleRecord) -> Result<()> {
        sql(
            "insert into alarm_rules (rule_id, org_id, scope_path, body, enabled, created_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id)
        .bind(r.org_id)
        .bind(&r.scope_path)
        .bind(to_json(&r.rule.to_json()))
        .bind(r.enabled)
        .bind(r.created_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn get_alarm_rule(&self, id: Uuid) -> Result<Option<AlarmRuleRecord>> {
        sql("select * from alarm_rules where rule_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rule)
            .transpose()
    }

    async fn list_alarm_rules(
        &self,
        scope: Option<&Scope>,
        enabled_only: bool,
    ) -> Result<Vec<AlarmRuleRecord>> {
        let like = scope.map_or_else(|| Scope::all().like(), Scope::like);
        // Disabled (deleted) rules are listed too unless `enabled_only`.
        sql(
            "select r.* from alarm_rules r join orgs o on o.org_id = r.org_id
             where o.path like $1 and r.enabled in ($2, $3) order by r.created_at desc, r.rule_id",
        )
        .bind(like)
        .bind(true)
        .bind(enabled_only)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rule)
        .collect()
    }

    async fn set_alarm_rule_enabled(&self, id: Uuid, enabled: bool) -> Result<()> {
        sql("update alarm_rules set enabled = $1 where rule_id = $2")
            .bind(enabled)
            .bind(id)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn get_rule_state(&self, rule: Uuid, device: Uuid) -> Result<Option<RuleState>> {
        sql("select state from rule_states where rule_id = $1 and device_id = $2")
            .bind(rule)
            .bind(device)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .map(|r| r.json("state"))
            .transpose()
    }

    async fn put_rule_state(&self, rule: Uuid, device: Uuid, s: &RuleState) -> Result<()> {
        sql(
            "insert into rule_states (rule_id, device_id, state, pending) values ($1, $2, $3, $4)
             on conflict (rule_id, device_id)
             do update set state = excluded.state, pending = excluded.pending",
        )
        .bind(rule)
        .bind(device)
        .bind(to_json(s))
        .bind(s.pending_since.is_some() && !s.active)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn pending_rule_states(&self) -> Result<Vec<(Uuid, Uuid, RuleState)>> {
        sql("select * from rule_states where pending = $1")
            .bind(true)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(|r| Ok((r.uuid("rule_id")?, r.uuid("device_id")?, r.json("state")?)))
            .collect()
    }

    async fn insert_channel(&self, c: &ChannelRecord) -> Result<()> {
        sql(
            "insert into notify_channels (channel_id, org_id, kind, name, config, deleted,
                created_at) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id)
        .bind(c.org_id)
        .bind(c.channel.kind())
        .bind(&c.channel.name)
        .bind(to_json(&c.channel.to_json()))
        .bind(c.deleted)
        .bind(c.created_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn get_channel(&self, id: Uuid) -> Result<Option<ChannelRecord>> {
        sql(AssertSqlSafe(format!("{CHANNELS} where c.channel_id = $1")))
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(channel)
            .transpose()
    }

    async fn list_channels(
        &self,
        scope: Option<&Scope>,
        org: Option<Uuid>,
    ) -> Result<Vec<ChannelRecord>> {
        let like = scope.map_or_else(|| Scope::all().like(), Scope::like);
        let mut q = format!("{CHANNELS} where o.path like $1 and c.deleted = $2");
        if org.is_some() {
            q.push_str(" and c.org_id = $3");
        }
        q.push_str(" order by c.created_at, c.channel_id");
        let mut q = sql(AssertSqlSafe(q)).bind(like).bind(false);
        if let Some(o) = org {
            q = q.bind(o);
        }
        q.fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(channel)
            .collect()
    }

    async fn delete_channel(&self, id: Uuid) -> Result<()> {
        sql("update notify_channels set deleted = $1 where channel_id = $2")
            .bind(true)
            .bind(id)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn raise_device_alarm(
        &self,
        new: &DeviceAlarm,
        notify: &[Uuid],
    ) -> Result<(DeviceAlarm, Raised)> {
        let mut tx = self.pool.begin().await?;
        let at = new.updated_at;
        let (id, raised) = match open(&mut tx.conn(), new.rule_id, &new.kind, new.device_id).await?
        {
            Some(old) => {
                let raised = if old.active {
                    Raised::Repeated
                } else {
                    Raised::Reactivated
                };
                sql(
                    "update device_alarms set count = count + 1, updated_at = $1, active = $2,
                        cleared_at = null, detail = $3 where alarm_id = $4",
                )
                .bind(at)
                .bind(true)
                .bind(if old.active { &old.detail } else { &new.detail })
                .bind(old.id)
                .execute(&mut tx.conn())
                .await?;
                (old.id, raised)
            }
            None => {
                sql(
                    "insert into device_alarms (alarm_id, rule_id, kind, device_id, org_id,
                        customer_id, severity, active, acked, raised_at, updated_at, count, detail)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(new.id)
                .bind(new.rule_id)
                .bind(&new.kind)
                .bind(new.device_id)
                .bind(new.org_id)
                .bind(new.customer_id.as_deref())
                .bind(new.severity.as_str())
                .bind(true)
                .bind(false)
                .bind(new.raised_at)
                .bind(at)
                .bind(1i64)
                .bind(&new.detail)
                .execute(&mut tx.conn())
                .await?;
                (new.id, Raised::Opened)
            }
        };
        if raised != Raised::Repeated {
            insert_deliveries(&mut tx.conn(), &queue(id, notify, PHASE_RAISED, at)).await?;
        }
        let a = get_device_alarm(&mut tx.conn(), id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alarm {id}")))?;
        tx.commit().await?;
        Ok((a, raised))
    }

    async fn clear_device_alarm(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        notify: &[Uuid],
    ) -> Result<Option<DeviceAlarm>> {
        let mut tx = self.pool.begin().await?;
        let n = sql(
            "update device_alarms set active = $1, cleared_at = $2, updated_at = $2
                     where alarm_id = $3 and active = $4",
        )
        .bind(false)
        .bind(at)
        .bind(id)
        .bind(true)
        .execute(&mut tx.conn())
        .await?;
        if n == 0 {
            return Ok(None);
        }
        insert_deliveries(&mut tx.conn(), &queue(id, notify, PHASE_CLEARED, at)).await?;
        let a = get_device_alarm(&mut tx.conn(), id).await?;
        tx.commit().await?;
        Ok(a)
    }

    async fn open_device_alarm(
        &self,
        rule: Option<Uuid>,
        kind: &str,
        device: Uuid,
    ) -> Result<Option<DeviceAlarm>> {
        open(&mut self.conn().await?.conn(), rule, kind, device).await
    }

    async fn ack_device_alarm(
        &self,
        id: Uuid,
        by: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<DeviceAlarm>> {
        let mut c = self.conn().await?;
        let n = sql(
            "update device_alarms set acked = $1, acked_by = $2, acked_at = $3
                     where alarm_id = $4 and acked = $5",
        )
        .bind(true)
        .bind(by)
        .bind(at)
        .bind(id)
        .bind(false)
        .execute(&mut c.conn())
        .await?;
        if n == 0 {
            return Ok(None);
        }
        get_device_alarm(&mut c.conn(), id).await
    }

    async fn get_device_alarm(&self, id: Uuid) -> Result<Option<DeviceAlarm>> {
        get_device_alarm(&mut self.conn().await?.conn(), id).await
    }

    async fn list_device_alarms(&self, f: &DeviceAlarmFilter) -> Result<(Vec<DeviceAlarm>, i64)> {
        let mut cond = vec!["o.path like $1".to_owned()];
        let mut args: Vec<super::db::Value> =
            vec![f.scope.clone().unwrap_or_else(Scope::all).like().into()];
        if let Some(s) = f.severity {
            args.push(s.as_str().into());
            cond.push(format!("a.severity = ${}", args.len()));
        }
        if let Some(d) = f.device_id {
            args.push(d.into());
            cond.push(format!("a.device_id = ${}", args.len()));
        }
        if let Some(k) = &f.kind {
            args.push(k.as_str().into());
            cond.push(format!("a.kind = ${}", args.len()));
        }
        if let Some(st) = f.state {
            let mut any = Vec::new();
            for (active, acked) in [(true, false), (true, true), (false, false), (false, true)] {
                if st.matches(active, acked) {
                    args.push(active.into());
                    args.push(acked.into());
                    any.push(format!(
                        "(a.active = ${} and a.acked = ${})",
                        args.len() - 1,
                        args.len()
                    ));
                }
            }
            cond.push(format!("({})", any.join(" or ")));
        }
        let filter = cond.join(" and ");
        let mut c = self.conn().await?;
        let mut q = sql(AssertSqlSafe(format!(
            "select count(*) as n from device_alarms a join orgs o on o.org_id = a.org_id
             where {filter}"
        )));
        for a in &args {
            q = q.bind(a.clone());
        }
        let total: i64 = q.fetch_one(&mut c.conn()).await?.get("n")?;
        let n = args.len();
        let mut q = sql(AssertSqlSafe(format!(
            "{ALARMS} where {filter} order by a.raised_at desc, a.alarm_id limit ${} offset ${}",
            n + 1,
            n + 2
        )));
        for a in args {
            q = q.bind(a);
        }
        let rows = q
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&mut c.conn())
            .await?;
        Ok((rows.iter().map(alarm).collect::<Result<_>>()?, total))
    }

    async fn unacked_device_alarms(&self) -> Result<Vec<DeviceAlarm>> {
        sql(AssertSqlSafe(format!(
            "{ALARMS} where a.active = $1 and a.acked = $2 order by a.raised_at"
        )))
        .bind(true)
        .bind(false)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(alarm)
        .collect()
    }

    async fn insert_deliveries(&self, d: &[DeliveryRecord]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_deliveries(&mut tx.conn(), d).await?;
        tx.commit().await
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DeliveryRecord>> {
        sql(
            "select * from notify_deliveries where state = $1 and next_at <= $2
             order by next_at, created_at, delivery_id limit $3",
        )
        .bind(DELIVERY_PENDING)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn update_delivery(&self, d: &DeliveryRecord) -> Result<()> {
        sql(
            "update notify_deliveries set attempt = $1, state = $2, next_at = $3, sent_at = $4,
                error = $5 where delivery_id = $6",
        )
        .bind(d.attempt)
        .bind(&d.state)
        .bind(d.next_at)
        .bind(d.sent_at)
        .bind(d.error.as_deref())
        .bind(d.id)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn alarm_deliveries(&self, alarm: Uuid) -> Result<Vec<DeliveryRecord>> {
        sql("select * from notify_deliveries where alarm_id = $1
             order by created_at, delivery_id")
        .bind(alarm)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    async fn sent_since(&self, channel: Uuid, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        sql("select sent_at from notify_deliveries where channel_id = $1 and sent_at >= $2")
            .bind(channel)
            .bind(since)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(|r| r.time("sent_at"))
            .collect()
    }
}
