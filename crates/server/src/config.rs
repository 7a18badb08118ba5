//! Configuration: defaults, then an optional TOML file, then `CYLTRACE_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Holds the SQLite database (unless `database_url` is set), files and keys.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `postgres://…` to use PostgreSQL instead of SQLite (it may hold the database password).
    pub database_url: Option<Secret>,
    /// `username:password` of a node admin created on first start with an empty database.
    pub bootstrap_admin: Option<Secret>,
    /// Region code of the node's own organisation (created with the bootstrap admin).
    pub node_region: String,
    pub token_ttl_secs: u64,
    pub max_body_bytes: usize,
    /// Failed logins before an account is locked, and for how long.
    pub max_failed_logins: i64,
    pub lockout_secs: u64,
    /// tracing filter, e.g. `info` or `cyltrace_server=debug,info`.
    pub log: String,
    /// `json` or `text`.
    pub log_format: String,
    /// The ledger's origin (the node's log name, one line), e.g. `cyltrace.example.cn/530100`. Fixed
    /// when the log is created; unset: the stored one (a new log gets `cyltrace/` + a random id).
    pub ledger_origin: Option<String>,
    /// The ledger's hash, `sm3` (default for a new log) or `sha256`. Fixed when the log is created.
    pub ledger_hash: Option<String>,
    /// PKCS#8 PEM file of the node's SM2 checkpoint key. Unset: `<data_dir>/ledger-sm2.pem`,
    /// generated on first start with mode 0600.
    pub ledger_key_file: Option<PathBuf>,
    /// How long a `/PS` ticket lives (YUNNAN-API.md: 2 h).
    pub ps_ticket_ttl_secs: u64,
    /// The upstream platform this node uploads to (`http://host:port`, its `/PS` interface);
    /// unset: no uplink.
    pub upstream_url: Option<String>,
    /// This node's account and password at the upstream.
    pub upstream_account: Option<String>,
    pub upstream_password: Option<Secret>,
    /// 32 hex digits when the upstream account has an SM4 key: `data` is then sent encrypted.
    pub upstream_sm4_key: Option<Secret>,
    /// The local organisation that owns archives pulled from the upstream when their owner's credit
    /// code matches no local organisation.
    pub upstream_org: Option<uuid::Uuid>,
    /// How often the uplink looks for work (ms), and how often it pulls archives (s).
    pub uplink_interval_ms: u64,
    pub uplink_pull_secs: u64,
    /// The address people reach this node at: the base of the URL in every label's QR code
    /// (`<public_url>/Q?id=<16 digits>&s=<signature>`).
    pub public_url: String,
    /// The variety digit that starts the 12-digit registration numbers this node assigns
    /// (DOMAIN.md: 5 for LPG cylinders).
    pub registration_variety: u8,
    /// Supervision windows (UI.md): cylinders whose next inspection falls within this many days
    /// are "pending inspection", whose discard date falls within `pending_scrap_days` "pending scrap".
    pub pending_inspection_days: u32,
    pub pending_scrap_days: u32,
    /// Overstock warning (重瓶超量存放): more full cylinders than this at one store, warehouse or
    /// delivery station, or than `customer_full_limit` at one customer.
    pub site_full_limit: u64,
    pub customer_full_limit: u64,
    /// Credit rating weights (E5), e.g. `refusal_overridden=10,late_upload=1,overdue_filled=5,complaint_upheld=5`.
    pub credit_weights: String,
    /// Throttling by client address (G5): failed logins (and complaint submissions) an address may
    /// make per minute once it has used up `login_burst`; 0 turns the throttle off.
    pub login_rate_per_minute: u32,
    pub login_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (addresses or CIDR blocks,
    /// comma-separated); empty: the TCP peer is the client.
    pub trusted_proxies: String,
    /// Roles that must have a TOTP second factor (comma-separated role names, e.g.
    /// `node_admin,regulator` as GB/T 22239 level 2 asks); unset or empty: none, so that API clients
    /// and a bootstrap admin keep working until their people have enrolled (the start logs a
    /// warning). Accounts holding `platform` are exempt.
    pub require_totp_roles: Option<String>,
    /// How old (days) an event a person, a device or a lower platform sends may be when it arrives
    /// (issue 22): older ones are refused on `time`, naming the limit, so that backdating cannot
    /// pass the circulation guards of a day long gone; an offline handheld has this long to sync.
    /// 0: no age limit. Demo seeding, benchmark data and upstream decisions are never limited.
    pub max_event_age_days: u32,
    /// PEM certificate chain and private key to serve HTTPS directly (rustls); both or neither.
    /// Behind a reverse proxy that terminates TLS leave them unset and give `public_url` as
    /// `https://…`: either way the node then sends HSTS and `Secure; __Host-` cookies.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The embedded MQTT broker's address (DEVICES.md); empty: no embedded broker. Ignored when
    /// `mqtt_url` names an external broker.
    pub mqtt_listen: String,
    /// An external MQTT broker (`mqtt://host:port`, Mosquitto or EMQX) the node connects to as a
    /// client instead of embedding one; the broker authenticates devices.
    pub mqtt_url: Option<String>,
    pub mqtt_username: Option<String>,
    pub mqtt_password: Option<Secret>,
    /// How often silent devices are looked for (seconds).
    pub device_sweep_secs: u64,
    /// How long property readings are kept; 0 keeps them for ever.
    pub telemetry_retention_days: u32,
    /// Messages a second one device may send, and how many it may save up; 0 turns the limit off.
    pub device_rate_per_second: u32,
    pub device_burst: u32,
    /// How long a service call waits for the device's reply by default.
    pub device_service_timeout_secs: u64,
}

