//! `/PS/…`: the regulator interface exactly as YUNNAN-API.md (capitalised JSON, `ticket` or
//! `token`, `data` in the query, a form field or the body, SM4 envelopes, `{"State","Value"}`), plus
//! the cyltrace extensions `/PS/GenericTrace/Inspection` and `/PS/Ledger/Checkpoint`. (The
//! `/api/v1/ps/…` endpoints a regulator of this node uses to approve applications and order spot
//! checks are in `api/ps.rs`.) Every route is registered with its OpenAPI entry (tag `PS`); the
//! answers are described as they are: the envelope (200 with `State` 0 or, for a business refusal,
//! 1; 400 malformed and 401 for a bad ticket with `State` 1), or the JSON the list calls answer.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cyltrace_domain::ps::TraceKind;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod envelope;

pub use envelope::*;

use super::api::ApiRouter;
use super::extract::ClientIp;
use super::middleware::{AuditNote, LoginAttempt, audit_to, audited};
use crate::auth::Principal;
use crate::services::audit::RequestMeta;
use crate::services::files;
use crate::services::ps::{self as svc, PsError, PsResult};
use crate::state::AppState;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(generic_bottles, generic_bottles_post))
        .routes(routes!(car_bottles, car_bottles_post))
        .routes(routes!(before_fill))
        .routes(routes!(fill))
        .routes(routes!(after_fill))
        .routes(routes!(inspection))
        .routes(routes!(apply_new))
        .routes(routes!(apply_old))
        .routes(routes!(spot_list, spot_list_get))
        .routes(routes!(spot_detail, spot_detail_post))
        .routes(routes!(spot_response))
        .routes(routes!(begin_apply))
        .routes(routes!(add_bottle))
        .routes(routes!(remove_bottle))
        .routes(routes!(end_apply))
        .routes(routes!(business_count))
        .routes(routes!(upload_file))
        .routes(routes!(witness_state, witness_checkpoint))
        .fallback(|| async {
            let mut r = envelope_err(PsError::Refused("接口不存在".to_owned()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        })
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// § token: sign in with `{"Account","Password"}` (the body or `data`): `Value` is the ticket.
///
/// An account with a TOTP second factor adds its current code (or a recovery code) as `Totp` (a
/// cyltrace extension); failed logins are throttled per client address (429, `Retry-After`).
#[utoipa::path(post, path = "/PS/Auth/Login", tag = "PS", operation_id = "ps_login",
    params(("data" = Option<String>, Query, description = "The JSON, when it is not the body")),
    request_body(content = Option<Object>, description = "`{\"Account\",\"Password\",\"Totp\"?}` (or in `data`)"),
    responses((status = 200, description = "`State` 0 with the ticket in `Value`, or 1 with the reason", body = PsEnvelope),

        (status = 400, description = "Not JSON: `State` 1 with the reason", body = PsEnvelope),
        (status = 429, description = "Too many failed logins from this address: `State` 1, `Retry-After`", body = PsEnvelope)))]
async fn login(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    q: Params,
    body: Bytes,
) -> Response {
    let raw = q
        .get("data")
        .map_or_else(|| body.to_vec(), |d| d.as_bytes().to_vec());
    let (result, account) = match json_of(&raw) {
        Err(e) => (Err((e, None)), String::new()),
        Ok(v) => {
            let account = v
                .get("Account")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (svc::login(&st, &v, client).await, account)
        }
    };
    let mut resp = match result {
        Ok(ticket) => envelope_ok(Some(ticket)),
        Err((e, why)) => {
            let mut r = envelope_err(e);
            if let Some(why) = why {
                r.extensions_mut().insert(AuditNote(why.to_owned()));
            }
            r
        }
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

/// §2: the non-vehicle cylinder archives of the caller's scope changed since `lasttime`.
#[utoipa::path(get, path = "/PS/GenericBottle/List", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsSince),
    responses((status = 200, description = "The archives, a JSON array (GenericBottle fields); a refusal is the envelope with `State` 1", body = inline(PsList)),
        PsNoTicket))]
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

/// §2 as a POST (some callers send one).
#[utoipa::path(post, path = "/PS/GenericBottle/List", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsSince),
    responses((status = 200, description = "The archives, a JSON array (GenericBottle fields); a refusal is the envelope with `State` 1", body = inline(PsList)),
        PsNoTicket))]
async fn generic_bottles_post(st: State<AppState>, q: Params) -> Response {
    generic_bottles(st, q).await
}

/// §3: the vehicle cylinder archives of the caller's scope changed since `lasttime`.
#[utoipa::path(get, path = "/PS/CarBottle/List", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsSince),
    responses((status = 200, description = "The archives, a JSON array (CarBottle fields); a refusal is the envelope with `State` 1", body = inline(PsList)),
        PsNoTicket))]
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

/// §3 as a POST (some callers send one).
#[utoipa::path(post, path = "/PS/CarBottle/List", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsSince),
    responses((status = 200, description = "The archives, a JSON array (CarBottle fields); a refusal is the envelope with `State` 1", body = inline(PsList)),
        PsNoTicket))]
async fn car_bottles_post(st: State<AppState>, q: Params) -> Response {
    car_bottles(st, q).await
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

/// §4: upload pre-fill checks (all items stored or none; `ThridId` makes them idempotent).
#[utoipa::path(post, path = "/PS/GenericTrace/BeforeFill", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when stored; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn before_fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::BeforeFill).await
}

/// §5: upload fills (all items stored or none).
#[utoipa::path(post, path = "/PS/GenericTrace/Fill", tag = "PS", operation_id = "ps_fill",
    security(("ps_ticket" = [])), params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when stored; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::Fill).await
}

