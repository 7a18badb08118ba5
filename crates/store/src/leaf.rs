//! The canonical binary encoding of a stored event: the bytes of its ledger leaf (DESIGN §3).
//!
//! Version 1, every integer big-endian, every string as a `u32` byte length and UTF-8, an optional
//! value as a `0x00` byte (absent) or `0x01` followed by the value:
//!
//! ```text
//! u8      version = 1
//! string  origin                 the node's log name (node id)
//! [16]    event id               UUID bytes
//! string  kind                   e.g. "fill"
//! u32     number of codes, then each code as a string
//! i64     time                   microseconds since the Unix epoch (when it happened)
//! i64     recorded_at            microseconds (when this node stored it)
//! [16]    org id                 the recording organisation
//! opt     [16] recorded_by       user id
//! opt     [16] site id
//! opt     string operator
//! opt     string device
//! opt     f64 lat, f64 lon       IEEE 754 bits
//! [32]    SM3 of the canonical JSON of `data`
//! ```
//!
//! The canonical JSON of `data` has its object keys sorted (by their UTF-8 bytes), no whitespace,
//! and serde_json's shortest round-trip numbers. Every column of an `events` row is covered, so
//! changing any stored byte of an event changes its leaf. Files an event refers to enter through
//! their SM3 hash inside `data`.

use cyltrace_domain::Event;
use cyltrace_ledger::{Hash, LogHash, Sm3Hash};
use serde_json::Value;

use crate::model::StoredEvent;

pub const LEAF_VERSION: u8 = 1;

/// The leaf bytes of `e` as stored by this node.
pub fn leaf_bytes(origin: &str, e: &StoredEvent) -> Vec<u8> {
    encode(origin, &e.event, e.org_id, e.recorded_by, e.recorded_at)
}

/// The leaf bytes of an event about to be stored with these recording facts.
pub(crate) fn encode(
    origin: &str,
    e: &Event,
    org_id: uuid::Uuid,
    recorded_by: Option<uuid::Uuid>,
    recorded_at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(192);
    b.push(LEAF_VERSION);
    string(&mut b, origin);
    b.extend_from_slice(e.id.as_bytes());
    string(&mut b, e.kind().as_str());
    let n = u32::try_from(e.codes.len()).expect("an event names fewer than 2^32 codes");
    b.extend_from_slice(&n.to_be_bytes());
    for c in &e.codes {
        string(&mut b, c.as_str());
    }
    b.extend_from_slice(&e.time.timestamp_micros().to_be_bytes());
    b.extend_from_slice(&recorded_at.timestamp_micros().to_be_bytes());
    b.extend_from_slice(org_id.as_bytes());
    opt(&mut b, recorded_by, |b, u| {
        b.extend_from_slice(u.as_bytes())
    });
    opt(&mut b, e.site_id, |b, u| b.extend_from_slice(u.as_bytes()));
    opt(&mut b, e.operator.as_ref(), |b, t| string(b, t.as_str()));
    opt(&mut b, e.device.as_ref(), |b, t| string(b, t.as_str()));
    opt(&mut b, e.position, |b, p| {
        b.extend_from_slice(&p.lat.to_bits().to_be_bytes());
        b.extend_from_slice(&p.lon.to_bits().to_be_bytes());
    });
    let payload = canonical_json(&e.data.data_json());
    b.extend_from_slice(&Sm3Hash.digest(&[payload.as_bytes()]).0);
    b
}

/// The leaf hash `H(0x00 ‖ leaf bytes)` under the log's hash.
pub fn leaf_hash<H: LogHash>(h: H, origin: &str, e: &StoredEvent) -> Hash {
    h.leaf(&leaf_bytes(origin, e))
}

fn string(b: &mut Vec<u8>, s: &str) {
    let n = u32::try_from(s.len()).expect("strings in events are short");
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn opt<T>(b: &mut Vec<u8>, v: Option<T>, f: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => b.push(0),
        Some(v) => {
            b.push(1);
            f(b, v);
        }
    }
}

