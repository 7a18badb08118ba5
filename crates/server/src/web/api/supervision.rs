//! `/api/v1/supervision`: the regulator's figures as JSON for other systems and the tests —
//! `GET /supervision?from&to` and `GET /supervision/statistics?g=month|quarter|year&n=12`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use cyltrace_domain::supervision::Granularity;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, v1};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::services::supervision as svc;
use crate::state::AppState;
use crate::web::Problem;
use crate::web::extract::query;

pub fn router() -> ApiRouter {
    OpenApiRouter::new()
        .routes(v1(routes!(figures)))
        .routes(v1(routes!(statistics)))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct PeriodQuery {
    /// First day (YYYY-MM-DD, China calendar); the period is this month when neither is given.
    from: Option<String>,
    /// Last day, inclusive (YYYY-MM-DD).
    to: Option<String>,
}

/// The regulator's figures for a period, in the caller's scope.
#[utoipa::path(get, path = "/api/v1/supervision", tag = "supervision", params(PeriodQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Object),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn figures(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<svc::Supervision>, ApiError> {
    let q = query(q)?;
    let (from, to) = svc::period(st.now(), q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(svc::compute(&st, &p, from, to).await?))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// `month` (default), `quarter` or `year`.
    g: Option<String>,
    /// How many periods back, 1–60 (default 12).
    n: Option<usize>,
}

/// The regulator's figures per month, quarter or year: `{"buckets": [...]}`.
#[utoipa::path(get, path = "/api/v1/supervision/statistics", tag = "supervision",
    params(StatsQuery), security(("bearer" = [])),
    responses((status = 200, body = Object),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn statistics(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let g = match q.g.as_deref().filter(|s| !s.is_empty()) {
        None => Granularity::Month,
        Some(s) => Granularity::parse(s)
            .ok_or_else(|| ApiError::invalid("g", "应为 month、quarter 或 year"))?,
    };
    let n = q.n.unwrap_or(12).clamp(1, 60);
    Ok(Json(
        json!({"buckets": svc::statistics(&st, &p, g, n).await?}),
    ))
}
