//! The web layer: it only parses requests, calls the services and shapes the answers; it does not
//! touch the store (but for the audit middleware writing its record). This module assembles the
//! router and its layers. `/api/v1`, `/PS` and the operations endpoints are registered with
//! `utoipa_axum` ([`documented`]): each route comes with its OpenAPI entry, and the document that
//! construction collects is the one served at `/api/openapi.json`. The pages are plain axum routers,
//! outside the document.
//!
//! - `api/` — `/api/v1` (JSON), one module per area, and the frame of the OpenAPI document;
//! - `pages/` — the server-rendered HTML: the page kit (`pages/kit.rs`, `pages/charts.rs`), the
//!   enterprise and inspector console (`pages/console/`), the regulator console
//!   (`pages/supervision/`), sign-in (`pages/session.rs`), the handheld app and the public label page;
//! - `ps/` — the `/PS` regulator interface (YUNNAN-API.md): handlers, and the envelope (`envelope.rs`);
//! - `ops.rs` — health, readiness, metrics, serving the OpenAPI document;
//! - `middleware.rs` — bearer-token auth, the audit record of every write, request metrics;
//! - `extract.rs` — the shared extractors (JSON body, query, principal, page viewer);
//! - `cookies.rs` — the cookies' names and attributes (`__Host-`, `Secure` under HTTPS);
//! - `form.rs` — query strings and form bodies as text pairs (pure; fuzzed);
//! - `error.rs` — errors as `application/problem+json`.

pub mod api;
pub mod cookies;
mod error;
pub mod extract;
mod form;
pub mod middleware;
pub mod ops;
pub mod pages;
pub mod ps;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use tower::util::option_layer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::Problem;
use middleware::{audit, readable_uri, record_metrics, require_auth};

use crate::error::ApiError;
use crate::state::AppState;

/// The whole application.
pub fn router(st: AppState) -> Router {
    let (documented, doc) = documented(&st).split_for_parts();
    let doc = ops::OpenApiDocument(Arc::new(doc));
    // G5: reached over HTTPS, browsers are told to use nothing else for a year (HSTS).
    let hsts = st.config.https().then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    Router::new()
        .merge(documented.layer(Extension(doc)))
        .merge(pages::public_label::router())
        .merge(
            pages::router()
                .layer(from_fn_with_state(st.clone(), audit))
                .layer(from_fn_with_state(st.clone(), pages::session::resolve)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            st.config.max_body_bytes,
        ))
        .layer(option_layer(hsts))
        .layer(from_fn_with_state(st.clone(), record_metrics))
        // One structured log line per request (method, path, status, latency); headers, and so tokens,
        // are not logged.
        .layer(
            TraceLayer::new_for_http()
                // The path only: `/PS` callers put their ticket and data in the query string.
                .make_span_with(|req: &Request| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(st)
}

/// `/api/v1` (nested, with its problem+json fallbacks, bearer-token auth on all but the public
/// routes, and the audit layer), `/PS` (audited, with its envelope fallback) and the operations
/// endpoints, every route registered together with its OpenAPI entry. `split_for_parts` gives the
/// router and the document that describes exactly it.
pub fn documented(st: &AppState) -> OpenApiRouter<AppState> {
    let protected = api::protected().layer(from_fn_with_state(st.clone(), require_auth));
    let (v1, v1_doc) = OpenApiRouter::new()
        .merge(api::public())
        .merge(protected)
        .split_for_parts();
    let v1 = v1
        .fallback(|| async { ApiError::NotFound("接口不存在".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(readable_uri))
        .layer(from_fn_with_state(st.clone(), audit));
    let ps = ps::router()
        .layer(axum::middleware::from_fn(ps::enveloped))
        .layer(from_fn_with_state(st.clone(), audit));
    let mut documented = OpenApiRouter::with_openapi(api::ApiDoc::openapi())
        .nest(api::V1, with_doc(v1, v1_doc))
        .merge(ps)
        .merge(ops::router());
    shared_answers(documented.get_openapi_mut());
    documented
}

/// The answers the shared layers give before any handler runs, added to every operation whose own
/// entry does not list them: an `/api/v1` URI with a query parameter or path segment that no text
/// can hold (`readable_uri`: 422 problem+json), and a `/PS` one (`ps::enveloped`: 400, the envelope
/// with `State` 1). Any operation can be sent such a URI, so every one can answer so.
fn shared_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let ps_malformed: RefOr<utoipa::openapi::Response> = ResponseBuilder::new()
        .description(
            "A query parameter that is not UTF-8 or holds NUL (or a body that is not what the call \
             takes): `State` 1 with the reason",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("PsEnvelope")))
                .build(),
        )
        .build()
        .into();
    for (path, item) in doc.paths.paths.iter_mut() {
        let (status, answer) = if path.starts_with("/api/v1/") {
            ("422", RefOr::Ref(Ref::from_response_name("Problem")))
        } else if path.starts_with("/PS/") {
            ("400", ps_malformed.clone())
        } else {
            continue;
        };
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| answer.clone());
        }
    }
}

/// An axum router and the document of its routes, back together (after axum-only settings such as
/// `method_not_allowed_fallback`, which `OpenApiRouter` does not pass through).
fn with_doc(router: Router<AppState>, doc: utoipa::openapi::OpenApi) -> OpenApiRouter<AppState> {
    let mut r = OpenApiRouter::from(router);
    *r.get_openapi_mut() = doc;
    r
}
