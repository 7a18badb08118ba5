//! `/api/v1` organisations, sites and users: created in the caller's data scope, read and listed in it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use cyltrace_domain::{NewOrg, NewSite};

use super::views::{IdView, OrgView, SiteView, UserView};
use super::{ListView, PageQuery, list, parse_id};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::{self, NewUserInput};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs", post(create_org).get(list_orgs))
        .route("/orgs/{id}", get(get_org))
        .route("/sites", post(create_site).get(list_sites))
        .route("/sites/{id}", get(get_site))
        .route("/users", post(create_user).get(list_users))
        .route("/users/{id}", get(get_user))
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
    Ok(list(services::orgs::list_orgs(&st, &p, page).await?, page))
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
    Ok(list(services::orgs::list_sites(&st, &p, page).await?, page))
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
    Ok(list(services::orgs::list_users(&st, &p, page).await?, page))
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
