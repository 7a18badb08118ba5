//! The Yunnan data interface (seed 002 附件1, `spec/YUNNAN-API.md`) as pure data: parsing its
//! capitalised JSON into domain events and documents, and writing domain events back into it.
//!
//! Parsing is tolerant where the spec's own examples are sloppy (white space around codes and dates,
//! numbers sent as strings, `ThridId` as a number or a string, unknown extra properties) and strict
//! everywhere else: every error names the item and the property (`Items[1].GrossWeight`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::archive::{Archive, CylinderState, Registration, Valve};
use crate::codes::CylinderCode;
use crate::error::ValidationErrors;
use crate::event::{
    Check, CheckItems, CheckResult, CheckSummary, Event, EventData, EventKind, Fill,
};
use crate::time::{Date, MonthOrDate, Timestamp, cst};
use crate::units::{Kg, Litres, Mm, Mpa, Text};

/// Most items accepted in one upload.
pub const MAX_ITEMS: usize = 1000;

/// `yyyyMMdd` of a date.
pub fn ymd(d: Date) -> String {
    d.naive().format("%Y%m%d").to_string()
}

/// `yyyyMMddHHmmss` of an instant, in China Standard Time.
pub fn ymdhms(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y%m%d%H%M%S").to_string()
}

pub fn parse_ymd(s: &str) -> Result<Date, String> {
    let t = s.trim();
    if t.len() != 8 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "日期格式应为 yyyyMMdd，收到“{}”",
            crate::codes::truncate(t)
        ));
    }
    NaiveDate::parse_from_str(t, "%Y%m%d")
        .map(Date)
        .map_err(|_| format!("日期“{t}”不存在"))
}

/// An instant written `yyyyMMddHHmmss` in China Standard Time.
pub fn parse_ymdhms(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if t.len() != 14 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "时间格式应为 yyyyMMddHHmmss，收到“{}”",
            crate::codes::truncate(t)
        ));
    }
    let naive =
        NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M%S").map_err(|_| format!("时间“{t}”不存在"))?;
    cst()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("时间“{t}”不存在"))
}

/// The three trace uploads (§4–6) and their `BusinessCount` `Type` (§9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceKind {
    BeforeFill,
    Fill,
    AfterFill,
    /// cyltrace extension `/PS/GenericTrace/Inspection`: periodic inspection results (附件1 has no
    /// upload for them): items `{Barcode, Result (0 pass, 1 scrap), CheckDate, NextDate?, ReportNo,
    /// Inspector, ThridId}` and `Station: {Name}`.
    Inspection,
}

impl TraceKind {
    pub const ALL: [TraceKind; 4] = [
        TraceKind::BeforeFill,
        TraceKind::Fill,
        TraceKind::AfterFill,
        TraceKind::Inspection,
    ];

    pub fn event_kind(self) -> EventKind {
        match self {
            Self::BeforeFill => EventKind::PreFillCheck,
            Self::Fill => EventKind::Fill,
            Self::AfterFill => EventKind::PostFillCheck,
            Self::Inspection => EventKind::InspectionResult,
        }
    }

