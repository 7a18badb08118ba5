//! The handheld's scan-to-act (G9): one action on many scanned codes, recorded as one event per
//! code through the event write path and answered with each cylinder's state and warnings.

use chrono::{DateTime, Utc};
use cyltrace_domain::circulation::{self as dom, ScanAction};
use cyltrace_domain::event::{Deliver, Position, Recycle, StoreMove, VehicleMove};
use cyltrace_domain::intake::Naming;
use cyltrace_domain::org::check_position;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::status::LocationKind;
use cyltrace_domain::{
    CylinderCode, CylinderState, Date, Event, EventData, Text, ValidationErrors, Verdict,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{parse, today};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::services::events::{Submission, api_error, submit};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    /// The event id chosen by the handheld (idempotency key).
    id: Uuid,
    code: String,
    time: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBatch {
    scans: Vec<Value>,
    #[serde(default)]
    site_id: Option<Uuid>,
    #[serde(default)]
    vehicle: Option<String>,
    #[serde(default)]
    waybill: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

/// One scanned cylinder after the action: its state and the warnings the handheld shows.
#[derive(Debug, Serialize)]
pub struct ScanResult {
    pub code: CylinderCode,
    pub id: Uuid,
    pub ledger_index: i64,
    pub new: bool,
    pub state: CylinderState,
    pub location_kind: LocationKind,
    pub location_zh: &'static str,
    pub full: bool,
    pub next_check_date: Option<Date>,
    pub verdict: &'static str,
    pub warnings: Vec<String>,
}

/// A text field of the request, checked (`None` when absent).
fn text(name: &str, v: &Option<String>, errs: &mut ValidationErrors) -> Option<Text> {
    v.as_deref()
        .and_then(|s| Text::parse(s).map_err(|m| errs.push(name, m)).ok())
}

/// The event data of `action` from the request's shared fields.
fn action_data(
    action: ScanAction,
    b: &ScanBatch,
    errs: &mut ValidationErrors,
) -> Option<EventData> {
    let customer_id = text("customer_id", &b.customer_id, errs);
    Some(match action {
        ScanAction::ReceiveEmpty => EventData::StoreIn(StoreMove { full: false }),
        ScanAction::StoreFull => EventData::StoreIn(StoreMove { full: true }),
        ScanAction::Dispatch => EventData::StoreOut(StoreMove { full: true }),
        ScanAction::Load | ScanAction::Unload => {
            if b.vehicle.is_none() {
                errs.push("vehicle", "缺少必填字段");
            }
            let vehicle = text("vehicle", &b.vehicle, errs)?;
            let m = VehicleMove {
                vehicle,
                waybill: text("waybill", &b.waybill, errs),
            };
            if action == ScanAction::Load {
                EventData::Load(m)
            } else {
                EventData::Unload(m)
            }
        }
        ScanAction::Deliver => EventData::Deliver(Deliver {
            customer_id,
            order_id: text("order_id", &b.order_id, errs),
            confirmation: None,
        }),
        ScanAction::Recycle => EventData::Recycle(Recycle {
            customer_id,
            recycling_order_id: None,
        }),
    })
}

/// One handheld action on one or many scanned codes, answered in one round trip: each code's state
/// after the action and its warnings. All or nothing, like `POST /events`.
pub async fn scan(
    st: &AppState,
    p: &Principal,
    action: &str,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<Vec<ScanResult>> {
    let action = ScanAction::parse(action).ok_or_else(|| {
        ApiError::NotFound(
            "未知的扫码操作（receive_empty, store_full, dispatch, load, unload, deliver, recycle）"
                .to_owned(),
        )
    })?;
    let b: ScanBatch = parse(body)?;
    if b.scans.is_empty() || b.scans.len() > super::MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::invalid("scans", "应为 1–1000 条扫码记录"));
    }
    if action.needs_site() && b.site_id.is_none() {
        return Err(ApiError::invalid(
            "site_id",
            format!("{}须指定站点", action.label_zh()),
        ));
    }
    let mut errs = ValidationErrors::default();
    let data = action_data(action, &b, &mut errs);
    check_position(b.lat, b.lon, &mut errs);
    let position = b.lat.zip(b.lon).map(|(lat, lon)| Position { lat, lon });
    let mut scanned = Vec::with_capacity(b.scans.len());
    for (i, s) in b.scans.iter().enumerate() {
        let Ok(s) = from_value::<Scan>(s, &format!("scans[{i}]")).map_err(|e| errs.0.extend(e.0))
        else {
            continue;
        };
        match CylinderCode::parse(&s.code) {
            Ok(code) => scanned.push((s, code)),
            Err(m) => errs.push(format!("scans[{i}].code"), m),
        }
    }
    let data = errs
        .into_result(data)?
        .ok_or_else(|| ApiError::invalid("vehicle", "缺少必填字段"))?;
    let events: Vec<Event> = scanned
        .iter()
        .map(|(s, code)| Event {
            id: s.id,
            data: data.clone(),
            codes: vec![code.clone()],
            time: s.time,
            site_id: b.site_id,
            operator: None,
            device: None,
            position,
        })
        .collect();
    let appended = submit(st, p, Submission::new(events, Naming::Scans), audit)
        .await
        .map_err(api_error)?;
    let day = today(st.now());
    let mut out = Vec::with_capacity(scanned.len());
    for ((_, code), a) in scanned.iter().zip(&appended) {
        let rec = super::get_cylinder(st, p, code.as_str()).await?;
        out.push(ScanResult {
            code: rec.archive.code.clone(),
            id: a.id,
            ledger_index: a.ledger_index,
            new: a.new,
            state: rec.status.state,
            location_kind: rec.status.location_kind,
            location_zh: rec.status.location_kind.label_zh(),
            full: rec.status.full,
            next_check_date: rec.status.next_check_date,
            verdict: Verdict::of(&rec.archive, &rec.status, day).as_str(),
            warnings: dom::scan_warnings(&rec.archive, &rec.status, day),
        });
    }
    Ok(out)
}
