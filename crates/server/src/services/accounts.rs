//! Accounts people can keep safe (G5): an admin changes a user's name, roles and whether the account
//! is active (deactivation ends every session at once), sets a password (optionally temporary: it
//! must be changed at the next login), resets the second factor; a user changes their own password.
//! The TOTP second factor (enrolment, codes, recovery codes) is in `accounts/totp.rs`.
//!
//! Who may manage whom: the roles that may create users (`Action::CreateUser`), for users inside
//! their data scope whose every role they could grant themselves (`may_grant`), so that an
//! enterprise admin cannot touch a regulator's account nor a regulator a node admin's. Every change
//! clears the principal cache, so that it takes effect for the very next request. The notes
//! returned for the audit record name what changed, old → new, never a password or a secret.

use cyltrace_domain::access::{Action, may_grant};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{FieldError, Role, ValidationErrors};
use cyltrace_store::{UserChange, UserRecord};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Principal, check_password_strength, hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub mod totp;

pub use totp::{
    Enrolment, TotpStatus, begin_totp, confirm_totp, disable_own_totp, pending_totp, reset_totp,
    totp_status, verify_second_factor,
};

/// `PATCH /users/{id}`: every field optional.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    /// `false` deactivates the account (its tokens and sessions end at once), `true` reactivates it.
    pub active: Option<bool>,
}

/// `POST /users/{id}/password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
    /// The user must choose a new password at the next login.
    #[serde(default)]
    pub temporary: bool,
}

/// `POST /auth/password`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The user `id`, when the caller may manage that account: 404 unknown, 403 outside the data scope
/// or holding a role the caller could not grant.
pub async fn managed_user(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<UserRecord> {
    p.require(Action::CreateUser)?;
    let user = st
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("用户不存在".to_owned()))?;
    p.require_scope(&user.org_path, "该用户")?;
    if let Some(r) = user.roles.iter().find(|r| !may_grant(&p.roles, **r)) {
        return Err(ApiError::Forbidden(format!(
            "您无权管理拥有角色“{}”的用户",
            r.label_zh()
        )));
    }
    Ok(user)
}

/// Parses role names (each known, none twice, at least one) under `field`.
pub fn parse_roles(names: &[String], field: &str, errs: &mut ValidationErrors) -> Vec<Role> {
    let mut roles = Vec::new();
    if names.is_empty() {
        errs.push(field, "至少需要一个角色");
    }
    for (i, r) in names.iter().enumerate() {
        match Role::parse(r.trim()) {
            Some(role) if !roles.contains(&role) => roles.push(role),
            Some(_) => errs.push(format!("{field}[{i}]"), "角色重复"),
            None => errs.push(format!("{field}[{i}]"), format!("未知角色“{r}”")),
        }
    }
    roles
}