    pub fn of(kind: EventKind) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.event_kind() == kind)
    }

    /// The path below `/PS/GenericTrace/`.
    pub fn path(self) -> &'static str {
        match self {
            Self::BeforeFill => "BeforeFill",
            Self::Fill => "Fill",
            Self::AfterFill => "AfterFill",
            Self::Inspection => "Inspection",
        }
    }

    /// `BusinessCount.Type`: 1 pre-fill checks, 2 fills, 3 post-fill checks (4: inspections, an
    /// extension).
    pub fn count_type(self) -> i64 {
        match self {
            Self::BeforeFill => 1,
            Self::Fill => 2,
            Self::AfterFill => 3,
            Self::Inspection => 4,
        }
    }

    pub fn from_count_type(t: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.count_type() == t)
    }
}

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
                let machine = it.id("Machine", &mut errs);
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
    if items.len() > MAX_ITEMS {
        errs.push("Items", format!("一次最多上传 {MAX_ITEMS} 条"));
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
            // `Machine` is an int in the spec; a scale named otherwise is sent as it is.
            let machine = f
                .scale_no
                .as_str()
                .parse::<i64>()
                .map_or_else(|_| json!(f.scale_no.as_str()), |n| json!(n));
            m.insert("Machine".into(), machine);
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

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `BusinessCount` (§9): what an uploader says it sent in a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessCount {
    pub year: i32,
    pub month: u32,
    pub count: i64,
    pub kind: TraceKind,
}

impl BusinessCount {
    pub fn parse(data: &Value) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let root = Obj::root(data, &mut errs)?;
        let year = root.int("Year", &mut errs);
        let month = root.int("Month", &mut errs);
        let count = root.int("Count", &mut errs);
        let kind = root.int("Type", &mut errs);
        if year.is_some_and(|y| !(2000..=2100).contains(&y)) {
            errs.push("Year", "年份应在 2000 到 2100 之间");
        }
        if month.is_some_and(|m| !(1..=12).contains(&m)) {
            errs.push("Month", "月份应在 1 到 12 之间");
        }
        if count.is_some_and(|c| c < 0) {
            errs.push("Count", "数量不能为负数");
        }
        let kind = kind.and_then(|t| {
            let k = TraceKind::from_count_type(t);
            if k.is_none() {
                errs.push(
                    "Type",
                    format!("类型应为 1（充装前检查）、2（充装）或 3（充装后检查），收到 {t}"),
                );
            }
            k
        });
        let out = match (year, month, count, kind) {
            (Some(y), Some(m), Some(c), Some(k)) => Some(BusinessCount {
                year: y as i32,
                month: m as u32,
                count: c,
                kind: k,
            }),
            _ => None,
        };
        errs.into_result(out).map(|o| o.expect("no errors"))
    }

    pub fn to_json(&self) -> Value {
        json!({"Year": self.year, "Month": self.month, "Count": self.count, "Type": self.kind.count_type()})
    }

    /// The month as [from, to) instants on the China calendar.
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        month_range(self.year, self.month)
    }
}

/// The instants [first day 00:00, next month's first day 00:00) of a month in China Standard Time.
pub fn month_range(year: i32, month: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = |y: i32, m: u32| {
        let d = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN);
        cst()
            .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
            .single()
            .map_or(DateTime::<Utc>::MIN_UTC, |t| t.with_timezone(&Utc))
    };
    let (ny, nm) = if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (start(year, month), start(ny, nm))
}

/// A usage-registration application (§7.1 ApplyNew, §7.2 ApplyOld).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationApply {
    pub third_id: String,
    /// The cylinders' common data, as archives without codes.
    pub overview: Archive,
    /// `Overview.Factory`: the maker's id in the regulator's catalogue.
    pub factory_id: i64,
    pub remark: Option<String>,
    /// `PayImage`, `BatchImage`, `DeviceImage`: paths returned by `/PS/File/Upload`.
    pub images: [String; 3],
    pub items: Vec<ApplyItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyItem {
    pub code: CylinderCode,
    pub printno: Text,
    pub inner_no: Option<Text>,
}

