//! `/PS/…`: the regulator interface exactly as YUNNAN-API.md (capitalised JSON, `ticket` or
//! `token`, `data` in the query, a form field or the body, SM4 envelopes, `{"State","Value"}`), plus
//! the cyltrace extension `/PS/Ledger/Checkpoint`. (The `/api/v1/ps/…` endpoints a regulator of this
//! node uses to approve applications and order spot checks are in `api/ps.rs`.)

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use cyltrace_domain::ps::TraceKind;
use serde_json::{Value, json};

use super::middleware::{AuditNote, LoginAttempt, audit_to, audited};
use crate::auth::Principal;
use crate::services::audit::RequestMeta;
use crate::services::files;
use crate::services::ps::{self as svc, PsError, PsResult};
use crate::sm4;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/PS/Auth/Login", post(login))
        .route(
            "/PS/GenericBottle/List",
            get(generic_bottles).post(generic_bottles),
        )
        .route("/PS/CarBottle/List", get(car_bottles).post(car_bottles))
        .route("/PS/GenericTrace/BeforeFill", post(before_fill))
        .route("/PS/GenericTrace/Fill", post(fill))
        .route("/PS/GenericTrace/AfterFill", post(after_fill))
        .route("/PS/GenericTrace/Inspection", post(inspection))
        .route("/PS/BottleRegister/ApplyNew", post(apply_new))
        .route("/PS/BottleRegister/ApplyOld", post(apply_old))
        .route(
            "/PS/BottleCheck/UnresponseList",
            post(spot_list).get(spot_list),
        )
        .route(
            "/PS/BottleCheck/GetDetail",
            get(spot_detail).post(spot_detail),
        )
        .route("/PS/BottleCheck/Response", post(spot_response))
        .route("/PS/CheckApply/BeginApply", post(begin_apply))
        .route("/PS/CheckApply/AddBottle", post(add_bottle))
        .route("/PS/CheckApply/RemoveBottle", post(remove_bottle))
        .route("/PS/CheckApply/EndApply", post(end_apply))
        .route("/PS/GenericStatistics/BusinessCount", post(business_count))
        .route("/PS/File/Upload", post(upload_file))
        .route(
            "/PS/Ledger/Checkpoint",
            get(witness_state).post(witness_checkpoint),
        )
        .fallback(|| async {
            let mut r = envelope_err(PsError::Refused("接口不存在".to_owned()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        })
}

// ---------------------------------------------------------------------------------------------
// The envelope

fn envelope_ok(value: Option<String>) -> Response {
    let body = match value {
        Some(v) => json!({"State": 0, "Value": v}),
        None => json!({"State": 0}),
    };
    Json(body).into_response()
}

/// `Value` of ApplyNew / ApplyOld / BeginApply: a string holding JSON (as the spec shows).
fn envelope_id(id: i64) -> Response {
    envelope_ok(Some(json!({"Id": id}).to_string()))
}

fn envelope_err(e: PsError) -> Response {
    let (status, reason) = match e {
        PsError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        PsError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
        PsError::Refused(m) => (StatusCode::OK, m),
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
fn answer(r: PsResult<Response>, p: Option<&Principal>, note: Option<String>) -> Response {
    let mut resp = r.unwrap_or_else(envelope_err);
    if let Some(p) = p {
        resp.extensions_mut().insert(p.clone());
    }
    if let Some(n) = note {
        resp.extensions_mut().insert(AuditNote(n));
    }
    resp
}

type Params = Query<HashMap<String, String>>;

/// `ticket` or `token`, as the query has it.
fn ticket(q: &HashMap<String, String>) -> Option<&str> {
    q.get("ticket")
        .or_else(|| q.get("token"))
        .map(String::as_str)
}

/// The JSON of a call: the `data` query parameter, a form field `data`, or the raw body; opened
/// with the account's SM4 key when it has one (and then required to be an envelope).
async fn data_of(
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
        let fields: HashMap<String, String> = serde_urlencoded_parse(body);
        fields
            .get("data")
            .cloned()
            .ok_or_else(|| PsError::BadRequest("表单中缺少 data 字段".to_owned()))?
            .into_bytes()
    } else {
        body.to_vec()
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(PsError::BadRequest("缺少 data（JSON 业务数据）".to_owned()));
    }
    let v: Value = serde_json::from_slice(&raw)
        .map_err(|e| PsError::BadRequest(format!("data 不是合法的 JSON：{e}")))?;
    match (svc::account_key(st, p.user_id).await?, sm4::is_sealed(&v)) {
        (Some(key), true) => {
            sm4::open(&key, &v).map_err(|(f, m)| PsError::Refused(format!("{f}: {m}")))
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

fn serde_urlencoded_parse(body: &[u8]) -> HashMap<String, String> {
    url_decode_pairs(std::str::from_utf8(body).unwrap_or(""))
}

/// `a=b&c=d` with `+` and `%XX` decoded.
fn url_decode_pairs(s: &str) -> HashMap<String, String> {
    fn dec(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (b[i], hex) {
                (b'+', _) => out.push(b' '),
                (b'%', Some(v)) => {
                    out.push(v);
                    i += 2;
                }
                (c, _) => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(kv), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn login(State(st): State<AppState>, q: Params, body: Bytes) -> Response {
    let raw = q
        .get("data")
        .map_or_else(|| body.to_vec(), |d| d.as_bytes().to_vec());
    let (result, account) = match serde_json::from_slice::<Value>(&raw) {
        Err(e) => (
            Err(PsError::BadRequest(format!("请求体不是合法的 JSON：{e}"))),
            String::new(),
        ),
        Ok(v) => {
            let account = v
                .get("Account")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (svc::login(&st, &v).await, account)
        }
    };
    let mut resp = match result {
        Ok(ticket) => envelope_ok(Some(ticket)),
        Err(e) => envelope_err(e),
    };
    resp.extensions_mut().insert(LoginAttempt(account));
    resp
}

/// Resolves the caller, then runs `f` with it and the call's data.
async fn with_data<F, Fut>(
    st: &AppState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    f: F,
) -> Response
where
    F: FnOnce(Principal, Value) -> Fut,
    Fut: std::future::Future<Output = (PsResult<Response>, Option<String>)>,
{
    let p = match svc::principal(st, ticket(q)).await {
        Ok(p) => p,
        Err(e) => return envelope_err(e),
    };
    let data = match data_of(st, &p, q, headers, body).await {
        Ok(d) => d,
        Err(e) => return answer(Err(e), Some(&p), None),
    };
    let (r, note) = f(p.clone(), data).await;
    answer(r, Some(&p), note)
}

async fn generic_bottles(State(st): State<AppState>, q: Params) -> Response {
    let p = match svc::principal(&st, ticket(&q)).await {
        Ok(p) => p,
        Err(e) => return envelope_err(e),
    };
    let lasttime = q.get("lasttime").map(String::as_str);
    answer(
        svc::generic_bottles(&st, &p, lasttime)
            .await
            .map(|v| Json(v).into_response()),
        Some(&p),
        None,
    )
}

/// §3: vehicle cylinder archives of the caller's scope changed at or after `lasttime`.
async fn car_bottles(State(st): State<AppState>, q: Params) -> Response {
    let p = match svc::principal(&st, ticket(&q)).await {
        Ok(p) => p,
        Err(e) => return envelope_err(e),
    };
    let result = async {
        let since = match q
            .get("lasttime")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            None => chrono::DateTime::<chrono::Utc>::MIN_UTC,
            Some(s) => cyltrace_domain::ps::parse_ymdhms(s)
                .map_err(|m| crate::services::ps::refuse("lasttime", m))?,
        };
        let list = crate::services::registry::car_bottles_yunnan(&st, &p, since).await?;
        Ok(Json(json!(list)).into_response())
    }
    .await;
    answer(result, Some(&p), None)
}

/// An upload, committed with its audit row (the answer is 200 whatever the outcome: the envelope's
/// `State` tells).
async fn trace(
    st: AppState,
    call: (Params, Extension<RequestMeta>),
    headers: HeaderMap,
    body: Bytes,
    kind: TraceKind,
) -> Response {
    let (q, Extension(meta)) = call;
    let st2 = st.clone();
    with_data(&st, &q, &headers, &body, |p, data| async move {
        let audit = audit_to(meta, StatusCode::OK).note(format!("/PS {}", kind.path()));
        match svc::upload_trace(&st2, &p, kind, &data, Some(&audit)).await {
            Ok(_) => (Ok(audited(envelope_ok(None))), None),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

async fn before_fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::BeforeFill).await
}

async fn fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::Fill).await
}

async fn after_fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::AfterFill).await
}

async fn inspection(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::Inspection).await
}

async fn apply(st: AppState, q: Params, headers: HeaderMap, body: Bytes, old: bool) -> Response {
    let st2 = st.clone();
    with_data(&st, &q, &headers, &body, |p, data| async move {
        match svc::apply_registration(&st2, &p, &data, old).await {
            Ok(id) => (
                Ok(envelope_id(id)),
                Some(format!("registration application {id}")),
            ),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

async fn apply_new(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    apply(st, q, h, b, false).await
}

async fn apply_old(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    apply(st, q, h, b, true).await
}

async fn spot_list(State(st): State<AppState>, q: Params) -> Response {
    match svc::principal(&st, ticket(&q)).await {
        Ok(p) => answer(
            svc::unanswered_spot_checks(&st, &p)
                .await
                .map(|v| Json(v).into_response()),
            Some(&p),
            None,
        ),
        Err(e) => envelope_err(e),
    }
}

async fn spot_detail(State(st): State<AppState>, q: Params) -> Response {
    match svc::principal(&st, ticket(&q)).await {
        Ok(p) => answer(
            svc::spot_check_detail(&st, &p, q.get("id").map(String::as_str))
                .await
                .map(|v| Json(v).into_response()),
            Some(&p),
            None,
        ),
        Err(e) => envelope_err(e),
    }
}

async fn spot_response(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    let st2 = st.clone();
    with_data(&st, &q, &h, &b, |p, data| async move {
        let id = data.get("Id").cloned().unwrap_or(Value::Null);
        match svc::answer_spot_check(&st2, &p, &data).await {
            Ok(()) => (
                Ok(envelope_ok(None)),
                Some(format!("spot check {id} answered")),
            ),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

async fn begin_apply(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    let st2 = st.clone();
    with_data(&st, &q, &h, &b, |p, data| async move {
        match svc::begin_check_apply(&st2, &p, &data).await {
            Ok(id) => (
                Ok(envelope_id(id)),
                Some(format!("inspection work order {id}")),
            ),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

/// A change of an inspection work order; ending it sends the cylinders (an event), committed with
/// the request's audit row.
async fn check_apply_op(
    st: AppState,
    call: (Params, Extension<RequestMeta>),
    h: HeaderMap,
    b: Bytes,
    op: &'static str,
) -> Response {
    let (q, Extension(meta)) = call;
    let st2 = st.clone();
    with_data(&st, &q, &h, &b, |p, data| async move {
        let id = data.get("Id").cloned().unwrap_or(Value::Null);
        let note = format!("inspection work order {id}: {op}");
        let audit = audit_to(meta, StatusCode::OK).note(note.clone());
        match svc::change_check_apply(&st2, &p, &data, op, Some(&audit)).await {
            Ok(()) if op == "end" => (Ok(audited(envelope_ok(None))), None),
            Ok(()) => (Ok(envelope_ok(None)), Some(note)),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

async fn add_bottle(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "add").await
}

async fn remove_bottle(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "remove").await
}

async fn end_apply(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "end").await
}

async fn business_count(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    let st2 = st.clone();
    with_data(&st, &q, &h, &b, |p, data| async move {
        match svc::business_count(&st2, &p, &data).await {
            Ok(v) => (Ok(envelope_ok(v)), Some("business count".to_owned())),
            Err(e) => (Err(e), None),
        }
    })
    .await
}

async fn upload_file(
    State(st): State<AppState>,
    q: Params,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    // The ticket first: an anonymous caller learns nothing about the body.
    let p = match svc::principal(&st, ticket(&q)).await {
        Ok(p) => p,
        Err(e) => return envelope_err(e),
    };
    let r = async {
        let mut mp = mp.map_err(|e| {
            PsError::BadRequest(format!(
                "应为 multipart/form-data 文件上传：{}",
                e.body_text()
            ))
        })?;
        let field = mp
            .next_field()
            .await
            .map_err(|e| PsError::BadRequest(format!("multipart 格式错误：{e}")))?
            .ok_or_else(|| PsError::Refused("file: 缺少文件".to_owned()))?;
        let bytes = field
            .bytes()
            .await
            .map_err(|e| PsError::BadRequest(format!("读取文件失败：{e}")))?;
        if bytes.is_empty() {
            return Err(PsError::Refused("file: 文件为空".to_owned()));
        }
        let kind = files::kind_of(&bytes).ok_or_else(|| {
            PsError::Refused("file: 只接受 JPEG、PNG、GIF、WEBP 图片或 PDF 文件".to_owned())
        })?;
        let reference = files::put(&st, &bytes)
            .await
            .map_err(|e| PsError::Internal(format!("storing a file: {e}")))?;
        Ok((reference, kind, bytes.len()))
    }
    .await;
    match r {
        Ok((reference, kind, len)) => answer(
            Ok(envelope_ok(Some(reference.clone()))),
            Some(&p),
            Some(format!("file {reference} ({kind}, {len} bytes)")),
        ),
        Err(e) => answer(Err(e), Some(&p), None),
    }
}

async fn witness_state(State(st): State<AppState>, q: Params) -> Response {
    match svc::principal(&st, ticket(&q)).await {
        Ok(p) => answer(
            svc::witness_state(&st, &p)
                .await
                .map(|v| envelope_ok(Some(v.to_string()))),
            Some(&p),
            None,
        ),
        Err(e) => envelope_err(e),
    }
}

async fn witness_checkpoint(
    State(st): State<AppState>,
    q: Params,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    let st2 = st.clone();
    with_data(&st, &q, &h, &b, |p, data| async move {
        let size = data
            .get("Text")
            .and_then(Value::as_str)
            .and_then(|t| t.lines().nth(1))
            .unwrap_or("")
            .to_owned();
        match svc::witness_checkpoint(&st2, &p, &data).await {
            Ok(()) => (
                Ok(envelope_ok(None)),
                Some(format!("witnessed checkpoint of size {size}")),
            ),
            Err(e) => (Err(e), Some(format!("checkpoint of size {size} refused"))),
        }
    })
    .await
}
