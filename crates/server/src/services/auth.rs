//! Sign-in: password logins with lock-out, throttling by client address and the second factor,
//! bearer tokens and sessions (a session is a token), and the principal behind a token (cached for
//! a few seconds; whatever ends a session or changes an account clears the cache).

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::Role;
use cyltrace_domain::parse::from_value;
use cyltrace_store::UserRecord;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Principal, Restriction, hash_password, new_token, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
    /// The second-factor code (6 digits) or a recovery code, for an account with TOTP enrolled.
    #[serde(default)]
    pub totp: Option<String>,
}

/// A login that did not succeed: the answer, and why for the audit record (which may say more than
/// the answer: an inactive account is answered like a wrong password).
#[derive(Debug)]
pub struct LoginRefusal {
    pub error: ApiError,
    pub why: Option<&'static str>,
}

impl From<ApiError> for LoginRefusal {
    fn from(error: ApiError) -> Self {
        LoginRefusal { error, why: None }
    }
}

impl From<cyltrace_store::StoreError> for LoginRefusal {
    fn from(e: cyltrace_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

fn refused(error: ApiError, why: &'static str) -> LoginRefusal {
    LoginRefusal {
        error,
        why: Some(why),
    }
}

/// A token issued by a login: the token, when it expires, and its user.
pub type Issued = (String, DateTime<Utc>, UserRecord);

/// Checks username, password and (when enrolled) the second factor, and issues a token. `client`
/// is the caller's address for the throttle.
pub async fn login(
    st: &AppState,
    body: &Value,
    client: Option<IpAddr>,
) -> Result<Issued, LoginRefusal> {
    login_for(st, body, st.config.token_ttl_secs, client).await
}

/// [`login`] with a token that lives `ttl_secs` (a `/PS` ticket lives two hours).
pub async fn login_for(
    st: &AppState,
    body: &Value,
    ttl_secs: u64,
    client: Option<IpAddr>,
) -> Result<Issued, LoginRefusal> {
    let input: LoginInput = from_value(body, "").map_err(ApiError::from)?;
    let user = check_password(st, &input.username, &input.password, client).await?;
    second_factor(st, &user, input.totp.as_deref(), client).await?;
    Ok(issue(st, user, ttl_secs).await?)
}

/// 429 while the client's address has used up its failed logins.
fn throttled(st: &AppState, client: Option<IpAddr>) -> Result<(), LoginRefusal> {
    st.guards.logins.check(client).map_err(|wait| {
        let secs = crate::throttle::retry_after_secs(wait);
        refused(
            ApiError::TooManyRequests(format!("登录失败次数过多，请 {secs} 秒后再试"), secs),
            "throttled: too many failed logins from this address",
        )
    })
}

/// A failed attempt counts against the client's address (its answer is the one given).
fn charge(st: &AppState, client: Option<IpAddr>) {
    // The refusal already answers this attempt; an empty bucket shows at the next one.
    let _ = st.guards.logins.charge(client);
}

/// Step one: the password. Answers the user when it is right and the account may log in; the
/// answer never tells whether the username exists or the account is inactive.
pub async fn check_password(
    st: &AppState,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<UserRecord, LoginRefusal> {
    throttled(st, client)?;
    let bad = || ApiError::Unauthorized("用户名或密码错误".to_owned());
    let now = st.now();
    let Some(user) = st.store.user_by_username(username.trim()).await? else {
        st.metrics.logins_failed.inc();
        charge(st, client);
        // Spend the same time as a real check so that timing does not reveal unknown usernames.
        // The hash itself is thrown away: only the time it takes matters.
        if let Err(e) = tokio::task::spawn_blocking(|| hash_password("timing-equaliser-0")).await {
            tracing::warn!(error = %e, "login timing equaliser did not run");
        }
        return Err(refused(bad(), "unknown username"));
    };
    if user.locked_until.is_some_and(|t| t > now) {
        st.metrics.logins_failed.inc();
        charge(st, client);
        return Err(refused(
            ApiError::Unauthorized("登录失败次数过多，账户已临时锁定，请稍后再试".to_owned()),
            "account locked",
        ));
    }
    let phc = user.password_hash.clone();
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::Internal(format!("password check task: {e}")))?;
    if !ok {
        failed(st, &user, client).await?;
        return Err(refused(bad(), "wrong password"));
    }
    if !user.active {
        st.metrics.logins_failed.inc();
        charge(st, client);
        return Err(refused(bad(), "account inactive"));
    }
    Ok(user)
}

/// A failed attempt on an existing account: counted for its lock-out and against the address.
async fn failed(st: &AppState, user: &UserRecord, client: Option<IpAddr>) -> ApiResult<()> {
    st.metrics.logins_failed.inc();
    charge(st, client);
    let lock = (user.failed_logins + 1 >= st.config.max_failed_logins)
        .then(|| st.now() + Duration::seconds(st.config.lockout_secs as i64));
    st.store.note_failed_login(user.id, lock).await?;
    Ok(())
}

/// Step two, for an account with a second factor: `code` is a current TOTP code (each accepted
/// once) or an unused recovery code. Missing: 401 naming `totp`; wrong: the same, and it counts as
/// a failed login.
pub async fn second_factor(
    st: &AppState,
    user: &UserRecord,
    code: Option<&str>,
    client: Option<IpAddr>,
) -> Result<(), LoginRefusal> {
    if !user.totp_enabled {
        return Ok(());
    }
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(refused(
            ApiError::SecondFactor(
                "该账户已启用动态口令：请输入手机验证器上的 6 位动态口令（或一个恢复码）"
                    .to_owned(),
            ),
            "second factor missing",
        ));
    };
    if super::accounts::verify_second_factor(st, user, code).await? {
        return Ok(());
    }
    failed(st, user, client).await?;
    Err(refused(
        ApiError::SecondFactor("动态口令错误或已使用过，请输入新的动态口令".to_owned()),
        "wrong second factor",
    ))
}

/// Issues a token for a user whose login succeeded.
pub async fn issue(st: &AppState, user: UserRecord, ttl_secs: u64) -> ApiResult<Issued> {
    if user.failed_logins > 0 || user.locked_until.is_some() {
        st.store.reset_failed_logins(user.id).await?;
    }
    let now = st.now();
    let (token, hash) = new_token()?;
    let expires = now + Duration::seconds(ttl_secs as i64);
    st.store.insert_token(&hash, user.id, expires, now).await?;
    Ok((token, expires, user))
}

/// A page login whose password was right, for an account with a second factor, waits for the
/// code: answers the secret of that second step (kept by the login page in a cookie), valid for five
/// minutes.
pub fn begin_second_step(st: &AppState, user: &UserRecord) -> ApiResult<String> {
    let (step, hash) = new_token()?;
    st.guards.pending_logins.put(hash, user.id, None);
    Ok(step)
}

/// The second step of a page login: `code` for the user waiting under `step`.
pub async fn finish_second_step(
    st: &AppState,
    step: &str,
    code: &str,
    client: Option<IpAddr>,
) -> Result<Issued, LoginRefusal> {
    throttled(st, client)?;
    let hash = crate::auth::token_hash(step);
    let expired = || {
        refused(
            ApiError::Unauthorized("登录已超时，请重新输入用户名和密码".to_owned()),
            "second step expired",
        )
    };
    let user_id = st.guards.pending_logins.get(&hash).ok_or_else(expired)?;
    let user = st.store.get_user(user_id).await?.filter(|u| u.active);
    let Some(user) = user else {
        st.guards.pending_logins.remove(&hash);
        return Err(expired());
    };
    if user.locked_until.is_some_and(|t| t > st.now()) {
        st.guards.pending_logins.remove(&hash);
        return Err(refused(
            ApiError::Unauthorized("登录失败次数过多，账户已临时锁定，请稍后再试".to_owned()),
            "account locked",
        ));
    }
    second_factor(st, &user, Some(code), client).await?;
    st.guards.pending_logins.remove(&hash);
    Ok(issue(st, user, st.config.token_ttl_secs).await?)
}

/// Ends a session or token at once (the principal cache forgets it too).
pub async fn logout(st: &AppState, token: &str) -> ApiResult<()> {
    let hash = crate::auth::token_hash(token);
    st.store.delete_token(&hash).await?;
    st.caches.principals.remove(&hash);
    Ok(())
}

/// The principal holding `token`, if it is valid and unexpired. Cached for a few seconds (never
/// past the token's expiry), as every API call asks.
pub async fn authenticate(st: &AppState, token: &str) -> ApiResult<Principal> {
    let hash = crate::auth::token_hash(token);
    let now = st.now();
    if let Some((p, expires)) = st.caches.principals.get(&hash)
        && expires > now
    {
        return Ok(p);
    }
    let (user, expires) = st
        .store
        .user_by_token(&hash, now)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("访问令牌无效或已过期，请重新登录".to_owned()))?;
    let mut p = Principal::from(&user);
    p.token_hash = Some(hash.clone());
    if p.restriction.is_none() && must_enrol_totp(st, &user) {
        p.restriction = Some(Restriction::EnrolTotp);
    }
    st.caches.principals.put(hash, (p.clone(), expires), None);
    Ok(p)
}

