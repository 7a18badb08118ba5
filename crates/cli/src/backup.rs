//! `cyltrace backup` and `cyltrace restore` (G8).
//!
//! A backup is one zip file holding everything a node needs to start again elsewhere:
//!
//! - `cyltrace.db` — a consistent copy of the live SQLite database (`VACUUM INTO`), or
//!   `cyltrace.pgdump` — `pg_dump --format=custom` of the PostgreSQL database;
//! - `files/…` — the uploaded files (photos, reports), content-addressed;
//! - `keys/ledger-sm2.pem` and `keys/pii-sm4.key` — the ledger's signing key and the key that
//!   encrypts ID numbers: without them the restored ledger could not sign and the IDs not be read;
//! - `manifest.json` — the format, when, the node's log, the latest signed checkpoint in the copy,
//!   and each entry's size and SM3 hash.
//!
//! The database is copied first and the files after it: every file a copied record names was
//! written before the record (uploads store the file, then the row), so the copy never misses one.
//! `restore` checks every entry against the manifest, unpacks into an empty data directory (or
//! database), and runs the same verification as `cyltrace verify`, with the manifest's checkpoint,
//! before it says the restore is done.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail, ensure};
use cyltrace_server::Config;
use cyltrace_server::services::ledger;
use serde_json::{Value, json};
use sm3::{Digest, Sm3};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const FORMAT: &str = "cyltrace-backup/1";
const MANIFEST: &str = "manifest.json";
const SQLITE_DB: &str = "cyltrace.db";
const PG_DUMP: &str = "cyltrace.pgdump";
const LEDGER_KEY: &str = "keys/ledger-sm2.pem";
const PII_KEY: &str = "keys/pii-sm4.key";
const PII_KEY_FILE: &str = "pii-sm4.key";

/// What `backup` wrote.
pub struct Written {
    pub entries: usize,
    pub bytes: u64,
    pub checkpoint_size: Option<u64>,
}

/// Backs up the node of `config` (SQLite in its data directory, or the PostgreSQL database of
/// `database_url`) into the zip file `to`, which must not exist yet. The file is written beside
/// `to` and renamed into place once complete, readable by its owner only: it holds the keys.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<Written> {
    ensure!(
        !to.exists(),
        "{} 已存在：请指定新的备份文件名",
        to.display()
    );
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".cyltrace-backup-")
        .tempdir_in(dir)
        .with_context(|| format!("creating a work directory in {}", dir.display()))?;
    // The database first (see the module comment), then its latest checkpoint as copied.
    let (db_entry, db_file, checkpoint) = match config.database_url.as_deref() {
        None => {
            let copy = work.path().join(SQLITE_DB);
            cyltrace_store::backup::snapshot_sqlite(&config.data_dir.join(SQLITE_DB), &copy)
                .await
                .context("copying the SQLite database")?;
            let checkpoint = latest_checkpoint(&config_with_dir(config, work.path())).await?;
            (SQLITE_DB, copy, checkpoint)
        }
        Some(url) => {
            // Read before the dump starts: the dump holds at least this much of the log.
            let checkpoint = latest_checkpoint(config).await?;
            let copy = work.path().join(PG_DUMP);
            pg_tool("pg_dump", url)?
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(&copy)
                .status_ok("pg_dump")?;
            (PG_DUMP, copy, checkpoint)
        }
    };

    let partial = work.path().join("backup.zip");
    let mut zip = ZipWriter::new(private_file(&partial)?);
    let mut entries = Vec::new();
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true)
        .unix_permissions(0o600);
    // Photos and PDFs are compressed already.
    let stored = deflated.compression_method(CompressionMethod::Stored);
    entries.push(add_file(&mut zip, db_entry, &db_file, deflated)?);
    for (name, path) in [
        (LEDGER_KEY, config.ledger_key_path()),
        (PII_KEY, config.data_dir.join(PII_KEY_FILE)),
    ] {
        ensure!(path.exists(), "找不到密钥文件 {}：无法备份", path.display());
        entries.push(add_file(&mut zip, name, &path, stored)?);
    }
    let files = config.data_dir.join("files");
    if files.is_dir() {
        for f in walkdir::WalkDir::new(&files).sort_by_file_name() {
            let f = f.with_context(|| format!("reading {}", files.display()))?;
            if !f.file_type().is_file() {
                continue;
            }
            let rel = f.path().strip_prefix(&config.data_dir)?;
            let name = rel
                .to_str()
                .with_context(|| format!("{} is not a UTF-8 path", rel.display()))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            entries.push(add_file(&mut zip, &name, f.path(), stored)?);
        }
    }
    // When the backup was made is the machine's time, not a node's (settable) clock.
    #[allow(clippy::disallowed_methods)]
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let manifest = json!({
        "format": FORMAT,
        "cyltrace": env!("CARGO_PKG_VERSION"),
        "created": created,
        "database": if config.database_url.is_some() { "postgresql" } else { "sqlite" },
        "checkpoint": checkpoint.as_ref().map(|(c, hash)| ledger::checkpoint_to_json(c, hash)),
        "entries": entries.iter().map(|e| json!({"name": e.name, "size": e.size, "sm3": e.sm3})).collect::<Vec<_>>(),
    });
    zip.start_file(MANIFEST, deflated)?;
    zip.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    let out = zip.finish()?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&partial, to)
        .with_context(|| format!("moving the backup to {}", to.display()))?;
    if let Ok(d) = File::open(dir) {
        // The rename itself is durable once the directory is synced.
        let _ = d.sync_all();
    }
    Ok(Written {
        entries: entries.len(),
        bytes: std::fs::metadata(to)?.len(),
        checkpoint_size: checkpoint.map(|(c, _)| c.size),
    })
}