/// The node's MQTT: none, an embedded broker on an address, or an external broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttMode {
    Off,
    Embedded(SocketAddr),
    External { host: String, port: u16 },
}

/// A setting that must not reach a log: its `Debug` shows `***`. Read it with `&*secret` (or
/// `as_deref()` on an `Option<Secret>`), where it is used.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            bootstrap_admin: None,
            node_region: "530000".to_owned(),
            token_ttl_secs: 12 * 3600,
            max_body_bytes: 8 * 1024 * 1024,
            max_failed_logins: 5,
            lockout_secs: 15 * 60,
            log: "info".to_owned(),
            log_format: "text".to_owned(),
            ledger_origin: None,
            ledger_hash: None,
            ledger_key_file: None,
            ps_ticket_ttl_secs: 2 * 3600,
            upstream_url: None,
            upstream_account: None,
            upstream_password: None,
            upstream_sm4_key: None,
            upstream_org: None,
            uplink_interval_ms: 1000,
            uplink_pull_secs: 60,
            public_url: "http://127.0.0.1:8080".to_owned(),
            registration_variety: 5,
            pending_inspection_days: 30,
            pending_scrap_days: 90,
            site_full_limit: 300,
            customer_full_limit: 5,
            credit_weights: String::new(),
            login_rate_per_minute: 10,
            login_burst: 20,
            trusted_proxies: String::new(),
            require_totp_roles: None,
            max_event_age_days: 7,
            tls_cert: None,
            tls_key: None,
            mqtt_listen: "127.0.0.1:1883".to_owned(),
            mqtt_url: None,
            mqtt_username: None,
            mqtt_password: None,
            device_sweep_secs: 5,
            telemetry_retention_days: 90,
            device_rate_per_second: 20,
            device_burst: 100,
            device_service_timeout_secs: 10,
        }
    }
}

impl Config {
    const KEYS: [&'static str; 45] = [
        "data_dir",
        "listen",
        "database_url",
        "bootstrap_admin",
        "node_region",
        "token_ttl_secs",
        "max_body_bytes",
        "max_failed_logins",
        "lockout_secs",
        "log",
        "log_format",
        "ledger_origin",
        "ledger_hash",
        "ledger_key_file",
        "ps_ticket_ttl_secs",
        "upstream_url",
        "upstream_account",
        "upstream_password",
        "upstream_sm4_key",
        "upstream_org",
        "uplink_interval_ms",
        "uplink_pull_secs",
        "public_url",
        "registration_variety",
        "pending_inspection_days",
        "pending_scrap_days",
        "site_full_limit",
        "customer_full_limit",
        "credit_weights",
        "login_rate_per_minute",
        "login_burst",
        "trusted_proxies",
        "require_totp_roles",
        "max_event_age_days",
        "tls_cert",
        "tls_key",
        "mqtt_listen",
        "mqtt_url",
        "mqtt_username",
        "mqtt_password",
        "device_sweep_secs",
        "telemetry_retention_days",
        "device_rate_per_second",
        "device_burst",
        "device_service_timeout_secs",
    ];

