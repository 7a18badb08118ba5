//! The ledger's storage: the Merkle tree as C2SP tiles (extended by the writer in each group's
//! transaction), the log's parameters, and the signed checkpoints.

use async_trait::async_trait;
use cyltrace_ledger::{Hash, HashAlg, Tile, TileData, append_tiles, partial_tiles};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, Pool, sql};
use super::rows::{self, EVENT_COLUMNS};
use crate::model::{CheckpointRecord, LedgerInfo, LedgerParams, StoredEvent};
use crate::{LedgerStore, Result, StoreError};

/// Events read per query when the whole log is walked.
const PAGE: i64 = 10_000;

#[async_trait]
impl LedgerStore for SqlStore {
    fn ledger(&self) -> &LedgerInfo {
        &self.ledger
    }

    async fn ledger_size(&self) -> Result<u64> {
        log_size(&mut self.conn().await?.conn()).await
    }

    async fn get_tiles(&self, tiles: &[Tile]) -> Result<Vec<TileData>> {
        read_tiles(&mut self.conn().await?.conn(), tiles).await
    }

    async fn events_from(&self, from: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        events_from(&mut self.conn().await?.conn(), from, limit).await
    }

    async fn insert_checkpoint(&self, cp: &CheckpointRecord, keep: bool) -> Result<()> {
        let size = i64::try_from(cp.size)
            .map_err(|_| StoreError::Corrupt("checkpoint size".to_owned()))?;
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        sql("insert into ledger_latest (id, size, root, time_us, text, signature, public_key) values (1, $1, $2, $3, $4, $5, $6)
             on conflict (id) do update set size = excluded.size, root = excluded.root, time_us = excluded.time_us,
                 text = excluded.text, signature = excluded.signature, public_key = excluded.public_key")
        .bind(size)
        .bind(cp.root.0.to_vec())
        .bind(cp.time)
        .bind(&cp.text)
        .bind(cp.signature.clone())
        .bind(cp.public_key.clone())
        .execute(&mut c)
        .await?;
        if keep {
            sql("insert into ledger_checkpoints (seq, size, root, time_us, text, signature, public_key, created_at)
                 select coalesce(max(seq) + 1, 0), $1, $2, $3, $4, $5, $6, $7 from ledger_checkpoints")
            .bind(size)
            .bind(cp.root.0.to_vec())
            .bind(cp.time)
            .bind(&cp.text)
            .bind(cp.signature.clone())
            .bind(cp.public_key.clone())
            .bind(cp.time)
            .execute(&mut c)
            .await?;
        }
        tx.commit().await
    }

    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>> {
        sql("select size, root, time_us, text, signature, public_key from ledger_latest where id = 1")
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::checkpoint)
            .transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>> {
        sql("select size, root, time_us, text, signature, public_key from ledger_checkpoints order by seq")
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(rows::checkpoint)
            .collect()
    }
}

async fn events_from(c: &mut Conn<'_>, from: i64, limit: i64) -> Result<Vec<StoredEvent>> {
    sql(AssertSqlSafe(format!(
        "select {EVENT_COLUMNS} from events e where e.ledger_index >= $1 order by e.ledger_index limit $2"
    )))
    .bind(from)
    .bind(limit)
    .fetch_all(c)
    .await?
    .iter()
    .map(rows::event)
    .collect()
}

/// The number of events stored, i.e. the next ledger index.
pub(super) async fn log_size(c: &mut Conn<'_>) -> Result<u64> {
    let n: i64 = sql("select coalesce(max(ledger_index) + 1, 0) as n from events")
        .fetch_one(c)
        .await?
        .get("n")?;
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("ledger size {n}")))
}

