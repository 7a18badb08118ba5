//! The `cyltrace` binary: parses the command line, loads configuration and starts the server.

mod backup;
mod simulate;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cyltrace_server::{Config, Server};

#[derive(Parser)]
#[command(
    name = "cyltrace",
    version,
    about = "cyltrace — traceability platform for household gas cylinders"
)]
struct Cli {
    /// TOML configuration file (settings are overridden by CYLTRACE_* environment variables).
    #[arg(long, global = true, env = "CYLTRACE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the platform.
    Serve {
        /// Data directory (SQLite database, files, keys).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Seed a demo data set into an empty database and print the demo logins.
        #[arg(long)]
        demo: bool,
    },
    /// Verify the ledger: recompute every leaf from the stored events and the tree from the leaves,
    /// check every signed checkpoint. Exits non-zero naming the first record that does not match.
    Verify {
        /// Data directory (SQLite database, keys).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A checkpoint saved earlier (the JSON of GET /api/v1/ledger/checkpoint): check that the
        /// current log is an extension of it.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Back up a node, live or stopped, into one zip file: a consistent copy of the database
    /// (SQLite; PostgreSQL through pg_dump), the uploaded files, the ledger and ID-number keys, and
    /// a manifest of sizes, SM3 hashes and the latest signed checkpoint. The file holds the keys:
    /// keep it like them (it is written readable by its owner only).
    /// Simulate devices against a node over MQTT (demos, load): the scales of `serve --demo` ask to
    /// fill and report fills, leak alarms send readings and sometimes alarm, readers heartbeat.
    Simulate {
        /// The device list (ids and secrets) `serve --demo` wrote.
        #[arg(long, default_value = "data/demo-devices.json")]
        devices: PathBuf,
        /// The node's MQTT broker, e.g. mqtt://127.0.0.1:1883 (printed by `serve`).
        #[arg(long)]
        mqtt: String,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Milliseconds between one device's messages (with jitter).
        #[arg(long, default_value_t = 2000)]
        every_ms: u64,
    },
    Backup {
        /// Data directory of the node (SQLite database, files, keys).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The backup file to write (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty data directory (and, for a PostgreSQL node, the empty database
    /// of `database_url`), checking every entry against the manifest, then verify the ledger
    /// against the manifest's checkpoint. Exits non-zero, naming the cause, when anything does not
    /// match.
    Restore {
        /// The data directory to restore into (must hold no database).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Import cylinder archives from a CSV (UTF-8) or Excel (.xlsx) file laid out like the platform's
    /// template (A6). Every row is validated first; one bad row and nothing is imported (exit 1, the
    /// errors listed with row, column and reason).
    Import {
        /// Data directory (SQLite database).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The owner (产权单位) of rows that name none; default: the only filling enterprise.
        #[arg(long)]
        org: Option<String>,
        /// The file; its format is told by its extension (.csv or .xlsx).
        file: PathBuf,
    },
    /// Export every cylinder archive (or those of one organisation's subtree) to a file.
    Export {
        /// Data directory (SQLite database).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// csv, xlsx, generic_bottle_json or generic_bottle_xlsx (the Yunnan GenericBottle form).
        #[arg(long, default_value = "xlsx")]
        format: String,
        /// Only the archives of this organisation and those below it.
        #[arg(long)]
        org: Option<String>,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            data_dir,
            listen,
            demo,
        } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            if let Some(l) = listen {
                config.listen = l;
            }
            cyltrace_server::init_logging(&config.log, &config.log_format);
            if demo {
                demo_mqtt_port(&mut config);
            }
            serve(config, demo).await
        }
        Command::Verify {
            data_dir,
            checkpoint,
        } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            cyltrace_server::init_logging("warn", &config.log_format);
            let ok = verify(config, checkpoint).await?;
            std::process::exit(if ok { 0 } else { 1 });
        }
        Command::Simulate {
            devices,
            mqtt,
            seconds,
            every_ms,
        } => {
            cyltrace_server::init_logging("warn", &config.log_format);
            let u = url::Url::parse(&mqtt).context("--mqtt 应为 mqtt://host:port")?;
            let host = u.host_str().context("--mqtt 缺少主机")?.to_owned();
            simulate::run(
                &devices,
                &host,
                u.port().unwrap_or(1883),
                seconds,
                std::time::Duration::from_millis(every_ms.max(10)),
            )
            .await
        }
        Command::Backup { data_dir, to } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            cyltrace_server::init_logging("warn", &config.log_format);
            let w = backup::backup(&config, &to).await?;
            println!(
                "备份完成: {}（{} 项，{} 字节；账本检查点 {}）",
                to.display(),
                w.entries,
                w.bytes,
                w.checkpoint_size
                    .map_or_else(|| "尚无".to_owned(), |n| format!("{n} 条"))
            );
            Ok(())
        }
        Command::Restore { data_dir, from } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            cyltrace_server::init_logging("warn", &config.log_format);
            let r = backup::restore(&config, &from).await?;
            println!("已解出 {} 项，逐项核对清单一致；校验账本……", r.entries);
            let ok = verify_with(config, r.checkpoint).await?;
            if ok {
                println!("恢复完成。");
            } else {
                eprintln!("恢复未完成：账本校验失败，请勿使用这份数据启动节点。");
            }
            std::process::exit(if ok { 0 } else { 1 });
        }
        Command::Import {
            data_dir,
            org,
            file,
        } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            cyltrace_server::init_logging("warn", &config.log_format);
            let ok = import(config, org, file).await?;
            std::process::exit(if ok { 0 } else { 1 });
        }
        Command::Export {
            data_dir,
            format,
            org,
            out,
        } => {
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            cyltrace_server::init_logging("warn", &config.log_format);
            export(config, &format, org, out).await
        }
    }
}

