//! The consoles' shared frame (header, menu per role, one page template of figures, tables, charts
//! and forms, HTML error pages) and the enterprise console (E-series pages of UI.md for the
//! enterprise admin). Every list comes from the same services and data scope as the v1 API; forms
//! post with the session's CSRF token and pass through the audit layer.

use askama::Template;
use axum::Router;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::time::{china_date, cst};
use cyltrace_domain::{Role, Verdict};
use cyltrace_store::{BizFilter, DecisionFilter, EventFilter, Page as StorePage, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::services::audit::RequestMeta;
use crate::services::{self, circulation as circ};
use crate::state::AppState;
use crate::web::session::{Session, home_of};

const SITE_CSS: &str = include_str!("../../assets/site.css");

// ---------------------------------------------------------------------------------------------
// Frame and rendering

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

impl FormSpec {
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
        ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "请先登录"),
        ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "无权访问"),
        ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "页面或数据不存在"),
        ApiError::Invalid(_) | ApiError::BadRequest(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "提交的内容有误")
        }
        ApiError::Conflict(..) => (StatusCode::CONFLICT, "操作冲突"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "系统错误"),
    };
    let message = match e {
        ApiError::Unauthorized(m)
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
    render(
        status,
        &ErrorPage {
            title,
            code: status.as_u16(),
            message,
        },
    )
}

pub type PageResult = Result<Response, PageError>;

/// The signed-in user of a page: without a session, the browser goes to the login page.
pub struct Viewer {
    pub p: Principal,
    pub session: Session,
}

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _st: &AppState,
    ) -> Result<Self, PageError> {
        let p = parts.extensions.get::<Principal>().cloned();
        let s = parts.extensions.get::<Session>().cloned();
        match (p, s) {
            (Some(p), Some(session)) => Ok(Viewer { p, session }),
            _ => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned();
                let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Err(Redirect::to(&format!("/login?{q}")).into_response().into())
            }
        }
    }
}

/// The menu of each role (UI.md "Who sees what").
fn nav_for(p: &Principal) -> Vec<(&'static str, &'static str)> {
    let has = |r| p.roles.contains(&r);
    let mut nav = Vec::new();
    if has(Role::NodeAdmin) || has(Role::Regulator) {
        nav.extend(super::supervision::NAV);
    }
    if has(Role::NodeAdmin) {
        nav.extend([
            ("/admin/node", "节点与存证"),
            ("/admin/audit", "审计日志"),
            ("/admin/orgs", "组织机构"),
        ]);
    }
    if has(Role::EnterpriseAdmin) {
        nav.extend(ENTERPRISE_NAV);
    }
    if has(Role::Inspector) {
        nav.push(("/inspection", "检验工作台"));
    }
    if p.roles.iter().any(|r| {
        matches!(
            r,
            Role::Filler | Role::Checker | Role::Warehouse | Role::Driver | Role::Courier
        )
    }) || has(Role::EnterpriseAdmin)
    {
        nav.push(("/app/", "手持终端"));
    }
    nav
}

const ENTERPRISE_NAV: [(&str, &str); 17] = [
    ("/console", "企业总览"),
    ("/console/cylinders", "气瓶档案"),
    ("/console/labels", "标签打印"),
    ("/console/sites", "站点仓库"),
    ("/console/staff", "人员资质"),
    ("/console/fills", "充装记录"),
    ("/console/checks", "检查记录"),
    ("/console/refusals", "拒充与非法标签"),
    ("/console/batches", "充装批次"),
    ("/console/stock", "库存"),
    ("/console/transport", "车辆运单"),
    ("/console/customers", "用户管理"),
    ("/console/orders", "订单配送"),
    ("/console/recycling", "回收记录"),
    ("/console/inspections", "定期检验"),
    ("/console/imports", "导入导出"),
    ("/console/messages", "监管通知"),
];

impl Viewer {
    /// The frame of a page whose menu entry is `active`.
    pub async fn chrome(&self, st: &AppState, title: &str, active: &str) -> Chrome {
        let user = st.store.get_user(self.p.user_id).await.ok().flatten();
        let org = st.store.get_org(self.p.org_id).await.ok().flatten();
        Chrome {
            title: title.to_owned(),
            user: user.map_or_else(|| self.p.username.clone(), |u| u.name),
            org: org.map(|o| o.name).unwrap_or_default(),
            role: self
                .p
                .roles
                .iter()
                .map(|r| r.label_zh())
                .collect::<Vec<_>>()
                .join("、"),
            home: home_of(&self.p),
            csrf: self.session.csrf.clone(),
            nav: nav_for(&self.p)
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

/// Maps a service error to its HTML page.
pub fn pe<T>(r: Result<T, ApiError>) -> Result<T, PageError> {
    r.map_err(error_page)
}

pub fn se<T, E: Into<ApiError>>(r: Result<T, E>) -> Result<T, PageError> {
    r.map_err(|e| error_page(e.into()))
}

pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

/// The start (00:00 China time) of a China calendar day, in UTC.
pub fn day_start(d: chrono::NaiveDate) -> DateTime<Utc> {
    // China time is a fixed offset: every local midnight is one instant.
    d.and_time(chrono::NaiveTime::MIN).and_utc()
        - chrono::Duration::seconds(i64::from(cst().local_minus_utc()))
}

/// This China calendar month: `[first day, first day of next month)` in UTC.
pub fn this_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    use cyltrace_domain::supervision::Granularity;
    let s = Granularity::Month.start(china_date(now));
    (day_start(s), day_start(Granularity::Month.next(s)))
}

/// A JSON timestamp (RFC 3339) as China time; anything else as it is.
pub fn jtime(v: &Value, key: &str) -> Cell {
    match v[key]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => Cell::text(local(t.with_timezone(&Utc))),
        None => jcell(v, key),
    }
}

/// A cell from a JSON field (strings as they are, numbers and booleans in words).
pub fn jcell(v: &Value, key: &str) -> Cell {
    match v.get(key) {
        None | Some(Value::Null) => Cell::text("—"),
        Some(Value::String(s)) => Cell::text(s),
        Some(Value::Bool(b)) => Cell::text(if *b { "是" } else { "否" }),
        Some(Value::Number(n)) => Cell::num(n),
        Some(other) => Cell::text(other.to_string()),
    }
}

pub fn json_rows(rows: &[Value], keys: &[&str]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|r| keys.iter().map(|k| jcell(r, k)).collect())
        .collect()
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

// ---------------------------------------------------------------------------------------------
// Routes

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/assets/site.css", get(css))
        .route("/console", get(overview))
        .route("/console/cylinders", get(cylinders))
        .route("/console/cylinders/{code}", get(cylinder))
        .route("/console/labels", get(labels))
        .route("/console/sites", get(sites))
        .route("/console/staff", get(staff))
        .route("/console/fills", get(fills))
        .route("/console/checks", get(checks))
        .route("/console/refusals", get(refusals))
        .route("/console/batches", get(batches))
        .route("/console/stock", get(stock))
        .route("/console/transport", get(transport))
        .route("/console/customers", get(customers))
        .route("/console/orders", get(orders).post(create_order))
        .route("/console/orders/{id}/dispatch", post(dispatch_order))
        .route("/console/recycling", get(recycling))
        .route("/console/inspections", get(inspections))
        .route(
            "/console/imports",
            get(imports)
                .post(upload_import)
                .layer(axum::extract::DefaultBodyLimit::max(
                    services::archives::MAX_IMPORT_BYTES,
                )),
        )
        .route("/console/imports/{id}", get(import_job))
        .route("/inspection", get(inspector_home))
        .route("/inspection/results", post(inspection_result))
        .route("/admin/audit", get(audit))
        .route("/admin/orgs", get(orgs))
        .route("/admin/node", get(node))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SITE_CSS,
    )
        .into_response()
}

