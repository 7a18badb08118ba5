//! [`SqlStore`]: the store over SQLite or PostgreSQL. Plain SQL per area (`orgs`, `cylinders`,
//! `events`, `filling`, `audit`, `ledger`, `ps`, `records`, `accounts`), each module implementing its area trait;
//! `writer` is the one writer, `intake` judges and appends events inside it and `facts` reads
//! what its judgements need; `rows` turns rows
//! into domain types; `db` is the only place that names a backend.

mod accounts;
mod alarms;
mod audit;
pub mod backup;
mod cylinders;
pub(crate) mod db;
mod devices;
mod events;
mod facts;
mod files;
mod filling;
mod intake;
mod ledger;
mod orgs;
mod ps;
mod receipts;
mod records;
mod rows;
mod writer;

use async_trait::async_trait;

use crate::model::{LedgerInfo, LedgerParams};
use crate::{Result, Store, WriteError, WriteRequest, Written};
use db::{Pool, PooledConn, sql};

#[cfg(feature = "failpoints")]
pub use writer::FailPoint;

/// The store over SQLite (one file, WAL, `synchronous = FULL`) or PostgreSQL.
pub struct SqlStore {
    pool: Pool,
    writer: writer::Handle,
    ledger: LedgerInfo,
}

impl SqlStore {
    /// Opens (creating when missing) the SQLite database at `path` and runs its migrations.
    pub async fn open_sqlite(path: &std::path::Path, params: &LedgerParams) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Self::start(Pool::sqlite(path).await?, params).await
    }

    /// Connects to PostgreSQL and runs its migrations; `schema` (tests) puts every table in a
    /// schema of its own, created when missing.
    pub async fn connect_postgres(
        url: &str,
        schema: Option<&str>,
        params: &LedgerParams,
    ) -> Result<Self> {
        Self::start(Pool::postgres(url, schema).await?, params).await
    }

    async fn start(pool: Pool, params: &LedgerParams) -> Result<Self> {
        let ledger = ledger::init(&pool, params).await?;
        let writer = writer::spawn(pool.clone(), ledger.clone(), params);
        Ok(SqlStore {
            pool,
            writer,
            ledger,
        })
    }

    async fn conn(&self) -> Result<PooledConn> {
        self.pool.acquire().await
    }

    /// Makes the writer fail at `point` until cleared (`None`): tests of what one transaction holds.
    #[cfg(feature = "failpoints")]
    pub fn fail_at(&self, point: Option<FailPoint>) {
        self.writer.fail_at(point);
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.pool.backend().name()
    }

    async fn ping(&self) -> Result<()> {
        sql("select 1")
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool> {
        let row = sql("select (select count(*) from orgs) + (select count(*) from users) as n")
            .fetch_one(&mut self.conn().await?.conn())
            .await?;
        Ok(row.get::<i64>("n")? == 0)
    }

    async fn write(&self, req: WriteRequest) -> std::result::Result<Written, WriteError> {
        self.writer.write(req).await
    }
}
