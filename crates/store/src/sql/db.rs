//! The two backends behind one small interface. Every statement of the store is plain SQL that both
//! SQLite and PostgreSQL speak (`$N` placeholders, `on conflict`, text ids, times as microseconds),
//! built with [`sql`] and run on a [`Conn`]; this module is the only place that names a backend, and
//! each spot where the two differ says so.
//!
//! Bound values are [`Value`]s (text, integers, reals, booleans, bytes, each possibly null), made
//! from the types the store binds; a `Uuid` binds as text and a `DateTime<Utc>` as microseconds
//! since the epoch. Rows are read by column name through [`Row::get`].

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Postgres, Row as _, SqlSafeStr, SqlStr, Sqlite};
use uuid::Uuid;

use crate::{Result, StoreError};

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The `n`th (1-based) bind parameter of a generated statement. SQLite gets anonymous `?`: with
    /// thousands of numbered `$N` in one statement, resolving each number's name is a linear search
    /// (quadratic per statement), which made a 100,000-row insert spend most of its time there. A
    /// generated statement uses these throughout: SQLite takes `$1` as a *name*, so it must not be
    /// mixed with `?`.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// `(…), (…)` for `rows` rows of `cols` parameters each, numbered from 1.
    pub fn values(self, rows: usize, cols: usize) -> String {
        let mut s = String::with_capacity(rows * cols * 5);
        for i in 0..rows {
            if i > 0 {
                s.push_str(", ");
            }
            s.push('(');
            for j in 1..=cols {
                if j > 1 {
                    s.push_str(", ");
                }
                s.push_str(&self.placeholder(i * cols + j));
            }
            s.push(')');
        }
        s
    }

    /// The text of the top-level member `key` of the JSON text column `col` (null when absent).
    /// An index over such a member (`events_fill_batch`) is written with this very expression, so
    /// that a query written with it uses the index.
    pub fn json_text(self, col: &str, key: &str) -> String {
        match self {
            Backend::Sqlite => format!("json_extract({col}, '$.{key}')"),
            Backend::Postgres => format!("(({col})::jsonb ->> '{key}')"),
        }
    }

    /// The number held by the top-level member `key` of the JSON text column `col`.
    pub fn json_real(self, col: &str, key: &str) -> String {
        match self {
            // `+ 0.0`: a whole number in the JSON (`30`) is an integer to SQLite.
            Backend::Sqlite => format!("(json_extract({col}, '$.{key}') + 0.0)"),
            Backend::Postgres => format!("((({col})::jsonb ->> '{key}')::double precision)"),
        }
    }

    /// The first element (as text) of the JSON array text column `col`.
    pub fn json_first(self, col: &str) -> String {
        match self {
            Backend::Sqlite => format!("json_extract({col}, '$[0]')"),
            Backend::Postgres => format!("(({col})::jsonb ->> 0)"),
        }
    }

    /// `$from, $from+1, …` (`n` parameters) for an `in (…)` list.
    pub fn list(self, from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| self.placeholder(i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A connection pool of either backend.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Pool {
    /// SQLite in one file, WAL, `synchronous = FULL` so that a commit is durable before we answer.
    pub async fn sqlite(path: &std::path::Path) -> Result<Pool> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // A 64 MiB page cache per connection (the default is 2 MiB): a node's hot archives stay
            // in memory instead of costing a read() per page.
            .pragma("cache_size", "-65536");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Pool::Sqlite(pool))
    }

    /// PostgreSQL. `schema` (tests) puts every table in a schema of its own, created when missing.
    pub async fn postgres(url: &str, schema: Option<&str>) -> Result<Pool> {
        let mut opts = PgConnectOptions::from_str(url)?;
        if let Some(s) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "create schema if not exists \"{}\"",
                s.replace('"', "")
            )))
            .execute(&admin)
            .await?;
            admin.close().await;
            opts = opts.options([("search_path", s)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Pool::Pg(pool))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    pub async fn acquire(&self) -> Result<PooledConn> {
        Ok(match self {
            Pool::Sqlite(p) => PooledConn::Sqlite(p.acquire().await?),
            Pool::Pg(p) => PooledConn::Pg(p.acquire().await?),
        })
    }

    /// A write transaction. SQLite's `BEGIN IMMEDIATE` takes the write lock at once, so that a
    /// transaction that reads before it writes waits for other writers instead of failing; a
    /// PostgreSQL transaction takes its row locks as it writes.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Pg(p) => Tx::Pg(p.begin().await?),
        })
    }
}

/// A connection taken from the pool (returned to it when dropped).
pub enum PooledConn {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(c) => Conn::Sqlite(c),
            PooledConn::Pg(c) => Conn::Pg(c),
        }
    }
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Pg(t) => Conn::Pg(t),
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// A connection of either backend, borrowed from a pool connection or a transaction.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }
}

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    I64(Option<i64>),
    /// PostgreSQL `integer` columns take 32-bit values only.
    I32(Option<i32>),
    F64(Option<f64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($($t:ty => $v:ident $(, $conv:expr)?;)*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v(Some(value_from!(@conv x $(, $conv)?)))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(x: Option<$t>) -> Value {
                Value::$v(x.map(|x| value_from!(@conv x $(, $conv)?)))
            }
        }
    )*};
    (@conv $x:ident) => { $x };
    (@conv $x:ident, $conv:expr) => { ($conv)($x) };
}

