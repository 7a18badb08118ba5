//! The cylinder archive (一瓶一档): every field of table A.1 (seed 000 App. A) and of the Yunnan
//! `GenericBottle` record (seed 002 附件1 §2) — requirements A1, A3, A10.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::{CylinderCode, RegionCode};
use crate::error::ValidationErrors;
use crate::time::{Date, MonthOrDate};
use crate::units::{Kg, Litres, Mm, Mpa, Text};

/// Yunnan `Valve`: 1 angle valve liquid phase, 2 angle valve gas phase, 3 straight valve gas phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Valve {
    AngleLiquid = 1,
    AngleGas = 2,
    StraightGas = 3,
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Valve {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(3))
            .description(Some("1 角阀液相, 2 角阀气相, 3 直阀气相"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Valve {}

impl TryFrom<u8> for Valve {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            1 => Ok(Self::AngleLiquid),
            2 => Ok(Self::AngleGas),
            3 => Ok(Self::StraightGas),
            _ => Err(format!(
                "阀门类型应为 1（角阀液相）、2（角阀气相）或 3（直阀气相），收到 {v}"
            )),
        }
    }
}

impl From<Valve> for u8 {
    fn from(v: Valve) -> u8 {
        v as u8
    }
}

/// Yunnan `State`: normal, locked or scrapped (A10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CylinderState {
    #[default]
    Normal,
    Locked,
    Scrapped,
}

impl CylinderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Locked => "locked",
            Self::Scrapped => "scrapped",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Normal => "正常",
            Self::Locked => "锁定",
            Self::Scrapped => "已报废",
        }
    }

    /// The Yunnan integer form (0 normal, 1 locked, 2 scrapped).
    pub fn yunnan(self) -> i32 {
        match self {
            Self::Normal => 0,
            Self::Locked => 1,
            Self::Scrapped => 2,
        }
    }
}

/// Usage registration (使用登记): certificate number, date and registering authority (A3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    pub number: Text,
    pub date: Date,
    pub authority: Text,
}

/// One cylinder's archive. Field names are the v1 contract's; the table A.1 item and the Yunnan name
/// of each are in the comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Archive {
    /// A.1 #1 气瓶唯一性瓶号 · Barcode
    pub code: CylinderCode,
    /// Region of the QR form (6 + 10 digits); defaults to the owner's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_code: Option<RegionCode>,
    /// 出厂编号 · Printno
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_serial: Option<Text>,
    /// 单位内编号 · InnerNo
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_no: Option<Text>,
    /// 规格型号 · Style (YSP35.5 …)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Text>,
    /// Valve
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valve: Option<Valve>,
    /// A.1 #2 充装介质 · Medium
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<Text>,
    /// A.1 #3 气瓶质量 (kg) · IdleWeight
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tare_kg: Option<Kg>,
    /// A.1 #8 允许充装量 (kg) · FillWeight
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_limit_kg: Option<Kg>,
    /// A.1 #4 公称容积 (L) · Volumn
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_l: Option<Litres>,
    /// A.1 #5 公称工作压力 (MPa) · NominalPressure
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_pressure_mpa: Option<Mpa>,
    /// A.1 #6 水压试验压力 (MPa) · WaterPressure
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_pressure_mpa: Option<Mpa>,
    /// A.1 #7 设计壁厚 (mm) · Thickness
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_thickness_mm: Option<Mm>,
    /// A.1 #9 设计使用年限 · LifePeriod
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub life_years: Option<u8>,
    /// 检验周期 · CheckPeriod
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_period_years: Option<u8>,
    /// A.1 #10 制造单位 · Factory
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<Text>,
    /// A.1 #11 制造年月 · ProductDate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacture_date: Option<MonthOrDate>,
    /// A.1 #12 产品标准
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_standard: Option<Text>,
    /// A.1 #13 制造许可证编号
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacture_licence: Option<Text>,
    /// 设计单位 · Designer
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designer: Option<Text>,
    /// 监督检验单位 · Supervise
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervision_org: Option<Text>,
    /// 检验单位 · Check
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_org: Option<Text>,
    /// A.1 #14 检验日期 · CheckDate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_date: Option<Date>,
    /// A.1 #15 下次检验日期 · NextDate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_date: Option<Date>,
    /// 报废日期 · DiscardDate
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_date: Option<Date>,
    /// A.1 #19 产权单位 (an organisation of this node)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_org_id: Option<Uuid>,
    /// A.1 #16–18 登记证编号 / 登记日期 / 登记机构; absent = not registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// State
    #[serde(default)]
    pub state: CylinderState,
}

