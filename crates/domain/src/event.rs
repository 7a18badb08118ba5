//! Events: the closed set of kinds of the v1 contract, each with typed, validated `data`
//! (EPCIS what/when/where/why/who: codes, time, site, operator, kind + data).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::archive::Registration;
use crate::codes::CylinderCode;
use crate::error::ValidationErrors;
use crate::org::check_position;
use crate::parse::from_value;
use crate::time::{Date, Timestamp};
use crate::units::{Kg, Text};

macro_rules! kinds {
    ($($variant:ident => $name:literal, $zh:literal;)*) => {
        /// The closed set of event kinds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum EventKind { $($variant),* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name),* }
            }

            /// The operation's name shown to users.
            pub fn label_zh(self) -> &'static str {
                match self { $(EventKind::$variant => $zh),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(EventKind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    TagBind => "tag_bind", "标签绑定";
    Register => "register", "使用登记";
    PreFillCheck => "pre_fill_check", "充装前检查";
    Fill => "fill", "充装";
    InFillCheck => "in_fill_check", "充装中检查";
    PostFillCheck => "post_fill_check", "充装后检查";
    StoreIn => "store_in", "入库";
    StoreOut => "store_out", "出库";
    Load => "load", "装车";
    Unload => "unload", "卸车";
    Deliver => "deliver", "配送交付";
    Recycle => "recycle", "空瓶回收";
    InspectionSend => "inspection_send", "送检";
    InspectionResult => "inspection_result", "定期检验";
    Scrap => "scrap", "报废";
    ArchiveChange => "archive_change", "档案变更";
    LabTest => "lab_test", "化验";
    Repair => "repair", "维修";
}

impl EventKind {
    /// Kinds that concern one cylinder at a time (a check or a fill is of one cylinder).
    pub fn single_code(self) -> bool {
        matches!(
            self,
            Self::TagBind
                | Self::Register
                | Self::PreFillCheck
                | Self::Fill
                | Self::InFillCheck
                | Self::PostFillCheck
                | Self::InspectionResult
                | Self::ArchiveChange
                | Self::Repair
        )
    }

    /// Kinds whose `site_id` is required (the warehouse of a store move, the station of a fill).
    pub fn needs_site(self) -> bool {
        matches!(self, Self::StoreIn | Self::StoreOut | Self::Fill)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TagBind {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_uid: Option<Text>,
}

/// Table C.2 items 2–12 (true = good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreFillCheck {
    pub own_property: bool,
    pub medium_matches: bool,
    pub no_cracks: bool,
    pub no_corrosion: bool,
    pub no_deformation: bool,
    pub no_damage: bool,
    pub inspection_valid: bool,
    pub valve_valid: bool,
    pub residual_pressure_ok: bool,
}

impl PreFillCheck {
    pub fn passed(&self) -> bool {
        self.own_property
            && self.medium_matches
            && self.no_cracks
            && self.no_corrosion
            && self.no_deformation
            && self.no_damage
            && self.inspection_valid
            && self.valve_valid
            && self.residual_pressure_ok
    }
}

/// Table C.1: one fill on one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fill {
    pub scale_no: Text,
    pub begin: Timestamp,
    pub end: Timestamp,
    pub tare_kg: Kg,
    pub gross_kg: Kg,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Text>,
}

impl Fill {
    /// Net mass filled: gross − tare.
    pub fn net_kg(&self) -> f64 {
        self.gross_kg.get() - self.tare_kg.get()
    }

    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.gross_kg < self.tare_kg {
            errs.push(
                "gross_kg",
                format!(
                    "充装后重量 {} kg 小于充装前重量 {} kg",
                    self.gross_kg.get(),
                    self.tare_kg.get()
                ),
            );
        }
        if self.end < self.begin {
            errs.push("end", "充装结束时间早于开始时间");
        }
        errs.into_result(())
    }
}

/// Table C.2 items 13–17 (true = good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InFillCheck {
    pub no_abnormal_sound: bool,
    pub no_seal_leak: bool,
    pub wall_temperature_normal: bool,
    pub no_other_abnormality: bool,
}

impl InFillCheck {
    pub fn passed(&self) -> bool {
        self.no_abnormal_sound
            && self.no_seal_leak
            && self.wall_temperature_normal
            && self.no_other_abnormality
    }
}

