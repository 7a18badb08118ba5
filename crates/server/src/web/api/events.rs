//! `/api/v1/events`: record a batch of events (all or nothing, idempotent by id), and read one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::views::EventView;
use super::{ApiRouter, parse_id, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services;
use crate::services::audit::RequestMeta;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::JsonBody;
use crate::web::middleware::{audit_to, audited};

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(post_events)))
        .routes(v1(routes!(get_event)))
}

/// One event of the wire form (`data` is typed per `kind`; see the contract's table).
#[derive(Deserialize, ToSchema)]
pub struct EventIn {
    pub id: Uuid,
    pub kind: cyltrace_domain::EventKind,
    pub codes: Vec<String>,
    pub time: String,
    pub site_id: Option<Uuid>,
    pub operator: Option<String>,
    pub device: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct EventsBody {
    pub events: Vec<EventIn>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedItem {
    pub id: Uuid,
    pub ledger_index: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedView {
    pub accepted: Vec<AcceptedItem>,
}

/// Record events, all or nothing; an id seen before is answered with its original ledger index.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventsBody,
    security(("bearer" = [])),
    responses((status = 201, body = AcceptedView), (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn post_events(
    State(st): State<AppState>,
    p: Principal,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = audit_to(meta, StatusCode::CREATED);
    let appended = services::record_events(&st, &p, &body, Some(&audit)).await?;
    let accepted = appended
        .into_iter()
        .map(|a| AcceptedItem {
            id: a.id,
            ledger_index: a.ledger_index,
        })
        .collect();
    Ok(audited((
        StatusCode::CREATED,
        Json(AcceptedView { accepted }),
    )))
}

/// One event with its ledger index.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "The event id")),
    security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn get_event(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<EventView>> {
    Ok(Json(
        services::get_event(&st, &p, parse_id(&id, "事件")?)
            .await?
            .into(),
    ))
}
