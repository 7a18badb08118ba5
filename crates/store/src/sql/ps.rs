//! The `/PS` interface's storage: the uplink outbox (rows written by the writer with their events),
//! documents (applications, spot checks, month counts), the leaves and checkpoints lower nodes
//! declared (this node as their witness), and alarms for the regulator.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_ledger::Hash;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, sql, to_json, unique_violation};
use super::rows::{self, EVENT_COLUMNS};
use crate::model::{
    OutboxItem, OutboxMark, OutboxStats, PsDoc, PsDocFilter, RegAlarm, RegAlarmFilter,
    WitnessRecord, scope_like,
};
use crate::{DeclaredLeaf, PsDocUpdate, PsStore, Result, StoreError};

/// Ids bound per statement when rows are named by a list (well under both backends' limits on
/// bound parameters).
const ID_CHUNK: usize = 1000;

#[async_trait]
impl PsStore for SqlStore {
    async fn outbox_pending(&self, limit: i64) -> Result<Vec<OutboxItem>> {
        sql(AssertSqlSafe(format!(
            "select ob.outbox_id, ob.attempts, ob.created_at as outbox_created_at, {EVENT_COLUMNS}
             from outbox ob join events e on e.ledger_index = ob.ledger_index
             where ob.state = 'pending' order by ob.outbox_id limit $1"
        )))
        .bind(limit)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(|r| {
            Ok(OutboxItem {
                outbox_id: r.get("outbox_id")?,
                event: rows::event(r)?,
                attempts: r.get("attempts")?,
                created_at: r.time("outbox_created_at")?,
            })
        })
        .collect()
    }