/// Extends the tree of `old_size` leaves by `leaves`: reads its right edge (the partial tiles), and
/// writes every tile that changed.
pub(super) async fn append_leaves(
    c: &mut Conn<'_>,
    hash: HashAlg,
    old_size: u64,
    leaves: &[Hash],
) -> Result<()> {
    let partials = read_tiles(c, &partial_tiles(old_size)).await?;
    let changed = append_tiles(hash, old_size, &partials, leaves)
        .map_err(|e| StoreError::Corrupt(format!("ledger tiles: {e}")))?;
    for chunk in changed.chunks(256) {
        let text = format!(
            "insert into ledger_tiles (level, idx, width, hashes) values {}
             on conflict (level, idx) do update set width = excluded.width, hashes = excluded.hashes",
            c.backend().values(chunk.len(), 4)
        );
        let mut q = sql(AssertSqlSafe(text));
        for t in chunk {
            q = q
                .bind(i32::from(t.tile.level))
                .bind(i64::try_from(t.tile.index).unwrap_or(i64::MAX))
                .bind(i32::from(t.tile.width))
                .bind(t.hashes.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
        }
        q.execute(c).await?;
    }
    Ok(())
}

/// The stored tiles named, cut to the width asked for; missing or narrower ones are left out.
async fn read_tiles(c: &mut Conn<'_>, tiles: &[Tile]) -> Result<Vec<TileData>> {
    let mut out = Vec::with_capacity(tiles.len());
    for t in tiles {
        let row = sql("select width, hashes from ledger_tiles where level = $1 and idx = $2")
            .bind(i32::from(t.level))
            .bind(i64::try_from(t.index).unwrap_or(i64::MAX))
            .fetch_optional(c)
            .await?;
        let Some(row) = row else { continue };
        let bytes: Vec<u8> = row.get("hashes")?;
        let width: i32 = row.get("width")?;
        if bytes.len() != 32 * usize::try_from(width).unwrap_or(0) {
            return Err(StoreError::Corrupt(format!(
                "ledger tile {}: {} bytes for width {width}",
                t.path(),
                bytes.len()
            )));
        }
        if width < i32::from(t.width) {
            continue;
        }
        let hashes = bytes
            .chunks_exact(32)
            .take(usize::from(t.width))
            .map(|h| Hash::from_slice(h).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        out.push(TileData { tile: *t, hashes });
    }
    Ok(out)
}

/// Reads (or, for a new database, records) the log's origin and hash; a log whose events predate
/// the ledger gets its tree built now.
pub(super) async fn init(pool: &Pool, params: &LedgerParams) -> Result<LedgerInfo> {
    let meta = sql("select key, value from ledger_meta")
        .fetch_all(&mut pool.acquire().await?.conn())
        .await?;
    let get = |k: &str| -> Result<Option<String>> {
        for r in &meta {
            if r.get::<String>("key")? == k {
                return Ok(Some(r.get("value")?));
            }
        }
        Ok(None)
    };
    if let (Some(origin), Some(hash)) = (get("origin")?, get("hash")?) {
        let hash: HashAlg = hash
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("ledger hash: {e}")))?;
        if let Some(o) = &params.origin
            && *o != origin
        {
            return Err(StoreError::Corrupt(format!(
                "the ledger was created with origin {origin:?}, not {o:?}; the origin of a log never changes"
            )));
        }
        if let Some(h) = params.hash
            && h != hash
        {
            return Err(StoreError::Corrupt(format!(
                "the ledger was created with hash {hash}, not {h}; the hash of a log never changes"
            )));
        }
        return Ok(LedgerInfo { origin, hash });
    }
    let info = LedgerInfo {
        origin: params
            .origin
            .clone()
            .unwrap_or_else(|| format!("cyltrace/{}", &Uuid::new_v4().simple().to_string()[..12])),
        hash: params.hash.unwrap_or_default(),
    };
    if info.origin.is_empty() || info.origin.contains('\n') {
        return Err(StoreError::Corrupt(
            "the ledger origin must be one non-empty line".to_owned(),
        ));
    }
    let mut tx = pool.begin().await?;
    let mut c = tx.conn();
    sql("insert into ledger_meta (key, value) values ('origin', $1), ('hash', $2)")
        .bind(&info.origin)
        .bind(info.hash.to_string())
        .execute(&mut c)
        .await?;
    // Events stored before the ledger existed become its first leaves.
    let size = log_size(&mut c).await?;
    let mut done = 0u64;
    while done < size {
        let events = events_from(&mut c, i64::try_from(done).unwrap_or(i64::MAX), PAGE).await?;
        let mut leaves = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            if u64::try_from(e.ledger_index).ok() != Some(done + i as u64) {
                return Err(StoreError::Corrupt(format!(
                    "ledger index {} missing",
                    done + i as u64
                )));
            }
            leaves.push(crate::leaf::leaf_hash(info.hash, &info.origin, e));
        }
        if leaves.is_empty() {
            break;
        }
        append_leaves(&mut c, info.hash, done, &leaves).await?;
        done += leaves.len() as u64;
    }
    tx.commit().await?;
    Ok(info)
}
