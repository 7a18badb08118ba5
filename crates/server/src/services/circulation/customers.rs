//! Customers (C5, C6): registered once in the node (by a keyed hash of the ID number or credit code)
//! and bound to the dealers that serve them; shown masked per role; real-name verification; deposits
//! and cylinders held; account-opening and real-name progress per organisation.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, Address, CustomerKind, Deposit, Holdings, NewCustomer, PersonalView, Phone,
    personal_view,
};
use cyltrace_domain::org::CreditCode;
use cyltrace_domain::{CylinderCode, Text};
use cyltrace_store::{BizFilter, BizRecord, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    BINDING, CUSTOMER, DEPOSIT, ListQuery, conflict, filter, identity_key, new_record, open_text,
    owned, owner, parse, save, seal_text,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a customer record holds (the `body` of a `customer` business record): the person or business
/// as registered, the ID number masked and sealed (SM4), and the real-name verification once made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomerDoc {
    pub kind: CustomerKind,
    pub name: Text,
    pub phone: Phone,
    pub addresses: Vec<Address>,
    pub credit_code: Option<CreditCode>,
    pub contact: Option<Text>,
    pub id_masked: Option<String>,
    /// The ID number under the node's personal-data key (`{"iv","c"}`), when one was given.
    pub id_sealed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_method: Option<Text>,
}

impl CustomerDoc {
    /// The document of a customer record.
    pub fn of(r: &BizRecord) -> ApiResult<CustomerDoc> {
        serde_json::from_value(r.body.clone())
            .map_err(|e| ApiError::Internal(format!("customer {}: {e}", r.id)))
    }

    /// The name as `view` shows it: masked for roles that do not deliver, unless a business.
    pub fn name_as(&self, view: PersonalView) -> String {
        match view {
            PersonalView::Contact => self.name.to_string(),
            PersonalView::Masked if self.kind == CustomerKind::Commercial => self.name.to_string(),
            PersonalView::Masked => dom::mask_name(self.name.as_str()),
        }
    }
}