impl RegistrationApply {
    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let root = Obj::root(body, &mut errs)?;
        let third_id = root.id("ThirdId", &mut errs);
        let ov = root.obj("Overview", &mut errs);
        let mut overview = Archive::blank(CylinderCode::parse("0000000000").expect("ten digits"));
        let mut factory_id = None;
        let mut remark = None;
        let mut images: [String; 3] = Default::default();
        if let Some(o) = &ov {
            overview.style = o.text("Style", &mut errs);
            overview.medium = o.text("Medium", &mut errs);
            factory_id = o.int("Factory", &mut errs);
            overview.manufacture_date = o.date("CreateDate", &mut errs).map(MonthOrDate::day);
            overview.discard_date = o.date("DiscardDate", &mut errs);
            overview.last_check_date = o.date("CheckDate", &mut errs);
            overview.next_check_date = o.date("NextDate", &mut errs);
            overview.tare_kg = o.kg("IdleWeight", &mut errs);
            remark = o.opt_str("Remark", &mut errs);
            overview.valve = o.int("Valve", &mut errs).and_then(|v| {
                match u8::try_from(v)
                    .map_err(|_| v.to_string())
                    .and_then(Valve::try_from)
                {
                    Ok(v) => Some(v),
                    Err(m) => {
                        errs.push(o.at("Valve"), m);
                        None
                    }
                }
            });
            for (slot, name) in images
                .iter_mut()
                .zip(["PayImage", "BatchImage", "DeviceImage"])
            {
                *slot = o.str(name, &mut errs).unwrap_or_default();
            }
            if let Err(e) = overview.validate() {
                // Archive field names back to the Overview's.
                for f in e.0 {
                    let name = match f.field.as_str() {
                        "next_check_date" => "NextDate",
                        "discard_date" => "DiscardDate",
                        "last_check_date" => "CheckDate",
                        _ => "IdleWeight",
                    };
                    errs.push(o.at(name), f.message);
                }
            }
        }
        let mut items = Vec::new();
        let list = root.array("Items", &mut errs);
        if list.is_empty() && root.has("Items") {
            errs.push("Items", "至少需要一个气瓶");
        }
        for (i, v) in list.iter().enumerate() {
            let Some(it) = Obj::new(v, format!("Items[{i}]"), &mut errs) else {
                continue;
            };
            let code = it.code("Barcode", &mut errs);
            let printno = it.text("Printno", &mut errs);
            let inner_no = it
                .opt_str("InnerNo", &mut errs)
                .and_then(|s| it.parse_text("InnerNo", &s, &mut errs));
            if let Some(c) = &code
                && let Some(j) = items.iter().position(|x: &ApplyItem| &x.code == c)
            {
                errs.push(
                    it.at("Barcode"),
                    format!("与 Items[{j}] 的气瓶条码 {c} 重复"),
                );
            }
            if let (Some(code), Some(printno)) = (code, printno) {
                items.push(ApplyItem {
                    code,
                    printno,
                    inner_no,
                });
            }
        }
        let out = match (third_id, factory_id) {
            (Some(third_id), Some(factory_id)) => Some(RegistrationApply {
                third_id,
                overview,
                factory_id,
                remark,
                images,
                items,
            }),
            _ => None,
        };
        errs.into_result(out).map(|o| o.expect("no errors"))
    }

    /// The archive of item `i` once registered with `registration`, owned by `owner`.
    pub fn archive(&self, i: usize, owner: Uuid, registration: Registration) -> Archive {
        let it = &self.items[i];
        let mut a = self.overview.clone();
        a.code = it.code.clone();
        a.factory_serial = Some(it.printno.clone());
        a.inner_no = it.inner_no.clone();
        a.owner_org_id = Some(owner);
        a.registration = Some(registration);
        a
    }
}

/// The 12-digit usage registration number (DOMAIN.md): variety (1 digit) + province (2) + user unit
/// (3) + sequence (6).
pub fn registration_number(variety: u8, province: &str, unit: u32, seq: u32) -> String {
    format!(
        "{}{:0>2}{:03}{:06}",
        variety % 10,
        &province[..province.len().min(2)],
        unit % 1000,
        seq % 1_000_000
    )
}

