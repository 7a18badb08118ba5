//! The two backends. Both speak the same SQL (`$N` placeholders, `on conflict`, text ids, times as
//! microseconds), so one body is instantiated per backend by `impl_store!`; only connecting and the
//! migrations differ. Rows are converted to domain types here and nowhere else.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::event::Position;
use cyltrace_domain::filling::alarms_for;
use cyltrace_domain::units::Text;
use cyltrace_domain::{
    Archive, CylinderCode, CylinderStatus, Event, EventData, EventKind, NewSite, OrgKind,
    RegionCode, Role, SiteKind,
};
use cyltrace_ledger::{Hash, HashAlg, LogHash, Tile, TileData, append_tiles, partial_tiles};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::model::*;
use crate::{Durability, NewCylinder, Result, Store, StoreError};

/// SQLite in one file, WAL, `synchronous = FULL` so that a commit is durable before we answer.
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Mutex<()>>,
    records: RecordSender,
    ledger: LedgerInfo,
}

impl SqliteStore {
    pub async fn open(path: &Path, params: &LedgerParams) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
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
        let ledger = Self::init_ledger(&pool, params).await?;
        let writer = Arc::new(Mutex::new(()));
        let (records, rx) = mpsc::channel(RECORD_QUEUE);
        let log = LogWriter {
            info: ledger.clone(),
            write: params.write,
            outbox: params.outbox,
        };
        tokio::spawn(Self::commit_records(pool.clone(), writer.clone(), rx, log));
        Ok(Self {
            pool,
            writer,
            records,
            ledger,
        })
    }
}

/// PostgreSQL. `schema` (tests) puts every table in a schema of its own, created when missing.
pub struct PgStore {
    pool: PgPool,
    writer: Arc<Mutex<()>>,
    records: RecordSender,
    ledger: LedgerInfo,
}

impl PgStore {
    pub async fn connect(url: &str, schema: Option<&str>, params: &LedgerParams) -> Result<Self> {
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
        let ledger = Self::init_ledger(&pool, params).await?;
        let writer = Arc::new(Mutex::new(()));
        let (records, rx) = mpsc::channel(RECORD_QUEUE);
        let log = LogWriter {
            info: ledger.clone(),
            write: params.write,
            outbox: params.outbox,
        };
        tokio::spawn(Self::commit_records(pool.clone(), writer.clone(), rx, log));
        Ok(Self {
            pool,
            writer,
            records,
            ledger,
        })
    }
}

/// Append-only records written by group commit: whatever queued while one transaction committed
/// goes into the next, so that the fsync is shared; each caller is answered after its commit.
enum Record {
    Audit(AuditRecord),
    Decision(DecisionRecord),
    /// A batch of events (all or nothing), answered through its own channel.
    Append(Box<AppendJob>),
    /// Writes nothing; answered once everything queued before it is committed.
    Flush,
}

struct AppendJob {
    events: Vec<Event>,
    ctx: AppendContext,
    reply: oneshot::Sender<Result<Vec<Appended>>>,
}

impl Record {
    /// How much of a transaction's budget the record takes.
    fn weight(&self) -> usize {
        match self {
            Record::Append(job) => job.events.len().max(1),
            _ => 1,
        }
    }
}

/// What the committer needs to extend the log.
#[derive(Clone)]
struct LogWriter {
    info: LedgerInfo,
    write: bool,
    /// Whether new events of the uplink kinds get an outbox row (`LedgerParams::outbox`).
    outbox: bool,
}

/// Whether a new event of this kind goes to the upstream (gets an outbox row).
fn uplinked(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::PreFillCheck
            | EventKind::Fill
            | EventKind::PostFillCheck
            | EventKind::InspectionResult
    )
}

/// `None`: queued (write-behind); the committer logs a failure instead of answering it.
type Reply = Option<oneshot::Sender<Result<()>>>;
type RecordSender = mpsc::Sender<(Record, Reply)>;

/// Records waiting for the committer, and the most one transaction takes (in events or records;
/// a single larger batch of events still goes alone).
const RECORD_QUEUE: usize = 4096;
const RECORD_BATCH: usize = 256;
/// Events read per query when the whole log is walked.
const PAGE: i64 = 10_000;
/// Ids bound per statement when rows are named by a list (well under both backends' limits on
/// bound parameters).
const ID_CHUNK: usize = 1000;

/// Hands a record to the committer; with `Durability::Committed`, waits until it is committed.
async fn commit_record(records: &RecordSender, r: Record, durability: Durability) -> Result<()> {
    let stopped = || StoreError::Corrupt("the record committer has stopped".to_owned());
    match durability {
        Durability::Queued => records.send((r, None)).await.map_err(|_| stopped()),
        Durability::Committed => {
            let (reply, answer) = oneshot::channel();
            records
                .send((r, Some(reply)))
                .await
                .map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        }
    }
}

/// Answers a waiting caller; a queued record's failure is logged, as nobody waits for it.
fn answer(reply: Reply, result: Result<()>) {
    match reply {
        // A caller that gave up waiting needs no answer.
        Some(reply) => drop(reply.send(result)),
        None => {
            if let Err(e) = result {
                tracing::error!(error = %e, "a queued record could not be written");
            }
        }
    }
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_us(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| StoreError::Corrupt(format!("time {v} out of range")))
}

fn uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("uuid {s}: {e}")))
}

fn opt_uuid(s: Option<String>) -> Result<Option<Uuid>> {
    s.as_deref().map(uuid).transpose()
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values serialise")
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The event as the log keeps it: its time to the microsecond.
fn as_stored(e: &Event) -> Result<std::borrow::Cow<'_, Event>> {
    let time = from_us(us(e.time))?;
    if time == e.time {
        return Ok(std::borrow::Cow::Borrowed(e));
    }
    Ok(std::borrow::Cow::Owned(Event { time, ..e.clone() }))
}

/// A cylinder whose projection a batch changes.
struct Touched {
    archive: Archive,
    status: CylinderStatus,
    owner: String,
    refold: bool,
}

/// The parts of a stored event row, decoded.
#[allow(clippy::too_many_arguments)]
fn decode_event(
    ledger_index: i64,
    event_id: &str,
    kind: &str,
    codes: &str,
    time_us: i64,
    site_id: Option<String>,
    operator: Option<String>,
    device: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    data: &str,
    org_id: &str,
    recorded_by: Option<String>,
    created_at: i64,
) -> Result<StoredEvent> {
    let data: serde_json::Value = json("event data", data)?;
    let kind_v = serde_json::json!({"kind": kind, "data": data});
    let data: EventData = serde_json::from_value(kind_v)
        .map_err(|e| StoreError::Corrupt(format!("event {event_id}: {e}")))?;
    let text = |s: Option<String>| {
        s.map(|s| Text::parse(&s))
            .transpose()
            .map_err(StoreError::Corrupt)
    };
    Ok(StoredEvent {
        event: Event {
            id: uuid(event_id)?,
            data,
            codes: json::<Vec<CylinderCode>>("event codes", codes)?,
            time: from_us(time_us)?,
            site_id: opt_uuid(site_id)?,
            operator: text(operator)?,
            device: text(device)?,
            position: lat.zip(lon).map(|(lat, lon)| Position { lat, lon }),
        },
        ledger_index,
        recorded_at: from_us(created_at)?,
        recorded_by: opt_uuid(recorded_by)?,
        org_id: uuid(org_id)?,
    })
}

const EVENT_COLUMNS: &str = "e.ledger_index, e.event_id, e.kind, e.codes, e.time_us, e.site_id, e.operator, e.device, e.lat, e.lon, e.data, e.org_id, e.recorded_by, e.created_at";
/// The filter of [`EventFilter`] over `events e join orgs o` ($1–$10).
const EVENTS_WHERE: &str = "where ($1 is null or o.path like $1)
      and ($2 is null or e.kind in ($2, $3, $4))
      and ($5 is null or e.site_id = $5)
      and ($6 is null or exists (select 1 from event_codes x where x.ledger_index = e.ledger_index and x.code = $6))
      and ($7 is null or e.operator = $7)
      and ($8 is null or e.recorded_by = $8)
      and ($9 is null or e.time_us >= $9)
      and ($10 is null or e.time_us < $10)";
const USER_COLUMNS: &str = "u.user_id, u.org_id, u.username, u.password_hash, u.name, u.roles, u.failed_logins, u.locked_until, u.created_at, o.path";

/// The `n`th (1-based) bind parameter of a generated statement. SQLite gets anonymous `?`: with
/// thousands of numbered `$N` in one statement, resolving each number's name is a linear search
/// (quadratic per statement), which made a 100,000-row insert spend most of its time there.
fn placeholder(backend: &str, n: usize) -> String {
    if backend == "sqlite" {
        "?".to_owned()
    } else {
        format!("${n}")
    }
}

/// Archives per multi-row insert (11 parameters each: well inside SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters).
const INSERT_CHUNK: usize = 500;
/// Codes per `in (…)` lookup.
const LOOKUP_CHUNK: usize = 500;

const CYLINDER_COLUMNS: &str =
    "c.cylinder_id, c.archive, c.status, c.org_id, c.created_at, c.updated_at, o.path";

/// The filters of `list_biz` and `count_biz`: kind, scope, organisation, record referred to, state,
/// due before ($1 … $6).
const BIZ_WHERE: &str = "where b.kind = $1
      and ($2 is null or o.path like $2)
      and ($3 is null or b.org_id = $3)
      and ($4 is null or b.ref_id = $4)
      and ($5 is null or b.state = $5)
      and ($6 is null or (b.due is not null and b.due < $6))";

