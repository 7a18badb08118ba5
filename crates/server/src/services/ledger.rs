//! The ledger as a service (G3, DESIGN §3): the node's SM2 key, roots and proofs read from the
//! stored tiles, the checkpoint signer, and the full verification behind `cyltrace verify`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use cyltrace_ledger::{
    Checkpoint, Hash, HashAlg, LedgerError, ProofPlan, SigningKey, Tile, TileData, TileHashReader,
    append_tiles, consistency_plan, consistency_proof, inclusion_plan, inclusion_proof,
    partial_tiles, root, root_plan, sign_checkpoint, verify_checkpoint, verify_consistency,
};
use cyltrace_store::{CheckpointRecord, Store, leaf};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// An idle log is signed again after this long, so that a checkpoint is never older.
pub const IDLE_RESIGN_SECS: i64 = 600;
/// Checkpoints are all served as the latest; the history keeps about one per minute.
const KEEP_EVERY_SECS: i64 = 60;
/// How often the signer looks for new entries (a checkpoint follows new entries within 1 s).
pub const SIGNER_TICK_MS: u64 = 500;
/// Leaves hashed between two tree updates while verifying.
const VERIFY_CHUNK: usize = 4096;
const VERIFY_PAGE: i64 = 10_000;

// ---------------------------------------------------------------------------------------------
// The key

