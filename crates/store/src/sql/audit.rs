//! The audit log (G2): rows are written by the writer, with the request they record.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::db::{Conn, Sql, sql};
use super::rows;
use crate::model::{AuditFilter, AuditRecord, scope_like};
use crate::{AuditStore, Result};

const AUDIT_WHERE: &str = "where ($1 is null or org_path like $1)
      and ($2 is null or username = $2)
      and ($3 is null or substr(path, 1, length($3)) = $3)
      and ($4 is null or method = $4)
      and ($5 is null or at >= $5)
      and ($6 is null or at < $6)";

#[async_trait]
impl AuditStore for SqlStore {
    async fn list_audit(&self, f: &AuditFilter) -> Result<(Vec<AuditRecord>, i64)> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let bound = |q: Sql| {
            q.bind(scope_like(&f.scope))
                .bind(f.username.clone())
                .bind(f.path_prefix.clone())
                .bind(f.method.clone())
                .bind(f.from)
                .bind(f.to)
        };
        let total: i64 = bound(sql(AssertSqlSafe(format!(
            "select count(*) as n from audit {AUDIT_WHERE}"
        ))))
        .fetch_one(&mut c)
        .await?
        .get("n")?;
        let rows = bound(sql(AssertSqlSafe(format!(
            "select * from audit {AUDIT_WHERE} order by at desc, audit_id desc limit $7 offset $8"
        ))))
        .bind(f.limit)
        .bind(f.offset)
        .fetch_all(&mut c)
        .await?;
        Ok((
            rows.iter().map(rows::audit).collect::<Result<Vec<_>>>()?,
            total,
        ))
    }
}

/// `s` as a text column can hold it: NUL (which PostgreSQL refuses, failing the row) is written as
/// U+FFFD. The audit row records what was asked, also when what was asked was refused for holding
/// a NUL, so that it is written on both backends and never fails a group of rows.
fn storable(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn storable_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(storable)
}

pub(super) async fn insert(c: &mut Conn<'_>, a: &AuditRecord) -> Result<()> {
    sql("insert into audit (at, user_id, username, org_id, org_path, method, path, status, ip, detail, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
    .bind(a.at)
    .bind(a.user_id)
    .bind(storable_opt(&a.username))
    .bind(a.org_id)
    .bind(storable_opt(&a.org_path))
    .bind(storable(&a.method))
    .bind(storable(&a.path))
    .bind(a.status)
    .bind(storable_opt(&a.ip))
    .bind(storable_opt(&a.detail))
    .bind(a.at)
    .execute(c)
    .await?;
    Ok(())
}
