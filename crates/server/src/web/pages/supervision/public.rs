//! The public pages reached from a label's page: the safety articles (`/articles`) and the complaint
//! form (`/q/{code}/complaint`, F3), protected by a double-submit cookie and throttled per client
//! address (429 with `Retry-After`).

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::services::notices as svc;
use crate::state::AppState;
use crate::web::extract::ClientIp;
use crate::web::pages::kit::{PageResult, error_page, pe, render};
use crate::web::pages::session::cookie_value;

#[derive(Template)]
#[template(path = "public.html")]
struct PublicPage {
    title: String,
    paragraphs: Vec<String>,
    links: Vec<(String, String)>,
    form: Option<ComplaintFormView>,
}

struct ComplaintFormView {
    action: String,
    csrf: String,
    error: String,
}

pub(super) async fn public_articles(State(st): State<AppState>) -> PageResult {
    let rows = pe(svc::public_articles(&st).await)?;
    Ok(render(
        StatusCode::OK,
        &PublicPage {
            title: "安全用气宣传".to_owned(),
            paragraphs: if rows.is_empty() {
                vec!["暂无文章".to_owned()]
            } else {
                vec![]
            },
            links: rows
                .iter()
                .map(|r| (format!("/articles/{}", r.id), r.title.clone()))
                .collect(),
            form: None,
        },
    ))
}

pub(super) async fn public_article(State(st): State<AppState>, Path(id): Path<Uuid>) -> PageResult {
    let r = pe(svc::article(&st, id).await)?;
    Ok(render(
        StatusCode::OK,
        &PublicPage {
            title: r.title.clone(),
            paragraphs: r.content.lines().map(str::to_owned).collect(),
            links: vec![("/articles".to_owned(), "全部文章".to_owned())],
            form: None,
        },
    ))
}

const COMPLAINT_COOKIE: &str = "cyltrace_complaint";

fn complaint_page(code: &str, error: &str) -> Response {
    let pre = hex::encode(rand::random::<[u8; 16]>());
    let mut resp = render(
        if error.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        &PublicPage {
            title: format!("投诉举报 · 气瓶 {code}"),
            paragraphs: vec![
                "请描述问题（如漏气、无证充装、超期瓶仍在使用、缺斤短两等），监管部门将核实处理。"
                    .to_owned(),
            ],
            links: vec![(format!("/q/{code}"), "返回气瓶信息".to_owned())],
            form: Some(ComplaintFormView {
                action: format!("/q/{code}/complaint"),
                csrf: pre.clone(),
                error: error.to_owned(),
            }),
        },
    );
    let c = cookie::Cookie::build((COMPLAINT_COOKIE, pre))
        .path("/q/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    if let Ok(v) = axum::http::HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
    resp
}

pub(super) async fn complaint_form(
    State(st): State<AppState>,
    Path(code): Path<String>,
) -> PageResult {
    let (c, _) = pe(svc::complaint_target(&st, &code).await)?;
    Ok(complaint_page(c.as_str(), ""))
}

#[derive(Deserialize)]
pub(super) struct ComplaintForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    content: String,
    phone: Option<String>,
}

/// A complaint from the public (F3): recorded against the cylinder's enterprise for the regulator.
pub(super) async fn submit_complaint(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    headers: axum::http::HeaderMap,
    Path(code): Path<String>,
    Form(f): Form<ComplaintForm>,
) -> PageResult {
    let (c, org) = pe(svc::complaint_target(&st, &code).await)?;
    // G5: every submission counts against the sender's address (login_rate_per_minute, login_burst).
    if let Err(wait) = st.guards.complaints.charge(client) {
        let secs = crate::throttle::retry_after_secs(wait);
        let mut r = complaint_page(c.as_str(), &format!("提交过于频繁，请 {secs} 秒后再试"));
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(secs),
        );
        return Ok(r);
    }
    let pre = cookie_value(&headers, COMPLAINT_COOKIE);
    if pre.as_deref() != Some(f.csrf.as_str()) {
        return Ok(complaint_page(c.as_str(), "页面已过期，请重新填写"));
    }
    match svc::submit_complaint(&st, &c, org, &f.content, f.phone.as_deref()).await {
        Ok(()) => {}
        Err(ApiError::Invalid(v)) => {
            let reason = v.0.first().map_or("", |e| e.message.as_str());
            return Ok(complaint_page(c.as_str(), reason));
        }
        Err(e) => return Err(error_page(e)),
    }
    Ok(render(
        StatusCode::CREATED,
        &PublicPage {
            title: "已收到您的投诉".to_owned(),
            paragraphs: vec!["感谢您的监督，监管部门将尽快核实处理。".to_owned()],
            links: vec![(format!("/q/{}", c.as_str()), "返回气瓶信息".to_owned())],
            form: None,
        },
    ))
}
