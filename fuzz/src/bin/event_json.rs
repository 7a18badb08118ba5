//! `POST /api/v1/events`: the body's JSON into domain events (`Event::parse`, as
//! `services::record_events` calls it for each of `events`).
//!
//! Beyond "no panic": an accepted event's data, written as it is stored (`data_json`), parses back
//! to the same data (G5: what is stored is what was accepted), its codes are within bounds; a refused
//! one names a field below `events[i]`.
#![no_main]

use cyltrace_domain::event::MAX_CODES_PER_EVENT;
use cyltrace_domain::{Event, EventData};
use cyltrace_fuzz::{assert_named, json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some(body) = json(data) else { return };
    // A batch as the API takes it, or (to reach deeper with small inputs) one bare event.
    let list = match body.get("events") {
        Some(Value::Array(list)) => list.clone(),
        _ => vec![body],
    };
    for (i, v) in list.iter().enumerate() {
        let prefix = format!("events[{i}]");
        match Event::parse(v, &prefix) {
            Ok(e) => {
                assert!(!e.codes.is_empty() && e.codes.len() <= MAX_CODES_PER_EVENT);
                let stored = e.data.data_json();
                let back = EventData::parse(e.kind(), &stored, "data").unwrap_or_else(|err| {
                    panic!("stored data {stored} does not parse back: {err}")
                });
                assert_eq!(
                    back, e.data,
                    "stored data {stored} parses back to other data"
                );
            }
            Err(err) => assert_named(&err, &prefix),
        }
    }
});