/// What `restore` found and did.
pub struct Restored {
    pub entries: usize,
    /// The checkpoint of the manifest, which the restored ledger was verified to extend.
    pub checkpoint: Option<cyltrace_store::CheckpointRecord>,
}

/// Unpacks the backup `from` into the node of `config`: its data directory must hold no database
/// (and, for PostgreSQL, `database_url` must name an empty database). Every entry is checked
/// against the manifest while it is written; a mismatch stops the restore naming the entry.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<Restored> {
    let mut zip =
        ZipArchive::new(File::open(from).with_context(|| format!("opening {}", from.display()))?)
            .with_context(|| {
            format!(
                "{} is not a cyltrace backup (not a zip file)",
                from.display()
            )
        })?;
    let manifest: Value = {
        let mut s = String::new();
        zip.by_name(MANIFEST)
            .with_context(|| {
                format!(
                    "{} has no {MANIFEST}: not a cyltrace backup",
                    from.display()
                )
            })?
            .read_to_string(&mut s)?;
        serde_json::from_str(&s).context("the backup's manifest is not JSON")?
    };
    ensure!(
        manifest["format"] == FORMAT,
        "unsupported backup format {} (this cyltrace reads {FORMAT})",
        manifest["format"]
    );
    let entries = manifest["entries"]
        .as_array()
        .context("the manifest lists no entries")?;
    let postgres = manifest["database"] == "postgresql";
    match (postgres, config.database_url.as_deref()) {
        (true, None) => {
            bail!("这是 PostgreSQL 节点的备份：请设置 database_url（一个空数据库）后再恢复")
        }
        (false, Some(_)) => {
            bail!("这是 SQLite 节点的备份：恢复到 PostgreSQL 请先用 SQLite 恢复，再迁移")
        }
        (true, Some(url)) => {
            let n = cyltrace_store::backup::postgres_table_count(url).await?;
            ensure!(
                n == 0,
                "目标数据库已有 {n} 张表：请恢复到一个新建的空数据库"
            );
        }
        (false, None) => {
            let db = config.data_dir.join(SQLITE_DB);
            ensure!(
                !db.exists(),
                "目标数据目录已有数据库 {}：请恢复到一个空目录",
                db.display()
            );
        }
    }
    let key_path = config.ledger_key_path();
    ensure!(
        !key_path.exists(),
        "目标已有账本密钥 {}：请恢复到一个空目录",
        key_path.display()
    );
    std::fs::create_dir_all(&config.data_dir)?;
    let work = tempfile::Builder::new()
        .prefix(".cyltrace-restore-")
        .tempdir_in(&config.data_dir)?;
    // Every entry is checked against the manifest before anything is written: a damaged backup
    // leaves the target as it was.
    for e in entries {
        let name = e["name"]
            .as_str()
            .context("a manifest entry without a name")?;
        target_of(config, work.path(), name)?;
        let mut entry = zip
            .by_name(name)
            .with_context(|| format!("备份文件缺少 {name}（清单中有）"))?;
        let (size, sm3) = copy_hashed(&mut entry, &mut std::io::sink())?;
        ensure!(
            Some(size) == e["size"].as_u64() && Some(sm3.as_str()) == e["sm3"].as_str(),
            "备份文件中的 {name} 与清单不符（大小或 SM3 不同）：备份已损坏，未恢复"
        );
    }
    for e in entries {
        let name = e["name"].as_str().unwrap_or_default();
        let target = target_of(config, work.path(), name)?;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut out = private_file(&target)?;
        std::io::copy(&mut zip.by_name(name)?, &mut out)?;
        out.sync_all()?;
    }
    if let Some(url) = config.database_url.as_deref().filter(|_| postgres) {
        pg_tool("pg_restore", url)?
            .args([
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
            ])
            .arg(without_password(url)?)
            .arg(work.path().join(PG_DUMP))
            .status_ok("pg_restore")?;
    }
    let checkpoint = match &manifest["checkpoint"] {
        Value::Null => None,
        c => Some(
            ledger::checkpoint_from_json(&c.to_string()).context("the manifest's checkpoint")?,
        ),
    };
    Ok(Restored {
        entries: entries.len(),
        checkpoint,
    })
}

