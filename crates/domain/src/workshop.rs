//! The station's own records of its cylinders (B8; seed 001 §5.2.1.9–10): lab tests of the gas
//! (化验记录) and repairs (维修记录). Both are events on the cylinders they concern, so they stand in
//! the trace and the ledger like every other record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;
use crate::units::Text;

/// At most this many components in one lab test's composition.
pub const MAX_COMPONENTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LabResult {
    Pass,
    Fail,
}

impl LabResult {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Pass => "合格",
            Self::Fail => "不合格",
        }
    }
}

/// A lab test (化验): a sample of the gas (or of a cylinder's residue), its composition in percent
/// by component, the result and who tested it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabTest {
    /// 样品编号
    pub sample_no: Text,
    /// The medium tested, e.g. `LPG`.
    pub medium: Text,
    /// Percent by component (e.g. `丙烷`: 62.5, `丁烷`: 35.1, `C5及以上`: 1.9).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub composition: BTreeMap<String, f64>,
    pub result: LabResult,
    /// Who tested (a name, as on the paper record).
    pub tester: Text,
    /// The filling batch the sample stands for, when it stands for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

impl LabTest {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.composition.len() > MAX_COMPONENTS {
            errs.push("composition", format!("组分最多 {MAX_COMPONENTS} 项"));
        }
        let mut total = 0.0;
        for (name, pct) in &self.composition {
            if Text::parse(name).is_err() || name.chars().count() > 40 {
                errs.push("composition", "组分名称应为 1–40 个字符");
            } else if !pct.is_finite() || !(0.0..=100.0).contains(pct) {
                errs.push(
                    format!("composition.{name}"),
                    "含量应为 0 到 100 之间的百分数",
                );
            } else {
                total += pct;
            }
        }
        // Rounding of each component may add up to a little over 100 %.
        if total > 100.5 {
            errs.push("composition", format!("各组分合计 {total:.1}%，超过 100%"));
        }
        errs.into_result(())
    }
}

/// A repair (维修) of one cylinder: what was done, whether the valve was replaced (and whose valve),
/// who repaired it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repair {
    /// 维修内容, e.g. 更换瓶阀, 护罩校正, 除锈涂漆.
    pub items: Text,
    pub valve_replaced: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valve_maker: Option<Text>,
    /// Who repaired it (a name).
    pub repairer: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

impl Repair {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match (self.valve_replaced, &self.valve_maker) {
            (true, None) => errs.push("valve_maker", "更换阀门时须填写阀门制造单位"),
            (false, Some(_)) => errs.push("valve_maker", "未更换阀门时不应填写阀门制造单位"),
            _ => {}
        }
        errs.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lab(v: serde_json::Value) -> Result<LabTest, ValidationErrors> {
        let t: LabTest = crate::parse::from_value(&v, "")?;
        t.validate()?;
        Ok(t)
    }

    #[test]
    fn a_lab_test_names_its_sample_composition_and_result() {
        // B8: sample, composition, result, who.
        let ok = lab(
            json!({"sample_no": "S-1", "medium": "LPG", "result": "pass", "tester": "李工",
            "composition": {"丙烷": 62.5, "丁烷": 36.0, "C5及以上": 1.5}}),
        )
        .unwrap();
        assert_eq!(ok.result.label_zh(), "合格");
        let e = lab(
            json!({"sample_no": "S-1", "medium": "LPG", "result": "pass", "tester": "李工",
            "composition": {"丙烷": 70.0, "丁烷": 40.0}}),
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "composition");
        let e = lab(
            json!({"sample_no": "S-1", "medium": "LPG", "result": "pass", "tester": "李工",
            "composition": {"丙烷": -1.0}}),
        )
        .unwrap_err();
        assert_eq!(e.0[0].field, "composition.丙烷");
        let e =
            lab(json!({"sample_no": "S-1", "medium": "LPG", "result": "maybe", "tester": "李工"}))
                .unwrap_err();
        assert_eq!(e.0[0].field, "result");
    }

    #[test]
    fn a_replaced_valve_names_its_maker() {
        // B8, like table D.1: a replaced valve has a maker, a kept one none.
        let r = |v| -> Result<Repair, ValidationErrors> {
            let r: Repair = crate::parse::from_value(&v, "")?;
            r.validate()?;
            Ok(r)
        };
        assert!(
            r(
                json!({"items": "更换瓶阀", "valve_replaced": true, "valve_maker": "宁波阀门厂",
            "repairer": "王师傅"})
            )
            .is_ok()
        );
        assert_eq!(
            r(json!({"items": "更换瓶阀", "valve_replaced": true, "repairer": "王师傅"}))
                .unwrap_err()
                .0[0]
                .field,
            "valve_maker"
        );
        assert!(r(json!({"items": "", "valve_replaced": false, "repairer": "王师傅"})).is_err());
    }
}
