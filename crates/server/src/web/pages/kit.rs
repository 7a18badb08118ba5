//! The page kit every console page is built with: the frame (header, the role's menu), one page
//! template of figures, tables, charts, facts, links and forms, HTML rendering with the security
//! headers, error pages, the viewer's frame and role checks, and small formatting helpers. (The
//! SVG charts are in `charts.rs`.)

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::time::cst;
use cyltrace_domain::{FieldError, Role, Verdict};
use serde::Deserialize;
use serde_json::Value;

use super::session::home_of;
use crate::error::ApiError;
use crate::services;
use crate::state::AppState;
use crate::web::extract::Viewer;

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

pub struct Chrome {
    pub title: String,
    pub user: String,
    pub org: String,
    pub role: String,
    pub home: &'static str,
    pub csrf: String,
    pub nav: Vec<NavItem>,
    /// Seconds after which the page reloads itself (0 = never).
    pub refresh: u32,
}

pub struct Card {
    pub key: &'static str,
    pub label: String,
    pub value: String,
    pub class: &'static str,
    pub href: String,
}

impl Card {
    pub fn new(key: &'static str, label: &str, value: impl ToString) -> Self {
        Card {
            key,
            label: label.to_owned(),
            value: value.to_string(),
            class: "",
            href: String::new(),
        }
    }
    pub fn class(mut self, class: &'static str) -> Self {
        self.class = class;
        self
    }
    pub fn link(mut self, href: impl Into<String>) -> Self {
        self.href = href.into();
        self
    }
}

#[derive(Default)]
pub struct Cell {
    pub text: String,
    pub href: String,
    pub class: &'static str,
    /// A one-button form posting to the URL (with the CSRF token).
    pub post: Option<(String, String)>,
    /// A checkbox that belongs to a form of the page (rows to pick, e.g. cylinders to apply for).
    pub check: Option<Check>,
}

/// A checkbox in a table that is sent with the form posting to `form` (a form's id is its action).
pub struct Check {
    pub name: &'static str,
    pub value: String,
    pub form: String,
    pub checked: bool,
    /// Read by people and tests: what ticking it means.
    pub label: String,
}

impl Cell {
    pub fn text(s: impl ToString) -> Self {
        Cell {
            text: s.to_string(),
            ..Default::default()
        }
    }
    pub fn num(n: impl ToString) -> Self {
        Cell {
            text: n.to_string(),
            class: "num",
            ..Default::default()
        }
    }
    pub fn link(s: impl ToString, href: impl Into<String>) -> Self {
        Cell {
            text: s.to_string(),
            href: href.into(),
            ..Default::default()
        }
    }
    pub fn class(mut self, class: &'static str) -> Self {
        self.class = class;
        self
    }
    /// A checkbox `name=value` sent with the form posting to `form`.
    pub fn check(
        name: &'static str,
        value: impl Into<String>,
        form: impl Into<String>,
        checked: bool,
        label: impl Into<String>,
    ) -> Self {
        Cell {
            check: Some(Check {
                name,
                value: value.into(),
                form: form.into(),
                checked,
                label: label.into(),
            }),
            ..Default::default()
        }
    }
    pub fn button(url: impl Into<String>, label: &str) -> Self {
        Cell {
            post: Some((url.into(), label.to_owned())),
            ..Default::default()
        }
    }
}

pub struct Pager {
    pub prev: String,
    pub next: String,
    pub note: String,
}

#[derive(Default)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub pager: Option<Pager>,
}

impl Table {
    pub fn new(id: &str, title: &str, head: &[&str]) -> Self {
        Table {
            id: id.to_owned(),
            title: title.to_owned(),
            head: head.iter().map(|h| (*h).to_owned()).collect(),
            ..Default::default()
        }
    }
}

pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub kind: &'static str,
    pub options: Vec<(String, String)>,
    pub required: bool,
    /// The reason the last submission of this field was refused, shown next to it.
    pub error: String,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, value: impl Into<String>) -> Self {
        Field {
            name,
            label,
            value: value.into(),
            kind: "",
            options: Vec::new(),
            required: false,
            error: String::new(),
        }
    }
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    pub fn options(mut self, options: Vec<(String, String)>) -> Self {
        self.options = options;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Whether a `checkboxes` field (its value the checked options, comma-separated) has `option`.
    pub fn has(&self, option: &str) -> bool {
        self.value.split(',').any(|v| v == option)
    }
}

pub struct Filter {
    pub action: String,
    pub fields: Vec<Field>,
}

pub struct FormSpec {
    pub title: String,
    pub action: String,
    pub fields: Vec<Field>,
    pub submit: &'static str,
}

/// A form that was refused: what the user sent and why, to show the form again with each reason
/// next to its field (and the reasons no field of the form matches above it).
pub struct FormFailure {
    pub action: String,
    pub values: Vec<(String, String)>,
    pub status: StatusCode,
    pub errors: Vec<FieldError>,
}

