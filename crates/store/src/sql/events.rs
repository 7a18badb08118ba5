//! Reading the stored events (they are written by the writer only).

use async_trait::async_trait;
use cyltrace_domain::CylinderCode;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, Sql, sql};
use super::rows::{self, EVENT_COLUMNS};
use crate::model::{EventFilter, StoredEvent, scope_like};
use crate::{EventStore, Result};

/// The filter of [`EventFilter`] over `events e join orgs o` ($1–$10).
const EVENTS_WHERE: &str = "where ($1 is null or o.path like $1)
      and ($2 is null or e.kind in ($2, $3, $4))
      and ($5 is null or e.site_id = $5)
      and ($6 is null or exists (select 1 from event_codes x where x.ledger_index = e.ledger_index and x.code = $6))
      and ($7 is null or e.operator = $7)
      and ($8 is null or e.recorded_by = $8)
      and ($9 is null or e.time_us >= $9)
      and ($10 is null or e.time_us < $10)";

/// Binds the ten parameters of [`EVENTS_WHERE`].
fn filtered(q: Sql, f: &EventFilter) -> Sql {
    let kind = |i: usize| f.kinds.get(i).copied();
    q.bind(scope_like(&f.scope))
        .bind(kind(0))
        .bind(kind(1))
        .bind(kind(2))
        .bind(f.site_id)
        .bind(f.code.clone())
        .bind(f.operator.clone())
        .bind(f.recorded_by)
        .bind(f.from)
        .bind(f.to)
}

#[async_trait]
impl EventStore for SqlStore {
    async fn get_event(&self, id: Uuid) -> Result<Option<StoredEvent>> {
        sql(AssertSqlSafe(format!(
            "select {EVENT_COLUMNS} from events e where e.event_id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut self.conn().await?.conn())
        .await?
        .as_ref()
        .map(rows::event)
        .transpose()
    }

    async fn events_of(&self, code: &CylinderCode) -> Result<Vec<StoredEvent>> {
        events_of(&mut self.conn().await?.conn(), code).await
    }

    async fn list_events(&self, f: &EventFilter) -> Result<(Vec<StoredEvent>, i64)> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let total: i64 = filtered(
            sql(AssertSqlSafe(format!(
                "select count(*) as n from events e join orgs o on o.org_id = e.org_id {EVENTS_WHERE}"
            ))),
            f,
        )
        .fetch_one(&mut c)
        .await?
        .get("n")?;
        let rows = filtered(
            sql(AssertSqlSafe(format!(
                "select {EVENT_COLUMNS} from events e join orgs o on o.org_id = e.org_id {EVENTS_WHERE}
                 order by e.time_us desc, e.ledger_index desc limit $11 offset $12"
            ))),
            f,
        )
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut c)
        .await?;
        Ok((
            rows.iter().map(rows::event).collect::<Result<Vec<_>>>()?,
            total,
        ))
    }

    async fn for_each_event(
        &self,
        f: &EventFilter,
        each: &mut (dyn FnMut(StoredEvent) + Send),
    ) -> Result<u64> {
        const PAGE: i64 = 5_000;
        let mut after = -1i64;
        let mut n = 0u64;
        loop {
            // Keyset paging on the ledger index: each row is read once.
            let rows = filtered(
                sql(AssertSqlSafe(format!(
                    "select {EVENT_COLUMNS} from events e join orgs o on o.org_id = e.org_id {EVENTS_WHERE}
                     and e.ledger_index > $11 order by e.ledger_index limit $12"
                ))),
                f,
            )
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut self.conn().await?.conn())
            .await?;
            let got = rows.len() as i64;
            for r in &rows {
                let e = rows::event(r)?;
                after = e.ledger_index;
                n += 1;
                each(e);
            }
            if got < PAGE {
                return Ok(n);
            }
        }
    }
}

/// A cylinder's events in time order (ties in record order).
pub(super) async fn events_of(c: &mut Conn<'_>, code: &CylinderCode) -> Result<Vec<StoredEvent>> {
    sql(AssertSqlSafe(format!(
        "select {EVENT_COLUMNS} from event_codes x join events e on e.ledger_index = x.ledger_index
         where x.code = $1 order by x.time_us, x.ledger_index"
    )))
    .bind(code.as_str())
    .fetch_all(c)
    .await?
    .iter()
    .map(rows::event)
    .collect()
}