/// Table C.2 items 18–24 (true = good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostFillCheck {
    pub fill_within_limit: bool,
    pub no_valve_neck_leak: bool,
    pub no_valve_outlet_leak: bool,
    pub no_bulge_or_defect: bool,
    pub no_temperature_rise: bool,
}

impl PostFillCheck {
    pub fn passed(&self) -> bool {
        self.fill_within_limit
            && self.no_valve_neck_leak
            && self.no_valve_outlet_leak
            && self.no_bulge_or_defect
            && self.no_temperature_rise
    }
}

/// A check's overall result, as the Yunnan interface reports it (`State` 0 pass, 1 fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    Fail,
}

/// A check reported as a result and a remark only (an upload through `/PS`, which carries no
/// item-by-item record): `{"result": "pass"|"fail", "remark"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSummary {
    pub result: CheckResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

/// A pre- or post-fill check: item by item (table C.2, what stations record), or as a summary (what
/// a lower platform reports). The item form serialises exactly as the item struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Check<T> {
    Items(T),
    Summary(CheckSummary),
}

/// The item structs of checks.
pub trait CheckItems {
    fn passed(&self) -> bool;
}

impl CheckItems for PreFillCheck {
    fn passed(&self) -> bool {
        PreFillCheck::passed(self)
    }
}

impl CheckItems for PostFillCheck {
    fn passed(&self) -> bool {
        PostFillCheck::passed(self)
    }
}

impl<T: CheckItems> Check<T> {
    pub fn passed(&self) -> bool {
        match self {
            Check::Items(t) => t.passed(),
            Check::Summary(s) => s.result == CheckResult::Pass,
        }
    }

    pub fn remark(&self) -> Option<&Text> {
        match self {
            Check::Items(_) => None,
            Check::Summary(s) => s.remark.as_ref(),
        }
    }
}

impl<T: serde::de::DeserializeOwned> Check<T> {
    /// The summary form when `data` has a `result`, else the item form (so that a missing item is
    /// named, not "no variant matched").
    fn parse(data: &Value, prefix: &str) -> Result<Self, ValidationErrors> {
        if data.get("result").is_some() {
            Ok(Check::Summary(from_value(data, prefix)?))
        } else {
            Ok(Check::Items(from_value(data, prefix)?))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreMove {
    pub full: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VehicleMove {
    pub vehicle: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waybill: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deliver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Text>,
    /// How the customer confirmed the handover (C3): the order's handover code or an e-signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub confirmation: Option<crate::circulation::Confirmation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Text>,
    /// The recycling order (回收单, C4) this return confirms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recycling_order_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InspectionSend {
    pub station_org_id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Conclusion {
    Pass,
    Scrap,
}

/// Table D.1: the result of a periodic inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InspectionResult {
    pub conclusion: Conclusion,
    pub check_date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_date: Option<Date>,
    pub report_no: Text,
    pub station_org_id: Uuid,
    pub inspector: Text,
    /// Table D.1: the valve was replaced at the inspection, and by whose valve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valve_replaced: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valve_maker: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
    /// The SM3 (hex) of the inspection report PDF the station issued (stored as a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_file: Option<String>,
}

impl InspectionResult {
    /// The rules of table D.1 between the fields (a pass names the next date, a scrap none …).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match (self.conclusion, self.next_check_date) {
            (Conclusion::Pass, None) => {
                errs.push("next_check_date", "检验合格时必须给出下次检验日期")
            }
            (Conclusion::Pass, Some(next)) if next <= self.check_date => {
                errs.push("next_check_date", "下次检验日期必须晚于本次检验日期")
            }
            (Conclusion::Scrap, Some(_)) => {
                errs.push("next_check_date", "判废的气瓶不应有下次检验日期")
            }
            _ => {}
        }
        match (self.valve_replaced, &self.valve_maker) {
            (Some(true), None) => errs.push("valve_maker", "更换阀门时须填写阀门制造单位"),
            (Some(false) | None, Some(_)) => {
                errs.push("valve_maker", "未更换阀门时不应填写阀门制造单位")
            }
            _ => {}
        }
        if let Some(f) = &self.report_file
            && !crate::circulation::is_file_hash(f)
        {
            errs.push("report_file", "应为已上传文件的 SM3 值（64 位十六进制）");
        }
        errs.into_result(())
    }
}

/// Scrapping (D4): the reason, and the destruction record when the cylinder was destroyed
/// (method, time, photos as uploaded files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scrap {
    pub reason: Text,
    /// e.g. 压扁, 切割, 钻孔
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destruction_method: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<String>,
}

/// A correction of the archive (`PATCH /api/v1/cylinders/{code}`): every changed field with its
/// old and new value, and why (A1, A10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArchiveChange {
    pub changes: std::collections::BTreeMap<String, crate::archive::FieldChange>,
    pub reason: Text,
}

