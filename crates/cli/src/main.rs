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
