//! A cylinder's flow table (C8): every event in time order with names resolved (customers masked
//! per role), as rows for the API, the console and the CSV / xlsx download.

use std::collections::HashMap;

use cyltrace_domain::EventData;
use cyltrace_domain::circulation::{self as dom, PersonalView, TrajectoryRow, personal_view};
use cyltrace_domain::event::{Deliver, Recycle};
use uuid::Uuid;

use super::CUSTOMER;
use super::customers::CustomerDoc;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A cylinder's flow table, oldest first, with names resolved and customers masked per role.
pub async fn trajectory(st: &AppState, p: &Principal, code: &str) -> ApiResult<Vec<TrajectoryRow>> {
    let rec = super::get_cylinder(st, p, code).await?;
    let events = st.store.events_of(&rec.archive.code).await?;
    let view = personal_view(&p.roles);
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    let mut sorted: Vec<_> = events.iter().collect();
    sorted.sort_by_key(|e| (e.event.time, e.ledger_index));
    for se in sorted {
        let e = &se.event;
        let mut ids: Vec<String> = Vec::new();
        match &e.data {
            EventData::Deliver(Deliver {
                customer_id: Some(c),
                ..
            })
            | EventData::Recycle(Recycle {
                customer_id: Some(c),
                ..
            }) => ids.push(c.as_str().to_owned()),
            EventData::InspectionSend(s) => ids.push(s.station_org_id.to_string()),
            EventData::InspectionResult(r) => ids.push(r.station_org_id.to_string()),
            _ => {}
        }
        for id in ids {
            if names.contains_key(&id) {
                continue;
            }
            let Ok(u) = Uuid::parse_str(&id) else {
                continue;
            };
            let name = if let Some(c) = st.store.get_biz(CUSTOMER, u).await? {
                let n = CustomerDoc::of(&c)?.name;
                if view == PersonalView::Contact {
                    n.to_string()
                } else {
                    dom::mask_name(n.as_str())
                }
            } else if let Some(o) = st.store.get_org(u).await? {
                o.name
            } else {
                continue;
            };
            names.insert(id, name);
        }
        let place = match e.site_id {
            Some(s) => match st.store.get_site(s).await? {
                Some(site) => site.name,
                None => s.to_string(),
            },
            None => match m_vehicle(&e.data) {
                Some(v) => format!("车辆 {v}"),
                None => e
                    .position
                    .as_ref()
                    .map_or_else(String::new, |pos| format!("{:.5}, {:.5}", pos.lat, pos.lon)),
            },
        };
        let operator = match (&e.operator, se.recorded_by) {
            (Some(op), _) => op.to_string(),
            (None, Some(u)) => match st.store.get_user(u).await? {
                Some(user) => user.name,
                None => String::new(),
            },
            (None, None) => String::new(),
        };
        let (tare, gross) = match &e.data {
            EventData::Fill(f) => (Some(f.tare_kg.get()), Some(f.gross_kg.get())),
            _ => (rec.archive.tare_kg.map(|t| t.get()), None),
        };
        rows.push(TrajectoryRow {
            time: e.time,
            kind: e.kind(),
            operation: e.kind().label_zh().to_owned(),
            operator,
            place,
            target: dom::trajectory_target(&e.data, &|id| names.get(id).cloned()),
            tare_kg: tare,
            gross_kg: gross,
            ledger_index: se.ledger_index,
        });
    }
    Ok(rows)
}

fn m_vehicle(d: &EventData) -> Option<String> {
    match d {
        EventData::Load(m) | EventData::Unload(m) => Some(m.vehicle.to_string()),
        _ => None,
    }
}

/// The flow table as CSV (UTF-8 with BOM so that Excel reads the Chinese) or xlsx.
pub fn trajectory_table(
    rows: &[TrajectoryRow],
    format: super::archives::FileFormat,
) -> ApiResult<Vec<u8>> {
    use super::archives::{Cell, TableWriter};
    let headers = [
        "时间",
        "操作",
        "操作人",
        "地点",
        "去向/对象",
        "皮重(kg)",
        "毛重(kg)",
        "存证序号",
    ];
    let mut w = TableWriter::new(format, "流转记录", &headers).map_err(ApiError::Internal)?;
    let kg = |v: Option<f64>| v.map_or_else(|| Cell::Text(String::new()), Cell::Number);
    for r in rows {
        let t = r
            .time
            .with_timezone(&cyltrace_domain::time::cst())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        w.row(&[
            Cell::Text(t),
            Cell::Text(r.operation.clone()),
            Cell::Text(r.operator.clone()),
            Cell::Text(r.place.clone()),
            Cell::Text(r.target.clone()),
            kg(r.tare_kg),
            kg(r.gross_kg),
            Cell::Number(r.ledger_index as f64),
        ])
        .map_err(ApiError::Internal)?;
    }
    w.finish().map_err(ApiError::Internal)
}
