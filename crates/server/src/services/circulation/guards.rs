//! The guards `POST /events` applies to circulation events before they are stored (C2 vehicles and
//! drivers, the cylinder guards, customers and orders named), and what a stored batch moves afterwards
//! (the codes loaded and unloaded on a waybill). Part of the event write path: kept as it is.

use std::collections::HashMap;

use cyltrace_domain::circulation::{self as dom, Certificate, NewWaybill, Plate, Vehicle};
use cyltrace_domain::event::{Recycle, VehicleMove};
use cyltrace_domain::{
    CylinderCode, CylinderStatus, Date, Event, EventData, EventKind, Text, ValidationErrors,
};
use cyltrace_store::{BizFilter, CylinderRecord, Scope};
use serde_json::json;
use uuid::Uuid;

use super::transport::certificate_of;
use super::{BINDING, CUSTOMER, ORDER, STAFF, VEHICLE, WAYBILL, body_of, filter, save, today};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Adds loaded / unloaded codes to the waybill after the events are stored (idempotent: sets).
async fn note_on_waybill(
    st: &AppState,
    number: &str,
    kind: EventKind,
    codes: &[CylinderCode],
) -> ApiResult<()> {
    for _ in 0..5 {
        let Some(mut r) = st.store.biz_by_key(WAYBILL, number).await? else {
            return Ok(());
        };
        let field = if kind == EventKind::Load {
            "loaded"
        } else {
            "unloaded"
        };
        let mut set: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body[field].clone()).unwrap_or_default();
        let before = set.len();
        set.extend(codes.iter().map(|c| c.as_str().to_owned()));
        if set.len() == before {
            return Ok(());
        }
        r.body[field] = json!(set);
        let loaded: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body["loaded"].clone()).unwrap_or_default();
        let unloaded: std::collections::BTreeSet<String> =
            serde_json::from_value(r.body["unloaded"].clone()).unwrap_or_default();
        r.state = if !loaded.is_empty() && loaded.is_subset(&unloaded) {
            "done"
        } else {
            "in_transit"
        }
        .to_owned();
        match save(st, r).await {
            Ok(_) => return Ok(()),
            Err(ApiError::Conflict(..)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Conflict(
        "运单正被同时修改，请重试".to_owned(),
        vec![],
    ))
}

/// Checks the circulation events of a batch before they are stored: vehicles and drivers of
/// `load`/`unload` (C2), the cylinder guards (`deliver` only a full cylinder that may be used,
/// `recycle` only from the customer who holds it …), customers and orders named. Events whose id is
/// already stored are retries and are not checked again. Every refusal names the field.
pub async fn guard_events(
    st: &AppState,
    p: &Principal,
    events: &[Event],
    cylinders: &HashMap<CylinderCode, Option<CylinderRecord>>,
) -> ApiResult<()> {
    let mut errs = ValidationErrors::default();
    let mut statuses: HashMap<&CylinderCode, CylinderStatus> = HashMap::new();
    let mut my_staff: Option<Option<Certificate>> = None;
    for (i, e) in events.iter().enumerate() {
        let circulation = matches!(
            e.kind(),
            EventKind::StoreIn
                | EventKind::StoreOut
                | EventKind::Load
                | EventKind::Unload
                | EventKind::Deliver
                | EventKind::Recycle
        );
        if !circulation || st.store.get_event(e.id).await?.is_some() {
            continue;
        }
        let at = |f: &str| format!("events[{i}].{f}");
        let day = today(e.time);
        match &e.data {
            EventData::Load(m) | EventData::Unload(m) => {
                transport_guard(st, p, m, day, &at, &mut errs, &mut my_staff).await?;
            }
            EventData::Deliver(d) => {
                if let Some(c) = &d.customer_id {
                    customer_guard(st, p, c.as_str(), &at("data.customer_id"), &mut errs).await?;
                }
                if let Some(o) = &d.order_id {
                    order_guard(st, p, o.as_str(), d.customer_id.as_ref(), &at, &mut errs).await?;
                }
            }
            EventData::Recycle(Recycle {
                customer_id: Some(c),
            }) => {
                customer_guard(st, p, c.as_str(), &at("data.customer_id"), &mut errs).await?;
            }
            _ => {}
        }
        for (j, code) in e.codes.iter().enumerate() {
            let Some(Some(rec)) = cylinders.get(code) else {
                continue;
            };
            let status = statuses.entry(code).or_insert_with(|| rec.status.clone());
            for reason in dom::cylinder_refusals(&e.data, &rec.archive, status, day) {
                errs.push(at(&format!("codes[{j}]")), format!("气瓶 {code}：{reason}"));
            }
            status.apply(e);
        }
    }
    errs.into_result(()).map_err(ApiError::from)
}

