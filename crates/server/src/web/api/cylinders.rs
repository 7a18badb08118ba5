//! `/api/v1` cylinder archives: created all or nothing, listed in scope, one with its status, and its
//! events.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use cyltrace_domain::Archive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{CylinderView, EventView};
use super::{ApiRouter, ListView, PageQuery, list, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services;
use crate::services::audit::RequestMeta;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::{audit_to, audited, noted};

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(create_cylinders, list_cylinders)))
        .routes(v1(routes!(get_cylinder, change_cylinder)))
        .routes(v1(routes!(cylinder_events)))
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
#[utoipa::path(post, path = "/api/v1/cylinders", tag = "cylinders", request_body = CylindersBody,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
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

/// Cylinders in the caller's data scope.
#[utoipa::path(get, path = "/api/v1/cylinders", tag = "cylinders", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<CylinderView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_cylinders(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<CylinderView>>> {
    let page = query(q)?.page()?;
    Ok(list(
        services::cylinders::list_cylinders(&st, &p, page).await?,
        page,
    ))
}

/// A cylinder's archive and status.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}", tag = "cylinders",
    params(("code" = String, Path, description = "The label number")),
    security(("bearer" = [])),
    responses((status = 200, body = CylinderView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn get_cylinder(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<CylinderView>> {
    Ok(Json(services::get_cylinder(&st, &p, &code).await?.into()))
}

/// Correct a cylinder's archive, or lock / unlock it (A10).
///
/// Recorded as an `archive_change` event in the ledger with every changed field's old and new
/// value and the reason.
#[utoipa::path(patch, path = "/api/v1/cylinders/{code}", tag = "cylinders",
    params(("code" = String, Path, description = "The label number")),
    request_body = services::cylinders::ArchivePatch,
    security(("bearer" = [])),
    responses((status = 200, body = CylinderView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn change_cylinder(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::OK);
    let c = services::cylinders::change_archive(&st, &p, &code, &body, Some(&audit)).await?;
    Ok(audited(Json(CylinderView::from(c))))
}

#[derive(Serialize, ToSchema)]
pub struct EventsView {
    pub events: Vec<EventView>,
}

/// A cylinder's events, oldest first, each with its ledger index.
#[utoipa::path(get, path = "/api/v1/cylinders/{code}/events", tag = "cylinders",
    params(("code" = String, Path, description = "The label number")),
    security(("bearer" = [])),
    responses((status = 200, body = EventsView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
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
