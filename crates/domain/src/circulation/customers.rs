//! Customers (C6): residential and commercial customers registered once in a node, and what they
//! hold against deposits (C5).

use serde::{Deserialize, Serialize};

use crate::error::ValidationErrors;
use crate::org::{CreditCode, check_position};
use crate::units::Text;

use super::{IdNumber, Phone};

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
