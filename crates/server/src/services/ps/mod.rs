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

use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::sm4::Sm4Key;
use crate::state::AppState;

mod check_apply;
mod registration;
mod spot_checks;
mod uploads;
mod witness;

pub use check_apply::{begin_check_apply, change_check_apply};
pub use registration::{apply_registration, approve_registration, reject_registration};
pub use spot_checks::{
    SpotCheck, answer_spot_check, answer_spot_check_here, create_spot_check, spot_check,
    spot_check_detail, spot_check_photo, spot_checks, unanswered_spot_checks,
};
pub use uploads::{LIST_LIMIT, business_count, generic_bottles, upload_trace};
pub use witness::{witness_checkpoint, witness_state};

/// Why a `/PS` call failed: HTTP 400 (unparsable), 401 (ticket), or 200 with `State:1`.
#[derive(Debug)]
pub enum PsError {
    BadRequest(String),
    Unauthorized(String),
    Refused(String),
    /// HTTP 429 with `State` 1 and `Retry-After` (seconds): too many failed logins from the address.
    Throttled(String, u64),
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
            ApiError::TooManyRequests(m, secs) => PsError::Throttled(m, secs),
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

/// Tickets live two hours (YUNNAN-API.md), unless configured otherwise. An account with a second
/// factor sends its current code (or a recovery code) in the extra property `Totp`; an account that
/// must first change a temporary password or enrol a second factor is refused (it does that on the
/// platform's pages or API). Failed logins are throttled per client address like every login.
/// Answers the ticket, or the refusal and why (for the audit record).
pub async fn login(
    st: &AppState,
    body: &Value,
    client: Option<std::net::IpAddr>,
) -> Result<String, (PsError, Option<&'static str>)> {
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| (refuse(k, "缺少必填属性"), None))
    };
    let (account, password) = (field("Account")?, field("Password")?);
    let mut login = json!({"username": account, "password": password});
    if let Some(code) = body.get("Totp").and_then(Value::as_str) {
        login["totp"] = json!(code);
    }
    match crate::services::login_for(st, &login, st.config.ps_ticket_ttl_secs, client).await {
        Ok((ticket, _, user)) => {
            let p = Principal::from(&user);
            let restriction = p
                .restriction
                .or(crate::services::auth::must_enrol_totp(st, &user)
                    .then_some(crate::auth::Restriction::EnrolTotp));
            match restriction {
                None => Ok(ticket),
                Some(r) => {
                    // The ticket is of no use: it ends at once.
                    crate::services::logout(st, &ticket)
                        .await
                        .map_err(|e| (e.into(), None))?;
                    Err((
                        PsError::Refused(restriction_reason(r).to_owned()),
                        Some("account restricted"),
                    ))
                }
            }
        }
        Err(r) => {
            let e = match r.error {
                ApiError::Unauthorized(m) => PsError::Refused(m),
                ApiError::SecondFactor(_) if login.get("totp").is_none() => PsError::Refused(
                    "该账号已启用动态口令：请在 Totp 属性中提供当前的 6 位动态口令（或一个恢复码）"
                        .to_owned(),
                ),
                ApiError::SecondFactor(m) => PsError::Refused(format!("Totp: {m}")),
                other => other.into(),
            };
            Err((e, r.why))
        }
    }
}