/// §6: upload post-fill checks (all items stored or none).
#[utoipa::path(post, path = "/PS/GenericTrace/AfterFill", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when stored; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn after_fill(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    trace(st, (q, m), h, b, TraceKind::AfterFill).await
}

/// Upload periodic inspection results (cyltrace extension; all items stored or none).
#[utoipa::path(post, path = "/PS/GenericTrace/Inspection", tag = "PS",
    operation_id = "ps_inspection", security(("ps_ticket" = [])), params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when stored; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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

/// §7.1: apply for the usage registration of new cylinders: `Value` is `"{\"Id\":n}"`.
#[utoipa::path(post, path = "/PS/BottleRegister/ApplyNew", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 with `Value` `\"{\\\"Id\\\":n}\"`; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn apply_new(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    apply(st, q, h, b, false).await
}

/// §7.2: apply for the usage registration of cylinders in use before the platform.
#[utoipa::path(post, path = "/PS/BottleRegister/ApplyOld", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 with `Value` `\"{\\\"Id\\\":n}\"`; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn apply_old(State(st): State<AppState>, q: Params, h: HeaderMap, b: Bytes) -> Response {
    apply(st, q, h, b, true).await
}

/// §7.3.1: the spot checks not yet answered, a JSON array.
#[utoipa::path(post, path = "/PS/BottleCheck/UnresponseList", tag = "PS",
    security(("ps_ticket" = [])), params(PsTicket),
    responses((status = 200, description = "`[{Id, Style, CheckCount, CheckDate, CheckComment, ApplyDate}]`; a refusal is the envelope with `State` 1", body = inline(PsList)),
        PsNoTicket))]
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

/// §7.3.1 as a GET.
#[utoipa::path(get, path = "/PS/BottleCheck/UnresponseList", tag = "PS",
    security(("ps_ticket" = [])), params(PsTicket),
    responses((status = 200, description = "As the POST", body = inline(PsList)),
        PsNoTicket))]
async fn spot_list_get(st: State<AppState>, q: Params) -> Response {
    spot_list(st, q).await
}

/// §7.3.2: one spot check with its cylinders.
#[utoipa::path(get, path = "/PS/BottleCheck/GetDetail", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsId),
    responses((status = 200, description = "`{Style, CheckCount, CheckDate, CheckComment, ApplyDate, Items}`; a refusal is the envelope with `State` 1", body = Object),
        PsNoTicket))]
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

/// §7.3.2 as a POST.
#[utoipa::path(post, path = "/PS/BottleCheck/GetDetail", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket, PsId),
    responses((status = 200, description = "As the GET", body = Object),
        PsNoTicket))]
async fn spot_detail_post(st: State<AppState>, q: Params) -> Response {
    spot_detail(st, q).await
}

/// §7.3.3: answer a spot check with the photos of its cylinders.
#[utoipa::path(post, path = "/PS/BottleCheck/Response", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when recorded; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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

/// §8.1: open an inspection work order: `Value` is `"{\"Id\":work order}"`.
#[utoipa::path(post, path = "/PS/CheckApply/BeginApply", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 with `Value` `\"{\\\"Id\\\":n}\"`; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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

/// §8.2: add cylinders to an inspection work order.
#[utoipa::path(post, path = "/PS/CheckApply/AddBottle", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when recorded; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn add_bottle(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "add").await
}

/// §8.3: remove cylinders from an inspection work order.
#[utoipa::path(post, path = "/PS/CheckApply/RemoveBottle", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when recorded; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn remove_bottle(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "remove").await
}

/// §8.4: close an inspection work order (the cylinders are sent to the station).
#[utoipa::path(post, path = "/PS/CheckApply/EndApply", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when recorded; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
async fn end_apply(
    State(st): State<AppState>,
    q: Params,
    m: Extension<RequestMeta>,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    check_apply_op(st, (q, m), h, b, "end").await
}

/// §9: report a month's count; the platform compares it with what it received.
#[utoipa::path(post, path = "/PS/GenericStatistics/BusinessCount", tag = "PS",
    security(("ps_ticket" = [])), params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0, `Value` the comparison when there is one; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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

/// Upload a photo or PDF (multipart, the first part): `Value` is its path on the server.
#[utoipa::path(post, path = "/PS/File/Upload", tag = "PS", operation_id = "ps_upload_file",
    security(("ps_ticket" = [])), params(PsTicket),
    request_body(content = Object, content_type = "multipart/form-data", description = "The file as the first part: JPEG, PNG, GIF, WEBP or PDF"),
    responses((status = 200, description = "`State` 0 with the path in `Value`; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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
        files::own(&st, p.org_id, Some(p.user_id), &reference).await?;
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

/// What this node holds of the caller's ledger (cyltrace extension): `Value` is `{"Size","Root","Pending"}`.
#[utoipa::path(get, path = "/PS/Ledger/Checkpoint", tag = "PS", security(("ps_ticket" = [])),
    params(PsTicket),
    responses((status = 200, description = "`State` 0 with the JSON in `Value`; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsNoTicket))]
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

/// Hand in a signed checkpoint of the caller's ledger to be witnessed (cyltrace extension).
#[utoipa::path(post, path = "/PS/Ledger/Checkpoint", tag = "PS", security(("ps_ticket" = [])),
    params(PsCall),
    request_body(description = "The call's JSON as the body or a form field `data` (or the `data` query parameter); with an SM4 key, the envelope `{\"Cipher\",\"Iv\"}`",
        content((Option<Object> = "application/json"), (Option<Object> = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "`State` 0 when the checkpoint verifies and is consistent; a refusal is `State` 1 with the reason naming the property and item", body = PsEnvelope),
        PsRefused))]
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
