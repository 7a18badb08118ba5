//! The trace uploads (§4–6: BeforeFill, Fill, AfterFill, and the Inspection extension): their
//! items as events of the uploading unit, and events written back as items.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ValidationErrors;
use crate::event::{Check, CheckItems, Event, EventData, EventKind, Fill};
use crate::time::{Timestamp, cst};
use crate::units::Text;

use super::*;

/// A lower node's ledger position of an uploaded record (cyltrace extension properties
/// `LedgerIndex`, `LeafHash`; other callers omit them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRef {
    pub index: i64,
    pub leaf_hash: [u8; 32],
}

/// One uploaded record, as an event of this node.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceItem {
    pub thrid_id: String,
    pub event: Event,
    pub leaf: Option<LeafRef>,
}

/// The event id of an upload: derived from the uploader's organisation, the kind and its `ThridId`,
/// so that the same record uploaded again is the same event (stored once).
pub fn event_id(org: Uuid, kind: EventKind, thrid_id: &str) -> Uuid {
    Uuid::new_v5(&org, format!("{}:{thrid_id}", kind.as_str()).as_bytes())
}

/// The inspection station an Inspection upload names (`Station.Name`), for the caller to resolve.
pub fn station_name(data: &Value) -> Option<&str> {
    data.get("Station")?.get("Name")?.as_str().map(str::trim)
}