    /// Defaults ← `file` (when given) ← `CYLTRACE_*` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                anyhow::bail!("configuration file {} not found", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        // Only the settings themselves: other CYLTRACE_* variables (CYLTRACE_CONFIG names the file,
        // tests set their own) are not configuration.
        let env = Env::prefixed("CYLTRACE_").only(&Config::KEYS);
        let c: Config = fig.merge(env).extract()?;
        if !(1..=9).contains(&c.registration_variety) {
            anyhow::bail!("registration_variety must be one digit, 1–9");
        }
        if let Err(e) = cyltrace_domain::supervision::CreditWeights::parse(&c.credit_weights) {
            anyhow::bail!("credit_weights: {e}");
        }
        if !(c.public_url.starts_with("http://") || c.public_url.starts_with("https://")) {
            anyhow::bail!("public_url must start with http:// or https://");
        }
        if let Err(e) = crate::throttle::TrustedProxies::parse(&c.trusted_proxies) {
            anyhow::bail!("trusted_proxies: {e}");
        }
        c.totp_roles()?;
        c.tls_files()?;
        c.mqtt_mode()?;
        Ok(c)
    }

    /// How the node reaches its devices over MQTT.
    pub fn mqtt_mode(&self) -> anyhow::Result<MqttMode> {
        if let Some(url) = &self.mqtt_url {
            let u = url::Url::parse(url).map_err(|e| anyhow::anyhow!("mqtt_url: {e}"))?;
            if !matches!(u.scheme(), "mqtt" | "tcp") || u.host_str().is_none() {
                anyhow::bail!("mqtt_url must be mqtt://host:port");
            }
            let host = u.host_str().unwrap_or_default().to_owned();
            return Ok(MqttMode::External {
                host,
                port: u.port().unwrap_or(1883),
            });
        }
        if self.mqtt_listen.trim().is_empty() {
            return Ok(MqttMode::Off);
        }
        let addr: SocketAddr = self
            .mqtt_listen
            .parse()
            .map_err(|e| anyhow::anyhow!("mqtt_listen {}: {e}", self.mqtt_listen))?;
        Ok(MqttMode::Embedded(addr))
    }

    /// The certificate and key files when the node serves HTTPS itself.
    pub fn tls_files(&self) -> anyhow::Result<Option<(&Path, &Path)>> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (Some(_), None) => {
                anyhow::bail!("tls_cert is set but tls_key is not: give both or neither")
            }
            (None, Some(_)) => {
                anyhow::bail!("tls_key is set but tls_cert is not: give both or neither")
            }
        }
    }

    /// Whether browsers reach the node over HTTPS (served here, or by a proxy in front of it): then
    /// cookies are `Secure` with the `__Host-` prefix and answers carry HSTS.
    pub fn https(&self) -> bool {
        self.tls_cert.is_some() || self.public_url.starts_with("https://")
    }

    /// The ledger settings the store is opened with.
    pub fn ledger_params(&self) -> anyhow::Result<cyltrace_store::LedgerParams> {
        let hash = match &self.ledger_hash {
            None => None,
            Some(h) => Some(h.parse().map_err(|e| anyhow::anyhow!("ledger_hash: {e}"))?),
        };
        Ok(cyltrace_store::LedgerParams {
            origin: self.ledger_origin.clone(),
            hash,
            write: true,
            outbox: self.upstream_url.is_some(),
        })
    }

    /// Where the node's SM2 checkpoint key lives.
    pub fn ledger_key_path(&self) -> PathBuf {
        self.ledger_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ledger-sm2.pem"))
    }

    /// The oldest a judged event may be (`max_event_age_days`); none when 0 (no age limit).
    pub fn max_event_age(&self) -> Option<chrono::Duration> {
        (self.max_event_age_days > 0)
            .then(|| chrono::Duration::days(self.max_event_age_days.into()))
    }

    /// The roles that must have a TOTP second factor.
    pub fn totp_roles(&self) -> anyhow::Result<Vec<cyltrace_domain::Role>> {
        let names = self.require_totp_roles.as_deref().unwrap_or_default();
        names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                cyltrace_domain::Role::parse(n)
                    .ok_or_else(|| anyhow::anyhow!("require_totp_roles: unknown role {n}"))
            })
            .collect()
    }

    /// The bootstrap admin as (username, password).
    pub fn bootstrap(&self) -> anyhow::Result<Option<(String, String)>> {
        match &self.bootstrap_admin {
            None => Ok(None),
            Some(s) => match s.split_once(':') {
                Some((u, p)) if !u.is_empty() && !p.is_empty() => {
                    Ok(Some((u.to_owned(), p.to_owned())))
                }
                _ => anyhow::bail!("CYLTRACE_BOOTSTRAP_ADMIN must be username:password"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Config {
            database_url: Some("postgres://cyltrace:db-Passw0rd@127.0.0.1/cyltrace".into()),
            bootstrap_admin: Some("admin:Boot-Passw0rd".into()),
            upstream_password: Some("Up-Passw0rd".into()),
            upstream_sm4_key: Some("0123456789abcdeffedcba9876543210".into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        for secret in [
            "db-Passw0rd",
            "Boot-Passw0rd",
            "Up-Passw0rd",
            "0123456789abcdef",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(c.bootstrap().unwrap().unwrap().1, "Boot-Passw0rd");
        assert_eq!(c.upstream_password.as_deref(), Some("Up-Passw0rd"));
    }
}
