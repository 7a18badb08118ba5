//! Sign-in: password logins with lock-out, bearer tokens and sessions (a session is a token), and
//! the principal behind a token (cached for a few seconds).

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::parse::from_value;
use cyltrace_store::UserRecord;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Principal, hash_password, new_token, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// Checks the password (Argon2id off the async threads), locks the account after too many failures,
/// and issues a token. The answer never tells whether the username exists.
pub async fn login(st: &AppState, body: &Value) -> ApiResult<(String, DateTime<Utc>, UserRecord)> {
    login_for(st, body, st.config.token_ttl_secs).await
}

/// [`login`] with a token that lives `ttl_secs` (a `/PS` ticket lives two hours).
pub async fn login_for(
    st: &AppState,
    body: &Value,
    ttl_secs: u64,
) -> ApiResult<(String, DateTime<Utc>, UserRecord)> {
    let input: LoginInput = from_value(body, "")?;
    let bad = || ApiError::Unauthorized("用户名或密码错误".to_owned());
    let now = st.now();
    let Some(user) = st.store.user_by_username(input.username.trim()).await? else {
        st.metrics.logins_failed.inc();
        // Spend the same time as a real check so that timing does not reveal unknown usernames.
        // The hash itself is thrown away: only the time it takes matters.
        if let Err(e) = tokio::task::spawn_blocking(|| hash_password("timing-equaliser-0")).await {
            tracing::warn!(error = %e, "login timing equaliser did not run");
        }
        return Err(bad());
    };
    if user.locked_until.is_some_and(|t| t > now) {
        st.metrics.logins_failed.inc();
        return Err(ApiError::Unauthorized(
            "登录失败次数过多，账户已临时锁定，请稍后再试".to_owned(),
        ));
    }
    let phc = user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&input.password, &phc))
        .await
        .map_err(|e| ApiError::Internal(format!("password check task: {e}")))?;
    if !ok {
        st.metrics.logins_failed.inc();
        let lock = (user.failed_logins + 1 >= st.config.max_failed_logins)
            .then(|| now + Duration::seconds(st.config.lockout_secs as i64));
        st.store.note_failed_login(user.id, lock).await?;
        return Err(bad());
    }
    if user.failed_logins > 0 || user.locked_until.is_some() {
        st.store.reset_failed_logins(user.id).await?;
    }
    let (token, hash) = new_token()?;
    let expires = now + Duration::seconds(ttl_secs as i64);
    st.store.insert_token(&hash, user.id, expires, now).await?;
    Ok((token, expires, user))
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
    let p = Principal::from(&user);
    st.caches.principals.put(hash, (p.clone(), expires), None);
    Ok(p)
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