macro_rules! impl_store {
    ($store:ty, $db:ty, $row:ty, $backend:literal, $begin:literal) => {
        impl $store {
            /// A write transaction. SQLite's `BEGIN IMMEDIATE` takes the write lock at once, so a
            /// transaction that reads before it writes waits for other writers instead of failing.
            async fn begin(pool: &sqlx::Pool<$db>) -> Result<sqlx::Transaction<'static, $db>> {
                Ok(pool.begin_with($begin).await?)
            }

            /// The one writer: group commit behind `append_events`, `insert_audit` and
            /// `insert_decision`. Whatever queued while one transaction committed goes into the
            /// next (up to `RECORD_BATCH` events or records), so that the fsync and the tree update
            /// are shared; each caller is answered after its commit.
            async fn commit_records(pool: sqlx::Pool<$db>, writer: Arc<Mutex<()>>, mut rx: mpsc::Receiver<(Record, Reply)>, log: LogWriter) {
                while let Some(first) = rx.recv().await {
                    let mut weight = first.0.weight();
                    let mut batch = vec![first];
                    while weight < RECORD_BATCH {
                        match rx.try_recv() {
                            Ok(next) => {
                                weight += next.0.weight();
                                batch.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let _w = writer.lock().await;
                    match Self::commit_batch(&pool, &log, &batch).await {
                        Ok(appended) => Self::answer_batch(batch, appended),
                        Err(e) => {
                            tracing::warn!(error = %e, records = batch.len(), "group commit failed; committing one by one");
                            // One bad record must not fail the others: retry each alone.
                            for item in batch {
                                let alone = Self::commit_batch(&pool, &log, std::slice::from_ref(&item)).await;
                                match alone {
                                    Ok(appended) => Self::answer_batch(vec![item], appended),
                                    Err(e) => match item.0 {
                                        Record::Append(job) => drop(job.reply.send(Err(e))),
                                        _ => answer(item.1, Err(e)),
                                    },
                                }
                            }
                        }
                    }
                }
            }

            /// Answers every caller of a committed batch; `appended` has one result per `Append`.
            fn answer_batch(batch: Vec<(Record, Reply)>, appended: Vec<Result<Vec<Appended>>>) {
                let mut appended = appended.into_iter();
                for (r, reply) in batch {
                    match r {
                        Record::Append(job) => {
                            let result = appended.next().unwrap_or_else(|| Err(StoreError::Corrupt("no answer for an append".to_owned())));
                            // A caller that gave up waiting needs no answer.
                            drop(job.reply.send(result));
                        }
                        _ => answer(reply, Ok(())),
                    }
                }
            }

            /// One transaction for a batch: each append inside a savepoint (a refused batch of
            /// events is rolled back alone and answered with its error), then the other records,
            /// then the new leaves into the tree's tiles, then one commit.
            async fn commit_batch(pool: &sqlx::Pool<$db>, log: &LogWriter, batch: &[(Record, Reply)]) -> Result<Vec<Result<Vec<Appended>>>> {
                let mut tx = Self::begin(pool).await?;
                let old_size = Self::log_size(&mut *tx).await?;
                let mut leaves = Vec::new();
                let mut appended = Vec::new();
                for (r, _) in batch {
                    let Record::Append(job) = r else { continue };
                    sqlx::query("savepoint append_job").execute(&mut *tx).await?;
                    match Self::append_in(&mut tx, &log.info, log.outbox, &job.events, &job.ctx).await {
                        Ok((out, mut new_leaves)) => {
                            sqlx::query("release savepoint append_job").execute(&mut *tx).await?;
                            leaves.append(&mut new_leaves);
                            appended.push(Ok(out));
                        }
                        Err(e) => {
                            sqlx::query("rollback to savepoint append_job").execute(&mut *tx).await?;
                            sqlx::query("release savepoint append_job").execute(&mut *tx).await?;
                            appended.push(Err(e));
                        }
                    }
                }
                Self::write_records(&mut tx, batch.iter().map(|(r, _)| r)).await?;
                if log.write && !leaves.is_empty() {
                    Self::append_leaves(&mut tx, log.info.hash, old_size, &leaves).await?;
                }
                tx.commit().await?;
                Ok(appended)
            }

            /// The number of events stored, i.e. the next ledger index.
            async fn log_size<'e, E: sqlx::Executor<'e, Database = $db>>(ex: E) -> Result<u64> {
                let n: i64 = sqlx::query("select coalesce(max(ledger_index) + 1, 0) as n from events")
                    .fetch_one(ex)
                    .await?
                    .try_get("n")?;
                u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("ledger size {n}")))
            }

            /// Extends the tree of `old_size` leaves by `leaves`: reads its right edge (the partial
            /// tiles), and writes every tile that changed.
            async fn append_leaves(tx: &mut sqlx::Transaction<'static, $db>, hash: HashAlg, old_size: u64, leaves: &[Hash]) -> Result<()> {
                let wanted = partial_tiles(old_size);
                let partials = Self::read_tiles(&mut **tx, &wanted).await?;
                let changed = append_tiles(hash, old_size, &partials, leaves).map_err(|e| StoreError::Corrupt(format!("ledger tiles: {e}")))?;
                for chunk in changed.chunks(256) {
                    sqlx::QueryBuilder::<$db>::new("insert into ledger_tiles (level, idx, width, hashes) ")
                        .push_values(chunk, |mut b, t| {
                            b.push_bind(i32::from(t.tile.level))
                                .push_bind(i64::try_from(t.tile.index).unwrap_or(i64::MAX))
                                .push_bind(i32::from(t.tile.width))
                                .push_bind(t.hashes.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
                        })
                        .push(" on conflict (level, idx) do update set width = excluded.width, hashes = excluded.hashes")
                        .build()
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// The stored tiles named, cut to the width asked for; missing or narrower ones are
            /// left out.
            async fn read_tiles(conn: &mut <$db as sqlx::Database>::Connection, tiles: &[Tile]) -> Result<Vec<TileData>> {
                let mut out = Vec::with_capacity(tiles.len());
                for t in tiles {
                    let row = sqlx::query("select width, hashes from ledger_tiles where level = $1 and idx = $2")
                        .bind(i32::from(t.level))
                        .bind(i64::try_from(t.index).unwrap_or(i64::MAX))
                        .fetch_optional(&mut *conn)
                        .await?;
                    let Some(row) = row else { continue };
                    let bytes: Vec<u8> = row.try_get("hashes")?;
                    let width: i32 = row.try_get("width")?;
                    if bytes.len() != 32 * usize::try_from(width).unwrap_or(0) {
                        return Err(StoreError::Corrupt(format!("ledger tile {}: {} bytes for width {width}", t.path(), bytes.len())));
                    }
                    if width < i32::from(t.width) {
                        continue;
                    }
                    let hashes = bytes
                        .chunks_exact(32)
                        .take(usize::from(t.width))
                        .map(|c| Hash::from_slice(c).map_err(|e| StoreError::Corrupt(e.to_string())))
                        .collect::<Result<Vec<_>>>()?;
                    out.push(TileData { tile: *t, hashes });
                }
                Ok(out)
            }

            /// Reads (or, for a new database, records) the log's origin and hash; a log whose
            /// events predate the ledger gets its tree built now.
            async fn init_ledger(pool: &sqlx::Pool<$db>, params: &LedgerParams) -> Result<LedgerInfo> {
                let rows = sqlx::query("select key, value from ledger_meta").fetch_all(pool).await?;
                let get = |k: &str| -> Result<Option<String>> {
                    for r in &rows {
                        if r.try_get::<String, _>("key")? == k {
                            return Ok(Some(r.try_get("value")?));
                        }
                    }
                    Ok(None)
                };
                if let (Some(origin), Some(hash)) = (get("origin")?, get("hash")?) {
                    let hash: HashAlg = hash.parse().map_err(|e| StoreError::Corrupt(format!("ledger hash: {e}")))?;
                    if let Some(o) = &params.origin && *o != origin {
                        return Err(StoreError::Corrupt(format!("the ledger was created with origin {origin:?}, not {o:?}; the origin of a log never changes")));
                    }
                    if let Some(h) = params.hash && h != hash {
                        return Err(StoreError::Corrupt(format!("the ledger was created with hash {hash}, not {h}; the hash of a log never changes")));
                    }
                    return Ok(LedgerInfo { origin, hash });
                }
                let info = LedgerInfo {
                    origin: params.origin.clone().unwrap_or_else(|| format!("cyltrace/{}", &Uuid::new_v4().simple().to_string()[..12])),
                    hash: params.hash.unwrap_or_default(),
                };
                if info.origin.is_empty() || info.origin.contains('\n') {
                    return Err(StoreError::Corrupt("the ledger origin must be one non-empty line".to_owned()));
                }
                let mut tx = Self::begin(pool).await?;
                sqlx::query("insert into ledger_meta (key, value) values ('origin', $1), ('hash', $2)")
                    .bind(&info.origin)
                    .bind(info.hash.to_string())
                    .execute(&mut *tx)
                    .await?;
                // Events stored before the ledger existed become its first leaves.
                let size = Self::log_size(&mut *tx).await?;
                let mut done = 0u64;
                while done < size {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("select {EVENT_COLUMNS} from events e where e.ledger_index >= $1 order by e.ledger_index limit $2")))
                        .bind(i64::try_from(done).unwrap_or(i64::MAX))
                        .bind(PAGE)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut leaves = Vec::with_capacity(rows.len());
                    for (i, r) in rows.iter().enumerate() {
                        let e = Self::event(r)?;
                        if u64::try_from(e.ledger_index).ok() != Some(done + i as u64) {
                            return Err(StoreError::Corrupt(format!("ledger index {} missing", done + i as u64)));
                        }
                        leaves.push(crate::leaf::leaf_hash(info.hash, &info.origin, &e));
                    }
                    if leaves.is_empty() {
                        break;
                    }
                    Self::append_leaves(&mut tx, info.hash, done, &leaves).await?;
                    done += leaves.len() as u64;
                }
                tx.commit().await?;
                Ok(info)
            }

            /// One multi-row insert per table for a whole batch: the per-statement cost is paid
            /// once, not once per record.
            async fn write_records<'r>(tx: &mut sqlx::Transaction<'static, $db>, records: impl Iterator<Item = &'r Record>) -> Result<()> {
                let mut audits = Vec::new();
                let mut decisions = Vec::new();
                for r in records {
                    match r {
                        Record::Audit(a) => audits.push(a),
                        Record::Decision(d) => decisions.push(d),
                        Record::Flush | Record::Append(_) => {}
                    }
                }
                if !audits.is_empty() {
                    sqlx::QueryBuilder::<$db>::new(
                        "insert into audit (at, user_id, username, org_id, org_path, method, path, status, ip, detail, created_at) ",
                    )
                    .push_values(&audits, |mut b, a| {
                        b.push_bind(us(a.at))
                            .push_bind(a.user_id.map(|u| u.to_string()))
                            .push_bind(a.username.clone())
                            .push_bind(a.org_id.map(|u| u.to_string()))
                            .push_bind(a.org_path.clone())
                            .push_bind(a.method.clone())
                            .push_bind(a.path.clone())
                            .push_bind(a.status)
                            .push_bind(a.ip.clone())
                            .push_bind(a.detail.clone())
                            .push_bind(us(a.at));
                    })
                    .build()
                    .execute(&mut **tx)
                    .await?;
                }
                if !decisions.is_empty() {
                    sqlx::QueryBuilder::<$db>::new(
                        "insert into fill_decisions (decision_id, at, user_id, org_id, site_id, code, medium, allow, refusals, illegal_label,
                                                     fill_limit_kg, target_gross_kg, created_at) ",
                    )
                    .push_values(&decisions, |mut b, d| {
                        b.push_bind(d.id.to_string())
                            .push_bind(us(d.at))
                            .push_bind(d.user_id.map(|u| u.to_string()))
                            .push_bind(d.org_id.to_string())
                            .push_bind(d.site_id.to_string())
                            .push_bind(d.code.clone())
                            .push_bind(d.medium.clone())
                            .push_bind(d.allow)
                            .push_bind(to_json(&d.refusals))
                            .push_bind(d.illegal_label)
                            .push_bind(d.fill_limit_kg)
                            .push_bind(d.target_gross_kg)
                            .push_bind(us(d.at));
                    })
                    .build()
                    .execute(&mut **tx)
                    .await?;
                    let rules: Vec<(&DecisionRecord, &RefusalRecord)> = decisions.iter().flat_map(|d| d.refusals.iter().map(move |r| (*d, r))).collect();
                    if !rules.is_empty() {
                        sqlx::QueryBuilder::<$db>::new("insert into fill_decision_rules (decision_id, rule, org_id, site_id, at, created_at) ")
                            .push_values(&rules, |mut b, (d, r)| {
                                b.push_bind(d.id.to_string())
                                    .push_bind(r.rule.clone())
                                    .push_bind(d.org_id.to_string())
                                    .push_bind(d.site_id.to_string())
                                    .push_bind(us(d.at))
                                    .push_bind(us(d.at));
                            })
                            .build()
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                Ok(())
            }

            /// Appends one batch of events inside the writer's transaction; returns the answers
            /// and the leaf hashes of the events stored now, in index order. With `outbox`, each
            /// new event of an uplink kind gets its outbox row here, in the same transaction.
            async fn append_in(tx: &mut sqlx::Transaction<'static, $db>, log: &LedgerInfo, outbox: bool, events: &[Event], ctx: &AppendContext) -> Result<(Vec<Appended>, Vec<Hash>)> {
                // Recording facts as the log keeps them (microseconds), so that the leaf hashed now
                // is the leaf recomputed from the stored row.
                let recorded_at = from_us(us(ctx.recorded_at))?;
                let mut leaves = Vec::with_capacity(events.len());
                let mut next: i64 = sqlx::query("select coalesce(max(ledger_index) + 1, 0) as n from events")
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("n")?;
                let mut out = Vec::with_capacity(events.len());
                // Projections touched by this batch.
                let mut touched: HashMap<String, Touched> = HashMap::new();
                for e in events {
                    let seen = sqlx::query("select ledger_index, kind, codes, org_id, data from events where event_id = $1")
                        .bind(e.id.to_string())
                        .fetch_optional(&mut **tx)
                        .await?;
                    if let Some(row) = seen {
                        // A retry is the same event from the same organisation; anything else reusing
                        // the id is refused rather than silently dropped.
                        let codes: Vec<CylinderCode> = json("event codes", &row.try_get::<String, _>("codes")?)?;
                        if row.try_get::<String, _>("kind")? != e.kind().as_str()
                            || codes != e.codes
                            || row.try_get::<String, _>("org_id")? != ctx.org_id.to_string()
                            || row.try_get::<String, _>("data")? != to_json(&e.data.data_json())
                        {
                            return Err(StoreError::Conflict(e.id.to_string()));
                        }
                        out.push(Appended { id: e.id, ledger_index: row.try_get("ledger_index")?, new: false });
                        continue;
                    }
                    // The log keeps times to the microsecond: the projection must see the event as stored, or
                    // it would differ from a refold of the stored events (`Utc::now()` has nanoseconds).
                    let e = &as_stored(e)?;
                    let codes: Vec<&str> = e.codes.iter().map(|c| c.as_str()).collect();
                    sqlx::query(
                        "insert into events (ledger_index, event_id, kind, codes, time_us, site_id, operator, device, lat, lon, data, org_id, recorded_by, created_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    )
                    .bind(next)
                    .bind(e.id.to_string())
                    .bind(e.kind().as_str())
                    .bind(to_json(&codes))
                    .bind(us(e.time))
                    .bind(e.site_id.map(|s| s.to_string()))
                    .bind(e.operator.as_ref().map(|s| s.as_str().to_owned()))
                    .bind(e.device.as_ref().map(|s| s.as_str().to_owned()))
                    .bind(e.position.map(|p| p.lat))
                    .bind(e.position.map(|p| p.lon))
                    .bind(to_json(&e.data.data_json()))
                    .bind(ctx.org_id.to_string())
                    .bind(ctx.recorded_by.map(|u| u.to_string()))
                    .bind(us(ctx.recorded_at))
                    .execute(&mut **tx)
                    .await?;
                    if outbox && uplinked(e.kind()) {
                        sqlx::query("insert into outbox (ledger_index, event_id, kind, created_at) values ($1, $2, $3, $4)")
                            .bind(next)
                            .bind(e.id.to_string())
                            .bind(e.kind().as_str())
                            .bind(us(ctx.recorded_at))
                            .execute(&mut **tx)
                            .await?;
                    }
                    for code in &e.codes {
                        if !touched.contains_key(code.as_str()) {
                            let row = sqlx::query("select archive, status, org_id from cylinders where code = $1")
                                .bind(code.as_str())
                                .fetch_optional(&mut **tx)
                                .await?
                                .ok_or_else(|| StoreError::NotFound(format!("cylinder {code}")))?;
                            touched.insert(code.as_str().to_owned(), Touched {
                                archive: json("archive", &row.try_get::<String, _>("archive")?)?,
                                status: json("status", &row.try_get::<String, _>("status")?)?,
                                owner: row.try_get("org_id")?,
                                refold: false,
                            });
                        }
                        let entry = touched.get_mut(code.as_str()).expect("inserted above");
                        sqlx::query("insert into event_codes (code, ledger_index, time_us, org_id, created_at) values ($1, $2, $3, $4, $5)")
                            .bind(code.as_str())
                            .bind(next)
                            .bind(us(e.time))
                            .bind(&entry.owner)
                            .bind(us(ctx.recorded_at))
                            .execute(&mut **tx)
                            .await?;
                        for alarm in alarms_for(&e.data, &entry.archive) {
                            sqlx::query(
                                "insert into alarms (kind, code, event_id, org_id, site_id, message, at, created_at)
                                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
                            )
                            .bind(alarm.kind.as_str())
                            .bind(code.as_str())
                            .bind(e.id.to_string())
                            .bind(&entry.owner)
                            .bind(e.site_id.map(|s| s.to_string()))
                            .bind(&alarm.message)
                            .bind(us(e.time))
                            .bind(us(ctx.recorded_at))
                            .execute(&mut **tx)
                            .await?;
                        }
                        if entry.refold || entry.status.needs_refold(e.time) {
                            // A late event: the projection is refolded from all events below.
                            entry.refold = true;
                        } else {
                            entry.status.apply(e);
                        }
                    }
                    leaves.push(log.hash.leaf(&crate::leaf::encode(&log.origin, e, ctx.org_id, ctx.recorded_by, recorded_at)));
                    out.push(Appended { id: e.id, ledger_index: next, new: true });
                    next += 1;
                }
                for (code, Touched { archive, mut status, refold, .. }) in touched {
                    if refold {
                        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "select {EVENT_COLUMNS} from event_codes x join events e on e.ledger_index = x.ledger_index
                             where x.code = $1 order by x.time_us, x.ledger_index"
                        )))
                        .bind(&code)
                        .fetch_all(&mut **tx)
                        .await?;
                        let evs = rows.iter().map(Self::event).collect::<Result<Vec<_>>>()?;
                        status = crate::refold(&archive, &evs);
                    }
                    sqlx::query(
                        "update cylinders set status = $1, state = $2, location_kind = $3, next_check_date = $4, site_id = $5, holder = $6, updated_at = $7
                         where code = $8",
                    )
                    .bind(to_json(&status))
                    .bind(status.state.as_str())
                    .bind(status.location_kind.as_str())
                    .bind(status.next_check_date.map(|d| d.to_string()))
                    .bind(status.site_id.map(|s| s.to_string()))
                    .bind(status.holder.as_ref().map(|h| h.as_str().to_owned()))
                    .bind(us(ctx.recorded_at))
                    .bind(&code)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok((out, leaves))
            }

            fn org(r: &$row) -> Result<OrgRecord> {
                let kind: String = r.try_get("kind")?;
                let region: String = r.try_get("region_code")?;
                Ok(OrgRecord {
                    id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    kind: OrgKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("org kind {kind}")))?,
                    name: r.try_get("name")?,
                    region_code: RegionCode::parse(&region).map_err(StoreError::Corrupt)?,
                    parent_id: opt_uuid(r.try_get("parent_id")?)?,
                    credit_code: r.try_get("credit_code")?,
                    licences: json("licences", &r.try_get::<String, _>("licences")?)?,
                    path: r.try_get("path")?,
                    created_at: from_us(r.try_get("created_at")?)?,
                })
            }

            fn site(r: &$row) -> Result<SiteRecord> {
                let kind: String = r.try_get("kind")?;
                Ok(SiteRecord {
                    id: uuid(&r.try_get::<String, _>("site_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    kind: SiteKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("site kind {kind}")))?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    lat: r.try_get("lat")?,
                    lon: r.try_get("lon")?,
                    org_path: r.try_get("path")?,
                    created_at: from_us(r.try_get("created_at")?)?,
                })
            }

            fn user(r: &$row) -> Result<UserRecord> {
                let roles: Vec<String> = json("roles", &r.try_get::<String, _>("roles")?)?;
                let roles = roles
                    .iter()
                    .map(|s| Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("role {s}"))))
                    .collect::<Result<Vec<_>>>()?;
                Ok(UserRecord {
                    id: uuid(&r.try_get::<String, _>("user_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    username: r.try_get("username")?,
                    password_hash: r.try_get("password_hash")?,
                    name: r.try_get("name")?,
                    roles,
                    failed_logins: r.try_get("failed_logins")?,
                    locked_until: r.try_get::<Option<i64>, _>("locked_until")?.map(from_us).transpose()?,
                    org_path: r.try_get("path")?,
                    created_at: from_us(r.try_get("created_at")?)?,
                })
            }

            fn cylinder(r: &$row) -> Result<CylinderRecord> {
                Ok(CylinderRecord {
                    id: r.try_get("cylinder_id")?,
                    archive: json("archive", &r.try_get::<String, _>("archive")?)?,
                    status: json("status", &r.try_get::<String, _>("status")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    org_path: r.try_get("path")?,
                    created_at: from_us(r.try_get("created_at")?)?,
                    updated_at: from_us(r.try_get("updated_at")?)?,
                })
            }

            fn event(r: &$row) -> Result<StoredEvent> {
                decode_event(
                    r.try_get("ledger_index")?,
                    &r.try_get::<String, _>("event_id")?,
                    &r.try_get::<String, _>("kind")?,
                    &r.try_get::<String, _>("codes")?,
                    r.try_get("time_us")?,
                    r.try_get("site_id")?,
                    r.try_get("operator")?,
                    r.try_get("device")?,
                    r.try_get("lat")?,
                    r.try_get("lon")?,
                    &r.try_get::<String, _>("data")?,
                    &r.try_get::<String, _>("org_id")?,
                    r.try_get("recorded_by")?,
                    r.try_get("created_at")?,
                )
            }

            fn decision(r: &$row) -> Result<DecisionRecord> {
                Ok(DecisionRecord {
                    id: uuid(&r.try_get::<String, _>("decision_id")?)?,
                    at: from_us(r.try_get("at")?)?,
                    user_id: opt_uuid(r.try_get("user_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    site_id: uuid(&r.try_get::<String, _>("site_id")?)?,
                    code: r.try_get("code")?,
                    medium: r.try_get("medium")?,
                    allow: r.try_get("allow")?,
                    refusals: json("refusals", &r.try_get::<String, _>("refusals")?)?,
                    illegal_label: r.try_get("illegal_label")?,
                    fill_limit_kg: r.try_get("fill_limit_kg")?,
                    target_gross_kg: r.try_get("target_gross_kg")?,
                })
            }

            fn alarm(r: &$row) -> Result<AlarmRecord> {
                Ok(AlarmRecord {
                    id: r.try_get("alarm_id")?,
                    kind: r.try_get("kind")?,
                    code: r.try_get("code")?,
                    event_id: uuid(&r.try_get::<String, _>("event_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    site_id: opt_uuid(r.try_get("site_id")?)?,
                    message: r.try_get("message")?,
                    at: from_us(r.try_get("at")?)?,
                })
            }

            fn batch(r: &$row) -> Result<BatchRecord> {
                Ok(BatchRecord {
                    id: uuid(&r.try_get::<String, _>("batch_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    number: r.try_get("number")?,
                    name: r.try_get("name")?,
                    site_id: opt_uuid(r.try_get("site_id")?)?,
                    medium: r.try_get("medium")?,
                    created_by: opt_uuid(r.try_get("created_by")?)?,
                    created_at: from_us(r.try_get("created_at")?)?,
                })
            }

            fn checkpoint(r: &$row) -> Result<CheckpointRecord> {
                let size: i64 = r.try_get("size")?;
                Ok(CheckpointRecord {
                    size: u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("checkpoint size {size}")))?,
                    root: Hash::from_slice(&r.try_get::<Vec<u8>, _>("root")?).map_err(|e| StoreError::Corrupt(format!("checkpoint root: {e}")))?,
                    time: from_us(r.try_get("time_us")?)?,
                    text: r.try_get("text")?,
                    signature: r.try_get("signature")?,
                    public_key: r.try_get("public_key")?,
                })
            }

            fn audit(r: &$row) -> Result<AuditRecord> {
                Ok(AuditRecord {
                    id: r.try_get("audit_id")?,
                    at: from_us(r.try_get("at")?)?,
                    user_id: opt_uuid(r.try_get("user_id")?)?,
                    username: r.try_get("username")?,
                    org_id: opt_uuid(r.try_get("org_id")?)?,
                    org_path: r.try_get("org_path")?,
                    method: r.try_get("method")?,
                    path: r.try_get("path")?,
                    status: r.try_get("status")?,
                    ip: r.try_get("ip")?,
                    detail: r.try_get("detail")?,
                })
            }

            fn ps_doc(r: &$row) -> Result<PsDoc> {
                Ok(PsDoc {
                    id: r.try_get("doc_id")?,
                    kind: r.try_get("kind")?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    org_path: r.try_get("path")?,
                    target_org_id: opt_uuid(r.try_get("target_org_id")?)?,
                    third_id: r.try_get("third_id")?,
                    state: r.try_get("state")?,
                    body: json("ps document body", &r.try_get::<String, _>("body")?)?,
                    created_at: from_us(r.try_get("created_at")?)?,
                    updated_at: from_us(r.try_get("updated_at")?)?,
                })
            }

            fn witness(r: &$row) -> Result<WitnessRecord> {
                let size: i64 = r.try_get("size")?;
                Ok(WitnessRecord {
                    user_id: uuid(&r.try_get::<String, _>("user_id")?)?,
                    origin: r.try_get("origin")?,
                    size: u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("witnessed size {size}")))?,
                    root: Hash::from_slice(&r.try_get::<Vec<u8>, _>("root")?).map_err(|e| StoreError::Corrupt(format!("witnessed root: {e}")))?,
                    text: r.try_get("text")?,
                    signature: r.try_get("signature")?,
                    public_key: r.try_get("public_key")?,
                    received_at: from_us(r.try_get("received_at")?)?,
                })
            }

            fn reg_alarm(r: &$row) -> Result<RegAlarm> {
                Ok(RegAlarm {
                    id: r.try_get("alarm_id")?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    at: from_us(r.try_get("at")?)?,
                })
            }

            fn biz(r: &$row) -> Result<BizRecord> {
                Ok(BizRecord {
                    id: uuid(&r.try_get::<String, _>("record_id")?)?,
                    kind: r.try_get("kind")?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    org_path: r.try_get("path")?,
                    key: r.try_get("key")?,
                    ref_id: opt_uuid(r.try_get("ref_id")?)?,
                    state: r.try_get("state")?,
                    due: r.try_get::<Option<i64>, _>("due")?.map(from_us).transpose()?,
                    body: json("business record body", &r.try_get::<String, _>("body")?)?,
                    created_at: from_us(r.try_get("created_at")?)?,
                    updated_at: from_us(r.try_get("updated_at")?)?,
                })
            }

            fn position(r: &$row) -> Result<VehiclePosition> {
                Ok(VehiclePosition {
                    vehicle_id: uuid(&r.try_get::<String, _>("vehicle_id")?)?,
                    org_id: uuid(&r.try_get::<String, _>("org_id")?)?,
                    time: from_us(r.try_get("time_us")?)?,
                    lat: r.try_get("lat")?,
                    lon: r.try_get("lon")?,
                    speed: r.try_get("speed")?,
                    heading: r.try_get("heading")?,
                })
            }

            fn cylinder_code(r: &$row) -> Result<CylinderCode> {
                CylinderCode::parse(&r.try_get::<String, _>("code")?).map_err(StoreError::Corrupt)
            }

            /// The id of the document with this `third_id` for (kind, org_id), if any.
            async fn ps_doc_by_third<'e, E: sqlx::Executor<'e, Database = $db>>(ex: E, kind: &str, org_id: Uuid, third_id: &str) -> Result<Option<i64>> {
                Ok(sqlx::query("select doc_id from ps_docs where kind = $1 and org_id = $2 and third_id = $3")
                    .bind(kind)
                    .bind(org_id.to_string())
                    .bind(third_id)
                    .fetch_optional(ex)
                    .await?
                    .map(|r| r.try_get("doc_id"))
                    .transpose()?)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("select 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn is_empty(&self) -> Result<bool> {
                let row = sqlx::query("select (select count(*) from orgs) + (select count(*) from users) as n").fetch_one(&self.pool).await?;
                Ok(row.try_get::<i64, _>("n")? == 0)
            }

            async fn insert_org(&self, o: &OrgRecord) -> Result<()> {
                sqlx::query(
                    "insert into orgs (org_id, kind, name, region_code, parent_id, credit_code, licences, path, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(o.id.to_string())
                .bind(o.kind.as_str())
                .bind(&o.name)
                .bind(o.region_code.as_str())
                .bind(o.parent_id.map(|p| p.to_string()))
                .bind(&o.credit_code)
                .bind(to_json(&o.licences))
                .bind(&o.path)
                .bind(us(o.created_at))
                .execute(&self.pool)
                .await
                .map_err(|e| if unique_violation(&e) { StoreError::Conflict(format!("org {}", o.id)) } else { e.into() })?;
                Ok(())
            }

            async fn get_org(&self, id: Uuid) -> Result<Option<OrgRecord>> {
                sqlx::query("select * from orgs where org_id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::org)
                    .transpose()
            }

            async fn list_orgs(&self, scope: &Scope, page: Page) -> Result<Vec<OrgRecord>> {
                sqlx::query("select * from orgs where path like $1 order by path limit $2 offset $3")
                    .bind(format!("{}%", scope.0))
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(Self::org)
                    .collect()
            }

            async fn insert_site(&self, id: Uuid, s: &NewSite, at: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "insert into sites (site_id, org_id, kind, name, address, lat, lon, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id.to_string())
                .bind(s.org_id.to_string())
                .bind(s.kind.as_str())
                .bind(s.name.as_str())
                .bind(s.address.as_ref().map(|a| a.as_str().to_owned()))
                .bind(s.lat)
                .bind(s.lon)
                .bind(us(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_site(&self, id: Uuid) -> Result<Option<SiteRecord>> {
                sqlx::query("select s.*, o.path from sites s join orgs o on o.org_id = s.org_id where s.site_id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::site)
                    .transpose()
            }

            async fn list_sites(&self, scope: &Scope, page: Page) -> Result<Vec<SiteRecord>> {
                sqlx::query(
                    "select s.*, o.path from sites s join orgs o on o.org_id = s.org_id
                     where o.path like $1 order by o.path, s.name limit $2 offset $3",
                )
                .bind(format!("{}%", scope.0))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::site)
                .collect()
            }

            async fn insert_user(&self, u: &UserRecord) -> Result<()> {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                sqlx::query(
                    "insert into users (user_id, org_id, username, password_hash, name, roles, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(u.id.to_string())
                .bind(u.org_id.to_string())
                .bind(&u.username)
                .bind(&u.password_hash)
                .bind(&u.name)
                .bind(to_json(&roles))
                .bind(us(u.created_at))
                .execute(&self.pool)
                .await
                .map_err(|e| if unique_violation(&e) { StoreError::Conflict(format!("username {}", u.username)) } else { e.into() })?;
                Ok(())
            }

            async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id where u.user_id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::user)
                    .transpose()
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id where u.username = $1")))
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::user)
                    .transpose()
            }

            async fn list_users(&self, scope: &Scope, page: Page) -> Result<Vec<UserRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id
                     where o.path like $1 order by u.username limit $2 offset $3"
                )))
                .bind(format!("{}%", scope.0))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::user)
                .collect()
            }

            async fn note_failed_login(&self, user_id: Uuid, lock_until: Option<DateTime<Utc>>) -> Result<()> {
                sqlx::query("update users set failed_logins = failed_logins + 1, locked_until = coalesce($2, locked_until) where user_id = $1")
                    .bind(user_id.to_string())
                    .bind(lock_until.map(us))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn reset_failed_logins(&self, user_id: Uuid) -> Result<()> {
                sqlx::query("update users set failed_logins = 0, locked_until = null where user_id = $1")
                    .bind(user_id.to_string())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_token(&self, token_hash: &str, user_id: Uuid, expires_at: DateTime<Utc>, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("insert into tokens (token_hash, user_id, expires_at, created_at) values ($1, $2, $3, $4)")
                    .bind(token_hash)
                    .bind(user_id.to_string())
                    .bind(us(expires_at))
                    .bind(us(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_token(&self, token_hash: &str) -> Result<()> {
                sqlx::query("delete from tokens where token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn user_by_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<(UserRecord, DateTime<Utc>)>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {USER_COLUMNS}, t.expires_at from tokens t join users u on u.user_id = t.user_id join orgs o on o.org_id = u.org_id
                     where t.token_hash = $1 and t.expires_at > $2"
                )))
                .bind(token_hash)
                .bind(us(now))
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(|r| Ok((Self::user(r)?, from_us(r.try_get("expires_at")?)?)))
                .transpose()
            }

            async fn insert_cylinders(&self, cylinders: &[NewCylinder], at: DateTime<Utc>) -> Result<usize> {
                // A code twice in the batch: the second is the conflict, as it would be row by row.
                let mut seen = std::collections::HashSet::with_capacity(cylinders.len());
                if let Some(c) = cylinders.iter().find(|c| !seen.insert(c.archive.code.as_str())) {
                    return Err(StoreError::Conflict(c.archive.code.to_string()));
                }
                let _w = self.writer.lock().await;
                let mut tx = Self::begin(&self.pool).await?;
                // Multi-row inserts: a bulk import of 100,000 archives is 200 statements, not 100,000.
                for chunk in cylinders.chunks(INSERT_CHUNK) {
                    let mut sql = String::from(
                        "insert into cylinders (code, org_id, archive, status, state, location_kind, next_check_date, site_id, holder, created_at, updated_at) values ",
                    );
                    for i in 0..chunk.len() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push('(');
                        for j in 1..=11 {
                            if j > 1 {
                                sql.push_str(", ");
                            }
                            sql.push_str(&placeholder($backend, i * 11 + j));
                        }
                        sql.push(')');
                    }
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for c in chunk {
                        let status = CylinderStatus::initial(&c.archive);
                        q = q
                            .bind(c.archive.code.as_str().to_owned())
                            .bind(c.org_id.to_string())
                            .bind(to_json(&c.archive))
                            .bind(to_json(&status))
                            .bind(status.state.as_str())
                            .bind(status.location_kind.as_str())
                            .bind(status.next_check_date.map(|d| d.to_string()))
                            .bind(status.site_id.map(|s| s.to_string()))
                            .bind(status.holder.as_ref().map(|h| h.as_str().to_owned()))
                            .bind(us(at))
                            .bind(us(at));
                    }
                    if let Err(e) = q.execute(&mut *tx).await {
                        if !unique_violation(&e) {
                            return Err(e.into());
                        }
                        // Which code was taken: the first of the chunk that is archived already.
                        tx.rollback().await?;
                        let codes: Vec<CylinderCode> = chunk.iter().map(|c| c.archive.code.clone()).collect();
                        let taken = self.existing_codes(&codes).await?;
                        let first = codes.iter().find(|c| taken.contains(c)).unwrap_or(&codes[0]);
                        return Err(StoreError::Conflict(first.to_string()));
                    }
                }
                tx.commit().await?;
                Ok(cylinders.len())
            }

            async fn existing_codes(&self, codes: &[CylinderCode]) -> Result<Vec<CylinderCode>> {
                let mut out = Vec::new();
                for chunk in codes.chunks(LOOKUP_CHUNK) {
                    let marks: Vec<String> = (1..=chunk.len()).map(|i| placeholder($backend, i)).collect();
                    let sql = format!("select code from cylinders where code in ({})", marks.join(", "));
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for c in chunk {
                        q = q.bind(c.as_str().to_owned());
                    }
                    for r in q.fetch_all(&self.pool).await? {
                        out.push(Self::cylinder_code(&r)?);
                    }
                }
                Ok(out)
            }

            async fn list_cylinders_after(&self, scope: &Scope, after: Option<&CylinderCode>, limit: i64) -> Result<Vec<CylinderRecord>> {
                let rows = match after {
                    None => {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
                             where o.path like $1 order by c.code limit $2"
                        )))
                        .bind(format!("{}%", scope.0))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    Some(code) => {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
                             where o.path like $1 and c.code > $2 order by c.code limit $3"
                        )))
                        .bind(format!("{}%", scope.0))
                        .bind(code.as_str().to_owned())
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                rows.iter().map(Self::cylinder).collect()
            }

            async fn get_cylinder(&self, code: &CylinderCode) -> Result<Option<CylinderRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id where c.code = $1")))
                    .bind(code.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::cylinder)
                    .transpose()
            }

            async fn list_cylinders(&self, scope: &Scope, page: Page) -> Result<Vec<CylinderRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
                     where o.path like $1 order by c.code limit $2 offset $3"
                )))
                .bind(format!("{}%", scope.0))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::cylinder)
                .collect()
            }

            async fn list_cylinders_since(&self, scope: &Scope, since: DateTime<Utc>, limit: i64) -> Result<Vec<CylinderRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {CYLINDER_COLUMNS} from cylinders c join orgs o on o.org_id = c.org_id
                     where o.path like $1 and c.updated_at >= $2 order by c.updated_at, c.code limit $3"
                )))
                .bind(format!("{}%", scope.0))
                .bind(us(since))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::cylinder)
                .collect()
            }

            async fn count_cylinders(&self) -> Result<i64> {
                Ok(sqlx::query("select count(*) as n from cylinders").fetch_one(&self.pool).await?.try_get("n")?)
            }

            async fn append_events(&self, events: &[Event], ctx: &AppendContext) -> Result<Vec<Appended>> {
                let stopped = || StoreError::Corrupt("the writer has stopped".to_owned());
                let (reply, answer) = oneshot::channel();
                let job = AppendJob { events: events.to_vec(), ctx: ctx.clone(), reply };
                self.records.send((Record::Append(Box::new(job)), None)).await.map_err(|_| stopped())?;
                answer.await.map_err(|_| stopped())?
            }

            async fn get_event(&self, id: Uuid) -> Result<Option<StoredEvent>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("select {EVENT_COLUMNS} from events e where e.event_id = $1")))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::event)
                    .transpose()
            }

            async fn events_of(&self, code: &CylinderCode) -> Result<Vec<StoredEvent>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {EVENT_COLUMNS} from event_codes x join events e on e.ledger_index = x.ledger_index
                     where x.code = $1 order by x.time_us, x.ledger_index"
                )))
                .bind(code.as_str())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::event)
                .collect()
            }

            async fn for_each_event(
                &self,
                f: &EventFilter,
                each: &mut (dyn FnMut(StoredEvent) + Send),
            ) -> Result<u64> {
                const WHERE: &str = EVENTS_WHERE;
                const PAGE: i64 = 5_000;
                let scope = f.scope.as_ref().map(|s| format!("{}%", s.0));
                let kind = |i: usize| f.kinds.get(i).copied();
                let mut after = -1i64;
                let mut n = 0u64;
                loop {
                    // Keyset paging on the ledger index: each row is read once.
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "select {EVENT_COLUMNS} from events e join orgs o on o.org_id = e.org_id {WHERE}
                         and e.ledger_index > $11 order by e.ledger_index limit $12"
                    )))
                    .bind(&scope)
                    .bind(kind(0))
                    .bind(kind(1))
                    .bind(kind(2))
                    .bind(f.site_id.map(|s| s.to_string()))
                    .bind(&f.code)
                    .bind(&f.operator)
                    .bind(f.recorded_by.map(|u| u.to_string()))
                    .bind(f.from.map(us))
                    .bind(f.to.map(us))
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
                    let got = rows.len() as i64;
                    for r in &rows {
                        let e = Self::event(r)?;
                        after = e.ledger_index;
                        n += 1;
                        each(e);
                    }
                    if got < PAGE {
                        return Ok(n);
                    }
                }
            }

            async fn list_events(&self, f: &EventFilter) -> Result<(Vec<StoredEvent>, i64)> {
                const WHERE: &str = EVENTS_WHERE;
                let scope = f.scope.as_ref().map(|s| format!("{}%", s.0));
                let kind = |i: usize| f.kinds.get(i).copied();
                macro_rules! bound {
                    ($q:expr) => {
                        $q.bind(&scope)
                            .bind(kind(0))
                            .bind(kind(1))
                            .bind(kind(2))
                            .bind(f.site_id.map(|s| s.to_string()))
                            .bind(&f.code)
                            .bind(&f.operator)
                            .bind(f.recorded_by.map(|u| u.to_string()))
                            .bind(f.from.map(us))
                            .bind(f.to.map(us))
                    };
                }
                let total: i64 = bound!(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select count(*) as n from events e join orgs o on o.org_id = e.org_id {WHERE}"
                ))))
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
                let rows = bound!(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select {EVENT_COLUMNS} from events e join orgs o on o.org_id = e.org_id {WHERE}
                     order by e.time_us desc, e.ledger_index desc limit $11 offset $12"
                ))))
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?;
                Ok((rows.iter().map(Self::event).collect::<Result<Vec<_>>>()?, total))
            }

            async fn list_alarms(&self, f: &AlarmFilter) -> Result<(Vec<AlarmRecord>, i64)> {
                const WHERE: &str = "where ($1 is null or o.path like $1) and ($2 is null or a.kind = $2) and ($3 is null or a.code = $3)";
                let scope = f.scope.as_ref().map(|s| format!("{}%", s.0));
                let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("select count(*) as n from alarms a join orgs o on o.org_id = a.org_id {WHERE}")))
                    .bind(&scope)
                    .bind(&f.kind)
                    .bind(&f.code)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select a.* from alarms a join orgs o on o.org_id = a.org_id {WHERE} order by a.at desc, a.alarm_id desc limit $4 offset $5"
                )))
                .bind(&scope)
                .bind(&f.kind)
                .bind(&f.code)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?;
                Ok((rows.iter().map(Self::alarm).collect::<Result<Vec<_>>>()?, total))
            }

            async fn insert_decision(&self, d: &DecisionRecord, durability: Durability) -> Result<()> {
                commit_record(&self.records, Record::Decision(d.clone()), durability).await
            }

            async fn flush(&self) -> Result<()> {
                commit_record(&self.records, Record::Flush, Durability::Committed).await
            }

            async fn list_decisions(&self, f: &DecisionFilter) -> Result<(Vec<DecisionRecord>, i64)> {
                const WHERE: &str = "where ($1 is null or o.path like $1)
                      and ($2 is null or d.site_id = $2)
                      and ($3 is null or d.code = $3)
                      and ($4 is null or d.allow = $4)
                      and ($5 is null or d.illegal_label = $5)
                      and ($6 is null or exists (select 1 from fill_decision_rules r where r.decision_id = d.decision_id and r.rule = $6))
                      and ($7 is null or d.at >= $7)
                      and ($8 is null or d.at < $8)";
                let scope = f.scope.as_ref().map(|s| format!("{}%", s.0));
                macro_rules! bound {
                    ($q:expr) => {
                        $q.bind(&scope)
                            .bind(f.site_id.map(|s| s.to_string()))
                            .bind(&f.code)
                            .bind(f.allow)
                            .bind(f.illegal_label)
                            .bind(&f.rule)
                            .bind(f.from.map(us))
                            .bind(f.to.map(us))
                    };
                }
                let total: i64 = bound!(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select count(*) as n from fill_decisions d join orgs o on o.org_id = d.org_id {WHERE}"
                ))))
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
                let rows = bound!(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select d.* from fill_decisions d join orgs o on o.org_id = d.org_id {WHERE}
                     order by d.at desc, d.decision_id limit $9 offset $10"
                ))))
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?;
                Ok((rows.iter().map(Self::decision).collect::<Result<Vec<_>>>()?, total))
            }

            async fn refusal_counts(&self, f: &DecisionFilter) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "select r.rule, count(*) as n from fill_decision_rules r join orgs o on o.org_id = r.org_id
                     where ($1 is null or o.path like $1) and ($2 is null or r.site_id = $2)
                       and ($3 is null or r.at >= $3) and ($4 is null or r.at < $4)
                     group by r.rule",
                )
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(f.site_id.map(|s| s.to_string()))
                .bind(f.from.map(us))
                .bind(f.to.map(us))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| Ok((r.try_get("rule")?, r.try_get("n")?))).collect()
            }

            async fn illegal_label_counts(&self, f: &DecisionFilter) -> Result<Vec<(Uuid, i64)>> {
                let rows = sqlx::query(
                    "select d.site_id, count(*) as n from fill_decisions d join orgs o on o.org_id = d.org_id
                     where d.illegal_label = $1 and ($2 is null or o.path like $2) and ($3 is null or d.site_id = $3)
                       and ($4 is null or d.at >= $4) and ($5 is null or d.at < $5)
                     group by d.site_id order by d.site_id",
                )
                .bind(true)
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(f.site_id.map(|s| s.to_string()))
                .bind(f.from.map(us))
                .bind(f.to.map(us))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| Ok((uuid(&r.try_get::<String, _>("site_id")?)?, r.try_get("n")?))).collect()
            }

            async fn insert_batch(&self, b: &BatchRecord) -> Result<()> {
                sqlx::query(
                    "insert into batches (batch_id, org_id, number, name, site_id, medium, created_by, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(b.id.to_string())
                .bind(b.org_id.to_string())
                .bind(&b.number)
                .bind(&b.name)
                .bind(b.site_id.map(|s| s.to_string()))
                .bind(&b.medium)
                .bind(b.created_by.map(|u| u.to_string()))
                .bind(us(b.created_at))
                .execute(&self.pool)
                .await
                .map_err(|e| if unique_violation(&e) { StoreError::Conflict(b.number.clone()) } else { e.into() })?;
                Ok(())
            }

            async fn get_batch(&self, org_id: Uuid, number: &str) -> Result<Option<BatchRecord>> {
                sqlx::query("select * from batches where org_id = $1 and number = $2")
                    .bind(org_id.to_string())
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::batch)
                    .transpose()
            }

            async fn list_batches(&self, scope: &Scope, page: Page) -> Result<Vec<BatchRecord>> {
                sqlx::query(
                    "select b.* from batches b join orgs o on o.org_id = b.org_id where o.path like $1
                     order by b.created_at desc, b.number limit $2 offset $3",
                )
                .bind(format!("{}%", scope.0))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::batch)
                .collect()
            }

            async fn insert_audit(&self, a: &AuditRecord, durability: Durability) -> Result<()> {
                commit_record(&self.records, Record::Audit(a.clone()), durability).await
            }

            async fn list_audit(&self, f: &AuditFilter) -> Result<(Vec<AuditRecord>, i64)> {
                const WHERE: &str = "where ($1 is null or org_path like $1)
                      and ($2 is null or username = $2)
                      and ($3 is null or substr(path, 1, length($3)) = $3)
                      and ($4 is null or method = $4)
                      and ($5 is null or at >= $5)
                      and ($6 is null or at < $6)";
                let scope = f.scope.as_ref().map(|s| format!("{}%", s.0));
                let prefix = f.path_prefix.clone();
                let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("select count(*) as n from audit {WHERE}")))
                    .bind(&scope)
                    .bind(&f.username)
                    .bind(&prefix)
                    .bind(&f.method)
                    .bind(f.from.map(us))
                    .bind(f.to.map(us))
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("select * from audit {WHERE} order by at desc, audit_id desc limit $7 offset $8")))
                    .bind(&scope)
                    .bind(&f.username)
                    .bind(&prefix)
                    .bind(&f.method)
                    .bind(f.from.map(us))
                    .bind(f.to.map(us))
                    .bind(f.limit)
                    .bind(f.offset)
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.iter().map(Self::audit).collect::<Result<Vec<_>>>()?, total))
            }

            fn ledger(&self) -> &LedgerInfo {
                &self.ledger
            }

            async fn ledger_size(&self) -> Result<u64> {
                Self::log_size(&self.pool).await
            }

            async fn get_tiles(&self, tiles: &[Tile]) -> Result<Vec<TileData>> {
                let mut conn = self.pool.acquire().await?;
                Self::read_tiles(&mut conn, tiles).await
            }

            async fn events_from(&self, from: i64, limit: i64) -> Result<Vec<StoredEvent>> {
                sqlx::query(sqlx::AssertSqlSafe(format!("select {EVENT_COLUMNS} from events e where e.ledger_index >= $1 order by e.ledger_index limit $2")))
                    .bind(from)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(Self::event)
                    .collect()
            }

            async fn insert_checkpoint(&self, c: &CheckpointRecord, keep: bool) -> Result<()> {
                let size = i64::try_from(c.size).map_err(|_| StoreError::Corrupt("checkpoint size".to_owned()))?;
                let mut tx = Self::begin(&self.pool).await?;
                sqlx::query(
                    "insert into ledger_latest (id, size, root, time_us, text, signature, public_key) values (1, $1, $2, $3, $4, $5, $6)
                     on conflict (id) do update set size = excluded.size, root = excluded.root, time_us = excluded.time_us,
                         text = excluded.text, signature = excluded.signature, public_key = excluded.public_key",
                )
                .bind(size)
                .bind(c.root.0.to_vec())
                .bind(us(c.time))
                .bind(&c.text)
                .bind(&c.signature)
                .bind(&c.public_key)
                .execute(&mut *tx)
                .await?;
                if keep {
                    sqlx::query(
                        "insert into ledger_checkpoints (seq, size, root, time_us, text, signature, public_key, created_at)
                         select coalesce(max(seq) + 1, 0), $1, $2, $3, $4, $5, $6, $7 from ledger_checkpoints",
                    )
                    .bind(size)
                    .bind(c.root.0.to_vec())
                    .bind(us(c.time))
                    .bind(&c.text)
                    .bind(&c.signature)
                    .bind(&c.public_key)
                    .bind(us(c.time))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>> {
                sqlx::query("select size, root, time_us, text, signature, public_key from ledger_latest where id = 1")
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::checkpoint)
                    .transpose()
            }

            async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>> {
                sqlx::query("select size, root, time_us, text, signature, public_key from ledger_checkpoints order by seq")
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(Self::checkpoint)
                    .collect()
            }

            async fn outbox_pending(&self, limit: i64) -> Result<Vec<OutboxItem>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select ob.outbox_id, ob.attempts, ob.created_at as outbox_created_at, {EVENT_COLUMNS}
                     from outbox ob join events e on e.ledger_index = ob.ledger_index
                     where ob.state = 'pending' order by ob.outbox_id limit $1"
                )))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(OutboxItem {
                        outbox_id: r.try_get("outbox_id")?,
                        event: Self::event(r)?,
                        attempts: r.try_get("attempts")?,
                        created_at: from_us(r.try_get("outbox_created_at")?)?,
                    })
                })
                .collect()
            }

            async fn outbox_mark(&self, ids: &[i64], mark: &OutboxMark) -> Result<()> {
                let mut tx = Self::begin(&self.pool).await?;
                for chunk in ids.chunks(ID_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("update outbox set ");
                    match mark {
                        OutboxMark::Sent { at } => {
                            q.push("state = 'sent', sent_at = ").push_bind(us(*at));
                        }
                        OutboxMark::Refused { at, reason } => {
                            q.push("state = 'refused', sent_at = ").push_bind(us(*at)).push(", last_error = ").push_bind(reason.clone());
                        }
                        OutboxMark::Failed { error } => {
                            q.push("attempts = attempts + 1, last_error = ").push_bind(error.clone());
                        }
                    }
                    q.push(" where outbox_id in (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    list.push_unseparated(")");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn outbox_stats(&self) -> Result<OutboxStats> {
                let r = sqlx::query(
                    "select (select count(*) from outbox where state = 'pending') as pending,
                            (select count(*) from outbox where state = 'sent') as sent,
                            (select count(*) from outbox where state = 'refused') as refused,
                            (select min(created_at) from outbox where state = 'pending') as oldest",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(OutboxStats {
                    pending: r.try_get("pending")?,
                    sent: r.try_get("sent")?,
                    refused: r.try_get("refused")?,
                    oldest_pending: r.try_get::<Option<i64>, _>("oldest")?.map(from_us).transpose()?,
                })
            }

            async fn insert_ps_doc(&self, d: &PsDoc) -> Result<(i64, bool)> {
                let mut tx = Self::begin(&self.pool).await?;
                if let Some(third) = &d.third_id && let Some(id) = Self::ps_doc_by_third(&mut *tx, &d.kind, d.org_id, third).await? {
                    return Ok((id, false));
                }
                let inserted = sqlx::query(
                    "insert into ps_docs (kind, org_id, target_org_id, third_id, state, body, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8) returning doc_id",
                )
                .bind(&d.kind)
                .bind(d.org_id.to_string())
                .bind(d.target_org_id.map(|o| o.to_string()))
                .bind(&d.third_id)
                .bind(&d.state)
                .bind(to_json(&d.body))
                .bind(us(d.created_at))
                .bind(us(d.updated_at))
                .fetch_one(&mut *tx)
                .await;
                match inserted {
                    Ok(row) => {
                        let id: i64 = row.try_get("doc_id")?;
                        tx.commit().await?;
                        Ok((id, true))
                    }
                    // Another caller stored the same ThirdId between our read and our insert.
                    Err(e) if unique_violation(&e) => {
                        drop(tx);
                        let third = d.third_id.as_deref().unwrap_or_default();
                        match Self::ps_doc_by_third(&self.pool, &d.kind, d.org_id, third).await? {
                            Some(id) => Ok((id, false)),
                            None => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn get_ps_doc(&self, id: i64) -> Result<Option<PsDoc>> {
                sqlx::query("select d.*, o.path from ps_docs d join orgs o on o.org_id = d.org_id where d.doc_id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::ps_doc)
                    .transpose()
            }

            async fn update_ps_doc(&self, id: i64, state: &str, body: &serde_json::Value, at: DateTime<Utc>) -> Result<()> {
                let n = sqlx::query("update ps_docs set state = $1, body = $2, updated_at = $3 where doc_id = $4")
                    .bind(state)
                    .bind(to_json(body))
                    .bind(us(at))
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound(format!("document {id}")));
                }
                Ok(())
            }

            async fn list_ps_docs(&self, f: &PsDocFilter) -> Result<Vec<PsDoc>> {
                sqlx::query(
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
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(f.org_id.map(|o| o.to_string()))
                .bind(f.target_org_id.map(|o| o.to_string()))
                .bind(&f.state)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::ps_doc)
                .collect()
            }

            async fn insert_ps_leaf(&self, user_id: Uuid, ledger_index: i64, leaf_hash: &Hash, event_id: Uuid, at: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "insert into ps_leaves (user_id, ledger_index, leaf_hash, event_id, audited, created_at) values ($1, $2, $3, $4, $5, $6)
                     on conflict (user_id, ledger_index) do nothing",
                )
                .bind(user_id.to_string())
                .bind(ledger_index)
                .bind(leaf_hash.0.to_vec())
                .bind(event_id.to_string())
                .bind(false)
                .bind(us(at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn ps_leaves_unaudited(&self, user_id: Uuid, size: u64, limit: i64) -> Result<Vec<(i64, Hash)>> {
                sqlx::query(
                    "select ledger_index, leaf_hash from ps_leaves where user_id = $1 and audited = $2 and ledger_index < $3
                     order by ledger_index limit $4",
                )
                .bind(user_id.to_string())
                .bind(false)
                .bind(i64::try_from(size).unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    let hash = Hash::from_slice(&r.try_get::<Vec<u8>, _>("leaf_hash")?).map_err(|e| StoreError::Corrupt(format!("declared leaf: {e}")))?;
                    Ok((r.try_get("ledger_index")?, hash))
                })
                .collect()
            }

            async fn ps_leaves_mark_audited(&self, user_id: Uuid, indexes: &[i64]) -> Result<()> {
                let mut tx = Self::begin(&self.pool).await?;
                for chunk in indexes.chunks(ID_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("update ps_leaves set audited = ");
                    q.push_bind(true).push(" where user_id = ").push_bind(user_id.to_string()).push(" and ledger_index in (");
                    let mut list = q.separated(", ");
                    for i in chunk {
                        list.push_bind(*i);
                    }
                    list.push_unseparated(")");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_witness(&self, w: &WitnessRecord) -> Result<()> {
                sqlx::query(
                    "insert into ps_witness (user_id, origin, size, root, text, signature, public_key, received_at, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(w.user_id.to_string())
                .bind(&w.origin)
                .bind(i64::try_from(w.size).map_err(|_| StoreError::Corrupt("witnessed size".to_owned()))?)
                .bind(w.root.0.to_vec())
                .bind(&w.text)
                .bind(&w.signature)
                .bind(&w.public_key)
                .bind(us(w.received_at))
                .bind(us(w.received_at))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn latest_witness(&self, user_id: Uuid) -> Result<Option<WitnessRecord>> {
                sqlx::query("select * from ps_witness where user_id = $1 order by size desc, seq desc limit 1")
                    .bind(user_id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::witness)
                    .transpose()
            }

            async fn insert_reg_alarm(&self, a: &RegAlarm) -> Result<i64> {
                Ok(sqlx::query(
                    "insert into reg_alarms (org_id, kind, message, at, created_at) values ($1, $2, $3, $4, $5) returning alarm_id",
                )
                .bind(a.org_id.to_string())
                .bind(&a.kind)
                .bind(&a.message)
                .bind(us(a.at))
                .bind(us(a.at))
                .fetch_one(&self.pool)
                .await?
                .try_get("alarm_id")?)
            }

            async fn list_reg_alarms(&self, f: &RegAlarmFilter) -> Result<Vec<RegAlarm>> {
                sqlx::query(
                    "select a.* from reg_alarms a join orgs o on o.org_id = a.org_id
                     where ($1 is null or o.path like $1) and ($2 is null or a.kind = $2)
                     order by a.at desc, a.alarm_id desc limit $3 offset $4",
                )
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(&f.kind)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::reg_alarm)
                .collect()
            }

            async fn get_setting(&self, key: &str) -> Result<Option<String>> {
                Ok(sqlx::query("select value from settings where key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.try_get("value"))
                    .transpose()?)
            }

            async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
                sqlx::query(
                    "insert into settings (key, value, updated_at) values ($1, $2, $3)
                     on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(us(Utc::now()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn insert_biz(&self, r: &BizRecord) -> Result<()> {
                let inserted = sqlx::query(
                    "insert into biz_records (record_id, kind, org_id, key, ref_id, state, due, body, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(r.id.to_string())
                .bind(&r.kind)
                .bind(r.org_id.to_string())
                .bind(&r.key)
                .bind(r.ref_id.map(|u| u.to_string()))
                .bind(&r.state)
                .bind(r.due.map(us))
                .bind(to_json(&r.body))
                .bind(us(r.created_at))
                .bind(us(r.updated_at))
                .execute(&self.pool)
                .await;
                match inserted {
                    Ok(_) => Ok(()),
                    // The key of the kind is taken, or (much less likely) the record id.
                    Err(e) if unique_violation(&e) => match &r.key {
                        Some(key) if self.biz_by_key(&r.kind, key).await?.is_some() => Err(StoreError::Conflict(key.clone())),
                        _ => Err(StoreError::Conflict(format!("record {}", r.id))),
                    },
                    Err(e) => Err(e.into()),
                }
            }

            async fn get_biz(&self, kind: &str, id: Uuid) -> Result<Option<BizRecord>> {
                sqlx::query("select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id where b.record_id = $1 and b.kind = $2")
                    .bind(id.to_string())
                    .bind(kind)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::biz)
                    .transpose()
            }

            async fn biz_by_key(&self, kind: &str, key: &str) -> Result<Option<BizRecord>> {
                sqlx::query("select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id where b.kind = $1 and b.key = $2")
                    .bind(kind)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(Self::biz)
                    .transpose()
            }

            async fn update_biz(&self, r: &BizRecord, expected: DateTime<Utc>) -> Result<bool> {
                let n = sqlx::query(
                    "update biz_records set state = $1, due = $2, ref_id = $3, body = $4, updated_at = $5
                     where record_id = $6 and kind = $7 and updated_at = $8",
                )
                .bind(&r.state)
                .bind(r.due.map(us))
                .bind(r.ref_id.map(|u| u.to_string()))
                .bind(to_json(&r.body))
                .bind(us(r.updated_at))
                .bind(r.id.to_string())
                .bind(&r.kind)
                .bind(us(expected))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn list_biz(&self, f: &BizFilter) -> Result<Vec<BizRecord>> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select b.*, o.path from biz_records b join orgs o on o.org_id = b.org_id {BIZ_WHERE}
                     order by b.created_at desc, b.record_id desc limit $7 offset $8"
                )))
                .bind(&f.kind)
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(f.org_id.map(|o| o.to_string()))
                .bind(f.ref_id.map(|u| u.to_string()))
                .bind(&f.state)
                .bind(f.due_before.map(us))
                .bind(if f.limit <= 0 { 100 } else { f.limit })
                .bind(f.offset.max(0))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::biz)
                .collect()
            }

            async fn count_biz(&self, f: &BizFilter) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select b.state, count(*) as n from biz_records b join orgs o on o.org_id = b.org_id {BIZ_WHERE} group by b.state"
                )))
                .bind(&f.kind)
                .bind(f.scope.as_ref().map(|s| format!("{}%", s.0)))
                .bind(f.org_id.map(|o| o.to_string()))
                .bind(f.ref_id.map(|u| u.to_string()))
                .bind(&f.state)
                .bind(f.due_before.map(us))
                .fetch_all(&self.pool)
                .await?;
                let mut counts = rows.iter().map(|r| Ok((r.try_get("state")?, r.try_get("n")?))).collect::<Result<Vec<(String, i64)>>>()?;
                // By the states' bytes, whatever the database's collation.
                counts.sort();
                Ok(counts)
            }

            async fn insert_positions(&self, points: &[VehiclePosition]) -> Result<()> {
                if points.is_empty() {
                    return Ok(());
                }
                let now = us(Utc::now());
                let mut tx = Self::begin(&self.pool).await?;
                // 8 parameters a row: well under both backends' limits on bound parameters.
                for chunk in points.chunks(100) {
                    sqlx::QueryBuilder::<$db>::new("insert into vehicle_positions (vehicle_id, org_id, time_us, lat, lon, speed, heading, created_at) ")
                        .push_values(chunk, |mut b, p| {
                            b.push_bind(p.vehicle_id.to_string())
                                .push_bind(p.org_id.to_string())
                                .push_bind(us(p.time))
                                .push_bind(p.lat)
                                .push_bind(p.lon)
                                .push_bind(p.speed)
                                .push_bind(p.heading)
                                .push_bind(now);
                        })
                        .push(" on conflict (vehicle_id, time_us) do nothing")
                        .build()
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn latest_positions(&self, scope: &Scope) -> Result<Vec<VehiclePosition>> {
                sqlx::query(
                    "select p.* from vehicle_positions p join orgs o on o.org_id = p.org_id
                     where o.path like $1
                       and p.time_us = (select max(q.time_us) from vehicle_positions q where q.vehicle_id = p.vehicle_id)
                     order by p.vehicle_id",
                )
                .bind(format!("{}%", scope.0))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::position)
                .collect()
            }

            async fn vehicle_track(&self, vehicle_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Result<Vec<VehiclePosition>> {
                sqlx::query(
                    "select * from vehicle_positions where vehicle_id = $1 and time_us >= $2 and time_us < $3
                     order by time_us limit $4",
                )
                .bind(vehicle_id.to_string())
                .bind(us(from))
                .bind(us(to))
                .bind(limit.max(0))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(Self::position)
                .collect()
            }

            async fn stock(&self, scope: &Scope, site_id: Option<Uuid>) -> Result<Vec<StockRow>> {
                sqlx::query(
                    "select c.site_id,
                            sum(case when c.location_kind = 'full_store' then 1 else 0 end) as n_full,
                            sum(case when c.location_kind = 'empty_store' then 1 else 0 end) as n_empty
                     from cylinders c join sites s on s.site_id = c.site_id join orgs o on o.org_id = s.org_id
                     where c.location_kind in ('empty_store', 'full_store') and c.site_id is not null
                       and o.path like $1 and ($2 is null or c.site_id = $2)
                     group by c.site_id order by c.site_id",
                )
                .bind(format!("{}%", scope.0))
                .bind(site_id.map(|s| s.to_string()))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(StockRow {
                        site_id: uuid(&r.try_get::<String, _>("site_id")?)?,
                        full: r.try_get("n_full")?,
                        empty: r.try_get("n_empty")?,
                    })
                })
                .collect()
            }

            async fn stock_codes(&self, site_id: Uuid) -> Result<Vec<(CylinderCode, bool)>> {
                sqlx::query(
                    "select code, location_kind from cylinders
                     where site_id = $1 and location_kind in ('empty_store', 'full_store') order by code",
                )
                .bind(site_id.to_string())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((Self::cylinder_code(r)?, r.try_get::<String, _>("location_kind")? == "full_store")))
                .collect()
            }

            async fn held_by(&self, holder: &str) -> Result<Vec<CylinderCode>> {
                sqlx::query("select code from cylinders where holder = $1 order by code")
                    .bind(holder)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(Self::cylinder_code)
                    .collect()
            }
        }
    };
}

impl_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    "sqlite",
    "BEGIN IMMEDIATE"
);
impl_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    "postgres",
    "BEGIN"
);
