//! Orders and their delivery (C3, C11): created for a customer in scope, dispatched to a courier,
//! cancelled, or delivered with the customer's confirmation (one `deliver` event through
//! `record_events`; kept as it is, the event write path).

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, Address, Confirmation, NewOrder, OrderDoc, OrderItem, OrderState, PersonalView,
};
use cyltrace_domain::event::{Deliver, Position};
use cyltrace_domain::intake::Naming;
use cyltrace_domain::org::check_position;
use cyltrace_domain::{CylinderCode, Event, EventData, EventKind, Role, Text, ValidationErrors};
use cyltrace_store::BizRecord;
use cyltrace_store::OrderDelivery;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::customers::{CustomerDoc, customer};
use super::{
    ListQuery, ORDER, doc_of, list_in_scope, new_record, owned, owner, parse, save, to_body,
    visible_record,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::services::events::{Submission, api_error, submit};
use crate::state::AppState;

pub async fn create_order(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::ManageOrders)?;
    let (org, o): (_, NewOrder) = owned(body)?;
    let org_id = owner(st, p, org).await?;
    let c = customer(st, p, o.customer_id).await?;
    let doc = CustomerDoc::of(&c)?;
    let addresses = doc.addresses.len();
    o.validate(addresses)?;
    let now = st.now();
    let address = doc
        .addresses
        .get(o.address_index)
        .cloned()
        .ok_or_else(|| ApiError::invalid("address_index", "该用户没有这个地址"))?;
    let order = OrderDoc {
        order: o.clone(),
        address,
        handover_code: dom::handover_code(rand::random::<u32>()),
        courier_id: None,
        dispatched_at: None,
        delivery: None,
    };
    let r = new_record(
        ORDER,
        org_id,
        None,
        Some(o.customer_id),
        OrderState::Created.as_str(),
        to_body(&order)?,
        now,
    );
    st.store.insert_biz(&r).await?;
    Ok(r)
}

/// An order as answered: what was ordered and where to (the address masked for roles without
/// need), its state, the courier, the delivery; the handover code only for those who tell it.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub state: String,
    pub state_zh: Option<&'static str>,
    pub items: Vec<OrderItem>,
    pub requested_at: DateTime<Utc>,
    pub remark: Option<Text>,
    pub address: DeliveryAddress,
    pub courier_id: Option<Uuid>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub codes: Option<Vec<String>>,
    /// How the customer confirmed: `code` or `signature`.
    pub confirmation: Option<&'static str>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover_code: Option<String>,
}

/// An order's delivery address: in full, or only the masked street for roles without need.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DeliveryAddress {
    Full(Address),
    Masked { address: String },
}

pub fn order_view(r: &BizRecord, view: PersonalView, show_code: bool) -> ApiResult<OrderView> {
    let doc: OrderDoc = doc_of(r)?;
    let delivery = doc.delivery.as_ref();
    Ok(OrderView {
        id: r.id,
        org_id: r.org_id,
        customer_id: r.ref_id,
        state: r.state.clone(),
        state_zh: OrderState::parse(&r.state).map(OrderState::label_zh),
        items: doc.order.items,
        requested_at: doc.order.requested_at,
        remark: doc.order.remark,
        address: match view {
            PersonalView::Contact => DeliveryAddress::Full(doc.address),
            PersonalView::Masked => DeliveryAddress::Masked {
                address: dom::mask_address(doc.address.address.as_str()),
            },
        },
        courier_id: doc.courier_id,
        dispatched_at: doc.dispatched_at,
        delivered_at: delivery.map(|d| d.time),
        codes: delivery.map(|d| d.codes.clone()),
        confirmation: delivery.map(|d| match d.confirmation {
            Confirmation::Code { .. } => "code",
            Confirmation::Signature { .. } => "signature",
        }),
        created_at: r.created_at,
        handover_code: show_code.then_some(doc.handover_code),
    })
}

pub async fn dispatch_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct D {
        courier_id: Uuid,
    }
    p.require(Action::ManageOrders)?;
    let d: D = parse(body)?;
    let mut r = visible_record(st, p, ORDER, id, "订单").await?;
    let courier = st
        .store
        .get_user(d.courier_id)
        .await?
        .ok_or_else(|| ApiError::invalid("courier_id", "用户不存在"))?;
    if !courier.roles.contains(&Role::Courier) {
        return Err(ApiError::invalid("courier_id", "该用户不是配送员"));
    }
    if !courier.active {
        return Err(ApiError::invalid("courier_id", "该配送员的账户已停用"));
    }
    p.require_scope(&courier.org_path, "该配送员")?;
    let state = OrderState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("order state {}", r.state)))?;
    let next = state
        .dispatch()
        .map_err(|m| ApiError::invalid("state", m))?;
    let mut doc: OrderDoc = doc_of(&r)?;
    doc.courier_id = Some(d.courier_id);
    doc.dispatched_at = Some(st.now());
    r.state = next.as_str().to_owned();
    r.body = to_body(&doc)?;
    save(st, r).await
}

