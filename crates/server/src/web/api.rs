//! `/api/v1`: the public v1 contract (Auth, Organisations/sites/users, Cylinders, Events) and the
//! audit query. Handlers are thin: parse the path, call a service, shape the answer.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cyltrace_domain::{Archive, NewOrg, NewSite, Timestamp, ValidationErrors};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::archives::Operations as ArchiveOperations;
use super::circulation::Operations;
use super::views::*;
use super::{AuditNote, JsonBody, LoginAttempt};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Problem};
use crate::services::audit::RequestMeta;
use crate::services::{self, AuditQuery, NewUserInput};
use crate::state::AppState;

pub fn public() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token))
        .merge(super::ledger::public_router())
        .merge(super::labels::public_router())
}

pub fn protected() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/session", get(super::session::whoami))
        .merge(super::supervision::api())
        .route("/orgs", post(create_org).get(list_orgs))
        .route("/orgs/{id}", get(get_org))
        .route("/sites", post(create_site).get(list_sites))
        .route("/sites/{id}", get(get_site))
        .route("/users", post(create_user).get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/cylinders", post(create_cylinders).get(list_cylinders))
        .route("/cylinders/{code}", get(get_cylinder))
        .route("/cylinders/{code}/events", get(cylinder_events))
        .route("/events", post(post_events))
        .route("/events/{id}", get(get_event))
        .route("/audit", get(audit))
        .merge(super::filling::router())
        .merge(super::circulation::router())
        .merge(super::archives::router())
        .merge(super::labels::router())
        .merge(super::inspection::router())
        .merge(super::registry::router())
        .merge(super::ledger::router())
        .merge(super::ps::api_router())
}

/// A response carrying a note for the audit record.
pub(super) fn noted(resp: impl IntoResponse, note: String) -> Response {
    let mut r = resp.into_response();
    r.extensions_mut().insert(AuditNote(note));
    r
}

fn parse_id(s: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("{what}不存在")))
}

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid("query", format!("查询参数无效：{}", e.body_text())))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub token: String,
    pub expires_at: Timestamp,
}

/// Exchange username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn token(State(st): State<AppState>, JsonBody(body): JsonBody) -> Response {
    let attempted = body
        .get("username")
        .and_then(|u| u.as_str())
        .map(|u| u.chars().take(64).collect::<String>());
    let result = services::login(&st, &body).await;
    // The audit row names the account (and so its organisation, for regulators) when it exists.
    let account = match (&result, &attempted) {
        (Ok((_, _, user)), _) => Some(Principal::from(user)),
        (Err(_), Some(name)) => match st.store.user_by_username(name.trim()).await {
            Ok(user) => user.as_ref().map(Principal::from),
            Err(e) => {
                tracing::error!(error = %e, "looking up the account of a failed login");
                None
            }
        },
        (Err(_), None) => None,
    };
    let mut resp = match result {
        Ok((token, expires_at, _)) => Json(TokenView {
            token,
            expires_at: expires_at.into(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(u) = attempted {
        resp.extensions_mut().insert(LoginAttempt(u));
    }
    if let Some(p) = account {
        resp.extensions_mut().insert(p);
    }
    resp
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])), responses((status = 200, body = UserView)))]
async fn me(State(st): State<AppState>, p: Principal) -> ApiResult<Json<UserView>> {
    Ok(Json(services::get_user(&st, &p, p.user_id).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl PageQuery {
    pub(super) fn page(self) -> ApiResult<cyltrace_store::Page> {
        let mut errs = ValidationErrors::default();
        let p = services::page(self.limit, self.offset, &mut errs);
        errs.into_result(p).map_err(ApiError::from)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ListView<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub offset: i64,
}

pub(super) fn list<R, V: From<R>>(items: Vec<R>, page: cyltrace_store::Page) -> Json<ListView<V>> {
    Json(ListView {
        items: items.into_iter().map(V::from).collect(),
        limit: page.limit,
        offset: page.offset,
    })
}

/// Create an organisation (regulator, filling enterprise, inspection station, carrier, dealer).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg, security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_org(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let org = services::create_org(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(IdView { id: org.id })),
        format!("org {} {}", org.id, org.kind.as_str()),
    ))
}

/// Organisations in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = ListView<OrgView>)))]
async fn list_orgs(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<OrgView>>> {
    let page = query(q)?.page()?;
    p.require(cyltrace_domain::access::Action::Read)?;
    Ok(list(st.store.list_orgs(&p.scope(), page).await?, page))
}

#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = OrgView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_org(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OrgView>> {
    Ok(Json(
        services::get_org(&st, &p, parse_id(&id, "机构")?)
            .await?
            .into(),
    ))
}

/// Create a site (filling station, warehouse, store, delivery station) of an organisation.
#[utoipa::path(post, path = "/api/v1/sites", tag = "orgs", request_body = NewSite, security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_site(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let site = services::create_site(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(IdView { id: site.id })),
        format!("site {} of org {}", site.id, site.org_id),
    ))
}

#[utoipa::path(get, path = "/api/v1/sites", tag = "orgs", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = ListView<SiteView>)))]
async fn list_sites(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<SiteView>>> {
    let page = query(q)?.page()?;
    p.require(cyltrace_domain::access::Action::Read)?;
    Ok(list(st.store.list_sites(&p.scope(), page).await?, page))
}

#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = SiteView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_site(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<SiteView>> {
    Ok(Json(
        services::get_site(&st, &p, parse_id(&id, "站点")?)
            .await?
            .into(),
    ))
}