impl Archive {
    /// An archive with a code and nothing else known.
    pub fn blank(code: CylinderCode) -> Self {
        Archive {
            code,
            region_code: None,
            factory_serial: None,
            inner_no: None,
            style: None,
            valve: None,
            medium: None,
            tare_kg: None,
            fill_limit_kg: None,
            volume_l: None,
            working_pressure_mpa: None,
            test_pressure_mpa: None,
            wall_thickness_mm: None,
            life_years: None,
            check_period_years: None,
            manufacturer: None,
            manufacture_date: None,
            product_standard: None,
            manufacture_licence: None,
            designer: None,
            supervision_org: None,
            check_org: None,
            last_check_date: None,
            next_check_date: None,
            discard_date: None,
            owner_org_id: None,
            registration: None,
            state: CylinderState::Normal,
        }
    }

    /// Cross-field checks that a single field cannot make.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let (Some(last), Some(next)) = (self.last_check_date, self.next_check_date)
            && next <= last
        {
            errs.push(
                "next_check_date",
                format!("下次检验日期 {next} 应晚于检验日期 {last}"),
            );
        }
        if let (Some(made), Some(discard)) = (self.manufacture_date, self.discard_date)
            && discard.naive() <= made.first_day().naive()
        {
            errs.push("discard_date", "报废日期应晚于制造日期");
        }
        if let (Some(made), Some(last)) = (self.manufacture_date, self.last_check_date)
            && last.naive() < made.first_day().naive()
        {
            errs.push("last_check_date", "检验日期早于制造日期");
        }
        if let (Some(test), Some(work)) = (self.test_pressure_mpa, self.working_pressure_mpa)
            && test < work
        {
            errs.push("test_pressure_mpa", "水压试验压力不应低于公称工作压力");
        }
        if self.life_years == Some(0) || self.life_years.is_some_and(|y| y > 50) {
            errs.push("life_years", "设计使用年限应在 1 到 50 年之间");
        }
        if self.check_period_years == Some(0) || self.check_period_years.is_some_and(|y| y > 20) {
            errs.push("check_period_years", "检验周期应在 1 到 20 年之间");
        }
        // The plausible-value policy (weights, volumes, pressures, dates, medium).
        crate::plausible::archive_refusals(self, &mut errs);
        errs.into_result(())
    }

    /// [`Archive::validate`], and the policy's rules that need today (China calendar): nothing made,
    /// checked or registered after `today`. Every way a new archive arrives checks this.
    pub fn validate_on(&self, today: chrono::NaiveDate) -> Result<(), ValidationErrors> {
        let mut errs = self.validate().err().unwrap_or_default();
        crate::plausible::archive_refusals_on(self, today, &mut errs);
        errs.into_result(())
    }

    /// The end of the design service life: `discard_date`, or manufacture date + `life_years`.
    pub fn effective_discard_date(&self) -> Option<Date> {
        self.discard_date.or_else(|| {
            let made = self.manufacture_date?;
            Some(made.first_day().plus_years(u32::from(self.life_years?)))
        })
    }
}

/// The archive fields a change may name (every field but `code`), as they are spelled in JSON.
pub const CHANGEABLE_FIELDS: [&str; 27] = [
    "region_code",
    "factory_serial",
    "inner_no",
    "style",
    "valve",
    "medium",
    "tare_kg",
    "fill_limit_kg",
    "volume_l",
    "working_pressure_mpa",
    "test_pressure_mpa",
    "wall_thickness_mm",
    "life_years",
    "check_period_years",
    "manufacturer",
    "manufacture_date",
    "product_standard",
    "manufacture_licence",
    "designer",
    "supervision_org",
    "check_org",
    "last_check_date",
    "next_check_date",
    "discard_date",
    "owner_org_id",
    "registration",
    "state",
];

/// One changed field of an archive: its value before and after (`null` = not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    #[serde(default)]
    pub from: serde_json::Value,
    #[serde(default)]
    pub to: serde_json::Value,
}