/// `PATCH /users/{id}`: name, roles (only roles the caller may grant), active. The last active node
/// admin cannot be deactivated nor lose the role (422 naming `active` / `roles`); nothing changes
/// when anything is refused. Answers the user as stored and the audit note.
pub async fn update_user(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<(UserRecord, String)> {
    if body.get("username").is_some() {
        return Err(ApiError::invalid("username", "用户名创建后不能修改"));
    }
    let patch: UserPatch = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    let name = match patch.name.as_deref().map(cyltrace_domain::Text::parse) {
        None => None,
        Some(Ok(n)) => Some(n.to_string()),
        Some(Err(m)) => {
            errs.push("name", m);
            None
        }
    };
    let roles = patch
        .roles
        .as_ref()
        .map(|names| parse_roles(names, "roles", &mut errs));
    errs.into_result(())?;
    let user = managed_user(st, p, id).await?;
    if let Some(r) = roles.iter().flatten().find(|r| !may_grant(&p.roles, **r)) {
        return Err(ApiError::Forbidden(format!(
            "您无权授予角色“{}”",
            r.label_zh()
        )));
    }
    let loses_admin = user.active
        && user.roles.contains(&Role::NodeAdmin)
        && (patch.active == Some(false)
            || roles
                .as_ref()
                .is_some_and(|r| !r.contains(&Role::NodeAdmin)));
    if loses_admin && st.store.count_active_node_admins().await? <= 1 {
        let (field, message) = if patch.active == Some(false) {
            (
                "active",
                "这是最后一位启用的节点管理员，不能停用；请先为其他账户授予节点管理员角色",
            )
        } else {
            (
                "roles",
                "这是最后一位启用的节点管理员，不能取消其节点管理员角色",
            )
        };
        return Err(ApiError::invalid(field, message));
    }
    let change = UserChange {
        name: name.filter(|n| *n != user.name),
        roles: roles.filter(|r| *r != user.roles),
        active: patch.active.filter(|a| *a != user.active),
    };
    let mut note = format!("user {} {}:", user.id, user.username);
    if change == UserChange::default() {
        note.push_str(" no change");
        return Ok((user, note));
    }
    let (after, ended) = st
        .store
        .update_user(id, &change)
        .await?
        .ok_or_else(|| ApiError::NotFound("用户不存在".to_owned()))?;
    st.caches.principals.clear();
    if let Some(n) = &change.name {
        note.push_str(&format!(" name {} → {n};", user.name));
    }
    if let Some(r) = &change.roles {
        note.push_str(&format!(
            " roles {} → {};",
            roles_text(&user.roles),
            roles_text(r)
        ));
    }
    if let Some(a) = change.active {
        note.push_str(&format!(" active {} → {a}", user.active));
        if !a {
            note.push_str(&format!(" ({ended} sessions ended)"));
        }
    }
    Ok((after, note.trim_end_matches(';').to_owned()))
}

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// `POST /users/{id}/password`: an admin sets a user's password (`temporary`: to be changed at
/// the next login). Every other session of the user ends. Answers the audit note.
pub async fn set_password(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<String> {
    let input: PasswordReset = from_value(body, "")?;
    let user = managed_user(st, p, id).await?;
    check_password_strength(&user.username, &input.password)
        .map_err(|m| ApiError::invalid("password", m))?;
    let hash = hash(input.password).await?;
    // An admin resetting their own password keeps the session they do it from.
    let keep = (user.id == p.user_id)
        .then_some(p.token_hash.as_deref())
        .flatten();
    let ended = st
        .store
        .set_password(user.id, &hash, input.temporary, keep)
        .await?;
    st.caches.principals.clear();
    Ok(format!(
        "user {} {}: password set by an admin{} ({ended} sessions ended)",
        user.id,
        user.username,
        if input.temporary { ", temporary" } else { "" }
    ))
}

/// `POST /auth/password`: the caller's own password, given the old one. The caller's other
/// sessions end; the one used keeps working, and a temporary password is thereby replaced. A wrong
/// old password counts as a failed login (lock-out). Answers the audit note.
pub async fn change_own_password(st: &AppState, p: &Principal, body: &Value) -> ApiResult<String> {
    let input: PasswordChange = from_value(body, "")?;
    let user = st
        .store
        .get_user(p.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("账户不存在".to_owned()))?;
    let phc = user.password_hash.clone();
    let old = input.old_password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&old, &phc))
        .await
        .map_err(|e| ApiError::Internal(format!("password check task: {e}")))?;
    if !ok {
        st.metrics.logins_failed.inc();
        let lock = (user.failed_logins + 1 >= st.config.max_failed_logins)
            .then(|| st.now() + chrono::Duration::seconds(st.config.lockout_secs as i64));
        st.store.note_failed_login(user.id, lock).await?;
        return Err(ApiError::invalid("old_password", "原密码不正确"));
    }
    let mut errs = ValidationErrors::default();
    if let Err(m) = check_password_strength(&user.username, &input.new_password) {
        errs.push("new_password", m);
    } else if input.new_password == input.old_password {
        errs.push("new_password", "新密码不能与原密码相同");
    }
    errs.into_result(())?;
    let hash = hash(input.new_password).await?;
    let ended = st
        .store
        .set_password(user.id, &hash, false, p.token_hash.as_deref())
        .await?;
    st.caches.principals.clear();
    Ok(format!(
        "user {} {}: own password changed{} ({ended} other sessions ended)",
        user.id,
        user.username,
        if user.must_change_password {
            ", temporary password replaced"
        } else {
            ""
        }
    ))
}

/// The account of the caller (what the account page shows).
pub async fn own_account(st: &AppState, p: &Principal) -> ApiResult<UserRecord> {
    st.store
        .get_user(p.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("账户不存在".to_owned()))
}

/// A 409 naming `field`.
fn conflict(field: &str, message: &str) -> ApiError {
    ApiError::Conflict(message.to_owned(), vec![FieldError::new(field, message)])
}