/// Create a user of an organisation with roles the caller may grant.
#[utoipa::path(post, path = "/api/v1/users", tag = "orgs", request_body = NewUserInput, security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let user = services::create_user(&st, &p, &body).await?;
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    Ok(noted(
        (StatusCode::CREATED, Json(IdView { id: user.id })),
        format!(
            "user {} {} roles {}",
            user.id,
            user.username,
            roles.join(",")
        ),
    ))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "orgs", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = ListView<UserView>)))]
async fn list_users(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<UserView>>> {
    let page = query(q)?.page()?;
    p.require(cyltrace_domain::access::Action::Read)?;
    Ok(list(st.store.list_users(&p.scope(), page).await?, page))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(
        services::get_user(&st, &p, parse_id(&id, "用户")?)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CylindersBody {
    pub cylinders: Vec<Archive>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedView {
    pub created: usize,
}

/// Create cylinder archives, all or nothing.
#[utoipa::path(post, path = "/api/v1/cylinders", tag = "cylinders", request_body = CylindersBody, security(("bearer" = [])),
    responses((status = 201, body = CreatedView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_cylinders(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let n = services::create_cylinders(&st, &p, &body).await?;
    let first = body["cylinders"]
        .get(0)
        .and_then(|c| c["code"].as_str())
        .unwrap_or("")
        .to_owned();
    Ok(noted(
        (StatusCode::CREATED, Json(CreatedView { created: n })),
        format!("{n} cylinders, first {first}"),
    ))
}

#[utoipa::path(get, path = "/api/v1/cylinders", tag = "cylinders", params(PageQuery), security(("bearer" = [])), responses((status = 200, body = ListView<CylinderView>)))]
async fn list_cylinders(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<CylinderView>>> {
    let page = query(q)?.page()?;
    p.require(cyltrace_domain::access::Action::Read)?;
    Ok(list(st.store.list_cylinders(&p.scope(), page).await?, page))
}

/// A cylinder's archive and status.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}", tag = "cylinders", security(("bearer" = [])),
    responses((status = 200, body = CylinderView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_cylinder(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<CylinderView>> {
    Ok(Json(services::get_cylinder(&st, &p, &code).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct EventsView {
    pub events: Vec<EventView>,
}

/// A cylinder's events, oldest first, each with its ledger index.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}/events", tag = "cylinders", security(("bearer" = [])),
    responses((status = 200, body = EventsView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn cylinder_events(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<EventsView>> {
    let events = services::cylinder_events(&st, &p, &code).await?;
    Ok(Json(EventsView {
        events: events.into_iter().map(EventView::from).collect(),
    }))
}

/// One event of the wire form (`data` is typed per `kind`; see the contract's table).
#[derive(Deserialize, ToSchema)]
pub struct EventIn {
    pub id: Uuid,
    pub kind: cyltrace_domain::EventKind,
    pub codes: Vec<String>,
    pub time: String,
    pub site_id: Option<Uuid>,
    pub operator: Option<String>,
    pub device: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct EventsBody {
    pub events: Vec<EventIn>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedItem {
    pub id: Uuid,
    pub ledger_index: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    pub accepted: Vec<AcceptedItem>,
}

/// Record events, all or nothing; an id seen before is answered with its original ledger index.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventsBody, security(("bearer" = [])),
    responses((status = 201, body = AcceptedView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn post_events(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = super::audit_to(meta, StatusCode::CREATED);
    let appended = services::record_events(&st, &p, &body, Some(&audit)).await?;
    let accepted = appended
        .into_iter()
        .map(|a| AcceptedItem {
            id: a.id,
            ledger_index: a.ledger_index,
        })
        .collect();
    Ok(super::audited((
        StatusCode::CREATED,
        Json(AcceptedView { accepted }),
    )))
}

#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_event(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    Ok(Json(
        services::get_event(&st, &p, parse_id(&id, "事件")?)
            .await?
            .into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// G2: the audit log, newest first (node admins: all; regulators: their subtree).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn audit(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let (items, total, page) = services::list_audit(&st, &p, query(q)?).await?;
    Ok(Json(AuditPage {
        items: items.into_iter().map(AuditView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// The OpenAPI document of `/api/v1`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "cyltrace API", version = "1", description = "The public v1 contract of cyltrace, the gas-cylinder traceability platform."),
    paths(token, me, create_org, list_orgs, get_org, create_site, list_sites, get_site, create_user, list_users, get_user,
          create_cylinders, list_cylinders, get_cylinder, cylinder_events, post_events, get_event, audit,
          super::filling::fill_control, super::filling::decisions, super::filling::refusal_counts, super::filling::illegal_labels,
          super::filling::create_batch, super::filling::list_batches, super::filling::fills, super::filling::checks,
          super::filling::alarms, super::ledger::checkpoint, super::ledger::entry, super::ledger::inclusion,
          super::ledger::consistency, super::ledger::public_cylinder),
    modifiers(&BearerAuth, &Operations, &ArchiveOperations),
    tags((name = "auth"), (name = "orgs"), (name = "cylinders"), (name = "events"), (name = "audit"), (name = "filling"), (name = "ledger"), (name = "public"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