    async fn outbox_mark(&self, ids: &[i64], mark: &OutboxMark) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        for chunk in ids.chunks(ID_CHUNK) {
            // Generated lists take the backend's own placeholders throughout (see `Backend::placeholder`).
            let b = c.backend();
            let (set, first) = match mark {
                OutboxMark::Sent { .. } => {
                    (format!("state = 'sent', sent_at = {}", b.placeholder(1)), 2)
                }
                OutboxMark::Refused { .. } => (
                    format!(
                        "state = 'refused', sent_at = {}, last_error = {}",
                        b.placeholder(1),
                        b.placeholder(2)
                    ),
                    3,
                ),
                OutboxMark::Failed { .. } => (
                    format!("attempts = attempts + 1, last_error = {}", b.placeholder(1)),
                    2,
                ),
            };
            let text = format!(
                "update outbox set {set} where outbox_id in ({})",
                b.list(first, chunk.len())
            );
            let mut q = sql(AssertSqlSafe(text));
            q = match mark {
                OutboxMark::Sent { at } => q.bind(*at),
                OutboxMark::Refused { at, reason } => q.bind(*at).bind(reason),
                OutboxMark::Failed { error } => q.bind(error),
            };
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut c).await?;
        }
        tx.commit().await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        let r = sql(
            "select (select count(*) from outbox where state = 'pending') as pending,
                            (select count(*) from outbox where state = 'sent') as sent,
                            (select count(*) from outbox where state = 'refused') as refused,
                            (select min(created_at) from outbox where state = 'pending') as oldest",
        )
        .fetch_one(&mut self.conn().await?.conn())
        .await?;
        Ok(OutboxStats {
            pending: r.get("pending")?,
            sent: r.get("sent")?,
            refused: r.get("refused")?,
            oldest_pending: r.opt_time("oldest")?,
        })
    }

    async fn insert_ps_doc(&self, d: &PsDoc) -> Result<(i64, bool)> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        if let Some(third) = &d.third_id
            && let Some(id) = doc_by_third(&mut c, &d.kind, d.org_id, third).await?
        {
            return Ok((id, false));
        }
        let inserted = sql("insert into ps_docs (kind, org_id, target_org_id, third_id, state, body, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8) returning doc_id")
        .bind(&d.kind)
        .bind(d.org_id)
        .bind(d.target_org_id)
        .bind(d.third_id.clone())
        .bind(&d.state)
        .bind(to_json(&d.body))
        .bind(d.created_at)
        .bind(d.updated_at)
        .fetch_one(&mut c)
        .await;
        match inserted {
            Ok(row) => {
                let id: i64 = row.get("doc_id")?;
                tx.commit().await?;
                Ok((id, true))
            }
            // Another caller stored the same ThirdId between our read and our insert.
            Err(e) if unique_violation(&e) => {
                drop(tx);
                let third = d.third_id.as_deref().unwrap_or_default();
                match doc_by_third(&mut self.conn().await?.conn(), &d.kind, d.org_id, third).await?
                {
                    Some(id) => Ok((id, false)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn get_ps_doc(&self, id: i64) -> Result<Option<PsDoc>> {
        sql("select d.*, o.path from ps_docs d join orgs o on o.org_id = d.org_id where d.doc_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::ps_doc)
            .transpose()
    }

    async fn update_ps_doc(
        &self,
        id: i64,
        state: &str,
        body: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let u = PsDocUpdate {
            id,
            state: state.to_owned(),
            body: body.clone(),
            at,
            from: None,
        };
        update_doc(&mut self.conn().await?.conn(), &u).await
    }

    async fn list_ps_docs(&self, f: &PsDocFilter) -> Result<Vec<PsDoc>> {
        sql(
            "select d.*, o.path from ps_docs d join orgs o on o.org_id = d.org_id
             left join orgs t on t.org_id = d.target_org_id
             where d.kind = $1
               and ($2 is null or o.path like $2 or t.path like $2)
               and ($3 is null or d.org_id = $3)
               and ($4 is null or d.target_org_id = $4)
               and ($5 is null or d.state = $5)
             order by d.doc_id desc limit $6 offset $7",
        )
        .bind(&f.kind)
        .bind(scope_like(&f.scope))
        .bind(f.org_id)
        .bind(f.target_org_id)
        .bind(f.state.clone())
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::ps_doc)
        .collect()
    }

    async fn ps_leaves_unaudited(
        &self,
        user_id: Uuid,
        size: u64,
        limit: i64,
    ) -> Result<Vec<(i64, Hash)>> {
        sql("select ledger_index, leaf_hash from ps_leaves where user_id = $1 and audited = $2 and ledger_index < $3
             order by ledger_index limit $4")
        .bind(user_id)
        .bind(false)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::declared_leaf)
        .collect()
    }

    async fn ps_leaves_mark_audited(&self, user_id: Uuid, indexes: &[i64]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        for chunk in indexes.chunks(ID_CHUNK) {
            let b = c.backend();
            let text = format!(
                "update ps_leaves set audited = {} where user_id = {} and ledger_index in ({})",
                b.placeholder(1),
                b.placeholder(2),
                b.list(3, chunk.len())
            );
            let mut q = sql(AssertSqlSafe(text)).bind(true).bind(user_id);
            for i in chunk {
                q = q.bind(*i);
            }
            q.execute(&mut c).await?;
        }
        tx.commit().await
    }

    async fn insert_witness(&self, w: &WitnessRecord) -> Result<()> {
        sql("insert into ps_witness (user_id, origin, size, root, text, signature, public_key, received_at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(w.user_id)
        .bind(&w.origin)
        .bind(i64::try_from(w.size).map_err(|_| StoreError::Corrupt("witnessed size".to_owned()))?)
        .bind(w.root.0.to_vec())
        .bind(&w.text)
        .bind(w.signature.clone())
        .bind(w.public_key.clone())
        .bind(w.received_at)
        .bind(w.received_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn latest_witness(&self, user_id: Uuid) -> Result<Option<WitnessRecord>> {
        sql("select * from ps_witness where user_id = $1 order by size desc, seq desc limit 1")
            .bind(user_id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::witness)
            .transpose()
    }

    async fn insert_reg_alarm(&self, a: &RegAlarm) -> Result<i64> {
        sql("insert into reg_alarms (org_id, kind, message, at, created_at) values ($1, $2, $3, $4, $5) returning alarm_id")
            .bind(a.org_id)
            .bind(&a.kind)
            .bind(&a.message)
            .bind(a.at)
            .bind(a.at)
            .fetch_one(&mut self.conn().await?.conn())
            .await?
            .get("alarm_id")
    }

    async fn list_reg_alarms(&self, f: &RegAlarmFilter) -> Result<Vec<RegAlarm>> {
        sql(
            "select a.* from reg_alarms a join orgs o on o.org_id = a.org_id
             where ($1 is null or o.path like $1) and ($2 is null or a.kind = $2)
             order by a.at desc, a.alarm_id desc limit $3 offset $4",
        )
        .bind(scope_like(&f.scope))
        .bind(f.kind.clone())
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::reg_alarm)
        .collect()
    }
}

/// The id of the document with this `third_id` for (kind, org_id), if any.
async fn doc_by_third(
    c: &mut Conn<'_>,
    kind: &str,
    org_id: Uuid,
    third_id: &str,
) -> Result<Option<i64>> {
    sql("select doc_id from ps_docs where kind = $1 and org_id = $2 and third_id = $3")
        .bind(kind)
        .bind(org_id)
        .bind(third_id)
        .fetch_optional(c)
        .await?
        .map(|r| r.get("doc_id"))
        .transpose()
}

/// Replaces a document's state and body (when it is still in state `from`, if given).
pub(super) async fn update_doc(c: &mut Conn<'_>, u: &PsDocUpdate) -> Result<()> {
    let n = sql("update ps_docs set state = $1, body = $2, updated_at = $3 where doc_id = $4 and ($5 is null or state = $5)")
        .bind(&u.state)
        .bind(to_json(&u.body))
        .bind(u.at)
        .bind(u.id)
        .bind(u.from.clone())
        .execute(c)
        .await?;
    match (n, &u.from) {
        (0, Some(from)) => Err(StoreError::Conflict(format!(
            "document {} is no longer {from}",
            u.id
        ))),
        (0, None) => Err(StoreError::NotFound(format!("document {}", u.id))),
        _ => Ok(()),
    }
}

/// Remembers the leaf hash a lower node declared for an uploaded record (kept once per index).
pub(super) async fn insert_leaf(c: &mut Conn<'_>, l: &DeclaredLeaf) -> Result<()> {
    sql("insert into ps_leaves (user_id, ledger_index, leaf_hash, event_id, audited, created_at) values ($1, $2, $3, $4, $5, $6)
         on conflict (user_id, ledger_index) do nothing")
    .bind(l.user_id)
    .bind(l.ledger_index)
    .bind(l.leaf_hash.0.to_vec())
    .bind(l.event_id)
    .bind(false)
    .bind(l.at)
    .execute(c)
    .await?;
    Ok(())
}