impl GenericBottle {
    /// The archive a `GenericBottle` record describes (as pulled from an upstream platform), owned
    /// by `owner`; the cyltrace extension properties `RegisterNo` and `Office` give the
    /// registration certificate.
    pub fn to_archive(v: &Value, prefix: &str, owner: Uuid) -> Result<Archive, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let Some(o) = Obj::new(v, prefix.to_owned(), &mut errs) else {
            return Err(errs);
        };
        let code = o.code("Barcode", &mut errs);
        let mut a = Archive::blank(
            code.unwrap_or_else(|| CylinderCode::parse("0000000000").expect("ten digits")),
        );
        let opt_text = |name: &str, errs: &mut ValidationErrors| {
            o.opt_str(name, errs)
                .filter(|s| !s.trim().is_empty())
                .and_then(|s| o.parse_text(name, &s, errs))
        };
        let opt_date = |name: &str, errs: &mut ValidationErrors| {
            o.opt_str(name, errs)
                .filter(|s| !s.trim().is_empty())
                .and_then(|s| o.date_of(name, &s, errs))
        };
        a.factory_serial = opt_text("Printno", &mut errs);
        a.inner_no = opt_text("InnerNo", &mut errs);
        a.style = opt_text("Style", &mut errs);
        a.medium = opt_text("Medium", &mut errs);
        a.manufacturer = opt_text("Factory", &mut errs);
        a.designer = opt_text("Designer", &mut errs);
        a.supervision_org = opt_text("Supervise", &mut errs);
        a.check_org = opt_text("Check", &mut errs);
        a.manufacture_date = opt_date("ProductDate", &mut errs).map(MonthOrDate::day);
        a.discard_date = opt_date("DiscardDate", &mut errs);
        a.last_check_date = opt_date("CheckDate", &mut errs);
        a.next_check_date = opt_date("NextDate", &mut errs);
        a.tare_kg = o
            .opt_num("IdleWeight", &mut errs)
            .and_then(|n| o.unit("IdleWeight", n, Kg::new, &mut errs));
        a.fill_limit_kg = o
            .opt_num("FillWeight", &mut errs)
            .and_then(|n| o.unit("FillWeight", n, Kg::new, &mut errs));
        a.working_pressure_mpa = o
            .opt_num("NominalPressure", &mut errs)
            .and_then(|n| o.unit("NominalPressure", n, Mpa::new, &mut errs));
        a.test_pressure_mpa = o
            .opt_num("WaterPressure", &mut errs)
            .and_then(|n| o.unit("WaterPressure", n, Mpa::new, &mut errs));
        a.volume_l = o
            .opt_num("Volumn", &mut errs)
            .and_then(|n| o.unit("Volumn", n, Litres::new, &mut errs));
        a.wall_thickness_mm = o
            .opt_num("Thickness", &mut errs)
            .and_then(|n| o.unit("Thickness", n, Mm::new, &mut errs));
        a.check_period_years = o.opt_num("CheckPeriod", &mut errs).map(|n| n as u8);
        a.life_years = o.opt_num("LifePeriod", &mut errs).map(|n| n as u8);
        a.valve = o
            .opt_num("Valve", &mut errs)
            .and_then(|n| Valve::try_from(n as u8).ok());
        a.state = match o.opt_num("State", &mut errs).map(|n| n as i64) {
            Some(1) => CylinderState::Locked,
            Some(2) => CylinderState::Scrapped,
            _ => CylinderState::Normal,
        };
        let reg_no = opt_text("RegisterNo", &mut errs);
        let office = opt_text("Office", &mut errs);
        let reg_date = o
            .opt_str("RegisterDate", &mut errs)
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| match parse_ymdhms(&s) {
                Ok(t) => Some(Date(crate::time::china_date(t))),
                Err(m) => {
                    errs.push(o.at("RegisterDate"), m);
                    None
                }
            });
        if let (Some(number), Some(date)) = (reg_no, reg_date) {
            a.registration = Some(Registration {
                number,
                date,
                authority: office.unwrap_or_else(|| Text::parse("登记机关").expect("text")),
            });
        }
        a.owner_org_id = Some(owner);
        errs.into_result(a)
    }
}

