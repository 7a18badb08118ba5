//! `/PS` data (YUNNAN-API): the trace uploads (BeforeFill, Fill, AfterFill, Inspection),
//! `BusinessCount`, `ApplyNew`/`ApplyOld` registrations and `GenericBottle` records.
//!
//! Beyond "no panic": what is accepted, written back in the interface's form (as the uplink sends
//! it), parses again and writes back the same (parse → write → parse → write is stable); a refusal
//! names the property (`Items[1].GrossWeight`).
#![no_main]

use chrono::{TimeZone, Utc};
use cyltrace_domain::ps::{
    BusinessCount, GenericBottle, RegistrationApply, TraceItem, TraceKind, parse_trace, parse_ymd,
    parse_ymdhms, station_name, trace_batch, trace_item, ymd, ymdhms,
};
use cyltrace_fuzz::{assert_named, json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(7);
const STATION: Uuid = Uuid::from_u128(9);

/// The upload an uplink would send for `items` (ThridId aside: it is the event id, which a
/// re-parse derives anew).
fn written(kind: TraceKind, items: &[TraceItem], station: &str) -> Value {
    let first = &items[0].event;
    let text = |t: &Option<cyltrace_domain::Text>| t.as_ref().map_or("", |t| t.as_str()).to_owned();
    let factory = match kind {
        TraceKind::Inspection => station.to_owned(),
        _ => text(&first.device),
    };
    let encoded = items
        .iter()
        .map(|it| {
            let mut v = trace_item(&it.event, None).expect("a trace kind writes an item");
            v.as_object_mut().expect("an object").remove("ThridId");
            v
        })
        .collect();
    trace_batch(kind, encoded, &text(&first.operator), &factory)
}

fuzz_target!(|data: &[u8]| {
    let Some(v) = json(data) else { return };
    let now = Utc.with_ymd_and_hms(2026, 4, 21, 4, 0, 0).unwrap();
    // The interface's dates (`yyyyMMdd`) and times (`yyyyMMddHHmmss`, China Standard Time), as
    // `lasttime` and every date property carries them: what parses writes back the same.
    if let Value::String(s) = &v {
        if let Ok(d) = parse_ymd(s) {
            assert_eq!(ymd(d), s.trim());
        }
        if let Ok(t) = parse_ymdhms(s) {
            assert_eq!(ymdhms(t), s.trim());
        }
    }
    for kind in TraceKind::ALL {
        match parse_trace(kind, &v, ORG, now, Some(STATION)) {
            Ok(items) if !items.is_empty() => {
                for it in &items {
                    assert_eq!(it.event.kind(), kind.event_kind());
                }
                let station = station_name(&v).unwrap_or("").to_owned();
                let mut once = written(kind, &items, &station);
                // Each item carries its own ThridId again, so that the upload is a valid one.
                for (i, item) in once["Items"].as_array_mut().unwrap().iter_mut().enumerate() {
                    item["ThridId"] = Value::from(i as i64 + 1);
                }
                let again = parse_trace(kind, &once, ORG, now, Some(STATION))
                    .unwrap_or_else(|e| panic!("{kind:?}: written {once} does not parse: {e}"));
                for item in once["Items"].as_array_mut().unwrap() {
                    item.as_object_mut().unwrap().remove("ThridId");
                }
                assert_eq!(written(kind, &again, &station), once, "{kind:?}");
            }
            Ok(_) => {}
            Err(e) => assert_named(&e, ""),
        }
    }
    match BusinessCount::parse(&v) {
        Ok(c) => assert_eq!(BusinessCount::parse(&c.to_json()).ok(), Some(c)),
        Err(e) => assert_named(&e, ""),
    }
    if let Err(e) = RegistrationApply::parse(&v) {
        assert_named(&e, "");
    }
    let records = match &v {
        Value::Array(list) => list.clone(),
        one => vec![one.clone()],
    };
    for (i, r) in records.iter().enumerate() {
        let prefix = format!("[{i}]");
        match GenericBottle::to_archive(r, &prefix, ORG) {
            Ok(a) => {
                // Written back as the node serves it, it parses and writes back the same (the
                // archive itself may differ: a discard date equal to the one its life gives is
                // not kept twice).
                let back = serde_json::to_value(GenericBottle::from_archive(&a, 1)).unwrap();
                let again = GenericBottle::to_archive(&back, &prefix, ORG)
                    .unwrap_or_else(|e| panic!("written {back} does not parse: {e}"));
                let twice = serde_json::to_value(GenericBottle::from_archive(&again, 1)).unwrap();
                assert_eq!(twice, back);
                assert_eq!(again.effective_discard_date(), a.effective_discard_date());
            }
            Err(e) => assert_named(&e, &prefix),
        }
    }
});
