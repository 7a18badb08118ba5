//! `/api/v1`: the JSON API, one module per area. Handlers are thin: parse the request, call a
//! service, shape the answer (and the note for the audit record). This module builds the public and
//! the protected (bearer token or session) routers, holds the shapes the lists share, and the
//! OpenAPI document of `/api/v1`.

use axum::Json;
use axum::Router;
use cyltrace_domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use archives::Operations as ArchiveOperations;
use circulation::Operations as CirculationOperations;

use crate::error::{ApiError, ApiResult};
use crate::services;
use crate::state::AppState;

pub mod archives;
pub mod audit;
pub mod auth;
pub mod circulation;
pub mod cylinders;
pub mod events;
pub mod files;
pub mod filling;
pub mod inspection;
pub mod labels;
pub mod ledger;
pub mod orgs;
pub mod ps;
pub mod registry;
pub mod supervision;
pub mod views;

/// No token needed: sign-in, the public cylinder and label lookups.
pub fn public() -> Router<AppState> {
    Router::new()
        .merge(auth::public_router())
        .merge(ledger::public_router())
        .merge(labels::public_router())
}

/// Behind `require_auth` (a bearer token, or a page's session cookie with its CSRF header).
pub fn protected() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(supervision::router())
        .merge(orgs::router())
        .merge(cylinders::router())
        .merge(events::router())
        .merge(audit::router())
        .merge(filling::router())
        .merge(files::router())
        .merge(circulation::router())
        .merge(archives::router())
        .merge(labels::router())
        .merge(inspection::router())
        .merge(registry::router())
        .merge(ledger::router())
        .merge(ps::router())
}

/// An id in a path: one that does not parse names nothing that exists.
fn parse_id(s: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("{what}不存在")))
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

/// The OpenAPI document of `/api/v1`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "cyltrace API", version = "1", description = "The public v1 contract of cyltrace, the gas-cylinder traceability platform."),
    paths(auth::token, auth::me, orgs::create_org, orgs::list_orgs, orgs::get_org, orgs::create_site, orgs::list_sites, orgs::get_site,
          orgs::create_user, orgs::list_users, orgs::get_user,
          cylinders::create_cylinders, cylinders::list_cylinders, cylinders::get_cylinder, cylinders::cylinder_events, events::post_events,
          events::get_event, audit::audit,
          filling::fill_control, filling::decisions, filling::refusal_counts, filling::illegal_labels,
          filling::create_batch, filling::list_batches, filling::fills, filling::checks,
          filling::alarms, ledger::checkpoint, ledger::entry, ledger::inclusion,
          ledger::consistency, ledger::public_cylinder),
    modifiers(&BearerAuth, &CirculationOperations, &ArchiveOperations),
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