pub use crate::archive::GenericBottle;

/// A JSON object being read, with the path of its properties for errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Obj<'a> {
    fn root(v: &'a Value, errs: &mut ValidationErrors) -> Result<Self, ValidationErrors> {
        match Obj::new(v, String::new(), errs) {
            Some(o) => Ok(o),
            None => Err(std::mem::take(errs)),
        }
    }

    fn new(v: &'a Value, prefix: String, errs: &mut ValidationErrors) -> Option<Self> {
        match v.as_object() {
            Some(map) => Some(Obj { map, prefix }),
            None => {
                errs.push(prefix, "应为 JSON 对象");
                None
            }
        }
    }

    fn at(&self, name: &str) -> String {
        crate::error::join_path(&self.prefix, name)
    }

    fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn get(&self, name: &str, errs: &mut ValidationErrors) -> Option<&'a Value> {
        match self.map.get(name) {
            None => {
                errs.push(self.at(name), "缺少必填属性");
                None
            }
            Some(Value::Null) => {
                // The spec: an optional property is omitted, never null; a required one is a value.
                errs.push(self.at(name), "不能为 null");
                None
            }
            Some(v) => Some(v),
        }
    }

    fn obj(&self, name: &str, errs: &mut ValidationErrors) -> Option<Obj<'a>> {
        let v = self.get(name, errs)?;
        Obj::new(v, self.at(name), errs)
    }

    fn array(&self, name: &str, errs: &mut ValidationErrors) -> &'a [Value] {
        match self.get(name, errs) {
            Some(Value::Array(a)) => a,
            Some(_) => {
                errs.push(self.at(name), "类型错误：应为数组");
                &[]
            }
            None => &[],
        }
    }

    /// A string; a number is accepted as its decimal text (senders differ).
    fn str(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        match self.get(name, errs)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                errs.push(self.at(name), "类型错误：应为字符串");
                None
            }
        }
    }

    fn opt_str(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        if self.map.contains_key(name) {
            self.str(name, errs)
        } else {
            None
        }
    }

    fn parse_text(&self, name: &str, s: &str, errs: &mut ValidationErrors) -> Option<Text> {
        match Text::parse(s) {
            Ok(t) => Some(t),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    fn text(&self, name: &str, errs: &mut ValidationErrors) -> Option<Text> {
        let s = self.str(name, errs)?;
        self.parse_text(name, &s, errs)
    }

    fn code(&self, name: &str, errs: &mut ValidationErrors) -> Option<CylinderCode> {
        let s = self.str(name, errs)?;
        match CylinderCode::parse(&s) {
            Ok(c) => Some(c),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    /// An id: a non-empty string or an integer (`ThridId` is a bigint in the spec; cyltrace sends
    /// the event's UUID).
    fn id(&self, name: &str, errs: &mut ValidationErrors) -> Option<String> {
        match self.get(name, errs)? {
            Value::String(s) if !s.trim().is_empty() && s.trim().len() <= 64 => {
                Some(s.trim().to_owned())
            }
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => {
                errs.push(self.at(name), "应为整数或不超过 64 字符的非空字符串");
                None
            }
        }
    }

    fn num(&self, name: &str, errs: &mut ValidationErrors) -> Option<f64> {
        let v = self.get(name, errs)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                errs.push(self.at(name), "类型错误：应为数值");
                None
            }
        }
    }

    fn opt_num(&self, name: &str, errs: &mut ValidationErrors) -> Option<f64> {
        if self.map.contains_key(name) {
            self.num(name, errs)
        } else {
            None
        }
    }

    fn int(&self, name: &str, errs: &mut ValidationErrors) -> Option<i64> {
        let n = self.num(name, errs)?;
        if n.fract() != 0.0 || n.abs() > 9.0e15 {
            errs.push(self.at(name), "类型错误：应为整数");
            return None;
        }
        Some(n as i64)
    }

    fn unit<T>(
        &self,
        name: &str,
        n: f64,
        make: fn(f64) -> Result<T, String>,
        errs: &mut ValidationErrors,
    ) -> Option<T> {
        match make(n) {
            Ok(v) => Some(v),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    fn kg(&self, name: &str, errs: &mut ValidationErrors) -> Option<Kg> {
        let n = self.num(name, errs)?;
        self.unit(name, n, Kg::new, errs)
    }

    fn date_of(&self, name: &str, s: &str, errs: &mut ValidationErrors) -> Option<Date> {
        match parse_ymd(s) {
            Ok(d) => Some(d),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    fn date(&self, name: &str, errs: &mut ValidationErrors) -> Option<Date> {
        let s = self.str(name, errs)?;
        self.date_of(name, &s, errs)
    }

    fn time_of(&self, name: &str, s: &str, errs: &mut ValidationErrors) -> Option<DateTime<Utc>> {
        match parse_ymdhms(s) {
            Ok(t) => Some(t),
            Err(m) => {
                errs.push(self.at(name), m);
                None
            }
        }
    }

    /// `State` 0/1 and the optional `Remark` of a check.
    fn check(&self, errs: &mut ValidationErrors) -> Option<CheckSummary> {
        let result = match self.int("State", errs)? {
            0 => CheckResult::Pass,
            1 => CheckResult::Fail,
            other => {
                errs.push(
                    self.at("State"),
                    format!("检查结果应为 0（合格）或 1（不合格），收到 {other}"),
                );
                return None;
            }
        };
        let remark = self
            .opt_str("Remark", errs)
            .filter(|s| !s.is_empty())
            .and_then(|s| self.parse_text("Remark", &s, errs));
        Some(CheckSummary { result, remark })
    }

    fn leaf(&self, errs: &mut ValidationErrors) -> Option<LeafRef> {
        if !self.has("LedgerIndex") && !self.has("LeafHash") {
            return None;
        }
        let index = self.int("LedgerIndex", errs)?;
        let hash = self.str("LeafHash", errs)?;
        match unhex32(&hash) {
            Some(leaf_hash) if index >= 0 => Some(LeafRef { index, leaf_hash }),
            _ => {
                errs.push(
                    self.at("LeafHash"),
                    "应为非负 LedgerIndex 与 64 位十六进制 LeafHash",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Uuid {
        Uuid::from_u128(7)
    }

    fn now() -> DateTime<Utc> {
        parse_ymdhms("20260421120000").unwrap()
    }

    #[test]
    fn the_specs_examples_parse_with_their_sloppy_spaces() {
        // E2: §4 BeforeFill and §5 Fill examples (keys quoted to make them JSON).
        let before = json!({"Items": [
            {"Barcode": "1103007831", "State": 1, "Remark": "瓶体变形", "Date": "20200420195401", "ThridId": 20489},
            {"Barcode": "1103007832", "State": 0, "ThridId": 20490}],
            "Man": {"Name": "张三"}});
        let items = parse_trace(TraceKind::BeforeFill, &before, org(), now(), None).unwrap();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0].event.data, EventData::PreFillCheck(c) if !c.passed()));
        assert_eq!(items[0].event.time, parse_ymdhms("20200420195401").unwrap());
        assert_eq!(items[1].event.time, now());
        assert_eq!(items[0].thrid_id, "20489");
        assert_eq!(items[0].event.operator.as_ref().unwrap().as_str(), "张三");
        let fill = json!({"Items": [
            {"Barcode": " 1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": " 20200420195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 20490}],
            "Factory": {"Name": " 测试厂家"}, "Man": {"Name": " 张三"}});
        let items = parse_trace(TraceKind::Fill, &fill, org(), now(), None).unwrap();
        let EventData::Fill(f) = &items[0].event.data else {
            panic!()
        };
        assert_eq!(items[0].event.codes[0].as_str(), "1103007831");
        assert_eq!(f.scale_no.as_str(), "1");
        assert_eq!(items[0].event.device.as_ref().unwrap().as_str(), "测试厂家");
        // The same ThridId of the same uploader is the same event; another uploader's is not.
        let again = parse_trace(TraceKind::Fill, &fill, org(), now(), None).unwrap();
        assert_eq!(again[0].event.id, items[0].event.id);
        let other = parse_trace(TraceKind::Fill, &fill, Uuid::from_u128(8), now(), None).unwrap();
        assert_ne!(other[0].event.id, items[0].event.id);
    }

    #[test]
    fn bad_items_are_named_by_index_and_property() {
        let fill = json!({"Items": [
            {"Barcode": "1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": "20200420195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 1},
            {"Barcode": "11030", "IdleWeight": "x", "GrossWeight": 29.76, "NetWeight": 9.0,
             "BeginDate": "20200231195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 1}],
            "Man": {"Name": "张三"}});
        let e = parse_trace(TraceKind::Fill, &fill, org(), now(), None).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in [
            "Factory",
            "Items[1].Barcode",
            "Items[1].ThridId",
            "Items[1].IdleWeight",
            "Items[1].BeginDate",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let mut bad_net = fill.clone();
        bad_net["Items"].as_array_mut().unwrap().truncate(1);
        bad_net["Items"][0]["NetWeight"] = json!(12.0);
        bad_net["Factory"] = json!({"Name": "厂"});
        let e = parse_trace(TraceKind::Fill, &bad_net, org(), now(), None).unwrap_err();
        assert_eq!(e.0[0].field, "Items[0].NetWeight");
        let e = parse_trace(
            TraceKind::AfterFill,
            &json!({"Items": [{"Barcode": "1103007831", "State": 2, "ThridId": 1}], "Man": {"Name": "李"}}),
            org(),
            now(),
            None,
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "Items[0].State");
    }

    #[test]
    fn events_write_back_to_items_that_parse_to_the_same_facts() {
        let fill = json!({"Items": [
            {"Barcode": "1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": "20200420195401", "EndDate": "20200420195521", "Machine": 3, "ThridId": 5}],
            "Factory": {"Name": "厂"}, "Man": {"Name": "张三"}});
        let items = parse_trace(TraceKind::Fill, &fill, org(), now(), None).unwrap();
        let leaf = LeafRef {
            index: 42,
            leaf_hash: [7; 32],
        };
        let item = trace_item(&items[0].event, Some(leaf)).unwrap();
        assert_eq!(item["NetWeight"], json!(13.43));
        assert_eq!(item["Machine"], json!(3));
        let batch = trace_batch(TraceKind::Fill, vec![item], "张三", "厂");
        let back = parse_trace(TraceKind::Fill, &batch, org(), now(), None).unwrap();
        assert_eq!(back[0].event.data, items[0].event.data);
        assert_eq!(back[0].leaf, Some(leaf));
        assert_eq!(back[0].thrid_id, items[0].event.id.to_string());
    }

    #[test]
    fn inspections_round_trip_through_the_extension() {
        let station = Uuid::from_u128(99);
        let data = json!({"Items": [{"Barcode": "1103007831", "Result": 0, "CheckDate": "20261101",
            "NextDate": "20301101", "ReportNo": "R-1", "Inspector": "王五", "ThridId": "a"}],
            "Station": {"Name": "昆明检验站"}, "Man": {"Name": "王五"}});
        assert_eq!(station_name(&data), Some("昆明检验站"));
        let items = parse_trace(TraceKind::Inspection, &data, org(), now(), Some(station)).unwrap();
        let item = trace_item(&items[0].event, None).unwrap();
        let batch = trace_batch(TraceKind::Inspection, vec![item], "王五", "昆明检验站");
        let back = parse_trace(TraceKind::Inspection, &batch, org(), now(), Some(station)).unwrap();
        assert_eq!(back[0].event.data, items[0].event.data);
        let e = parse_trace(TraceKind::Inspection, &data, org(), now(), None).unwrap_err();
        assert_eq!(e.0[0].field, "Station.Name");
        let mut bad = data.clone();
        bad["Items"][0]["NextDate"] = json!("20250101");
        let e = parse_trace(TraceKind::Inspection, &bad, org(), now(), Some(station)).unwrap_err();
        assert_eq!(e.0[0].field, "Items[0].NextDate");
    }

    #[test]
    fn business_count_and_months() {
        let c = BusinessCount::parse(&json!({"Year": 2026, "Month": 12, "Count": 3, "Type": 2}))
            .unwrap();
        assert_eq!(c.kind, TraceKind::Fill);
        let (from, to) = c.range();
        assert_eq!(ymdhms(from), "20261201000000");
        assert_eq!(ymdhms(to), "20270101000000");
        let e = BusinessCount::parse(&json!({"Year": 2026, "Month": 13, "Count": 3, "Type": 5}))
            .unwrap_err();
        assert_eq!(e.0[0].field, "Month");
        assert_eq!(e.0[1].field, "Type");
    }

    #[test]
    fn registration_applications_parse_and_name_errors() {
        let body = json!({"ThirdId": 77, "Overview": {"Style": "YSP35.5", "Medium": "液化石油气", "Factory": 12,
            "CreateDate": "20250101", "DiscardDate": "20330101", "CheckDate": "20250101", "NextDate": "20290101",
            "IdleWeight": 16.5, "Remark": "新购", "Valve": 1, "PayImage": "files/a", "BatchImage": "files/b",
            "DeviceImage": "files/c"},
            "Items": [{"Barcode": "1103007831", "Printno": "1260419", "InnerNo": "XY1"}]});
        let a = RegistrationApply::parse(&body).unwrap();
        assert_eq!(a.third_id, "77");
        assert_eq!(a.items[0].code.as_str(), "1103007831");
        let mut bad = body.clone();
        bad["Overview"]["Valve"] = json!(9);
        bad["Items"][0]["Barcode"] = json!("x");
        let e = RegistrationApply::parse(&bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["Overview.Valve", "Items[0].Barcode"]);
        assert_eq!(registration_number(5, "53", 7, 4136), "553007004136");
    }

    #[test]
    fn generic_bottle_round_trips_through_an_archive() {
        let v = json!({"Barcode":"1103007831","Printno":"1260419","InnerNo":"XY60235",
            "Style":"YSP35.5","Valve":1,"ProductDate":"20140901","DiscardDate":"20220901","CheckDate":"20200401",
            "NextDate":"20240401","State":1,"IdleWeight":16.5,"FillWeight":14.5,"Medium":"液化石油气",
            "NominalPressure":1.6,"Volumn":35.5,"Thickness":2.5,"WaterPressure":2.4,"CheckPeriod":4,"LifePeriod":8,
            "Factory":"江苏特种设备生产有限公司","Designer":"江苏特种设备设计有限公司","Supervise":"江苏特种设备监督检验公司",
            "Check":"江苏特种设备检测有限公司","RegisterDate":"20201001000000",
            "RegisterNo":"537007004136","Office":"昆明市市场监督管理局","Id":10245});
        let a = GenericBottle::to_archive(&v, "[0]", org()).unwrap();
        let back = serde_json::to_value(GenericBottle::from_archive(&a, 10245)).unwrap();
        assert_eq!(back, v);
        let mut bad = v.clone();
        bad["NextDate"] = json!("2024-04-01");
        assert_eq!(
            GenericBottle::to_archive(&bad, "[3]", org()).unwrap_err().0[0].field,
            "[3].NextDate"
        );
    }
}
