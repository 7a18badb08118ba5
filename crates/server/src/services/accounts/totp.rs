//! The TOTP second factor (RFC 6238; SHA-1, 6 digits, 30-second steps, ±1 step of clock skew — what
//! every authenticator app speaks), with `totp-rs` doing the arithmetic on the node's clock.
//!
//! - Enrolment: `begin` draws a 160-bit secret and keeps it as *pending*; the user scans the QR code
//!   (the `otpauth://` URL) and `confirm`s with a first code, which enables it and answers ten
//!   one-time recovery codes, shown once: only a keyed hash of each is kept.
//! - Login: a current code, each time step accepted once (the last accepted step is kept, so a code
//!   seen by someone else cannot be replayed), or an unused recovery code.
//! - Secrets are kept SM4-encrypted under a key derived from the node's personal-data key
//!   (`pii-sm4.key`): a copy of the database alone does not give them away. They are never logged.

use base64ct::Encoding;
use cyltrace_domain::Timestamp;
use cyltrace_domain::parse::from_value;
use cyltrace_store::UserRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

use super::{conflict, managed_user};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::sm4::{self, Sm4Key};
use crate::state::AppState;

/// The name authenticator apps show above the account.
const ISSUER: &str = "cyltrace";
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Letters and digits that cannot be mistaken for one another (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// An enrolment begun: what the user's authenticator app needs. (No `Debug`: it holds the secret.)
#[derive(Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/cyltrace:<username>?secret=…&issuer=cyltrace`
    pub otpauth_url: String,
    /// The same URL as a QR code (SVG).
    pub qr_svg: String,
}

/// The caller's second factor, as the account page shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TotpStatus {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<Timestamp>,
    /// An enrolment begun and not yet confirmed.
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// A role of the caller requires a second factor (`require_totp_roles`).
    pub required: bool,
}

/// `{"code"}`: a current code (or, where said, a recovery code).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub code: String,
}

/// The key TOTP secrets are sealed with: derived from the node's personal-data key, so that it
/// is backed up with it and differs from the key of ID numbers.
fn sealing_key(st: &AppState) -> ApiResult<Sm4Key> {
    let k = st.pii_key.mac(&[b"cyltrace-totp-secret-key"]);
    Sm4Key::parse_hex(&hex::encode(&k[..16])).map_err(ApiError::Internal)
}

fn seal(st: &AppState, secret: &[u8]) -> ApiResult<String> {
    let (iv, ct) = sm4::encrypt(&sealing_key(st)?, secret)
        .map_err(|e| ApiError::Internal(format!("sealing a TOTP secret: {e}")))?;
    Ok(format!(
        "sm4:{}:{}",
        base64ct::Base64::encode_string(&iv),
        base64ct::Base64::encode_string(&ct)
    ))
}

fn unseal(st: &AppState, sealed: &str) -> ApiResult<Vec<u8>> {
    let corrupt = || ApiError::Internal("a stored TOTP secret does not open".to_owned());
    let mut parts = sealed.splitn(3, ':');
    let (Some("sm4"), Some(iv), Some(ct)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(corrupt());
    };
    let iv = base64ct::Base64::decode_vec(iv).map_err(|_| corrupt())?;
    let ct = base64ct::Base64::decode_vec(ct).map_err(|_| corrupt())?;
    sm4::decrypt(&sealing_key(st)?, &iv, &ct).map_err(|_| corrupt())
}

fn generator(secret: Vec<u8>, username: &str) -> ApiResult<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(username)
        .build()
        .map_err(|e| ApiError::Internal(format!("TOTP parameters: {e}")))
}

fn enrolment(secret: Vec<u8>, username: &str) -> ApiResult<Enrolment> {
    let totp = generator(secret, username)?;
    let url = totp
        .to_url()
        .map_err(|e| ApiError::Internal(format!("otpauth URL: {e}")))?;
    Ok(Enrolment {
        secret: totp.secret().to_base32(),
        qr_svg: crate::services::labels::qr_svg(&url)?,
        otpauth_url: url,
    })
}

/// The step a 6-digit `code` matches now (±1 step), if any.
fn matching_step(
    st: &AppState,
    secret: Vec<u8>,
    username: &str,
    code: &str,
) -> ApiResult<Option<u64>> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 6 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let now = u64::try_from(st.now().timestamp()).unwrap_or(0);
    Ok(generator(secret, username)?.check(&digits, now))
}

