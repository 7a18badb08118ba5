//! Stock (C1): full and empty cylinders per site in scope, and stock-taking against the records.

use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::Stocktake;
use cyltrace_domain::{CylinderCode, EventKind, SiteKind, ValidationErrors};
use cyltrace_store::BizRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{STOCKTAKE, new_record, parse, with_columns};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The stock of one site: full and empty cylinders, with the site's name and kind.
#[derive(Debug, Clone, Serialize)]
pub struct StockRow {
    pub site_id: Uuid,
    pub site_name: Option<String>,
    pub site_kind: Option<SiteKind>,
    pub org_id: Option<Uuid>,
    pub full: i64,
    pub empty: i64,
}

/// Stock per site in scope (or one site): full and empty counts, with the site's name and kind.
pub async fn stock(st: &AppState, p: &Principal, site: Option<Uuid>) -> ApiResult<Vec<StockRow>> {
    p.require(Action::Read)?;
    if let Some(s) = site {
        let rec = st
            .store
            .get_site(s)
            .await?
            .ok_or_else(|| ApiError::NotFound("站点不存在".to_owned()))?;
        p.require_scope(&rec.org_path, "该站点")?;
    }
    let rows = st.store.stock(&p.scope(), site).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = st.store.get_site(r.site_id).await?;
        out.push(StockRow {
            site_id: r.site_id,
            site_name: s.as_ref().map(|s| s.name.clone()),
            site_kind: s.as_ref().map(|s| s.kind),
            org_id: s.map(|s| s.org_id),
            full: r.full,
            empty: r.empty,
        });
    }
    Ok(out)
}

/// Compares the codes scanned in a store with the records and keeps the result.
pub async fn stocktake(
    st: &AppState,
    p: &Principal,
    site: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    p.require(Action::RecordEvent(EventKind::StoreIn))?;
    let rec = st
        .store
        .get_site(site)
        .await?
        .ok_or_else(|| ApiError::NotFound("站点不存在".to_owned()))?;
    p.require_scope(&rec.org_path, "该站点")?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scanned {
        codes: Vec<Value>,
    }
    // An empty list is a stock-take of an empty store.
    let list = parse::<Scanned>(body)?.codes;
    if list.len() > 100_000 {
        return Err(ApiError::invalid("codes", "一次最多 100000 个编码"));
    }
    let mut errs = ValidationErrors::default();
    let mut scanned = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(CylinderCode::parse) {
            Some(Ok(c)) => scanned.push(c.as_str().to_owned()),
            Some(Err(e)) => errs.push(format!("codes[{i}]"), e),
            None => errs.push(format!("codes[{i}]"), "应为气瓶编码字符串"),
        }
    }
    errs.into_result(())?;
    let expected: Vec<String> = st
        .store
        .stock_codes(site)
        .await?
        .into_iter()
        .map(|(c, _)| c.as_str().to_owned())
        .collect();
    let result = Stocktake::compare(&expected, &scanned);
    let r = new_record(
        STOCKTAKE,
        rec.org_id,
        None,
        Some(site),
        if result.missing.is_empty() && result.unexpected.is_empty() {
            "match"
        } else {
            "mismatch"
        },
        json!({"site_id": site, "by": p.user_id, "result": result}),
        st.now(),
    );
    st.store.insert_biz(&r).await?;
    Ok(r)
}

/// The cylinders in stock at a site the caller sees (`site` as the path gives it).
pub async fn stock_codes(st: &AppState, p: &Principal, site: &str) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let sid = crate::services::parse_id(site, "站点")?;
    crate::services::get_site(st, p, sid).await?;
    let codes = st.store.stock_codes(sid).await?;
    Ok(codes
        .iter()
        .map(|(c, full)| json!({"code": c.as_str(), "full": full}))
        .collect())
}

/// Stock-takes of a site the caller sees (`site` as the path gives it).
pub async fn stocktakes(st: &AppState, p: &Principal, site: &str) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let sid = crate::services::parse_id(site, "站点")?;
    crate::services::get_site(st, p, sid).await?;
    let f = cyltrace_store::BizFilter {
        kind: STOCKTAKE.to_owned(),
        ref_id: Some(sid),
        limit: 100,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(list
        .iter()
        .map(|r| with_columns(r, &["state", "created_at"]))
        .collect())
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecyclingQuery {
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Recycle events in scope, newest first (of one cylinder when `code` is given), and their number.
pub async fn recycle_events(
    st: &AppState,
    p: &Principal,
    q: RecyclingQuery,
    code: Option<String>,
) -> ApiResult<(Vec<cyltrace_store::StoredEvent>, i64)> {
    p.require(Action::Read)?;
    let mut errs = ValidationErrors::default();
    let cyltrace_store::Page { limit, offset } =
        crate::services::page(q.limit, q.offset, &mut errs);
    errs.into_result(()).map_err(ApiError::from)?;
    let f = cyltrace_store::EventFilter {
        scope: Some(p.scope()),
        kinds: vec!["recycle"],
        code,
        from: q.from,
        to: q.to,
        limit,
        offset,
        ..Default::default()
    };
    Ok(st.store.list_events(&f).await?)
}
