//! What a backup needs of the database itself (G8): a consistent copy of a live SQLite database, and
//! whether a PostgreSQL database is empty enough to restore into. The rest (files, keys, the
//! archive and its manifest) is the `cyltrace` binary's.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::{Result, StoreError};

/// Writes a transactionally consistent copy of the SQLite database `db` to `to` (which must not
/// exist) while a node may keep writing to it: `VACUUM INTO` reads one snapshot of the database
/// (WAL included) through a read-only connection and writes it compacted.
pub async fn snapshot_sqlite(db: &Path, to: &Path) -> Result<()> {
    if !db.exists() {
        return Err(StoreError::Corrupt(format!(
            "no database at {}",
            db.display()
        )));
    }
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Corrupt(format!("the path {} is not UTF-8", to.display())))?;
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// How many tables the PostgreSQL database of `url` holds in its current schema (a restore wants 0).
pub async fn postgres_table_count(url: &str) -> Result<i64> {
    let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
    let n: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_schema = current_schema()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(n)
}
