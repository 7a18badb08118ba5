//! The audit log (G2) as the API and the console read it: filtered, paged, in the caller's scope.

use cyltrace_domain::ValidationErrors;
use cyltrace_domain::access::Action;
use cyltrace_store::{AuditFilter, AuditRecord, Page};
use serde::Deserialize;

use super::page;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only actions of this username.
    pub username: Option<String>,
    /// Only request paths starting with this prefix, e.g. `/api/v1/events`.
    pub path: Option<String>,
    /// Only this HTTP method, e.g. `POST`.
    pub method: Option<String>,
    /// From this instant (RFC 3339), inclusive.
    pub from: Option<String>,
    /// Until this instant (RFC 3339), exclusive.
    pub to: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list_audit(
    st: &AppState,
    p: &Principal,
    q: AuditQuery,
) -> ApiResult<(Vec<AuditRecord>, i64, Page)> {
    p.require(Action::ReadAudit)?;
    let mut errs = ValidationErrors::default();
    let mut time = |name: &str, v: &Option<String>| match v {
        None => None,
        Some(s) => match cyltrace_domain::Timestamp::parse(s) {
            Ok(t) => Some(t.utc()),
            Err(m) => {
                errs.push(name, m);
                None
            }
        },
    };
    let from = time("from", &q.from);
    let to = time("to", &q.to);
    let page = page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    let filter = AuditFilter {
        scope: (!p.is_node_admin()).then(|| p.scope()),
        username: q.username,
        path_prefix: q.path,
        method: q.method.map(|m| m.to_ascii_uppercase()),
        from,
        to,
        limit: page.limit,
        offset: page.offset,
    };
    let (items, total) = st.store.list_audit(&filter).await?;
    Ok((items, total, page))
}

/// The request a write came through: what its audit row names besides the principal.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub method: String,
    /// The path the caller used (without the query: `/PS` callers put tickets there).
    pub path: String,
    /// The peer address, with any `X-Forwarded-For` it sent.
    pub ip: Option<String>,
}

/// The audit row a write commits with (G2): the request, and the status answered when the write
/// succeeds. A write that carries one is audited in its own transaction, so that the row and what it
/// records exist together or not at all.
#[derive(Debug, Clone)]
pub struct Audit {
    pub request: RequestMeta,
    pub status: u16,
    /// What the handler adds to the row's detail (`order … delivered`).
    pub note: Option<String>,
}

impl Audit {
    pub fn new(request: RequestMeta, status: u16) -> Self {
        Audit {
            request,
            status,
            note: None,
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The row for a write by `p` at `at`; `detail` says what was written (ids, counts; never
    /// secrets).
    pub fn record(
        &self,
        p: &Principal,
        detail: String,
        at: chrono::DateTime<chrono::Utc>,
    ) -> AuditRecord {
        AuditRecord {
            id: 0,
            at,
            user_id: Some(p.user_id),
            username: Some(p.username.clone()),
            org_id: Some(p.org_id),
            org_path: Some(p.org_path.clone()),
            method: self.request.method.clone(),
            path: self.request.path.clone(),
            status: i64::from(self.status),
            ip: self.request.ip.clone(),
            detail: Some(match &self.note {
                Some(n) => format!("{n}; {detail}"),
                None => detail,
            }),
        }
    }
}

/// What a change did, for its audit row: `what: field old → new` for every top-level field of two
/// JSON views that differs (absent and `null` read as `—`). Never pass secrets in the views.
pub fn changes_note(what: &str, before: &serde_json::Value, after: &serde_json::Value) -> String {
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let mut keys: Vec<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|m| m.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| before.get(k.as_str()) != after.get(k.as_str()))
        .map(|k| {
            format!(
                "{k}: {} → {}",
                show(before.get(k.as_str())),
                show(after.get(k.as_str()))
            )
        })
        .collect();
    format!("{what}: {}", changed.join("; "))
}

/// The newest `limit` audit records in the caller's scope (all for a node admin), and how many there
/// are (the node admin's console).
pub async fn recent(
    st: &AppState,
    p: &Principal,
    limit: i64,
) -> ApiResult<(Vec<AuditRecord>, i64)> {
    p.require(Action::ReadAudit)?;
    Ok(st
        .store
        .list_audit(&AuditFilter {
            scope: (!p.is_node_admin()).then(|| p.scope()),
            limit,
            ..Default::default()
        })
        .await?)
}

/// Writes the audit row of a request that did not commit its own (it is committed before this
/// returns); a failure is logged and counted, never answered (the request already was).
pub async fn record(st: &AppState, record: &AuditRecord) {
    if let Err(e) = st.store.insert_audit(record).await {
        st.metrics.audit_failures.inc();
        tracing::error!(error = %e, path = %record.path, "audit record could not be written");
    }
}

/// G2: an action the node takes on its own (uplink deliveries, archive pulls, import jobs,
/// checkpoint signing) in the audit log, as method `SYSTEM`, user `system`, address `local`, and
/// path `what`.
pub async fn system(st: &AppState, what: &str, detail: String) {
    let row = AuditRecord {
        id: 0,
        at: st.now(),
        user_id: None,
        username: Some("system".to_owned()),
        org_id: None,
        org_path: None,
        method: "SYSTEM".to_owned(),
        path: what.to_owned(),
        status: 200,
        ip: Some("local".to_owned()),
        detail: Some(detail),
    };
    record(st, &row).await;
}
