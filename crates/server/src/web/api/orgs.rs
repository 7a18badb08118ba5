//! `/api/v1` organisations, sites and users: created in the caller's data scope, read and listed in it.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cyltrace_domain::{NewOrg, NewSite, OrgChanges, SiteChanges};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{IdView, OrgView, SiteView, UserView};
use super::{ApiRouter, ListView, PageQuery, list, parse_id, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::{self, NewUserInput};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(create_org, list_orgs)))
        .routes(v1(routes!(get_org, update_org)))
        .routes(v1(routes!(create_site, list_sites)))
        .routes(v1(routes!(get_site, update_site)))
        .routes(v1(routes!(create_user, list_users)))
        .routes(v1(routes!(get_user)))
}

/// Create an organisation (regulator, filling enterprise, inspection station, carrier, dealer).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
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
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<OrgView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_orgs(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<OrgView>>> {
    let page = query(q)?.page()?;
    Ok(list(services::orgs::list_orgs(&st, &p, page).await?, page))
}

/// One organisation in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "orgs",
    params(("id" = Uuid, Path, description = "The organisation")),
    security(("bearer" = [])),
    responses((status = 200, body = OrgView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
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

/// Change an organisation: name, phone, address, credit code, licences.
///
/// Each licence replaces the one of its kind (a renewal); the next fill-control judges B1.1/B1.2
/// by it.
#[utoipa::path(patch, path = "/api/v1/orgs/{id}", tag = "orgs", request_body = OrgChanges,
    params(("id" = Uuid, Path, description = "The organisation")),
    security(("bearer" = [])),
    responses((status = 200, body = OrgView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update_org(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let c = services::orgs::update_org(&st, &p, parse_id(&id, "机构")?, &body).await?;
    Ok(noted(Json(OrgView::from(c.record)), c.note))
}

/// Create a site (filling station, warehouse, store, delivery station) of an organisation.
#[utoipa::path(post, path = "/api/v1/sites", tag = "orgs", request_body = NewSite,
    security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 422, response = Problem)))]
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

/// Sites of the organisations in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/sites", tag = "orgs", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<SiteView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_sites(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<SiteView>>> {
    let page = query(q)?.page()?;
    Ok(list(services::orgs::list_sites(&st, &p, page).await?, page))
}

/// One site in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "orgs",
    params(("id" = Uuid, Path, description = "The site")),
    security(("bearer" = [])),
    responses((status = 200, body = SiteView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
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

/// Change a site; `active: false` closes it.
///
/// Fill-control, events and scans then refuse it naming `site_id`; its history stays.
#[utoipa::path(patch, path = "/api/v1/sites/{id}", tag = "orgs", request_body = SiteChanges,
    params(("id" = Uuid, Path, description = "The site")),
    security(("bearer" = [])),
    responses((status = 200, body = SiteView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update_site(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let c = services::orgs::update_site(&st, &p, parse_id(&id, "站点")?, &body).await?;
    Ok(noted(Json(SiteView::from(c.record)), c.note))
}

/// Create a user of an organisation with roles the caller may grant.
#[utoipa::path(post, path = "/api/v1/users", tag = "orgs", request_body = NewUserInput,
    security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
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

/// Users of the organisations in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/users", tag = "orgs", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<UserView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_users(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<UserView>>> {
    let page = query(q)?.page()?;
    Ok(list(services::orgs::list_users(&st, &p, page).await?, page))
}

/// One user in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "orgs",
    params(("id" = Uuid, Path, description = "The user")),
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
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
