//! `/api/v1` labels (A4, A5, A7, A8): number blocks and issuance, label rendering (SVG label, QR PNG),
//! the handheld's label check, and the public label lookup that verifies the anti-counterfeit
//! signature.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{ApiRouter, Binary, v1};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::{labels as svc, public};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(create_block, list_blocks)))
        .routes(v1(routes!(issue)))
        .routes(v1(routes!(list_issues)))
        .routes(v1(routes!(issuance)))
        .routes(v1(routes!(sheet)))
        .routes(v1(routes!(verify)))
        .routes(v1(routes!(label)))
        .routes(v1(routes!(label_svg)))
        .routes(v1(routes!(label_png)))
}

/// No token: what a person scanning a label sees, with the label's signature checked.
pub fn public_router() -> ApiRouter {
    OpenApiRouter::new().routes(v1(routes!(public_label)))
}

/// Reserve a block of label numbers for a medium: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/label-blocks", tag = "labels", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn create_block(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_block(&st, &p, &body).await?;
    Ok(noted(
        (StatusCode::CREATED, Json(json!({"id": r.id}))),
        format!("label block {}", r.key.as_deref().unwrap_or_default()),
    ))
}

fn with_id(r: &cyltrace_store::BizRecord) -> Value {
    let mut v = r.body.clone();
    v["id"] = json!(r.id);
    v["org_id"] = json!(r.org_id);
    v["created_at"] = json!(r.created_at);
    v
}

/// Label number blocks of the caller's organisations: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/label-blocks", tag = "labels", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list_blocks(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::blocks(&st, &p).await?;
    Ok(Json(
        json!({"items": list.iter().map(with_id).collect::<Vec<_>>()}),
    ))
}

/// Issue label numbers from a block: 201 `{"id","from","to","codes"}`.
#[utoipa::path(post, path = "/api/v1/label-blocks/{id}/issue", tag = "labels",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The block")), request_body = Object,
    responses((status = 201, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 422, response = Problem)))]
async fn issue(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let block = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("号段不存在".to_owned()))?;
    let (r, codes) = svc::issue(&st, &p, block, &body).await?;
    Ok(noted(
        (
            StatusCode::CREATED,
            Json(json!({"id": r.id, "from": r.body["from"], "to": r.body["to"], "codes": codes})),
        ),
        format!("labels issued {}–{}", r.body["from"], r.body["to"]),
    ))
}

/// Label issuance records: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/label-issues", tag = "labels", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn list_issues(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::issues(&st, &p).await?;
    Ok(Json(
        json!({"items": list.iter().map(with_id).collect::<Vec<_>>()}),
    ))
}

/// Issuance rate per organisation: `{"items": [...]}`.
#[utoipa::path(get, path = "/api/v1/labels/issuance", tag = "labels", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem)))]
async fn issuance(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": svc::issuance(&st, &p).await?})))
}

/// The label's content: QR id, URL (with its signature) and the 10 digits.
///
/// `{"code","qr_id","url","enterprise","medium"}`.
#[utoipa::path(get, path = "/api/v1/labels/{code}", tag = "labels", security(("bearer" = [])),
    params(("code" = String, Path, description = "The label number")),
    responses((status = 200, body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
async fn label(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    let (c, url, owner, medium) = svc::label_of(&st, &p, &code).await?;
    Ok(Json(json!({
        "code": c.archive.code, "qr_id": svc::qr_of(&st, &c).await?.digits(), "url": url,
        "enterprise": owner, "medium": medium,
    })))
}

/// A printable SVG label.
#[utoipa::path(get, path = "/api/v1/labels/{code}/svg", tag = "labels", security(("bearer" = [])),
    params(("code" = String, Path, description = "The label number")),
    responses((status = 200, body = String, content_type = "image/svg+xml; charset=utf-8"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn label_svg(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let (c, url, owner, medium) = svc::label_of(&st, &p, &code).await?;
    let svg = svc::label_svg(&url, &c.archive.code, &owner, &medium)?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PngQuery {
    /// Pixels per QR module (default 8: about 300 dpi at 0.7 mm modules).
    scale: Option<u32>,
}

/// The label's QR code as PNG.
#[utoipa::path(get, path = "/api/v1/labels/{code}/png", tag = "labels", security(("bearer" = [])),
    params(("code" = String, Path, description = "The label number"), PngQuery),
    responses((status = 200, body = Binary, content_type = "image/png"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn label_png(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    q: Result<Query<PngQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let scale = query(q)?.scale.unwrap_or(8);
    if !(1..=40).contains(&scale) {
        return Err(ApiError::invalid("scale", "应为 1–40"));
    }
    let (_, url, _, _) = svc::label_of(&st, &p, &code).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/png")],
        svc::qr_png(&url, scale)?,
    )
        .into_response())
}

/// The handheld's check of a scanned label: genuine or not, and the cylinder's verdict when genuine.
///
/// The public view of the cylinder (as `GET /api/v1/public/cylinders/{code}`) plus `label`, the check.
#[utoipa::path(post, path = "/api/v1/labels/verify", tag = "labels", security(("bearer" = [])),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn verify(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    Ok(Json(checked(svc::verify(&st, &p, &body).await?)?))
}

/// The answer of a label check: the public view of a genuine label's cylinder, and the check.
fn checked(
    (check, cylinder): (svc::LabelCheck, Option<public::PublicCylinder>),
) -> ApiResult<Value> {
    let mut v = match cylinder {
        Some(c) => serde_json::to_value(super::ledger::public_view(c))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        None => json!({"code": check.code, "verdict": "invalid_label", "verdict_zh": "标签非正品"}),
    };
    v["label"] = serde_json::to_value(&check).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(v)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PublicQuery {
    /// The 16 digits of the QR code (6-digit region, 10-digit label number).
    id: String,
    /// The label's anti-counterfeit signature.
    s: Option<String>,
}

/// What the QR URL `…/Q?id=<16 digits>&s=<signature>` resolves to, as JSON.
///
/// The public view of a genuine label's cylinder plus `label`, the signature check (no token).
#[utoipa::path(get, path = "/api/v1/public/labels", tag = "public", params(PublicQuery),
    responses((status = 200, body = Object), (status = 422, response = Problem)))]
async fn public_label(
    State(st): State<AppState>,
    q: Result<Query<PublicQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    Ok(Json(checked(
        svc::lookup(&st, &q.id, q.s.as_deref()).await?,
    )?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SheetQuery {
    /// Comma-separated cylinder codes.
    codes: String,
}

/// A printable A4 PDF sheet of labels.
#[utoipa::path(get, path = "/api/v1/labels/sheet", tag = "labels", security(("bearer" = [])),
    params(SheetQuery),
    responses((status = 200, body = Binary, content_type = "application/pdf"),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn sheet(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<SheetQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let codes: Vec<String> = query(q)?
        .codes
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let pdf = svc::sheet(&st, &p, &codes).await?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}
