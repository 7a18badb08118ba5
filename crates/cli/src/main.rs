//! The `cyltrace` binary: parses the command line, loads configuration and starts the server.

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
    }
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

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let st = cyltrace_server::build_state(config).await?;
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
    tracing::info!(%addr, database = st.store.backend(), "cyltrace listening");
    println!(
        "cyltrace 已启动: http://{addr}  (数据库: {})",
        st.store.backend()
    );
    if demo {
        match logins {
            Some(logins) => {
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
    // Records written behind their answers are committed before the process ends.
    st.store.flush().await?;
    Ok(())
}
