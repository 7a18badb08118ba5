//! `/api/v1/audit`: the audit log (G2), newest first, in the caller's scope.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::AuditView;
use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::{self, AuditQuery};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::query;

pub fn router() -> ApiRouter {
    OpenApiRouter::new().routes(v1(routes!(audit)))
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// G2: the audit log, newest first (node admins: all; regulators: their subtree).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn audit(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let (items, total, page) = services::list_audit(&st, &p, query(q)?).await?;
    Ok(Json(AuditPage {
        items: items.into_iter().map(AuditView::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}
