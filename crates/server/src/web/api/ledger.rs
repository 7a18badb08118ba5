//! `/api/v1/ledger/…` (the contract's Ledger section) and `/api/v1/public/cylinders/{code}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use cyltrace_domain::{Date, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::{ledger, public};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::query;

pub fn public_router() -> ApiRouter {
    OpenApiRouter::new().routes(v1(routes!(public_cylinder)))
}

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(checkpoint)))
        .routes(v1(routes!(entry)))
        .routes(v1(routes!(inclusion)))
        .routes(v1(routes!(consistency)))
}

#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    pub size: u64,
    /// Hex.
    pub root: String,
    /// `sm3` or `sha256`.
    pub hash: String,
    pub time: Timestamp,
    /// Hex of the SM2 signature (ASN.1 DER) over `text`, user id 1234567812345678.
    pub signature: String,
    /// Hex of the uncompressed SEC1 public key.
    pub public_key: String,
    /// The signed C2SP checkpoint body (origin, size, base64 root, then a `time` line).
    pub text: String,
}

/// The latest signed checkpoint of this node's log.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = CheckpointView), (status = 401, response = Problem),
        (status = 404, response = Problem)))]
async fn checkpoint(State(st): State<AppState>, _p: Principal) -> ApiResult<Json<CheckpointView>> {
    let (c, hash) = ledger::latest_checkpoint(&st).await?;
    Ok(Json(CheckpointView {
        size: c.size,
        root: c.root.to_hex(),
        hash,
        time: c.time.into(),
        signature: hex::encode(&c.signature),
        public_key: hex::encode(&c.public_key),
        text: c.text,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub index: u64,
    /// Hex of the exact leaf bytes (the canonical encoding of the event).
    pub leaf: String,
    /// Hex of the leaf hash `H(0x00 ‖ leaf)`.
    pub leaf_hash: String,
    pub event_id: uuid::Uuid,
}

/// One leaf of the log: the canonical bytes of the event at `index` (within your data scope).
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}", tag = "ledger",
    params(("index" = u64, Path, description = "The leaf index")),
    security(("bearer" = [])),
    responses((status = 200, body = EntryView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn entry(
    State(st): State<AppState>,
    p: Principal,
    Path(index): Path<String>,
) -> ApiResult<Json<EntryView>> {
    let e = ledger::entry(&st, &p, &index).await?;
    Ok(Json(EntryView {
        index: e.index,
        leaf_hash: e.leaf_hash.to_hex(),
        leaf: hex::encode(e.leaf),
        event_id: e.event_id,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// Leaf index.
    pub index: u64,
    /// Tree size (at most the latest size).
    pub size: u64,
}

#[derive(Serialize, ToSchema)]
pub struct InclusionView {
    pub index: u64,
    pub size: u64,
    /// Hex hashes, RFC 9162 §2.1.3.
    pub proof: Vec<String>,
}

/// Inclusion proof of a leaf in the tree of `size` leaves.
#[utoipa::path(get, path = "/api/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery),
    security(("bearer" = [])),
    responses((status = 200, body = InclusionView), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn inclusion(
    State(st): State<AppState>,
    _p: Principal,
    q: Result<Query<InclusionQuery>, QueryRejection>,
) -> ApiResult<Json<InclusionView>> {
    let q = query(q)?;
    let proof = ledger::inclusion(&st, q.index, q.size).await?;
    Ok(Json(InclusionView {
        index: q.index,
        size: q.size,
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    pub old: u64,
    pub new: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ConsistencyView {
    pub old: u64,
    pub new: u64,
    /// Hex hashes, RFC 9162 §2.1.4.
    pub proof: Vec<String>,
}

/// Consistency proof between the trees of `old` and `new` leaves.
#[utoipa::path(get, path = "/api/v1/ledger/proof/consistency", tag = "ledger",
    params(ConsistencyQuery), security(("bearer" = [])),
    responses((status = 200, body = ConsistencyView), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn consistency(
    State(st): State<AppState>,
    _p: Principal,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> ApiResult<Json<ConsistencyView>> {
    let q = query(q)?;
    let proof = ledger::consistency(&st, q.old, q.new).await?;
    Ok(Json(ConsistencyView {
        old: q.old,
        new: q.new,
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PublicCylinderView {
    pub code: String,
    /// `ok`, `overdue`, `expired`, `scrapped`, `locked` or `invalid_label`.
    pub verdict: &'static str,
    /// The verdict as the phone page says it (可以使用 …).
    pub verdict_zh: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The owner's phone (订气、报修、咨询), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_check_date: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fill: Option<LastFillView>,
    /// The last events, newest first, names masked.
    pub trace: Vec<TraceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerMarkView>,
}

#[derive(Serialize, ToSchema)]
pub struct LastFillView {
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TraceView {
    pub time: Timestamp,
    pub kind: cyltrace_domain::EventKind,
    /// The operation in Chinese.
    pub what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    pub ledger_index: i64,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerMarkView {
    /// Every event of this cylinder is inside the latest signed checkpoint (记录已存证).
    pub covered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_time: Option<Timestamp>,
}

/// F1/F2: what anyone scanning the label sees (no authentication; personal data masked).
#[utoipa::path(get, path = "/api/v1/public/cylinders/{code}", tag = "public",
    params(("code" = String, Path, description = "The label number")),
    responses((status = 200, body = PublicCylinderView)))]
async fn public_cylinder(
    State(st): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<PublicCylinderView>> {
    Ok(Json(public_view(public::cylinder(&st, &code).await?)))
}

/// The public JSON of a cylinder.
pub(crate) fn public_view(c: public::PublicCylinder) -> PublicCylinderView {
    let mut v = PublicCylinderView {
        code: c.code,
        verdict: c.verdict.as_str(),
        verdict_zh: c.verdict.label_zh(),
        state: None,
        owner: None,
        phone: None,
        medium: None,
        next_check_date: None,
        last_fill: None,
        trace: Vec::new(),
        ledger: None,
    };
    if let Some(k) = c.known {
        v.state = Some(k.state);
        v.owner = k.owner;
        v.phone = k.phone;
        v.medium = k.medium;
        v.next_check_date = k.next_check_date;
        v.last_fill = k.last_fill.map(|f| LastFillView {
            time: f.time.into(),
            station: f.station,
        });
        v.trace = k
            .trace
            .into_iter()
            .map(|t| TraceView {
                time: t.time.into(),
                kind: t.kind,
                what: t.kind.label_zh(),
                site: t.site,
                operator: t.operator,
                ledger_index: t.ledger_index,
            })
            .collect();
        v.ledger = Some(LedgerMarkView {
            covered: k.ledger.covered,
            checkpoint_size: k.ledger.checkpoint_size,
            checkpoint_time: k.ledger.checkpoint_time.map(Into::into),
        });
    }
    v
}