/// The node's SM2 checkpoint key from `path`; with `create`, generated there (mode 0600) when the
/// file does not exist. A key file that other users can read is refused.
pub fn load_key(path: &Path, create: bool) -> anyhow::Result<SigningKey> {
    match std::fs::read_to_string(path) {
        Ok(pem) => {
            check_private(path)?;
            SigningKey::from_pkcs8_pem(&pem)
                .map_err(|e| anyhow::anyhow!("the ledger key {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let key = SigningKey::generate()?;
            let pem = key.to_pkcs8_pem()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write_private(path, pem.as_bytes())?;
            tracing::info!(path = %path.display(), "generated the node's SM2 ledger key");
            Ok(key)
        }
        Err(e) => anyhow::bail!("reading the ledger key {}: {e}", path.display()),
    }
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(path, bytes)?)
}

#[cfg(unix)]
pub(crate) fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        anyhow::bail!(
            "the ledger key {} can be read by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Roots and proofs from the stored tiles

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::IndexOutOfRange { index, size } => {
            ApiError::invalid("index", format!("序号 {index} 不小于日志大小 {size}"))
        }
        LedgerError::SizeOrder { old, new } => {
            ApiError::invalid("old", format!("旧大小 {old} 大于新大小 {new}"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// The tiles of `plan`, in a reader that shares the node's cache of tile interiors.
async fn tiles_for(st: &AppState, plan: &ProofPlan) -> ApiResult<TileHashReader<HashAlg>> {
    let store = st.store.as_ref();
    let mut reader = TileHashReader::with_cache(store.ledger().hash, st.caches.tiles.clone());
    for t in store.get_tiles(&plan.tiles()).await? {
        reader.insert(t).map_err(ledger_error)?;
    }
    Ok(reader)
}

/// The root of the first `size` leaves.
pub async fn root_at(st: &AppState, size: u64) -> ApiResult<Hash> {
    let reader = tiles_for(st, &root_plan(size)).await?;
    root(st.store.ledger().hash, &reader, size).map_err(ledger_error)
}

/// RFC 9162 §2.1.3 inclusion proof of leaf `index` in the tree of `size` leaves.
pub async fn inclusion(st: &AppState, index: u64, size: u64) -> ApiResult<Vec<Hash>> {
    check_size(st, size, "size").await?;
    let plan = inclusion_plan(index, size).map_err(ledger_error)?;
    let reader = tiles_for(st, &plan).await?;
    inclusion_proof(st.store.ledger().hash, &reader, index, size).map_err(ledger_error)
}

/// RFC 9162 §2.1.4 consistency proof between the trees of `old` and `new` leaves.
pub async fn consistency(st: &AppState, old: u64, new: u64) -> ApiResult<Vec<Hash>> {
    check_size(st, new, "new").await?;
    let plan = consistency_plan(old, new).map_err(ledger_error)?;
    let reader = tiles_for(st, &plan).await?;
    consistency_proof(st.store.ledger().hash, &reader, old, new).map_err(ledger_error)
}

/// The latest signed checkpoint of this node's log, and the log's hash (`sm3` or `sha256`).
pub async fn latest_checkpoint(st: &AppState) -> ApiResult<(CheckpointRecord, String)> {
    let c = st
        .store
        .latest_checkpoint()
        .await?
        .ok_or_else(|| ApiError::NotFound("尚未签发检查点".to_owned()))?;
    Ok((c, st.store.ledger().hash.to_string()))
}

/// One leaf of the log: the exact bytes (the canonical encoding of the event) and their hash.
pub struct Entry {
    pub index: u64,
    pub leaf: Vec<u8>,
    pub leaf_hash: Hash,
    pub event_id: uuid::Uuid,
}

/// The leaf at `index` (as the path gave it), when the caller sees its event (the recording
/// organisation or one of its cylinders).
pub async fn entry(st: &AppState, p: &Principal, index: &str) -> ApiResult<Entry> {
    let not_found = || ApiError::NotFound(format!("账本中没有序号 {index} 的记录"));
    let i: i64 = index
        .parse()
        .ok()
        .filter(|i| *i >= 0)
        .ok_or_else(not_found)?;
    let e = st
        .store
        .events_from(i, 1)
        .await?
        .into_iter()
        .find(|e| e.ledger_index == i)
        .ok_or_else(not_found)?;
    // The caller must see the event (its recording organisation or one of its cylinders).
    super::get_event(st, p, e.event.id).await?;
    let info = st.store.ledger();
    let leaf = leaf::leaf_bytes(&info.origin, &e);
    Ok(Entry {
        index: i.unsigned_abs(),
        leaf_hash: cyltrace_ledger::LogHash::leaf(&info.hash, &leaf),
        leaf,
        event_id: e.event.id,
    })
}

async fn check_size(st: &AppState, size: u64, field: &str) -> ApiResult<()> {
    let have = st.store.ledger_size().await?;
    if size > have {
        return Err(ApiError::invalid(
            field,
            format!("日志只有 {have} 条记录，不能证明大小 {size}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The signer

/// The checkpoint text for `size` and `root` signed at `time`: the C2SP body plus a `time` line
/// (an extension line, so that the signing time is signed too).
pub fn checkpoint_text(origin: &str, size: u64, root: Hash, time: DateTime<Utc>) -> String {
    let mut cp = Checkpoint::new(origin, size, root);
    cp.extensions.push(format!(
        "time {}",
        time.with_timezone(&cyltrace_domain::time::cst())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    ));
    cp.to_text()
        .expect("the origin is one line (checked when the log was created)")
}

/// Signs a checkpoint when there are entries the latest does not cover, or when it is older than
/// ten minutes. Refuses (an error, logged loudly by the caller) to sign a tree that is not an
/// extension of the latest signed one.
pub async fn sign_if_due(
    st: &AppState,
    last_kept: &mut Option<DateTime<Utc>>,
) -> anyhow::Result<Option<CheckpointRecord>> {
    let store = st.store.as_ref();
    let now = st.now();
    let size = store.ledger_size().await?;
    let latest = store.latest_checkpoint().await?;
    if let Some(l) = &latest
        && l.size == size
        && now - l.time < Duration::seconds(IDLE_RESIGN_SECS)
    {
        return Ok(None);
    }
    let new_root = root_at(st, size)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(l) = &latest {
        if size < l.size {
            anyhow::bail!(
                "the log holds {size} entries but the latest checkpoint signed {}: refusing to sign",
                l.size
            );
        }
        let proof = consistency(st, l.size, size)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        verify_consistency(store.ledger().hash, l.size, size, &l.root, &new_root, &proof).map_err(|e| {
            anyhow::anyhow!("the tree of {size} entries is not an extension of the checkpoint of {} entries ({e}): refusing to sign", l.size)
        })?;
    }
    let text = checkpoint_text(&store.ledger().origin, size, new_root, now);
    let rec = CheckpointRecord {
        size,
        root: new_root,
        time: now,
        signature: sign_checkpoint(&st.ledger_key, &text),
        public_key: st.ledger_key.public_key_sec1(),
        text,
    };
    let keep = last_kept.is_none_or(|t| now - t >= Duration::seconds(KEEP_EVERY_SECS));
    store.insert_checkpoint(&rec, keep).await?;
    if keep {
        *last_kept = Some(now);
        // G2: the kept checkpoints of a log with entries (not every re-signing) are audited.
        if size > 0 {
            let detail = format!("signed checkpoint of {size} entries");
            super::audit::system(st, "ledger/checkpoint", detail).await;
        }
    }
    Ok(Some(rec))
}

/// Runs the signer until the task is dropped.
pub async fn run_signer(st: AppState) {
    let mut last_kept = match st.store.checkpoints().await {
        Ok(list) => list.last().map(|c| c.time),
        Err(e) => {
            tracing::error!(error = %e, "reading the checkpoint history");
            None
        }
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(SIGNER_TICK_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sign_if_due(&st, &mut last_kept).await {
            Ok(Some(c)) => tracing::debug!(size = c.size, root = %c.root, "signed a checkpoint"),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "TAMPER ALARM: the ledger checkpoint was not signed")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// What a successful verification covered.
#[derive(Debug)]
pub struct VerifyReport {
    pub origin: String,
    pub hash: HashAlg,
    pub size: u64,
    pub root: Hash,
    pub checkpoints: usize,
}

/// The first thing that does not match, said for the operator (Chinese), naming the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A checkpoint as `GET /api/v1/ledger/checkpoint` serves it (saved to a file by a verifier).
/// A checkpoint as the JSON `GET /api/v1/ledger/checkpoint` answers (and [`checkpoint_from_json`]
/// reads back); `hash` names the log's hash.
pub fn checkpoint_to_json(c: &CheckpointRecord, hash: &str) -> serde_json::Value {
    serde_json::json!({
        "size": c.size,
        "root": c.root.to_hex(),
        "hash": hash,
        "time": c.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "signature": hex::encode(&c.signature),
        "public_key": hex::encode(&c.public_key),
        "text": c.text,
    })
}

pub fn checkpoint_from_json(json: &str) -> anyhow::Result<CheckpointRecord> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| anyhow::anyhow!("the checkpoint file has no \"{k}\""))
    };
    let text = field("text")?.to_owned();
    let cp = Checkpoint::parse(&text)?;
    let time = cp
        .extensions
        .iter()
        .find_map(|l| l.strip_prefix("time "))
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    Ok(CheckpointRecord {
        size: cp.size,
        root: cp.root,
        time,
        signature: hex::decode(field("signature")?)?,
        public_key: hex::decode(field("public_key")?)?,
        text,
    })
}

/// Recomputes every leaf from the stored events and the tree from the leaves; compares them with
/// the stored tiles, and every signed checkpoint (the kept history, the latest and `extra`, e.g. a
/// checkpoint saved earlier by a verifier) with the recomputed tree. `node_key` (SEC1) is the key
/// the checkpoints must be signed with, when known. `Ok(Err(_))` names the first mismatch;
/// `Err(_)` means the verification could not run.
pub async fn verify(
    store: &dyn Store,
    node_key: Option<&[u8]>,
    extra: Option<&CheckpointRecord>,
) -> anyhow::Result<Result<VerifyReport, Mismatch>> {
    let info = store.ledger().clone();
    let h = info.hash;
    let size = store.ledger_size().await?;
    let mismatch = |m: String| Ok(Err(Mismatch(m)));

    // Checkpoints: signatures first, then each becomes a stop where the root must match.
    let mut cps: Vec<(String, CheckpointRecord)> = store
        .checkpoints()
        .await?
        .into_iter()
        .map(|c| ("已签检查点".to_owned(), c))
        .collect();
    if let Some(l) = store.latest_checkpoint().await? {
        cps.push(("最新检查点".to_owned(), l));
    }
    if let Some(c) = extra {
        cps.push(("给定的检查点".to_owned(), c.clone()));
    }
    let mut stops: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, (what, c)) in cps.iter().enumerate() {
        let name = format!("{what}（大小 {}，签于 {}）", c.size, c.time.to_rfc3339());
        if verify_checkpoint(&c.public_key, &c.text, &c.signature).is_err() {
            return mismatch(format!("{name} 的 SM2 签名无效"));
        }
        if let Some(k) = node_key
            && k != c.public_key.as_slice()
        {
            return mismatch(format!("{name} 不是用本节点的密钥签名的"));
        }
        match Checkpoint::parse(&c.text) {
            Ok(cp) if cp.origin == info.origin && cp.size == c.size && cp.root == c.root => {}
            Ok(cp) if cp.origin != info.origin => {
                return mismatch(format!(
                    "{name} 属于日志 {:?}，不是本节点的日志 {:?}",
                    cp.origin, info.origin
                ));
            }
            _ => return mismatch(format!("{name} 的正文与记录的大小或根不符")),
        }
        if c.size > size {
            return mismatch(format!(
                "{name} 覆盖 {} 条记录，但数据库只有 {size} 条事件：序号 {size} 起的事件被删除",
                c.size
            ));
        }
        stops.entry(c.size).or_default().push(i);
    }

    let mut partials: Vec<TileData> = Vec::new();
    let mut done: u64 = 0;
    let mut pending: Vec<Hash> = Vec::new();
    let check_stop = |at: u64, partials: &[TileData]| -> Option<String> {
        let want = stops.get(&at)?;
        let mut reader = TileHashReader::new(h);
        for t in partials {
            reader.insert(t.clone()).ok()?;
        }
        let got = root(h, &reader, at).ok();
        want.iter().find_map(|&i| {
            let (what, c) = &cps[i];
            (got != Some(c.root)).then(|| {
                format!(
                    "{what}（大小 {}，签于 {}）与由事件重新计算的日志不符：序号 {} 之前的事件在签名后被改写",
                    c.size,
                    c.time.to_rfc3339(),
                    c.size
                )
            })
        })
    };
    if let Some(m) = check_stop(0, &partials) {
        return mismatch(m);
    }
    while done + (pending.len() as u64) < size {
        let from = done + pending.len() as u64;
        let from_i = i64::try_from(from)?;
        let page = match store.events_from(from_i, VERIFY_PAGE).await {
            Ok(p) => p,
            Err(e) => {
                // Find the row that cannot be read.
                for i in from_i..from_i + VERIFY_PAGE {
                    if let Err(e) = store.events_from(i, 1).await {
                        return mismatch(format!("序号 {i} 的事件无法读取（已被改动）：{e}"));
                    }
                }
                return Err(e.into());
            }
        };
        if page.is_empty() {
            return mismatch(format!("序号 {from} 的事件缺失（日志应有 {size} 条）"));
        }
        for e in page {
            let expected = done + pending.len() as u64;
            if u64::try_from(e.ledger_index).ok() != Some(expected) {
                return mismatch(format!(
                    "序号 {expected} 的事件缺失（下一条是序号 {} 的事件 {}）：事件被删除或挪动",
                    e.ledger_index, e.event.id
                ));
            }
            pending.push(leaf::leaf_hash(h, &info.origin, &e));
            let at = expected + 1;
            if pending.len() >= VERIFY_CHUNK || stops.contains_key(&at) || at == size {
                if let Some(m) = extend(store, h, &mut partials, done, &pending).await? {
                    return mismatch(m);
                }
                done = at;
                pending.clear();
                if let Some(m) = check_stop(at, &partials) {
                    return mismatch(m);
                }
            }
        }
    }
    // No leaf beyond the last event.
    let beyond = Tile {
        level: 0,
        index: size / 256,
        width: u16::try_from(size % 256 + 1).unwrap_or(256),
    };
    // (An event appended while this ran is no mismatch: verification may run on a live node.)
    if !store.get_tiles(&[beyond]).await?.is_empty()
        && store.events_from(i64::try_from(size)?, 1).await?.is_empty()
    {
        return mismatch(format!(
            "账本中有序号 {size} 的叶子，但没有这条事件：事件被删除"
        ));
    }
    let mut reader = TileHashReader::new(h);
    for t in partials {
        reader.insert(t)?;
    }
    Ok(Ok(VerifyReport {
        root: root(h, &reader, size)?,
        origin: info.origin,
        hash: h,
        size,
        checkpoints: cps.len(),
    }))
}

/// Appends recomputed leaves to the recomputed right edge and compares every tile that changed
/// with the stored one (a stored tile cut to the recomputed width: tiles only grow at the end).
async fn extend(
    store: &dyn Store,
    h: HashAlg,
    partials: &mut Vec<TileData>,
    done: u64,
    leaves: &[Hash],
) -> anyhow::Result<Option<String>> {
    let changed = append_tiles(h, done, partials, leaves)?;
    let stored = store
        .get_tiles(&changed.iter().map(|t| t.tile).collect::<Vec<_>>())
        .await?;
    for t in &changed {
        if let Some(m) = compare_tile(store, t, stored.iter().find(|s| s.tile == t.tile)).await? {
            return Ok(Some(m));
        }
    }
    let new_size = done + leaves.len() as u64;
    *partials = partial_tiles(new_size)
        .into_iter()
        .filter_map(|want| {
            changed
                .iter()
                .chain(partials.iter())
                .find(|t| t.tile == want)
                .cloned()
        })
        .collect();
    Ok(None)
}

/// Names the record where a recomputed tile and the stored one differ.
async fn compare_tile(
    store: &dyn Store,
    computed: &TileData,
    stored: Option<&TileData>,
) -> anyhow::Result<Option<String>> {
    let path = computed.tile.path();
    let Some(stored) = stored else {
        return Ok(Some(format!("账本瓦片 {path} 缺失或不完整")));
    };
    let Some(pos) = computed
        .hashes
        .iter()
        .zip(&stored.hashes)
        .position(|(a, b)| a != b)
    else {
        return Ok(None);
    };
    if computed.tile.level > 0 {
        return Ok(Some(format!(
            "账本瓦片 {path} 的第 {pos} 个哈希与由事件重新计算的不符：瓦片被修改"
        )));
    }
    let index = computed.tile.index * 256 + pos as u64;
    let event = store
        .events_from(i64::try_from(index)?, 1)
        .await?
        .into_iter()
        .next()
        .map(|e| e.event.id.to_string())
        .unwrap_or_else(|| "?".to_owned());
    Ok(Some(format!(
        "序号 {index} 的事件 {event} 与账本不符：由事件重新计算的叶子是 {}，账本瓦片 {path} 中记录的是 {}（事件或瓦片被修改）",
        computed.hashes[pos], stored.hashes[pos]
    )))
}
