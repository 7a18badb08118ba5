//! The `/PS` envelope and what every call shares: the answer types of the OpenAPI description,
//! `{"State","Value"}` answers, the ticket, and the `data` of a call (query, form or body, opened
//! with the account's SM4 key).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use crate::auth::Principal;
use crate::services::ps::{self as svc, PsError, PsResult};
use crate::sm4;
use crate::state::AppState;
use crate::web::middleware::AuditNote;

// ---------------------------------------------------------------------------------------------
// The OpenAPI description

/// The `/PS` envelope: `State` 0 (done, `Value` the answer when there is one: a ticket, a file
/// path, a JSON string such as `"{\"Id\":12}"`) or 1 (refused, `Value` the reason).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PsEnvelope {
    pub state: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The 200 of a `/PS` list call: the JSON array it asks for, or — refused (a malformed `lasttime`,
/// no right to read) — the envelope with `State` 1, as YUNNAN-API.md answers refusals.
pub struct PsList;

impl utoipa::PartialSchema for PsList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder};
        OneOfBuilder::new()
            .item(ArrayBuilder::new().items(ObjectBuilder::new()))
            .item(utoipa::openapi::Ref::from_schema_name("PsEnvelope"))
            .into()
    }
}

impl ToSchema for PsList {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            PsEnvelope::name().into(),
            <PsEnvelope as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// What any `/PS` call with data may answer besides its own: malformed, or no valid ticket.
#[derive(IntoResponses)]
pub enum PsRefused {
    /// Malformed (not JSON, no data, not multipart): `State` 1 with the reason.
    #[response(status = 400)]
    Malformed(#[to_schema] PsEnvelope),
    /// No ticket, or a bad or expired one: `State` 1.
    #[response(status = 401)]
    NoTicket(#[to_schema] PsEnvelope),
}

/// What any `/PS` call may answer without a valid ticket.
#[derive(IntoResponses)]
pub enum PsNoTicket {
    /// No ticket, or a bad or expired one: `State` 1.
    #[response(status = 401)]
    NoTicket(#[to_schema] PsEnvelope),
}

/// The ticket of a `/PS` call.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsTicket {
    /// The ticket of `POST /PS/Auth/Login`.
    pub ticket: Option<String>,
    /// The same ticket, under the name some sections of the spec use.
    pub token: Option<String>,
}

/// The ticket and the data of a `/PS` call.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsCall {
    /// The ticket of `POST /PS/Auth/Login`.
    pub ticket: Option<String>,
    /// The same ticket, under the name some sections of the spec use.
    pub token: Option<String>,
    /// The call's JSON, when it is not the body or a form field `data`; with an SM4 key, the
    /// envelope `{"Cipher","Iv"}`.
    pub data: Option<String>,
}

/// The changed-since parameter of the archive lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsSince {
    /// Archives changed at or after this time (yyyyMMddHHmmss); all when absent.
    pub lasttime: Option<String>,
}

/// The spot check of `GetDetail`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsId {
    /// The spot check.
    pub id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The envelope

pub(super) fn envelope_ok(value: Option<String>) -> Response {
    let body = match value {
        Some(v) => json!({"State": 0, "Value": v}),
        None => json!({"State": 0}),
    };
    Json(body).into_response()
}

/// `Value` of ApplyNew / ApplyOld / BeginApply: a string holding JSON (as the spec shows).
pub(super) fn envelope_id(id: i64) -> Response {
    envelope_ok(Some(json!({"Id": id}).to_string()))
}

pub(super) fn envelope_err(e: PsError) -> Response {
    if let PsError::Throttled(m, secs) = e {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"State": 1, "Value": m})),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        return r;
    }
    let (status, reason) = match e {
        PsError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        PsError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
        PsError::Refused(m) | PsError::Throttled(m, _) => (StatusCode::OK, m),
        PsError::Internal(m) => {
            tracing::error!(error = %m, "internal error on /PS");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "服务器内部错误，请稍后重试".to_owned(),
            )
        }
    };
    (status, Json(json!({"State": 1, "Value": reason}))).into_response()
}

