//! The big screen (E9, 指挥大屏): a 1920 × 1080 page that reloads itself every minute.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use cyltrace_domain::supervision::Granularity;

use super::{PeriodQuery, figures, pct, regulator, summary_cards};
use crate::services::supervision as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::charts::{bar_chart, map_svg};
use crate::web::pages::kit::{Card, Chrome, PageResult, local, pe, render};

#[derive(Template)]
#[template(path = "bigscreen.html")]
struct BigScreen {
    chrome: Chrome,
    region: String,
    updated: String,
    cards: Vec<Card>,
    map: String,
    chart: String,
    enterprises: Vec<(String, String, u64, u64, String)>,
    alerts: Vec<String>,
}

pub(super) async fn bigscreen(State(st): State<AppState>, v: Viewer) -> PageResult {
    let (s, _, _) = figures(&st, &v, &PeriodQuery::default()).await?;
    let buckets = pe(svc::statistics(&st, &v.p, Granularity::Month, 6).await)?;
    let labels: Vec<String> = buckets.iter().map(|b| b.label.clone()).collect();
    let mut chrome = v.chrome(&st, "指挥大屏", "/bigscreen").await;
    chrome.refresh = 60;
    let mut alerts = Vec::new();
    for l in s.overdue_used.items.iter().take(5) {
        alerts.push(format!("超期仍在流转：{}（{}）", l.code, l.org));
    }
    for o in s.overstock.iter().take(5) {
        alerts.push(format!(
            "重瓶超量：{} {} 只（限 {}）",
            o.place, o.full, o.limit
        ));
    }
    if s.illegal_labels > 0 {
        alerts.push(format!("本月非法标签 {} 次", s.illegal_labels));
    }
    let page = BigScreen {
        region: chrome.org.clone(),
        updated: local(st.now()),
        cards: summary_cards(&s),
        map: map_svg(&s, 900, 460, true),
        chart: bar_chart(
            &labels,
            &[
                ("充装", "#4d9bff", buckets.iter().map(|b| b.fills).collect()),
                (
                    "配送",
                    "#3ccf7a",
                    buckets.iter().map(|b| b.delivered).collect(),
                ),
                (
                    "回收",
                    "#ffb13d",
                    buckets.iter().map(|b| b.recycled).collect(),
                ),
            ],
            600,
            300,
            true,
        ),
        enterprises: s
            .enterprises
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.credit_grade.to_string(),
                    e.cylinders,
                    e.fills,
                    pct(e.recycling_rate),
                )
            })
            .collect(),
        alerts,
        chrome,
    };
    regulator(&v)?;
    Ok(render(StatusCode::OK, &page))
}