/// Why a restricted account cannot use `/PS`.
fn restriction_reason(r: crate::auth::Restriction) -> &'static str {
    match r {
        crate::auth::Restriction::ChangePassword => {
            "该账号的密码为临时密码：请先登录平台修改密码后再调用接口"
        }
        crate::auth::Restriction::EnrolTotp => {
            "该账号须先绑定动态口令：请先登录平台绑定后再调用接口"
        }
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
    let p = crate::services::authenticate(st, t).await.map_err(|_| {
        PsError::Unauthorized("令牌无效或已过期，请重新调用 /PS/Auth/Login".to_owned())
    })?;
    match p.restriction {
        None => Ok(p),
        Some(r) => Err(PsError::Refused(restriction_reason(r).to_owned())),
    }
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

/// The SM4 key of an account (`sm4:<user id>` in the settings), if it has one.
pub async fn account_key(st: &AppState, user_id: Uuid) -> PsResult<Option<Sm4Key>> {
    match st.store.get_setting(&format!("sm4:{user_id}")).await? {
        Some(h) if !h.is_empty() => Sm4Key::parse_hex(&h)
            .map(Some)
            .map_err(|_| PsError::Internal("stored SM4 key is malformed".to_owned())),
        _ => Ok(None),
    }
}

/// Sets (or, with `{"key": null}`, removes) the SM4 key of a `/PS` account; answers the account and
/// whether a key is now set.
pub async fn set_account_key(
    st: &AppState,
    p: &Principal,
    user_id: Uuid,
    body: &Value,
) -> ApiResult<(cyltrace_store::UserRecord, bool)> {
    let user = crate::services::get_user(st, p, user_id).await?;
    if !p.is_node_admin() && !p.roles.contains(&cyltrace_domain::Role::Regulator) {
        return Err(ApiError::Forbidden(
            "只有平台管理员或监管人员可以设置接入密钥".to_owned(),
        ));
    }
    let value = match body.get("key") {
        Some(Value::Null) => String::new(),
        Some(Value::String(s)) => Sm4Key::parse_hex(s)
            .map_err(|m| ApiError::invalid("key", m))?
            .to_hex(),
        _ => return Err(ApiError::invalid("key", "应为 32 位十六进制字符串或 null")),
    };
    st.store
        .set_setting(&format!("sm4:{}", user.id), &value, st.now())
        .await?;
    Ok((user, !value.is_empty()))
}

/// Alarms for the regulator in scope (ledger tamper, count mismatch, uplink), newest first.
pub async fn alarms(
    st: &AppState,
    p: &Principal,
    kind: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<Vec<cyltrace_store::RegAlarm>> {
    p.require(Action::Read)?;
    let mut errs = ValidationErrors::default();
    let page = crate::services::page(limit, offset, &mut errs);
    errs.into_result(())?;
    Ok(st
        .store
        .list_reg_alarms(&cyltrace_store::RegAlarmFilter {
            scope: Some(p.scope()),
            kind,
            limit: page.limit,
            offset: page.offset,
        })
        .await?)
}

/// The uplink outbox, and whether an upstream node is configured.
pub async fn uplink_status(
    st: &AppState,
    p: &Principal,
) -> ApiResult<(bool, cyltrace_store::OutboxStats)> {
    p.require(Action::Read)?;
    let s = st.store.outbox_stats().await?;
    Ok((st.config.upstream_url.is_some(), s))
}

// ---------------------------------------------------------------------------------------------
// The regulator's console

/// A document's state in Chinese.
pub fn doc_state_zh(s: &str) -> &'static str {
    match s {
        "pending" => "待审批",
        "approved" => "已通过",
        "rejected" => "已驳回",
        "open" => "待企业答复",
        "answered" => "已答复",
        "ended" => "已结束",
        _ => "—",
    }
}

pub(super) async fn org_name(st: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(st
        .store
        .get_org(id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// A registration application as the regulator's console lists it.
pub struct Application {
    pub id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub applicant: String,
    /// ApplyNew (true) or ApplyOld.
    pub new: bool,
    pub cylinders: usize,
    pub state: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Registration applications (new and in-use cylinders) in the caller's scope, newest first.
pub async fn applications(st: &AppState, p: &Principal) -> ApiResult<Vec<Application>> {
    let all = Page {
        limit: 500,
        offset: 0,
    };
    let mut docs = list_docs(st, p, "apply_new", None, all).await?;
    docs.extend(list_docs(st, p, "apply_old", None, all).await?);
    docs.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    let mut out = Vec::with_capacity(docs.len());
    for d in &docs {
        out.push(Application {
            id: d.id,
            created_at: d.created_at,
            applicant: org_name(st, d.org_id).await?,
            new: d.kind == "apply_new",
            cylinders: d.body["Request"]["Items"].as_array().map_or(0, Vec::len),
            state: d.state.clone(),
            reason: d.body["Reason"].as_str().unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}
