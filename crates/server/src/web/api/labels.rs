//! `/api/v1` labels (A4, A5, A7, A8): number blocks and issuance, label rendering (SVG label, QR PNG),
//! the handheld's label check, and the public label lookup that verifies the anti-counterfeit
//! signature.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::{labels as svc, public};
use crate::state::AppState;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/label-blocks", post(create_block).get(list_blocks))
        .route("/label-blocks/{id}/issue", post(issue))
        .route("/label-issues", get(list_issues))
        .route("/labels/issuance", get(issuance))
        .route("/labels/sheet", get(sheet))
        .route("/labels/verify", post(verify))
        .route("/labels/{code}", get(label))
        .route("/labels/{code}/svg", get(label_svg))
        .route("/labels/{code}/png", get(label_png))
}

/// No token: what a person scanning a label sees, with the label's signature checked.
pub fn public_router() -> Router<AppState> {
    Router::new().route("/public/labels", get(public_label))
}

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

async fn list_blocks(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::blocks(&st, &p).await?;
    Ok(Json(
        json!({"items": list.iter().map(with_id).collect::<Vec<_>>()}),
    ))
}

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

async fn list_issues(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let list = svc::issues(&st, &p).await?;
    Ok(Json(
        json!({"items": list.iter().map(with_id).collect::<Vec<_>>()}),
    ))
}

async fn issuance(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"items": svc::issuance(&st, &p).await?})))
}

/// The label's content: QR id, URL (with its signature) and the 10 digits.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PngQuery {
    /// Pixels per QR module (default 8: about 300 dpi at 0.7 mm modules).
    scale: Option<u32>,
}

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

#[derive(Deserialize)]
struct PublicQuery {
    id: String,
    s: Option<String>,
}

/// What the QR URL `…/Q?id=<16 digits>&s=<signature>` resolves to, as JSON.
async fn public_label(
    State(st): State<AppState>,
    q: Result<Query<PublicQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    Ok(Json(checked(
        svc::lookup(&st, &q.id, q.s.as_deref()).await?,
    )?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SheetQuery {
    /// Comma-separated cylinder codes.
    codes: String,
}

/// A printable A4 PDF sheet of labels.
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
