//! The enterprises' overview with licences and the credit rating (企业概况与信用评价).

use axum::extract::{Query, State};

use super::{PeriodQuery, enterprise_table, figures, period_filter};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Block, Cell, PageResult, Table, ok};

pub(super) async fn enterprises(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v
        .page(&st, "企业概况与信用评价", "/supervision/enterprises")
        .await;
    page.filter = Some(period_filter("/supervision/enterprises", &f, &t));
    page.intro = "信用分 = 100 − Σ 权重 × 次数（本期）：拒充后仍充装、迟报（记录晚于发生 24 小时以上）、超期瓶充装、投诉属实；A ≥ 90，B ≥ 75，C ≥ 60，其余 D。各项权重由平台管理员配置。".to_owned();
    page.blocks
        .extend(crate::web::pages::console::masterdata::licence_reminders(&st, &v).await?);
    page.blocks.push(Block::Table(enterprise_table(&s)));
    let mut c = Table::new(
        "credit",
        "信用评价明细",
        &[
            "企业",
            "拒充后仍充装",
            "迟报",
            "超期瓶充装",
            "投诉属实",
            "信用分",
            "等级",
        ],
    );
    c.rows = s
        .enterprises
        .iter()
        .map(|e| {
            vec![
                Cell::text(&e.name),
                Cell::num(e.credit_counts.refusals_overridden),
                Cell::num(e.credit_counts.late_uploads),
                Cell::num(e.credit_counts.overdue_filled),
                Cell::num(e.credit_counts.complaints_upheld),
                Cell::num(format!("{:.0}", e.credit_score)),
                Cell::text(e.credit_grade),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(c));
    let mut l = Table::new(
        "licences",
        "许可证",
        &["企业", "许可证号", "有效期至", "状态"],
    );
    for e in &s.enterprises {
        for (no, until, valid) in &e.licences {
            l.rows.push(vec![
                Cell::text(&e.name),
                Cell::text(no),
                Cell::text(until),
                Cell::text(if *valid { "有效" } else { "已过期" }).class(if *valid {
                    "ok"
                } else {
                    "bad"
                }),
            ]);
        }
    }
    page.blocks.push(Block::Table(l));
    ok(page)
}
