//! What the node keeps in memory for its devices: recently read registry rows and types (every
//! message authenticates), a token bucket per device (a device that floods is slowed alone), the
//! service calls waiting for their reply, and the way down to devices (the MQTT bridge's client).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use cyltrace_domain::devices::model::DeviceType;
use cyltrace_domain::devices::up::DownKind;
use cyltrace_store::DeviceRecord;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::cache::TtlCache;

/// Publishes a message to a device (`cyltrace/{id}/down/{kind}`), QoS 1.
pub trait Downlink: Send + Sync {
    fn send(&self, device: Uuid, kind: DownKind, payload: Value) -> Result<(), String>;
}

/// A device's reply to a service call.
#[derive(Debug, Clone)]
pub struct ServiceReply {
    pub code: i64,
    pub message: Option<String>,
    pub output: Option<Value>,
}

/// The most devices whose buckets are kept; beyond it the oldest half is dropped.
const MAX_BUCKETS: usize = 200_000;

pub struct Hub {
    pub records: TtlCache<Uuid, DeviceRecord>,
    pub types: TtlCache<String, DeviceType>,
    buckets: Mutex<HashMap<Uuid, (f64, Instant)>>,
    rate: f64,
    burst: f64,
    calls: Mutex<HashMap<(Uuid, String), oneshot::Sender<ServiceReply>>>,
    downlink: OnceLock<Box<dyn Downlink>>,
}

impl Hub {
    /// `rate` messages a second per device, `burst` saved up; `rate == 0` turns the limit off.
    pub fn new(rate: u32, burst: u32) -> Hub {
        Hub {
            records: TtlCache::new(Duration::from_secs(5), 100_000),
            types: TtlCache::new(Duration::from_secs(30), 1_000),
            buckets: Mutex::new(HashMap::new()),
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            calls: Mutex::new(HashMap::new()),
            downlink: OnceLock::new(),
        }
    }

    /// Takes a token of `device`'s bucket; false when it has none (the message is refused).
    pub fn admit(&self, device: Uuid) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if b.len() >= MAX_BUCKETS && !b.contains_key(&device) {
            let mut ages: Vec<Instant> = b.values().map(|v| v.1).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            b.retain(|_, v| v.1 > cut);
        }
        let (tokens, at) = b.entry(device).or_insert((self.burst, now));
        let refilled = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }

    /// Sets the way down (once, when the MQTT bridge connects the first time).
    pub fn set_downlink(&self, d: Box<dyn Downlink>) {
        if self.downlink.set(d).is_err() {
            tracing::warn!("the device downlink was set twice; keeping the first");
        }
    }

    /// Publishes to a device; `Err` when there is no broker or the client's queue is closed.
    pub fn send(&self, device: Uuid, kind: DownKind, payload: Value) -> Result<(), String> {
        match self.downlink.get() {
            Some(d) => d.send(device, kind, payload),
            None => Err("未连接 MQTT 代理，无法向设备下发".to_owned()),
        }
    }

    /// Waits for the reply to `request_id` of `device`.
    pub fn expect_reply(&self, device: Uuid, request_id: &str) -> oneshot::Receiver<ServiceReply> {
        let (tx, rx) = oneshot::channel();
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((device, request_id.to_owned()), tx);
        rx
    }

    /// Forgets a call that timed out.
    pub fn forget_call(&self, device: Uuid, request_id: &str) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(device, request_id.to_owned()));
    }

    /// Hands a reply to its waiting call; false when none waits (late or unknown).
    pub fn reply(&self, device: Uuid, request_id: &str, r: ServiceReply) -> bool {
        let tx = self
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(device, request_id.to_owned()));
        tx.is_some_and(|tx| tx.send(r).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_device_is_slowed_alone() {
        // H4: rate-limited per device without hurting the others.
        let h = Hub::new(1, 3);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!((0..3).all(|_| h.admit(a)));
        assert!(!h.admit(a));
        assert!(h.admit(b));
        assert!(Hub::new(0, 0).admit(a));
    }
}