pub async fn cancel_order(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    p.require(Action::ManageOrders)?;
    let mut r = visible_record(st, p, ORDER, id, "订单").await?;
    let state = OrderState::parse(&r.state)
        .ok_or_else(|| ApiError::Internal(format!("order state {}", r.state)))?;
    r.state = state
        .cancel()
        .map_err(|m| ApiError::invalid("state", m))?
        .as_str()
        .to_owned();
    save(st, r).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverOrder {
    /// The idempotency key of the delivery (the `deliver` event's id).
    id: Uuid,
    codes: Vec<String>,
    time: DateTime<Utc>,
    confirmation: Confirmation,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

/// Hands the order's cylinders to the customer (C3): one `deliver` event for the codes, judged with
/// the order — it must be dispatched to the caller (an enterprise admin may deliver any), the
/// handover code must match or the e-signature be uploaded, the codes at most the quantity ordered
/// — and the order marked delivered in the same commit. A retry with the same `id` answers the same.
pub async fn deliver_order(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<(BizRecord, i64)> {
    p.require(Action::RecordEvent(EventKind::Deliver))?;
    let d: DeliverOrder = parse(body)?;
    let mut errs = ValidationErrors::default();
    if let Confirmation::Signature { file } = &d.confirmation
        && (!dom::is_file_hash(file) || !super::files::usable(st, p, file).await?)
    {
        errs.push(
            "confirmation.file",
            "签名文件不存在，请先上传（POST /api/v1/files）",
        );
    }
    let mut codes = Vec::with_capacity(d.codes.len());
    for (i, c) in d.codes.iter().enumerate() {
        match CylinderCode::parse(c) {
            Ok(c) => codes.push(c),
            Err(m) => errs.push(format!("codes[{i}]"), m),
        }
    }
    check_position(d.lat, d.lon, &mut errs);
    errs.into_result(())?;
    // The customer of the order, as the event records it (read again, and judged, by the writer).
    let customer = visible_record(st, p, ORDER, id, "订单")
        .await?
        .ref_id
        .map(|u| Text::parse(&u.to_string()))
        .transpose()
        .map_err(ApiError::Internal)?;
    let event = Event {
        id: d.id,
        data: EventData::Deliver(Deliver {
            customer_id: customer,
            order_id: Some(Text::parse(&id.to_string()).map_err(ApiError::Internal)?),
            confirmation: Some(d.confirmation.clone()),
        }),
        codes,
        time: d.time,
        site_id: None,
        operator: None,
        device: None,
        position: d.lat.zip(d.lon).map(|(lat, lon)| Position { lat, lon }),
    };
    let signature = match &d.confirmation {
        Confirmation::Signature { file } => Some(file.clone()),
        _ => None,
    };
    let mut sub = Submission::new(vec![event], Naming::Fields);
    sub.order = Some(OrderDelivery {
        order_id: id,
        confirmation: d.confirmation,
        any_courier: p.roles.contains(&Role::EnterpriseAdmin) || p.is_node_admin(),
    });
    let appended = submit(st, p, sub, audit).await.map_err(api_error)?;
    let idx = appended.first().map_or(-1, |a| a.ledger_index);
    let order = visible_record(st, p, ORDER, id, "订单").await?;
    if let Some(file) = signature {
        super::files::own(st, order.org_id, Some(p.user_id), &file).await?;
    }
    Ok((order, idx))
}

/// Whether the caller is shown an order's handover code: it is told to the customer by the
/// enterprise, never shown to the courier.
pub fn shows_code(p: &Principal) -> bool {
    p.is_node_admin() || p.roles.contains(&Role::EnterpriseAdmin)
}

/// Orders in scope (state=, customer_id=).
pub async fn orders(st: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Vec<OrderView>> {
    let list = list_in_scope(st, p, ORDER, q).await?;
    let view = dom::personal_view(&p.roles);
    list.iter()
        .map(|r| order_view(r, view, shows_code(p)))
        .collect()
}

/// One order (`id` as the path gives it).
pub async fn order(st: &AppState, p: &Principal, id: &str) -> ApiResult<OrderView> {
    p.require(Action::Read)?;
    let r = visible_record(st, p, ORDER, crate::services::parse_id(id, "订单")?, "订单").await?;
    order_view(&r, dom::personal_view(&p.roles), shows_code(p))
}

/// The console's one-button dispatch: the order goes to the first courier of its own enterprise.
pub async fn dispatch_to_first_courier(
    st: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<BizRecord> {
    let order = visible_record(st, p, ORDER, id, "订单").await?;
    let courier = st
        .store
        .list_users(
            &p.scope(),
            cyltrace_store::Page {
                limit: 1000,
                offset: 0,
            },
        )
        .await?
        .into_iter()
        .find(|u| u.active && u.roles.contains(&Role::Courier) && u.org_id == order.org_id)
        .ok_or_else(|| ApiError::invalid("courier_id", "本企业没有配送员账户"))?;
    dispatch_order(st, p, id, &json!({"courier_id": courier.id})).await
}
