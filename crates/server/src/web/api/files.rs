//! `/api/v1/files`: photos, e-signatures, certificates and reports, stored once under their SM3 hash.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, Binary, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::files;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(upload_file)))
        .routes(v1(routes!(download_file)))
}

/// Upload a photo, signature, certificate or report (JPEG, PNG, WEBP, GIF or PDF).
///
/// Stored once under its SM3 hash: 201 `{"hash","reference","kind","size"}`.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", security(("bearer" = [])),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 413, response = Problem),
        (status = 422, response = Problem)))]
async fn upload_file(State(st): State<AppState>, p: Principal, body: Bytes) -> ApiResult<Response> {
    let f = files::upload(&st, &p, &body).await?;
    Ok(noted(
        (
            StatusCode::CREATED,
            Json(json!({"hash": f.hash, "reference": f.reference, "kind": f.kind, "size": f.size})),
        ),
        format!("file {}", f.hash),
    ))
}

/// Download a stored file (answered with its own media type).
#[utoipa::path(get, path = "/api/v1/files/{hash}", tag = "files", security(("bearer" = [])),
    params(("hash" = String, Path, description = "The SM3 hash (hex) the upload answered")),
    responses((status = 200, body = Binary, content_type = "application/octet-stream"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn download_file(
    State(st): State<AppState>,
    p: Principal,
    Path(hash): Path<String>,
) -> ApiResult<Response> {
    let (bytes, ct) = files::download(&st, &p, &hash).await?;
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}
