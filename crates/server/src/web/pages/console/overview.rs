//! The enterprise overview (企业总览): the enterprise's figures today and this month.

use axum::extract::State;
use cyltrace_domain::time::china_date;

use super::enterprise;
use crate::services::overview;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Card, PageResult, ok, pe};

/// 企业总览: the enterprise's figures today and this month.
pub(super) async fn overview(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let o = pe(overview::enterprise(&st, &v.p).await)?;
    let mut page = v.page(&st, "企业总览", "/console").await;
    page.intro = format!("数据范围：本企业；本月 = {} 起", china_date(o.month_from));
    let g = |k: &str| o.verdict(k);
    page.cards = vec![
        Card::new("cylinders", "在册气瓶", o.total).link("/console/cylinders"),
        Card::new("ok", "可以使用", g("ok")).class("good"),
        Card::new("overdue", "超期未检", g("overdue"))
            .class("warn")
            .link("/console/cylinders?verdict=overdue"),
        Card::new("expired", "超过使用年限", g("expired")).class("bad"),
        Card::new("scrapped", "已报废", g("scrapped")).class("bad"),
        Card::new("at_customers", "在用户处", o.at_customers),
        Card::new("fills", "本月充装", o.fills).link("/console/fills"),
        Card::new("refusals", "本月拒绝充装", o.refused)
            .class("warn")
            .link("/console/refusals"),
        Card::new("illegal", "本月非法标签", o.illegal)
            .class("bad")
            .link("/console/refusals"),
        Card::new("full_stock", "重瓶库存", o.full).link("/console/stock"),
        Card::new("empty_stock", "空瓶库存", o.empty).link("/console/stock"),
        Card::new("orders_new", "待派送订单", o.orders_created).link("/console/orders"),
        Card::new("orders_dispatched", "配送中订单", o.orders_dispatched).link("/console/orders"),
        Card::new("rectifications", "待整改隐患", o.rectifications).class("warn"),
    ];
    page.blocks
        .extend(super::masterdata::licence_reminders(&st, &v).await?);
    ok(page)
}
