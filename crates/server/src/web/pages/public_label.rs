//! The public page behind every label (F1–F3; no session, no script): `GET /Q?id=<16 digits>&s=<sig>`
//! (the QR code's URL, its signature checked) and `GET /q/{code}` (a code typed by hand). Its
//! buttons call the owning enterprise (`tel:`), order gas (`/q/{code}/order`), complain
//! (`/q/{code}/complaint`) and read a complaint's answer (`/complaint`).

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cyltrace_domain::Verdict;
use cyltrace_domain::time::cst;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::services::{labels, public};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/Q", get(by_label))
        .route("/q/{code}", get(by_code))
}

struct TraceLine {
    what: &'static str,
    site: String,
    operator: String,
    time: String,
}

#[derive(Template)]
#[template(path = "label.html")]
struct LabelPage {
    code: String,
    verdict_zh: &'static str,
    css: &'static str,
    reason: Option<String>,
    known: bool,
    owner: String,
    medium: String,
    style: String,
    next_check: String,
    last_fill: String,
    trace: Vec<TraceLine>,
    covered: bool,
    checkpoint_time: String,
    /// The owner's phone as shown, and as a `tel:` URI (digits, `+` and `-` only).
    phone: String,
    tel: String,
}

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

fn page(c: public::PublicCylinder, reason: Option<String>) -> LabelPage {
    let css = match c.verdict {
        Verdict::Ok => "ok",
        Verdict::Overdue => "overdue",
        _ => "bad",
    };
    let dash = || "—".to_owned();
    let mut p = LabelPage {
        code: c.code,
        verdict_zh: c.verdict.label_zh(),
        css,
        reason,
        known: false,
        owner: dash(),
        medium: dash(),
        style: dash(),
        next_check: dash(),
        last_fill: dash(),
        trace: Vec::new(),
        covered: false,
        checkpoint_time: String::new(),
        phone: String::new(),
        tel: String::new(),
    };
    if let Some(k) = c.known {
        p.known = true;
        p.owner = k.owner.unwrap_or_else(dash);
        p.phone = k.phone.unwrap_or_default().trim().to_owned();
        p.tel = tel_uri(&p.phone);
        p.medium = k.medium.unwrap_or_else(dash);
        p.style = k.style.unwrap_or_else(dash);
        p.next_check = k.next_check_date.map_or_else(dash, |d| d.to_string());
        p.last_fill = k.last_fill.map_or_else(dash, |f| match f.station {
            Some(s) => format!("{} · {s}", local(f.time)),
            None => local(f.time),
        });
        p.trace = k
            .trace
            .into_iter()
            .map(|t| TraceLine {
                what: t.kind.label_zh(),
                site: t.site.unwrap_or_default(),
                operator: t.operator.unwrap_or_default(),
                time: local(t.time),
            })
            .collect();
        p.covered = k.ledger.covered;
        p.checkpoint_time = k.ledger.checkpoint_time.map(local).unwrap_or_default();
    }
    p
}

/// The `tel:` target of a phone as an organisation recorded it (`0871-6888 1234` → `0871-68881234`):
/// digits, a leading `+` and `-` separators (RFC 3966) only; empty when no digit is left.
pub(crate) fn tel_uri(phone: &str) -> String {
    let t: String = phone
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '-'))
        .collect();
    if t.chars().any(|c| c.is_ascii_digit()) {
        t
    } else {
        String::new()
    }
}

fn html(p: &LabelPage) -> Response {
    match p.render() {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the label page");
            (StatusCode::INTERNAL_SERVER_ERROR, "页面生成失败").into_response()
        }
    }
}

#[derive(Deserialize)]
struct LabelQuery {
    id: String,
    s: Option<String>,
}

/// The QR code's URL: the label's signature is checked first; a label that is not genuine shows
/// nothing about any cylinder.
async fn by_label(
    State(st): State<AppState>,
    q: Result<Query<LabelQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Ok(Query(q)) = q else {
        return Ok(html(&page(
            not_genuine(String::new()),
            Some("二维码内容不完整".to_owned()),
        )));
    };
    let check = labels::check(&st, &q.id, q.s.as_deref());
    match (check.genuine, check.code) {
        (true, Some(code)) => Ok(html(&page(public::cylinder(&st, &code).await?, None))),
        (_, code) => Ok(html(&page(
            not_genuine(code.unwrap_or_default()),
            check.reason,
        ))),
    }
}

fn not_genuine(code: String) -> public::PublicCylinder {
    public::PublicCylinder {
        code,
        verdict: Verdict::InvalidLabel,
        known: None,
    }
}

/// A code typed by hand (no signature to check): what the platform knows of it.
async fn by_code(State(st): State<AppState>, Path(code): Path<String>) -> ApiResult<Response> {
    Ok(html(&page(public::cylinder(&st, &code).await?, None)))
}

#[cfg(test)]
mod tests {
    use super::tel_uri;

    #[test]
    fn phones_become_tel_uris() {
        assert_eq!(tel_uri("0871-68881234"), "0871-68881234");
        assert_eq!(tel_uri(" 0871 6888 1234 "), "087168881234");
        assert_eq!(tel_uri("+86 138 1234 5678"), "+8613812345678");
        assert_eq!(tel_uri("\"><script>"), "");
    }
}
