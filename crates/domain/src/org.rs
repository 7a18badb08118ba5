//! Organisations (regulators › enterprises › sites), their licences, and the built-in roles.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::RegionCode;
use crate::error::ValidationErrors;
use crate::time::Date;
use crate::units::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrgKind {
    Regulator,
    FillingEnterprise,
    InspectionStation,
    Carrier,
    Dealer,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regulator => "regulator",
            Self::FillingEnterprise => "filling_enterprise",
            Self::InspectionStation => "inspection_station",
            Self::Carrier => "carrier",
            Self::Dealer => "dealer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Regulator => "监管机构",
            Self::FillingEnterprise => "充装单位",
            Self::InspectionStation => "检验机构",
            Self::Carrier => "运输单位",
            Self::Dealer => "经销商",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LicenceKind {
    /// 气瓶充装许可证
    Filling,
    /// 燃气经营许可证
    GasBusiness,
    /// 道路危险货物运输许可证
    Transport,
}

impl LicenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filling => "filling",
            Self::GasBusiness => "gas_business",
            Self::Transport => "transport",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Filling => "气瓶充装许可证",
            Self::GasBusiness => "燃气经营许可证",
            Self::Transport => "道路危险货物运输许可证",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Licence {
    pub kind: LicenceKind,
    pub number: Text,
    pub valid_until: Date,
}

impl Licence {
    /// Valid through `valid_until` inclusive, judged on the China calendar date `today`.
    pub fn valid_on(&self, today: Date) -> bool {
        self.valid_until >= today
    }
}

/// The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with a check
/// character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "91530100MA6K0000X0"))]
pub struct CreditCode(String);

const CREDIT_CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

impl CreditCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_uppercase();
        let values: Option<Vec<u32>> = t
            .chars()
            .map(|c| CREDIT_CHARS.find(c).map(|i| i as u32))
            .collect();
        let values = match values {
            Some(v) if v.len() == 18 => v,
            _ => {
                return Err(
                    "统一社会信用代码应为18位（数字或不含 I、O、Z、S、V 的大写字母）".to_owned(),
                );
            }
        };
        if values[17] != Self::check_value(&values[..17]) {
            return Err("统一社会信用代码校验位错误".to_owned());
        }
        Ok(Self(t))
    }

    fn check_value(first17: &[u32]) -> u32 {
        let sum: u32 = first17.iter().zip(CREDIT_WEIGHTS).map(|(v, w)| v * w).sum();
        (31 - sum % 31) % 31
    }

    /// Completes 17 characters with their check character (for demo data and tests).
    pub fn with_check(first17: &str) -> Result<Self, String> {
        let values: Vec<u32> = first17
            .chars()
            .filter_map(|c| CREDIT_CHARS.find(c).map(|i| i as u32))
            .collect();
        if values.len() != 17 || first17.chars().count() != 17 {
            return Err("需要17位有效字符".to_owned());
        }
        let check = CREDIT_CHARS.as_bytes()[Self::check_value(&values) as usize] as char;
        Self::parse(&format!("{first17}{check}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CreditCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<CreditCode> for String {
    fn from(c: CreditCode) -> String {
        c.0
    }
}

/// A request to create an organisation (`POST /api/v1/orgs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewOrg {
    pub kind: OrgKind,
    pub name: Text,
    pub region_code: RegionCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<CreditCode>,
    #[serde(default)]
    pub licences: Vec<Licence>,
}

impl NewOrg {
    /// Checks that need the parent: a child lies inside its parent's region; regulators sit only under
    /// regulators.
    pub fn check_parent(
        &self,
        parent_kind: OrgKind,
        parent_region: RegionCode,
    ) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if !parent_region.contains(&self.region_code) {
            errs.push(
                "region_code",
                format!(
                    "行政区划 {} 不在上级机构的辖区 {} 内",
                    self.region_code, parent_region
                ),
            );
        }
        // Regulators hold any kind of organisation; a filling enterprise only its dealers and carriers;
        // other organisations none (an enterprise cannot create an inspection station of its own).
        let allowed = match parent_kind {
            OrgKind::Regulator => true,
            OrgKind::FillingEnterprise => matches!(self.kind, OrgKind::Dealer | OrgKind::Carrier),
            _ => false,
        };
        if !allowed {
            errs.push(
                "kind",
                format!(
                    "{}下不能设立{}",
                    parent_kind.label_zh(),
                    self.kind.label_zh()
                ),
            );
        } else if self.kind == OrgKind::Regulator && parent_kind != OrgKind::Regulator {
            errs.push("parent_id", "监管机构的上级只能是监管机构");
        }
        errs.into_result(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SiteKind {
    FillingStation,
    Warehouse,
    Store,
    DeliveryStation,
}

impl SiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FillingStation => "filling_station",
            Self::Warehouse => "warehouse",
            Self::Store => "store",
            Self::DeliveryStation => "delivery_station",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::FillingStation => "充装站",
            Self::Warehouse => "仓库",
            Self::Store => "供应站",
            Self::DeliveryStation => "配送站",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// A request to create a site (`POST /api/v1/sites`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSite {
    pub org_id: Uuid,
    pub kind: SiteKind,
    pub name: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

impl NewSite {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_position(self.lat, self.lon, &mut errs);
        errs.into_result(())
    }
}

/// A change of an organisation (`PATCH /api/v1/orgs/{id}`): what is absent stays; an empty
/// `phone` or `address` clears it; each licence replaces the one of the same kind (a renewal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// The phone the public label page offers (fixed line with area code, mobile, or a 400/800
    /// hotline); `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<CreditCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licences: Option<Vec<Licence>>,
}

/// An organisation's phone as the public page dials it: a fixed line or mobile number, or a
/// 10-digit 400/800 hotline.
pub fn check_org_phone(s: &str) -> Result<String, String> {
    let t: String = s.trim().chars().filter(|c| *c != ' ').collect();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let hotline = (t.starts_with("400") || t.starts_with("800"))
        && digits.len() == 10
        && t.chars().all(|c| c.is_ascii_digit() || c == '-');
    if hotline {
        return Ok(t);
    }
    crate::circulation::Phone::parse(&t)
        .map(|p| p.as_str().to_owned())
        .map_err(|_| {
            "电话号码格式不正确（带区号的固定电话、11 位手机号或 400/800 热线）".to_owned()
        })
}

impl OrgChanges {
    /// Checks the fields; answers the phone and address as they are stored (`None` = clear).
    #[allow(clippy::type_complexity)]
    pub fn validate(
        &self,
    ) -> Result<(Option<Option<String>>, Option<Option<String>>), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.name.is_none()
            && self.phone.is_none()
            && self.address.is_none()
            && self.credit_code.is_none()
            && self.licences.is_none()
        {
            errs.push("", "没有要修改的字段");
        }
        let phone = self.phone.as_deref().map(|p| match p.trim() {
            "" => None,
            p => check_org_phone(p).map_err(|m| errs.push("phone", m)).ok(),
        });
        let address = self.address.as_deref().map(|a| match a.trim() {
            "" => None,
            a => Text::parse(a)
                .map(|t| t.as_str().to_owned())
                .map_err(|m| errs.push("address", m))
                .ok(),
        });
        if let Some(ls) = &self.licences {
            for (i, l) in ls.iter().enumerate() {
                if ls[..i].iter().any(|o| o.kind == l.kind) {
                    errs.push(format!("licences[{i}].kind"), "同一种许可证只能给出一个");
                }
            }
        }
        errs.into_result((phone, address))
    }

    /// The licences after this change: each given one replaces the one of its kind.
    pub fn licences_after(&self, old: &[Licence]) -> Vec<Licence> {
        let Some(new) = &self.licences else {
            return old.to_vec();
        };
        let mut out: Vec<Licence> = old
            .iter()
            .filter(|l| !new.iter().any(|n| n.kind == l.kind))
            .cloned()
            .collect();
        out.extend(new.iter().cloned());
        out
    }
}

