//! Shared state of a running node, and its clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};
use cyltrace_store::{OrgRecord, SiteRecord, Store};

use crate::auth::Principal;
use crate::cache::TtlCache;

use crate::config::Config;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub caches: Arc<Caches>,
    /// The node's SM2 key for signing ledger checkpoints.
    pub ledger_key: Arc<cyltrace_ledger::SigningKey>,
    /// The node's SM4 key for personal data at rest (ID numbers) and the keyed identity hash.
    pub pii_key: Arc<crate::sm4::Sm4Key>,
    /// Login throttling, trusted proxies, second-factor settings and pending page logins (G5).
    pub guards: Arc<Guards>,
    /// Devices: cached registry rows, rate limits, service calls waiting, the way down (issue 18).
    pub devices: Arc<crate::services::devices::Hub>,
}

/// What keeps accounts safe at run time (G5): the throttles by client address, the proxies whose
/// `X-Forwarded-For` is believed, the roles that must have a second factor, and page logins waiting
/// for their second-factor code.
pub struct Guards {
    /// Failed logins per address (`/api/v1/auth/token`, `/login`, `/PS/Auth/Login`).
    pub logins: crate::throttle::Limiter,
    /// Complaints from the public per address.
    pub complaints: crate::throttle::Limiter,
    pub proxies: crate::throttle::TrustedProxies,
    pub totp_roles: Vec<cyltrace_domain::Role>,
    /// Hash of a page login's second-step cookie → the user whose password was right (5 minutes).
    pub pending_logins: TtlCache<String, uuid::Uuid>,
}

impl Guards {
    pub fn from_config(c: &Config) -> anyhow::Result<Guards> {
        Ok(Guards {
            logins: crate::throttle::Limiter::new(c.login_rate_per_minute, c.login_burst),
            complaints: crate::throttle::Limiter::new(c.login_rate_per_minute, c.login_burst),
            proxies: crate::throttle::TrustedProxies::parse(&c.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
            totp_roles: c.totp_roles()?,
            pending_logins: TtlCache::new(std::time::Duration::from_secs(300), 10_000),
        })
    }
}

/// Hot lookups kept for a few seconds (see [`crate::cache`]).
pub struct Caches {
    /// Token hash → the principal and the token's expiry.
    pub principals: TtlCache<String, (Principal, DateTime<Utc>)>,
    /// Filling station → the station and its enterprise (with licences).
    pub stations: TtlCache<uuid::Uuid, (SiteRecord, OrgRecord)>,
    /// Ledger tile interiors (hashes above a tile's bottom row), shared by proofs: 4,096 tiles,
    /// about 64 MiB. An entry is reused only for the same stored hashes.
    pub tiles: Arc<cyltrace_ledger::TileCache>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches {
            principals: TtlCache::new(std::time::Duration::from_secs(30), 100_000),
            stations: TtlCache::new(std::time::Duration::from_secs(10), 10_000),
            tiles: Arc::new(cyltrace_ledger::TileCache::new(4096)),
        }
    }
}

impl AppState {
    /// The server's clock; the domain never reads one.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The system clock, shifted by an offset that tests set to stand at a chosen instant (time keeps
/// running from there). In production the offset stays zero.
#[derive(Clone, Default)]
pub struct Clock {
    offset_us: Arc<AtomicI64>,
}

impl Clock {
    /// Now, to the microsecond: the precision the stores keep, so what is answered is what is kept.
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    pub fn now(&self) -> DateTime<Utc> {
        let t = Utc::now() + Duration::microseconds(self.offset_us.load(Ordering::Relaxed));
        DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
    }

    /// From now on, `now()` reads `t` plus the time that passes.
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    pub fn shift_to(&self, t: DateTime<Utc>) {
        let offset = (t - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_us.store(offset, Ordering::Relaxed);
    }
}
