//! Business records of circulation (JSON bodies with the few columns queries need), vehicle
//! positions, stock and holders (read from the cylinder projection), node settings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::CylinderCode;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, Sql, sql, to_json, unique_violation};
use super::rows;
use crate::model::{BizFilter, BizRecord, Scope, StockRow, VehiclePosition, scope_like};
use crate::{RecordStore, Result, StoreError};

/// The filters of `list_biz` and `count_biz`: kind, scope, organisation, record referred to, state,
/// due before ($1 … $6).
const BIZ_WHERE: &str = "where b.kind = $1
      and ($2 is null or o.path like $2)
      and ($3 is null or b.org_id = $3)
      and ($4 is null or b.ref_id = $4)
      and ($5 is null or b.state = $5)
      and ($6 is null or (b.due is not null and b.due < $6))
      and ($7 is null or b.created_at >= $7)
      and ($8 is null or b.created_at < $8)";

fn biz_filtered(q: Sql, f: &BizFilter) -> Sql {
    q.bind(&f.kind)
        .bind(scope_like(&f.scope))
        .bind(f.org_id)
        .bind(f.ref_id)
        .bind(f.state.clone())
        .bind(f.due_before)
        .bind(f.created_from)
        .bind(f.created_before)
}

#[async_trait]
impl RecordStore for SqlStore {
    async fn insert_biz(&self, r: &BizRecord) -> Result<()> {
        let inserted = insert_biz(&mut self.conn().await?.conn(), r).await;
        match inserted {
            // The key of the kind is taken, or (much less likely) the record id.
            Err(e) if unique_violation(&e) => match &r.key {
                Some(key) if self.biz_by_key(&r.kind, key).await?.is_some() => {
                    Err(StoreError::Conflict(key.clone()))
                }
                _ => Err(StoreError::Conflict(format!("record {}", r.id))),
            },
            other => other,
        }
    }

    async fn get_biz(&self, kind: &str, id: Uuid) -> Result<Option<BizRecord>> {
        get_biz(&mut self.conn().await?.conn(), kind, id).await
    }

    async fn biz_by_key(&self, kind: &str, key: &str) -> Result<Option<BizRecord>> {
        biz_by_key(&mut self.conn().await?.conn(), kind, key).await
    }

    async fn update_biz(&self, r: &BizRecord, expected: DateTime<Utc>) -> Result<bool> {
        update_biz(&mut self.conn().await?.conn(), r, expected).await
    }

    async fn list_biz(&self, f: &BizFilter) -> Result<Vec<BizRecord>> {
        list_biz(&mut self.conn().await?.conn(), f).await
    }

    async fn count_biz(&self, f: &BizFilter) -> Result<Vec<(String, i64)>> {
        let rows = biz_filtered(
            sql(AssertSqlSafe(format!(
                "select b.state, count(*) as n from biz_records b join orgs o on o.org_id = b.org_id {BIZ_WHERE} group by b.state"
            ))),
            f,
        )
        .fetch_all(&mut self.conn().await?.conn())
        .await?;
        let mut counts = rows
            .iter()
            .map(|r| Ok((r.get("state")?, r.get("n")?)))
            .collect::<Result<Vec<(String, i64)>>>()?;
        // By the states' bytes, whatever the database's collation.
        counts.sort();
        Ok(counts)
    }

    async fn insert_positions(&self, points: &[VehiclePosition], at: DateTime<Utc>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        // 8 parameters a row: well under both backends' limits on bound parameters.
        for chunk in points.chunks(100) {
            let text = format!(
                "insert into vehicle_positions (vehicle_id, org_id, time_us, lat, lon, speed, heading, created_at) values {}
                 on conflict (vehicle_id, time_us) do nothing",
                c.backend().values(chunk.len(), 8)
            );
            let mut q = sql(AssertSqlSafe(text));
            for p in chunk {
                q = q
                    .bind(p.vehicle_id)
                    .bind(p.org_id)
                    .bind(p.time)
                    .bind(p.lat)
                    .bind(p.lon)
                    .bind(p.speed)
                    .bind(p.heading)
                    .bind(at);
            }
            q.execute(&mut c).await?;
        }
        tx.commit().await
    }

    async fn latest_positions(&self, scope: &Scope) -> Result<Vec<VehiclePosition>> {
        sql("select p.* from vehicle_positions p join orgs o on o.org_id = p.org_id
             where o.path like $1
               and p.time_us = (select max(q.time_us) from vehicle_positions q where q.vehicle_id = p.vehicle_id)
             order by p.vehicle_id")
        .bind(scope.like())
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::position)
        .collect()
    }