/// Whether a role of the user requires a second factor (`require_totp_roles`) that is not enrolled
/// yet. Machine accounts (`platform`, the `/PS` accounts of other platforms) are exempt.
pub fn must_enrol_totp(st: &AppState, user: &UserRecord) -> bool {
    !user.totp_enabled
        && !user.roles.contains(&Role::Platform)
        && user.roles.iter().any(|r| st.guards.totp_roles.contains(r))
}

/// The account a failed login named, if there is one (the audit record names it, and so its
/// organisation for regulators). A failed lookup is logged and answered as none.
pub async fn failed_login_account(st: &AppState, username: &str) -> Option<Principal> {
    match st.store.user_by_username(username.trim()).await {
        Ok(user) => user.as_ref().map(Principal::from),
        Err(e) => {
            tracing::error!(error = %e, "looking up the account of a failed login");
            None
        }
    }
}

/// Who is signed in, as the page scripts are told (`GET /api/v1/session`).
pub struct SessionUser {
    pub name: String,
    pub org_name: Option<String>,
}

pub async fn session_user(st: &AppState, p: &Principal) -> ApiResult<SessionUser> {
    let user = st
        .store
        .get_user(p.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("账户不存在".to_owned()))?;
    let org = st.store.get_org(p.org_id).await?;
    Ok(SessionUser {
        name: user.name,
        org_name: org.map(|o| o.name),
    })
}
