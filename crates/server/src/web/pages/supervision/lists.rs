//! The supervision lists: cylinders due for inspection or scrap, abnormal cylinders, the recycling
//! rate, account-opening progress and overstock warnings.

use axum::extract::{Query, State};

use super::{PeriodQuery, figures, lines_table, pct, period_filter, regulator};
use crate::services::circulation as circ;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Block, Card, Cell, PageResult, Table, ok, or_dash, pe};

pub(super) async fn inspection(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, _, _) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "待检钢瓶", "/supervision/inspection").await;
    page.intro = format!(
        "在用钢瓶中下次检验日期在今后 {} 天内的为待检，早于今天（或未记录）的为超期未检。",
        s.inspection_days
    );
    page.cards = vec![
        Card::new("inspection_soon", "待检", s.inspection_soon.count).class("warn"),
        Card::new("inspection_overdue", "超期未检", s.inspection_overdue.count).class("bad"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "soon",
        "待检钢瓶",
        "下次检验日期",
        &s.inspection_soon,
    )));
    page.blocks.push(Block::Table(lines_table(
        "overdue",
        "超期未检钢瓶",
        "下次检验日期",
        &s.inspection_overdue,
    )));
    ok(page)
}

pub(super) async fn scrap(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, _, _) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "待报废钢瓶", "/supervision/scrap").await;
    page.intro = format!(
        "在用钢瓶中报废日期（或制造日期加设计使用年限）在今后 {} 天内的为待报废，已过的单独列出。",
        s.scrap_days
    );
    page.cards = vec![
        Card::new("scrap_soon", "待报废", s.scrap_soon.count).class("warn"),
        Card::new("scrap_past", "超过报废期仍在用", s.scrap_past.count).class("bad"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "soon",
        "待报废钢瓶",
        "报废日期",
        &s.scrap_soon,
    )));
    page.blocks.push(Block::Table(lines_table(
        "past",
        "超过报废期仍在用",
        "报废日期",
        &s.scrap_past,
    )));
    ok(page)
}

pub(super) async fn abnormal(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "异常钢瓶", "/supervision/abnormal").await;
    page.filter = Some(period_filter("/supervision/abnormal", &f, &t));
    page.cards = vec![
        Card::new("overdue_used", "超期仍在充装/流转", s.overdue_used.count).class("bad"),
        Card::new("scrap_past", "超过报废期仍在用", s.scrap_past.count).class("bad"),
        Card::new("scrapped_scanned", "报废瓶被扫码充装", s.scrapped_scanned).class("bad"),
        Card::new("illegal_labels", "非法标签", s.illegal_labels).class("bad"),
        Card::new("circulation_gaps", "流转断档（B1.9）", s.circulation_gaps).class("warn"),
    ];
    page.blocks.push(Block::Table(lines_table(
        "overdue_used",
        "本期超期仍被充装或扫码的钢瓶",
        "下次检验日期",
        &s.overdue_used,
    )));
    let mut e = Table::new(
        "per_enterprise",
        "各企业钢瓶状态",
        &["企业", "正常", "超期", "超年限", "报废"],
    );
    e.rows = s
        .enterprises
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::num(x.ok),
                Cell::num(x.overdue),
                Cell::num(x.expired),
                Cell::num(x.scrapped),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(e));
    ok(page)
}

pub(super) async fn recycling(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PeriodQuery>,
) -> PageResult {
    let (s, f, t) = figures(&st, &v, &q).await?;
    let mut page = v.page(&st, "钢瓶回收率", "/supervision/recycling").await;
    page.intro = "回收率 = 本期回收空瓶数 ÷ 本期配送交付数。".to_owned();
    page.filter = Some(period_filter("/supervision/recycling", &f, &t));
    page.cards = vec![
        Card::new("delivered", "本期配送", s.delivered),
        Card::new("recycled", "本期回收", s.recycled),
        Card::new("recycling_rate", "回收率", pct(s.recycling_rate())),
    ];
    let mut e = Table::new(
        "recycling",
        "各企业回收率",
        &["企业", "配送", "回收", "回收率"],
    );
    e.rows = s
        .enterprises
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::num(x.delivered),
                Cell::num(x.recycled),
                Cell::text(pct(x.recycling_rate)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(e));
    ok(page)
}

pub(super) async fn progress(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(circ::progress(&st, &v.p).await)?;
    let mut page = v
        .page(&st, "开户与实名制进度", "/supervision/progress")
        .await;
    let (reg, ver, held) = circ::ProgressRow::totals(&rows);
    page.cards = vec![
        Card::new("registered", "已开户用户", reg),
        Card::new("verified", "已实名", ver).class("good"),
        Card::new("held_unverified", "未实名用户持瓶", held).class("warn"),
    ];
    let mut t = Table::new(
        "progress",
        "各企业进度",
        &["企业", "已开户", "已实名", "未实名用户持瓶"],
    );
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                or_dash(r.org_name.as_ref()),
                Cell::num(r.registered),
                Cell::num(r.verified),
                Cell::num(r.held_without_real_name),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

pub(super) async fn overstock(State(st): State<AppState>, v: Viewer) -> PageResult {
    let (s, _, _) = figures(&st, &v, &PeriodQuery::default()).await?;
    let mut page = v
        .page(&st, "重瓶超量存放预警", "/supervision/overstock")
        .await;
    page.intro = format!(
        "供应站、仓库、配送站存放重瓶超过 {} 只，或单个用户持有重瓶超过 {} 只时预警（限值由平台管理员配置）。",
        st.config.site_full_limit, st.config.customer_full_limit
    );
    let mut t = Table::new(
        "overstock",
        &format!("预警 {} 处", s.overstock.len()),
        &["地点", "类型", "企业", "重瓶数", "限值"],
    );
    t.rows = s
        .overstock
        .iter()
        .map(|o| {
            vec![
                Cell::text(&o.place),
                Cell::text(o.kind),
                Cell::text(&o.org),
                Cell::num(o.full).class("bad"),
                Cell::num(o.limit),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}
