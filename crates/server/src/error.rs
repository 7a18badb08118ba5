//! The web layer's one error type and its mapping to `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyltrace_domain::{FieldError, ValidationErrors};
use cyltrace_store::StoreError;
use serde::Serialize;

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
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(ValidationErrors::one(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "请求格式错误",
            ApiError::Unauthorized(_) => "未登录或凭证无效",
            ApiError::Forbidden(_) => "无权访问",
            ApiError::NotFound(_) => "资源不存在",
            ApiError::Conflict(..) => "数据冲突",
            ApiError::Invalid(_) => "数据校验未通过",
            ApiError::PayloadTooLarge => "请求体过大",
            ApiError::MethodNotAllowed => "请求方法不受支持",
            ApiError::Internal(_) => "服务器内部错误",
        }
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (detail, errors) = match &self {
            ApiError::Invalid(v) => (
                v.0.first()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .unwrap_or_default(),
                v.0.clone(),
            ),
            ApiError::Conflict(d, errs) => (d.clone(), errs.clone()),
            ApiError::PayloadTooLarge => ("请求体超过服务器允许的大小".to_owned(), vec![]),
            ApiError::MethodNotAllowed => ("该接口不支持此请求方法".to_owned(), vec![]),
            ApiError::Internal(msg) => {
                // The cause goes to the log, not to the client.
                tracing::error!(error = %msg, "internal error");
                ("服务器内部错误，请稍后重试或联系管理员".to_owned(), vec![])
            }
            ApiError::BadRequest(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d) => (d.clone(), vec![]),
        };
        let slug = match &self {
            ApiError::BadRequest(_) => "malformed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(..) => "conflict",
            ApiError::Invalid(_) => "validation",
            ApiError::PayloadTooLarge => "too-large",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Internal(_) => "internal",
        };
        let body = Problem {
            kind: format!("urn:cyltrace:problem:{slug}"),
            title: self.title().to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
