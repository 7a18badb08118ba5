//! A device's up message (issue 18): the MQTT topic (`cyltrace/{id}/up/{kind}`) and the payload
//! bytes of its kind (`up::parse_up`), as `services::devices::ingest` takes them, and a property
//! report against the leak alarm's thing model.
//!
//! Beyond "no panic": a refused payload names a field; an accepted one keeps its id (what `down/ack`
//! answers with), and a property report the model accepts holds only the model's properties.
#![no_main]

use cyltrace_domain::devices::model::{LEAK_ALARM, builtin};
use cyltrace_domain::devices::up::{Up, UpKind, parse_up, parse_up_topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the topic, the rest the payload.
    let (topic, payload) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (
            &b"cyltrace/00000000-0000-0000-0000-000000000001/up/property"[..],
            data,
        ),
    };
    let kind = match std::str::from_utf8(topic).ok().map(parse_up_topic) {
        Some(Ok((_, Ok(kind)))) => kind,
        _ => UpKind::ALL[usize::from(data.first().copied().unwrap_or(0)) % UpKind::ALL.len()],
    };
    match parse_up(kind, payload) {
        Ok(up) => {
            assert_eq!(up.kind(), kind);
            if let Up::Property(p) = &up
                && let Some(t) = builtin(LEAK_ALARM)
                && t.check_properties(&p.values).is_ok()
            {
                assert!(p.values.keys().all(|k| t.property(k).is_some()));
            }
        }
        Err(e) => assert!(!e.0.is_empty() && e.0.iter().all(|f| !f.message.is_empty())),
    }
});
