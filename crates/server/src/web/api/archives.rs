//! `/api/v1` archive import and export (A6): the import template, import jobs and their progress,
//! exports of archives (template columns, Yunnan `GenericBottle`), fill records and stock.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::archives::{self as svc, Download, FileFormat};
use crate::services::filling::RecordQuery;
use crate::state::AppState;
use crate::web::extract::query;
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cylinders/import-template", get(template))
        .route(
            "/cylinders/import",
            post(import).layer(DefaultBodyLimit::max(svc::MAX_IMPORT_BYTES)),
        )
        .route("/imports/{id}", get(get_import))
        .route("/cylinders/export", get(export_cylinders))
        .route("/fills/export", get(export_fills))
        .route("/stock/export", get(export_stock))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    format: Option<String>,
}

/// The import template (`format=xlsx`, the default, or `csv`).
async fn template(
    p: Principal,
    q: Result<Query<FormatQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let format = format_of(query(q)?.format.as_deref(), FileFormat::Xlsx)?;
    Ok(download(svc::template_download(&p, format).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    format: Option<String>,
    org_id: Option<String>,
}

/// Starts an import of the file in the body (raw bytes, up to 256 MiB): 202 `{"job_id"}`.
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
async fn get_import(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(svc::get_import(&st, &p, &id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

/// Archives in the caller's scope: `format=csv|xlsx|generic_bottle_json|generic_bottle_xlsx`.
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
async fn export_fills(
    State(st): State<AppState>,
    p: Principal,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Response> {
    let (format, rest) = split_format(&uri)?;
    let q = query(Query::<RecordQuery>::try_from_uri(&rest))?;
    Ok(download(svc::export_fills(&st, &p, q, format).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockQuery {
    site_id: Option<Uuid>,
    format: Option<String>,
}

/// Stock per site (as `GET /stock`), as `format=csv|xlsx`.
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

/// The OpenAPI entries of these endpoints (their bodies are files, not JSON schemas).
pub struct Operations;

const OPERATIONS: &[(&str, &str, &str, &[&str])] = &[
    (
        "get",
        "/api/v1/cylinders/import-template",
        "The archive import template (format=xlsx, the default, or csv; xlsx with a 说明 sheet)",
        &["format"],
    ),
    (
        "post",
        "/api/v1/cylinders/import",
        "Import archives from the CSV or xlsx file in the body (up to 256 MiB): 202 {job_id}; every row is validated and nothing is stored unless all are valid",
        &["format", "org_id"],
    ),
    (
        "get",
        "/api/v1/imports/{id}",
        "An import job: state (validating, importing, done, failed), total, validated, inserted, errors [{row, column, message}] (first 1,000), error_count",
        &[],
    ),
    (
        "get",
        "/api/v1/cylinders/export",
        "Archives in scope: format=csv, xlsx, generic_bottle_json or generic_bottle_xlsx (Yunnan GenericBottle names)",
        &["format"],
    ),
    (
        "get",
        "/api/v1/fills/export",
        "Fill records (table C.1) with the filters of GET /fills, as format=csv or xlsx",
        &["format"],
    ),
    (
        "get",
        "/api/v1/stock/export",
        "Stock per site (as GET /stock), as format=csv or xlsx",
        &["format", "site_id"],
    ),
];

impl utoipa::Modify for Operations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ObjectBuilder, Required, ResponseBuilder, Type};
        for (method, path, summary, params) in OPERATIONS {
            let method = if *method == "get" {
                HttpMethod::Get
            } else {
                HttpMethod::Post
            };
            let mut op = OperationBuilder::new()
                .summary(Some(*summary))
                .tag("cylinders")
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .response(
                    "200",
                    ResponseBuilder::new().description("OK (202 for an import)"),
                )
                .response(
                    "422",
                    ResponseBuilder::new().description("Invalid: problem+json naming the field"),
                );
            let string = || Some(ObjectBuilder::new().schema_type(Type::String));
            if path.ends_with("{id}") {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name("id")
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(string()),
                );
            }
            for name in *params {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(*name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(string()),
                );
            }
            openapi
                .paths
                .add_path_operation(*path, vec![method], op.build());
        }
    }
}
