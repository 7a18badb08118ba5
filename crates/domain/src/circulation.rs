//! Circulation and sales (C1–C11): the people and vehicles that move cylinders, customers and what
//! they hold, orders, household safety checks and the guards that refuse a move that would send a
//! cylinder where it must not go. Pure: the caller passes the facts and `today`; the store remembers.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::archive::Archive;
use crate::error::ValidationErrors;
use crate::event::{EventData, EventKind};
use crate::org::{CreditCode, Role, check_position};
use crate::status::{CylinderStatus, LocationKind, Verdict};
use crate::time::Date;
use crate::units::Text;

// ---------------------------------------------------------------------------------------------
// Personal data

/// A resident identity card number (GB 11643): 17 digits and a check character (0–9 or X).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_uppercase();
        let b = t.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err("身份证号应为 18 位（17 位数字加 1 位校验码）".to_owned());
        }
        if b[17] != check_char(&b[..17]) {
            return Err("身份证号校验码错误".to_owned());
        }
        // The birth date (digits 7–14) must be a real date.
        if chrono::NaiveDate::parse_from_str(&t[6..14], "%Y%m%d").is_err() {
            return Err("身份证号中的出生日期无效".to_owned());
        }
        Ok(Self(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number made of 17 digits and their check character.
    pub fn with_check(first17: &str) -> Result<Self, String> {
        if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
            return Err("应为 17 位数字".to_owned());
        }
        let check = check_char(first17.as_bytes()) as char;
        Self::parse(&format!("{first17}{check}"))
    }

    /// `530102********123X`: region kept for the regulator's statistics, birth date hidden.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }
}

