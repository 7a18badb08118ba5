//! The public pages reached from a label's page (no sign-in, no script): the safety articles
//! (`/articles`), the complaint form with up to three photos (`/q/{code}/complaint`, F3, E5) and the
//! complaint code it answers with, read back at `/complaint` (a form) and `/complaint/{code}`. The
//! order form (`public_order.rs`) shares the page and its guards: every form that writes is
//! protected by a double-submit cookie and throttled per client address (429, `Retry-After`).

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use cyltrace_domain::FieldError;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::services::complaints as svc;
use crate::services::notices;
use crate::state::AppState;
use crate::web::cookies;
use crate::web::extract::ClientIp;
use crate::web::middleware::noted;
use crate::web::pages::kit::{PageError, PageResult, error_page, local, pe, render};
use crate::web::pages::photos::PhotoForm;

#[derive(Template)]
#[template(path = "public.html")]
pub(super) struct PublicPage {
    pub title: String,
    /// A code shown big (the complaint code), or empty.
    pub big: String,
    pub paragraphs: Vec<String>,
    pub facts: Vec<(String, String)>,
    pub form: Option<PublicForm>,
    pub links: Vec<(String, String)>,
}

impl PublicPage {
    pub fn new(title: impl Into<String>) -> Self {
        PublicPage {
            title: title.into(),
            big: String::new(),
            paragraphs: Vec::new(),
            facts: Vec::new(),
            form: None,
            links: Vec::new(),
        }
    }
}

pub(super) struct PublicForm {
    pub method: &'static str,
    pub action: String,
    pub multipart: bool,
    /// The double-submit token (empty: the form writes nothing and carries none).
    pub csrf: String,
    /// Why the form was refused, where no field of it is to blame.
    pub error: String,
    pub fields: Vec<PublicField>,
    pub submit: &'static str,
}

impl PublicForm {
    /// Fills in what was sent and places each reason next to its field; the others go above.
    pub fn refused(&mut self, values: &[(String, String)], errors: &[FieldError]) {
        for (name, value) in values {
            if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
                f.value.clone_from(value);
            }
        }
        for e in errors {
            match self.fields.iter_mut().find(|f| f.name == e.field) {
                Some(f) if f.error.is_empty() => f.error.clone_from(&e.message),
                Some(f) => {
                    f.error.push('；');
                    f.error.push_str(&e.message);
                }
                None => {
                    if !self.error.is_empty() {
                        self.error.push('；');
                    }
                    self.error.push_str(&e.message);
                }
            }
        }
    }
}

pub(super) struct PublicField {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `tel`, `date`, `number`, `textarea`, `file` (photos) or a select (with options).
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub required: bool,
    pub attrs: Vec<(&'static str, String)>,
    pub hint: String,
    pub error: String,
}

impl PublicField {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        PublicField {
            name,
            label,
            kind,
            value: String::new(),
            options: Vec::new(),
            required: false,
            attrs: Vec::new(),
            hint: String::new(),
            error: String::new(),
        }
    }
    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((name, value.into()));
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = h.into();
        self
    }
    pub fn options(mut self, o: Vec<(String, String)>) -> Self {
        self.options = o;
        self
    }
}

/// A fresh double-submit token.
pub(super) fn fresh_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// `page` answered with `status`, its form's token set as the cookie `cookie`.
pub(super) fn with_token(
    st: &AppState,
    status: StatusCode,
    page: &PublicPage,
    cookie: &'static str,
) -> Response {
    let mut resp = render(status, page);
    if let Some(token) = page.form.as_ref().map(|f| f.csrf.as_str())
        && !token.is_empty()
    {
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(&st.config, cookie, token, None),
        );
    }
    resp
}

/// Whether the form's token matches its cookie (the double submit).
pub(super) fn token_matches(
    st: &AppState,
    headers: &axum::http::HeaderMap,
    cookie: &'static str,
    sent: Option<&str>,
) -> bool {
    match (cookies::get(&st.config, headers, cookie), sent) {
        (Some(c), Some(s)) => !c.is_empty() && c == s,
        _ => false,
    }
}

/// G5: a public submission from `client` takes a token of its address's bucket; `Err` is the 429
/// page to answer (请稍后再试, with `Retry-After`).
pub(super) fn throttle(st: &AppState, client: Option<std::net::IpAddr>) -> Result<(), PageError> {
    st.guards.complaints.charge(client).map_err(|wait| {
        let secs = crate::throttle::retry_after_secs(wait);
        PageError::from(too_many(secs))
    })
}

