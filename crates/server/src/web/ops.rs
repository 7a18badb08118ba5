//! Operations endpoints: health, readiness, metrics and the OpenAPI document. They are documented
//! like the API (tag `operations`); the document served at `/api/openapi.json` is the one that
//! `web::documented` produced while registering the routes, handed to the handler as an extension.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::ApiRouter;
use crate::services;
use crate::state::AppState;

/// The OpenAPI document of the served routes, as `web::documented` collected it.
#[derive(Clone)]
pub struct OpenApiDocument(pub Arc<utoipa::openapi::OpenApi>);

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// Liveness: 200 once serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Object, example = json!({"status": "ready", "database": "sqlite"})),
        (status = 503, body = Object, example = json!({"status": "unavailable", "database": "sqlite"}))))]
async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    match services::node::readiness(&st).await {
        (Ok(()), database) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": database})),
        ),
        (Err(e), database) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": database})),
            )
        }
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
}

/// This OpenAPI 3 document: `/api/v1`, `/PS` and the operations endpoints.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, body = Object)))]
async fn openapi_json(Extension(doc): Extension<OpenApiDocument>) -> Response {
    Json(doc.0.as_ref()).into_response()
}
