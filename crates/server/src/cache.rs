//! A small time-bounded cache for hot lookups that change rarely (a token's principal, a filling
//! station's enterprise and licences). Entries expire after a short TTL, so a change made elsewhere
//! is seen within that time; this node's own writes to what is cached invalidate it at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value, if cached and still fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    /// Caches `value` for the TTL, or until `until` when that is sooner.
    pub fn put(&self, key: K, value: V, until: Option<Instant>) {
        let now = Instant::now();
        let expiry = until.map_or(now + self.ttl, |u| u.min(now + self.ttl));
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, expiry));
    }

    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let c = TtlCache::new(Duration::from_millis(50), 2);
        c.put("a", 1, None);
        assert_eq!(c.get(&"a"), Some(1));
        c.put("b", 2, Some(Instant::now()));
        assert_eq!(c.get(&"b"), None, "an explicit earlier expiry wins");
        c.put("c", 3, None);
        c.put("d", 4, None);
        assert!(c.entries.lock().unwrap().len() <= 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"d"), None);
    }
}
