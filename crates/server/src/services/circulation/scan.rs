//! The handheld's scan-to-act (G9): one action on many scanned codes, recorded as events through
//! `record_events` and answered with each cylinder's state and warnings; and the renaming of the
//! events' field names back to the request's. Part of the event write path: kept as it is.

use chrono::{DateTime, Utc};
use cyltrace_domain::circulation::{self as dom, ScanAction};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{FieldError, ValidationErrors};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{parse, today};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
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

/// One handheld action on one or many scanned codes, answered in one round trip: each code's state
/// after the action and its warnings. All or nothing, like `POST /events`.
pub async fn scan(
    st: &AppState,
    p: &Principal,
    action: &str,
    body: &Value,
) -> ApiResult<Vec<Value>> {
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
    let data = match action {
        ScanAction::ReceiveEmpty => json!({"full": false}),
        ScanAction::StoreFull | ScanAction::Dispatch => json!({"full": true}),
        ScanAction::Load | ScanAction::Unload => {
            let v = b
                .vehicle
                .clone()
                .ok_or_else(|| ApiError::invalid("vehicle", "缺少必填字段"))?;
            json!({"vehicle": v, "waybill": b.waybill})
        }
        ScanAction::Deliver => json!({"customer_id": b.customer_id, "order_id": b.order_id}),
        ScanAction::Recycle => json!({"customer_id": b.customer_id}),
    };
    let data = strip_nulls(data);
    let mut events = Vec::with_capacity(b.scans.len());
    let mut codes = Vec::with_capacity(b.scans.len());
    let mut errs = ValidationErrors::default();
    for (i, s) in b.scans.iter().enumerate() {
        match from_value::<Scan>(s, &format!("scans[{i}]")) {
            Ok(s) => {
                codes.push(s.code.clone());
                events.push(json!({
                    "id": s.id, "kind": action.kind().as_str(), "codes": [s.code], "time": s.time,
                    "site_id": b.site_id, "lat": b.lat, "lon": b.lon, "data": data,
                }));
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    let appended = super::record_events(st, p, &json!({"events": events}))
        .await
        .map_err(|e| rename_fields(e, scan_field))?;
    let now = st.now();
    let mut out = Vec::with_capacity(codes.len());
    for (code, a) in codes.iter().zip(&appended) {
        let rec = super::get_cylinder(st, p, code).await?;
        let warnings = dom::scan_warnings(&rec.archive, &rec.status, today(now));
        out.push(json!({
            "code": rec.archive.code, "id": a.id, "ledger_index": a.ledger_index, "new": a.new,
            "state": rec.status.state, "location_kind": rec.status.location_kind,
            "location_zh": rec.status.location_kind.label_zh(), "full": rec.status.full,
            "next_check_date": rec.status.next_check_date,
            "verdict": cyltrace_domain::Verdict::of(&rec.archive, &rec.status, today(now)).as_str(),
            "warnings": warnings,
        }));
    }
    Ok(out)
}

/// `events[3].codes[0]` → (3, `codes[0]`).
fn event_field(f: &str) -> Option<(&str, &str)> {
    let rest = f.strip_prefix("events[")?;
    let (i, rest) = rest.split_once(']')?;
    Some((i, rest.strip_prefix('.').unwrap_or(rest)))
}

/// A scan request's own name for a field of the events built from it.
fn scan_field(f: &str) -> String {
    match event_field(f) {
        Some((i, "codes[0]")) => format!("scans[{i}].code"),
        Some((i, r @ ("id" | "time"))) => format!("scans[{i}].{r}"),
        Some((_, r)) => r.strip_prefix("data.").unwrap_or(r).to_owned(),
        None => f.to_owned(),
    }
}

/// An order delivery's own name for a field of its `deliver` event.
pub(super) fn delivery_field(f: &str) -> String {
    match event_field(f) {
        Some((_, r)) => r.strip_prefix("data.").unwrap_or(r).to_owned(),
        None => f.to_owned(),
    }
}

fn strip_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// Renames the fields of errors from the events built for a request to the request's own fields
/// (`events[3].codes[0]` → `scans[3].code`, `events[0].data.vehicle` → `vehicle`), by `fix`.
pub(crate) fn rename_fields(e: ApiError, fix: impl Fn(&str) -> String) -> ApiError {
    match e {
        ApiError::Invalid(errs) => ApiError::Invalid(ValidationErrors(
            errs.0
                .into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        )),
        ApiError::Conflict(m, f) => ApiError::Conflict(
            m,
            f.into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        ),
        other => other,
    }
}
