//! The enterprise console's overview (企业总览): the enterprise's cylinders by verdict and place, and
//! this month's fills, refusals, illegal labels, stock, open orders and rectifications, counted in the
//! caller's data scope.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{LocationKind, Verdict};
use cyltrace_store::{BizFilter, DecisionFilter, EventFilter, Scope};

use super::calendar::this_month;
use super::circulation::{self as circ};
use super::supervision::each_cylinder;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// The overview's figures.
pub struct EnterpriseOverview {
    /// The first instant of this month (China calendar), the start of the month's counts.
    pub month_from: DateTime<Utc>,
    pub total: i64,
    /// Cylinders per verdict (`ok`, `overdue`, `expired`, `scrapped`, …).
    pub by_verdict: HashMap<&'static str, i64>,
    pub at_customers: i64,
    pub fills: i64,
    pub refused: i64,
    pub illegal: i64,
    pub full: i64,
    pub empty: i64,
    pub orders_created: i64,
    pub orders_dispatched: i64,
    pub rectifications: usize,
}

impl EnterpriseOverview {
    pub fn verdict(&self, v: &str) -> i64 {
        self.by_verdict.get(v).copied().unwrap_or(0)
    }
}

async fn count_events(
    st: &AppState,
    scope: &Scope,
    kinds: Vec<&'static str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<i64> {
    let (_, n) = st
        .store
        .list_events(&EventFilter {
            scope: Some(scope.clone()),
            kinds,
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(n)
}

async fn count_decisions(
    st: &AppState,
    scope: &Scope,
    allow: Option<bool>,
    illegal: Option<bool>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<i64> {
    let (_, n) = st
        .store
        .list_decisions(&DecisionFilter {
            scope: Some(scope.clone()),
            allow,
            illegal_label: illegal,
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(n)
}

/// The enterprise's figures today and this month.
pub async fn enterprise(st: &AppState, p: &Principal) -> ApiResult<EnterpriseOverview> {
    p.require(Action::Read)?;
    let scope = p.scope();
    let now = st.now();
    let today = cyltrace_domain::Date(china_date(now));
    let (from, to) = this_month(now);
    let mut by_verdict: HashMap<&'static str, i64> = HashMap::new();
    let mut total = 0i64;
    let mut at_customers = 0i64;
    each_cylinder(st, &scope, |c| {
        total += 1;
        *by_verdict
            .entry(Verdict::of(&c.archive, &c.status, today).as_str())
            .or_default() += 1;
        if c.status.location_kind == LocationKind::AtCustomer {
            at_customers += 1;
        }
    })
    .await?;
    let fills = count_events(st, &scope, vec!["fill"], from, to).await?;
    let refused = count_decisions(st, &scope, Some(false), None, from, to).await?;
    let illegal = count_decisions(st, &scope, None, Some(true), from, to).await?;
    let stock = circ::stock(st, p, None).await?;
    let full: i64 = stock.iter().map(|s| s.full).sum();
    let empty: i64 = stock.iter().map(|s| s.empty).sum();
    let open_orders = st
        .store
        .count_biz(&BizFilter {
            kind: circ::ORDER.to_owned(),
            scope: Some(scope.clone()),
            ..Default::default()
        })
        .await?;
    let open = |state: &str| {
        open_orders
            .iter()
            .filter(|(s, _)| s == state)
            .map(|(_, n)| n)
            .sum::<i64>()
    };
    let reminders = circ::reminders(st, p).await?;
    Ok(EnterpriseOverview {
        month_from: from,
        total,
        by_verdict,
        at_customers,
        fills,
        refused,
        illegal,
        full,
        empty,
        orders_created: open("created"),
        orders_dispatched: open("dispatched"),
        rectifications: reminders.len(),
    })
}