fn i64_step(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

fn recovery_hash(st: &AppState, user_id: Uuid, code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(st.pii_key.mac(&[
        b"cyltrace-recovery-code",
        user_id.as_bytes(),
        norm.as_bytes(),
    ]))
}

fn new_recovery_code() -> ApiResult<String> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let chars: String = bytes
        .iter()
        .map(|b| RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char)
        .collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// Whether `code` is a current TOTP code of `user` not used before, or one of its unused recovery
/// codes (which is then used up). False when no second factor is enrolled.
pub async fn verify_second_factor(st: &AppState, user: &UserRecord, code: &str) -> ApiResult<bool> {
    let Some(secret) = st.store.totp(user.id).await?.and_then(|t| t.secret) else {
        return Ok(false);
    };
    let secret = unseal(st, &secret)?;
    if let Some(step) = matching_step(st, secret, &user.username, code)? {
        return Ok(st.store.use_totp_step(user.id, i64_step(step)).await?);
    }
    let hash = recovery_hash(st, user.id, code);
    Ok(st.store.use_recovery_code(user.id, &hash, st.now()).await?)
}

/// Begins an enrolment for the caller (replacing one begun before): 409 naming `totp` when one is
/// enabled already.
pub async fn begin_totp(st: &AppState, p: &Principal) -> ApiResult<Enrolment> {
    let user = super::own_account(st, p).await?;
    if user.totp_enabled {
        return Err(conflict(
            "totp",
            "已绑定动态口令；如需更换手机，请先停用后重新绑定",
        ));
    }
    let mut secret = [0u8; 20];
    getrandom::fill(&mut secret).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    st.store
        .set_totp_pending(user.id, Some(&seal(st, &secret)?))
        .await?;
    enrolment(secret.to_vec(), &user.username)
}

/// The enrolment the caller began and has not confirmed yet, if any (the page shows its QR code
/// again after a wrong first code).
pub async fn pending_totp(st: &AppState, p: &Principal) -> ApiResult<Option<Enrolment>> {
    let user = super::own_account(st, p).await?;
    match st.store.totp(user.id).await?.and_then(|t| t.pending) {
        Some(sealed) if !user.totp_enabled => {
            Ok(Some(enrolment(unseal(st, &sealed)?, &user.username)?))
        }
        _ => Ok(None),
    }
}

/// Confirms the caller's pending enrolment with a first code: the second factor is enabled from
/// now on. Answers the recovery codes (shown once) and the audit note.
pub async fn confirm_totp(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(Vec<String>, String)> {
    let input: CodeInput = from_value(body, "")?;
    let user = super::own_account(st, p).await?;
    if user.totp_enabled {
        return Err(conflict("totp", "已绑定动态口令"));
    }
    let Some(sealed) = st.store.totp(user.id).await?.and_then(|t| t.pending) else {
        return Err(ApiError::invalid(
            "code",
            "请先开始绑定（POST /api/v1/auth/totp）并扫描二维码",
        ));
    };
    let step =
        matching_step(st, unseal(st, &sealed)?, &user.username, &input.code)?.ok_or_else(|| {
            ApiError::invalid(
                "code",
                "动态口令不正确：请输入验证器上当前显示的 6 位数字，并确认手机时间准确",
            )
        })?;
    let codes = (0..RECOVERY_CODES)
        .map(|_| new_recovery_code())
        .collect::<ApiResult<Vec<_>>>()?;
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| recovery_hash(st, user.id, c))
        .collect();
    if !st
        .store
        .enable_totp(user.id, &sealed, i64_step(step), &hashes, st.now())
        .await?
    {
        return Err(conflict(
            "code",
            "绑定已在其他页面重新开始，请使用最新的二维码",
        ));
    }
    st.caches.principals.clear();
    Ok((
        codes,
        format!(
            "user {} {}: second factor enabled ({RECOVERY_CODES} recovery codes issued)",
            user.id, user.username
        ),
    ))
}

/// The caller turns their own second factor off with a current code (or a recovery code).
pub async fn disable_own_totp(st: &AppState, p: &Principal, body: &Value) -> ApiResult<String> {
    let input: CodeInput = from_value(body, "")?;
    let user = super::own_account(st, p).await?;
    if !user.totp_enabled {
        return Err(ApiError::invalid("code", "尚未绑定动态口令"));
    }
    if !verify_second_factor(st, &user, &input.code).await? {
        return Err(ApiError::invalid(
            "code",
            "动态口令错误或已使用过，请输入新的动态口令",
        ));
    }
    st.store.disable_totp(user.id).await?;
    st.caches.principals.clear();
    Ok(format!(
        "user {} {}: own second factor disabled",
        user.id, user.username
    ))
}

/// An admin removes a user's second factor (a lost phone): the user logs in with the password
/// alone (and must enrol again where a role requires it). Answers the audit note.
pub async fn reset_totp(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<String> {
    let user = managed_user(st, p, id).await?;
    let had = user.totp_enabled;
    st.store.disable_totp(user.id).await?;
    st.caches.principals.clear();
    Ok(format!(
        "user {} {}: second factor reset by an admin (enabled {had} → false)",
        user.id, user.username
    ))
}

/// The caller's second factor.
pub async fn totp_status(st: &AppState, p: &Principal) -> ApiResult<TotpStatus> {
    let user = super::own_account(st, p).await?;
    let t = st.store.totp(user.id).await?.unwrap_or_default();
    Ok(TotpStatus {
        enabled: user.totp_enabled,
        enabled_at: t.enabled_at.map(Into::into),
        pending: t.pending.is_some() && !user.totp_enabled,
        recovery_codes_left: t.recovery_left,
        required: crate::services::auth::must_enrol_totp(st, &user) || {
            user.totp_enabled
                && user.roles.iter().any(|r| st.guards.totp_roles.contains(r))
                && !user.roles.contains(&cyltrace_domain::Role::Platform)
        },
    })
}
