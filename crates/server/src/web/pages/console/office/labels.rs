//! 标签号段 (A4, A5): the blocks of label numbers reserved per medium, the form that reserves a new
//! block, issuing (发卡) numbers from a block, and the issuance records.

use axum::extract::{Form, Query, State};
use serde::Deserialize;

use super::{Posted, finish, object};
use crate::services::labels;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::console::enterprise;
use crate::web::pages::kit::{
    Block, Cell, Field, FormSpec, Page, PageError, PageResult, Table, jcell, local, ok, pe,
};

#[derive(Deserialize, Default)]
pub(crate) struct BlocksQuery {
    /// The issuance just made, to show its numbers.
    issued: Option<String>,
}

async fn blocks_page(st: &AppState, v: &Viewer, issued: Option<&str>) -> Result<Page, PageError> {
    enterprise(v)?;
    let blocks = pe(labels::blocks(st, &v.p).await)?;
    let issues = pe(labels::issues(st, &v.p).await)?;
    let mut page = v.page(st, "标签号段与发卡", "/console/label-blocks").await;
    page.intro = "标签号 = 5 位号段前缀 + 5 位序号；发卡从号段中按序取号并留下发卡记录。打印标签见“标签打印”。".to_owned();
    if let Some(r) = issued.and_then(|id| issues.iter().find(|r| r.id.to_string() == id)) {
        page.blocks.push(Block::Note(format!(
            "已发卡 {} 枚：{} – {}",
            r.body["count"],
            r.body["from"].as_str().unwrap_or(""),
            r.body["to"].as_str().unwrap_or("")
        )));
    }
    let mut b = Table::new(
        "label_blocks",
        "标签号段",
        &["前缀", "介质", "已发卡", "下一序号", "剩余", "状态"],
    );
    let mut choices = Vec::new();
    for r in &blocks {
        let d = pe(labels::BlockDoc::of(r))?;
        let left = 100_000u64.saturating_sub(d.next);
        choices.push((
            r.id.to_string(),
            format!("{}（{}，剩余 {left}）", d.prefix, d.medium),
        ));
        b.rows.push(vec![
            Cell::text(&d.prefix),
            Cell::text(&d.medium),
            Cell::num(d.issued),
            Cell::num(d.next),
            Cell::num(left),
            Cell::text(if r.state == "active" {
                "使用中"
            } else {
                "停用"
            }),
        ]);
    }
    if b.rows.is_empty() {
        page.blocks.push(Block::Note(
            "还没有标签号段：请先在下面为介质分配号段，再发卡。".to_owned(),
        ));
    } else {
        page.blocks.push(Block::Table(b));
        page.blocks.push(Block::Form(FormSpec {
            title: "发卡（从号段取号）".to_owned(),
            action: "/console/label-blocks/issue".to_owned(),
            fields: vec![
                Field::new("block", "号段", "").options(choices),
                Field::new("count", "数量（1–10000）", "10")
                    .kind("number")
                    .required(),
            ],
            submit: "发卡",
        }));
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "分配新号段".to_owned(),
        action: "/console/label-blocks".to_owned(),
        fields: vec![
            Field::new("prefix", "号段前缀（5 位数字）", "").required(),
            Field::new("medium", "介质", "液化石油气").required(),
        ],
        submit: "分配号段",
    }));
    let mut t = Table::new(
        "label_issues",
        "发卡记录",
        &["时间", "介质", "起始号", "截止号", "数量"],
    );
    t.rows = issues
        .iter()
        .map(|r| {
            let v = &r.body;
            vec![
                Cell::text(local(r.created_at)),
                jcell(v, "medium"),
                jcell(v, "from"),
                jcell(v, "to"),
                jcell(v, "count"),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    Ok(page)
}

pub(crate) async fn label_blocks(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<BlocksQuery>,
) -> PageResult {
    ok(blocks_page(&st, &v, q.issued.as_deref()).await?)
}

pub(crate) async fn create_block(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("prefix", f.required("prefix")),
        ("medium", f.required("medium")),
    ]);
    finish(
        labels::create_block(&st, &v.p, &body).await,
        "/console/label-blocks",
        f.sent(),
        |r| {
            (
                "/console/label-blocks".to_owned(),
                format!("label block {}", r.key.as_deref().unwrap_or_default()),
            )
        },
        |x| x,
        async || blocks_page(&st, &v, None).await,
    )
    .await
}

pub(crate) async fn issue(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let block = pe(crate::services::parse_id(f.get("block"), "号段"))?;
    let body = object(vec![("count", f.number("count"))]);
    finish(
        labels::issue(&st, &v.p, block, &body).await,
        "/console/label-blocks/issue",
        f.sent(),
        |(r, _)| {
            (
                format!("/console/label-blocks?issued={}", r.id),
                format!("labels issued {}–{}", r.body["from"], r.body["to"]),
            )
        },
        |x| x,
        async || blocks_page(&st, &v, None).await,
    )
    .await
}
