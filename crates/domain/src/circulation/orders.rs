//! Orders (C3): their states, items, the handover confirmation and code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ValidationErrors;
use crate::units::Text;

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

/// An order as kept (business record of kind `order`): what was ordered and where to, the handover
/// code, the courier it went to, and the delivery once made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDoc {
    pub order: NewOrder,
    pub address: super::Address,
    pub handover_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub courier_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<DateTime<Utc>>,
    /// Kept flat in the stored body (`delivery_event`, `ledger_index`, `codes`, `delivered_at`,
    /// `confirmation`), as the first version stored it.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// A delivery that completed an order: the `deliver` event and what it handed over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    #[serde(rename = "delivery_event")]
    pub event_id: Uuid,
    pub ledger_index: i64,
    pub codes: Vec<String>,
    #[serde(rename = "delivered_at")]
    pub time: DateTime<Utc>,
    pub confirmation: Confirmation,
}

/// Whether a delivery may complete an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryCheck {
    /// The order may be delivered now.
    Proceed,
    /// This delivery (the same event) completed it already: a retry.
    Repeated,
}

/// Why an order may not be delivered: the field it concerns and the reason, or that the order was
/// not dispatched to this courier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryRefusal {
    /// 409: delivered by another delivery.
    Done(String),
    Invalid {
        field: &'static str,
        message: String,
    },
    NotYours(String),
}

impl OrderDoc {
    /// Whether the delivery `event_id` of `codes` by `courier` (any courier when `any_courier`),
    /// confirmed by `confirmation`, may complete this order in `state` (C3).
    pub fn check_delivery(
        &self,
        state: OrderState,
        event_id: Uuid,
        courier: Option<Uuid>,
        any_courier: bool,
        confirmation: &Confirmation,
        codes: usize,
    ) -> Result<DeliveryCheck, DeliveryRefusal> {
        if let Some(d) = &self.delivery {
            return if d.event_id == event_id {
                Ok(DeliveryCheck::Repeated)
            } else {
                Err(DeliveryRefusal::Done("订单已送达".to_owned()))
            };
        }
        state
            .deliver()
            .map_err(|message| DeliveryRefusal::Invalid {
                field: "state",
                message,
            })?;
        if !any_courier && (courier.is_none() || self.courier_id != courier) {
            return Err(DeliveryRefusal::NotYours("该订单未派给您".to_owned()));
        }
        if let Confirmation::Code { code } = confirmation
            && self.handover_code != code.trim()
        {
            return Err(DeliveryRefusal::Invalid {
                field: "confirmation.code",
                message: "交接码不正确".to_owned(),
            });
        }
        let ordered = self.order.quantity() as usize;
        if codes == 0 || codes > ordered {
            return Err(DeliveryRefusal::Invalid {
                field: "codes",
                message: format!("交付气瓶数应为 1–{ordered}（订单数量）"),
            });
        }
        Ok(DeliveryCheck::Proceed)
    }
}