/// Parses the `data` of BeforeFill / Fill / AfterFill / Inspection into events of `org`. `now`
/// stands in for an absent check `Date`; `station` is the organisation `Station.Name` resolved to
/// (Inspection only). All items or an error naming every bad property.
pub fn parse_trace(
    kind: TraceKind,
    data: &Value,
    org: Uuid,
    now: DateTime<Utc>,
    station: Option<Uuid>,
) -> Result<Vec<TraceItem>, ValidationErrors> {
    let mut errs = ValidationErrors::default();
    let root = Obj::root(data, &mut errs)?;
    let man = root
        .obj("Man", &mut errs)
        .and_then(|m| m.text("Name", &mut errs));
    let factory = if kind == TraceKind::Fill {
        root.obj("Factory", &mut errs)
            .and_then(|f| f.text("Name", &mut errs))
    } else {
        None
    };
    if kind == TraceKind::Inspection
        && root
            .obj("Station", &mut errs)
            .and_then(|s| s.text("Name", &mut errs))
            .is_some()
        && station.is_none()
    {
        errs.push("Station.Name", "本平台没有该检验机构");
    }
    let items = root.array("Items", &mut errs);
    if items.len() > MAX_ITEMS {
        // Refused by its length before any item is read (issue 22, found fuzzing): a body's worth
        // of items took minutes (each ThridId was compared with all before it) and answered one
        // error per item.
        errs.push("Items", format!("一次最多上传 {MAX_ITEMS} 条"));
        return Err(errs);
    }
    let mut out = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let Some(it) = Obj::new(v, format!("Items[{i}]"), &mut errs) else {
            continue;
        };
        let code = it.code("Barcode", &mut errs);
        let thrid = it.id("ThridId", &mut errs);
        if let Some(t) = &thrid {
            if let Some((_, first)) = seen.iter().find(|(s, _)| s == t) {
                errs.push(
                    it.at("ThridId"),
                    format!("与 Items[{first}] 的 ThridId 重复"),
                );
            }
            seen.push((t.clone(), i));
        }
        let leaf = it.leaf(&mut errs);
        let (data, time) = match kind {
            TraceKind::BeforeFill | TraceKind::AfterFill => {
                let summary = it.check(&mut errs);
                let time = match it.opt_str("Date", &mut errs) {
                    Some(s) => it.time_of("Date", &s, &mut errs),
                    None => Some(now),
                };
                let data = summary.map(|s| {
                    if kind == TraceKind::BeforeFill {
                        EventData::PreFillCheck(Check::Summary(s))
                    } else {
                        EventData::PostFillCheck(Check::Summary(s))
                    }
                });
                (data, time)
            }
            TraceKind::Fill => {
                let tare = it.kg("IdleWeight", &mut errs);
                let gross = it.kg("GrossWeight", &mut errs);
                let net = it.num("NetWeight", &mut errs);
                let begin = it
                    .str("BeginDate", &mut errs)
                    .and_then(|s| it.time_of("BeginDate", &s, &mut errs));
                let end = it
                    .str("EndDate", &mut errs)
                    .and_then(|s| it.time_of("EndDate", &s, &mut errs));
                // `Machine` is an int (the scale's number); a scale cyltrace knows by a name
                // travels as the extension `MachineNo` beside it.
                let machine = it.integer("Machine", &mut errs).and_then(|n| {
                    match it.opt_string("MachineNo", &mut errs) {
                        Some(name) => it
                            .parse_text("MachineNo", &name, &mut errs)
                            .map(|t| t.as_str().to_owned()),
                        None => Some(n.to_string()),
                    }
                });
                let mut data = None;
                if let (Some(tare), Some(gross), Some(net), Some(begin), Some(end), Some(m)) =
                    (tare, gross, net, begin, end, machine)
                {
                    if gross < tare {
                        errs.push(
                            it.at("GrossWeight"),
                            format!("毛重 {} kg 小于瓶重 {} kg", gross.get(), tare.get()),
                        );
                    } else if (gross.get() - tare.get() - net).abs() > 0.015 {
                        errs.push(
                            it.at("NetWeight"),
                            format!(
                                "净重 {net} kg 不等于毛重 {} kg − 瓶重 {} kg",
                                gross.get(),
                                tare.get()
                            ),
                        );
                    }
                    if end < begin {
                        errs.push(it.at("EndDate"), "结束时间早于开始时间");
                    }
                    match Text::parse(&m) {
                        Ok(scale_no) => {
                            data = Some(EventData::Fill(Fill {
                                scale_no,
                                begin: Timestamp(begin),
                                end: Timestamp(end),
                                tare_kg: tare,
                                gross_kg: gross,
                                medium: None,
                                batch: None,
                            }))
                        }
                        Err(e) => errs.push(it.at("Machine"), e),
                    }
                }
                (data, end)
            }
            TraceKind::Inspection => {
                let result = it.int("Result", &mut errs).and_then(|r| match r {
                    0 => Some(crate::event::Conclusion::Pass),
                    1 => Some(crate::event::Conclusion::Scrap),
                    _ => {
                        errs.push(it.at("Result"), "检验结论应为 0（合格）或 1（判废）");
                        None
                    }
                });
                let check = it.date("CheckDate", &mut errs);
                let next = it
                    .opt_str("NextDate", &mut errs)
                    .and_then(|s| it.date_of("NextDate", &s, &mut errs));
                let report = it.text("ReportNo", &mut errs);
                let inspector = it.text("Inspector", &mut errs);
                let mut data = None;
                if let (
                    Some(conclusion),
                    Some(check_date),
                    Some(report_no),
                    Some(inspector),
                    Some(st),
                ) = (result, check, report, inspector, station)
                {
                    let r = crate::event::InspectionResult {
                        conclusion,
                        check_date,
                        next_check_date: next,
                        report_no,
                        station_org_id: st,
                        inspector,
                        valve_replaced: None,
                        valve_maker: None,
                        remark: None,
                        report_file: None,
                    };
                    match EventData::parse(
                        EventKind::InspectionResult,
                        &serde_json::to_value(&r).unwrap_or_default(),
                        "",
                    ) {
                        Ok(d) => data = Some(d),
                        Err(e) => {
                            for f in e.0 {
                                let name = if f.field == "next_check_date" {
                                    "NextDate"
                                } else {
                                    "Result"
                                };
                                errs.push(it.at(name), f.message);
                            }
                        }
                    }
                }
                // An inspection happened on its day; the event stands at noon of it (China time).
                let time = check.map(|d| {
                    cst()
                        .from_local_datetime(&d.naive().and_hms_opt(12, 0, 0).unwrap_or_default())
                        .single()
                        .map_or(now, |t| t.with_timezone(&Utc))
                });
                (data, time)
            }
        };
        if let (Some(code), Some(thrid), Some(data), Some(time)) = (code, thrid, data, time) {
            out.push(TraceItem {
                event: Event {
                    id: event_id(org, kind.event_kind(), &thrid),
                    data,
                    codes: vec![code],
                    time,
                    site_id: None,
                    operator: man.clone(),
                    // The scale's maker (`Factory.Name`) is the device the fill was weighed on.
                    device: factory.clone(),
                    position: None,
                },
                thrid_id: thrid,
                leaf,
            });
        }
    }
    if items.is_empty() && root.has("Items") {
        errs.push("Items", "至少需要一条记录");
    }
    errs.into_result(out)
}

/// The names of check items, for the `Remark` of a failed item-by-item check.
fn failed_items<T: serde::Serialize>(items: &T, names: &[(&str, &str)]) -> String {
    let v = serde_json::to_value(items).unwrap_or(Value::Null);
    let failed: Vec<&str> = names
        .iter()
        .filter(|(k, _)| v.get(k) == Some(&Value::Bool(false)))
        .map(|(_, zh)| *zh)
        .collect();
    format!("不合格项：{}", failed.join("、"))
}

