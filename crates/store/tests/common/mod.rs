//! Opens a fresh, isolated store for one test: PostgreSQL in a schema of its own when
//! `CYLTRACE_TEST_DATABASE_URL` is set, otherwise SQLite in a temporary directory.
// Each test binary uses part of these helpers.
#![allow(dead_code)]

use std::sync::Arc;

use cyltrace_store::{LedgerParams, SqlStore, Store};
use tempfile::TempDir;

/// The environment variable naming the PostgreSQL server the suite runs against.
pub const DATABASE_URL_VAR: &str = "CYLTRACE_TEST_DATABASE_URL";

/// Keeps a test's store alive and cleans up after it: the SQLite temporary directory is removed; the
/// PostgreSQL schema is dropped when the test passed and kept (and named) when it failed.
pub struct Guard {
    _dir: Option<TempDir>,
    /// The server URL and the test's schema.
    pg: Option<(String, String)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some((url, schema)) = &self.pg else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("test failed: PostgreSQL schema {schema} kept for inspection");
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: use a runtime of its own on a
        // thread of its own. Best effort; a leftover schema does no harm to other tests.
        let (url, schema) = (url.clone(), schema.clone());
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                let sql = format!("drop schema if exists \"{schema}\" cascade");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// A fresh store with the migrations run, and the guard that must outlive it.
pub async fn store() -> (Arc<dyn Store>, Guard) {
    store_with(&LedgerParams::default()).await
}

/// A fresh store opened with these ledger parameters (e.g. the uplink outbox on).
pub async fn store_with(params: &LedgerParams) -> (Arc<dyn Store>, Guard) {
    let (s, g) = sql_store(params).await;
    (s, g)
}

/// [`store_with`] as the concrete type (its test hooks reachable).
pub async fn sql_store(params: &LedgerParams) -> (Arc<SqlStore>, Guard) {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let store = SqlStore::connect_postgres(&url, Some(&schema), params)
                .await
                .unwrap_or_else(|e| {
                    panic!("cannot open PostgreSQL store at {url} (schema {schema}): {e}")
                });
            (
                Arc::new(store),
                Guard {
                    _dir: None,
                    pg: Some((url, schema)),
                },
            )
        }
        _ => {
            let dir = TempDir::new().expect("temporary directory");
            let store = SqlStore::open_sqlite(&dir.path().join("t.db"), params)
                .await
                .expect("open SQLite store");
            (
                Arc::new(store),
                Guard {
                    _dir: Some(dir),
                    pg: None,
                },
            )
        }
    }
}

impl Guard {
    /// Runs one SQL statement on a connection of its own, beside the store (to try what the store's
    /// API never does, such as changing an event).
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match (&self.pg, &self._dir) {
            (Some((url, schema)), _) => {
                let mut conn = sqlx::PgConnection::connect(url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "set search_path to \"{schema}\""
                )))
                .execute(&mut conn)
                .await?;
                Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
            }
            (None, Some(dir)) => {
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await?;
                Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
            }
            (None, None) => unreachable!("a guard holds a database"),
        }
    }
}
