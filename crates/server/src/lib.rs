//! cyltrace's server: configuration, services (use cases), the web layer (JSON API, pages, `/PS`),
//! workers, demo seeding and start-up with graceful shutdown. Dependencies point one way — `web` →
//! `services` → store and domain, `workers` → `services` — and only this file imports `web`
//! (`.ci/run` checks it):
//!
//! - `services/` — the use cases, one module or directory per area; `services/events.rs` is the event
//!   write path, `services/mod.rs` lists the rest;
//! - `web/` — `api/` (`/api/v1` JSON, one module per area), `pages/` (HTML: `kit.rs`, `console/`,
//!   `supervision/`, sign-in, the handheld app, the label page), `ps/` (`/PS`), `ops.rs`,
//!   `middleware.rs` (auth, audit, metrics), `extract.rs`, `error.rs` (problem+json);
//! - `workers/` — the uplink to the upstream node (the checkpoint signer is `services::ledger`);
//! - `auth.rs` (passwords, tokens, the `Principal`), `error.rs` (the one error type), `state.rs`,
//!   `config.rs`, `cache.rs`, `throttle.rs` (login throttling by client address), `metrics.rs`,
//!   `sm4.rs`, `tls.rs` (HTTPS served directly), `demo.rs` (the demo data set).

pub mod auth;
pub mod cache;
pub mod config;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod mqtt;
pub mod services;
pub mod sm4;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod web;
pub mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cyltrace_store::Store;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// Opens the store of `config` and builds the shared state (migrations run here).
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let params = config.ledger_params()?;
    let store = cyltrace_store::open(config.database_url.as_deref(), &config.data_dir, &params)
        .await
        .with_context(|| {
            format!(
                "opening the database ({})",
                if config.database_url.is_some() {
                    "PostgreSQL"
                } else {
                    "SQLite"
                }
            )
        })?;
    state_with_store(config, store)
}

/// The shared state over an opened store; loads (or, on first start, creates) the ledger key.
pub fn state_with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    // A bad upstream setting stops the start, not the first upload.
    workers::uplink::Uplink::from_config(&config)?;
    let key = services::ledger::load_key(&config.ledger_key_path(), true)?;
    let pii_key = services::circulation::load_pii_key(&config.data_dir.join("pii-sm4.key"))?;
    let guards = state::Guards::from_config(&config)?;
    let devices = services::devices::Hub::new(config.device_rate_per_second, config.device_burst);
    Ok(AppState {
        store,
        config: Arc::new(config),
        metrics: Arc::new(metrics::Metrics::new()),
        clock: state::Clock::default(),
        caches: Arc::new(state::Caches::default()),
        ledger_key: Arc::new(key),
        pii_key: Arc::new(pii_key),
        guards: Arc::new(guards),
        devices: Arc::new(devices),
    })
}

/// Creates the bootstrap admin when configured and the database is empty.
pub async fn prepare(st: &AppState) -> anyhow::Result<()> {
    let interrupted = services::archives::fail_interrupted_imports(st).await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "import jobs cut off by the last stop marked failed"
        );
    }
    if let Some((user, password)) = st.config.bootstrap()?
        && services::bootstrap_admin(st, &user, &password).await?
    {
        tracing::info!(username = %user, "created the bootstrap node admin");
    }
    Ok(())
}

/// A bound, not yet serving, server.
pub struct Server {
    listener: TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    /// The embedded MQTT broker, when the node runs one.
    broker: Option<mqtt::Broker>,
    state: AppState,
}

impl Server {
    pub async fn bind(state: AppState) -> anyhow::Result<Server> {
        // The certificate and key are read before the port is taken: a bad file stops the start.
        let tls = match state.config.tls_files()? {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let broker = match state.config.mqtt_mode()? {
            config::MqttMode::Embedded(addr) => Some(mqtt::Broker::bind(addr)?),
            _ => None,
        };
        let listener = TcpListener::bind(state.config.listen)
            .await
            .with_context(|| format!("binding {}", state.config.listen))?;
        Ok(Server {
            listener,
            tls,
            broker,
            state,
        })
    }

    /// The embedded MQTT broker's address, when there is one.
    pub fn mqtt_addr(&self) -> Option<SocketAddr> {
        self.broker.as_ref().map(mqtt::Broker::local_addr)
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// `https` when the node serves TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let signer = tokio::spawn(services::ledger::run_signer(self.state.clone()));
        let uplink = workers::uplink::Uplink::from_config(&self.state.config)?
            .map(|up| tokio::spawn(workers::uplink::run(self.state.clone(), up)));
        let mut background = vec![
            tokio::spawn(workers::devices::run(self.state.clone())),
            tokio::spawn(workers::alarms::run(self.state.clone())),
        ];
        let connection = match &self.broker {
            Some(b) => Some(mqtt::Connection::embedded(b)),
            None => mqtt::Connection::external(&self.state)?,
        };
        if let Some(b) = self.broker {
            let st = self.state.clone();
            background.push(tokio::spawn(async move {
                if let Err(e) = b.serve(st).await {
                    tracing::error!(error = %e, "embedded MQTT broker stopped");
                }
            }));
        }
        if let Some(c) = connection {
            background.push(tokio::spawn(mqtt::run_client(self.state.clone(), c)));
        }
        let st = self.state.clone();
        let app = web::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = match self.tls {
            None => axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(anyhow::Error::from),
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let stop = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stop.graceful_shutdown(None);
                });
                match axum_server::from_tcp_rustls(self.listener.into_std()?, tls) {
                    Ok(server) => server
                        .handle(handle)
                        .serve(app)
                        .await
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(anyhow::Error::from(e)),
                }
            }
        };
        signer.abort();
        for t in background {
            t.abort();
        }
        if let Some(u) = uplink {
            u.abort();
        }
        // The last entries are covered by a checkpoint before the process ends.
        if let Err(e) = services::ledger::sign_if_due(&st, &mut None).await {
            tracing::error!(error = %e, "signing the final checkpoint");
        }
        served
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Structured logs to stderr; `format` is `json` or `text`.
pub fn init_logging(filter: &str, format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        tracing::debug!("logging was already initialised");
    }
}