/// The answer of a handler, with the caller (for the audit record) and a note.
pub(super) fn answer(
    r: PsResult<Response>,
    p: Option<&Principal>,
    note: Option<String>,
) -> Response {
    let mut resp = r.unwrap_or_else(envelope_err);
    if let Some(p) = p {
        resp.extensions_mut().insert(p.clone());
    }
    if let Some(n) = note {
        resp.extensions_mut().insert(AuditNote(n));
    }
    resp
}

/// Every answer of `/PS` is the envelope: a request whose URI holds text no field can store (a
/// query parameter such as `data` that is not UTF-8 or holds NUL) is refused with 400 and `State`
/// 1 before a handler decodes it (it is not replaced with U+FFFD), and what axum answers itself
/// (an oversized body: 413; an unreadable one) comes back as the envelope with its status kept.
pub async fn enveloped(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let Some((field, why)) = crate::web::extract::unreadable_uri(req.uri()) {
        return envelope_err(PsError::BadRequest(format!("{field}: {why}")));
    }
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let status = resp.status();
    if json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "请求体过大".to_owned()
    } else {
        let (_, body) = resp.into_parts();
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        format!("请求无法处理：{}", String::from_utf8_lossy(&text).trim())
    };
    (status, Json(json!({"State": 1, "Value": reason}))).into_response()
}

pub(super) type Params = Query<HashMap<String, String>>;

/// `ticket` or `token`, as the query has it.
pub(super) fn ticket(q: &HashMap<String, String>) -> Option<&str> {
    q.get("ticket")
        .or_else(|| q.get("token"))
        .map(String::as_str)
}

/// The JSON of a call: the `data` query parameter, a form field `data`, or the raw body; opened
/// with the account's SM4 key when it has one (and then required to be an envelope).
pub(super) async fn data_of(
    st: &AppState,
    p: &Principal,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> PsResult<Value> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let raw: Vec<u8> = if let Some(d) = q.get("data") {
        d.clone().into_bytes()
    } else if form {
        let fields = crate::web::extract::form_pairs(body)
            .map_err(|(f, why)| PsError::BadRequest(format!("{f}: {why}")))?;
        // The last `data` field, as before.
        fields
            .into_iter()
            .rev()
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v)
            .ok_or_else(|| PsError::BadRequest("表单中缺少 data 字段".to_owned()))?
            .into_bytes()
    } else {
        body.to_vec()
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(PsError::BadRequest("缺少 data（JSON 业务数据）".to_owned()));
    }
    let v = json_of(&raw)?;
    match (svc::account_key(st, p.user_id).await?, sm4::is_sealed(&v)) {
        (Some(key), true) => {
            let opened =
                sm4::open(&key, &v).map_err(|(f, m)| PsError::Refused(format!("{f}: {m}")))?;
            match cyltrace_domain::units::unstorable_in(&opened) {
                Some((path, why)) => Err(PsError::BadRequest(format!("{path}: {why}"))),
                None => Ok(opened),
            }
        }
        (Some(_), false) => Err(PsError::Refused(
            "该账号要求 SM4 加密：data 应为 {\"Cipher\",\"Iv\"}".to_owned(),
        )),
        (None, true) => Err(PsError::Refused(
            "该账号未配置 SM4 密钥，data 应为明文 JSON".to_owned(),
        )),
        (None, false) => Ok(v),
    }
}

/// The JSON of `raw` (a call's `data`, the login's body), refusing text no field can store (NUL)
/// naming the property, as the API's JSON body does.
pub(super) fn json_of(raw: &[u8]) -> PsResult<Value> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|e| PsError::BadRequest(format!("data 不是合法的 JSON：{e}")))?;
    match cyltrace_domain::units::unstorable_in(&v) {
        Some((path, why)) => Err(PsError::BadRequest(format!("{path}: {why}"))),
        None => Ok(v),
    }
}
