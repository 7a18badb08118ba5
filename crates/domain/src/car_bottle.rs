//! Vehicle gas cylinders (A9, Yunnan `CarBottle`, 附件1 §3 and 附件2): the archive of a cylinder
//! mounted on a vehicle, with the vehicle (plate, VIN, type) and its registration. The cylinder itself
//! is an ordinary archive (one code, three QR labels at 120°); this is its extension.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::circulation::Plate;
use crate::error::ValidationErrors;
use crate::time::Date;
use crate::units::Text;

/// A vehicle identification number (ISO 3779 / GB 16735): 17 characters, digits and capital letters
/// without I, O and Q.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vin(String);

impl Vin {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_uppercase();
        if t.len() == 17
            && t.bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"IOQ".contains(&b)))
        {
            Ok(Self(t))
        } else {
            Err("车辆识别代号（VIN）应为 17 位数字或大写字母（不含 I、O、Q）".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Vin {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Vin> for String {
    fn from(v: Vin) -> String {
        v.0
    }
}

/// A vehicle cylinder as registered (`POST /api/v1/vehicle-cylinders`); field names are ours, the
/// Yunnan names are in [`CarBottle::to_yunnan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarBottle {
    /// The 10-digit label number printed on the three labels.
    pub code: String,
    pub register_no: Text,
    pub register_date: Date,
    /// 登记机关
    pub office: Text,
    /// Cylinder type, e.g. CNG-1 钢质内胆环向缠绕.
    pub cylinder_type: Text,
    pub volume_l: f64,
    pub medium: Text,
    pub car_no: Plate,
    /// Vehicle type code of the regulator's list.
    pub car_type: i32,
    pub car_vin: Vin,
    pub product_date: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_no: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<Text>,
    /// 出厂编号
    pub product_no: Text,
    pub nominal_pressure_mpa: f64,
    /// The user (vehicle owner): a company or a person.
    pub company: Text,
    /// Their credit code or ID number: kept sealed, shown masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_no: Option<String>,
    /// 制造单位
    pub factory: Text,
    /// 安装单位
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Text>,
    /// 监检机构
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervise: Option<Text>,
    /// 检验机构
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_org: Option<Text>,
}

impl CarBottle {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let Err(e) = crate::CylinderCode::parse(&self.code) {
            errs.push("code", e);
        }
        if !(self.volume_l.is_finite() && self.volume_l > 0.0 && self.volume_l <= 1000.0) {
            errs.push("volume_l", "容积应在 0–1000 L");
        }
        if !(self.nominal_pressure_mpa.is_finite()
            && self.nominal_pressure_mpa > 0.0
            && self.nominal_pressure_mpa <= 100.0)
        {
            errs.push("nominal_pressure_mpa", "公称工作压力应在 0–100 MPa");
        }
        if let (Some(c), Some(n)) = (self.check_date, self.next_check_date)
            && n <= c
        {
            errs.push("next_check_date", "下次检验日期必须晚于检验日期");
        }
        if self.register_date < self.product_date {
            errs.push("register_date", "登记日期早于制造日期");
        }
        errs.into_result(())
    }

    /// The archive of the cylinder itself (the v1 contract's fields).
    pub fn archive_json(&self) -> Value {
        json!({
            "code": self.code.trim(), "factory_serial": self.product_no, "inner_no": self.inner_no,
            "style": self.cylinder_type, "medium": self.medium, "volume_l": self.volume_l,
            "working_pressure_mpa": self.nominal_pressure_mpa, "manufacturer": self.factory,
            "manufacture_date": self.product_date, "supervision_org": self.supervise,
            "check_org": self.check_org, "last_check_date": self.check_date,
            "next_check_date": self.next_check_date,
            "registration": {"number": self.register_no, "date": self.register_date, "authority": self.office},
        })
    }

    /// The Yunnan `CarBottle` record (`identity` already masked by the caller).
    pub fn to_yunnan(&self, id: i64, state: i32, identity: Option<&str>) -> Value {
        let ymd = |d: &Date| d.naive().format("%Y-%m-%d").to_string();
        json!({
            "Id": id, "RegisterNo": self.register_no, "RegisterDate": ymd(&self.register_date),
            "Type": self.cylinder_type, "Volumn": self.volume_l, "Medium": self.medium,
            "CarNo": self.car_no, "CarType": self.car_type, "CarVin": self.car_vin,
            "ProductDate": ymd(&self.product_date), "CheckDate": self.check_date.as_ref().map(ymd),
            "NextDate": self.next_check_date.as_ref().map(ymd), "State": state,
            "CertificateDate": self.certificate_date.as_ref().map(ymd),
            "UseDate": self.use_date.as_ref().map(ymd), "InnerNo": self.inner_no,
            "DeviceCode": self.device_code, "ProductNo": self.product_no,
            "NominalPressure": self.nominal_pressure_mpa, "Company": self.company,
            "IdentityNo": identity, "Factory": self.factory, "Install": self.install,
            "Supervise": self.supervise, "Check": self.check_org, "Office": self.office,
            "Barcode": self.code.trim(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vins_are_checked() {
        assert!(Vin::parse("LSVAU2180N2183294").is_ok());
        assert!(Vin::parse("lsvau2180n2183294").is_ok());
        assert!(Vin::parse("LSVAU2180N218329").is_err());
        assert!(Vin::parse("LSVAU2180N21832O4").is_err());
    }
}
