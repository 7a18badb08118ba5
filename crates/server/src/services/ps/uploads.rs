//! Archives downward (`GenericBottle/List`), trace uploads from enterprises, stations and lower
//! platforms (stored as events of the uploading unit, through the event write path), and the
//! month counts compared with what arrived.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::ps::{self, BusinessCount, GenericBottle, TraceKind, parse_trace, ymdhms};
use cyltrace_ledger::Hash;
use cyltrace_store::{DeclaredLeaf, EventFilter, PsDoc, RegAlarm, Scope};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PsError, PsResult, ps_error, reasons, refuse, station_by_name};
use crate::auth::Principal;
use crate::services::audit::Audit;
use crate::services::events::{Submission, submit};
use crate::state::AppState;

/// §2: archives of the caller's data scope changed at or after `lasttime` (oldest first), with the
/// registration certificate (extension `RegisterNo`, `Office`), the owner's credit code (extension
/// `OwnerCreditCode`, so that a lower platform maps owners) and `UpdatedAt` (extension) to resume.
pub async fn generic_bottles(
    st: &AppState,
    p: &Principal,
    lasttime: Option<&str>,
) -> PsResult<Value> {
    p.require(Action::Read)?;
    let since = match lasttime.map(str::trim).filter(|s| !s.is_empty()) {
        None => DateTime::<Utc>::MIN_UTC,
        Some(s) => ps::parse_ymdhms(s).map_err(|m| refuse("lasttime", m))?,
    };
    let rows = st
        .store
        .list_cylinders_since(&p.scope(), since, LIST_LIMIT)
        .await?;
    let mut credit: HashMap<Uuid, Option<String>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let mut a = c.archive.clone();
        if c.status.registration.is_some() {
            a.registration = c.status.registration.clone();
        }
        a.state = c.status.state;
        let mut v = serde_json::to_value(GenericBottle::from_archive(&a, c.id))
            .map_err(|e| PsError::Internal(e.to_string()))?;
        if let std::collections::hash_map::Entry::Vacant(e) = credit.entry(c.org_id) {
            e.insert(
                st.store
                    .get_org(c.org_id)
                    .await?
                    .and_then(|o| o.credit_code),
            );
        }
        if let Some(code) = &credit[&c.org_id] {
            v["OwnerCreditCode"] = json!(code);
        }
        v["UpdatedAt"] = json!(ymdhms(c.updated_at));
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// Most archives in one `GenericBottle/List` answer; a caller resumes from the last `UpdatedAt`.
pub const LIST_LIMIT: i64 = 5000;

// ---------------------------------------------------------------------------------------------
// Trace uploads

/// §4–6: stores every item of an upload as an event of the caller's organisation, or none, with
/// the leaves the caller declared for them (the witness) and the request's audit row. Each item is
/// judged by the writer like any other event: an archive this platform holds, in the caller's scope
/// (or, for an inspection station, sent to it).
pub async fn upload_trace(
    st: &AppState,
    p: &Principal,
    kind: TraceKind,
    data: &Value,
    audit: Option<&Audit>,
) -> PsResult<usize> {
    if p.require(Action::RecordEvent(kind.event_kind())).is_err() {
        return Err(PsError::Refused(format!(
            "该账号无权上传“{}”数据",
            kind.event_kind().label_zh()
        )));
    }
    let now = st.now();
    let station = match (kind, ps::station_name(data)) {
        (TraceKind::Inspection, Some(name)) => station_by_name(st, name).await?.map(|o| o.id),
        _ => None,
    };
    let items = parse_trace(kind, data, p.org_id, now, station)
        .map_err(|e| PsError::Refused(reasons(&e)))?;
    for (i, it) in items.iter().enumerate() {
        if it.event.time > now + crate::services::MAX_FUTURE_SKEW {
            let f = if kind == TraceKind::Fill {
                "EndDate"
            } else {
                "Date"
            };
            return Err(refuse(format!("Items[{i}].{f}"), "时间晚于平台当前时间"));
        }
    }
    let mut sub = Submission::new(
        items.iter().map(|i| i.event.clone()).collect(),
        Naming::PsItems,
    );
    sub.ps_leaves = items
        .iter()
        .filter_map(|it| {
            it.leaf.map(|l| DeclaredLeaf {
                user_id: p.user_id,
                ledger_index: l.index,
                leaf_hash: Hash(l.leaf_hash),
                event_id: it.event.id,
                at: now,
            })
        })
        .collect();
    let appended = submit(st, p, sub, audit).await.map_err(ps_error)?;
    Ok(appended.iter().filter(|a| a.new).count())
}

/// §9: compares a reported month count with the events this node received from the caller, keeps
/// the comparison and raises an alarm for the regulator on a mismatch.
pub async fn business_count(
    st: &AppState,
    p: &Principal,
    data: &Value,
) -> PsResult<Option<String>> {
    p.require(Action::Read)?;
    let c = BusinessCount::parse(data).map_err(|e| PsError::Refused(reasons(&e)))?;
    let (from, to) = c.range();
    let (_, received) = st
        .store
        .list_events(&EventFilter {
            scope: Some(Scope(p.org_path.clone())),
            kinds: vec![c.kind.event_kind().as_str()],
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await?;
    let matches = received == c.count;
    let now = st.now();
    let body = json!({"Year": c.year, "Month": c.month, "Type": c.kind.count_type(),
        "Reported": c.count, "Received": received});
    let doc = PsDoc {
        id: 0,
        kind: "business_count".to_owned(),
        org_id: p.org_id,
        org_path: p.org_path.clone(),
        target_org_id: None,
        third_id: Some(format!("{}-{:02}-{}", c.year, c.month, c.kind.count_type())),
        state: if matches { "match" } else { "mismatch" }.to_owned(),
        body: body.clone(),
        created_at: now,
        updated_at: now,
    };
    let (id, new) = st.store.insert_ps_doc(&doc).await?;
    if !new {
        st.store.update_ps_doc(id, &doc.state, &body, now).await?;
    }
    if matches {
        return Ok(None);
    }
    let msg = format!(
        "{}年{}月{}：上报 {} 条，本平台收到 {} 条",
        c.year,
        c.month,
        c.kind.event_kind().label_zh(),
        c.count,
        received
    );
    st.store
        .insert_reg_alarm(&RegAlarm {
            id: 0,
            org_id: p.org_id,
            kind: "business_count_mismatch".to_owned(),
            message: msg.clone(),
            at: now,
        })
        .await?;
    Ok(Some(format!("数量不一致，已记录：{msg}")))
}