fn too_many(secs: u64) -> Response {
    let mut page = PublicPage::new("操作过于频繁");
    page.paragraphs = vec![
        format!("提交过于频繁，请稍后再试（约 {secs} 秒后）。"),
        "如有紧急情况（闻到燃气味、漏气），请立即关闭瓶阀、开窗通风，到室外拨打 119。".to_owned(),
    ];
    let mut r = render(StatusCode::TOO_MANY_REQUESTS, &page);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

pub(super) async fn public_articles(State(st): State<AppState>) -> PageResult {
    let rows = pe(notices::public_articles(&st).await)?;
    let mut page = PublicPage::new("安全用气宣传");
    if rows.is_empty() {
        page.paragraphs = vec!["暂无文章".to_owned()];
    }
    page.links = rows
        .iter()
        .map(|r| (format!("/articles/{}", r.id), r.title.clone()))
        .collect();
    Ok(render(StatusCode::OK, &page))
}

pub(super) async fn public_article(State(st): State<AppState>, Path(id): Path<Uuid>) -> PageResult {
    let r = pe(notices::article(&st, id).await)?;
    let mut page = PublicPage::new(r.title.clone());
    page.paragraphs = r.content.lines().map(str::to_owned).collect();
    page.links = vec![("/articles".to_owned(), "全部文章".to_owned())];
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------------------------------------
// The complaint form (F3, E5)

const COMPLAINT_FIELDS: [&str; 2] = ["content", "phone"];

fn complaint_page(code: &str) -> PublicPage {
    let mut page = PublicPage::new(format!("投诉举报 · 气瓶 {code}"));
    page.paragraphs = vec![
        "请描述问题（如漏气、无证充装、超期瓶仍在使用、缺斤短两等），可附最多 3 张照片；监管部门将核实处理。"
            .to_owned(),
        "提交后您会得到一个投诉编号，凭编号可查询处理结果和监管部门的答复。".to_owned(),
    ];
    page.form = Some(PublicForm {
        method: "post",
        action: format!("/q/{code}/complaint"),
        multipart: true,
        csrf: fresh_token(),
        error: String::new(),
        fields: vec![
            PublicField::new("content", "问题描述", "textarea")
                .required()
                .attr("minlength", "5")
                .attr("maxlength", "2000"),
            PublicField::new("phone", "联系电话（选填，仅监管部门可见）", "tel")
                .attr("inputmode", "tel")
                .attr("maxlength", "20"),
            PublicField::new("photos", "照片（选填，最多 3 张）", "file")
                .hint("JPEG、PNG 或 WebP 图片，每张不超过 5 MB"),
        ],
        submit: "提交投诉",
    });
    page.links = vec![
        (format!("/q/{code}"), "返回气瓶信息".to_owned()),
        (
            "/complaint".to_owned(),
            "已投诉？凭编号查询处理结果".to_owned(),
        ),
    ];
    page
}

/// The complaint form again after a refusal: filled in, each reason next to its field.
fn complaint_refused(
    st: &AppState,
    code: &str,
    status: StatusCode,
    values: &[(String, String)],
    errors: &[FieldError],
) -> Response {
    let mut page = complaint_page(code);
    if let Some(f) = page.form.as_mut() {
        f.refused(values, errors);
    }
    with_token(st, status, &page, cookies::COMPLAINT)
}

pub(super) async fn complaint_form(
    State(st): State<AppState>,
    Path(code): Path<String>,
) -> PageResult {
    let (c, _) = pe(svc::complaint_target(&st, &code).await)?;
    Ok(with_token(
        &st,
        StatusCode::OK,
        &complaint_page(c.as_str()),
        cookies::COMPLAINT,
    ))
}

/// A complaint from the public (F3): recorded against the cylinder's enterprise for the regulator,
/// with its photos; answered with the complaint code, shown big.
pub(super) async fn submit_complaint(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    headers: axum::http::HeaderMap,
    Path(code): Path<String>,
    form: PhotoForm,
) -> PageResult {
    let (c, org) = pe(svc::complaint_target(&st, &code).await)?;
    let code = c.as_str();
    // G5: every submission counts against the sender's address.
    throttle(&st, client)?;
    let values = form.values(&COMPLAINT_FIELDS);
    if let Some((status, why)) = &form.broken {
        return Ok(complaint_refused(
            &st,
            code,
            *status,
            &values,
            &[FieldError::new("photos", why.clone())],
        ));
    }
    if !token_matches(&st, &headers, cookies::COMPLAINT, form.csrf()) {
        return Ok(complaint_refused(
            &st,
            code,
            StatusCode::UNPROCESSABLE_ENTITY,
            &values,
            &[FieldError::new("", "页面已过期，请重新填写后提交")],
        ));
    }
    let phone = Some(form.get("phone"));
    let done =
        match svc::submit_complaint(&st, &c, org, form.get("content"), phone, &form.photos).await {
            Ok(d) => d,
            Err(ApiError::Invalid(v)) => {
                return Ok(complaint_refused(
                    &st,
                    code,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &values,
                    &v.0,
                ));
            }
            Err(e) => return Err(error_page(e)),
        };
    let mut page = PublicPage::new("已收到您的投诉");
    page.big = svc::display_code(&done.code);
    page.paragraphs = vec![
        "这是您的投诉编号，请抄写下来或截图保存。".to_owned(),
        "监管部门将尽快核实处理。凭此编号可随时查询处理进度和监管部门的答复；编号只显示这一次，丢失后无法找回。"
            .to_owned(),
        "请勿把编号告诉他人：知道编号的人都能看到处理结果。".to_owned(),
    ];
    page.links = vec![
        ("/complaint".to_owned(), "查询处理结果".to_owned()),
        (format!("/q/{code}"), "返回气瓶信息".to_owned()),
    ];
    let note = format!(
        "complaint {} about cylinder {code} with {} photos",
        done.id, done.photos
    );
    Ok(noted(render(StatusCode::CREATED, &page), note))
}

// ---------------------------------------------------------------------------------------------
// Reading the answer with the code

fn lookup_page(code: &str, error: &str) -> PublicPage {
    let mut page = PublicPage::new("投诉处理查询");
    page.paragraphs = vec!["请输入提交投诉时得到的 8 位投诉编号（不区分大小写）。".to_owned()];
    let mut field = PublicField::new("code", "投诉编号", "text")
        .value(code)
        .required()
        .attr("maxlength", "20")
        .attr("autocomplete", "off");
    field.error = error.to_owned();
    page.form = Some(PublicForm {
        method: "post",
        action: "/complaint".to_owned(),
        multipart: false,
        csrf: String::new(),
        error: String::new(),
        fields: vec![field],
        submit: "查询",
    });
    page
}

pub(super) async fn lookup_form() -> PageResult {
    Ok(render(StatusCode::OK, &lookup_page("", "")))
}

#[derive(Deserialize)]
pub(super) struct LookupForm {
    #[serde(default)]
    code: String,
}

/// The code from the form: the answer is shown at once (the code stays out of the address bar).
pub(super) async fn lookup(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    Form(f): Form<LookupForm>,
) -> PageResult {
    status_page(&st, client, &f.code).await
}

/// `/complaint/{code}`: the same, for a code in a link.
pub(super) async fn complaint_status(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    Path(code): Path<String>,
) -> PageResult {
    status_page(&st, client, &code).await
}

/// The complaint with `code`, or the form again (404) when there is none. Wrong codes are
/// throttled per address like failed logins: guessing codes runs dry.
async fn status_page(st: &AppState, client: Option<std::net::IpAddr>, code: &str) -> PageResult {
    if let Err(wait) = st.guards.complaints.check(client) {
        return Ok(too_many(crate::throttle::retry_after_secs(wait)));
    }
    let c = match svc::complaint_by_code(st, code).await {
        Ok(c) => c,
        Err(ApiError::NotFound(m)) => {
            let _ = st.guards.complaints.charge(client);
            let code: String = code.chars().take(20).collect();
            return Ok(render(StatusCode::NOT_FOUND, &lookup_page(&code, &m)));
        }
        Err(e) => return Err(error_page(e)),
    };
    let mut page = PublicPage::new("投诉处理结果");
    let answer = if c.answer.is_empty() {
        match c.state.as_str() {
            "open" => "尚未答复，监管部门正在核实，请耐心等待。".to_owned(),
            _ => "已处理。".to_owned(),
        }
    } else {
        c.answer.clone()
    };
    page.facts = vec![
        ("投诉编号".to_owned(), c.code.clone()),
        (
            "处理状态".to_owned(),
            svc::complaint_state_zh(&c.state).to_owned(),
        ),
        ("监管部门答复".to_owned(), answer),
        (
            "答复时间".to_owned(),
            if c.answered_at.is_empty() {
                "—".to_owned()
            } else {
                c.answered_at.clone()
            },
        ),
        ("气瓶".to_owned(), c.cylinder.clone()),
        ("提交时间".to_owned(), local(c.created_at)),
        ("投诉内容".to_owned(), c.content.clone()),
        ("照片".to_owned(), format!("{} 张", c.photos)),
    ];
    page.links = vec![
        ("/complaint".to_owned(), "查询其他编号".to_owned()),
        (format!("/q/{}", c.cylinder), "返回气瓶信息".to_owned()),
    ];
    Ok(render(StatusCode::OK, &page))
}
