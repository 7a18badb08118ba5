//! Throttling by client address (G5 intrusion prevention): a token bucket per address, and which
//! address a request comes from when it passes trusted reverse proxies.
//!
//! Logins charge the bucket of their address only when they fail (a wrong password, an unknown
//! user, a wrong second-factor code), and are refused with 429 while it is empty: password spraying
//! across many accounts from one address runs dry after `burst` attempts and then gets `rate` a
//! minute, while an office behind one address that logs in correctly is never slowed down. The
//! complaint form charges every submission. The per-account lock-out (`services/auth.rs`) works
//! beside this.
//!
//! Memory is bounded: at most [`MAX_ADDRESSES`] buckets. When the map is full, buckets that have
//! refilled (they equal a fresh one) are dropped; if it is still full, addresses not yet in it
//! share one overflow bucket, so an attack from very many addresses slows down newcomers together
//! instead of growing the map. IPv6 clients are keyed by their /64 (one subscriber's block).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most addresses tracked at once per limiter (about 40 bytes each).
pub const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by client address.
pub struct Limiter {
    /// Tokens added per second.
    rate: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<HashMap<Key, Bucket>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
    Overflow,
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(a) => Key::V4(a.octets()),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => Key::V4(v4.octets()),
                None => Key::V6((u128::from(a) >> 64) as u64),
            },
        }
    }
}

impl Limiter {
    /// `per_minute` tokens a minute, at most `burst` saved up. `per_minute == 0` turns it off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self::with_capacity(per_minute, burst, MAX_ADDRESSES)
    }

    fn with_capacity(per_minute: u32, burst: u32, capacity: usize) -> Self {
        Limiter {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            capacity,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn off(&self) -> bool {
        self.rate <= 0.0
    }

    fn refilled(&self, b: Bucket, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + secs * self.rate).min(self.burst)
    }

    /// How long until one token is there again.
    fn wait(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.rate).max(0.0))
    }

    /// `Err(wait)` while the address's bucket is empty; takes nothing.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    /// Takes one token from the address's bucket (a failed login, a submitted complaint); `Err(wait)`
    /// when there was none to take.
    pub fn charge(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        self.charge_at(ip, Instant::now())
    }

    fn check_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(ip) = ip.filter(|_| !self.off()) else {
            return Ok(());
        };
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.get(&Key::of(ip)).or_else(|| {
            buckets
                .get(&Key::Overflow)
                .filter(|_| buckets.len() >= self.capacity)
        });
        match b.map(|b| self.refilled(*b, now)) {
            Some(t) if t < 1.0 => Err(self.wait(t)),
            _ => Ok(()),
        }
    }

    fn charge_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(ip) = ip.filter(|_| !self.off()) else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = Key::of(ip);
        if !buckets.contains_key(&key) && buckets.len() >= self.capacity {
            buckets.retain(|_, b| self.refilled(*b, now) < self.burst);
            if buckets.len() >= self.capacity {
                key = Key::Overflow;
            }
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let t = self.refilled(*b, now);
        if t < 1.0 {
            *b = Bucket { tokens: t, at: now };
            return Err(self.wait(t));
        }
        *b = Bucket {
            tokens: t - 1.0,
            at: now,
        };
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

/// Seconds for a `Retry-After` header (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// The reverse proxies whose `X-Forwarded-For` is believed: addresses or CIDR blocks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// `"10.0.0.1, 192.168.0.0/16, ::1"`; empty = none.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (addr, bits) = match part.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (part, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("not an IP address: {part}"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("bad prefix length: {part}"))?,
            };
            v.push((ip, bits));
        }
        Ok(TrustedProxies(v))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| in_block(ip, *net, *bits))
    }

    /// The client behind `peer` (the TCP peer): `peer` itself unless it is a trusted proxy; then
    /// the right-most address of `X-Forwarded-For` that is not a trusted proxy (what the proxies
    /// appended cannot be forged by the client; what the client wrote to the left can).
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let Some(xff) = forwarded_for else {
            return Some(peer);
        };
        let mut last = peer;
        for hop in xff.rsplit(',').map(str::trim) {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => last = ip,
                Ok(ip) => return Some(ip),
                Err(_) => return Some(last),
            }
        }
        Some(last)
    }
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (canon(ip), canon(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_bucket_runs_dry_and_refills() {
        let l = Limiter::new(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at(ip("203.0.113.7"), t0).is_ok());
            assert!(l.charge_at(ip("203.0.113.7"), t0).is_ok());
        }
        let wait = l.check_at(ip("203.0.113.7"), t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert_eq!(retry_after_secs(wait), 1);
        assert!(l.charge_at(ip("203.0.113.7"), t0).is_err());
        // Another address is not affected; one second later one token is back.
        assert!(l.check_at(ip("203.0.113.8"), t0).is_ok());
        assert!(
            l.check_at(ip("203.0.113.7"), t0 + Duration::from_millis(1001))
                .is_ok()
        );
        // No address (no peer known) and a limiter switched off are never throttled.
        assert!(l.charge_at(None, t0).is_ok());
        let off = Limiter::new(0, 1);
        for _ in 0..10 {
            assert!(off.charge_at(ip("203.0.113.7"), t0).is_ok());
        }
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_bit_prefix() {
        let l = Limiter::new(1, 1);
        let t0 = Instant::now();
        assert!(l.charge_at(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(l.check_at(ip("2001:db8:1:2::ffff"), t0).is_err());
        assert!(l.check_at(ip("2001:db8:1:3::1"), t0).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let l = Limiter::with_capacity(1, 2, 4);
        let t0 = Instant::now();
        for i in 0..100u8 {
            let a = IpAddr::from([198, 51, 100, i]);
            let _ = l.charge_at(Some(a), t0);
        }
        assert!(l.len() <= 5, "{} buckets", l.len());
        // Newcomers share the overflow bucket once the map is full of recent attackers.
        assert!(l.check_at(ip("198.51.100.200"), t0).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::parse("").unwrap();
        assert_eq!(
            none.client(ip("127.0.0.1"), Some("203.0.113.7")),
            ip("127.0.0.1")
        );
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        assert_eq!(
            t.client(ip("127.0.0.1"), Some("203.0.113.7")),
            ip("203.0.113.7")
        );
        // The client wrote a fake left-most entry; the proxies appended the real one.
        assert_eq!(
            t.client(ip("10.1.2.3"), Some("1.2.3.4, 203.0.113.9, 10.0.0.5")),
            ip("203.0.113.9")
        );
        assert_eq!(
            t.client(ip("198.51.100.1"), Some("1.2.3.4")),
            ip("198.51.100.1")
        );
        assert_eq!(t.client(ip("127.0.0.1"), None), ip("127.0.0.1"));
        assert_eq!(t.client(ip("127.0.0.1"), Some("garbage")), ip("127.0.0.1"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        let v6 = TrustedProxies::parse("::1").unwrap();
        assert_eq!(v6.client(ip("::1"), Some("2001:db8::7")), ip("2001:db8::7"));
    }
}
