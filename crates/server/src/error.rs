//! The one error type of the services and the web layer (a failed parse names the field). How an error
//! is answered — `application/problem+json` (RFC 9457) or an HTML page — is the web layer's
//! (`web/error.rs`, `web/pages/kit.rs`).

use cyltrace_domain::{FieldError, ValidationErrors};
use cyltrace_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String, Vec<FieldError>),
    #[error("invalid: {0}")]
    Invalid(ValidationErrors),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 401 naming the field `totp`: the password was right, the second-factor code is missing or
    /// wrong.
    #[error("second factor: {0}")]
    SecondFactor(String),
    /// 429: too many attempts from the client's address; try again after this many seconds.
    #[error("too many requests: {0}")]
    TooManyRequests(String, u64),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationErrors::one(field, message))
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(format!("已存在：{what}"), vec![]),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