value_from! {
    String => Text;
    &str => Text, |s: &str| s.to_owned();
    &String => Text, |s: &String| s.clone();
    Uuid => Text, |u: Uuid| u.to_string();
    DateTime<Utc> => I64, |t: DateTime<Utc>| t.timestamp_micros();
    i64 => I64;
    i32 => I32;
    f64 => F64;
    bool => Bool;
    Vec<u8> => Bytes;
}

/// A statement and its bound values; run it with `fetch_all`, `fetch_optional`, `fetch_one` or
/// `execute` on a [`Conn`].
#[must_use]
pub struct Sql {
    text: SqlStr,
    args: Vec<Value>,
}

/// A statement from static SQL text, or from generated text wrapped in `sqlx::AssertSqlSafe`.
pub fn sql(text: impl SqlSafeStr) -> Sql {
    Sql {
        text: text.into_sql_str(),
        args: Vec::new(),
    }
}

type SqliteQuery = sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments>;
type PgQuery = sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>;

impl Sql {
    pub fn bind(mut self, v: impl Into<Value>) -> Self {
        self.args.push(v.into());
        self
    }

    fn sqlite(self) -> SqliteQuery {
        let mut q = sqlx::query::<Sqlite>(self.text);
        for v in self.args {
            q = match v {
                Value::Text(x) => q.bind(x),
                Value::I64(x) => q.bind(x),
                Value::I32(x) => q.bind(x),
                Value::F64(x) => q.bind(x),
                Value::Bool(x) => q.bind(x),
                Value::Bytes(x) => q.bind(x),
            };
        }
        q
    }

    fn pg(self) -> PgQuery {
        let mut q = sqlx::query::<Postgres>(self.text);
        for v in self.args {
            q = match v {
                Value::Text(x) => q.bind(x),
                Value::I64(x) => q.bind(x),
                Value::I32(x) => q.bind(x),
                Value::F64(x) => q.bind(x),
                Value::Bool(x) => q.bind(x),
                Value::Bytes(x) => q.bind(x),
            };
        }
        q
    }

    pub async fn fetch_all(self, c: &mut Conn<'_>) -> Result<Vec<Row>> {
        Ok(match c {
            Conn::Sqlite(c) => self
                .sqlite()
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Conn::Pg(c) => self
                .pg()
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(Row::Pg)
                .collect(),
        })
    }

    pub async fn fetch_optional(self, c: &mut Conn<'_>) -> Result<Option<Row>> {
        Ok(match c {
            Conn::Sqlite(c) => self
                .sqlite()
                .fetch_optional(&mut **c)
                .await?
                .map(Row::Sqlite),
            Conn::Pg(c) => self.pg().fetch_optional(&mut **c).await?.map(Row::Pg),
        })
    }

    pub async fn fetch_one(self, c: &mut Conn<'_>) -> Result<Row> {
        Ok(match c {
            Conn::Sqlite(c) => Row::Sqlite(self.sqlite().fetch_one(&mut **c).await?),
            Conn::Pg(c) => Row::Pg(self.pg().fetch_one(&mut **c).await?),
        })
    }

    /// Runs the statement; answers the number of rows it changed.
    pub async fn execute(self, c: &mut Conn<'_>) -> Result<u64> {
        Ok(match c {
            Conn::Sqlite(c) => self.sqlite().execute(&mut **c).await?.rows_affected(),
            Conn::Pg(c) => self.pg().execute(&mut **c).await?.rows_affected(),
        })
    }
}

/// A column type both backends decode.
pub trait Col:
    for<'r> sqlx::Decode<'r, Sqlite>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Postgres>
    + sqlx::Type<Postgres>
{
}

impl<T> Col for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A result row of either backend.
pub enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
}

impl Row {
    /// The column `name`, decoded as `T`.
    pub fn get<T: Col>(&self, name: &str) -> Result<T> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(name)?,
            Row::Pg(r) => r.try_get(name)?,
        })
    }

    /// A text column holding a UUID.
    pub fn uuid(&self, name: &str) -> Result<Uuid> {
        let s: String = self.get(name)?;
        Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{name} {s}: {e}")))
    }

    pub fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>> {
        self.get::<Option<String>>(name)?
            .map(|s| {
                Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(format!("{name} {s}: {e}")))
            })
            .transpose()
    }

    /// A microseconds column as a time.
    pub fn time(&self, name: &str) -> Result<DateTime<Utc>> {
        from_us(self.get(name)?)
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        self.get::<Option<i64>>(name)?.map(from_us).transpose()
    }

    /// A JSON text column, decoded as `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let s: String = self.get(name)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    }
}

/// A time to the microsecond, as every table keeps it.
pub fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_us(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Corrupt(format!("time {v} out of range")))
}

/// A value as JSON text (for the JSON columns).
pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values serialise")
}

/// Whether a database error is a unique-key violation (either backend).
pub fn unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation())
}

/// A unique-key violation as `Conflict(what)`; any other error as it is.
pub fn taken(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> StoreError {
    move |e| {
        if unique_violation(&e) {
            StoreError::Conflict(what())
        } else {
            e
        }
    }
}