/// A change of a site (`PATCH /api/v1/sites/{id}`): what is absent stays; `active: false` closes
/// it (no new records, history kept), `true` opens it again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

impl SiteChanges {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if *self == SiteChanges::default() {
            errs.push("", "没有要修改的字段");
        }
        if self.lat.is_some() || self.lon.is_some() {
            check_position(self.lat, self.lon, &mut errs);
        }
        errs.into_result(())
    }
}

/// Latitude and longitude come together and lie on the globe.
pub fn check_position(lat: Option<f64>, lon: Option<f64>, errs: &mut ValidationErrors) {
    match (lat, lon) {
        (Some(la), Some(lo)) => {
            if !(-90.0..=90.0).contains(&la) {
                errs.push("lat", "纬度应在 -90 到 90 之间");
            }
            if !(-180.0..=180.0).contains(&lo) {
                errs.push("lon", "经度应在 -180 到 180 之间");
            }
        }
        (Some(_), None) => errs.push("lon", "提供纬度时必须同时提供经度"),
        (None, Some(_)) => errs.push("lat", "提供经度时必须同时提供纬度"),
        (None, None) => {}
    }
}

/// The built-in roles (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    NodeAdmin,
    Regulator,
    EnterpriseAdmin,
    Filler,
    Checker,
    Warehouse,
    Driver,
    Courier,
    Inspector,
    Customer,
    /// The account a lower platform (or an enterprise platform) uploads through `/PS` with.
    Platform,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::NodeAdmin,
        Role::Regulator,
        Role::EnterpriseAdmin,
        Role::Filler,
        Role::Checker,
        Role::Warehouse,
        Role::Driver,
        Role::Courier,
        Role::Inspector,
        Role::Customer,
        Role::Platform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodeAdmin => "node_admin",
            Self::Regulator => "regulator",
            Self::EnterpriseAdmin => "enterprise_admin",
            Self::Filler => "filler",
            Self::Checker => "checker",
            Self::Warehouse => "warehouse",
            Self::Driver => "driver",
            Self::Courier => "courier",
            Self::Inspector => "inspector",
            Self::Customer => "customer",
            Self::Platform => "platform",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The Chinese name shown to users.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::NodeAdmin => "平台管理员",
            Self::Regulator => "监管人员",
            Self::EnterpriseAdmin => "企业管理员",
            Self::Filler => "充装工",
            Self::Checker => "检查员",
            Self::Warehouse => "库管员",
            Self::Driver => "驾驶员/押运员",
            Self::Courier => "配送员",
            Self::Inspector => "检验人员",
            Self::Customer => "用户",
            Self::Platform => "平台接入账号",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_code_check_character() {
        let c = CreditCode::with_check("91530100MA6K0000X").unwrap();
        assert!(CreditCode::parse(c.as_str()).is_ok());
        // Change one character: the check fails.
        let mut bad = c.as_str().to_owned();
        bad.replace_range(3..4, if &bad[3..4] == "1" { "2" } else { "1" });
        assert!(CreditCode::parse(&bad).is_err());
        assert!(CreditCode::parse("123").is_err());
    }

    #[test]
    fn licence_valid_through_its_last_day() {
        let l = Licence {
            kind: LicenceKind::Filling,
            number: Text::parse("TS4253001-2027").unwrap(),
            valid_until: Date::parse("2026-11-21").unwrap(),
        };
        assert!(l.valid_on(Date::parse("2026-11-21").unwrap()));
        assert!(!l.valid_on(Date::parse("2026-11-22").unwrap()));
    }

    #[test]
    fn child_must_lie_in_parent_region() {
        let org: NewOrg = serde_json::from_value(serde_json::json!({
            "kind": "filling_enterprise", "name": "昆明燃气", "region_code": "530102"
        }))
        .unwrap();
        assert!(
            org.check_parent(OrgKind::Regulator, RegionCode::parse("530100").unwrap())
                .is_ok()
        );
        let e = org
            .check_parent(OrgKind::Regulator, RegionCode::parse("530200").unwrap())
            .unwrap_err();
        assert_eq!(e.0[0].field, "region_code");
    }

    #[test]
    fn which_organisations_may_hold_which() {
        let km = RegionCode::parse("530100").unwrap();
        let new = |kind: &str| -> NewOrg {
            serde_json::from_value(
                serde_json::json!({"kind": kind, "name": "x", "region_code": "530102"}),
            )
            .unwrap()
        };
        for kind in [
            "regulator",
            "filling_enterprise",
            "inspection_station",
            "carrier",
            "dealer",
        ] {
            assert!(
                new(kind).check_parent(OrgKind::Regulator, km).is_ok(),
                "{kind} under a regulator"
            );
        }
        assert!(
            new("dealer")
                .check_parent(OrgKind::FillingEnterprise, km)
                .is_ok()
        );
        assert!(
            new("carrier")
                .check_parent(OrgKind::FillingEnterprise, km)
                .is_ok()
        );
        for kind in ["regulator", "filling_enterprise", "inspection_station"] {
            let e = new(kind)
                .check_parent(OrgKind::FillingEnterprise, km)
                .unwrap_err();
            assert_eq!(e.0[0].field, "kind", "{kind} under an enterprise");
        }
        assert!(new("dealer").check_parent(OrgKind::Dealer, km).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::String(r.as_str().into())
            );
        }
    }
}
