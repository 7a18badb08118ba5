//! How an [`ApiError`] is answered on the API: its one `status()` match and the
//! `application/problem+json` body (RFC 9457) naming the fields, and that answer as the OpenAPI
//! document's shared `Problem` response. (Pages answer errors as HTML: see `pages/kit.rs`.)

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cyltrace_domain::FieldError;
use serde::Serialize;

use crate::error::ApiError;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::SecondFactor(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "请求格式错误",
            ApiError::Unauthorized(_) => "未登录或凭证无效",
            ApiError::SecondFactor(_) => "需要动态口令",
            ApiError::TooManyRequests(..) => "请求过于频繁",
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

/// The error answer of the OpenAPI document: handlers list their error statuses as
/// `(status = 404, response = Problem)`.
impl<'s> utoipa::ToResponse<'s> for Problem {
    fn response() -> (
        &'s str,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    ) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = ResponseBuilder::new()
            .description(
                "An error as application/problem+json (RFC 9457): type, title, status, detail, and \
                 the fields at fault with the reason each",
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        ("Problem", problem.into())
    }
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
            ApiError::SecondFactor(m) => (m.clone(), vec![FieldError::new("totp", m.clone())]),
            ApiError::TooManyRequests(d, _) => (d.clone(), vec![]),
            ApiError::BadRequest(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d) => (d.clone(), vec![]),
        };
        let slug = match &self {
            ApiError::BadRequest(_) => "malformed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::SecondFactor(_) => "second-factor",
            ApiError::TooManyRequests(..) => "too-many-requests",
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
        if let ApiError::TooManyRequests(_, secs) = &self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
