//! `/api/v1` archive import and export (A6): the import template, import jobs and their progress,
//! exports of archives (template columns, Yunnan `GenericBottle`), fill records and stock. Their
//! bodies are files (CSV, xlsx, JSON), not JSON schemas.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiRouter, Binary, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::archives::{self as svc, Download, FileFormat};
use crate::services::filling::RecordQuery;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::query;
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(template)))
        .routes(v1(
            routes!(import).layer(DefaultBodyLimit::max(svc::MAX_IMPORT_BYTES))
        ))
        .routes(v1(routes!(get_import)))
        .routes(v1(routes!(export_cylinders)))
        .routes(v1(routes!(export_fills)))
        .routes(v1(routes!(export_stock)))
}

fn format_of(s: Option<&str>, default: FileFormat) -> ApiResult<FileFormat> {
    s.map_or(Ok(default), FileFormat::parse)
        .map_err(|m| ApiError::invalid("format", m))
}

fn download(d: Download) -> Response {
    (
        [
            (header::CONTENT_TYPE, d.content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", d.filename),
            ),
        ],
        d.bytes,
    )
        .into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    /// `xlsx` (the default, with a 说明 sheet) or `csv`.
    format: Option<String>,
}

/// The archive import template (`format=xlsx`, the default, or `csv`).
#[utoipa::path(get, path = "/api/v1/cylinders/import-template", tag = "cylinders",
    security(("bearer" = [])), params(FormatQuery),
    responses((status = 200, description = "The file, as an attachment", content(
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Binary = "text/csv; charset=utf-8"))), (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn template(
    p: Principal,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let format = format_of(query(q)?.format.as_deref(), FileFormat::Xlsx)?;
    Ok(download(svc::template_download(&p, format).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// `csv` or `xlsx`; told from the bytes when not given.
    format: Option<String>,
    /// The owner of the archives (default the caller's organisation).
    org_id: Option<String>,
}

/// Import archives from the CSV or xlsx file in the body (up to 256 MiB): 202 `{"job_id","state"}`.
///
/// Every row is validated and nothing is stored unless all are valid; `Location` names the job.
#[utoipa::path(post, path = "/api/v1/cylinders/import", tag = "cylinders",
    security(("bearer" = [])), params(ImportQuery),
    request_body(content = Binary, content_type = "application/octet-stream", description = "The CSV or xlsx file"),
    operation_id = "import_cylinders",
    responses((status = 202, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 413, response = Problem), (status = 422, response = Problem)))]
async fn import(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<ImportQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(format!("无法读取请求体：{}", e.body_text()))
        }
    })?;
    let size = bytes.len();
    let job = svc::start_import(&st, &p, q.format.as_deref(), q.org_id.as_deref(), bytes).await?;
    let note = format!(
        "import job {} {} {} bytes for org {}",
        job.job_id,
        json!(job.format),
        size,
        job.owner_org_id.map_or_else(String::new, |o| o.to_string())
    );
    Ok(noted(
        (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/api/v1/imports/{}", job.job_id))],
            Json(json!({"job_id": job.job_id, "state": job.state})),
        ),
        note,
    ))
}

/// An import job's state and progress, and its row errors (the first 1,000).
///
/// `state` (validating, importing, done, failed), `total`, `validated`, `inserted`,
/// `errors` `[{row, column, message}]`, `error_count`.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "cylinders", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn get_import(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(svc::get_import(&st, &p, &id).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// `xlsx` (the default), `csv`, `generic_bottle_json` or `generic_bottle_xlsx`.
    format: Option<String>,
}

/// Archives in the caller's scope: `format=csv|xlsx|generic_bottle_json|generic_bottle_xlsx`.
#[utoipa::path(get, path = "/api/v1/cylinders/export", tag = "cylinders", security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, description = "The file, as an attachment", content(
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Binary = "text/csv; charset=utf-8"),
            ([Object] = "application/json"))), (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn export_cylinders(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let d = svc::export_for(&st, &p, q.format.as_deref().unwrap_or("xlsx")).await?;
    Ok(download(d))
}

/// Splits `format` off a query string; the rest is the list view's own query.
fn split_format(uri: &axum::http::Uri) -> ApiResult<(FileFormat, axum::http::Uri)> {
    let mut format = None;
    let mut rest = Vec::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
    {
        match pair.strip_prefix("format=") {
            Some(f) => format = Some(f.to_owned()),
            None => rest.push(pair),
        }
    }
    let format = format_of(format.as_deref(), FileFormat::Xlsx)?;
    let path = if rest.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", rest.join("&"))
    };
    let uri = path
        .parse()
        .map_err(|_| ApiError::invalid("query", "查询参数无效"))?;
    Ok((format, uri))
}

/// Fill records (table C.1) with the filters of `GET /fills`, as `format=csv|xlsx`.
#[utoipa::path(get, path = "/api/v1/fills/export", tag = "cylinders", security(("bearer" = [])),
    params(("format" = Option<String>, Query, description = "`xlsx` (the default) or `csv`"), RecordQuery),
    responses((status = 200, description = "The file, as an attachment", content(
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Binary = "text/csv; charset=utf-8"))), (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn export_fills(
    State(st): State<AppState>,
    p: Principal,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let (format, rest) = split_format(&uri)?;
    let q = query(Query::<RecordQuery>::try_from_uri(&rest))?;
    Ok(download(svc::export_fills(&st, &p, q, format).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StockQuery {
    /// One site only.
    site_id: Option<Uuid>,
    /// `xlsx` (the default) or `csv`.
    format: Option<String>,
}

/// Stock per site (as `GET /stock`), as `format=csv|xlsx`.
#[utoipa::path(get, path = "/api/v1/stock/export", tag = "cylinders", security(("bearer" = [])),
    params(StockQuery),
    responses((status = 200, description = "The file, as an attachment", content(
            (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (Binary = "text/csv; charset=utf-8"))), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn export_stock(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<StockQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let format = format_of(q.format.as_deref(), FileFormat::Xlsx)?;
    Ok(download(
        svc::export_stock(&st, &p, q.site_id, format).await?,
    ))
}
