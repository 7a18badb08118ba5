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
    // Some audit rows are written behind their answers: read them too.
    st.store.flush().await?;
    let (items, total) = st.store.list_audit(&filter).await?;
    Ok((items, total, page))
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
