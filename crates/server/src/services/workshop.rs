//! The station's lab tests (化验) and repairs (维修) of cylinders (B8; seed 001 §5.2.1.9–10): events
//! on the cylinders, recorded through the one write path and listed like the fills and checks.
//!
//! A record is written with a flat body — the event's `id`, `codes`, `time`, `site_id`, `operator`
//! beside the kind's own fields — so that a form and an API client name every field the same way.
//! Records are never deleted: the ledger keeps them; a wrong one is corrected by a later record.

use cyltrace_domain::access::Action;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::{Event, EventKind, FieldError, ValidationErrors};
use cyltrace_store::{Appended, Page, StoredEvent};
use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::services::events::{Submission, api_error, submit};
use crate::services::filling::{RecordQuery, event_filter};
use crate::state::AppState;

/// The kinds this module records.
pub const KINDS: [EventKind; 2] = [EventKind::LabTest, EventKind::Repair];

/// The fields of the flat body that belong to the event rather than to its data.
const EVENT_FIELDS: [&str; 5] = ["id", "codes", "time", "site_id", "operator"];

/// Records one lab test or repair from a flat body; answers where it was stored. A retry with the
/// same `id` is stored once.
pub async fn record(
    st: &AppState,
    p: &Principal,
    kind: EventKind,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<Appended> {
    if !KINDS.contains(&kind) {
        return Err(ApiError::Internal(format!("not a workshop kind: {kind:?}")));
    }
    p.require(Action::RecordEvent(kind))?;
    let Some(fields) = body.as_object() else {
        return Err(ApiError::invalid("", "请求体应为 JSON 对象"));
    };
    let mut event = Map::new();
    let mut data = Map::new();
    for (k, v) in fields {
        if EVENT_FIELDS.contains(&k.as_str()) {
            event.insert(k.clone(), v.clone());
        } else {
            data.insert(k.clone(), v.clone());
        }
    }
    event.insert("kind".to_owned(), json!(kind.as_str()));
    event
        .entry("time")
        .or_insert_with(|| json!(st.now().to_rfc3339()));
    event.insert("data".to_owned(), Value::Object(data));
    let e = Event::parse(&Value::Object(event), "").map_err(flat)?;
    let appended = submit(st, p, Submission::new(vec![e], Naming::Fields), audit)
        .await
        .map_err(api_error)?;
    appended
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal("a record without its event".to_owned()))
}

/// Field names of the flat body: `data.sample_no` → `sample_no`.
fn flat(e: ValidationErrors) -> ApiError {
    ApiError::Invalid(ValidationErrors(
        e.0.into_iter()
            .map(|f| {
                let field = f
                    .field
                    .strip_prefix("data.")
                    .or_else(|| (f.field == "data").then_some(""))
                    .unwrap_or(&f.field)
                    .to_owned();
                FieldError::new(field, f.message)
            })
            .collect(),
    ))
}

/// Lab tests or repairs in the caller's scope, newest first (filters as for fills).
pub async fn records(
    st: &AppState,
    p: &Principal,
    kind: EventKind,
    q: &RecordQuery,
) -> ApiResult<(Vec<StoredEvent>, i64, Page)> {
    p.require(Action::Read)?;
    let f = event_filter(p, q, vec![kind.as_str()])?;
    let (items, total) = st.store.list_events(&f).await?;
    Ok((
        items,
        total,
        Page {
            limit: f.limit,
            offset: f.offset,
        },
    ))
}
