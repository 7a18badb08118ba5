//! The Yunnan data interface (seed 002 附件1, `spec/YUNNAN-API.md`) as pure data: parsing its
//! capitalised JSON into domain events and documents, and writing domain events back into it.
//!
//! Parsing is tolerant where the spec's own examples are sloppy (white space around codes and dates,
//! numbers sent as strings, `ThridId` as a number or a string, unknown extra properties) and strict
//! everywhere else: every error names the item and the property (`Items[1].GrossWeight`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::event::EventKind;
use crate::time::{Date, cst};

mod bottle;
mod counts;
mod reader;
mod registration;
mod trace;

pub use bottle::*;
pub use counts::*;
pub(crate) use reader::*;
pub use registration::*;
pub use trace::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventData;
    use serde_json::json;
    use uuid::Uuid;

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
    fn a_value_of_the_wrong_type_is_refused_naming_it() {
        // G4, E2: YUNNAN-API — a wrong type is `State` 1. `Machine` and `ThridId` are ints,
        // names are strings; none is taken for what it cannot mean.
        let fill = || {
            json!({"Items": [
            {"Barcode": "1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": "20200420195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 1}],
            "Factory": {"Name": "厂"}, "Man": {"Name": "张三"}})
        };
        assert!(parse_trace(TraceKind::Fill, &fill(), org(), now(), None).is_ok());
        for (pointer, bad, field) in [
            ("/Items/0/Machine", json!("x"), "Items[0].Machine"),
            ("/Items/0/Machine", json!(1.5), "Items[0].Machine"),
            ("/Items/0/ThridId", json!("abc"), "Items[0].ThridId"),
            ("/Items/0/ThridId", json!(2.5), "Items[0].ThridId"),
            ("/Man/Name", json!(7), "Man.Name"),
            ("/Factory/Name", json!(1.5), "Factory.Name"),
        ] {
            let mut v = fill();
            *v.pointer_mut(pointer).unwrap() = bad.clone();
            let e = parse_trace(TraceKind::Fill, &v, org(), now(), None).unwrap_err();
            assert_eq!(e.0[0].field, field, "{bad}: {e:?}");
        }
        // The spec's own examples send ints as strings; cyltrace's uplink sends a UUID.
        for (pointer, good) in [
            ("/Items/0/Machine", json!("3")),
            ("/Items/0/ThridId", json!("20489")),
            ("/Items/0/ThridId", json!(Uuid::from_u128(5).to_string())),
        ] {
            let mut v = fill();
            *v.pointer_mut(pointer).unwrap() = good.clone();
            assert!(
                parse_trace(TraceKind::Fill, &v, org(), now(), None).is_ok(),
                "{good}"
            );
        }
        // A scale known by a name goes up as `Machine` 0 and the name in `MachineNo`.
        let mut named = fill();
        named["Items"][0]["Machine"] = json!(0);
        named["Items"][0]["MachineNo"] = json!("CZ-01");
        let items = parse_trace(TraceKind::Fill, &named, org(), now(), None).unwrap();
        let item = trace_item(&items[0].event, None).unwrap();
        assert_eq!(
            (&item["Machine"], &item["MachineNo"]),
            (&json!(0), &json!("CZ-01"))
        );
        let EventData::Fill(f) = &items[0].event.data else {
            panic!()
        };
        assert_eq!(f.scale_no.as_str(), "CZ-01");
    }

    #[test]
    fn inspections_round_trip_through_the_extension() {
        let station = Uuid::from_u128(99);
        let data = json!({"Items": [{"Barcode": "1103007831", "Result": 0, "CheckDate": "20261101",
            "NextDate": "20301101", "ReportNo": "R-1", "Inspector": "王五", "ThridId": "7"}],
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
    fn an_upload_past_the_item_bound_is_refused_by_its_length_alone() {
        // Issue 22 (found fuzzing): a body's worth of items was read item by item (each ThridId
        // or Barcode compared with all before it: minutes) and answered one error per item.
        let items: Vec<serde_json::Value> =
            (0..=MAX_ITEMS).map(|i| json!({"ThridId": i})).collect();
        let data = json!({"Items": items, "Man": {"Name": "张三"}});
        for kind in TraceKind::ALL {
            let e = parse_trace(kind, &data, org(), now(), Some(org())).unwrap_err();
            let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
            assert!(
                !fields.iter().any(|f| f.starts_with("Items[")),
                "{kind:?}: {e}"
            );
            assert!(fields.contains(&"Items"), "{kind:?}: {e}");
        }
        let items: Vec<serde_json::Value> = (0..=MAX_ITEMS)
            .map(|i| json!({"Barcode": format!("{:010}", 1_103_000_000 + i)}))
            .collect();
        let e = RegistrationApply::parse(&json!({"ThirdId": 1, "Items": items})).unwrap_err();
        assert!(!e.0.iter().any(|f| f.field.starts_with("Items[")), "{e}");
        assert!(e.0.iter().any(|f| f.field == "Items"), "{e}");
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
