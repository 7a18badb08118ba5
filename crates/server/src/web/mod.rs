//! The web layer: it only parses requests, calls the services and shapes the answers; it does not
//! touch the store (but for the audit middleware writing its record). This module assembles the
//! router and its layers:
//!
//! - `api/` — `/api/v1` (JSON), one module per area, and the OpenAPI document;
//! - `pages/` — the server-rendered HTML: the page kit (`pages/kit.rs`, `pages/charts.rs`), the
//!   enterprise and inspector console (`pages/console/`), the regulator console
//!   (`pages/supervision/`), sign-in (`pages/session.rs`), the handheld app and the public label page;
//! - `ps.rs` — the `/PS` regulator interface (YUNNAN-API.md);
//! - `ops.rs` — health, readiness, metrics, the OpenAPI document;
//! - `middleware.rs` — bearer-token auth, the audit record of every write, request metrics;
//! - `extract.rs` — the shared extractors (JSON body, query, principal, page viewer);
//! - `error.rs` — errors as `application/problem+json`.

pub mod api;
mod error;
pub mod extract;
pub mod middleware;
pub mod ops;
pub mod pages;
pub mod ps;

use axum::Router;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use error::Problem;
use middleware::{audit, record_metrics, require_auth};

use crate::error::ApiError;
use crate::state::AppState;

/// The whole application.
pub fn router(st: AppState) -> Router {
    let protected = api::protected().layer(from_fn_with_state(st.clone(), require_auth));
    let v1 = Router::new()
        .merge(api::public())
        .merge(protected)
        .fallback(|| async { ApiError::NotFound("接口不存在".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(from_fn_with_state(st.clone(), audit));
    let ps = ps::router().layer(from_fn_with_state(st.clone(), audit));
    Router::new()
        .nest("/api/v1", v1)
        .merge(ps)
        .merge(ops::router())
        .merge(pages::public_label::router())
        .merge(
            pages::router()
                .layer(from_fn_with_state(st.clone(), audit))
                .layer(from_fn_with_state(st.clone(), pages::session::resolve)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            st.config.max_body_bytes,
        ))
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