/// JSON text with object keys sorted and no whitespace, whatever order the map keeps.
pub fn canonical_json(v: &Value) -> String {
    fn write(out: &mut String, v: &Value) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(out, &m[k]);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, x);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use cyltrace_domain::units::Text;
    use serde_json::json;

    fn event() -> StoredEvent {
        let e = Event::parse(
            &json!({"id": "5b0c7f8e-4a53-4e4b-9d1c-0f2a3b4c5d6e", "kind": "fill",
                    "codes": ["1110000001"], "time": "2026-11-21T08:00:00.123456+08:00",
                    "site_id": "00000000-0000-4000-8000-000000000001", "operator": "王师傅",
                    "lat": 25.04, "lon": 102.71,
                    "data": {"scale_no": "S1", "begin": "2026-11-21T07:58:00+08:00",
                             "end": "2026-11-21T08:00:00+08:00", "tare_kg": 14.5, "gross_kg": 29.3}}),
            "e",
        )
        .expect("valid event");
        StoredEvent {
            event: e,
            ledger_index: 7,
            recorded_at: DateTime::<Utc>::from_timestamp_micros(1_795_000_000_000_001).unwrap(),
            recorded_by: Some(uuid::Uuid::from_u128(2)),
            org_id: uuid::Uuid::from_u128(3),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [true, null, 1.5], "c": "x\"y"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x\"y","d":[true,null,1.5]},"b":1}"#
        );
    }

    #[test]
    fn layout_is_stable() {
        // G3: the encoding is a format other verifiers rely on; a change must be a new version.
        let b = leaf_bytes("cyltrace/530100", &event());
        assert_eq!(b[0], 1);
        assert_eq!(&b[1..5], &15u32.to_be_bytes());
        assert_eq!(&b[5..20], b"cyltrace/530100");
        assert_eq!(&b[20..36], event().event.id.as_bytes());
        assert_eq!(&b[36..40], &4u32.to_be_bytes());
        assert_eq!(&b[40..44], b"fill");
        let payload = canonical_json(&event().event.data.data_json());
        assert_eq!(&b[b.len() - 32..], &Sm3Hash.digest(&[payload.as_bytes()]).0);
        assert_eq!(
            Sm3Hash.leaf(&b).to_hex(),
            Sm3Hash.digest(&[&[0u8], &b]).to_hex()
        );
    }

    #[test]
    fn every_field_changes_the_leaf() {
        // G3: changing any stored part of an event changes its leaf.
        let base = event();
        let origin = "cyltrace/530100";
        let leaf = leaf_bytes(origin, &base);
        let mut variants: Vec<StoredEvent> = Vec::new();
        let mut v = base.clone();
        v.event.id = uuid::Uuid::from_u128(9);
        variants.push(v);
        let mut v = base.clone();
        v.event.codes = vec![cyltrace_domain::CylinderCode::parse("1110000002").unwrap()];
        variants.push(v);
        let mut v = base.clone();
        v.event.time += chrono::Duration::microseconds(1);
        variants.push(v);
        let mut v = base.clone();
        v.recorded_at += chrono::Duration::microseconds(1);
        variants.push(v);
        let mut v = base.clone();
        v.org_id = uuid::Uuid::from_u128(4);
        variants.push(v);
        let mut v = base.clone();
        v.recorded_by = None;
        variants.push(v);
        let mut v = base.clone();
        v.event.site_id = None;
        variants.push(v);
        let mut v = base.clone();
        v.event.operator = Some(Text::parse("李师傅").unwrap());
        variants.push(v);
        let mut v = base.clone();
        v.event.device = Some(Text::parse("PDA-1").unwrap());
        variants.push(v);
        let mut v = base.clone();
        v.event.position = None;
        variants.push(v);
        let mut v = base.clone();
        let mut data = serde_json::to_value(&v.event.data).unwrap();
        data["data"]["gross_kg"] = json!(29.4);
        v.event.data = serde_json::from_value(data).unwrap();
        variants.push(v);
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(leaf_bytes(origin, v), leaf, "variant {i} kept the leaf");
        }
        assert_ne!(leaf_bytes("other", &base), leaf);
        // The index is the leaf's position, not part of it.
        let mut v = base.clone();
        v.ledger_index = 8;
        assert_eq!(leaf_bytes(origin, &v), leaf);
    }
}
