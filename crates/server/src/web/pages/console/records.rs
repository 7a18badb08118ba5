//! Filling records: fills (充装记录), checks (检查记录), refusals and illegal-label attempts
//! (拒充与非法标签). Filling batches (充装批次) are `office::batches`.

use axum::extract::{Query, State};
use serde_json::Value;

use super::{RecordPageQuery, enterprise, event_row, weighing};
use crate::services;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Block, Card, Cell, PageResult, Table, local, ok, pe};

pub(super) async fn fills(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total, _) = pe(services::filling::fills(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "充装记录", "/console/fills").await;
    page.filter = Some(q.filter("/console/fills"));
    let mut t = Table::new(
        "fills",
        "",
        &["时间", "操作", "气瓶", "充装工", "称重", "存证序号"],
    );
    t.rows = events.iter().map(|e| event_row(e, weighing(e))).collect();
    t.pager = Some(q.pager("/console/fills", total));
    page.blocks.push(Block::Table(t));
    page.blocks
        .push(Block::Note("导出为 Excel：见“导入导出”页".to_owned()));
    ok(page)
}

pub(super) async fn checks(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total, _) = pe(services::filling::checks(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "检查记录", "/console/checks").await;
    page.filter = Some(q.filter("/console/checks"));
    let mut t = Table::new(
        "checks",
        "充装前 / 充装中 / 充装后检查",
        &["时间", "检查", "气瓶", "检查员", "结果", "存证序号"],
    );
    t.rows = events
        .iter()
        .map(|e| {
            let v = serde_json::to_value(&e.event.data).unwrap_or(Value::Null);
            let failed: Vec<String> = v
                .get("data")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter(|(_, b)| b.as_bool() == Some(false))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            let mut row = event_row(
                e,
                if failed.is_empty() {
                    "合格".to_owned()
                } else {
                    format!("不合格：{}", failed.join("、"))
                },
            );
            if !failed.is_empty() {
                row[4].class = "bad";
            }
            row
        })
        .collect();
    t.pager = Some(q.pager("/console/checks", total));
    page.blocks.push(Block::Table(t));
    ok(page)
}

pub(super) async fn refusals(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let mut rq = q.record_query();
    rq.allow = Some(false);
    let (decisions, total, _) = pe(services::filling::decisions(&st, &v.p, &rq).await)?;
    let counts = pe(services::filling::refusal_counts(&st, &v.p, &q.record_query()).await)?;
    let illegal = pe(services::filling::illegal_label_counts(&st, &v.p, &q.record_query()).await)?;
    let mut page = v.page(&st, "拒绝充装与非法标签", "/console/refusals").await;
    page.filter = Some(q.filter("/console/refusals"));
    page.cards = counts
        .iter()
        .map(|(rule, n)| {
            Card::new("rule", &format!("{} {}", rule.id(), rule.title_zh()), n).class("warn")
        })
        .collect();
    let mut t = Table::new(
        "refusals",
        "拒绝充装记录",
        &["时间", "气瓶", "介质", "规则", "原因", "非法标签"],
    );
    t.rows =
        decisions
            .iter()
            .map(|d| {
                vec![
                    Cell::text(local(d.at)),
                    Cell::text(&d.code),
                    Cell::text(&d.medium),
                    Cell::text(
                        d.refusals
                            .iter()
                            .map(|r| r.rule.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    Cell::text(
                        d.refusals
                            .iter()
                            .map(|r| r.reason.as_str())
                            .collect::<Vec<_>>()
                            .join("；"),
                    ),
                    Cell::text(if d.illegal_label { "是" } else { "否" })
                        .class(if d.illegal_label { "bad" } else { "" }),
                ]
            })
            .collect();
    t.pager = Some(q.pager("/console/refusals", total));
    page.blocks.push(Block::Table(t));
    let mut i = Table::new("illegal", "非法标签尝试（按充装站）", &["充装站", "次数"]);
    i.rows = illegal
        .iter()
        .map(|(s, n)| vec![Cell::text(&s.name), Cell::num(n)])
        .collect();
    page.blocks.push(Block::Table(i));
    ok(page)
}