impl FormFailure {
    /// The failure of the form posted to `action` with `values`, when `e` names fields or a
    /// conflict; any other error (403, 404, 500) is answered by its error page instead.
    pub fn of(action: &str, values: Vec<(String, String)>, e: ApiError) -> Result<Self, PageError> {
        let (status, errors) = match e {
            ApiError::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, v.0),
            ApiError::Conflict(m, v) if v.is_empty() => {
                (StatusCode::CONFLICT, vec![FieldError::new("", m)])
            }
            ApiError::Conflict(_, v) => (StatusCode::CONFLICT, v),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, vec![FieldError::new("", m)]),
            other => return Err(error_page(other)),
        };
        Ok(FormFailure {
            action: action.to_owned(),
            values,
            status,
            errors,
        })
    }
}

/// The form field an error path names: the field of that exact name, else the one named by the
/// path's last segment without indices (`licences[0].valid_until` → `valid_until`).
fn field_for<'a>(fields: &'a mut [Field], path: &str) -> Option<&'a mut Field> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let bare = last.split('[').next().unwrap_or(last);
    let i = fields
        .iter()
        .position(|f| f.name == path)
        .or_else(|| fields.iter().position(|f| f.name == last))
        .or_else(|| fields.iter().position(|f| f.name == bare))?;
    Some(&mut fields[i])
}

impl FormSpec {
    /// Fills in what was sent and places every reason next to its field; reasons that name no
    /// field of this form come back to be shown above it.
    fn apply(&mut self, failure: &FormFailure) -> Vec<String> {
        for (name, value) in &failure.values {
            if let Some(f) = self.fields.iter_mut().find(|f| f.name == name)
                && f.kind != "password"
            {
                f.value.clone_from(value);
            }
        }
        let mut unplaced = Vec::new();
        for e in &failure.errors {
            match field_for(&mut self.fields, &e.field).filter(|f| f.kind != "hidden") {
                Some(f) if f.error.is_empty() => f.error.clone_from(&e.message),
                Some(f) => {
                    f.error.push('；');
                    f.error.push_str(&e.message);
                }
                None if e.field.is_empty() => unplaced.push(e.message.clone()),
                None => unplaced.push(format!("{}：{}", e.field, e.message)),
            }
        }
        unplaced
    }
    /// A form with a file field is sent as `multipart/form-data`.
    pub fn multipart(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "file")
    }
}

pub enum Block {
    Table(Table),
    /// A chart or map drawn on the server (our own SVG; text inside is escaped by its builder).
    Svg(String, String),
    Facts(String, Vec<(String, String)>),
    Form(FormSpec),
    Note(String),
    /// Why the form below was refused, where no field of it is to blame.
    Error(String),
    /// A list of links (downloads, related pages): `(href, label)`.
    Links(String, Vec<(String, String)>),
}

#[derive(Template)]
#[template(path = "page.html")]
pub struct Page {
    pub chrome: Chrome,
    pub heading: String,
    pub intro: String,
    pub filter: Option<Filter>,
    pub cards: Vec<Card>,
    pub blocks: Vec<Block>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub next: String,
    pub error: Option<String>,
    pub username: String,
    /// The second step: ask for the second-factor code.
    pub totp_step: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    code: u16,
    message: String,
}

/// An HTML answer with the security headers every page carries.
pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (StatusCode::INTERNAL_SERVER_ERROR, "页面生成失败").into_response()
        }
    }
}

