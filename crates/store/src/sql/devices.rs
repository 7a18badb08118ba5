//! [`DeviceStore`] over both backends. Registry rows are written directly (like sites); the ledger's
//! writer is not involved: nothing here is an event of the log. Readings and counters of one message
//! commit together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, Row, sql};
use crate::devices::*;
use crate::{Result, Scope, StoreError};

fn device(r: &Row) -> Result<DeviceRecord> {
    let position: Option<i32> = r.get("position")?;
    Ok(DeviceRecord {
        id: r.uuid("device_id")?,
        type_id: r.get("type_id")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        site_id: r.opt_uuid("site_id")?,
        name: r.get("name")?,
        serial: r.get("serial")?,
        group: r.get("grp")?,
        tags: r.json("tags")?,
        customer_id: r.get("customer_id")?,
        vehicle: r.get("vehicle")?,
        channel_id: r.get("channel_id")?,
        position,
        phone: r.get("phone")?,
        stream_url: r.get("stream_url")?,
        secret_hash: r.get("secret_hash")?,
        disabled: r.get("disabled")?,
        created_at: r.time("created_at")?,
        last_seen: r.opt_time("last_seen")?,
        online: r.get("online")?,
        up_count: r.get("up_count")?,
        down_count: r.get("down_count")?,
        bad_count: r.get("bad_count")?,
        properties: r.json("properties")?,
    })
}

fn device_type(r: &Row) -> Result<DeviceTypeRecord> {
    Ok(DeviceTypeRecord {
        model: r.json("model")?,
        org_id: r.opt_uuid("org_id")?,
        created_at: r.time("created_at")?,
    })
}

fn device_event(r: &Row) -> Result<DeviceEventRecord> {
    let output: Option<String> = r.get("output")?;
    Ok(DeviceEventRecord {
        id: r.uuid("event_id")?,
        device_id: r.uuid("device_id")?,
        event: r.get("event")?,
        time: r.time("time")?,
        output: output
            .map(|o| serde_json::from_str(&o))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("device event output: {e}")))?,
        recorded_at: r.time("recorded_at")?,
    })
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

const SELECT: &str = "select d.*, o.path from devices d join orgs o on o.org_id = d.org_id";

