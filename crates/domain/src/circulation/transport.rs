//! Transport (C2): plates, vehicles and their permits, drivers and escorts with their certificates,
//! waybills, and what must hold for a transport to go ahead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ValidationErrors;
use crate::time::Date;
use crate::units::Text;

use super::{IdNumber, Phone};

// ---------------------------------------------------------------------------------------------
// Transport (C2)

/// A Chinese licence plate: province character, letter, 5 (or 6 for new-energy) characters, an
/// optional trailer mark `挂`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plate(String);

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

impl Plate {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '·' | '-'))
            .collect::<String>()
            .to_uppercase();
        let c: Vec<char> = t.chars().collect();
        let trailer = c.last() == Some(&'挂');
        let body_end = if trailer { c.len() - 1 } else { c.len() };
        let body_len = if trailer { 4..=4 } else { 5..=6 };
        let ok = c.len() >= 7
            && PROVINCES.contains(c[0])
            && c[1].is_ascii_uppercase()
            && body_len.contains(&(body_end - 2))
            && c[2..body_end].iter().all(|ch| {
                ch.is_ascii_digit() || (ch.is_ascii_uppercase() && !matches!(ch, 'I' | 'O'))
            });
        if ok {
            Ok(Self(t))
        } else {
            Err("车牌号格式不正确（如 云A12345、云AD12345、云A1234挂）".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Plate {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Plate> for String {
    fn from(v: Plate) -> String {
        v.0
    }
}

/// A vehicle of a carrier (or of the filling enterprise's own fleet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vehicle {
    pub plate: Plate,
    /// e.g. 厢式货车, 危险品运输车
    pub vehicle_type: Text,
    /// 危险货物道路运输许可证号 / 道路运输证号
    pub permit_no: Text,
    pub permit_valid_until: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// The JT/T 808 terminal phone number, when the vehicle has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<Text>,
}

impl Vehicle {
    /// Why the vehicle may not carry cylinders on `today`, if it may not.
    pub fn refusal(&self, today: Date) -> Option<String> {
        (self.permit_valid_until < today).then(|| {
            format!(
                "车辆 {} 的危险货物道路运输许可证（{}）已于 {} 过期",
                self.plate.as_str(),
                self.permit_no,
                self.permit_valid_until
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// 驾驶员
    Driver,
    /// 押运员
    Escort,
}

impl StaffRole {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Driver => "驾驶员",
            Self::Escort => "押运员",
        }
    }
}

/// A driver or escort with real name and electronic qualification certificate (从业资格证).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    pub role: StaffRole,
    pub name: Text,
    pub id_number: IdNumber,
    pub phone: Phone,
    /// 电子从业资格证号
    pub certificate_no: Text,
    pub certificate_valid_until: Date,
    /// The platform account the person uses on the handheld, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

impl Staff {
    pub fn certificate(&self) -> Certificate {
        Certificate {
            role: self.role,
            name: self.name.clone(),
            certificate_no: self.certificate_no.clone(),
            certificate_valid_until: self.certificate_valid_until,
        }
    }
}

/// What the transport rules read about a driver or escort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub role: StaffRole,
    pub name: Text,
    pub certificate_no: Text,
    pub certificate_valid_until: Date,
}

impl Certificate {
    /// Why the person may not take part in a transport on `today`, if they may not.
    pub fn refusal(&self, today: Date) -> Option<String> {
        (self.certificate_valid_until < today).then(|| {
            format!(
                "{} {} 的从业资格证（{}）已于 {} 过期",
                self.role.label_zh(),
                self.name,
                self.certificate_no,
                self.certificate_valid_until
            )
        })
    }
}

/// An electronic waybill (电子运单) as created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWaybill {
    /// The waybill number; chosen by the platform when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<Text>,
    pub origin_site_id: Uuid,
    /// A site of the node, or a free-text destination (a dealer outside the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_site_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Text>,
    pub vehicle_id: Uuid,
    pub driver_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escort_id: Option<Uuid>,
    /// Planned departure.
    pub depart_at: DateTime<Utc>,
}

impl NewWaybill {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.destination_site_id.is_none() && self.destination.is_none() {
            errs.push("destination", "须填写目的地（站点或地址）");
        }
        if self.destination_site_id == Some(self.origin_site_id) {
            errs.push("destination_site_id", "目的地不能与起运地相同");
        }
        errs.into_result(())
    }
}

/// Everything that must hold for a transport to go ahead on `today`: the vehicle's permit, the
/// driver's and the escort's certificates, and that each person holds the right role. Every failing
/// check is returned with the field it concerns.
pub fn transport_refusals(
    vehicle: &Vehicle,
    driver: &Certificate,
    escort: Option<&Certificate>,
    today: Date,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(r) = vehicle.refusal(today) {
        out.push(("vehicle_id", r));
    }
    if driver.role != StaffRole::Driver {
        out.push(("driver_id", format!("{} 不是驾驶员", driver.name)));
    }
    if let Some(r) = driver.refusal(today) {
        out.push(("driver_id", r));
    }
    if let Some(e) = escort {
        if e.role != StaffRole::Escort {
            out.push(("escort_id", format!("{} 不是押运员", e.name)));
        }
        if let Some(r) = e.refusal(today) {
            out.push(("escort_id", r));
        }
    }
    out
}

/// A driver or escort as kept (business record of kind `staff`): the certificate the transport rules
/// read, contact data, and the ID number masked and sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffDoc {
    pub certificate: Certificate,
    pub phone: String,
    pub id_masked: String,
    pub id_sealed: super::Sealed,
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

/// A waybill as kept (business record of kind `waybill`): what was issued, the people's certificates
/// as at issue, and the cylinders loaded and unloaded under it so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaybillDoc {
    pub number: String,
    pub waybill: NewWaybill,
    pub plate: Plate,
    pub driver: Certificate,
    #[serde(default)]
    pub escort: Option<Certificate>,
    #[serde(default)]
    pub loaded: std::collections::BTreeSet<String>,
    #[serde(default)]
    pub unloaded: std::collections::BTreeSet<String>,
}

/// Where a waybill stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaybillState {
    Created,
    InTransit,
    /// Everything loaded was unloaded.
    Done,
}

impl WaybillState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::InTransit => "in_transit",
            Self::Done => "done",
        }
    }
}

impl WaybillDoc {
    /// Notes cylinders loaded (`loaded` true) or unloaded under this waybill; answers the waybill's
    /// state afterwards, or `None` when nothing changed (a repeated scan).
    pub fn note(&mut self, loaded: bool, codes: &[crate::CylinderCode]) -> Option<WaybillState> {
        let set = if loaded {
            &mut self.loaded
        } else {
            &mut self.unloaded
        };
        let before = set.len();
        set.extend(codes.iter().map(|c| c.as_str().to_owned()));
        if set.len() == before {
            return None;
        }
        Some(
            if !self.loaded.is_empty() && self.loaded.is_subset(&self.unloaded) {
                WaybillState::Done
            } else {
                WaybillState::InTransit
            },
        )
    }
}
