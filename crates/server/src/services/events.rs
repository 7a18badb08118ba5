//! The one write path of events (DESIGN §2.1). Every way an event arrives — `POST /events`, a
//! handheld scan, an order delivery, an inspection, a `/PS` upload — hands typed events to
//! [`submit`]. It checks what needs no state (the caller's role for each kind); the store's writer
//! then judges the events inside its transaction, event by event, against the state left by
//! everything before them (`cyltrace_domain::intake`), and appends what is accepted together with
//! what it moves (waybills, an order), the request's other records and its audit row — one commit,
//! before the answer. JSON exists only at the edge: [`record_events`] parses `POST /events`.

use std::collections::HashSet;

use cyltrace_domain::access::Action;
use cyltrace_domain::intake::{Naming, Refusal};
use cyltrace_domain::{Event, FieldError, ValidationErrors};
use cyltrace_store::{
    Appended, BizRecord, DeclaredLeaf, Intake, Judge, NewArchives, OrderDelivery, PsDocUpdate,
    StoredEvent, WriteError, WriteRequest,
};
use serde_json::Value;
use uuid::Uuid;

use super::audit::Audit;
use super::{MAX_EVENTS_PER_REQUEST, envelope};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Events to record and what commits with them.
#[derive(Debug)]
pub struct Submission {
    pub events: Vec<Event>,
    /// How the request names the events' fields in refusals.
    pub naming: Naming,
    /// The order the (one) `deliver` event completes.
    pub order: Option<OrderDelivery>,
    /// Archives created with the events (a registration approval).
    pub cylinders: Option<NewArchives>,
    /// Business records created with the events (an inspection application).
    pub records: Vec<BizRecord>,
    /// Leaves a lower node declared for the uploaded records.
    pub ps_leaves: Vec<DeclaredLeaf>,
    /// A `/PS` document the events decide.
    pub ps_doc: Option<PsDocUpdate>,
}

impl Submission {
    pub fn new(events: Vec<Event>, naming: Naming) -> Self {
        Submission {
            events,
            naming,
            order: None,
            cylinders: None,
            records: Vec::new(),
            ps_leaves: Vec::new(),
            ps_doc: None,
        }
    }
}

/// Why a submission stored nothing.
#[derive(Debug)]
pub enum Rejection {
    /// The writer judged it and refused (each interface phrases these its own way).
    Refused(Vec<Refusal>),
    Error(ApiError),
}

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Rejection::Error(e)
    }
}

/// Records `sub` for principal `p`, with the request's audit row when it came through one; answers
/// one [`Appended`] per event. All or nothing.
pub async fn submit(
    st: &AppState,
    p: &Principal,
    sub: Submission,
    audit: Option<&Audit>,
) -> Result<Vec<Appended>, Rejection> {
    for (i, e) in sub.events.iter().enumerate() {
        if p.require(Action::RecordEvent(e.kind())).is_err() {
            let what = format!("当前角色无权记录“{}”事件", e.kind().label_zh());
            let at = sub.naming.event(i);
            return Err(ApiError::Forbidden(if at.is_empty() {
                what
            } else {
                format!("{at}: {what}")
            })
            .into());
        }
    }
    // Files a record names are the recorder's own (issue 22): not another enterprise's, not made up.
    // A lower platform's upload names files kept on its own node.
    if sub.naming != Naming::PsItems {
        let mut errs = ValidationErrors::default();
        for (i, e) in sub.events.iter().enumerate() {
            for (field, reference) in e.data.file_references() {
                if !super::files::usable(st, p, reference).await? {
                    errs.push(
                        sub.naming.field(i, &field),
                        "文件不存在或无权使用：请先上传（POST /api/v1/files）再引用",
                    );
                }
            }
        }
        errs.into_result(()).map_err(ApiError::Invalid)?;
    }
    let now = st.now();
    let audit = audit.map(|a| a.record(p, events_detail(&sub.events), now));
    let req = WriteRequest {
        cylinders: sub.cylinders,
        intake: Some(Intake {
            events: sub.events,
            recorded_at: now,
            judge: Judge::Judged {
                actor: p.actor(),
                naming: sub.naming,
                order: sub.order,
                max_age: st.config.max_event_age(),
            },
        }),
        records: sub.records,
        ps_leaves: sub.ps_leaves,
        ps_doc: sub.ps_doc,
        audit,
        ..Default::default()
    };
    match st.store.write(req).await {
        Ok(w) => {
            let fresh = w.appended.iter().filter(|a| a.new).count() as u64;
            st.metrics.events_appended.inc_by(fresh);
            st.metrics
                .events_duplicate
                .inc_by(w.appended.len() as u64 - fresh);
            Ok(w.appended)
        }
        Err(WriteError::Refused(r)) => Err(Rejection::Refused(r)),
        Err(WriteError::Store(e)) => Err(ApiError::from(e).into()),
    }
}

/// What the audit row says about recorded events: how many and their ids (never their data).
fn events_detail(events: &[Event]) -> String {
    let ids: Vec<String> = events.iter().take(20).map(|e| e.id.to_string()).collect();
    let more = if events.len() > 20 { " …" } else { "" };
    format!("{} events: {}{more}", events.len(), ids.join(" "))
}

/// A rejection as the `/api/v1` answer: every invalid field at once (422), or the first refusal of
/// another kind (403, 404, 409).
pub fn api_error(r: Rejection) -> ApiError {
    let refusals = match r {
        Rejection::Error(e) => return e,
        Rejection::Refused(r) => r,
    };
    if let Some(first) = refusals.iter().find(|r| !r.is_invalid_field()) {
        return match first.clone() {
            Refusal::Forbidden(m) => ApiError::Forbidden(m),
            Refusal::OutOfScope { field, code } => {
                ApiError::Forbidden(format!("{field}: 气瓶 {code} 不在您的数据权限范围内"))
            }
            Refusal::NotFound(m) => ApiError::NotFound(m),
            Refusal::Conflict(f) => ApiError::Conflict(f.message.clone(), vec![f]),
            Refusal::Invalid(f) => ApiError::Invalid(ValidationErrors(vec![f])),
            Refusal::NoArchive { field, code } => {
                ApiError::invalid(field, format!("气瓶 {code} 不存在"))
            }
        };
    }
    ApiError::Invalid(ValidationErrors(
        refusals
            .into_iter()
            .filter_map(|r| match r {
                Refusal::Invalid(f) => Some(f),
                Refusal::NoArchive { field, code } => {
                    Some(FieldError::new(field, format!("气瓶 {code} 不存在")))
                }
                _ => None,
            })
            .collect(),
    ))
}

/// `POST /events`: a batch of events, all valid, all known, all in scope, every move allowed — or
/// nothing is stored.
pub async fn record_events(
    st: &AppState,
    p: &Principal,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<Vec<Appended>> {
    let list = envelope(body, "events", MAX_EVENTS_PER_REQUEST)?;
    let mut errs = ValidationErrors::default();
    let mut events = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match Event::parse(v, &format!("events[{i}]")) {
            Ok(e) if e.kind() == cyltrace_domain::EventKind::ArchiveChange => errs.push(
                format!("events[{i}].kind"),
                "档案变更请通过 PATCH /api/v1/cylinders/{code} 提交",
            ),
            Ok(e) => events.push(e),
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    submit(st, p, Submission::new(events, Naming::Events), audit)
        .await
        .map_err(api_error)
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
