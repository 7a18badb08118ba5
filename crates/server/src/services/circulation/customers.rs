//! Customers (C5, C6): registered once in the node (by a keyed hash of the ID number or credit code)
//! and bound to the dealers that serve them; shown masked per role; real-name verification; deposits
//! and cylinders held; account-opening and real-name progress per organisation.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{
    self as dom, Deposit, Holdings, NewCustomer, PersonalView, personal_view,
};
use cyltrace_domain::{CylinderCode, Text};
use cyltrace_store::{BizFilter, BizRecord, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    BINDING, CUSTOMER, DEPOSIT, ListQuery, conflict, filter, identity_key, new_record, open_text,
    owned, owner, parse, save, seal_text,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
                json!({
                    "kind": c.kind, "name": c.name, "phone": c.phone, "addresses": c.addresses,
                    "credit_code": c.credit_code, "contact": c.contact,
                    "id_masked": c.id_number.as_ref().map(|i| i.masked()),
                    "id_sealed": id_sealed,
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
pub fn customer_view(r: &BizRecord, view: PersonalView) -> Value {
    let b = &r.body;
    let name = b["name"].as_str().unwrap_or_default();
    let phone = b["phone"].as_str().unwrap_or_default();
    let mut addresses = b["addresses"].clone();
    let (name, phone) = match view {
        PersonalView::Contact => (name.to_owned(), phone.to_owned()),
        PersonalView::Masked => {
            if let Some(list) = addresses.as_array_mut() {
                for a in list {
                    let text = a["address"].as_str().unwrap_or_default().to_owned();
                    a["address"] = json!(dom::mask_address(&text));
                    if let Some(m) = a.as_object_mut() {
                        m.remove("lat");
                        m.remove("lon");
                    }
                }
            }
            let commercial = b["kind"] == "commercial";
            (
                if commercial {
                    name.to_owned()
                } else {
                    dom::mask_name(name)
                },
                dom::Phone::parse(phone).map_or_else(|_| "***".to_owned(), |p| p.masked()),
            )
        }
    };
    json!({
        "id": r.id, "kind": b["kind"], "name": name, "phone": phone, "addresses": addresses,
        "id_number": b["id_masked"], "credit_code": b["credit_code"], "contact": b["contact"],
        "real_name_verified": r.state == "verified", "verified_at": b["verified_at"],
        "registered_by_org_id": r.org_id, "created_at": r.created_at,
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
    match r.body.get("id_sealed").filter(|v| !v.is_null()) {
        Some(v) => open_text(st, v),
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
    r.state = "verified".to_owned();
    r.body["verified_at"] = json!(st.now());
    r.body["verified_by"] = json!(p.user_id);
    r.body["verified_method"] = json!(v.method);
    save(st, r).await
}

/// Customers bound to organisations in scope, newest binding first.
pub async fn list_customers(st: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Vec<Value>> {
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
            out.push(customer_view(&r, view));
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
pub async fn progress(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
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
        out.push(
            json!({"org_id": org, "org_name": name, "registered": registered,
            "verified": verified, "held_without_real_name": held}),
        );
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