/// A page that could not be shown: its HTML error page (boxed: a `Response` is large).
pub struct PageError(Box<Response>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for PageError {
    fn from(r: Response) -> Self {
        PageError(Box::new(r))
    }
}

/// An error as a Chinese HTML page with the matching status.
pub fn error_page(e: ApiError) -> PageError {
    PageError(Box::new(error_response(e)))
}

/// [`error_page`] as a plain response.
pub fn error_response(e: ApiError) -> Response {
    let (status, title) = match &e {
        ApiError::Unauthorized(_) | ApiError::SecondFactor(_) => {
            (StatusCode::UNAUTHORIZED, "请先登录")
        }
        ApiError::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "操作过于频繁"),
        ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "无权访问"),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "页面或数据不存在"),
        ApiError::Invalid(_) | ApiError::BadRequest(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "提交的内容有误")
        }
        ApiError::Conflict(..) => (StatusCode::CONFLICT, "操作冲突"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "系统错误"),
    };
    let retry = match &e {
        ApiError::TooManyRequests(_, secs) => Some(*secs),
        _ => None,
    };
    let message = match e {
        ApiError::Unauthorized(m)
        | ApiError::SecondFactor(m)
        | ApiError::TooManyRequests(m, _)
        | ApiError::Forbidden(m)
        | ApiError::NotFound(m)
        | ApiError::BadRequest(m)
        | ApiError::Conflict(m, _) => m,
        ApiError::Invalid(v) => {
            v.0.iter()
                .map(|f| format!("{}：{}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("；")
        }
        ApiError::Internal(m) => {
            tracing::error!(error = %m, "page failed");
            "请稍后再试；如果问题持续，请联系平台管理员".to_owned()
        }
        _ => String::new(),
    };
    let mut resp = render(
        status,
        &ErrorPage {
            title,
            code: status.as_u16(),
            message,
        },
    );
    if let Some(secs) = retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    resp
}

pub type PageResult = Result<Response, PageError>;

impl Viewer {
    /// The frame of a page whose menu entry is `active`.
    pub async fn chrome(&self, st: &AppState, title: &str, active: &str) -> Chrome {
        let (user, org) = services::orgs::frame_names(st, &self.p).await;
        Chrome {
            title: title.to_owned(),
            user: user.unwrap_or_else(|| self.p.username.clone()),
            org: org.unwrap_or_default(),
            role: self
                .p
                .roles
                .iter()
                .map(|r| r.label_zh())
                .collect::<Vec<_>>()
                .join("、"),
            home: home_of(&self.p),
            csrf: self.session.csrf.clone(),
            nav: super::nav_for(&self.p)
                .into_iter()
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    active: href == active,
                })
                .collect(),
            refresh: 0,
        }
    }

    pub async fn page(&self, st: &AppState, title: &str, active: &str) -> Page {
        Page {
            chrome: self.chrome(st, title, active).await,
            heading: title.to_owned(),
            intro: String::new(),
            filter: None,
            cards: Vec::new(),
            blocks: Vec::new(),
        }
    }

    pub fn require(&self, a: Action) -> Result<(), PageError> {
        self.p.require(a).map_err(error_page)
    }

    /// 403 unless the viewer has one of `roles`.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), PageError> {
        if self.p.roles.iter().any(|r| roles.contains(r)) {
            Ok(())
        } else {
            Err(error_page(ApiError::Forbidden(
                "当前角色无权访问此页面".to_owned(),
            )))
        }
    }

    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), PageError> {
        self.session.check_csrf(given).map_err(error_page)
    }
}

pub fn ok(p: Page) -> PageResult {
    Ok(render(StatusCode::OK, &p))
}

impl Page {
    /// This page again after `failure`: its form filled with what was sent, each reason next to
    /// its field and the others above the form, answered with the failure's status.
    pub fn refused(mut self, failure: FormFailure) -> PageResult {
        let at = self
            .blocks
            .iter()
            .position(|b| matches!(b, Block::Form(f) if f.action == failure.action));
        let unplaced = match at.map(|i| &mut self.blocks[i]) {
            Some(Block::Form(f)) => f.apply(&failure),
            _ => failure.errors.iter().map(|e| e.message.clone()).collect(),
        };
        let at = at.unwrap_or(0);
        for m in unplaced.into_iter().rev() {
            self.blocks.insert(at, Block::Error(m));
        }
        Ok(render(failure.status, &self))
    }
}

/// Maps a service error to its HTML page.
pub fn pe<T>(r: Result<T, ApiError>) -> Result<T, PageError> {
    r.map_err(error_page)
}

pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

/// A field of a record that stays a JSON document (orders, waybills, inspection applications) as a
/// cell: strings as they are, numbers and booleans in words, `—` when absent.
pub fn jcell(v: &Value, key: &str) -> Cell {
    match v.get(key) {
        None | Some(Value::Null) => Cell::text("—"),
        Some(Value::String(s)) => Cell::text(s),
        Some(Value::Bool(b)) => Cell::text(if *b { "是" } else { "否" }),
        Some(Value::Number(n)) => Cell::num(n),
        Some(other) => Cell::text(other.to_string()),
    }
}

/// A JSON document's timestamp (RFC 3339) as China time; anything else as [`jcell`] shows it.
pub fn jtime(v: &Value, key: &str) -> Cell {
    match v[key]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => Cell::text(local(t.with_timezone(&Utc))),
        None => jcell(v, key),
    }
}

/// A time as the JSON API writes it (RFC 3339, UTC), where a page shows it so.
pub fn iso(t: DateTime<Utc>) -> Cell {
    match serde_json::to_value(t) {
        Ok(Value::String(s)) => Cell::text(s),
        _ => Cell::text("—"),
    }
}

/// A number as the JSON API writes it (`1.0`, not `1`), for figures the API shows too.
pub fn json_num(n: f64) -> Cell {
    Cell::num(serde_json::Value::from(n))
}

/// An optional number, or `—`.
pub fn opt_num(n: Option<impl ToString>) -> Cell {
    n.map_or_else(|| Cell::text("—"), Cell::num)
}

/// An optional text, or `—`.
pub fn or_dash(s: Option<impl ToString>) -> Cell {
    s.map_or_else(|| Cell::text("—"), |s| Cell::text(s.to_string()))
}

pub fn verdict_cell(v: Verdict) -> Cell {
    Cell::text(v.label_zh()).class(match v {
        Verdict::Ok => "ok",
        Verdict::Overdue => "warn",
        _ => "bad",
    })
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    pub csrf: Option<String>,
}
