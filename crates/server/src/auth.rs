//! Authentication: Argon2id password hashes, opaque bearer tokens (only their SHA-256 is stored), the
//! authenticated [`Principal`] and its data scope.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use cyltrace_domain::Role;
use cyltrace_domain::access::{Action, allowed};
use cyltrace_store::{Scope, UserRecord};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub org_id: Uuid,
    pub org_path: String,
    pub roles: Vec<Role>,
    /// What the caller must do before anything else (G5); `None` for a caller in good standing.
    pub restriction: Option<Restriction>,
    /// The hash of the token (or session) the caller came with, when it came with one: a password
    /// change ends the caller's other sessions and keeps this one.
    pub token_hash: Option<String>,
}

/// A signed-in user who may do nothing but put their account in order first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// The password was set by an admin as temporary: choose a new one (`POST /auth/password`).
    ChangePassword,
    /// A role of the user requires a second factor (`require_totp_roles`): enrol one.
    EnrolTotp,
}

impl Restriction {
    /// Why everything else is refused, as the API and `/PS` say it.
    pub fn reason_zh(self) -> &'static str {
        match self {
            Restriction::ChangePassword => {
                "请先修改临时密码（POST /api/v1/auth/password）后再进行其他操作"
            }
            Restriction::EnrolTotp => {
                "您的角色须先绑定动态口令（POST /api/v1/auth/totp）后再进行其他操作"
            }
        }
    }
}

impl From<&UserRecord> for Principal {
    fn from(u: &UserRecord) -> Self {
        Principal {
            user_id: u.id,
            username: u.username.clone(),
            org_id: u.org_id,
            org_path: u.org_path.clone(),
            roles: u.roles.clone(),
            restriction: u
                .must_change_password
                .then_some(Restriction::ChangePassword),
            token_hash: None,
        }
    }
}

impl Principal {
    pub fn is_node_admin(&self) -> bool {
        self.roles.contains(&Role::NodeAdmin)
    }

    /// The data scope: everything for a node admin, the own organisation's subtree otherwise.
    pub fn scope(&self) -> Scope {
        if self.is_node_admin() {
            Scope::all()
        } else {
            Scope(self.org_path.clone())
        }
    }

    /// The principal as the recorder of events (`cyltrace_domain::intake`).
    pub fn actor(&self) -> cyltrace_domain::intake::Actor {
        cyltrace_domain::intake::Actor {
            user_id: Some(self.user_id),
            org_id: self.org_id,
            org_path: self.org_path.clone(),
            sees_all: self.is_node_admin(),
            roles: self.roles.clone(),
        }
    }

    /// Whether an organisation at tree path `path` is inside the data scope.
    pub fn sees(&self, path: &str) -> bool {
        self.scope().contains(path)
    }

    /// 403 unless one of the roles allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if allowed(&self.roles, action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("当前角色无权执行此操作".to_owned()))
        }
    }

    /// 403 unless `path` is inside the data scope.
    pub fn require_scope(&self, path: &str, what: &str) -> Result<(), ApiError> {
        if self.sees(path) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("{what}不在您的数据权限范围内")))
        }
    }
}

/// An Argon2id PHC string for `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let salt =
        SaltString::encode_b64(&bytes).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A new opaque token (64 hex characters) and the hash under which it is stored.
pub fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// G5: at least 8 characters with letters and digits, not containing the username.
pub fn check_password_strength(username: &str, password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < 8 {
        return Err("密码至少 8 位".to_owned());
    }
    if len > 128 {
        return Err("密码最多 128 位".to_owned());
    }
    if !password.chars().any(|c| c.is_ascii_alphabetic())
        || !password.chars().any(|c| c.is_ascii_digit())
    {
        return Err("密码必须同时包含字母和数字".to_owned());
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err("密码不能包含用户名".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash_password("Secret123").unwrap();
        let b = hash_password("Secret123").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("Secret123", &a));
        assert!(!verify_password("Secret124", &a));
        assert!(!verify_password("Secret123", "not a hash"));
    }

    #[test]
    fn password_strength() {
        assert!(check_password_strength("zhang", "abc123").is_err());
        assert!(check_password_strength("zhang", "abcdefgh").is_err());
        assert!(check_password_strength("zhang", "zhang12345").is_err());
        assert!(check_password_strength("zhang", "Kunming2026").is_ok());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (t1, h1) = new_token().unwrap();
        let (t2, _) = new_token().unwrap();
        assert_ne!(t1, t2);
        assert_eq!(t1.len(), 64);
        assert_eq!(h1, token_hash(&t1));
        assert_ne!(h1, t1);
    }
}
