//! Complaints from the public (E5, F3), messages to enterprises and the enterprises' inbox (E6),
//! safety articles (E7) and the household check items (E8).

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::regulator;
use crate::error::ApiError;
use crate::services::circulation as circ;
use crate::services::notices as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{
    Block, Cell, CsrfOnly, Field, FormSpec, PageResult, Table, error_page, local, ok, pe,
};
use cyltrace_domain::Role;

pub(super) async fn complaints(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(svc::complaints(&st, &v.p).await)?;
    let mut page = v.page(&st, "投诉建议", "/supervision/complaints").await;
    page.intro = "群众在气瓶二维码页面提交的投诉和建议（电话已脱敏）；核实后标记属实或不属实，属实的计入企业信用评价。".to_owned();
    let mut t = Table::new(
        "complaints",
        "",
        &["时间", "气瓶", "企业", "内容", "联系电话", "状态", "处理"],
    );
    for r in &rows {
        let mut row = vec![
            Cell::text(local(r.created_at)),
            Cell::text(&r.code),
            Cell::text(&r.org),
            Cell::text(&r.content),
            Cell::text(&r.phone),
            Cell::text(svc::complaint_state_zh(&r.state)),
        ];
        row.push(if r.state == "open" {
            Cell::button(
                format!("/supervision/complaints/{}?verdict=upheld", r.id),
                "属实",
            )
        } else {
            Cell::text(&r.reply)
        });
        t.rows.push(row);
        if r.state == "open" {
            t.rows.push(vec![
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::text(""),
                Cell::button(
                    format!("/supervision/complaints/{}?verdict=rejected", r.id),
                    "不属实",
                ),
            ]);
        }
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
pub(super) struct VerdictQuery {
    verdict: String,
}

pub(super) async fn answer_complaint(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<VerdictQuery>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    pe(svc::answer_complaint(&st, &v.p, id, &q.verdict).await)?;
    Ok(Redirect::to("/supervision/complaints").into_response())
}

pub(super) async fn messages(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(svc::sent_messages(&st, &v.p).await)?;
    let mut page = v.page(&st, "通知消息", "/supervision/messages").await;
    let mut t = Table::new(
        "messages",
        "已发送",
        &["时间", "接收企业", "标题", "内容", "签收"],
    );
    for r in &rows {
        t.rows.push(vec![
            Cell::text(local(r.created_at)),
            Cell::text(&r.org),
            Cell::text(&r.title),
            Cell::text(&r.content),
            Cell::text(if r.acknowledged {
                "已签收"
            } else {
                "未签收"
            }),
        ]);
    }
    let recipients = pe(svc::message_recipients(&st, &v.p).await)?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    page.blocks.push(Block::Form(FormSpec {
        title: "发送通知".to_owned(),
        action: "/supervision/messages".to_owned(),
        fields: vec![
            Field::new("org_id", "接收企业", "").options(recipients),
            Field::new("title", "标题", "").required(),
            Field::new("content", "内容", "")
                .kind("textarea")
                .required(),
        ],
        submit: "发送",
    }));
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
pub(super) struct MessageForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    org_id: String,
    title: String,
    content: String,
}

pub(super) async fn send_message(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<MessageForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    pe(svc::send_message(&st, &v.p, &f.org_id, &f.title, &f.content).await)?;
    Ok(Redirect::to("/supervision/messages").into_response())
}

/// The enterprise's inbox of regulator messages, with sign-off (签收).
pub(super) async fn inbox(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::EnterpriseAdmin])?;
    let rows = pe(svc::inbox(&st, &v.p).await)?;
    let mut page = v.page(&st, "监管通知", "/console/messages").await;
    let mut t = Table::new("inbox", "", &["时间", "标题", "内容", "签收"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                Cell::text(&r.title),
                Cell::text(&r.content),
                if r.acknowledged {
                    Cell::text(format!("已签收 {}", r.acknowledged_at))
                } else {
                    Cell::button(format!("/console/messages/{}/ack", r.id), "签收")
                },
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

pub(super) async fn ack_message(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    v.require_role(&[Role::EnterpriseAdmin])?;
    pe(svc::ack_message(&st, &v.p, id).await)?;
    Ok(Redirect::to("/console/messages").into_response())
}

pub(super) async fn articles(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(svc::articles(&st, &v.p).await)?;
    let mut page = v.page(&st, "安全宣传", "/supervision/articles").await;
    page.intro = "发布的文章在公众页面 /articles 展示，并链接自每个气瓶二维码页面。".to_owned();
    page.blocks.push(Block::Form(FormSpec {
        title: "发布文章".to_owned(),
        action: "/supervision/articles".to_owned(),
        fields: vec![
            Field::new("title", "标题", "").required(),
            Field::new("content", "正文", "")
                .kind("textarea")
                .required(),
        ],
        submit: "发布",
    }));
    let mut t = Table::new("articles", "已发布", &["时间", "标题"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                Cell::link(&r.title, format!("/articles/{}", r.id)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

#[derive(Deserialize)]
pub(super) struct ArticleForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    title: String,
    content: String,
}

pub(super) async fn post_article(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<ArticleForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    pe(svc::post_article(&st, &v.p, &f.title, &f.content).await)?;
    Ok(Redirect::to("/supervision/articles").into_response())
}

pub(super) async fn check_items(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let items = pe(circ::check_items(&st).await)?;
    let mut page = v
        .page(&st, "入户安检项目维护", "/supervision/check-items")
        .await;
    page.intro = "配送员入户安检时逐项检查；不合格项自动生成整改任务，期限为整改天数。每行一项：代码|检查内容|整改天数|启用(是/否)。".to_owned();
    let mut t = Table::new(
        "check_items",
        "当前项目",
        &["代码", "检查内容", "整改天数", "启用"],
    );
    t.rows = items
        .iter()
        .map(|i| {
            vec![
                Cell::text(i.code.as_str()),
                Cell::text(i.text.as_str()),
                Cell::num(i.rectify_days),
                Cell::text(if i.active { "是" } else { "否" }),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    let text = items
        .iter()
        .map(|i| {
            format!(
                "{}|{}|{}|{}",
                i.code.as_str(),
                i.text.as_str(),
                i.rectify_days,
                if i.active { "是" } else { "否" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    if v.p
        .require(cyltrace_domain::access::Action::ConfigureCheckItems)
        .is_ok()
    {
        page.blocks.push(Block::Form(FormSpec {
            title: "修改项目".to_owned(),
            action: "/supervision/check-items".to_owned(),
            fields: vec![
                Field::new("items", "项目（每行一项）", text)
                    .kind("textarea")
                    .required(),
            ],
            submit: "保存",
        }));
    }
    ok(page)
}

#[derive(Deserialize)]
pub(super) struct ItemsForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    items: String,
}

pub(super) async fn save_check_items(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<ItemsForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let mut items = Vec::new();
    for (i, line) in f
        .items
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(error_page(ApiError::invalid(
                format!("items[{i}]"),
                "应为 代码|检查内容|整改天数|启用",
            )));
        }
        let days: Value = parts[2]
            .parse::<u32>()
            .map_or_else(|_| json!(parts[2]), |d| json!(d));
        items.push(json!({"code": parts[0], "text": parts[1], "rectify_days": days, "active": parts[3] != "否"}));
    }
    pe(circ::set_check_items(&st, &v.p, &json!({"items": items})).await)?;
    Ok(Redirect::to("/supervision/check-items").into_response())
}