async fn root(p: Option<Extension<Principal>>) -> Response {
    match p {
        Some(Extension(p)) => Redirect::to(home_of(&p)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

fn enterprise(v: &Viewer) -> Result<(), PageError> {
    v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin])
}

async fn count_events(
    st: &AppState,
    scope: &Scope,
    kinds: Vec<&'static str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, PageError> {
    let (_, n) = se(st
        .store
        .list_events(&EventFilter {
            scope: Some(scope.clone()),
            kinds,
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await)?;
    Ok(n)
}

async fn count_decisions(
    st: &AppState,
    scope: &Scope,
    allow: Option<bool>,
    illegal: Option<bool>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, PageError> {
    let (_, n) = se(st
        .store
        .list_decisions(&DecisionFilter {
            scope: Some(scope.clone()),
            allow,
            illegal_label: illegal,
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await)?;
    Ok(n)
}

/// 企业总览: the enterprise's figures today and this month.
async fn overview(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let scope = v.p.scope();
    let now = st.now();
    let today = cyltrace_domain::Date(china_date(now));
    let (from, to) = this_month(now);
    let mut by_verdict: HashMap<&'static str, i64> = HashMap::new();
    let mut total = 0i64;
    let mut at_customers = 0i64;
    pe(
        crate::services::supervision::each_cylinder(&st, &scope, |c| {
            total += 1;
            *by_verdict
                .entry(Verdict::of(&c.archive, &c.status, today).as_str())
                .or_default() += 1;
            if c.status.location_kind == cyltrace_domain::LocationKind::AtCustomer {
                at_customers += 1;
            }
        })
        .await,
    )?;
    let fills = count_events(&st, &scope, vec!["fill"], from, to).await?;
    let refused = count_decisions(&st, &scope, Some(false), None, from, to).await?;
    let illegal = count_decisions(&st, &scope, None, Some(true), from, to).await?;
    let stock = pe(circ::stock(&st, &v.p, None).await)?;
    let full: i64 = stock.iter().filter_map(|s| s["full"].as_i64()).sum();
    let empty: i64 = stock.iter().filter_map(|s| s["empty"].as_i64()).sum();
    let open_orders = se(st
        .store
        .count_biz(&BizFilter {
            kind: circ::ORDER.to_owned(),
            scope: Some(scope.clone()),
            ..Default::default()
        })
        .await)?;
    let open = |state: &str| {
        open_orders
            .iter()
            .filter(|(s, _)| s == state)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let reminders = pe(circ::reminders(&st, &v.p).await)?;
    let mut page = v.page(&st, "企业总览", "/console").await;
    page.intro = format!("数据范围：本企业；本月 = {} 起", china_date(from));
    let g = |k: &str| by_verdict.get(k).copied().unwrap_or(0);
    page.cards = vec![
        Card::new("cylinders", "在册气瓶", total).link("/console/cylinders"),
        Card::new("ok", "可以使用", g("ok")).class("good"),
        Card::new("overdue", "超期未检", g("overdue"))
            .class("warn")
            .link("/console/cylinders?verdict=overdue"),
        Card::new("expired", "超过使用年限", g("expired")).class("bad"),
        Card::new("scrapped", "已报废", g("scrapped")).class("bad"),
        Card::new("at_customers", "在用户处", at_customers),
        Card::new("fills", "本月充装", fills).link("/console/fills"),
        Card::new("refusals", "本月拒绝充装", refused)
            .class("warn")
            .link("/console/refusals"),
        Card::new("illegal", "本月非法标签", illegal)
            .class("bad")
            .link("/console/refusals"),
        Card::new("full_stock", "重瓶库存", full).link("/console/stock"),
        Card::new("empty_stock", "空瓶库存", empty).link("/console/stock"),
        Card::new("orders_new", "待派送订单", open("created")).link("/console/orders"),
        Card::new("orders_dispatched", "配送中订单", open("dispatched")).link("/console/orders"),
        Card::new("rectifications", "待整改隐患", reminders.len()).class("warn"),
    ];
    ok(page)
}

#[derive(Deserialize, Default)]
struct CylinderQuery {
    q: Option<String>,
    verdict: Option<String>,
    location: Option<String>,
    page: Option<usize>,
}

const PAGE_ROWS: usize = 50;
/// The last page a list offers (50 × 20,000 rows; beyond, use the exports).
const MAX_PAGE_NO: usize = 20_000;

fn verdict_options() -> Vec<(String, String)> {
    let mut o = vec![(String::new(), "全部".to_owned())];
    for v in [
        Verdict::Ok,
        Verdict::Overdue,
        Verdict::Expired,
        Verdict::Scrapped,
        Verdict::InvalidLabel,
    ] {
        o.push((v.as_str().to_owned(), v.label_zh().to_owned()));
    }
    o
}

fn location_options() -> Vec<(String, String)> {
    use cyltrace_domain::LocationKind as L;
    let mut o = vec![(String::new(), "全部".to_owned())];
    for l in [
        L::Unknown,
        L::EmptyStore,
        L::FullStore,
        L::InTransport,
        L::AtDealer,
        L::AtCustomer,
        L::InInspection,
        L::Scrapped,
    ] {
        o.push((l.as_str().to_owned(), l.label_zh().to_owned()));
    }
    o
}

/// 气瓶档案: search by code, factory serial or inner number; filter by verdict and location.
async fn cylinders(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<CylinderQuery>,
) -> PageResult {
    v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin, Role::Regulator])?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let needle = q.q.clone().unwrap_or_default().trim().to_owned();
    let verdict = q.verdict.clone().unwrap_or_default();
    let location = q.location.clone().unwrap_or_default();
    let page_no = q.page.unwrap_or(0).min(MAX_PAGE_NO);
    let mut rows = Vec::new();
    let mut matched = 0usize;
    pe(
        crate::services::supervision::each_cylinder(&st, &v.p.scope(), |c| {
            let a = &c.archive;
            let vd = Verdict::of(a, &c.status, today);
            let hit = (needle.is_empty()
                || a.code.as_str().contains(&needle)
                || a.factory_serial
                    .as_ref()
                    .is_some_and(|s| s.as_str().contains(&needle))
                || a.inner_no
                    .as_ref()
                    .is_some_and(|s| s.as_str().contains(&needle)))
                && (verdict.is_empty() || vd.as_str() == verdict)
                && (location.is_empty() || c.status.location_kind.as_str() == location);
            if !hit {
                return;
            }
            matched += 1;
            if matched > page_no * PAGE_ROWS && rows.len() < PAGE_ROWS {
                let code = a.code.as_str();
                rows.push(vec![
                    Cell::link(code, format!("/console/cylinders/{code}")),
                    Cell::text(a.factory_serial.as_ref().map_or("—", |s| s.as_str())),
                    Cell::text(a.medium.as_ref().map_or("—", |s| s.as_str())),
                    Cell::text(a.style.as_ref().map_or("—", |s| s.as_str())),
                    Cell::text(c.status.location_kind.label_zh()),
                    Cell::text(if c.status.full { "重瓶" } else { "空瓶" }),
                    Cell::text(
                        c.status
                            .next_check_date
                            .map_or("—".to_owned(), |d| d.to_string()),
                    ),
                    verdict_cell(vd),
                ]);
            }
        })
        .await,
    )?;
    let mut page = v.page(&st, "气瓶档案", "/console/cylinders").await;
    page.filter = Some(Filter {
        action: "/console/cylinders".to_owned(),
        fields: vec![
            Field::new("q", "气瓶编码 / 出厂编号 / 自有编号", needle.clone()),
            Field::new("verdict", "判定", verdict.clone()).options(verdict_options()),
            Field::new("location", "位置", location.clone()).options(location_options()),
        ],
    });
    let mut t = Table::new(
        "cylinders",
        &format!("共 {matched} 只"),
        &[
            "气瓶编码",
            "出厂编号",
            "介质",
            "规格型号",
            "位置",
            "空/重",
            "下次检验",
            "判定",
        ],
    );
    t.rows = rows;
    let link = |n: usize| {
        let qs = serde_urlencoded::to_string([
            ("q", needle.as_str()),
            ("verdict", verdict.as_str()),
            ("location", location.as_str()),
            ("page", &n.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/cylinders?{qs}")
    };
    t.pager = Some(Pager {
        prev: if page_no > 0 {
            link(page_no - 1)
        } else {
            String::new()
        },
        next: if (page_no + 1) * PAGE_ROWS < matched {
            link(page_no + 1)
        } else {
            String::new()
        },
        note: format!("第 {} 页", page_no + 1),
    });
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// One cylinder: archive, status, the full trace with ledger indexes, documents and labels.
async fn cylinder(State(st): State<AppState>, v: Viewer, Path(code): Path<String>) -> PageResult {
    let c = pe(services::get_cylinder(&st, &v.p, &code).await)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let a = &c.archive;
    let s = &c.status;
    let owner = match a.owner_org_id {
        Some(id) => se(st.store.get_org(id).await)?.map(|o| o.name),
        None => None,
    };
    let t =
        |o: Option<&cyltrace_domain::Text>| o.map_or("—".to_owned(), |s| s.as_str().to_owned());
    let d = |o: Option<cyltrace_domain::Date>| o.map_or("—".to_owned(), |d| d.to_string());
    let vd = Verdict::of(a, s, today);
    let mut page = v
        .page(
            &st,
            &format!("气瓶 {}", a.code.as_str()),
            "/console/cylinders",
        )
        .await;
    page.cards = vec![
        Card::new("verdict", "判定", vd.label_zh()).class(match vd {
            Verdict::Ok => "good",
            Verdict::Overdue => "warn",
            _ => "bad",
        }),
        Card::new("location", "当前位置", s.location_kind.label_zh()),
        Card::new("full", "空/重", if s.full { "重瓶" } else { "空瓶" }),
        Card::new("state", "档案状态", a.state.label_zh()),
    ];
    page.blocks.push(Block::Facts(
        "档案".to_owned(),
        vec![
            ("气瓶编码".to_owned(), a.code.as_str().to_owned()),
            (
                "产权单位".to_owned(),
                owner.unwrap_or_else(|| "—".to_owned()),
            ),
            ("出厂编号".to_owned(), t(a.factory_serial.as_ref())),
            ("自有编号".to_owned(), t(a.inner_no.as_ref())),
            ("规格型号".to_owned(), t(a.style.as_ref())),
            ("充装介质".to_owned(), t(a.medium.as_ref())),
            ("制造单位".to_owned(), t(a.manufacturer.as_ref())),
            ("上次检验".to_owned(), d(s.last_check_date)),
            ("下次检验".to_owned(), d(s.next_check_date)),
            ("报废日期".to_owned(), d(a.effective_discard_date())),
            (
                "使用登记证".to_owned(),
                s.registration
                    .as_ref()
                    .map_or("未登记".to_owned(), |r| r.number.as_str().to_owned()),
            ),
            (
                "电子标签".to_owned(),
                format!(
                    "{}{}",
                    if s.label == cyltrace_domain::LabelStatus::Active {
                        "有效"
                    } else {
                        "已作废"
                    },
                    if s.tag_bound { "（已绑定）" } else { "" }
                ),
            ),
        ],
    ));
    let rows = pe(circ::trajectory(&st, &v.p, &code).await)?;
    let mut tr = Table::new(
        "trace",
        "全程追溯（每条记录已存证，序号为存证账本索引）",
        &[
            "时间",
            "操作",
            "操作人",
            "地点",
            "去向/对象",
            "皮重",
            "毛重",
            "存证序号",
        ],
    );
    tr.rows = rows
        .iter()
        .rev()
        .map(|r| {
            vec![
                Cell::text(local(r.time)),
                Cell::text(&r.operation),
                Cell::text(&r.operator),
                Cell::text(&r.place),
                Cell::text(&r.target),
                r.tare_kg.map_or(Cell::text("—"), Cell::num),
                r.gross_kg.map_or(Cell::text("—"), Cell::num),
                Cell::num(r.ledger_index),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(tr));
    let code = a.code.as_str();
    let mut links = vec![
        (format!("/q/{code}"), "公众查询页（二维码页面）".to_owned()),
        (
            format!("/api/v1/labels/{code}/svg"),
            "标签（SVG，可打印）".to_owned(),
        ),
        (
            format!("/api/v1/labels/sheet?codes={code}"),
            "A4 标签纸（PDF）".to_owned(),
        ),
        (
            format!("/api/v1/cylinders/{code}/trajectory?format=csv"),
            "流向表（CSV）".to_owned(),
        ),
    ];
    if s.last_check_date.is_some() {
        links.push((
            format!("/api/v1/cylinders/{code}/inspection-report"),
            "最近一次检验报告（PDF）".to_owned(),
        ));
    }
    page.blocks
        .push(Block::Links("标签与文件".to_owned(), links));
    ok(page)
}

/// 标签打印: label blocks, issuance and the A4 sheet.
async fn labels(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let issuance = pe(services::labels::issuance(&st, &v.p).await)?;
    let blocks = se(st
        .store
        .list_biz(&services::labels::list_filter(
            services::labels::LABEL_BLOCK,
            v.p.scope(),
        ))
        .await)?;
    let mut page = v.page(&st, "标签打印", "/console/labels").await;
    page.intro =
        "标签号段、发卡记录与发卡率；在气瓶档案页可打印单个标签或 A4 标签纸（每页 10 枚）。"
            .to_owned();
    let mut t = Table::new(
        "issuance",
        "发卡率",
        &["单位", "已建档", "已绑定标签", "发卡率"],
    );
    t.rows = json_rows(&issuance, &["org_name", "archived", "bound", "rate"]);
    page.blocks.push(Block::Table(t));
    let mut b = Table::new("blocks", "标签号段", &["前缀", "介质", "下一序号", "状态"]);
    b.rows = blocks
        .iter()
        .map(|r| {
            vec![
                jcell(&r.body, "prefix"),
                jcell(&r.body, "medium"),
                jcell(&r.body, "next"),
                Cell::text(&r.state),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(b));
    page.filter = Some(Filter {
        action: "/api/v1/labels/sheet".to_owned(),
        fields: vec![Field::new(
            "codes",
            "打印 A4 标签纸：气瓶编码（逗号分隔，最多 500 个）",
            "",
        )],
    });
    ok(page)
}

async fn sites(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let sites = se(st
        .store
        .list_sites(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?;
    let mut page = v.page(&st, "站点仓库", "/console/sites").await;
    let mut t = Table::new("sites", "", &["名称", "类型", "地址", "纬度", "经度"]);
    t.rows = sites
        .iter()
        .map(|s| {
            vec![
                Cell::text(&s.name),
                Cell::text(s.kind.label_zh()),
                Cell::text(s.address.as_deref().unwrap_or("—")),
                s.lat.map_or(Cell::text("—"), Cell::num),
                s.lon.map_or(Cell::text("—"), Cell::num),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn staff(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let users = se(st
        .store
        .list_users(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let view = cyltrace_domain::circulation::personal_view(&v.p.roles);
    let staff = se(st
        .store
        .list_biz(&BizFilter {
            kind: circ::STAFF.to_owned(),
            scope: Some(v.p.scope()),
            limit: 1000,
            ..Default::default()
        })
        .await)?;
    let staff: Vec<Value> = staff
        .iter()
        .filter_map(|r| circ::staff_view(r, view, today).ok())
        .collect();
    let mut page = v.page(&st, "人员资质", "/console/staff").await;
    let mut t = Table::new("users", "平台账户", &["用户名", "姓名", "角色"]);
    t.rows = users
        .iter()
        .map(|u| {
            vec![
                Cell::text(&u.username),
                Cell::text(&u.name),
                Cell::text(
                    u.roles
                        .iter()
                        .map(|r| r.label_zh())
                        .collect::<Vec<_>>()
                        .join("、"),
                ),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    let mut s = Table::new(
        "staff",
        "驾驶员与押运员",
        &["姓名", "岗位", "电话", "证书编号", "证书有效期", "证书有效"],
    );
    s.rows = staff
        .iter()
        .map(|x| {
            let mut row = json_rows(
                std::slice::from_ref(x),
                &[
                    "name",
                    "role",
                    "phone",
                    "certificate_no",
                    "certificate_valid_until",
                    "certificate_valid",
                ],
            )
            .remove(0);
            row[1] = Cell::text(match x["role"].as_str() {
                Some("driver") => "驾驶员",
                Some("escort") => "押运员",
                _ => "—",
            });
            row
        })
        .collect();
    page.blocks.push(Block::Table(s));
    ok(page)
}

#[derive(Deserialize, Default)]
struct RecordPageQuery {
    code: Option<String>,
    date: Option<String>,
    page: Option<i64>,
}

impl RecordPageQuery {
    fn record_query(&self) -> services::filling::RecordQuery {
        services::filling::RecordQuery {
            code: self.code.clone().filter(|s| !s.trim().is_empty()),
            date: self.date.clone().filter(|s| !s.trim().is_empty()),
            limit: Some(PAGE_ROWS as i64),
            offset: Some(self.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0) * PAGE_ROWS as i64),
            ..Default::default()
        }
    }
    fn filter(&self, action: &str) -> Filter {
        Filter {
            action: action.to_owned(),
            fields: vec![
                Field::new("code", "气瓶编码", self.code.clone().unwrap_or_default()),
                Field::new("date", "日期", self.date.clone().unwrap_or_default()).kind("date"),
            ],
        }
    }
    fn pager(&self, action: &str, total: i64) -> Pager {
        let n = self.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0);
        let link = |p: i64| {
            let qs = serde_urlencoded::to_string([
                ("code", self.code.clone().unwrap_or_default()),
                ("date", self.date.clone().unwrap_or_default()),
                ("page", p.to_string()),
            ])
            .unwrap_or_default();
            format!("{action}?{qs}")
        };
        Pager {
            prev: if n > 0 { link(n - 1) } else { String::new() },
            next: if (n + 1) * (PAGE_ROWS as i64) < total {
                link(n + 1)
            } else {
                String::new()
            },
            note: format!("共 {total} 条，第 {} 页", n + 1),
        }
    }
}

/// The weighing of a fill: tare, gross, net and the scale.
fn weighing(e: &cyltrace_store::StoredEvent) -> String {
    let v = serde_json::to_value(&e.event.data).unwrap_or(Value::Null);
    let d = v.get("data").unwrap_or(&v);
    let n = |k: &str| d[k].as_f64();
    match (n("tare_kg"), n("gross_kg")) {
        (Some(t), Some(g)) => format!(
            "皮重 {t:.2} kg · 毛重 {g:.2} kg · 净重 {:.2} kg · 秤 {}",
            g - t,
            d["scale_no"].as_str().unwrap_or("—")
        ),
        _ => String::new(),
    }
}

fn event_row(e: &cyltrace_store::StoredEvent, detail: String) -> Vec<Cell> {
    let ev = &e.event;
    vec![
        Cell::text(local(ev.time)),
        Cell::text(ev.kind().label_zh()),
        Cell::text(
            ev.codes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Cell::text(ev.operator.as_ref().map_or("—", |o| o.as_str())),
        Cell::text(detail),
        Cell::num(e.ledger_index),
    ]
}

async fn fills(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total, _) = pe(services::filling::fills(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "充装记录", "/console/fills").await;
    page.filter = Some(q.filter("/console/fills"));
    let mut t = Table::new(
        "fills",
        "",
        &["时间", "操作", "气瓶", "充装工", "称重", "存证序号"],
    );
    t.rows = events.iter().map(|e| event_row(e, weighing(e))).collect();
    t.pager = Some(q.pager("/console/fills", total));
    page.blocks.push(Block::Table(t));
    page.blocks
        .push(Block::Note("导出为 Excel：见“导入导出”页".to_owned()));
    ok(page)
}

async fn checks(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total, _) = pe(services::filling::checks(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "检查记录", "/console/checks").await;
    page.filter = Some(q.filter("/console/checks"));
    let mut t = Table::new(
        "checks",
        "充装前 / 充装中 / 充装后检查",
        &["时间", "检查", "气瓶", "检查员", "结果", "存证序号"],
    );
    t.rows = events
        .iter()
        .map(|e| {
            let v = serde_json::to_value(&e.event.data).unwrap_or(Value::Null);
            let failed: Vec<String> = v
                .get("data")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(_, b)| b.as_bool() == Some(false))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            let mut row = event_row(
                e,
                if failed.is_empty() {
                    "合格".to_owned()
                } else {
                    format!("不合格：{}", failed.join("、"))
                },
            );
            if !failed.is_empty() {
                row[4].class = "bad";
            }
            row
        })
        .collect();
    t.pager = Some(q.pager("/console/checks", total));
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn refusals(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let mut rq = q.record_query();
    rq.allow = Some(false);
    let (decisions, total, _) = pe(services::filling::decisions(&st, &v.p, &rq).await)?;
    let counts = pe(services::filling::refusal_counts(&st, &v.p, &q.record_query()).await)?;
    let illegal = pe(services::filling::illegal_label_counts(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "拒绝充装与非法标签", "/console/refusals").await;
    page.filter = Some(q.filter("/console/refusals"));
    page.cards = counts
        .iter()
        .map(|(rule, n)| {
            Card::new("rule", &format!("{} {}", rule.id(), rule.title_zh()), n).class("warn")
        })
        .collect();
    let mut t = Table::new(
        "refusals",
        "拒绝充装记录",
        &["时间", "气瓶", "介质", "规则", "原因", "非法标签"],
    );
    t.rows =
        decisions
            .iter()
            .map(|d| {
                vec![
                    Cell::text(local(d.at)),
                    Cell::text(&d.code),
                    Cell::text(&d.medium),
                    Cell::text(
                        d.refusals
                            .iter()
                            .map(|r| r.rule.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    Cell::text(
                        d.refusals
                            .iter()
                            .map(|r| r.reason.as_str())
                            .collect::<Vec<_>>()
                            .join("；"),
                    ),
                    Cell::text(if d.illegal_label { "是" } else { "否" })
                        .class(if d.illegal_label { "bad" } else { "" }),
                ]
            })
            .collect();
    t.pager = Some(q.pager("/console/refusals", total));
    page.blocks.push(Block::Table(t));
    let mut i = Table::new("illegal", "非法标签尝试（按充装站）", &["充装站", "次数"]);
    i.rows = illegal
        .iter()
        .map(|(s, n)| vec![Cell::text(&s.name), Cell::num(n)])
        .collect();
    page.blocks.push(Block::Table(i));
    ok(page)
}

async fn batches(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let list = se(st
        .store
        .list_batches(
            &v.p.scope(),
            StorePage {
                limit: 200,
                offset: 0,
            },
        )
        .await)?;
    let mut page = v.page(&st, "充装批次", "/console/batches").await;
    let mut t = Table::new("batches", "", &["批次号", "介质", "创建时间"]);
    t.rows = list
        .iter()
        .map(|b| {
            vec![
                Cell::text(&b.number),
                Cell::text(b.medium.as_deref().unwrap_or("—")),
                Cell::text(local(b.created_at)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn stock(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let rows = pe(circ::stock(&st, &v.p, None).await)?;
    let mut page = v.page(&st, "库存", "/console/stock").await;
    let mut t = Table::new("stock", "各站点库存", &["站点", "类型", "重瓶", "空瓶"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                jcell(r, "site_name"),
                Cell::text(
                    r["site_kind"]
                        .as_str()
                        .and_then(cyltrace_domain::SiteKind::parse)
                        .map_or("—", cyltrace_domain::SiteKind::label_zh),
                ),
                jcell(r, "full"),
                jcell(r, "empty"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Note(
        "盘点请用手持终端逐瓶扫码；库存可在“导入导出”页导出为 Excel。".to_owned(),
    ));
    ok(page)
}

async fn transport(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let list = |kind: &str| BizFilter {
        kind: kind.to_owned(),
        scope: Some(v.p.scope()),
        limit: 500,
        ..Default::default()
    };
    let vehicles = se(st.store.list_biz(&list(circ::VEHICLE)).await)?;
    let vehicles: Vec<Value> = vehicles
        .iter()
        .filter_map(|r| circ::vehicle_view(r, today).ok())
        .collect();
    let waybills = se(st.store.list_biz(&list(circ::WAYBILL)).await)?;
    let waybills: Vec<Value> = waybills.iter().map(circ::waybill_view).collect();
    let positions = pe(circ::latest_positions(&st, &v.p).await)?;
    let site_names: HashMap<String, String> = se(st
        .store
        .list_sites(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?
    .into_iter()
    .map(|s| (s.id.to_string(), s.name))
    .collect();
    let mut page = v.page(&st, "车辆与运单", "/console/transport").await;
    let mut t = Table::new(
        "vehicles",
        "危险货物运输车辆",
        &["车牌", "车型", "道路运输证", "有效期至", "有效"],
    );
    t.rows = json_rows(
        &vehicles,
        &[
            "plate",
            "vehicle_type",
            "permit_no",
            "permit_valid_until",
            "permit_valid",
        ],
    );
    page.blocks.push(Block::Table(t));
    let mut w = Table::new(
        "waybills",
        "运单",
        &["运单号", "目的地", "状态", "装车", "卸车", "开单时间"],
    );
    w.rows = waybills
        .iter()
        .map(|r| {
            let n = |k: &str| Cell::num(r[k].as_array().map_or(0, Vec::len));
            vec![
                jcell(r, "number"),
                Cell::text(
                    r["waybill"]["destination"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| {
                            r["waybill"]["destination_site_id"]
                                .as_str()
                                .and_then(|id| site_names.get(id).cloned())
                        })
                        .unwrap_or_else(|| "—".to_owned()),
                ),
                Cell::text(match r["state"].as_str().unwrap_or("") {
                    "created" => "待装车",
                    "in_transit" => "运输中",
                    "done" => "已完成",
                    _ => "—",
                }),
                n("loaded"),
                n("unloaded"),
                jtime(r, "created_at"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(w));
    let mut p = Table::new(
        "positions",
        "车辆最新位置",
        &["车牌", "时间", "纬度", "经度"],
    );
    p.rows = positions
        .iter()
        .map(|x| {
            vec![
                jcell(x, "plate"),
                jtime(x, "time"),
                jcell(x, "lat"),
                jcell(x, "lon"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(p));
    ok(page)
}

async fn customers(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let list = pe(circ::list_customers(
        &st,
        &v.p,
        &circ::ListQuery {
            limit: Some(500),
            offset: None,
            state: None,
            customer_id: None,
        },
    )
    .await)?;
    let progress = pe(circ::progress(&st, &v.p).await)?;
    let mut page = v.page(&st, "用户管理", "/console/customers").await;
    let mut pr = Table::new(
        "progress",
        "开户与实名制进度",
        &["企业", "已开户", "已实名", "未实名用户持瓶"],
    );
    pr.rows = json_rows(
        &progress,
        &[
            "org_name",
            "registered",
            "verified",
            "held_without_real_name",
        ],
    );
    page.blocks.push(Block::Table(pr));
    let mut t = Table::new(
        "customers",
        "用户（身份证号脱敏显示；完整号码须单独申请查看并留痕）",
        &["姓名", "类型", "电话", "身份证号", "实名认证"],
    );
    t.rows = list
        .iter()
        .map(|c| {
            vec![
                jcell(c, "name"),
                Cell::text(match c["kind"].as_str() {
                    Some("commercial") => "商户",
                    _ => "居民",
                }),
                jcell(c, "phone"),
                jcell(c, "id_number"),
                jcell(c, "real_name_verified"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn order_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    let view = cyltrace_domain::circulation::personal_view(&v.p.roles);
    let orders = se(st
        .store
        .list_biz(&BizFilter {
            kind: circ::ORDER.to_owned(),
            scope: Some(v.p.scope()),
            limit: 200,
            ..Default::default()
        })
        .await)?;
    let couriers: Vec<(String, String)> = se(st
        .store
        .list_users(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?
    .into_iter()
    .filter(|u| u.roles.contains(&Role::Courier))
    .map(|u| (u.id.to_string(), u.name))
    .collect();
    let customers: Vec<(String, String)> = pe(circ::list_customers(
        st,
        &v.p,
        &circ::ListQuery {
            limit: Some(500),
            offset: None,
            state: None,
            customer_id: None,
        },
    )
    .await)?
    .iter()
    .map(|c| {
        (
            c["id"].as_str().unwrap_or("").to_owned(),
            format!(
                "{} {}",
                c["name"].as_str().unwrap_or(""),
                c["phone"].as_str().unwrap_or("")
            ),
        )
    })
    .collect();
    let mut page = v.page(st, "订单与配送", "/console/orders").await;
    let mut t = Table::new(
        "orders",
        "订单",
        &["下单时间", "用户", "地址", "品种与数量", "状态", "操作"],
    );
    for r in &orders {
        let o = circ::order_view(r, view, false);
        let items = o["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        format!(
                            "{} {} × {}",
                            i["medium"].as_str().unwrap_or(""),
                            i["spec"].as_str().unwrap_or(""),
                            i["quantity"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("，")
            })
            .unwrap_or_default();
        let customer = match r.ref_id {
            Some(id) => se(st.store.get_biz(circ::CUSTOMER, id).await)?
                .map(|c| {
                    circ::customer_view(&c, view)["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        let mut row = vec![
            jtime(&o, "created_at"),
            Cell::text(customer),
            Cell::text(o["address"]["address"].as_str().unwrap_or("—")),
            Cell::text(items),
            jcell(&o, "state_zh"),
        ];
        row.push(if r.state == "created" {
            Cell::button(
                format!("/console/orders/{}/dispatch", r.id),
                "派给第一位配送员",
            )
        } else {
            Cell::text("")
        });
        t.rows.push(row);
    }
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Form(FormSpec {
        title: "电话订气：新建订单".to_owned(),
        action: "/console/orders".to_owned(),
        fields: vec![
            Field::new("customer_id", "用户", "")
                .options(customers)
                .required(),
            Field::new("quantity", "数量（瓶）", "1")
                .kind("number")
                .required(),
            Field::new("medium", "介质", "液化石油气"),
            Field::new("spec", "规格", "YSP35.5"),
            Field::new("courier", "配送员", "").options(
                std::iter::once((String::new(), "暂不派单".to_owned()))
                    .chain(couriers)
                    .collect(),
            ),
        ],
        submit: "提交订单",
    }));
    Ok(page)
}

async fn orders(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    ok(order_page(&st, &v).await?)
}

#[derive(Deserialize)]
struct OrderForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    customer_id: String,
    quantity: String,
    medium: Option<String>,
    spec: Option<String>,
    courier: Option<String>,
}

async fn create_order(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<OrderForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let qty: Value = f
        .quantity
        .trim()
        .parse::<i64>()
        .map_or_else(|_| Value::String(f.quantity.clone()), Value::from);
    let body = json!({
        "customer_id": f.customer_id.trim(), "address_index": 0, "requested_at": st.now(),
        "items": [{"medium": f.medium.unwrap_or_default().trim(), "spec": f.spec.unwrap_or_default().trim(), "quantity": qty}],
    });
    let r = pe(circ::create_order(&st, &v.p, &body).await)?;
    if let Some(c) = f.courier.filter(|c| !c.is_empty()) {
        pe(circ::dispatch_order(&st, &v.p, r.id, &json!({"courier_id": c})).await)?;
    }
    Ok(Redirect::to("/console/orders").into_response())
}

async fn dispatch_order(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let order = pe(circ::visible_record(&st, &v.p, circ::ORDER, id, "订单").await)?;
    let courier = se(st
        .store
        .list_users(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?
    .into_iter()
    .find(|u| u.roles.contains(&Role::Courier) && u.org_id == order.org_id)
    .ok_or_else(|| error_page(ApiError::invalid("courier_id", "本企业没有配送员账户")))?;
    pe(circ::dispatch_order(&st, &v.p, id, &json!({"courier_id": courier.id})).await)?;
    Ok(Redirect::to("/console/orders").into_response())
}

async fn recycling(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total) = se(st
        .store
        .list_events(&EventFilter {
            scope: Some(v.p.scope()),
            kinds: vec!["recycle"],
            code: q.code.clone().filter(|c| !c.is_empty()),
            limit: PAGE_ROWS as i64,
            offset: q.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0) * PAGE_ROWS as i64,
            ..Default::default()
        })
        .await)?;
    let mut page = v.page(&st, "回收记录", "/console/recycling").await;
    page.filter = Some(q.filter("/console/recycling"));
    let mut t = Table::new(
        "recycling",
        "空瓶回收",
        &["时间", "操作", "气瓶", "操作人", "用户", "存证序号"],
    );
    t.rows = events
        .iter()
        .map(|e| {
            let who = serde_json::to_value(&e.event.data)
                .ok()
                .and_then(|v| {
                    v.pointer("/data/customer_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .map_or("—".to_owned(), |_| "已登记用户".to_owned());
            event_row(e, who)
        })
        .collect();
    t.pager = Some(q.pager("/console/recycling", total));
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn inspections(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let apps = se(st
        .store
        .list_biz(&BizFilter {
            kind: services::inspection::INSPECTION_APP.to_owned(),
            scope: Some(v.p.scope()),
            limit: 200,
            ..Default::default()
        })
        .await)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let days = st.config.pending_inspection_days;
    let mut due = Vec::new();
    pe(
        crate::services::supervision::each_cylinder(&st, &v.p.scope(), |c| {
            use cyltrace_domain::supervision::{Due, is_active, pending_inspection};
            if is_active(&c.archive, &c.status)
                && pending_inspection(&c.status, today, days) != Due::Later
                && c.status.inspection_station.is_none()
            {
                due.push(vec![
                    Cell::link(
                        c.archive.code.as_str(),
                        format!("/console/cylinders/{}", c.archive.code.as_str()),
                    ),
                    Cell::text(
                        c.status
                            .next_check_date
                            .map_or("—".to_owned(), |d| d.to_string()),
                    ),
                    Cell::text(c.status.location_kind.label_zh()),
                ]);
            }
        })
        .await,
    )?;
    let mut page = v.page(&st, "定期检验", "/console/inspections").await;
    let mut a = Table::new(
        "applications",
        "送检申请",
        &["申请时间", "检验机构", "气瓶数", "状态"],
    );
    a.rows = apps
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                jcell(&r.body, "station_name"),
                Cell::num(r.body["codes"].as_array().map_or(0, Vec::len)),
                Cell::text(&r.state),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(a));
    let mut t = Table::new(
        "due",
        &format!(
            "{days} 天内到期或已超期、尚未送检的气瓶（{} 只）",
            due.len()
        ),
        &["气瓶", "下次检验", "位置"],
    );
    t.rows = due.into_iter().take(500).collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn imports(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let jobs = se(st
        .store
        .list_biz(&BizFilter {
            kind: services::archives::IMPORT_JOB.to_owned(),
            scope: Some(v.p.scope()),
            limit: 50,
            ..Default::default()
        })
        .await)?;
    let jobs: Vec<Value> = jobs.iter().map(services::archives::job_view).collect();
    let mut page = v.page(&st, "导入导出", "/console/imports").await;
    let mut t = Table::new(
        "imports",
        "档案导入任务",
        &[
            "开始时间",
            "格式",
            "状态",
            "总行数",
            "已导入",
            "错误数",
            "说明",
        ],
    );
    t.rows = json_rows(
        &jobs,
        &[
            "created_at",
            "format",
            "state",
            "total",
            "inserted",
            "error_count",
            "message",
        ],
    );
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Links(
        "下载".to_owned(),
        vec![
            (
                "/api/v1/cylinders/import-template?format=xlsx".to_owned(),
                "导入模板（Excel）".to_owned(),
            ),
            (
                "/api/v1/cylinders/import-template?format=csv".to_owned(),
                "导入模板（CSV）".to_owned(),
            ),
            (
                "/api/v1/cylinders/export?format=xlsx".to_owned(),
                "档案导出（Excel）".to_owned(),
            ),
            (
                "/api/v1/cylinders/export?format=generic_bottle_xlsx".to_owned(),
                "档案导出（云南省平台格式）".to_owned(),
            ),
            (
                "/api/v1/fills/export?format=xlsx".to_owned(),
                "充装记录导出（Excel）".to_owned(),
            ),
            (
                "/api/v1/stock/export?format=xlsx".to_owned(),
                "库存导出（Excel）".to_owned(),
            ),
        ],
    ));
    page.blocks.insert(
        0,
        Block::Form(FormSpec {
            title: "导入档案".to_owned(),
            action: "/console/imports".to_owned(),
            fields: vec![
                Field::new("file", "Excel（.xlsx）或 CSV 文件", "")
                    .kind("file")
                    .required(),
            ],
            submit: "上传并校验",
        }),
    );
    ok(page)
}

#[derive(Deserialize, Default)]
struct InspectionQuery {
    report: Option<String>,
}

/// 检验工作台: the station's worklist and the result form (table D.1); a result makes the report PDF.
async fn inspector_home(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<InspectionQuery>,
) -> PageResult {
    v.require_role(&[Role::Inspector])?;
    let list = pe(services::inspection::worklist(&st, &v.p).await)?;
    let mut page = v.page(&st, "检验工作台", "/inspection").await;
    page.cards = vec![Card::new("worklist", "待检气瓶", list.len())];
    if let Some(code) = q
        .report
        .filter(|c| c.len() == 10 && c.bytes().all(|b| b.is_ascii_digit()))
    {
        page.blocks.push(Block::Links(
            format!("已录入气瓶 {code} 的检验结果"),
            vec![(
                format!("/api/v1/cylinders/{code}/inspection-report"),
                "下载检验报告（PDF）".to_owned(),
            )],
        ));
    }
    let mut t = Table::new(
        "worklist",
        "待检验气瓶",
        &["气瓶", "产权单位", "送检时间", "原下次检验日期"],
    );
    t.rows = list
        .iter()
        .map(|w| {
            vec![
                jcell(w, "code"),
                jcell(w, "owner"),
                jtime(w, "sent_at"),
                jcell(w, "next_check_date"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    if !list.is_empty() {
        let today = china_date(st.now());
        let inspector = se(st.store.get_user(v.p.user_id).await)?
            .map_or_else(|| v.p.username.clone(), |u| u.name);
        let yes_no = vec![
            ("false".to_owned(), "否".to_owned()),
            ("true".to_owned(), "是".to_owned()),
        ];
        page.blocks.push(Block::Form(FormSpec {
            title: "录入检验结果".to_owned(),
            action: "/inspection/results".to_owned(),
            fields: vec![
                Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
                Field::new("code", "气瓶", "").options(
                    list.iter()
                        .filter_map(|w| w["code"].as_str())
                        .map(|c| (c.to_owned(), c.to_owned()))
                        .collect(),
                ),
                Field::new("conclusion", "检验结论", "pass").options(vec![
                    ("pass".to_owned(), "合格".to_owned()),
                    ("scrap".to_owned(), "判废".to_owned()),
                ]),
                Field::new("check_date", "检验日期", today.to_string())
                    .kind("date")
                    .required(),
                Field::new("next_check_date", "下次检验日期（合格时必填）", "").kind("date"),
                Field::new("report_no", "报告编号", "").required(),
                Field::new("inspector", "检验员", inspector).required(),
                Field::new("valve_replaced", "是否更换瓶阀", "false").options(yes_no),
                Field::new("valve_maker", "瓶阀制造单位", ""),
                Field::new("remark", "备注", ""),
            ],
            submit: "提交结果并生成报告",
        }));
    }
    ok(page)
}

#[derive(Deserialize)]
struct ResultForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    id: String,
    code: String,
    conclusion: String,
    check_date: String,
    next_check_date: Option<String>,
    report_no: String,
    inspector: String,
    valve_replaced: Option<String>,
    valve_maker: Option<String>,
    remark: Option<String>,
}

async fn inspection_result(
    State(st): State<AppState>,
    v: Viewer,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<ResultForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    v.require_role(&[Role::Inspector])?;
    let opt = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let body = json!({
        "id": f.id.trim(), "code": f.code.trim(), "conclusion": f.conclusion, "check_date": f.check_date.trim(),
        "next_check_date": opt(f.next_check_date), "report_no": f.report_no.trim(), "inspector": f.inspector.trim(),
        "valve_replaced": f.valve_replaced.as_deref() == Some("true"), "valve_maker": opt(f.valve_maker),
        "remark": opt(f.remark),
    });
    let body = match body {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    };
    let audit = super::audit_to(meta, StatusCode::SEE_OTHER).note("inspection result");
    pe(services::inspection::record_result(&st, &v.p, &body, Some(&audit)).await)?;
    let qs = serde_urlencoded::to_string([("report", f.code.trim())]).unwrap_or_default();
    Ok(super::audited(Redirect::to(&format!("/inspection?{qs}"))))
}

async fn audit(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let (rows, total) = se(st
        .store
        .list_audit(&cyltrace_store::AuditFilter {
            limit: 200,
            ..Default::default()
        })
        .await)?;
    let mut page = v.page(&st, "审计日志", "/admin/audit").await;
    let mut t = Table::new(
        "audit",
        &format!("最近 200 条（共 {total} 条）"),
        &["时间", "用户", "方法", "路径", "状态", "来源", "说明"],
    );
    t.rows = rows
        .iter()
        .map(|a| {
            vec![
                Cell::text(local(a.at)),
                Cell::text(a.username.as_deref().unwrap_or("—")),
                Cell::text(&a.method),
                Cell::text(&a.path),
                Cell::num(a.status),
                Cell::text(a.ip.as_deref().unwrap_or("—")),
                Cell::text(a.detail.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn orgs(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let list = se(st
        .store
        .list_orgs(
            &v.p.scope(),
            StorePage {
                limit: 1000,
                offset: 0,
            },
        )
        .await)?;
    let mut page = v.page(&st, "组织机构", "/admin/orgs").await;
    let mut t = Table::new(
        "orgs",
        "",
        &["名称", "类型", "行政区划", "统一社会信用代码"],
    );
    t.rows = list
        .iter()
        .map(|o| {
            vec![
                Cell::text(&o.name),
                Cell::text(o.kind.label_zh()),
                Cell::text(o.region_code.as_str()),
                Cell::text(o.credit_code.as_deref().unwrap_or("—")),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// 节点与存证: the ledger, its latest signed checkpoint and the upstream outbox.
async fn node(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let size = se(st.store.ledger_size().await)?;
    let cp = se(st.store.latest_checkpoint().await)?;
    let outbox = se(st.store.outbox_stats().await)?;
    let info = st.store.ledger();
    let mut page = v.page(&st, "节点与存证", "/admin/node").await;
    page.cards =
        vec![
            Card::new("ledger_size", "存证记录数", size),
            Card::new("outbox_pending", "待上报", outbox.pending).class(if outbox.pending > 0 {
                "warn"
            } else {
                "good"
            }),
            Card::new("outbox_sent", "已上报", outbox.sent),
            Card::new("outbox_refused", "被上级拒收", outbox.refused)
                .class(if outbox.refused > 0 { "bad" } else { "" }),
        ];
    page.blocks.push(Block::Facts(
        "存证账本".to_owned(),
        vec![
            ("账本名称".to_owned(), info.origin.clone()),
            ("哈希算法".to_owned(), info.hash.to_string()),
            ("存储".to_owned(), st.store.backend().to_owned()),
            (
                "最新签名检查点".to_owned(),
                cp.as_ref().map_or("尚未签名".to_owned(), |c| {
                    format!("{} 条，{}", c.size, local(c.time))
                }),
            ),
            (
                "SM2 公钥".to_owned(),
                cp.as_ref()
                    .map_or(String::new(), |c| hex::encode(&c.public_key)),
            ),
            (
                "最早待上报".to_owned(),
                outbox.oldest_pending.map_or("—".to_owned(), local),
            ),
            (
                "上级平台".to_owned(),
                st.config
                    .upstream_url
                    .clone()
                    .unwrap_or_else(|| "未配置".to_owned()),
            ),
        ],
    ));
    page.blocks.push(Block::Links(
        "校验".to_owned(),
        vec![
            (
                "/api/v1/ledger/checkpoint".to_owned(),
                "检查点（JSON）".to_owned(),
            ),
            ("/metrics".to_owned(), "运行指标（Prometheus）".to_owned()),
        ],
    ));
    ok(page)
}

/// Upload of an archive file from the console: the same import job as `POST /api/v1/cylinders/import`.
async fn upload_import(
    State(st): State<AppState>,
    v: Viewer,
    mut form: axum::extract::Multipart,
) -> PageResult {
    enterprise(&v)?;
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| error_page(ApiError::BadRequest(format!("上传内容无法读取：{e}"))))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_lowercase();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| error_page(ApiError::BadRequest(format!("文件无法读取：{e}"))))?;
                let format = if name.ends_with(".csv") {
                    Some("csv")
                } else if name.ends_with(".xlsx") {
                    Some("xlsx")
                } else {
                    None
                };
                file = Some((format, bytes));
            }
            _ => {}
        }
    }
    v.check_csrf(csrf.as_deref())?;
    let (format, bytes) = file
        .filter(|(_, b)| !b.is_empty())
        .ok_or_else(|| error_page(ApiError::invalid("file", "请选择要导入的文件")))?;
    let job = pe(services::archives::start_import(&st, &v.p, format, None, bytes).await)?;
    Ok(Redirect::to(&format!("/console/imports/{}", job.id)).into_response())
}

/// One import job: its progress (the page reloads itself until the job ends) and row errors.
async fn import_job(State(st): State<AppState>, v: Viewer, Path(id): Path<String>) -> PageResult {
    enterprise(&v)?;
    let job = pe(services::archives::get_import(&st, &v.p, &id).await)?;
    let state = job["state"].as_str().unwrap_or("");
    let mut page = v.page(&st, "档案导入任务", "/console/imports").await;
    let running = matches!(state, "validating" | "importing");
    if running {
        page.chrome.refresh = 2;
    }
    page.intro = match state {
        "validating" => "正在逐行校验……".to_owned(),
        "importing" => "校验通过，正在写入……".to_owned(),
        "done" => "导入完成。".to_owned(),
        _ => format!(
            "导入未完成，未写入任何档案。{}",
            job["message"]
                .as_str()
                .unwrap_or("请按下表修改文件后重新上传。")
        ),
    };
    let n = |k: &str| job[k].as_i64().unwrap_or(0);
    page.cards = vec![
        Card::new("total", "总行数", n("total")),
        Card::new("validated", "已校验", n("validated")),
        Card::new("inserted", "已导入", n("inserted")).class("good"),
        Card::new("errors", "错误", n("error_count")).class(if n("error_count") > 0 {
            "bad"
        } else {
            ""
        }),
    ];
    let mut t = Table::new(
        "row_errors",
        "错误明细（前 1000 条）",
        &["行", "列", "原因"],
    );
    t.rows = job["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| vec![jcell(e, "row"), jcell(e, "column"), jcell(e, "message")])
                .collect()
        })
        .unwrap_or_default();
    page.blocks.push(Block::Table(t));
    ok(page)
}
