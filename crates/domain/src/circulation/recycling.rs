//! The recycling order (回收单, C4; seed 001 §5.2.1.12): a customer or a courier asks for empty
//! cylinders to be taken back; the station confirms what it received with one `recycle` event that
//! names the order, or cancels the order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Phone;
use crate::error::ValidationErrors;
use crate::units::Text;

/// At most this many empty cylinders on one order.
pub const MAX_RECYCLING_COUNT: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecyclingState {
    Open,
    Confirmed,
    Cancelled,
}

impl RecyclingState {
    pub const ALL: [RecyclingState; 3] = [Self::Open, Self::Confirmed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Open => "待回收",
            Self::Confirmed => "已确认回收",
            Self::Cancelled => "已取消",
        }
    }

    /// The state after cancelling.
    pub fn cancel(self) -> Result<Self, String> {
        match self {
            Self::Open => Ok(Self::Cancelled),
            s => Err(format!("回收单{}，不能取消", s.label_zh())),
        }
    }
}

/// A recycling order as asked for (`POST /api/v1/recycling-orders`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecyclingOrder {
    /// The idempotency key: a retry with the same id answers the order created first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
    /// How many empty cylinders are to be taken back.
    pub count: u32,
    /// Codes already known (scanned by the courier); checked when the station confirms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

impl NewRecyclingOrder {
    /// The rules between the fields: who gives the cylinders back must be known (a registered
    /// customer, or a contact with an address), and the count must cover the codes named.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.customer_id.is_none() {
            if self.contact.is_none() {
                errs.push("contact", "未选择客户时须填写联系人");
            }
            if self.address.is_none() {
                errs.push("address", "未选择客户时须填写回收地址");
            }
        }
        if self.count == 0 || self.count > MAX_RECYCLING_COUNT {
            errs.push(
                "count",
                format!("空瓶数量应为 1 到 {MAX_RECYCLING_COUNT} 之间的整数"),
            );
        } else if self.codes.len() > self.count as usize {
            errs.push("codes", "扫描的气瓶多于空瓶数量");
        }
        errs.into_result(())
    }
}

/// How the station confirmed an order: the `recycle` event and what it received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecyclingReceipt {
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub site_id: Option<Uuid>,
    pub codes: Vec<String>,
    pub time: DateTime<Utc>,
}

/// The stored body of a recycling order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecyclingOrderDoc {
    pub order: NewRecyclingOrder,
    pub created_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<RecyclingReceipt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<Text>,
}

/// What a `recycle` event naming an order may do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptCheck {
    /// The order is open: mark it confirmed by this event.
    Confirm,
    /// Not to be confirmed: the reason (the order is confirmed by another event, or cancelled).
    Refused(String),
}

impl RecyclingOrderDoc {
    /// Whether a `recycle` event for `codes` may confirm the order in `state`.
    pub fn check_receipt(&self, state: RecyclingState, codes: usize) -> ReceiptCheck {
        match state {
            RecyclingState::Open if codes > MAX_RECYCLING_COUNT as usize => {
                ReceiptCheck::Refused("回收的气瓶过多".to_owned())
            }
            RecyclingState::Open => ReceiptCheck::Confirm,
            s => ReceiptCheck::Refused(format!("回收单{}，不能再确认回收", s.label_zh())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(v: serde_json::Value) -> Result<NewRecyclingOrder, ValidationErrors> {
        let o: NewRecyclingOrder = crate::parse::from_value(&v, "").map_err(|e| e.clone())?;
        o.validate()?;
        Ok(o)
    }

    fn fields(r: Result<NewRecyclingOrder, ValidationErrors>) -> Vec<String> {
        r.unwrap_err().0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn an_order_names_who_gives_back_and_how_many() {
        // C4: a registered customer, or a contact with an address.
        let c = Uuid::new_v4();
        assert!(order(json!({"customer_id": c, "count": 2})).is_ok());
        assert!(
            order(json!({"contact": "张三", "address": "昆明市盘龙区 1 号", "count": 1})).is_ok()
        );
        assert_eq!(fields(order(json!({"count": 1}))), ["contact", "address"]);
        assert_eq!(
            fields(order(json!({"customer_id": c, "count": 0}))),
            ["count"]
        );
        assert_eq!(
            fields(order(
                json!({"customer_id": c, "count": 1, "codes": ["1110000001", "1110000002"]})
            )),
            ["codes"]
        );
        assert_eq!(
            fields(order(json!({"customer_id": c, "count": 1, "phone": "12"}))),
            ["phone"]
        );
    }

    #[test]
    fn only_an_open_order_is_confirmed_or_cancelled() {
        let doc = RecyclingOrderDoc {
            order: order(json!({"customer_id": Uuid::new_v4(), "count": 1})).unwrap(),
            created_by: None,
            receipt: None,
            cancel_reason: None,
        };
        assert_eq!(
            doc.check_receipt(RecyclingState::Open, 3),
            ReceiptCheck::Confirm
        );
        assert!(matches!(
            doc.check_receipt(RecyclingState::Confirmed, 1),
            ReceiptCheck::Refused(m) if m.contains("已确认回收")
        ));
        assert!(RecyclingState::Open.cancel().is_ok());
        assert!(RecyclingState::Cancelled.cancel().is_err());
        assert_eq!(
            RecyclingState::parse("confirmed"),
            Some(RecyclingState::Confirmed)
        );
    }
}
