//! Statistics by month, quarter or year (统计分析), with charts.

use axum::extract::{Query, State};
use cyltrace_domain::supervision::Granularity;
use serde::Deserialize;

use super::regulator;
use crate::error::ApiError;
use crate::services::supervision as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::charts::bar_chart;
use crate::web::pages::kit::{Block, Cell, Field, Filter, PageResult, Table, error_page, ok, pe};

#[derive(Deserialize, Default)]
pub(super) struct StatsQuery {
    g: Option<String>,
    /// Accepted as the API accepts it; the page shows a fixed number of periods per granularity.
    #[serde(rename = "n")]
    _n: Option<usize>,
}

pub(super) async fn statistics(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<StatsQuery>,
) -> PageResult {
    regulator(&v)?;
    let g = match q.g.as_deref().filter(|s| !s.is_empty()) {
        None => Granularity::Month,
        Some(s) => Granularity::parse(s)
            .ok_or_else(|| error_page(ApiError::invalid("g", "应为 month、quarter 或 year")))?,
    };
    let n = match g {
        Granularity::Month => 12,
        Granularity::Quarter => 8,
        Granularity::Year => 5,
    };
    let buckets = pe(svc::statistics(&st, &v.p, g, n).await)?;
    let mut page = v.page(&st, "统计分析", "/supervision/statistics").await;
    page.intro = format!("按{}统计，最近 {n} 期（中国日历）。", g.label_zh());
    page.filter = Some(Filter {
        action: "/supervision/statistics".to_owned(),
        fields: vec![Field::new("g", "周期", g_str(g)).options(vec![
            ("month".to_owned(), "按月".to_owned()),
            ("quarter".to_owned(), "按季度".to_owned()),
            ("year".to_owned(), "按年".to_owned()),
        ])],
    });
    let labels: Vec<String> = buckets.iter().map(|b| b.label.clone()).collect();
    let col = |f: fn(&svc::Bucket) -> u64| buckets.iter().map(f).collect::<Vec<_>>();
    page.blocks.push(Block::Svg(
        "充装、配送与回收".to_owned(),
        bar_chart(
            &labels,
            &[
                ("充装", "#1a5fb4", col(|b| b.fills)),
                ("配送", "#1b7f3b", col(|b| b.delivered)),
                ("回收", "#b86e00", col(|b| b.recycled)),
            ],
            1000,
            320,
            false,
        ),
    ));
    page.blocks.push(Block::Svg(
        "拒绝充装、检查不合格与定期检验".to_owned(),
        bar_chart(
            &labels,
            &[
                ("拒绝充装", "#b3261e", col(|b| b.refusals)),
                ("检查不合格", "#b86e00", col(|b| b.checks_failed)),
                ("检验合格", "#1b7f3b", col(|b| b.inspections_passed)),
                ("检验判废", "#6d4aa8", col(|b| b.inspections_scrapped)),
            ],
            1000,
            320,
            false,
        ),
    ));
    let mut t = Table::new(
        "statistics",
        "明细",
        &[
            "期间",
            "充装",
            "拒绝充装",
            "按规则",
            "检查不合格",
            "配送",
            "回收",
            "检验合格",
            "检验判废",
        ],
    );
    t.rows = buckets
        .iter()
        .map(|b| {
            vec![
                Cell::text(&b.label),
                Cell::num(b.fills),
                Cell::num(b.refusals),
                Cell::text(if b.refusals_by_rule.is_empty() {
                    "—".to_owned()
                } else {
                    b.refusals_by_rule
                        .iter()
                        .map(|(r, n)| format!("{r}：{n}"))
                        .collect::<Vec<_>>()
                        .join("，")
                }),
                Cell::num(b.checks_failed),
                Cell::num(b.delivered),
                Cell::num(b.recycled),
                Cell::num(b.inspections_passed),
                Cell::num(b.inspections_scrapped),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

fn g_str(g: Granularity) -> &'static str {
    match g {
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
        Granularity::Year => "year",
    }
}
