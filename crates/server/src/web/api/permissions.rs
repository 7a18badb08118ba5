//! `/api/v1` entrusted filling (B9 委托充装): a regulator permits a filling enterprise to fill another
//! owner's cylinders until a date; listed in scope and revocable.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::IdView;
use super::{ApiRouter, ListView, PageQuery, list, parse_id, v1};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::services::permissions::{self, PermissionInput, PermissionView};
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::{JsonBody, query};
use crate::web::middleware::noted;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(grant, list_permissions)))
        .routes(v1(routes!(get_permission)))
        .routes(v1(routes!(revoke)))
}

/// Permit a filling enterprise to fill an owner's cylinders until `valid_until` (B9).
///
/// Granted by a regulator of the owner's region.
#[utoipa::path(post, path = "/api/v1/filling-permissions", tag = "orgs", request_body = PermissionInput,
    security(("bearer" = [])),
    responses((status = 201, body = IdView), (status = 400, response = Problem),
        (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn grant(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let v = permissions::grant(&st, &p, &body).await?;
    let note = format!(
        "filling permission {}: owner {} filler {} until {}",
        v.id, v.owner_org_id, v.filler_org_id, v.valid_until
    );
    Ok(noted(
        (StatusCode::CREATED, Json(IdView { id: v.id })),
        note,
    ))
}

/// Permissions whose owner, filler or granting regulator is in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/filling-permissions", tag = "orgs", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ListView<PermissionView>), (status = 401, response = Problem),
        (status = 422, response = Problem)))]
async fn list_permissions(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<ListView<PermissionView>>> {
    let page = query(q)?.page()?;
    Ok(list(permissions::list(&st, &p, page).await?, page))
}

/// One permission.
#[utoipa::path(get, path = "/api/v1/filling-permissions/{id}", tag = "orgs",
    params(("id" = Uuid, Path, description = "The permission")),
    security(("bearer" = [])),
    responses((status = 200, body = PermissionView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn get_permission(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<PermissionView>> {
    Ok(Json(
        permissions::get(&st, &p, parse_id(&id, "委托充装许可")?).await?,
    ))
}

/// Revoke a permission at once.
#[utoipa::path(post, path = "/api/v1/filling-permissions/{id}/revoke", tag = "orgs",
    params(("id" = Uuid, Path, description = "The permission")),
    security(("bearer" = [])),
    responses((status = 200, body = PermissionView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
async fn revoke(
    State(st): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let v = permissions::revoke(&st, &p, parse_id(&id, "委托充装许可")?).await?;
    let note = format!("filling permission {} revoked", v.id);
    Ok(noted(Json(v), note))
}