/// Opens the node's store directly (as `verify` does): SQLite in the data directory, or the
/// PostgreSQL database of `CYLTRACE_DATABASE_URL`.
async fn open_store(config: &Config) -> anyhow::Result<std::sync::Arc<dyn cyltrace_store::Store>> {
    if config.database_url.is_none() {
        let db = config.data_dir.join("cyltrace.db");
        anyhow::ensure!(db.exists(), "no database at {}", db.display());
    }
    let params = config.ledger_params()?;
    cyltrace_store::open(config.database_url.as_deref(), &config.data_dir, &params)
        .await
        .context("opening the database")
}

/// Runs `cyltrace import`; true when the file was imported.
async fn import(config: Config, org: Option<String>, file: PathBuf) -> anyhow::Result<bool> {
    use cyltrace_server::services::archives::{self as svc, Bytes, ImportFailure, JobState};
    use cyltrace_server::state::Clock;
    use indicatif::{ProgressBar, ProgressStyle};
    let format = match svc::FileFormat::from_path(&file) {
        Ok(f) => f,
        Err(m) => {
            eprintln!("导入失败: {m}");
            return Ok(false);
        }
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("导入失败: 无法读取文件 {}：{e}", file.display());
            return Ok(false);
        }
    };
    if let Err(m) = svc::check_file(Some(format), &bytes) {
        eprintln!("导入失败: {m}");
        return Ok(false);
    }
    let store = open_store(&config).await?;
    let owner = match svc::cli_owner(store.as_ref(), org.as_deref()).await {
        Ok(o) => o,
        Err(m) => {
            eprintln!("导入失败: {m}");
            return Ok(false);
        }
    };
    println!(
        "导入 {} → 产权单位 {}（{}）",
        file.display(),
        owner.name,
        owner.id
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:8} [{bar:40}] {pos}/{len} 行 ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("校验中");
    let shown = bar.clone();
    let started = std::time::Instant::now();
    // When validation ended (the rest is the insert).
    let validated_at = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Duration>));
    let mark = validated_at.clone();
    let progress: svc::ProgressFn = std::sync::Arc::new(move |p: &svc::Progress| {
        if p.state == JobState::Importing
            && let Ok(mut m) = mark.lock()
        {
            m.get_or_insert(started.elapsed());
        }
        shown.set_length(p.total as u64);
        match p.state {
            JobState::Validating => shown.set_position(p.validated as u64),
            JobState::Importing => {
                shown.set_position(p.validated as u64);
                shown.set_message("写入中");
            }
            JobState::Done => {
                shown.set_position(p.total as u64);
                shown.set_message("完成");
            }
            JobState::Failed => shown.set_message("失败"),
        }
    });
    let req = svc::ImportRequest {
        format,
        bytes: Bytes::from(bytes),
        owner,
        // The operator of the node's database may import for any organisation.
        scope: cyltrace_store::Scope::all(),
    };
    let outcome = svc::import_archives(store.as_ref(), req, Clock::default().now(), progress).await;
    bar.set_message(if outcome.is_ok() {
        "完成"
    } else {
        "未导入"
    });
    bar.finish();
    match outcome {
        Ok(n) => {
            let total = started.elapsed();
            let checked = validated_at
                .lock()
                .ok()
                .and_then(|m| *m)
                .unwrap_or_default();
            println!(
                "已导入 {n} 条气瓶档案，用时 {:.1} 秒（读取和校验 {:.1} 秒，写入 {:.1} 秒）",
                total.as_secs_f64(),
                checked.as_secs_f64(),
                (total - checked).as_secs_f64()
            );
            Ok(true)
        }
        Err(ImportFailure::Rejected(errors)) => {
            eprintln!("文件未通过校验：共 {} 处错误，未导入任何数据", errors.len());
            for e in errors.iter().take(svc::MAX_REPORTED_ERRORS) {
                eprintln!("  {e}");
            }
            if errors.len() > svc::MAX_REPORTED_ERRORS {
                eprintln!(
                    "  ……（其余 {} 处未列出）",
                    errors.len() - svc::MAX_REPORTED_ERRORS
                );
            }
            Ok(false)
        }
        Err(ImportFailure::Internal(e)) => Err(anyhow::anyhow!("import failed: {e}")),
    }
}