async fn get(c: &mut Conn<'_>, id: Uuid) -> Result<Option<DeviceRecord>> {
    sql(AssertSqlSafe(format!("{SELECT} where d.device_id = $1")))
        .bind(id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(device)
        .transpose()
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn insert_device_type(&self, t: &DeviceTypeRecord) -> Result<()> {
        let n = sql(
            "insert into device_types (type_id, org_id, name, model, created_at)
             values ($1, $2, $3, $4, $5) on conflict (type_id) do nothing",
        )
        .bind(&t.model.id)
        .bind(t.org_id)
        .bind(&t.model.name)
        .bind(json(&t.model))
        .bind(t.created_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("device type {}", t.model.id)));
        }
        Ok(())
    }

    async fn list_device_types(&self, scope: &Scope) -> Result<Vec<DeviceTypeRecord>> {
        sql(
            "select t.* from device_types t left join orgs o on o.org_id = t.org_id
             where t.org_id is null or o.path like $1 order by t.type_id",
        )
        .bind(scope.like())
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(device_type)
        .collect()
    }

    async fn get_device_type(&self, id: &str) -> Result<Option<DeviceTypeRecord>> {
        sql("select * from device_types where type_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(device_type)
            .transpose()
    }

    async fn insert_device(&self, d: &DeviceRecord) -> Result<()> {
        let r = sql(
            "insert into devices (device_id, org_id, type_id, site_id, name, serial, grp, tags,
                customer_id, vehicle, channel_id, position, phone, stream_url, secret_hash, disabled,
                created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(d.id)
        .bind(d.org_id)
        .bind(&d.type_id)
        .bind(d.site_id)
        .bind(&d.name)
        .bind(d.serial.as_deref())
        .bind(d.group.as_deref())
        .bind(json(&d.tags))
        .bind(d.customer_id.as_deref())
        .bind(d.vehicle.as_deref())
        .bind(d.channel_id.as_deref())
        .bind(d.position)
        .bind(d.phone.as_deref())
        .bind(d.stream_url.as_deref())
        .bind(&d.secret_hash)
        .bind(d.disabled)
        .bind(d.created_at)
        .execute(&mut self.conn().await?.conn())
        .await;
        match r {
            Err(StoreError::Db(e))
                if e.as_database_error()
                    .is_some_and(|e| e.is_unique_violation()) =>
            {
                Err(StoreError::Conflict("phone".to_owned()))
            }
            r => r.map(drop),
        }
    }

    async fn get_device(&self, id: Uuid) -> Result<Option<DeviceRecord>> {
        get(&mut self.conn().await?.conn(), id).await
    }

    async fn device_by_phone(&self, phone: &str) -> Result<Option<DeviceRecord>> {
        sql(AssertSqlSafe(format!("{SELECT} where d.phone = $1")))
            .bind(phone)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(device)
            .transpose()
    }

    async fn list_devices(&self, f: &DeviceFilter) -> Result<(Vec<DeviceRecord>, i64)> {
        let mut cond = vec!["o.path like $1".to_owned()];
        let mut args: Vec<String> = vec![f.scope.clone().unwrap_or_else(Scope::all).like()];
        for (col, v) in [
            ("d.org_id", f.org_id.map(|u| u.to_string())),
            ("d.site_id", f.site_id.map(|u| u.to_string())),
            ("d.type_id", f.type_id.clone()),
            ("d.grp", f.group.clone()),
        ] {
            if let Some(v) = v {
                args.push(v);
                cond.push(format!("{col} = ${}", args.len()));
            }
        }
        let filter = cond.join(" and ");
        let mut c = self.conn().await?;
        let mut q = sql(AssertSqlSafe(format!(
            "select count(*) as n from devices d join orgs o on o.org_id = d.org_id where {filter}"
        )));
        for a in &args {
            q = q.bind(a);
        }
        let total: i64 = q.fetch_one(&mut c.conn()).await?.get("n")?;
        let n = args.len();
        let mut q = sql(AssertSqlSafe(format!(
            "{SELECT} where {filter} order by d.created_at desc, d.device_id limit ${} offset ${}",
            n + 1,
            n + 2
        )));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&mut c.conn())
            .await?;
        Ok((rows.iter().map(device).collect::<Result<_>>()?, total))
    }

    async fn count_station_devices(
        &self,
        scope: &Scope,
        cutoff: DateTime<Utc>,
    ) -> Result<(i64, i64)> {
        let r = sql("select count(*) as total,
                    coalesce(sum(case when d.last_seen is null or d.last_seen < $1 then 1 else 0 end), 0) as silent
                 from devices d join orgs o on o.org_id = d.org_id
                 where o.path like $2 and d.site_id is not null and not d.disabled
                   and d.type_id in ('filling_scale', 'label_reader', 'camera')")
        .bind(cutoff)
        .bind(scope.like())
        .fetch_one(&mut self.conn().await?.conn())
        .await?;
        Ok((r.get("total")?, r.get("silent")?))
    }

    async fn online_devices(&self) -> Result<Vec<DeviceRecord>> {
        sql(AssertSqlSafe(format!("{SELECT} where d.online = $1")))
            .bind(true)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(device)
            .collect()
    }

    async fn update_device(&self, d: &DeviceRecord) -> Result<()> {
        sql(
            "update devices set name = $1, site_id = $2, grp = $3, tags = $4, disabled = $5,
                secret_hash = $6, customer_id = $7, vehicle = $8, channel_id = $9, position = $10,
                stream_url = $11, serial = $12
             where device_id = $13",
        )
        .bind(&d.name)
        .bind(d.site_id)
        .bind(d.group.as_deref())
        .bind(json(&d.tags))
        .bind(d.disabled)
        .bind(&d.secret_hash)
        .bind(d.customer_id.as_deref())
        .bind(d.vehicle.as_deref())
        .bind(d.channel_id.as_deref())
        .bind(d.position)
        .bind(d.stream_url.as_deref())
        .bind(d.serial.as_deref())
        .bind(d.id)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn record_activity(&self, device: Uuid, a: &Activity) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        {
            let mut c = tx.conn();
            let mut props: Option<Map<String, Value>> = None;
            if !a.readings.is_empty() {
                let row = sql("select properties from devices where device_id = $1")
                    .bind(device)
                    .fetch_optional(&mut c)
                    .await?;
                let mut p: Map<String, Value> = match row {
                    Some(r) => r.json("properties")?,
                    None => return Err(StoreError::NotFound(format!("device {device}"))),
                };
                for r in &a.readings {
                    let newer = p
                        .get(&r.property)
                        .and_then(|v| v.get("time"))
                        .and_then(Value::as_str)
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .is_none_or(|t| t <= r.time);
                    if newer {
                        p.insert(
                            r.property.clone(),
                            serde_json::json!({"value": r.value, "time": r.time.to_rfc3339()}),
                        );
                    }
                    sql("insert into telemetry (device_id, property, time, value) values ($1, $2, $3, $4)
                     on conflict (device_id, property, time) do nothing")
                .bind(device)
                .bind(&r.property)
                .bind(r.time)
                .bind(json(&r.value))
                .execute(&mut c)
                .await?;
                }
                props = Some(p);
            }
            let seen = a.seen.then_some(a.at);
            sql("update devices set up_count = up_count + $1, down_count = down_count + $2,
                bad_count = bad_count + $3,
                last_seen = case when $4 is null then last_seen
                                 when last_seen is null or last_seen < $5 then $6 else last_seen end,
                properties = coalesce($7, properties)
             where device_id = $8")
        .bind(a.up)
        .bind(a.down)
        .bind(a.bad)
        .bind(seen)
        .bind(seen)
        .bind(seen)
        .bind(props.as_ref().map(json))
        .bind(device)
        .execute(&mut c)
        .await?;
        }
        tx.commit().await
    }

    async fn set_online(&self, device: Uuid, online: bool) -> Result<()> {
        sql("update devices set online = $1 where device_id = $2")
            .bind(online)
            .bind(device)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn insert_device_event(&self, e: &DeviceEventRecord) -> Result<bool> {
        let n = sql(
            "insert into device_events (event_id, device_id, event, time, output, recorded_at)
             values ($1, $2, $3, $4, $5, $6) on conflict (event_id) do nothing",
        )
        .bind(e.id)
        .bind(e.device_id)
        .bind(&e.event)
        .bind(e.time)
        .bind(e.output.as_ref().map(json))
        .bind(e.recorded_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(n == 1)
    }

    async fn device_events(&self, device: Uuid, limit: i64) -> Result<Vec<DeviceEventRecord>> {
        sql("select * from device_events where device_id = $1 order by time desc, event_id limit $2")
            .bind(device)
            .bind(limit)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(device_event)
            .collect()
    }

    async fn telemetry(
        &self,
        device: Uuid,
        property: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Reading>> {
        sql("select property, time, value from telemetry
             where device_id = $1 and ($2 is null or property = $3)
             order by time desc, property limit $4")
        .bind(device)
        .bind(property)
        .bind(property)
        .bind(limit)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| {
            Ok(Reading {
                property: r.get("property")?,
                time: r.time("time")?,
                value: r.json("value")?,
            })
        })
        .collect()
    }

    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64> {
        sql("delete from telemetry where time < $1")
            .bind(before)
            .execute(&mut self.conn().await?.conn())
            .await
    }
}
