//! Inspection work orders (§8): opened for a station of this node, cylinders added and removed, and
//! ended by sending the cylinders (one `inspection_send` event appended — the event write path, kept
//! as it is).

use cyltrace_domain::access::Action;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::{CylinderCode, Event, EventData, EventKind, OrgKind, Text};
use cyltrace_store::{PsDoc, PsDocUpdate};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PsError, PsResult, own_doc, ps_error, refuse, station_by_name};
use crate::auth::Principal;
use crate::services::audit::Audit;
use crate::services::events::{Submission, submit};
use crate::state::AppState;

/// §8.1: opens a work order for an inspection station of this node.
pub async fn begin_check_apply(st: &AppState, p: &Principal, body: &Value) -> PsResult<i64> {
    // Sending cylinders to inspection is the warehouse's and the enterprise admin's (as
    // `POST /api/v1/inspection-applications`), whatever door the request comes through.
    p.require(Action::RecordEvent(EventKind::InspectionSend))?;
    let third = third_id(body)?;
    let station = body
        .get("Station")
        .and_then(Value::as_object)
        .ok_or_else(|| refuse("Station", "缺少检验机构"))?;
    let name = station
        .get("Name")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| refuse("Station.Name", "缺少必填属性"))?;
    let sid = station
        .get("Id")
        .ok_or_else(|| refuse("Station.Id", "缺少必填属性"))?;
    let by_id = match sid {
        Value::String(s) => Uuid::parse_str(s.trim()).ok(),
        _ => None,
    };
    let org = match by_id {
        Some(id) => st.store.get_org(id).await?,
        None => station_by_name(st, name).await?,
    }
    .filter(|o| o.kind == OrgKind::InspectionStation)
    .ok_or_else(|| refuse("Station", format!("检验机构“{name}”不存在")))?;
    let now = st.now();
    let doc = PsDoc {
        id: 0,
        kind: "check_apply".to_owned(),
        org_id: p.org_id,
        org_path: p.org_path.clone(),
        target_org_id: Some(org.id),
        third_id: Some(third),
        state: "open".to_owned(),
        body: json!({"Station": {"Id": org.id.to_string(), "Name": org.name}, "Items": [], "Ops": []}),
        created_at: now,
        updated_at: now,
    };
    Ok(st.store.insert_ps_doc(&doc).await?.0)
}

fn third_id(body: &Value) -> PsResult<String> {
    match body.get("ThirdId") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(refuse("ThirdId", "缺少或不是整数")),
    }
}

/// §8.2–8.4 on an open work order of the caller. Idempotent by `ThirdId`.
pub async fn change_check_apply(
    st: &AppState,
    p: &Principal,
    body: &Value,
    op: &str,
    audit: Option<&Audit>,
) -> PsResult<()> {
    p.require(Action::RecordEvent(EventKind::InspectionSend))?;
    let third = third_id(body)?;
    let id = body
        .get("Id")
        .and_then(Value::as_i64)
        .ok_or_else(|| refuse("Id", "缺少或不是整数"))?;
    let d = own_doc(st, p, id, "check_apply", "送检工单").await?;
    let mut b = d.body.clone();
    let op_key = format!("{op}:{third}");
    if b["Ops"]
        .as_array()
        .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some(op_key.as_str())))
    {
        return Ok(());
    }
    if d.state != "open" {
        return Err(refuse("Id", "该送检工单已结束"));
    }
    let mut items: Vec<Value> = b["Items"].as_array().cloned().unwrap_or_default();
    let now = st.now();
    match op {
        "add" | "remove" => {
            let list = body
                .get("Items")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| refuse("Items", "至少需要一个气瓶"))?;
            for (i, it) in list.iter().enumerate() {
                let code = it
                    .get("Barcode")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .ok_or_else(|| refuse(format!("Items[{i}].Barcode"), "缺少必填属性"))
                    .and_then(|s| {
                        CylinderCode::parse(s).map_err(|m| refuse(format!("Items[{i}].Barcode"), m))
                    })?;
                if op == "remove" {
                    items.retain(|x| x["Barcode"].as_str() != Some(code.as_str()));
                    continue;
                }
                let seq = it
                    .get("SeqNo")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| refuse(format!("Items[{i}].SeqNo"), "缺少或不是整数"))?;
                match st.store.get_cylinder(&code).await? {
                    Some(c) if p.sees(&c.org_path) => {}
                    _ => {
                        return Err(refuse(
                            format!("Items[{i}].Barcode"),
                            format!("气瓶 {code} 不存在或不属于本单位"),
                        ));
                    }
                }
                if !items
                    .iter()
                    .any(|x| x["Barcode"].as_str() == Some(code.as_str()))
                {
                    items.push(json!({"Barcode": code.as_str(), "SeqNo": seq}));
                }
            }
        }
        _ => {
            // End: the cylinders are sent to the station (one `inspection_send` event).
            if items.is_empty() {
                return Err(refuse("Id", "送检工单中没有气瓶"));
            }
            let station: Uuid = d
                .target_org_id
                .ok_or_else(|| PsError::Internal("work order without station".into()))?;
            let codes = items
                .iter()
                .filter_map(|x| x["Barcode"].as_str())
                .filter_map(|s| CylinderCode::parse(s).ok())
                .collect();
            let e = Event {
                id: Uuid::new_v5(&p.org_id, format!("check_apply:{id}").as_bytes()),
                data: EventData::InspectionSend(cyltrace_domain::event::InspectionSend {
                    station_org_id: station,
                }),
                codes,
                time: now,
                site_id: None,
                operator: Text::parse(&p.username).ok(),
                device: None,
                position: None,
            };
            b["Items"] = Value::Array(items);
            if let Some(ops) = b["Ops"].as_array_mut() {
                ops.push(json!(op_key));
            }
            // The sending and the work order's end: one commit.
            let mut sub = Submission::new(vec![e], Naming::Fields);
            sub.ps_doc = Some(PsDocUpdate {
                id,
                state: "ended".to_owned(),
                body: b,
                at: now,
                from: Some("open".to_owned()),
            });
            submit(st, p, sub, audit).await.map_err(ps_error)?;
            return Ok(());
        }
    }
    b["Items"] = Value::Array(items);
    if let Some(ops) = b["Ops"].as_array_mut() {
        ops.push(json!(op_key));
    }
    st.store.update_ps_doc(id, "open", &b, now).await?;
    Ok(())
}