impl ArchiveChange {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.changes.is_empty() {
            errs.push("changes", "没有要修改的字段");
        }
        for f in self.changes.keys() {
            if !crate::archive::CHANGEABLE_FIELDS.contains(&f.as_str()) {
                errs.push(format!("changes.{f}"), "不是可修改的气瓶档案字段");
            }
        }
        errs.into_result(())
    }

    /// The new value of `field`, when the change names it.
    pub fn to(&self, field: &str) -> Option<&Value> {
        self.changes.get(field).map(|c| &c.to)
    }
}

/// An event's kind together with its typed data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventData {
    TagBind(TagBind),
    Register(Registration),
    PreFillCheck(Check<PreFillCheck>),
    Fill(Fill),
    InFillCheck(InFillCheck),
    PostFillCheck(Check<PostFillCheck>),
    StoreIn(StoreMove),
    StoreOut(StoreMove),
    Load(VehicleMove),
    Unload(VehicleMove),
    Deliver(Deliver),
    Recycle(Recycle),
    InspectionSend(InspectionSend),
    InspectionResult(InspectionResult),
    Scrap(Scrap),
    ArchiveChange(ArchiveChange),
    LabTest(crate::workshop::LabTest),
    Repair(crate::workshop::Repair),
}

impl EventData {
    /// Parses and validates `data` for `kind`; errors are named below `prefix` (e.g. `events[2].data`).
    pub fn parse(kind: EventKind, data: &Value, prefix: &str) -> Result<Self, ValidationErrors> {
        use EventKind as K;
        let d = match kind {
            K::TagBind => Self::TagBind(from_value(data, prefix)?),
            K::Register => Self::Register(from_value(data, prefix)?),
            K::PreFillCheck => Self::PreFillCheck(Check::parse(data, prefix)?),
            K::Fill => {
                let f: Fill = from_value(data, prefix)?;
                f.validate().map_err(|e| under(prefix, e))?;
                Self::Fill(f)
            }
            K::InFillCheck => Self::InFillCheck(from_value(data, prefix)?),
            K::PostFillCheck => Self::PostFillCheck(Check::parse(data, prefix)?),
            K::StoreIn => Self::StoreIn(from_value(data, prefix)?),
            K::StoreOut => Self::StoreOut(from_value(data, prefix)?),
            K::Load => Self::Load(from_value(data, prefix)?),
            K::Unload => Self::Unload(from_value(data, prefix)?),
            K::Deliver => Self::Deliver(from_value(data, prefix)?),
            K::Recycle => Self::Recycle(from_value(data, prefix)?),
            K::InspectionSend => Self::InspectionSend(from_value(data, prefix)?),
            K::InspectionResult => {
                let r: InspectionResult = from_value(data, prefix)?;
                r.validate().map_err(|e| under(prefix, e))?;
                Self::InspectionResult(r)
            }
            K::Scrap => Self::Scrap(from_value(data, prefix)?),
            K::ArchiveChange => {
                let c: ArchiveChange = from_value(data, prefix)?;
                c.validate().map_err(|e| under(prefix, e))?;
                Self::ArchiveChange(c)
            }
            K::LabTest => {
                let t: crate::workshop::LabTest = from_value(data, prefix)?;
                t.validate().map_err(|e| under(prefix, e))?;
                Self::LabTest(t)
            }
            K::Repair => {
                let r: crate::workshop::Repair = from_value(data, prefix)?;
                r.validate().map_err(|e| under(prefix, e))?;
                Self::Repair(r)
            }
        };
        Ok(d)
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Self::TagBind(_) => EventKind::TagBind,
            Self::Register(_) => EventKind::Register,
            Self::PreFillCheck(_) => EventKind::PreFillCheck,
            Self::Fill(_) => EventKind::Fill,
            Self::InFillCheck(_) => EventKind::InFillCheck,
            Self::PostFillCheck(_) => EventKind::PostFillCheck,
            Self::StoreIn(_) => EventKind::StoreIn,
            Self::StoreOut(_) => EventKind::StoreOut,
            Self::Load(_) => EventKind::Load,
            Self::Unload(_) => EventKind::Unload,
            Self::Deliver(_) => EventKind::Deliver,
            Self::Recycle(_) => EventKind::Recycle,
            Self::InspectionSend(_) => EventKind::InspectionSend,
            Self::InspectionResult(_) => EventKind::InspectionResult,
            Self::Scrap(_) => EventKind::Scrap,
            Self::ArchiveChange(_) => EventKind::ArchiveChange,
            Self::LabTest(_) => EventKind::LabTest,
            Self::Repair(_) => EventKind::Repair,
        }
    }

    /// The `data` object alone, as JSON.
    pub fn data_json(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// The uploaded files the event names (SM3 hex), each with its field relative to the event:
    /// a scrapping's photos and an inspection's report. They must be files the recorder may use.
    pub fn file_references(&self) -> Vec<(String, &str)> {
        match self {
            Self::Scrap(s) => s
                .photos
                .iter()
                .enumerate()
                .map(|(i, h)| (format!("data.photos[{i}]"), h.as_str()))
                .collect(),
            Self::InspectionResult(r) => r
                .report_file
                .iter()
                .map(|f| ("data.report_file".to_owned(), f.as_str()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Organisations the event names (inspection stations), which must exist.
    pub fn referenced_org(&self) -> Option<Uuid> {
        match self {
            Self::InspectionSend(s) => Some(s.station_org_id),
            Self::InspectionResult(r) => Some(r.station_org_id),
            _ => None,
        }
    }
}

fn under(prefix: &str, e: ValidationErrors) -> ValidationErrors {
    let mut out = ValidationErrors::default();
    out.extend_under(prefix, e);
    out
}

/// Where an event happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// One event as the platform keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Chosen by the client: the idempotency key.
    pub id: Uuid,
    pub data: EventData,
    pub codes: Vec<CylinderCode>,
    /// When it happened (an offline handheld sends the past).
    pub time: DateTime<Utc>,
    pub site_id: Option<Uuid>,
    pub operator: Option<Text>,
    pub device: Option<Text>,
    pub position: Option<Position>,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.data.kind()
    }
}

/// The wire form of an event in `POST /api/v1/events` before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    id: Uuid,
    kind: String,
    codes: Vec<CylinderCode>,
    time: Timestamp,
    #[serde(default)]
    site_id: Option<Uuid>,
    #[serde(default)]
    operator: Option<Text>,
    #[serde(default)]
    device: Option<Text>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    data: Value,
}

/// Longest list of codes one event may carry (a truck load).
pub const MAX_CODES_PER_EVENT: usize = 1000;

impl Event {
    /// Parses one event of the wire form, naming errors below `prefix` (e.g. `events[2]`).
    pub fn parse(value: &Value, prefix: &str) -> Result<Self, ValidationErrors> {
        let raw: RawEvent = from_value(value, prefix)?;
        let p = |f: &str| crate::error::join_path(prefix, f);
        let kind = EventKind::parse(&raw.kind).ok_or_else(|| {
            let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            ValidationErrors::one(
                p("kind"),
                format!(
                    "未知的事件类型“{}”，允许：{}",
                    crate::codes::truncate(&raw.kind),
                    all.join(", ")
                ),
            )
        })?;
        let mut errs = ValidationErrors::default();
        let data = match EventData::parse(kind, &raw.data, &p("data")) {
            Ok(d) => Some(d),
            Err(e) => {
                errs.0.extend(e.0);
                None
            }
        };
        if raw.codes.is_empty() {
            errs.push(p("codes"), "至少需要一个气瓶编码");
        } else if kind.single_code() && raw.codes.len() > 1 {
            errs.push(
                p("codes"),
                format!("“{}”事件只能针对一个气瓶", kind.label_zh()),
            );
        } else if raw.codes.len() > MAX_CODES_PER_EVENT {
            errs.push(
                p("codes"),
                format!("一个事件最多 {MAX_CODES_PER_EVENT} 个气瓶"),
            );
        }
        // Repeated codes, in a list within bounds: a longer one is refused whole above and not
        // searched (a body's worth of codes, ~600,000, took minutes when each was compared with
        // all before it; issue 22, found fuzzing).
        if raw.codes.len() <= MAX_CODES_PER_EVENT {
            let mut seen = std::collections::HashSet::with_capacity(raw.codes.len());
            for (i, c) in raw.codes.iter().enumerate() {
                if !seen.insert(c) {
                    errs.push(format!("{}[{i}]", p("codes")), format!("气瓶编码 {c} 重复"));
                }
            }
        }
        if kind.needs_site() && raw.site_id.is_none() {
            errs.push(
                p("site_id"),
                format!("“{}”事件必须给出地点 site_id", kind.label_zh()),
            );
        }
        if let Some(r) = crate::plausible::absurd_time(raw.time.utc()) {
            errs.push(p("time"), r);
        }
        let mut pos_errs = ValidationErrors::default();
        check_position(raw.lat, raw.lon, &mut pos_errs);
        errs.extend_under(prefix, pos_errs);
        let data = errs
            .into_result(data)?
            .expect("no errors means data parsed");
        Ok(Event {
            id: raw.id,
            data,
            codes: raw.codes,
            time: raw.time.utc(),
            site_id: raw.site_id,
            operator: raw.operator,
            device: raw.device,
            position: raw.lat.zip(raw.lon).map(|(lat, lon)| Position { lat, lon }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, data: Value) -> Value {
        json!({"id": Uuid::nil(), "kind": kind, "codes": ["1103007831"], "time": "2026-11-21T08:00:00+08:00",
               "site_id": Uuid::nil(), "data": data})
    }

    fn sample_data(kind: EventKind) -> Value {
        use EventKind as K;
        match kind {
            K::TagBind => json!({"tag_uid": "E2000017221101441890"}),
            K::Register => {
                json!({"number": "537007004136", "date": "2020-10-01", "authority": "昆明市市场监督管理局"})
            }
            K::PreFillCheck => {
                json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true,
                "no_deformation": true, "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true})
            }
            K::Fill => {
                json!({"scale_no": "S1", "begin": "2026-11-21T08:00:00+08:00", "end": "2026-11-21T08:02:00+08:00",
                "tare_kg": 16.5, "gross_kg": 31.0})
            }
            K::InFillCheck => {
                json!({"no_abnormal_sound": true, "no_seal_leak": true, "wall_temperature_normal": true, "no_other_abnormality": true})
            }
            K::PostFillCheck => {
                json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true,
                "no_bulge_or_defect": true, "no_temperature_rise": true})
            }
            K::StoreIn | K::StoreOut => json!({"full": true}),
            K::Load | K::Unload => json!({"vehicle": "云A12345", "waybill": "W1"}),
            K::Deliver => json!({"customer_id": "C1"}),
            K::Recycle => json!({}),
            K::InspectionSend => json!({"station_org_id": Uuid::nil()}),
            K::InspectionResult => {
                json!({"conclusion": "pass", "check_date": "2026-11-01", "next_check_date": "2030-11-01",
                "report_no": "R1", "station_org_id": Uuid::nil(), "inspector": "张三"})
            }
            K::Scrap => json!({"reason": "腐蚀严重"}),
            K::ArchiveChange => {
                json!({"changes": {"tare_kg": {"from": 16.5, "to": 15.2}}, "reason": "复称皮重"})
            }
            K::LabTest => {
                json!({"sample_no": "S-20261121-1", "medium": "LPG", "result": "pass", "tester": "李工",
                "composition": {"丙烷": 62.5, "丁烷": 36.0}})
            }
            K::Repair => {
                json!({"items": "更换瓶阀", "valve_replaced": true, "valve_maker": "宁波阀门厂", "repairer": "王师傅"})
            }
        }
    }

    #[test]
    fn every_kind_parses_its_sample_and_rejects_unknown_data_fields() {
        for &k in EventKind::ALL {
            let e = Event::parse(&event(k.as_str(), sample_data(k)), "events[0]")
                .unwrap_or_else(|e| panic!("{k:?}: {e}"));
            assert_eq!(e.kind(), k);
            // The stored data round-trips.
            assert_eq!(
                EventData::parse(k, &e.data.data_json(), "").unwrap(),
                e.data
            );
            let mut d = sample_data(k);
            d["unexpected"] = json!(1);
            let err = Event::parse(&event(k.as_str(), d), "events[0]").unwrap_err();
            assert_eq!(err.0[0].field, "events[0].data.unexpected", "{k:?}");
        }
    }

    #[test]
    fn every_kind_with_a_required_field_names_it_when_missing() {
        for &k in EventKind::ALL {
            let Value::Object(m) = sample_data(k) else {
                unreachable!()
            };
            for field in m.keys() {
                let mut d = m.clone();
                d.remove(field);
                if let Err(e) = Event::parse(&event(k.as_str(), Value::Object(d)), "events[3]") {
                    assert!(
                        e.0.iter()
                            .any(|f| f.field == format!("events[3].data.{field}")),
                        "{k:?} {field}: {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn fill_gross_below_tare_and_negative_weight() {
        let mut d = sample_data(EventKind::Fill);
        d["gross_kg"] = json!(10.0);
        let e = Event::parse(&event("fill", d), "events[2]").unwrap_err();
        assert_eq!(e.0[0].field, "events[2].data.gross_kg");
        let mut d = sample_data(EventKind::Fill);
        d["tare_kg"] = json!(-1);
        let e = Event::parse(&event("fill", d), "events[2]").unwrap_err();
        assert_eq!(e.0[0].field, "events[2].data.tare_kg");
    }

    #[test]
    fn unknown_kind_bad_code_and_impossible_date() {
        let e = Event::parse(&event("teleport", json!({})), "events[0]").unwrap_err();
        assert_eq!(e.0[0].field, "events[0].kind");
        let mut v = event("scrap", sample_data(EventKind::Scrap));
        v["codes"] = json!(["12345"]);
        assert_eq!(
            Event::parse(&v, "events[1]").unwrap_err().0[0].field,
            "events[1].codes[0]"
        );
        let mut d = sample_data(EventKind::Register);
        d["date"] = json!("2023-02-29");
        assert_eq!(
            Event::parse(&event("register", d), "e").unwrap_err().0[0].field,
            "e.data.date"
        );
    }

    #[test]
    fn single_code_kinds_refuse_many_codes_and_store_moves_need_a_site() {
        let mut v = event("fill", sample_data(EventKind::Fill));
        v["codes"] = json!(["1103007831", "1103007832"]);
        assert_eq!(Event::parse(&v, "").unwrap_err().0[0].field, "codes");
        let mut v = event("store_in", sample_data(EventKind::StoreIn));
        v.as_object_mut().unwrap().remove("site_id");
        assert_eq!(Event::parse(&v, "").unwrap_err().0[0].field, "site_id");
    }

    #[test]
    fn repeated_codes_are_named_and_an_overlong_list_is_refused_whole() {
        // G5: a code twice in one event is named where it repeats.
        let mut v = event("load", sample_data(EventKind::Load));
        v["codes"] = json!(["1103007831", "1103007832", "1103007831"]);
        let e = Event::parse(&v, "events[0]").unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "events[0].codes[2]");
        // Issue 22 (found fuzzing): a list past the bound is refused by its length alone, not
        // searched for repeats (that search was quadratic: minutes for a body of codes).
        v["codes"] = json!(vec!["1103007831"; MAX_CODES_PER_EVENT + 1]);
        let e = Event::parse(&v, "events[0]").unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["events[0].codes"], "{e}");
    }

    #[test]
    fn checks_parse_items_or_a_summary() {
        let e = Event::parse(
            &event(
                "pre_fill_check",
                json!({"result": "fail", "remark": "瓶体变形"}),
            ),
            "",
        )
        .unwrap();
        let EventData::PreFillCheck(c) = &e.data else {
            unreachable!()
        };
        assert!(!c.passed());
        assert_eq!(c.remark().unwrap().as_str(), "瓶体变形");
        assert_eq!(
            EventData::parse(EventKind::PreFillCheck, &e.data.data_json(), "").unwrap(),
            e.data
        );
        // Stored summaries decode through serde too (the untagged form).
        let back: EventData =
            serde_json::from_value(json!({"kind": "post_fill_check", "data": {"result": "pass"}}))
                .unwrap();
        assert!(matches!(back, EventData::PostFillCheck(Check::Summary(_))));
        let err =
            Event::parse(&event("pre_fill_check", json!({"result": "maybe"})), "").unwrap_err();
        assert_eq!(err.0[0].field, "data.result");
        let err = Event::parse(
            &event("post_fill_check", json!({"fill_within_limit": true})),
            "",
        )
        .unwrap_err();
        assert_eq!(err.0[0].field, "data.no_valve_neck_leak");
    }

    #[test]
    fn inspection_pass_needs_a_later_next_date() {
        let mut d = sample_data(EventKind::InspectionResult);
        d["next_check_date"] = json!("2026-10-01");
        assert_eq!(
            Event::parse(&event("inspection_result", d), "")
                .unwrap_err()
                .0[0]
                .field,
            "data.next_check_date"
        );
    }
}
