//! `/api/v1`: the JSON API, one module per area. Handlers are thin: parse the request, call a
//! service, shape the answer (and the note for the audit record).
//!
//! The OpenAPI document is generated from the handlers: each carries a `#[utoipa::path]` (method,
//! the path as the client calls it, tag, summary, parameters, body, answers, security), and each
//! area's `router()` registers its handlers with `utoipa_axum`'s `routes!` into an
//! [`OpenApiRouter`], so that a route cannot be registered without its entry (its `.route(…)`
//! pass-through would add one without: `crates/testkit/tests/openapi.rs` walks the served routers
//! against the document and fails on any such route). This module builds
//! the public and the protected (bearer token or session) routers, holds the document's frame
//! ([`ApiDoc`]: info, tags, security schemes, the shared problem+json answer), and the shapes the
//! lists share. `web::documented` puts `/api/v1`, `/PS` and the operations endpoints together and
//! serves the document that construction produced at `/api/openapi.json`.
//!
//! The browser pages (`web/pages`: the consoles, the handheld shell, sign-in, the public label page,
//! the static assets) are HTML, not API: they stay on plain axum routers, outside the document
//! (UI.md describes them).

use axum::Json;
use cyltrace_domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::services;
use crate::state::AppState;
use crate::web::Problem;

pub mod accounts;
pub mod alarms;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod circulation;
pub mod cylinders;
pub mod devices;
pub mod events;
pub mod files;
pub mod filling;
pub mod inspection;
pub mod labels;
pub mod ledger;
pub mod orgs;
pub mod permissions;
pub mod ps;
pub mod registry;
pub mod supervision;
pub mod views;
pub mod workshop;

/// A router whose every route carries its OpenAPI entry.
pub type ApiRouter = OpenApiRouter<AppState>;

/// Where the API is nested.
pub const V1: &str = "/api/v1";

/// `routes!` of `/api/v1` handlers. Their `#[utoipa::path]` names the path as the client calls it
/// (`/api/v1/orgs`); the API's router is nested under `/api/v1` (with its own fallback and layers),
/// so the prefix comes off here and the nesting puts it back, in the router and in the document
/// alike.
pub fn v1(routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, mut paths, method_router) = routes;
    paths.paths = std::mem::take(&mut paths.paths)
        .into_iter()
        .map(|(path, item)| {
            let rest = path
                .strip_prefix(V1)
                .filter(|rest| rest.starts_with('/'))
                .unwrap_or_else(|| {
                    panic!("the path of an /api/v1 handler starts with {V1}/: {path}")
                });
            (rest.to_owned(), item)
        })
        .collect();
    (schemas, paths, method_router)
}

/// No token needed: sign-in, the public cylinder and label lookups.
pub fn public() -> ApiRouter {
    OpenApiRouter::new()
        .merge(auth::public_router())
        .merge(ledger::public_router())
        .merge(labels::public_router())
        .merge(devices::device_router())
}

/// Behind `require_auth` (a bearer token, or a page's session cookie with its CSRF header).
pub fn protected() -> ApiRouter {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(supervision::router())
        .merge(orgs::router())
        .merge(permissions::router())
        .merge(accounts::router())
        .merge(cylinders::router())
        .merge(events::router())
        .merge(audit::router())
        .merge(filling::router())
        .merge(files::router())
        .merge(circulation::router())
        .merge(workshop::router())
        .merge(archives::router())
        .merge(labels::router())
        .merge(inspection::router())
        .merge(registry::router())
        .merge(ledger::router())
        .merge(ps::router())
        .merge(devices::router())
        .merge(alarms::router())
}

/// An id in a path: one that does not parse names nothing that exists.
fn parse_id(s: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("{what}不存在")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

/// The bytes of a file answered or sent as it is (PDF, PNG, SVG, CSV, xlsx, a photo); the media
/// type is the answer's.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

pub(super) fn list<R, V: From<R>>(items: Vec<R>, page: cyltrace_store::Page) -> Json<ListView<V>> {
    Json(ListView {
        items: items.into_iter().map(V::from).collect(),
        limit: page.limit,
        offset: page.offset,
    })
}

/// The frame of the OpenAPI document: info, tags, the security schemes and the problem+json answer
/// every error shares. The paths come from the routers (`web::documented`).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "cyltrace API", version = "1",
        description = "cyltrace, the gas-cylinder traceability platform: the JSON API `/api/v1` (the public v1 contract), the regulator interface `/PS` (YUNNAN-API.md) and the operations endpoints. Errors of `/api/v1` are `application/problem+json` (RFC 9457); `/PS` answers with its `{\"State\",\"Value\"}` envelope."),
    components(schemas(Problem), responses(Problem)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in, the caller, the page session"),
        (name = "orgs", description = "Organisations, sites and users"),
        (name = "cylinders", description = "Cylinder archives, their events, factory documents, vehicle cylinders, registration, import and export"),
        (name = "events", description = "The event write path"),
        (name = "audit", description = "The audit log (G2)"),
        (name = "filling", description = "Filling control (table B.1) and its records"),
        (name = "ledger", description = "The transparency log: checkpoints, entries, proofs"),
        (name = "public", description = "No token: what a label shows"),
        (name = "files", description = "Photos, signatures, certificates and reports"),
        (name = "transport", description = "Vehicles, drivers and escorts, carrier documents, waybills"),
        (name = "customers", description = "Customers, real-name verification, deposits"),
        (name = "orders", description = "Orders and their delivery"),
        (name = "household checks", description = "Household safety checks and rectification"),
        (name = "stock", description = "Stock, stock-taking, recycling"),
        (name = "recycling", description = "Recycling orders (回收单) confirmed at the station"),
        (name = "devices", description = "Devices: alarm rules, notification channels, alarms"),
        (name = "workshop", description = "The station's lab tests (化验) and repairs (维修) of cylinders"),
        (name = "handheld", description = "The handheld's scan-to-act"),
        (name = "labels", description = "Label numbers, rendering and checking"),
        (name = "inspection", description = "Periodic inspection"),
        (name = "regulator", description = "The regulator's side of /PS: applications, spot checks, counts, alarms, the uplink"),
        (name = "supervision", description = "The regulator's figures"),
        (name = "PS", description = "The regulator interface of YUNNAN-API.md: capitalised JSON, `ticket` or `token`, the `{\"State\",\"Value\"}` envelope"),
        (name = "devices", description = "Devices: types (thing models), the registry, service calls, readings, the up kinds over HTTP"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// `bearer` for `/api/v1` (`Authorization: Bearer <token>`, or a page's session cookie with its
/// CSRF header); `ps_ticket` for `/PS` (the `ticket` — or `token` — query parameter).
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "ps_ticket",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "ticket",
                "The ticket of POST /PS/Auth/Login; `token` is accepted as the same parameter",
            ))),
        );
        components.add_security_scheme(
            "device",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Device <id>:<secret>`: a device's id and the secret issued when it was registered",
            ))),
        );
    }
}
