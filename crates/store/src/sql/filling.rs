//! Filling records: decisions (written by the writer), refusal counts, illegal-label attempts,
//! alarms, batches.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Backend, Conn, Sql, sql, taken, to_json};
use super::rows::{self, EVENT_COLUMNS};
use crate::model::{
    AlarmFilter, AlarmRecord, BatchFill, BatchFillCounts, BatchRecord, DecisionFilter,
    DecisionRecord, Page, Scope, scope_like,
};
use crate::{FillingStore, Result};

/// The filter of [`DecisionFilter`] over `fill_decisions d join orgs o` ($1–$8).
const DECISIONS_WHERE: &str = "where ($1 is null or o.path like $1)
      and ($2 is null or d.site_id = $2)
      and ($3 is null or d.code = $3)
      and ($4 is null or d.allow = $4)
      and ($5 is null or d.illegal_label = $5)
      and ($6 is null or exists (select 1 from fill_decision_rules r where r.decision_id = d.decision_id and r.rule = $6))
      and ($7 is null or d.at >= $7)
      and ($8 is null or d.at < $8)";

fn decisions_filtered(q: Sql, f: &DecisionFilter) -> Sql {
    q.bind(scope_like(&f.scope))
        .bind(f.site_id)
        .bind(f.code.clone())
        .bind(f.allow)
        .bind(f.illegal_label)
        .bind(f.rule.clone())
        .bind(f.from)
        .bind(f.to)
}

const ALARMS_WHERE: &str = "where ($1 is null or o.path like $1) and ($2 is null or a.kind = $2) and ($3 is null or a.code = $3)";

#[async_trait]
impl FillingStore for SqlStore {
    async fn list_alarms(&self, f: &AlarmFilter) -> Result<(Vec<AlarmRecord>, i64)> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let bound = |q: Sql| {
            q.bind(scope_like(&f.scope))
                .bind(f.kind.clone())
                .bind(f.code.clone())
        };
        let total: i64 = bound(sql(AssertSqlSafe(format!(
            "select count(*) as n from alarms a join orgs o on o.org_id = a.org_id {ALARMS_WHERE}"
        ))))
        .fetch_one(&mut c)
        .await?
        .get("n")?;
        let rows = bound(sql(AssertSqlSafe(format!(
            "select a.* from alarms a join orgs o on o.org_id = a.org_id {ALARMS_WHERE}
             order by a.at desc, a.alarm_id desc limit $4 offset $5"
        ))))
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut c)
        .await?;
        Ok((
            rows.iter().map(rows::alarm).collect::<Result<Vec<_>>>()?,
            total,
        ))
    }

    async fn list_decisions(&self, f: &DecisionFilter) -> Result<(Vec<DecisionRecord>, i64)> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let total: i64 = decisions_filtered(
            sql(AssertSqlSafe(format!(
                "select count(*) as n from fill_decisions d join orgs o on o.org_id = d.org_id {DECISIONS_WHERE}"
            ))),
            f,
        )
        .fetch_one(&mut c)
        .await?
        .get("n")?;
        let rows = decisions_filtered(
            sql(AssertSqlSafe(format!(
                "select d.* from fill_decisions d join orgs o on o.org_id = d.org_id {DECISIONS_WHERE}
                 order by d.at desc, d.decision_id limit $9 offset $10"
            ))),
            f,
        )
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut c)
        .await?;
        Ok((
            rows.iter()
                .map(rows::decision)
                .collect::<Result<Vec<_>>>()?,
            total,
        ))
    }

    async fn refusal_counts(&self, f: &DecisionFilter) -> Result<Vec<(String, i64)>> {
        sql("select r.rule, count(*) as n from fill_decision_rules r join orgs o on o.org_id = r.org_id
             where ($1 is null or o.path like $1) and ($2 is null or r.site_id = $2)
               and ($3 is null or r.at >= $3) and ($4 is null or r.at < $4)
             group by r.rule")
        .bind(scope_like(&f.scope))
        .bind(f.site_id)
        .bind(f.from)
        .bind(f.to)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| Ok((r.get("rule")?, r.get("n")?)))
        .collect()
    }

    async fn illegal_label_counts(&self, f: &DecisionFilter) -> Result<Vec<(Uuid, i64)>> {
        sql("select d.site_id, count(*) as n from fill_decisions d join orgs o on o.org_id = d.org_id
             where d.illegal_label = $1 and ($2 is null or o.path like $2) and ($3 is null or d.site_id = $3)
               and ($4 is null or d.at >= $4) and ($5 is null or d.at < $5)
             group by d.site_id order by d.site_id")
        .bind(true)
        .bind(scope_like(&f.scope))
        .bind(f.site_id)
        .bind(f.from)
        .bind(f.to)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| Ok((r.uuid("site_id")?, r.get("n")?)))
        .collect()
    }

    async fn insert_batch(&self, b: &BatchRecord) -> Result<()> {
        sql("insert into batches (batch_id, org_id, number, name, site_id, medium, created_by, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(b.id)
        .bind(b.org_id)
        .bind(&b.number)
        .bind(b.name.clone())
        .bind(b.site_id)
        .bind(b.medium.clone())
        .bind(b.created_by)
        .bind(b.created_at)
        .execute(&mut self.conn().await?.conn())
        .await
        .map_err(taken(|| b.number.clone()))?;
        Ok(())
    }

    async fn get_batch(&self, org_id: Uuid, number: &str) -> Result<Option<BatchRecord>> {
        get_batch(&mut self.conn().await?.conn(), org_id, number).await
    }

    async fn list_batches(&self, scope: &Scope, page: Page) -> Result<Vec<BatchRecord>> {
        sql(
            "select b.* from batches b join orgs o on o.org_id = b.org_id where o.path like $1
             order by b.created_at desc, b.number limit $2 offset $3",
        )
        .bind(scope.like())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::batch)
        .collect()
    }

    async fn get_batch_by_id(&self, id: Uuid) -> Result<Option<BatchRecord>> {
        sql("select * from batches where batch_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::batch)
            .transpose()
    }

    async fn batch_fills(&self, org_id: Uuid, number: &str, page: Page) -> Result<Vec<BatchFill>> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let b = c.backend();
        sql(AssertSqlSafe(format!(
            "select {EVENT_COLUMNS}, {} as refused from events e {}
             order by e.time_us desc, e.ledger_index desc limit $3 offset $4",
            refused_expr(b),
            batch_fills_where(b)
        )))
        .bind(number)
        .bind(org_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut c)
        .await?
        .iter()
        .map(|r| {
            Ok(BatchFill {
                event: rows::event(r)?,
                refused: r.get("refused")?,
            })
        })
        .collect()
    }

    async fn batch_fill_counts(&self, org_id: Uuid, number: &str) -> Result<BatchFillCounts> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let b = c.backend();
        let r = sql(AssertSqlSafe(format!(
            "select count(*) as n,
                    coalesce(sum({} - {}), 0.0) as net,
                    coalesce(sum(case when {} then 1 else 0 end), 0) as refused
             from events e {}",
            b.json_real("e.data", "gross_kg"),
            b.json_real("e.data", "tare_kg"),
            refused_expr(b),
            batch_fills_where(b)
        )))
        .bind(number)
        .bind(org_id)
        .fetch_one(&mut c)
        .await?;
        Ok(BatchFillCounts {
            fills: r.get("n")?,
            net_kg: r.get("net")?,
            refused: r.get("refused")?,
        })
    }
}

