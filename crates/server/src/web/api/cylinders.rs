//! `/api/v1` cylinder archives: created all or nothing, listed in scope, one with its status, and its
//! events.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use cyltrace_domain::Archive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{CylinderView, EventView};
use super::{ListView, PageQuery, list};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cylinders", post(create_cylinders).get(list_cylinders))
        .route("/cylinders/{code}", get(get_cylinder))
        .route("/cylinders/{code}/events", get(cylinder_events))
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
    Ok(list(
        services::cylinders::list_cylinders(&st, &p, page).await?,
        page,
    ))
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