/// An address as a role may see it: the street masked and the coordinates left out for roles that do
/// not deliver.
#[derive(Debug, Clone, Serialize)]
pub struct AddressView {
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A customer as the API and the console show them to the caller.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    pub id: Uuid,
    pub kind: CustomerKind,
    pub name: String,
    pub phone: String,
    pub addresses: Vec<AddressView>,
    pub id_number: Option<String>,
    pub credit_code: Option<CreditCode>,
    pub contact: Option<Text>,
    pub real_name_verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub registered_by_org_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Registers a customer once in the node and binds them to the caller's organisation (or `org_id`,
/// a dealer in scope). A person already registered (same ID number or credit code) is not created
/// again: they are bound and their id answered. Answers (customer, created, newly bound).
pub async fn register_customer(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(BizRecord, bool, bool)> {
    p.require(Action::RegisterCustomers)?;
    let (org, c): (_, NewCustomer) = owned(body)?;
    c.validate()?;
    let org_id = owner(st, p, org).await?;
    let key = identity_key(st, &c.identity());
    let now = st.now();
    let existing = st.store.biz_by_key(CUSTOMER, &key).await?;
    let (rec, created) = match existing {
        Some(r) => (r, false),
        None => {
            let id_sealed = match &c.id_number {
                Some(id) => seal_text(st, id.as_str())?,
                None => Value::Null,
            };
            let r = new_record(
                CUSTOMER,
                org_id,
                Some(key.clone()),
                None,
                "unverified",
                json!(CustomerDoc {
                    kind: c.kind,
                    name: c.name.clone(),
                    phone: c.phone.clone(),
                    addresses: c.addresses.clone(),
                    credit_code: c.credit_code.clone(),
                    contact: c.contact.clone(),
                    id_masked: c.id_number.as_ref().map(|i| i.masked()),
                    id_sealed: Some(id_sealed).filter(|v| !v.is_null()),
                    verified_at: None,
                    verified_by: None,
                    verified_method: None,
                }),
                now,
            );
            match st.store.insert_biz(&r).await {
                Ok(()) => (r, true),
                // Registered at the same moment by another dealer: use that one.
                Err(StoreError::Conflict(_)) => (
                    st.store
                        .biz_by_key(CUSTOMER, &key)
                        .await?
                        .ok_or_else(|| ApiError::Internal("customer vanished".to_owned()))?,
                    false,
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let bound = bind(st, rec.id, org_id, now).await?;
    Ok((rec, created, bound))
}

/// Binds a customer to a dealer organisation; false when already bound.
async fn bind(st: &AppState, customer: Uuid, org_id: Uuid, now: DateTime<Utc>) -> ApiResult<bool> {
    let b = new_record(
        BINDING,
        org_id,
        Some(format!("{customer}/{org_id}")),
        Some(customer),
        "active",
        json!({}),
        now,
    );
    match st.store.insert_biz(&b).await {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A customer the caller may see: bound to an organisation in scope (or registered by one).
pub async fn customer(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<BizRecord> {
    let r = st
        .store
        .get_biz(CUSTOMER, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("用户不存在".to_owned()))?;
    if p.sees(&r.org_path) || bound_in_scope(st, p, id).await? {
        Ok(r)
    } else {
        Err(ApiError::Forbidden(
            "该用户不在您的数据权限范围内".to_owned(),
        ))
    }
}

/// A customer as the caller may see them: contact data in full for roles that deliver, masked for
/// the others; the ID number always masked (see [`reveal_id`]).
pub fn customer_view(r: &BizRecord, view: PersonalView) -> ApiResult<CustomerView> {
    let d = CustomerDoc::of(r)?;
    let masked = view == PersonalView::Masked;
    let addresses = d
        .addresses
        .iter()
        .map(|a| AddressView {
            address: if masked {
                dom::mask_address(a.address.as_str())
            } else {
                a.address.to_string()
            },
            label: a.label.clone(),
            lat: a.lat.filter(|_| !masked),
            lon: a.lon.filter(|_| !masked),
        })
        .collect();
    let phone = match view {
        PersonalView::Contact => String::from(d.phone.clone()),
        PersonalView::Masked => d.phone.masked(),
    };
    Ok(CustomerView {
        id: r.id,
        kind: d.kind,
        name: d.name_as(view),
        phone,
        addresses,
        id_number: d.id_masked,
        credit_code: d.credit_code,
        contact: d.contact,
        real_name_verified: r.state == "verified",
        verified_at: d.verified_at,
        registered_by_org_id: r.org_id,
        created_at: r.created_at,
    })
}

/// A customer's name as `view` shows it (the customer of a record the caller already sees).
pub async fn customer_name(st: &AppState, id: Uuid, view: PersonalView) -> ApiResult<String> {
    Ok(match st.store.get_biz(CUSTOMER, id).await? {
        Some(c) => CustomerDoc::of(&c)?.name_as(view),
        None => String::new(),
    })
}

/// The full ID number, for roles that may see it; the caller records the read in the audit log.
pub async fn reveal_id(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<String> {
    if !dom::may_reveal_id(&p.roles) {
        return Err(ApiError::Forbidden(
            "当前角色无权查看完整身份证号".to_owned(),
        ));
    }
    let r = customer(st, p, id).await?;
    match CustomerDoc::of(&r)?.id_sealed {
        Some(v) => open_text(st, &v),
        None => Err(ApiError::NotFound("该用户未登记身份证号".to_owned())),
    }
}

/// Marks a customer's real name as verified (checked against the ID card in person or online).
pub async fn verify_customer(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct V {
        method: Text,
    }
    p.require(Action::ManageCustomers)?;
    let v: V = parse(body)?;
    let mut r = customer(st, p, id).await?;
    if r.state == "verified" {
        return Ok(r);
    }
    let mut d = CustomerDoc::of(&r)?;
    d.verified_at = Some(st.now());
    d.verified_by = Some(p.user_id);
    d.verified_method = Some(v.method);
    r.state = "verified".to_owned();
    r.body = json!(d);
    save(st, r).await
}

/// Customers bound to organisations in scope, newest binding first.
pub async fn list_customers(
    st: &AppState,
    p: &Principal,
    q: &ListQuery,
) -> ApiResult<Vec<CustomerView>> {
    p.require(Action::Read)?;
    let bindings = st
        .store
        .list_biz(&BizFilter {
            state: None,
            ref_id: None,
            ..q.biz_filter(BINDING, p)?
        })
        .await?;
    let view = personal_view(&p.roles);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for b in bindings {
        if let Some(c) = b.ref_id
            && seen.insert(c)
            && let Some(r) = st.store.get_biz(CUSTOMER, c).await?
        {
            out.push(customer_view(&r, view)?);
        }
    }
    Ok(out)
}

/// Cylinders held, deposits and owed (C5).
pub async fn holdings(st: &AppState, id: Uuid) -> ApiResult<(Holdings, Vec<CylinderCode>)> {
    let held = st.store.held_by(&id.to_string()).await?;
    let deposits = deposits_paid(st, id).await?;
    Ok((Holdings::of(held.len() as i64, deposits), held))
}

async fn deposits_paid(st: &AppState, customer: Uuid) -> ApiResult<i64> {
    let f = BizFilter {
        ref_id: Some(customer),
        ..filter(DEPOSIT, None, 10_000, 0)
    };
    Ok(st
        .store
        .list_biz(&f)
        .await?
        .iter()
        .map(|d| d.body["count"].as_i64().unwrap_or(0))
        .sum())
}

pub async fn add_deposit(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    p.require(Action::ManageCustomers)?;
    let d: Deposit = parse(body)?;
    customer(st, p, id).await?;
    d.validate(deposits_paid(st, id).await?)?;
    let r = new_record(
        DEPOSIT,
        p.org_id,
        Some(format!("{}/{}", p.org_id, d.receipt_no)),
        Some(id),
        if d.count > 0 { "paid" } else { "refunded" },
        json!(d),
        st.now(),
    );
    match st.store.insert_biz(&r).await {
        Err(StoreError::Conflict(_)) => Err(conflict(
            "receipt_no",
            format!("收据号 {} 已使用", d.receipt_no),
        )),
        other => other.map(|()| r).map_err(Into::into),
    }
}

/// Account-opening and real-name progress per organisation in scope (UI.md 开户进度 / 实名制进度):
/// customers registered, of them verified, cylinders held by customers without a verified real name.
/// One organisation's account-opening and real-name progress.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressRow {
    pub org_id: Uuid,
    pub org_name: Option<String>,
    pub registered: i64,
    pub verified: i64,
    pub held_without_real_name: i64,
}

impl ProgressRow {
    /// Customers registered, verified, and cylinders held without a real name, over `rows`.
    pub fn totals(rows: &[ProgressRow]) -> (i64, i64, i64) {
        rows.iter().fold((0, 0, 0), |(r, v, h), x| {
            (
                r + x.registered,
                v + x.verified,
                h + x.held_without_real_name,
            )
        })
    }
}

pub async fn progress(st: &AppState, p: &Principal) -> ApiResult<Vec<ProgressRow>> {
    p.require(Action::Read)?;
    let bindings = st
        .store
        .list_biz(&filter(BINDING, Some(p.scope()), 100_000, 0))
        .await?;
    let mut per_org: BTreeMap<Uuid, (i64, i64, i64)> = BTreeMap::new();
    let mut customers: HashMap<Uuid, (bool, i64)> = HashMap::new();
    for b in &bindings {
        let Some(c) = b.ref_id else { continue };
        if let std::collections::hash_map::Entry::Vacant(v) = customers.entry(c) {
            let verified = st
                .store
                .get_biz(CUSTOMER, c)
                .await?
                .is_some_and(|r| r.state == "verified");
            let held = st.store.held_by(&c.to_string()).await?.len() as i64;
            v.insert((verified, held));
        }
        let (verified, held) = customers[&c];
        let e = per_org.entry(b.org_id).or_default();
        e.0 += 1;
        if verified {
            e.1 += 1;
        } else {
            e.2 += held;
        }
    }
    let mut out = Vec::new();
    for (org, (registered, verified, held)) in per_org {
        let name = st.store.get_org(org).await?.map(|o| o.name);
        out.push(ProgressRow {
            org_id: org,
            org_name: name,
            registered,
            verified,
            held_without_real_name: held,
        });
    }
    Ok(out)
}

/// Whether the customer has an account (a binding) with an organisation in the caller's scope.
async fn bound_in_scope(st: &AppState, p: &Principal, customer: Uuid) -> ApiResult<bool> {
    let f = BizFilter {
        ref_id: Some(customer),
        ..filter(BINDING, Some(p.scope()), 1, 0)
    };
    Ok(!st.store.list_biz(&f).await?.is_empty())
}

/// One customer (`id` as the path gives it) as the caller may see them, with cylinders held,
/// deposits and owed.
pub async fn customer_detail(st: &AppState, p: &Principal, id: &str) -> ApiResult<Value> {
    p.require(Action::Read)?;
    let cid = crate::services::parse_id(id, "用户")?;
    let r = customer(st, p, cid).await?;
    let mut v = json!(customer_view(&r, personal_view(&p.roles))?);
    let (h, codes) = holdings(st, cid).await?;
    v["holdings"] = json!(h);
    v["held_codes"] = json!(codes.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    Ok(v)
}

/// The deposits of a customer the caller sees (`id` as the path gives it).
pub async fn deposits(st: &AppState, p: &Principal, id: &str) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let cid = crate::services::parse_id(id, "用户")?;
    customer(st, p, cid).await?;
    let f = BizFilter {
        kind: DEPOSIT.to_owned(),
        ref_id: Some(cid),
        limit: 1000,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(list
        .iter()
        .map(|r| {
            let mut v = r.body.clone();
            v["id"] = json!(r.id);
            v["org_id"] = json!(r.org_id);
            v["created_at"] = json!(r.created_at);
            v
        })
        .collect())
}
