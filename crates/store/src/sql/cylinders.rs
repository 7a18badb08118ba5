//! Cylinder archives and their status projections (the projection is written by the writer).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::{CylinderCode, CylinderStatus};
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::db::{Conn, sql, to_json, unique_violation};
use super::rows::{self, CYLINDER_COLUMNS};
use crate::model::{CylinderRecord, Page, Scope};
use crate::{CylinderStore, NewCylinder, Result, StoreError};

/// Archives per multi-row insert (11 parameters each: well inside SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters).
const INSERT_CHUNK: usize = 500;
/// Codes per `in (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

#[async_trait]
impl CylinderStore for SqlStore {
    async fn insert_cylinders(
        &self,
        cylinders: &[NewCylinder],
        at: DateTime<Utc>,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        match insert(&mut tx.conn(), cylinders, at).await {
            Ok(n) => {
                tx.commit().await?;
                Ok(n)
            }
            // Which code was taken: the first that is archived already.
            Err(e) if unique_violation(&e) => {
                drop(tx);
                let codes: Vec<CylinderCode> =
                    cylinders.iter().map(|c| c.archive.code.clone()).collect();
                let taken = self.existing_codes(&codes).await?;
                let first = codes
                    .iter()
                    .find(|c| taken.contains(c))
                    .unwrap_or(&codes[0]);
                Err(StoreError::Conflict(first.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn get_cylinder(&self, code: &CylinderCode) -> Result<Option<CylinderRecord>> {
        get(&mut self.conn().await?.conn(), code).await
    }

    async fn list_cylinders(&self, scope: &Scope, page: Page) -> Result<Vec<CylinderRecord>> {
        sql(AssertSqlSafe(format!(
            "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
             where o.path like $1 order by c.code limit $2 offset $3"
        )))
        .bind(scope.like())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::cylinder)
        .collect()
    }

    async fn list_cylinders_since(
        &self,
        scope: &Scope,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CylinderRecord>> {
        sql(AssertSqlSafe(format!(
            "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
             where o.path like $1 and c.updated_at >= $2 order by c.updated_at, c.code limit $3"
        )))
        .bind(scope.like())
        .bind(since)
        .bind(limit)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::cylinder)
        .collect()
    }

    async fn count_cylinders(&self) -> Result<i64> {
        sql("select count(*) as n from cylinders")
            .fetch_one(&mut self.conn().await?.conn())
            .await?
            .get("n")
    }

    async fn existing_codes(&self, codes: &[CylinderCode]) -> Result<Vec<CylinderCode>> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let mut out = Vec::new();
        for chunk in codes.chunks(LOOKUP_CHUNK) {
            let text = format!(
                "select code from cylinders where code in ({})",
                c.backend().list(1, chunk.len())
            );
            let mut q = sql(AssertSqlSafe(text));
            for code in chunk {
                q = q.bind(code.as_str());
            }
            for r in q.fetch_all(&mut c).await? {
                out.push(rows::cylinder_code(&r)?);
            }
        }
        Ok(out)
    }

    async fn list_cylinders_after(
        &self,
        scope: &Scope,
        after: Option<&CylinderCode>,
        limit: i64,
    ) -> Result<Vec<CylinderRecord>> {
        // Two statements rather than `($2 is null or c.code > $2)`, so that both plans are an index
        // range scan on the code.
        let keyset = if after.is_some() {
            "and c.code > $3"
        } else {
            ""
        };
        let mut q = sql(AssertSqlSafe(format!(
            "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
             where o.path like $1 {keyset} order by c.code limit $2"
        )))
        .bind(scope.like())
        .bind(limit);
        if let Some(code) = after {
            q = q.bind(code.as_str());
        }
        q.fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(rows::cylinder)
            .collect()
    }
}

/// An archive with its projection and owner's tree path.
pub(super) async fn get(c: &mut Conn<'_>, code: &CylinderCode) -> Result<Option<CylinderRecord>> {
    sql(AssertSqlSafe(format!(
        "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id where c.code = $1"
    )))
    .bind(code.as_str())
    .fetch_optional(c)
    .await?
    .as_ref()
    .map(rows::cylinder)
    .transpose()
}

/// Inserts archives with their initial projections: one multi-row insert per 500, so a bulk import
/// of 100,000 archives is 200 statements. A code twice in the list is `Conflict(code)`; a code
/// archived already is a unique violation (the caller names it).
pub(super) async fn insert(
    c: &mut Conn<'_>,
    cylinders: &[NewCylinder],
    at: DateTime<Utc>,
) -> Result<usize> {
    let mut seen = std::collections::HashSet::with_capacity(cylinders.len());
    if let Some(dup) = cylinders
        .iter()
        .find(|c| !seen.insert(c.archive.code.as_str()))
    {
        return Err(StoreError::Conflict(dup.archive.code.to_string()));
    }
    for chunk in cylinders.chunks(INSERT_CHUNK) {
        let text = format!(
            "insert into cylinders (code, org_id, archive, status, state, location_kind, next_check_date, site_id, holder, created_at, updated_at) values {}",
            c.backend().values(chunk.len(), 11)
        );
        let mut q = sql(AssertSqlSafe(text));
        for n in chunk {
            let status = CylinderStatus::initial(&n.archive);
            q = q
                .bind(n.archive.code.as_str())
                .bind(n.org_id)
                .bind(to_json(&n.archive))
                .bind(to_json(&status))
                .bind(status.state.as_str())
                .bind(status.location_kind.as_str())
                .bind(status.next_check_date.map(|d| d.to_string()))
                .bind(status.site_id)
                .bind(status.holder.as_ref().map(|h| h.as_str()))
                .bind(at)
                .bind(at);
        }
        q.execute(c).await?;
    }
    Ok(cylinders.len())
}
