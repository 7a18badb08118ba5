//! `/api/v1/files`: photos, e-signatures, certificates and reports, stored once under their SM3 hash.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::files;
use crate::state::AppState;
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/files", post(upload_file))
        .route("/files/{hash}", get(download_file))
}

/// Upload a photo, signature, certificate or report (JPEG, PNG, WEBP, GIF or PDF), stored once under
/// its SM3 hash.
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

async fn download_file(
    State(st): State<AppState>,
    p: Principal,
    Path(hash): Path<String>,
) -> ApiResult<Response> {
    let (bytes, ct) = files::download(&st, &p, &hash).await?;
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}
