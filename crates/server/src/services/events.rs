//! The event write path: `record_events` checks a batch (all valid, all known, all in scope, the
//! circulation guards) and appends it in one store call; and the read of one event in scope.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use cyltrace_domain::access::Action;
use cyltrace_domain::error::join_path;
use cyltrace_domain::{CylinderCode, Event, EventData, OrgKind, Role, ValidationErrors};
use cyltrace_store::{AppendContext, Appended, CylinderRecord, OrgRecord, SiteRecord, StoredEvent};
use serde_json::Value;
use uuid::Uuid;

use super::{MAX_EVENTS_PER_REQUEST, MAX_FUTURE_SKEW, circulation, envelope};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Records a batch of events: all valid, all known, all in scope — or nothing is stored.
pub async fn record_events(st: &AppState, p: &Principal, body: &Value) -> ApiResult<Vec<Appended>> {
    let list = envelope(body, "events", MAX_EVENTS_PER_REQUEST)?;
    let mut errs = ValidationErrors::default();
    let mut events = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match Event::parse(v, &format!("events[{i}]")) {
            Ok(e) => events.push(e),
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    let mut errs = ValidationErrors::default();
    let now = st.now();
    let mut cylinders: HashMap<CylinderCode, Option<CylinderRecord>> = HashMap::new();
    let mut sites: HashMap<Uuid, Option<SiteRecord>> = HashMap::new();
    let mut orgs: HashMap<Uuid, Option<OrgRecord>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let at = |f: &str| join_path(&format!("events[{i}]"), f);
        p.require(Action::RecordEvent(e.kind())).map_err(|_| {
            ApiError::Forbidden(format!(
                "events[{i}]: 当前角色无权记录“{}”事件",
                e.kind().label_zh()
            ))
        })?;
        if e.time > now + MAX_FUTURE_SKEW {
            errs.push(at("time"), "事件时间晚于服务器当前时间");
        }
        if let Some(org_id) = e.data.referenced_org() {
            if let Entry::Vacant(v) = orgs.entry(org_id) {
                v.insert(st.store.get_org(org_id).await?);
            }
            match &orgs[&org_id] {
                Some(o) if o.kind == OrgKind::InspectionStation => {}
                Some(_) => errs.push(at("data.station_org_id"), "该机构不是检验机构"),
                None => errs.push(at("data.station_org_id"), "检验机构不存在"),
            }
        }
        // An inspector of a station records results for other owners' cylinders sent to that station.
        let acting_station = match &e.data {
            EventData::InspectionResult(r)
                if r.station_org_id == p.org_id && p.roles.contains(&Role::Inspector) =>
            {
                Some(p.org_id)
            }
            _ => None,
        };
        for (j, code) in e.codes.iter().enumerate() {
            if let Entry::Vacant(v) = cylinders.entry(code.clone()) {
                v.insert(st.store.get_cylinder(code).await?);
            }
            match &cylinders[code] {
                None => errs.push(at(&format!("codes[{j}]")), format!("气瓶 {code} 不存在")),
                Some(c)
                    if !p.sees(&c.org_path)
                        && (acting_station.is_none()
                            || c.status.inspection_station != acting_station) =>
                {
                    return Err(ApiError::Forbidden(format!(
                        "events[{i}].codes[{j}]: 气瓶 {code} 不在您的数据权限范围内"
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(site_id) = e.site_id {
            if let Entry::Vacant(v) = sites.entry(site_id) {
                v.insert(st.store.get_site(site_id).await?);
            }
            match &sites[&site_id] {
                None => errs.push(at("site_id"), "站点不存在"),
                Some(s) if !p.sees(&s.org_path) => {
                    return Err(ApiError::Forbidden(format!(
                        "events[{i}].site_id: 该站点不在您的数据权限范围内"
                    )));
                }
                Some(_) => {}
            }
        }
        // B5: a fill names a batch its enterprise defined.
        if let (EventData::Fill(f), Some(site_id)) = (&e.data, e.site_id)
            && let (Some(batch), Some(Some(site))) = (&f.batch, sites.get(&site_id))
            && st
                .store
                .get_batch(site.org_id, batch.as_str())
                .await?
                .is_none()
        {
            errs.push(
                at("data.batch"),
                format!("充装批次“{batch}”不存在，请先建立批次"),
            );
        }
        if let EventData::Fill(f) = &e.data
            && let Some(m) = &f.medium
            && cyltrace_domain::filling::canonical_medium(m.as_str()).is_none()
        {
            errs.push(at("data.medium"), format!("平台不支持的充装介质“{m}”"));
        }
    }
    errs.into_result(())?;
    circulation::guard_events(st, p, &events, &cylinders).await?;
    let ctx = AppendContext {
        recorded_by: Some(p.user_id),
        org_id: p.org_id,
        recorded_at: now,
    };
    let appended = st
        .store
        .append_events(&events, &ctx)
        .await
        .map_err(|e| match e {
            cyltrace_store::StoreError::Conflict(id) => {
                let i = events
                    .iter()
                    .position(|e| e.id.to_string() == id)
                    .unwrap_or(0);
                let msg = format!("事件 id {id} 已被另一条不同的事件使用");
                ApiError::Conflict(
                    msg.clone(),
                    vec![cyltrace_domain::FieldError::new(
                        format!("events[{i}].id"),
                        msg,
                    )],
                )
            }
            other => other.into(),
        })?;
    circulation::after_append(st, &events).await?;
    let fresh = appended.iter().filter(|a| a.new).count() as u64;
    st.metrics.events_appended.inc_by(fresh);
    st.metrics
        .events_duplicate
        .inc_by(appended.len() as u64 - fresh);
    Ok(appended)
}

/// One event, if the caller sees the organisation that recorded it or one of its cylinders.
pub async fn get_event(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<StoredEvent> {
    p.require(Action::Read)?;
    let e = st
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("事件不存在".to_owned()))?;
    if let Some(org) = st.store.get_org(e.org_id).await?
        && p.sees(&org.path)
    {
        return Ok(e);
    }
    let mut checked = HashSet::new();
    for code in &e.event.codes {
        if checked.insert(code.clone())
            && let Some(c) = st.store.get_cylinder(code).await?
            && p.sees(&c.org_path)
        {
            return Ok(e);
        }
    }
    Err(ApiError::Forbidden(
        "该事件不在您的数据权限范围内".to_owned(),
    ))
}