#[allow(clippy::too_many_arguments)]
async fn transport_guard(
    st: &AppState,
    p: &Principal,
    m: &VehicleMove,
    day: Date,
    at: &(dyn Fn(&str) -> String + Sync),
    errs: &mut ValidationErrors,
    my_staff: &mut Option<Option<Certificate>>,
) -> ApiResult<()> {
    let plate = match Plate::parse(m.vehicle.as_str()) {
        Ok(pl) => pl,
        Err(e) => {
            errs.push(at("data.vehicle"), e);
            return Ok(());
        }
    };
    let Some(vrec) = st.store.biz_by_key(VEHICLE, plate.as_str()).await? else {
        errs.push(
            at("data.vehicle"),
            format!("车辆 {} 未登记", plate.as_str()),
        );
        return Ok(());
    };
    let v: Vehicle = body_of(&vrec, "vehicle")?;
    if let Some(r) = v.refusal(day) {
        errs.push(at("data.vehicle"), r);
    }
    if let Some(number) = &m.waybill {
        let Some(w) = st.store.biz_by_key(WAYBILL, number.as_str()).await? else {
            errs.push(at("data.waybill"), format!("运单 {number} 不存在"));
            return Ok(());
        };
        if !p.sees(&w.org_path) {
            errs.push(at("data.waybill"), "该运单不在您的数据权限范围内");
            return Ok(());
        }
        if w.ref_id != Some(vrec.id) {
            errs.push(
                at("data.vehicle"),
                format!(
                    "运单 {number} 的车辆是 {}",
                    w.body["plate"].as_str().unwrap_or("?")
                ),
            );
        }
        // The people's certificates as registered now (a renewal after the waybill counts).
        let waybill: NewWaybill = body_of(&w, "waybill")?;
        for (id, field) in [
            (Some(waybill.driver_id), "driver"),
            (waybill.escort_id, "escort"),
        ] {
            if let Some(id) = id
                && let Some((_, c)) = certificate_of(st, id).await?
                && let Some(r) = c.refusal(day)
            {
                errs.push(at("data.waybill"), format!("运单 {number}：{r}（{field}）"));
            }
        }
    } else {
        // Without a waybill, the recording person must be a registered driver with a valid
        // certificate.
        if my_staff.is_none() {
            let mut found = None;
            for r in st
                .store
                .list_biz(&filter(STAFF, Some(Scope(p.org_path.clone())), 500, 0))
                .await?
            {
                if r.body["user_id"].as_str() == Some(p.user_id.to_string().as_str()) {
                    found = Some(body_of::<Certificate>(&r, "certificate")?);
                    break;
                }
            }
            *my_staff = Some(found);
        }
        match my_staff.as_ref().expect("looked up") {
            Some(c) if c.role == dom::StaffRole::Driver => {
                if let Some(r) = c.refusal(day) {
                    errs.push(at("data.vehicle"), r);
                }
            }
            _ => errs.push(
                at("data.waybill"),
                "装卸车须填写电子运单号，或由已登记从业资格证的驾驶员本人记录",
            ),
        }
    }
    Ok(())
}

async fn customer_guard(
    st: &AppState,
    p: &Principal,
    id: &str,
    field: &str,
    errs: &mut ValidationErrors,
) -> ApiResult<()> {
    let Ok(uuid) = Uuid::parse_str(id) else {
        errs.push(field, "用户 id 应为已登记用户的 id");
        return Ok(());
    };
    // Holdings are matched on the id's text: only the canonical form is accepted.
    if uuid.to_string() != id {
        errs.push(field, format!("用户 id 应写作小写带连字符的形式：{uuid}"));
        return Ok(());
    }
    if st.store.get_biz(CUSTOMER, uuid).await?.is_none() {
        errs.push(field, "用户未登记");
    } else if !bound_in_scope(st, p, uuid).await? {
        errs.push(field, "该用户未在您的单位开户");
    }
    Ok(())
}

pub(super) async fn bound_in_scope(
    st: &AppState,
    p: &Principal,
    customer: Uuid,
) -> ApiResult<bool> {
    let f = BizFilter {
        ref_id: Some(customer),
        ..filter(BINDING, Some(p.scope()), 1, 0)
    };
    Ok(!st.store.list_biz(&f).await?.is_empty())
}

async fn order_guard(
    st: &AppState,
    p: &Principal,
    order: &str,
    customer: Option<&Text>,
    at: &(dyn Fn(&str) -> String + Sync),
    errs: &mut ValidationErrors,
) -> ApiResult<()> {
    let rec = match Uuid::parse_str(order) {
        Ok(id) => st.store.get_biz(ORDER, id).await?,
        Err(_) => st.store.biz_by_key(ORDER, order).await?,
    };
    match rec {
        None => errs.push(at("data.order_id"), "订单不存在"),
        Some(o) if !p.sees(&o.org_path) => {
            errs.push(at("data.order_id"), "该订单不在您的数据权限范围内")
        }
        Some(o) => {
            let oc = o.ref_id.map(|u| u.to_string());
            if customer.map(|c| c.as_str().to_owned()) != oc {
                errs.push(at("data.customer_id"), "与订单的用户不一致");
            }
        }
    }
    Ok(())
}

/// After a batch is stored: what other records it moves (waybills).
pub async fn after_append(st: &AppState, events: &[Event]) -> ApiResult<()> {
    for e in events {
        if let EventData::Load(m) | EventData::Unload(m) = &e.data
            && let Some(w) = &m.waybill
        {
            note_on_waybill(st, w.as_str(), e.kind(), &e.codes).await?;
        }
    }
    Ok(())
}