/// Where the entry `name` of a backup is restored to (`work`: the dump to load into PostgreSQL).
fn target_of(config: &Config, work: &Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    Ok(match name {
        SQLITE_DB => config.data_dir.join(SQLITE_DB),
        PG_DUMP => work.join(PG_DUMP),
        LEDGER_KEY => config.ledger_key_path(),
        PII_KEY => config.data_dir.join(PII_KEY_FILE),
        f if f.starts_with("files/") && safe_relative(f) => config.data_dir.join(f),
        other => bail!("备份清单中有不认识的条目 {other}：不是本版本的备份"),
    })
}

struct Entry {
    name: String,
    size: u64,
    sm3: String,
}

fn add_file(
    zip: &mut ZipWriter<File>,
    name: &str,
    path: &Path,
    options: SimpleFileOptions,
) -> anyhow::Result<Entry> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    zip.start_file(name, options)?;
    let (size, sm3) = copy_hashed(&mut f, zip)?;
    Ok(Entry {
        name: name.to_owned(),
        size,
        sm3,
    })
}

/// Copies `from` into `to`, returning the byte count and the SM3 (hex) of what passed.
fn copy_hashed(from: &mut impl Read, to: &mut impl Write) -> anyhow::Result<(u64, String)> {
    let mut h = Sm3::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

/// A new file readable and writable by its owner only.
fn private_file(path: &Path) -> anyhow::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// A `files/…` name that stays inside the data directory.
fn safe_relative(name: &str) -> bool {
    Path::new(name)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn config_with_dir(config: &Config, dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        ledger_key_file: Some(config.ledger_key_path()),
        ..config.clone()
    }
}

/// The latest signed checkpoint of the node's store and its hash's name.
async fn latest_checkpoint(
    config: &Config,
) -> anyhow::Result<Option<(cyltrace_store::CheckpointRecord, String)>> {
    let params = config.ledger_params()?;
    let store = cyltrace_store::open(config.database_url.as_deref(), &config.data_dir, &params)
        .await
        .context("opening the database")?;
    let c = store.latest_checkpoint().await?;
    Ok(c.map(|c| (c, store.ledger().hash.to_string())))
}

/// `pg_dump`/`pg_restore` for the database of `url`, its password (if any) in `PGPASSWORD` rather
/// than on the command line, where every user of the machine could read it.
fn pg_tool(tool: &str, url: &str) -> anyhow::Result<Command> {
    let parsed = url::Url::parse(url).context("database_url is not a URL")?;
    let mut cmd = Command::new(tool);
    if let Some(p) = parsed.password() {
        cmd.env(
            "PGPASSWORD",
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .as_ref(),
        );
    }
    if tool == "pg_dump" {
        cmd.arg("--dbname").arg(without_password(url)?);
    }
    Ok(cmd)
}

fn without_password(url: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url).context("database_url is not a URL")?;
    let _ = u.set_password(None);
    Ok(u.to_string())
}

trait StatusOk {
    fn status_ok(&mut self, what: &str) -> anyhow::Result<()>;
}

impl StatusOk for Command {
    fn status_ok(&mut self, what: &str) -> anyhow::Result<()> {
        let status = self
            .status()
            .with_context(|| format!("running {what} (is the PostgreSQL client installed?)"))?;
        ensure!(status.success(), "{what} failed ({status})");
        Ok(())
    }
}