    async fn vehicle_track(
        &self,
        vehicle_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<VehiclePosition>> {
        sql("select * from vehicle_positions where vehicle_id = $1 and time_us >= $2 and time_us < $3
             order by time_us limit $4")
        .bind(vehicle_id)
        .bind(from)
        .bind(to)
        .bind(limit.max(0))
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::position)
        .collect()
    }

    async fn stock(&self, scope: &Scope, site_id: Option<Uuid>) -> Result<Vec<StockRow>> {
        sql("select c.site_id,
                    sum(case when c.location_kind = 'full_store' then 1 else 0 end) as n_full,
                    sum(case when c.location_kind = 'empty_store' then 1 else 0 end) as n_empty
             from cylinders c join sites s on s.site_id = c.site_id join orgs o on o.org_id = s.org_id
             where c.location_kind in ('empty_store', 'full_store') and c.site_id is not null
               and o.path like $1 and ($2 is null or c.site_id = $2)
             group by c.site_id order by c.site_id")
        .bind(scope.like())
        .bind(site_id)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| {
            Ok(StockRow {
                site_id: r.uuid("site_id")?,
                full: r.get("n_full")?,
                empty: r.get("n_empty")?,
            })
        })
        .collect()
    }

    async fn stock_codes(&self, site_id: Uuid) -> Result<Vec<(CylinderCode, bool)>> {
        sql("select code, location_kind from cylinders
             where site_id = $1 and location_kind in ('empty_store', 'full_store') order by code")
        .bind(site_id)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| {
            Ok((
                rows::cylinder_code(r)?,
                r.get::<String>("location_kind")? == "full_store",
            ))
        })
        .collect()
    }

    async fn held_by(&self, holder: &str) -> Result<Vec<CylinderCode>> {
        sql("select code from cylinders where holder = $1 order by code")
            .bind(holder)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(rows::cylinder_code)
            .collect()
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        sql("select value from settings where key = $1")
            .bind(key)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .map(|r| r.get("value"))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()> {
        sql("insert into settings (key, value, updated_at) values ($1, $2, $3)
             on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at")
        .bind(key)
        .bind(value)
        .bind(at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }
}

pub(super) async fn insert_biz(c: &mut Conn<'_>, r: &BizRecord) -> Result<()> {
    sql("insert into biz_records (record_id, kind, org_id, key, ref_id, state, due, body, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
    .bind(r.id)
    .bind(&r.kind)
    .bind(r.org_id)
    .bind(r.key.clone())
    .bind(r.ref_id)
    .bind(&r.state)
    .bind(r.due)
    .bind(to_json(&r.body))
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(c)
    .await?;
    Ok(())
}

pub(super) async fn get_biz(c: &mut Conn<'_>, kind: &str, id: Uuid) -> Result<Option<BizRecord>> {
    sql("select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id where b.record_id = $1 and b.kind = $2")
        .bind(id)
        .bind(kind)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(rows::biz)
        .transpose()
}

pub(super) async fn biz_by_key(
    c: &mut Conn<'_>,
    kind: &str,
    key: &str,
) -> Result<Option<BizRecord>> {
    sql("select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id where b.kind = $1 and b.key = $2")
        .bind(kind)
        .bind(key)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(rows::biz)
        .transpose()
}

pub(super) async fn update_biz(
    c: &mut Conn<'_>,
    r: &BizRecord,
    expected: DateTime<Utc>,
) -> Result<bool> {
    let n = sql(
        "update biz_records set state = $1, due = $2, ref_id = $3, body = $4, updated_at = $5
         where record_id = $6 and kind = $7 and updated_at = $8",
    )
    .bind(&r.state)
    .bind(r.due)
    .bind(r.ref_id)
    .bind(to_json(&r.body))
    .bind(r.updated_at)
    .bind(r.id)
    .bind(&r.kind)
    .bind(expected)
    .execute(c)
    .await?;
    Ok(n == 1)
}

pub(super) async fn list_biz(c: &mut Conn<'_>, f: &BizFilter) -> Result<Vec<BizRecord>> {
    biz_filtered(
        sql(AssertSqlSafe(format!(
            "select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id {BIZ_WHERE}
             order by b.created_at desc, b.record_id desc limit $9 offset $10"
        ))),
        f,
    )
    .bind(if f.limit <= 0 { 100 } else { f.limit })
    .bind(f.offset.max(0))
    .fetch_all(c)
    .await?
    .iter()
    .map(rows::biz)
    .collect()
}