impl Archive {
    /// The archive with `changes` (field → new value, `null` to clear) made, and each field that
    /// really changes with its old and new value. Errors name `changes.<field>`: `code` and unknown
    /// fields cannot change, and the result must be a valid archive (A1, A10).
    pub fn changed(
        &self,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(Archive, std::collections::BTreeMap<String, FieldChange>), ValidationErrors> {
        use serde_json::Value;
        let mut errs = ValidationErrors::default();
        if changes.is_empty() {
            errs.push("changes", "没有要修改的字段");
        }
        let old = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let mut new = old.clone();
        for (field, to) in changes {
            if field == "code" {
                errs.push("changes.code", "气瓶编码（标签号）不能修改");
            } else if !CHANGEABLE_FIELDS.contains(&field.as_str()) {
                errs.push(format!("changes.{field}"), "不是气瓶档案的字段");
            } else if to.is_null() {
                new.remove(field);
            } else {
                new.insert(field.clone(), to.clone());
            }
        }
        errs.into_result(())?;
        let archive: Archive = crate::parse::from_value(&Value::Object(new), "changes")?;
        archive.validate().map_err(|e| {
            let mut out = ValidationErrors::default();
            out.extend_under("changes", e);
            out
        })?;
        // Compare the normalised forms, so that `"2026-1-5"` and `"2026-01-05"` are no change.
        let normal = match serde_json::to_value(&archive) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let diff = changes
            .keys()
            .filter_map(|f| {
                let from = old.get(f).cloned().unwrap_or(Value::Null);
                let to = normal.get(f).cloned().unwrap_or(Value::Null);
                (from != to).then(|| (f.clone(), FieldChange { from, to }))
            })
            .collect();
        Ok((archive, diff))
    }

    /// The archive after a recorded change (its `to` values). A stored change that no longer
    /// applies leaves the archive as it was.
    pub fn after(&self, c: &crate::event::ArchiveChange) -> Archive {
        let changes = c
            .changes
            .iter()
            .map(|(f, v)| (f.clone(), v.to.clone()))
            .collect();
        self.changed(&changes)
            .map_or_else(|_| self.clone(), |(a, _)| a)
    }
}

/// The Yunnan `GenericBottle` record (seed 002 附件1 §2), with its capitalised names. Dates are
/// `yyyyMMdd`, `RegisterDate` is `yyyyMMddHHmmss`, in China Standard Time. Optional values are omitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenericBottle {
    pub barcode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printno: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valve: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discard_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_date: Option<String>,
    pub state: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_weight: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominal_pressure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumn: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thickness: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub water_pressure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_period: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub life_period: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub designer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervise: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_date: Option<String>,
    /// cyltrace extension: the registration certificate number (as in `CarBottle`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_no: Option<String>,
    /// cyltrace extension: the registering authority (as in `CarBottle`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    pub id: i64,
}

fn ymd(d: Date) -> String {
    d.naive().format("%Y%m%d").to_string()
}

