//! The regulator interface (`/PS`, YUNNAN-API.md) on the receiving side: uploads from enterprises,
//! inspection stations and lower platforms land as events of the uploading unit; registration
//! applications wait for a regulator; spot checks and inspection applications are documents; month
//! counts are compared with what arrived; lower nodes' ledgers are witnessed.
//!
//! One module per part: `uploads` (archives downward, trace uploads and month counts),
//! `registration` (usage registration applications and their approval), `spot_checks`,
//! `check_apply` (inspection work orders), `witness` (lower nodes' ledgers). This module holds the
//! `/PS` error, the ticket login and what the parts share (documents of the caller, stations by name,
//! the account's SM4 key).

use cyltrace_domain::OrgKind;
use cyltrace_domain::ValidationErrors;
use cyltrace_domain::access::Action;
use cyltrace_store::{Page, PsDoc, PsDocFilter, Scope, StoreError};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

mod check_apply;
mod registration;
mod spot_checks;
mod uploads;
mod witness;

pub use check_apply::{begin_check_apply, change_check_apply};
pub use registration::{apply_registration, approve_registration, reject_registration};
pub use spot_checks::{
    answer_spot_check, create_spot_check, spot_check_detail, unanswered_spot_checks,
};
pub use uploads::{LIST_LIMIT, business_count, generic_bottles, upload_trace};
pub use witness::{witness_checkpoint, witness_state};

/// Why a `/PS` call failed: HTTP 400 (unparsable), 401 (ticket), or 200 with `State:1`.
#[derive(Debug)]
pub enum PsError {
    BadRequest(String),
    Unauthorized(String),
    Refused(String),
    Internal(String),
}

pub type PsResult<T> = Result<T, PsError>;

impl From<StoreError> for PsError {
    fn from(e: StoreError) -> Self {
        PsError::Internal(e.to_string())
    }
}

impl From<ApiError> for PsError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) => PsError::BadRequest(m),
            ApiError::Unauthorized(m) => PsError::Unauthorized(m),
            ApiError::Internal(m) => PsError::Internal(m),
            ApiError::Invalid(v) => PsError::Refused(reasons(&v)),
            other => PsError::Refused(problem_detail(&other)),
        }
    }
}

fn problem_detail(e: &ApiError) -> String {
    match e {
        ApiError::Forbidden(m) | ApiError::NotFound(m) | ApiError::Conflict(m, _) => m.clone(),
        other => other.to_string(),
    }
}

/// All field errors as one reason: `Items[1].Barcode: …；Man.Name: …`.
pub fn reasons(v: &ValidationErrors) -> String {
    v.0.iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("；")
}

/// A rejected upload as the `/PS` interface words it: every reason, field by field.
pub(crate) fn ps_error(r: crate::services::events::Rejection) -> PsError {
    let refusals = match r {
        crate::services::events::Rejection::Error(e) => return PsError::from(e),
        crate::services::events::Rejection::Refused(r) => r,
    };
    let reason = |r: &cyltrace_domain::intake::Refusal| match r {
        cyltrace_domain::intake::Refusal::Invalid(f)
        | cyltrace_domain::intake::Refusal::Conflict(f)
            if f.field.ends_with("ThridId") =>
        {
            format!("{}: 该 ThridId 已用于另一条不同的记录", f.field)
        }
        cyltrace_domain::intake::Refusal::Invalid(f)
        | cyltrace_domain::intake::Refusal::Conflict(f) => format!("{}: {}", f.field, f.message),
        cyltrace_domain::intake::Refusal::NoArchive { field, code } => {
            format!("{field}: 气瓶 {code} 在本平台没有档案")
        }
        cyltrace_domain::intake::Refusal::OutOfScope { field, code } => {
            format!("{field}: 气瓶 {code} 不属于本账号所在单位")
        }
        cyltrace_domain::intake::Refusal::Forbidden(m)
        | cyltrace_domain::intake::Refusal::NotFound(m) => m.clone(),
    };
    PsError::Refused(refusals.iter().map(reason).collect::<Vec<_>>().join("；"))
}

pub(crate) fn refuse(field: impl AsRef<str>, msg: impl AsRef<str>) -> PsError {
    PsError::Refused(format!("{}: {}", field.as_ref(), msg.as_ref()))
}

/// Tickets live two hours (YUNNAN-API.md), unless configured otherwise.
pub async fn login(st: &AppState, body: &Value) -> PsResult<String> {
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| refuse(k, "缺少必填属性"))
    };
    let (account, password) = (field("Account")?, field("Password")?);
    let login = json!({"username": account, "password": password});
    match crate::services::login_for(st, &login, st.config.ps_ticket_ttl_secs).await {
        Ok((ticket, _, _)) => Ok(ticket),
        Err(ApiError::Unauthorized(m)) => Err(PsError::Refused(m)),
        Err(e) => Err(e.into()),
    }
}

/// The caller behind a ticket.
pub async fn principal(st: &AppState, ticket: Option<&str>) -> PsResult<Principal> {
    let t = ticket
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PsError::Unauthorized("缺少令牌参数 ticket（或 token），请先调用 /PS/Auth/Login".into())
        })?;
    crate::services::authenticate(st, t).await.map_err(|_| {
        PsError::Unauthorized("令牌无效或已过期，请重新调用 /PS/Auth/Login".to_owned())
    })
}

pub async fn list_docs(
    st: &AppState,
    p: &Principal,
    kind: &str,
    state: Option<String>,
    page: Page,
) -> Result<Vec<PsDoc>, ApiError> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_ps_docs(&PsDocFilter {
            kind: kind.to_owned(),
            scope: Some(p.scope()),
            state,
            limit: page.limit,
            offset: page.offset,
            ..Default::default()
        })
        .await?)
}

pub(super) async fn own_doc(
    st: &AppState,
    p: &Principal,
    id: i64,
    kind: &str,
    what: &str,
) -> PsResult<PsDoc> {
    st.store
        .get_ps_doc(id)
        .await?
        .filter(|d| d.kind == kind && d.org_id == p.org_id)
        .ok_or_else(|| refuse("Id", format!("{what} {id} 不存在或不属于本单位")))
}

/// The inspection station of this node called `name`.
pub(super) async fn station_by_name(
    st: &AppState,
    name: &str,
) -> PsResult<Option<cyltrace_store::OrgRecord>> {
    let mut offset = 0;
    loop {
        let page = st
            .store
            .list_orgs(&Scope::all(), Page { limit: 500, offset })
            .await?;
        if let Some(o) = page
            .iter()
            .find(|o| o.kind == OrgKind::InspectionStation && o.name == name)
        {
            return Ok(Some(o.clone()));
        }
        if page.len() < 500 {
            return Ok(None);
        }
        offset += 500;
    }
}