const PRE_ITEMS: &[(&str, &str)] = &[
    ("own_property", "非自有产权"),
    ("medium_matches", "介质不符"),
    ("no_cracks", "裂纹"),
    ("no_corrosion", "腐蚀"),
    ("no_deformation", "变形"),
    ("no_damage", "损伤"),
    ("inspection_valid", "超期未检"),
    ("valve_valid", "瓶阀不合格"),
    ("residual_pressure_ok", "余压异常"),
];

const POST_ITEMS: &[(&str, &str)] = &[
    ("fill_within_limit", "超装"),
    ("no_valve_neck_leak", "瓶阀瓶口泄漏"),
    ("no_valve_outlet_leak", "瓶阀出口泄漏"),
    ("no_bulge_or_defect", "鼓包或缺陷"),
    ("no_temperature_rise", "温升异常"),
];

fn check_item<T: CheckItems + serde::Serialize>(
    c: &Check<T>,
    names: &[(&str, &str)],
    item: &mut Map<String, Value>,
) {
    item.insert("State".into(), json!(if c.passed() { 0 } else { 1 }));
    let remark = match c {
        Check::Summary(s) => s.remark.as_ref().map(|r| r.as_str().to_owned()),
        Check::Items(t) if !c.passed() => Some(failed_items(t, names)),
        Check::Items(_) => None,
    };
    if let Some(r) = remark {
        item.insert("Remark".into(), json!(r));
    }
}

/// The upload item of an event of one of the three trace kinds (`None` for other kinds), with the
/// extension properties when `leaf` is given.
pub fn trace_item(e: &Event, leaf: Option<LeafRef>) -> Option<Value> {
    let mut m = Map::new();
    m.insert("Barcode".into(), json!(e.codes.first()?.as_str()));
    match &e.data {
        EventData::PreFillCheck(c) => {
            check_item(c, PRE_ITEMS, &mut m);
            m.insert("Date".into(), json!(ymdhms(e.time)));
        }
        EventData::PostFillCheck(c) => {
            check_item(c, POST_ITEMS, &mut m);
            m.insert("Date".into(), json!(ymdhms(e.time)));
        }
        EventData::InspectionResult(r) => {
            let pass = r.conclusion == crate::event::Conclusion::Pass;
            m.insert("Result".into(), json!(if pass { 0 } else { 1 }));
            m.insert("CheckDate".into(), json!(ymd(r.check_date)));
            if let Some(n) = r.next_check_date {
                m.insert("NextDate".into(), json!(ymd(n)));
            }
            m.insert("ReportNo".into(), json!(r.report_no.as_str()));
            m.insert("Inspector".into(), json!(r.inspector.as_str()));
        }
        EventData::Fill(f) => {
            m.insert("IdleWeight".into(), json!(f.tare_kg.get()));
            m.insert("GrossWeight".into(), json!(f.gross_kg.get()));
            m.insert(
                "NetWeight".into(),
                json!((f.net_kg() * 100.0).round() / 100.0),
            );
            m.insert("BeginDate".into(), json!(ymdhms(f.begin.utc())));
            m.insert("EndDate".into(), json!(ymdhms(f.end.utc())));
            // `Machine` is an int in the spec; a scale named otherwise is sent as 0 with its
            // name in the extension `MachineNo` (which a cyltrace upstream reads back).
            match f.scale_no.as_str().parse::<i64>() {
                Ok(n) => {
                    m.insert("Machine".into(), json!(n));
                }
                Err(_) => {
                    m.insert("Machine".into(), json!(0));
                    m.insert("MachineNo".into(), json!(f.scale_no.as_str()));
                }
            }
        }
        _ => return None,
    }
    m.insert("ThridId".into(), json!(e.id.to_string()));
    if let Some(l) = leaf {
        m.insert("LedgerIndex".into(), json!(l.index));
        m.insert("LeafHash".into(), json!(hex(&l.leaf_hash)));
    }
    Some(Value::Object(m))
}

/// The `data` of an upload: items of one kind checked/filled by one person (and, for fills, on
/// scales of one maker; for inspections, at one station: `factory` is then the station's name).
pub fn trace_batch(kind: TraceKind, items: Vec<Value>, man: &str, factory: &str) -> Value {
    let mut m = Map::new();
    m.insert("Items".into(), Value::Array(items));
    match kind {
        TraceKind::Fill => {
            m.insert("Factory".into(), json!({ "Name": factory }));
        }
        TraceKind::Inspection => {
            m.insert("Station".into(), json!({ "Name": factory }));
        }
        _ => {}
    }
    m.insert("Man".into(), json!({ "Name": man }));
    Value::Object(m)
}