/// The fills of batch `$1` at the stations of enterprise `$2` (`events e`): the partial index
/// `events_fill_batch` serves `kind = 'fill'` and the batch number, the stations are a short list.
fn batch_fills_where(b: Backend) -> String {
    format!(
        "where e.kind = 'fill' and {} = $1
           and e.site_id in (select s.site_id from sites s where s.org_id = $2)",
        b.json_text("e.data", "batch")
    )
}

/// Whether the last filling-control decision for the fill's cylinder before the fill refused it
/// (`fill_decisions_code` finds a cylinder's decisions).
fn refused_expr(b: Backend) -> String {
    format!(
        "coalesce(not (select d.allow from fill_decisions d where d.code = {} and d.at <= e.time_us
                       order by d.at desc limit 1), false)",
        b.json_first("e.codes")
    )
}

pub(super) async fn get_batch(
    c: &mut Conn<'_>,
    org_id: Uuid,
    number: &str,
) -> Result<Option<BatchRecord>> {
    sql("select * from batches where org_id = $1 and number = $2")
        .bind(org_id)
        .bind(number)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(rows::batch)
        .transpose()
}

/// Writes a decision and one row per failing rule (for counts by rule).
pub(super) async fn insert_decision(c: &mut Conn<'_>, d: &DecisionRecord) -> Result<()> {
    sql("insert into fill_decisions (decision_id, at, user_id, org_id, site_id, code, medium, allow, refusals,
                                     illegal_label, fill_limit_kg, target_gross_kg, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
    .bind(d.id)
    .bind(d.at)
    .bind(d.user_id)
    .bind(d.org_id)
    .bind(d.site_id)
    .bind(&d.code)
    .bind(&d.medium)
    .bind(d.allow)
    .bind(to_json(&d.refusals))
    .bind(d.illegal_label)
    .bind(d.fill_limit_kg)
    .bind(d.target_gross_kg)
    .bind(d.at)
    .execute(c)
    .await?;
    for r in &d.refusals {
        sql(
            "insert into fill_decision_rules (decision_id, rule, org_id, site_id, at, created_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(d.id)
        .bind(&r.rule)
        .bind(d.org_id)
        .bind(d.site_id)
        .bind(d.at)
        .bind(d.at)
        .execute(c)
        .await?;
    }
    Ok(())
}