/// The GB 11643 check character of 17 digits.
fn check_char(digits: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

impl TryFrom<String> for IdNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<IdNumber> for String {
    fn from(v: IdNumber) -> String {
        v.0
    }
}

/// A phone number: an 11-digit mobile number or a fixed line (area code, digits, optional dash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t: String = s.trim().chars().filter(|c| *c != ' ').collect();
        let digits: String = t.chars().filter(char::is_ascii_digit).collect();
        let mobile = digits.len() == 11 && t == digits && t.starts_with('1');
        let fixed = t.starts_with('0')
            && (10..=12).contains(&digits.len())
            && t.chars().all(|c| c.is_ascii_digit() || c == '-')
            && t.matches('-').count() <= 1;
        if mobile || fixed {
            Ok(Self(t))
        } else {
            Err("电话号码格式不正确（11 位手机号或带区号的固定电话）".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`: the first three and last four characters.
    pub fn masked(&self) -> String {
        let c: Vec<char> = self.0.chars().collect();
        let n = c.len();
        let head: String = c[..3].iter().collect();
        let tail: String = c[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(v: Phone) -> String {
        v.0
    }
}

/// `张*` / `欧阳**`: the family name (first character) kept.
pub fn mask_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => format!("{first}{}", "*".repeat(c.count().max(1))),
        None => String::new(),
    }
}

/// An address shown to roles without need: the text up to the street/road, the rest hidden.
pub fn mask_address(addr: &str) -> String {
    let chars: Vec<char> = addr.chars().collect();
    let keep = chars
        .iter()
        .position(|c| matches!(c, '路' | '街' | '道' | '巷' | '村' | '镇'))
        .map_or(chars.len().min(6), |i| i + 1);
    let kept: String = chars[..keep.min(chars.len())].iter().collect();
    format!("{kept}***")
}

/// How much of a customer's personal data a principal sees (G1 masking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalView {
    /// Names, phones and addresses in full (delivering to the customer needs them); the ID number
    /// masked except through an audited reveal.
    Contact,
    /// Everything masked.
    Masked,
}

/// Roles that deliver to or serve customers see contact data; all others see it masked.
pub fn personal_view(roles: &[Role]) -> PersonalView {
    if roles
        .iter()
        .any(|r| matches!(r, Role::NodeAdmin | Role::EnterpriseAdmin | Role::Courier))
    {
        PersonalView::Contact
    } else {
        PersonalView::Masked
    }
}

/// Whether a principal may reveal a customer's full ID number (audited by the caller).
pub fn may_reveal_id(roles: &[Role]) -> bool {
    roles
        .iter()
        .any(|r| matches!(r, Role::NodeAdmin | Role::EnterpriseAdmin))
}

// ---------------------------------------------------------------------------------------------
// Customers (C6)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    /// 居民用户
    Residential,
    /// 商业用户 (restaurants, canteens …)
    Commercial,
}

impl CustomerKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Residential => "居民用户",
            Self::Commercial => "商业用户",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub address: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A customer as registered (`POST /api/v1/customers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub kind: CustomerKind,
    /// The person's real name (or the business name of a commercial customer).
    pub name: Text,
    /// Required for residential customers: the real-name identity (C6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumber>,
    /// Required for commercial customers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<CreditCode>,
    /// The person responsible at a commercial customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Text>,
    pub phone: Phone,
    pub addresses: Vec<Address>,
}

impl NewCustomer {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        match self.kind {
            CustomerKind::Residential if self.id_number.is_none() => {
                errs.push("id_number", "居民用户须登记身份证号（实名制）")
            }
            CustomerKind::Commercial if self.credit_code.is_none() => {
                errs.push("credit_code", "商业用户须登记统一社会信用代码")
            }
            _ => {}
        }
        if self.addresses.is_empty() {
            errs.push("addresses", "至少需要一个地址");
        }
        if self.addresses.len() > 20 {
            errs.push("addresses", "地址最多 20 个");
        }
        for (i, a) in self.addresses.iter().enumerate() {
            let mut e = ValidationErrors::default();
            check_position(a.lat, a.lon, &mut e);
            errs.extend_under(&format!("addresses[{i}]"), e);
        }
        errs.into_result(())
    }

    /// The identity that makes a person (or business) unique in the node: registered once (C6).
    pub fn identity(&self) -> String {
        match (&self.id_number, &self.credit_code) {
            (Some(id), _) => format!("id:{}", id.as_str()),
            (None, Some(cc)) => format!("cc:{}", cc.as_str()),
            (None, None) => format!("phone:{}", self.phone.as_str()),
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Guards: refuse a move that would send a cylinder where it must not go

/// Why an event may not be recorded for this cylinder (its archive and status before the event),
/// on `today`; empty when it may. Observations (receiving, recycling to the store, checks) are never
/// refused here except a recycle naming a customer who does not hold the cylinder.
pub fn cylinder_refusals(
    data: &EventData,
    archive: &Archive,
    status: &CylinderStatus,
    today: Date,
) -> Vec<String> {
    let mut out = Vec::new();
    let sends_full_out = match data {
        EventData::Deliver(_) => true,
        EventData::StoreOut(m) => m.full,
        EventData::Load(_) => status.full,
        _ => false,
    };
    if sends_full_out {
        let verdict = Verdict::of(archive, status, today);
        let what = data.kind().label_zh();
        match verdict {
            Verdict::Ok => {}
            Verdict::Overdue => out.push(format!(
                "气瓶已超期未检验（下次检验日期 {}），不能{what}",
                status
                    .next_check_date
                    .map_or_else(|| "未知".to_owned(), |d| d.to_string())
            )),
            v => out.push(format!("气瓶{}，不能{what}", v.label_zh())),
        }
        if let Some(k) = &status.failed_check {
            let k = EventKind::parse(k).map_or(k.as_str(), |k| k.label_zh());
            out.push(format!("气瓶{k}不合格，复检合格前不能{what}"));
        }
    }
    match data {
        EventData::Deliver(_) if status.location_kind == LocationKind::AtCustomer => {
            out.push("气瓶在用户处，须先回收才能再次配送".to_owned())
        }
        EventData::Deliver(_) if !status.full => out.push(format!(
            "气瓶不是重瓶（当前位置：{}），不能配送给用户",
            status.location_kind.label_zh()
        )),
        EventData::StoreOut(m) if m.full && !status.full => out.push(format!(
            "气瓶不是重瓶（当前位置：{}），不能按重瓶出库",
            status.location_kind.label_zh()
        )),
        EventData::Recycle(r) => {
            if let Some(c) = &r.customer_id
                && status.holder.as_ref() != Some(c)
            {
                out.push(format!(
                    "该用户未领用此气瓶（气瓶当前位置：{}），不能从该用户回收",
                    status.location_kind.label_zh()
                ));
            }
        }
        _ => {}
    }
    out
}

/// Non-blocking warnings a handheld shows with a scanned cylinder.
pub fn scan_warnings(archive: &Archive, status: &CylinderStatus, today: Date) -> Vec<String> {
    let mut out = Vec::new();
    match Verdict::of(archive, status, today) {
        Verdict::Ok => {
            if let Some(d) = status.next_check_date
                && d.naive() - today.naive() <= Duration::days(30)
            {
                out.push(format!("气瓶将于 {d} 到期检验"));
            }
        }
        Verdict::Overdue => out.push("气瓶已超期未检验，请送检".to_owned()),
        v => out.push(format!("气瓶{}", v.label_zh())),
    }
    if status.failed_check.is_some() {
        out.push("气瓶检查不合格，待复检".to_owned());
    }
    if status.location_kind == LocationKind::Unknown {
        out.push("气瓶此前无流转记录".to_owned());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Handheld scan-to-act (G9)

/// One handheld action on scanned cylinders and the event it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    /// 空瓶入库
    ReceiveEmpty,
    /// 重瓶入库 (after filling)
    StoreFull,
    /// 重瓶出库
    Dispatch,
    /// 装车
    Load,
    /// 卸车
    Unload,
    /// 配送交付
    Deliver,
    /// 空瓶回收
    Recycle,
}

impl ScanAction {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn kind(self) -> EventKind {
        match self {
            Self::ReceiveEmpty | Self::StoreFull => EventKind::StoreIn,
            Self::Dispatch => EventKind::StoreOut,
            Self::Load => EventKind::Load,
            Self::Unload => EventKind::Unload,
            Self::Deliver => EventKind::Deliver,
            Self::Recycle => EventKind::Recycle,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::ReceiveEmpty => "空瓶入库",
            Self::StoreFull => "重瓶入库",
            Self::Dispatch => "重瓶出库",
            Self::Load => "装车",
            Self::Unload => "卸车",
            Self::Deliver => "配送交付",
            Self::Recycle => "空瓶回收",
        }
    }

    /// Whether the action happens at a site (the warehouse or store the handheld stands in).
    pub fn needs_site(self) -> bool {
        matches!(self, Self::ReceiveEmpty | Self::StoreFull | Self::Dispatch)
    }
}

// ---------------------------------------------------------------------------------------------
// Cylinders held per customer (C5)

/// 存欠瓶 / 押瓶 of one customer: cylinders held now, deposits paid (net of refunds), and cylinders
/// held without a deposit (owed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Holdings {
    pub held: i64,
    pub deposits: i64,
    /// Held beyond the deposits paid (欠瓶/欠押).
    pub owed: i64,
    /// Deposits paid beyond the cylinders held (存瓶: the customer may take that many without a new
    /// deposit).
    pub credit: i64,
}

impl Holdings {
    pub fn of(held: i64, deposits: i64) -> Self {
        Holdings {
            held,
            deposits,
            owed: (held - deposits).max(0),
            credit: (deposits - held).max(0),
        }
    }
}

/// A deposit paid (positive `count`) or refunded (negative) for cylinders (押瓶).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    pub count: i64,
    /// Yuan, total for the `count` cylinders.
    pub amount_yuan: f64,
    pub receipt_no: Text,
}

impl Deposit {
    /// Validates against the deposits already paid (a refund cannot exceed them).
    pub fn validate(&self, paid: i64) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.count == 0 || self.count.abs() > 100 {
            errs.push("count", "押瓶数量应为 1–100（退押为负数）");
        }
        if self.count < 0 && paid + self.count < 0 {
            errs.push("count", format!("退押数量超过已交押金的瓶数（{paid}）"));
        }
        if !self.amount_yuan.is_finite() || self.amount_yuan < 0.0 {
            errs.push("amount_yuan", "金额应为非负数");
        }
        errs.into_result(())
    }
}

// ---------------------------------------------------------------------------------------------
// Orders (C3)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Created,
    Dispatched,
    Delivered,
    Cancelled,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Dispatched => "dispatched",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Created => "待派送",
            Self::Dispatched => "配送中",
            Self::Delivered => "已送达",
            Self::Cancelled => "已取消",
        }
    }

    /// The state after dispatching to a courier (re-dispatch to another courier allowed).
    pub fn dispatch(self) -> Result<Self, String> {
        match self {
            Self::Created | Self::Dispatched => Ok(Self::Dispatched),
            s => Err(format!("订单{}，不能派单", s.label_zh())),
        }
    }

    /// The state after the handover was confirmed.
    pub fn deliver(self) -> Result<Self, String> {
        match self {
            Self::Dispatched => Ok(Self::Delivered),
            Self::Created => Err("订单尚未派单，不能确认送达".to_owned()),
            s => Err(format!("订单{}，不能确认送达", s.label_zh())),
        }
    }

    pub fn cancel(self) -> Result<Self, String> {
        match self {
            Self::Created | Self::Dispatched => Ok(Self::Cancelled),
            s => Err(format!("订单{}，不能取消", s.label_zh())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    /// e.g. `LPG`
    pub medium: Text,
    /// e.g. `YSP15` or `15kg`
    pub spec: Text,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer_id: Uuid,
    /// Index into the customer's addresses.
    #[serde(default)]
    pub address_index: usize,
    pub items: Vec<OrderItem>,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

impl NewOrder {
    pub fn validate(&self, addresses: usize) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.items.is_empty() {
            errs.push("items", "订单至少包含一项");
        }
        for (i, it) in self.items.iter().enumerate() {
            if it.quantity == 0 || it.quantity > 50 {
                errs.push(format!("items[{i}].quantity"), "数量应为 1–50");
            }
        }
        if self.address_index >= addresses {
            errs.push("address_index", format!("该用户只有 {addresses} 个地址"));
        }
        errs.into_result(())
    }

    /// Cylinders the order asks for.
    pub fn quantity(&self) -> u32 {
        self.items.iter().map(|i| i.quantity).sum()
    }
}

/// How the customer confirmed a handover: the order's handover code told to them, or an e-signature
/// (an uploaded image, by its SM3 hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Confirmation {
    Code { code: String },
    Signature { file: String },
}

/// A six-digit handover code derived from random bytes the caller drew.
pub fn handover_code(random: u32) -> String {
    format!("{:06}", random % 1_000_000)
}

// ---------------------------------------------------------------------------------------------
// Household safety checks (C9, E8)

/// A configurable item of the household safety check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// Short stable code, e.g. `hose`.
    pub code: Text,
    pub text: Text,
    /// Days the customer has to rectify a failed item.
    pub rectify_days: u32,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// The check items a node starts with (seed 000 §6.5.5, seed 003 §5: 随瓶安检).
pub fn default_check_items() -> Vec<CheckItem> {
    let item = |code: &str, text: &str, days| CheckItem {
        code: Text::parse(code).expect("static"),
        text: Text::parse(text).expect("static"),
        rectify_days: days,
        active: true,
    };
    vec![
        item("leak", "气瓶、阀门及连接处无泄漏", 1),
        item("hose", "连接软管未老化、无龟裂，长度不超过 2 米且未穿墙", 7),
        item("regulator", "使用合格的减压阀", 7),
        item("room", "用气场所通风良好，不在卧室、地下室使用", 7),
        item("distance", "气瓶与灶具保持安全距离（不小于 0.5 米）", 7),
        item("upright", "气瓶直立放置，无倒置、卧放、加热", 1),
        item("alarm", "商业用户安装可燃气体报警器并正常工作", 15),
        item("stove", "燃气灶具有熄火保护装置", 15),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckAnswer {
    pub item: Text,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<Text>,
}

/// A household safety check as recorded by the courier or inspector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHouseholdCheck {
    pub customer_id: Uuid,
    #[serde(default)]
    pub address_index: usize,
    pub time: DateTime<Utc>,
    pub answers: Vec<CheckAnswer>,
    /// SM3 hashes (hex) of photos uploaded through `POST /api/v1/files`.
    #[serde(default)]
    pub photos: Vec<String>,
    /// SM3 hash of the customer's e-signature image.
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A rectification task for one failed item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rectification {
    pub item: Text,
    pub text: Text,
    pub due: DateTime<Utc>,
}

impl NewHouseholdCheck {
    /// Validates against the active items: every one answered once, nothing unknown; returns the
    /// rectification tasks the failed items create.
    pub fn rectifications(
        &self,
        items: &[CheckItem],
        addresses: usize,
    ) -> Result<Vec<Rectification>, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let active: Vec<&CheckItem> = items.iter().filter(|i| i.active).collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, a) in self.answers.iter().enumerate() {
            match active.iter().find(|c| c.code == a.item) {
                None => errs.push(
                    format!("answers[{i}].item"),
                    format!("未知的安检项目“{}”", a.item),
                ),
                Some(_) if !seen.insert(a.item.as_str()) => {
                    errs.push(format!("answers[{i}].item"), "安检项目重复")
                }
                Some(c) if !a.ok => out.push(Rectification {
                    item: c.code.clone(),
                    text: c.text.clone(),
                    due: self.time + Duration::days(i64::from(c.rectify_days)),
                }),
                Some(_) => {}
            }
        }
        for c in &active {
            if !seen.contains(c.code.as_str()) {
                errs.push("answers", format!("缺少安检项目“{}”（{}）", c.code, c.text));
            }
        }
        for (field, h) in std::iter::once(("signature".to_owned(), &self.signature)).chain(
            self.photos
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("photos[{i}]"), p)),
        ) {
            if !is_file_hash(h) {
                errs.push(field, "应为已上传文件的 SM3 值（64 位十六进制）");
            }
        }
        if self.address_index >= addresses {
            errs.push("address_index", format!("该用户只有 {addresses} 个地址"));
        }
        check_position(self.lat, self.lon, &mut errs);
        errs.into_result(out)
    }
}

