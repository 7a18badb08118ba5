//! `/api/v1/supervision`: the regulator's figures as JSON for other systems and the tests —
//! `GET /supervision?from&to` and `GET /supervision/statistics?g=month|quarter|year&n=12`.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cyltrace_domain::supervision::Granularity;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::services::supervision as svc;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision", get(figures))
        .route("/supervision/statistics", get(statistics))
}

#[derive(Deserialize, Default)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn figures(
    State(st): State<AppState>,
    p: Principal,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<svc::Supervision>, ApiError> {
    let (from, to) = svc::period(st.now(), q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(svc::compute(&st, &p, from, to).await?))
}

#[derive(Deserialize, Default)]
struct StatsQuery {
    g: Option<String>,
    n: Option<usize>,
}

async fn statistics(
    State(st): State<AppState>,
    p: Principal,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
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