impl GenericBottle {
    /// The Yunnan form of an archive; `id` is the node's numeric archive id, `register_time` the
    /// registration instant as `yyyyMMddHHmmss` (the archive keeps only the date: time 00:00:00).
    pub fn from_archive(a: &Archive, id: i64) -> Self {
        let text = |t: &Option<Text>| t.as_ref().map(|t| t.as_str().to_owned());
        GenericBottle {
            barcode: a.code.as_str().to_owned(),
            printno: text(&a.factory_serial),
            inner_no: text(&a.inner_no),
            style: text(&a.style),
            valve: a.valve.map(u8::from),
            product_date: a.manufacture_date.map(|m| ymd(m.first_day())),
            discard_date: a.effective_discard_date().map(ymd),
            check_date: a.last_check_date.map(ymd),
            next_date: a.next_check_date.map(ymd),
            state: a.state.yunnan(),
            idle_weight: a.tare_kg.map(Kg::get),
            fill_weight: a.fill_limit_kg.map(Kg::get),
            medium: text(&a.medium),
            nominal_pressure: a.working_pressure_mpa.map(Mpa::get),
            volumn: a.volume_l.map(Litres::get),
            thickness: a.wall_thickness_mm.map(Mm::get),
            water_pressure: a.test_pressure_mpa.map(Mpa::get),
            check_period: a.check_period_years,
            life_period: a.life_years,
            factory: text(&a.manufacturer),
            designer: text(&a.designer),
            supervise: text(&a.supervision_org),
            check: text(&a.check_org),
            register_date: a
                .registration
                .as_ref()
                .map(|r| format!("{}000000", ymd(r.date))),
            register_no: a
                .registration
                .as_ref()
                .map(|r| r.number.as_str().to_owned()),
            office: a
                .registration
                .as_ref()
                .map(|r| r.authority.as_str().to_owned()),
            id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::from_value;
    use serde_json::json;

    fn yunnan_example() -> serde_json::Value {
        json!({
            "code": "1103007831", "factory_serial": "1260419", "inner_no": "XY60235", "style": "YSP35.5",
            "valve": 1, "manufacture_date": "2014-09-01", "discard_date": "2022-09-01",
            "last_check_date": "2020-04-01", "next_check_date": "2024-04-01", "state": "locked",
            "tare_kg": 16.5, "fill_limit_kg": 14.5, "medium": "液化石油气", "working_pressure_mpa": 1.6,
            "volume_l": 35.5, "wall_thickness_mm": 2.5, "test_pressure_mpa": 2.4, "check_period_years": 4,
            "life_years": 8, "manufacturer": "江苏特种设备生产有限公司", "designer": "江苏特种设备设计有限公司",
            "supervision_org": "江苏特种设备监督检验公司", "check_org": "江苏特种设备检测有限公司",
            "registration": {"number": "537007004136", "date": "2020-10-01", "authority": "昆明市市场监督管理局"}
        })
    }

    #[test]
    fn archive_maps_to_the_yunnan_example() {
        // A1: every GenericBottle field is carried.
        let a: Archive = from_value(&yunnan_example(), "").unwrap();
        a.validate().unwrap();
        let g = serde_json::to_value(GenericBottle::from_archive(&a, 10245)).unwrap();
        let expected = json!({"Barcode":"1103007831","Printno":"1260419","InnerNo":"XY60235",
            "Style":"YSP35.5","Valve":1,"ProductDate":"20140901","DiscardDate":"20220901","CheckDate":"20200401",
            "NextDate":"20240401","State":1,"IdleWeight":16.5,"FillWeight":14.5,"Medium":"液化石油气",
            "NominalPressure":1.6,"Volumn":35.5,"Thickness":2.5,"WaterPressure":2.4,"CheckPeriod":4,"LifePeriod":8,
            "Factory":"江苏特种设备生产有限公司","Designer":"江苏特种设备设计有限公司","Supervise":"江苏特种设备监督检验公司",
            "Check":"江苏特种设备检测有限公司","RegisterDate":"20201001000000",
            "RegisterNo":"537007004136","Office":"昆明市市场监督管理局","Id":10245});
        assert_eq!(g, expected);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut v = yunnan_example();
        v["tare_kg"] = json!(-1);
        let e = from_value::<Archive>(&v, "cylinders[0]").unwrap_err();
        assert_eq!(e.0[0].field, "cylinders[0].tare_kg");
        let mut v = yunnan_example();
        v["valve"] = json!(4);
        assert_eq!(
            from_value::<Archive>(&v, "").unwrap_err().0[0].field,
            "valve"
        );
        let mut v = yunnan_example();
        v["colour"] = json!("red");
        assert_eq!(
            from_value::<Archive>(&v, "").unwrap_err().0[0].field,
            "colour"
        );
        let mut v = yunnan_example();
        v["next_check_date"] = json!("2019-01-01");
        let a: Archive = from_value(&v, "").unwrap();
        assert_eq!(a.validate().unwrap_err().0[0].field, "next_check_date");
    }

    #[test]
    fn discard_date_falls_back_to_life() {
        let a: Archive = from_value(
            &json!({"code": "0000000001", "manufacture_date": "2018-06", "life_years": 8}),
            "",
        )
        .unwrap();
        assert_eq!(
            a.effective_discard_date().unwrap().to_string(),
            "2026-06-01"
        );
    }

    // A1/A10: an archive correction names each changed field with old and new value; `code`,
    // unknown fields and values that would make the archive invalid are refused by field.
    #[test]
    fn changes_are_diffed_and_validated() {
        let a: Archive = from_value(&yunnan_example(), "").unwrap();
        let mut m = serde_json::Map::new();
        m.insert("tare_kg".into(), json!(15.2));
        m.insert("state".into(), json!("normal"));
        m.insert("inner_no".into(), json!("XY60235"));
        let (b, diff) = a.changed(&m).unwrap();
        assert_eq!(b.state, CylinderState::Normal);
        assert_eq!(diff.len(), 2, "an unchanged value is no change: {diff:?}");
        assert_eq!(diff["tare_kg"].to, json!(15.2));
        assert_eq!(diff["state"].from, json!("locked"));
        let mut bad = serde_json::Map::new();
        bad.insert("code".into(), json!("1103007832"));
        bad.insert("colour".into(), json!("red"));
        let e = a.changed(&bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["changes.code", "changes.colour"]);
        let mut bad = serde_json::Map::new();
        bad.insert("next_check_date".into(), json!("2026-02-30"));
        assert_eq!(
            a.changed(&bad).unwrap_err().0[0].field,
            "changes.next_check_date"
        );
        let mut cleared = serde_json::Map::new();
        cleared.insert("registration".into(), serde_json::Value::Null);
        let (c, _) = a.changed(&cleared).unwrap();
        assert!(c.registration.is_none());
    }
}