/// Whether `s` is a content address (64 lower-case hex characters).
pub fn is_file_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The reminder a rectification task due at `due` needs at `now`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// Due within a day.
    DueSoon,
    Overdue,
}

pub fn reminder(due: DateTime<Utc>, now: DateTime<Utc>) -> Option<Reminder> {
    if now > due {
        Some(Reminder::Overdue)
    } else if due - now <= Duration::days(1) {
        Some(Reminder::DueSoon)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Stock-taking (C1)

/// The result of scanning everything present in a store against what the records say is there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stocktake {
    /// Expected and scanned.
    pub present: Vec<String>,
    /// Expected but not scanned.
    pub missing: Vec<String>,
    /// Scanned but not expected here.
    pub unexpected: Vec<String>,
}

impl Stocktake {
    pub fn compare(expected: &[String], scanned: &[String]) -> Self {
        let exp: std::collections::BTreeSet<&String> = expected.iter().collect();
        let got: std::collections::BTreeSet<&String> = scanned.iter().collect();
        Stocktake {
            present: exp.intersection(&got).map(|s| (*s).clone()).collect(),
            missing: exp.difference(&got).map(|s| (*s).clone()).collect(),
            unexpected: got.difference(&exp).map(|s| (*s).clone()).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Trajectory (C8)

/// One row of a cylinder's flow table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectoryRow {
    pub time: DateTime<Utc>,
    pub kind: EventKind,
    /// 操作 (Chinese)
    pub operation: String,
    /// 操作人
    pub operator: String,
    /// 地点
    pub place: String,
    /// 去向 / 对象: the vehicle, customer, order, station …
    pub target: String,
    pub tare_kg: Option<f64>,
    pub gross_kg: Option<f64>,
    pub ledger_index: i64,
}

/// What an event's `data` points at, in words, given the names the caller resolved.
pub fn trajectory_target(data: &EventData, name: &dyn Fn(&str) -> Option<String>) -> String {
    let named = |id: &str| name(id).unwrap_or_else(|| id.to_owned());
    match data {
        EventData::Load(v) | EventData::Unload(v) => match &v.waybill {
            Some(w) => format!("车辆 {} · 运单 {}", v.vehicle, w),
            None => format!("车辆 {}", v.vehicle),
        },
        EventData::Deliver(d) => {
            let mut s = match &d.customer_id {
                Some(c) => format!("用户 {}", named(c.as_str())),
                None => "经销点".to_owned(),
            };
            if let Some(o) = &d.order_id {
                s.push_str(&format!(" · 订单 {o}"));
            }
            s
        }
        EventData::Recycle(r) => r
            .customer_id
            .as_ref()
            .map_or_else(String::new, |c| format!("用户 {}", named(c.as_str()))),
        EventData::StoreIn(m) | EventData::StoreOut(m) => {
            if m.full { "重瓶" } else { "空瓶" }.to_owned()
        }
        EventData::InspectionSend(s) => {
            format!("检验机构 {}", named(&s.station_org_id.to_string()))
        }
        EventData::InspectionResult(r) => format!(
            "{} · 报告 {}",
            named(&r.station_org_id.to_string()),
            r.report_no
        ),
        EventData::Scrap(s) => s.reason.to_string(),
        EventData::Register(r) => format!("登记证 {}", r.number),
        EventData::Fill(f) => format!("秤 {}", f.scale_no),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_checked_and_masked() {
        // C6: a real-name identity with a valid GB 11643 check character.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert!(IdNumber::parse("110105194912310021").is_err());
        assert!(IdNumber::parse("11010519491331002X").is_err());
        assert!(IdNumber::parse("1101051949123100").is_err());
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn phones_names_and_addresses_are_masked() {
        assert_eq!(Phone::parse("13812345678").unwrap().masked(), "138****5678");
        assert_eq!(
            Phone::parse("0871-65551234").unwrap().masked(),
            "087******1234"
        );
        assert!(Phone::parse("1381234567").is_err());
        assert!(Phone::parse("abc").is_err());
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(
            mask_address("昆明市五华区人民中路 18 号 3 栋"),
            "昆明市五华区人民中路***"
        );
    }

    #[test]
    fn plates_are_checked() {
        for ok in ["云A12345", "云AD12345", "云A1234挂", "云a·12345"] {
            assert!(Plate::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["A12345", "云112345", "云A1234", "云AI2345", "X云A12345"] {
            assert!(Plate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn holdings_split_owed_and_credit() {
        assert_eq!(
            Holdings::of(3, 1),
            Holdings {
                held: 3,
                deposits: 1,
                owed: 2,
                credit: 0
            }
        );
        assert_eq!(
            Holdings::of(0, 2),
            Holdings {
                held: 0,
                deposits: 2,
                owed: 0,
                credit: 2
            }
        );
    }

    #[test]
    fn order_states_move_forward_only() {
        use OrderState as S;
        assert_eq!(S::Created.dispatch(), Ok(S::Dispatched));
        assert_eq!(S::Dispatched.dispatch(), Ok(S::Dispatched));
        assert!(S::Created.deliver().is_err());
        assert_eq!(S::Dispatched.deliver(), Ok(S::Delivered));
        assert!(S::Delivered.cancel().is_err());
        assert!(S::Cancelled.dispatch().is_err());
    }

    #[test]
    fn stocktake_reports_missing_and_unexpected() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = Stocktake::compare(&s(&["a", "b", "c"]), &s(&["b", "c", "d", "d"]));
        assert_eq!(t.present, s(&["b", "c"]));
        assert_eq!(t.missing, s(&["a"]));
        assert_eq!(t.unexpected, s(&["d"]));
    }

    #[test]
    fn reminders() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T08:00:00+08:00")
            .unwrap()
            .to_utc();
        assert_eq!(reminder(now + Duration::days(3), now), None);
        assert_eq!(
            reminder(now + Duration::hours(20), now),
            Some(Reminder::DueSoon)
        );
        assert_eq!(
            reminder(now - Duration::hours(1), now),
            Some(Reminder::Overdue)
        );
    }

    // C1, C5: stock per site and cylinders held per customer, from the projection fold over random
    // event sequences (submitted in any order), against a simple model that only remembers where
    // each cylinder last went.
    mod model {
        use super::super::*;
        use crate::event::Event;
        use crate::{CylinderCode, CylinderStatus};
        use proptest::prelude::*;
        use serde_json::json;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            StoreIn { site: u8, full: bool },
            StoreOut { full: bool },
            Load,
            Unload { site: u8 },
            Deliver { customer: u8 },
            Recycle { site: u8 },
            Fill { site: u8 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..3, any::<bool>()).prop_map(|(site, full)| Op::StoreIn { site, full }),
                any::<bool>().prop_map(|full| Op::StoreOut { full }),
                Just(Op::Load),
                (0u8..3).prop_map(|site| Op::Unload { site }),
                (0u8..3).prop_map(|customer| Op::Deliver { customer }),
                (0u8..3).prop_map(|site| Op::Recycle { site }),
                (0u8..3).prop_map(|site| Op::Fill { site }),
            ]
        }

        fn site(n: u8) -> Uuid {
            Uuid::from_u128(u128::from(n) + 1)
        }

        fn event(code: &CylinderCode, op: &Op, minute: i64) -> Event {
            let t = DateTime::parse_from_rfc3339("2026-11-01T00:00:00+08:00")
                .unwrap()
                .to_utc()
                + Duration::minutes(minute);
            let (kind, data, at) = match op {
                Op::StoreIn { site: s, full } => {
                    (EventKind::StoreIn, json!({"full": full}), Some(*s))
                }
                Op::StoreOut { full } => (EventKind::StoreOut, json!({"full": full}), None),
                Op::Load => (EventKind::Load, json!({"vehicle": "云A12345"}), None),
                Op::Unload { site: s } => {
                    (EventKind::Unload, json!({"vehicle": "云A12345"}), Some(*s))
                }
                Op::Deliver { customer } => (
                    EventKind::Deliver,
                    json!({"customer_id": format!("c{customer}")}),
                    None,
                ),
                Op::Recycle { site: s } => (EventKind::Recycle, json!({}), Some(*s)),
                Op::Fill { site: s } => (
                    EventKind::Fill,
                    json!({"scale_no": "S1", "begin": t.to_rfc3339(), "end": t.to_rfc3339(),
                           "tare_kg": 15, "gross_kg": 29.5}),
                    Some(*s),
                ),
            };
            Event {
                id: Uuid::new_v4(),
                data: EventData::parse(kind, &data, "").unwrap(),
                codes: vec![code.clone()],
                time: t,
                site_id: at.map(site),
                operator: None,
                device: None,
                position: None,
            }
        }

        /// Where the model says a cylinder is: in stock at (site, full), or held by a customer.
        #[derive(Debug, Clone, Default)]
        struct Where {
            stock: Option<(u8, bool)>,
            holder: Option<u8>,
            full: bool,
        }

        fn step(w: &mut Where, op: &Op) {
            w.holder = None;
            w.stock = None;
            match op {
                Op::StoreIn { site, full } => {
                    w.full = *full;
                    w.stock = Some((*site, *full));
                }
                Op::StoreOut { .. } | Op::Load => {}
                Op::Unload { site } => {
                    if !w.full {
                        w.stock = Some((*site, false));
                    }
                }
                Op::Deliver { customer } => w.holder = Some(*customer),
                Op::Recycle { site } => {
                    w.full = false;
                    w.stock = Some((*site, false));
                }
                Op::Fill { site } => {
                    w.full = true;
                    w.stock = Some((*site, true));
                }
            }
        }

        proptest! {
            #[test]
            fn stock_and_holdings_follow_the_last_move(
                ops in proptest::collection::vec((0usize..4, op()), 0..60),
                seed in any::<u64>(),
            ) {
                let codes: Vec<CylinderCode> = (0..4)
                    .map(|i| CylinderCode::parse(&format!("110300783{i}")).unwrap())
                    .collect();
                let archive = |c: &CylinderCode| crate::Archive::blank(c.clone());
                let mut events: Vec<Event> = ops
                    .iter()
                    .enumerate()
                    .map(|(i, (c, op))| event(&codes[*c], op, i as i64))
                    .collect();
                let mut model: Vec<Where> = vec![Where::default(); 4];
                for (c, op) in &ops {
                    step(&mut model[*c], op);
                }
                // Submission order does not matter: the fold sorts by event time.
                let mut x = seed;
                for i in (1..events.len()).rev() {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    events.swap(i, (x >> 33) as usize % (i + 1));
                }
                let mut stock: BTreeMap<(Uuid, bool), usize> = BTreeMap::new();
                let mut held: BTreeMap<String, usize> = BTreeMap::new();
                for c in &codes {
                    let s = CylinderStatus::fold(&archive(c), events.iter().filter(|e| &e.codes[0] == c));
                    match (s.location_kind, s.site_id) {
                        (LocationKind::FullStore, Some(site)) => *stock.entry((site, true)).or_default() += 1,
                        (LocationKind::EmptyStore, Some(site)) => *stock.entry((site, false)).or_default() += 1,
                        _ => {}
                    }
                    if let Some(h) = &s.holder {
                        *held.entry(h.to_string()).or_default() += 1;
                    }
                }
                let mut want_stock: BTreeMap<(Uuid, bool), usize> = BTreeMap::new();
                let mut want_held: BTreeMap<String, usize> = BTreeMap::new();
                for w in &model {
                    if let Some((s, full)) = w.stock {
                        *want_stock.entry((site(s), full)).or_default() += 1;
                    }
                    if let Some(h) = w.holder {
                        *want_held.entry(format!("c{h}")).or_default() += 1;
                    }
                }
                prop_assert_eq!(stock, want_stock);
                prop_assert_eq!(held, want_held);
            }
        }
    }
}