/// Runs `cyltrace export`.
async fn export(
    config: Config,
    format: &str,
    org: Option<String>,
    out: PathBuf,
) -> anyhow::Result<()> {
    use cyltrace_server::services::archives as svc;
    let format = svc::ExportFormat::parse(format).map_err(anyhow::Error::msg)?;
    let store = open_store(&config).await?;
    let scope = match org {
        None => cyltrace_store::Scope::all(),
        Some(id) => {
            let o = svc::cli_owner(store.as_ref(), Some(&id))
                .await
                .map_err(anyhow::Error::msg)?;
            cyltrace_store::Scope(o.path)
        }
    };
    let bytes = svc::export_archives(store.as_ref(), &scope, format)
        .await
        .map_err(anyhow::Error::msg)?;
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!("已导出到 {}（{} 字节）", out.display(), bytes.len());
    Ok(())
}

/// Runs `cyltrace verify`; true when everything matches.
async fn verify(config: Config, checkpoint: Option<PathBuf>) -> anyhow::Result<bool> {
    use cyltrace_server::services::ledger;
    let extra = match &checkpoint {
        Some(f) => Some(
            ledger::checkpoint_from_json(
                &std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            )
            .with_context(|| format!("{} is not a saved checkpoint", f.display()))?,
        ),
        None => None,
    };
    verify_with(config, extra).await
}

/// Verifies the node's ledger (and that it extends `extra`, when given), saying the outcome.
async fn verify_with(
    config: Config,
    extra: Option<cyltrace_store::CheckpointRecord>,
) -> anyhow::Result<bool> {
    use cyltrace_server::services::ledger;
    if config.database_url.is_none() {
        let db = config.data_dir.join("cyltrace.db");
        anyhow::ensure!(db.exists(), "no database at {}", db.display());
    }
    let params = config.ledger_params()?;
    let store = cyltrace_store::open(config.database_url.as_deref(), &config.data_dir, &params)
        .await
        .context("opening the database")?;
    // The node's key, when this machine holds it; otherwise each checkpoint's own key.
    let key_path = config.ledger_key_path();
    let node_key = if key_path.exists() {
        Some(ledger::load_key(&key_path, false)?.public_key_sec1())
    } else {
        println!(
            "注意: 未找到本节点密钥 {}，按检查点自带的公钥验证签名",
            key_path.display()
        );
        None
    };
    match ledger::verify(store.as_ref(), node_key.as_deref(), extra.as_ref()).await? {
        Ok(r) => {
            println!(
                "账本校验通过: 日志 {}，{} 条记录，根 {} ({})，{} 个签名检查点一致{}",
                r.origin,
                r.size,
                r.root,
                r.hash,
                r.checkpoints,
                if extra.is_some() {
                    "（含给定的检查点）"
                } else {
                    ""
                }
            );
            Ok(true)
        }
        Err(m) => {
            eprintln!("账本校验失败: {m}");
            Ok(false)
        }
    }
}

/// `--demo` on a machine whose MQTT port is taken (a Mosquitto of its own, often) takes a free
/// port instead, printed at start; without `--demo` a taken port stops the start naming
/// `mqtt_listen`.
fn demo_mqtt_port(config: &mut Config) {
    if config.mqtt_url.is_some() || config.mqtt_listen.trim().is_empty() {
        return;
    }
    if let Ok(addr) = config.mqtt_listen.parse::<std::net::SocketAddr>()
        && std::net::TcpListener::bind(addr).is_err()
    {
        config.mqtt_listen = std::net::SocketAddr::new(addr.ip(), 0).to_string();
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let st = cyltrace_server::build_state(config).await?;
    if st.guards.totp_roles.is_empty() {
        tracing::warn!(
            "require_totp_roles is empty: no role must have a second factor (GB/T 22239 level 2 \
             asks it of administrators; set require_totp_roles = \"node_admin,regulator\")"
        );
    }
    cyltrace_server::prepare(&st).await?;
    let logins = if demo {
        cyltrace_server::demo::seed(&st)
            .await
            .context("seeding the demo data set")?
    } else {
        None
    };
    let server = Server::bind(st.clone()).await?;
    let addr = server.local_addr()?;
    let scheme = server.scheme();
    tracing::info!(%addr, scheme, database = st.store.backend(), "cyltrace listening");
    println!(
        "cyltrace 已启动: {scheme}://{addr}  (数据库: {})",
        st.store.backend()
    );
    if let Some(m) = server.mqtt_addr() {
        tracing::info!(%m, "embedded MQTT broker listening");
        println!("设备接入 (MQTT): mqtt://{m}  (用户名 = 设备 ID, 密码 = 设备密钥)");
    }
    if demo {
        match logins {
            Some(logins) => {
                if st.guards.totp_roles.is_empty() {
                    println!(
                        "未要求动态口令（require_totp_roles 为空）；可在“账户安全”页面自行绑定。"
                    );
                }
                println!("演示数据已生成。演示账号 (用户名 / 密码):");
                for l in logins {
                    println!("  {:<14} {:<12} {}", l.username, l.password, l.who);
                }
            }
            None => println!(
                "数据库非空，未重新生成演示数据（演示账号密码: {}）。",
                cyltrace_server::demo::DEMO_PASSWORD
            ),
        }
    }
    server.serve(cyltrace_server::shutdown_signal()).await?;
    Ok(())
}
