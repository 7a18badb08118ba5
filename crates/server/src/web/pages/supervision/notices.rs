//! Messages to several enterprises at once and to their staff, the enterprises' inbox with sign-off
//! and the staff's messages (E6), safety articles (E7) and the household check items (E8).
//! (Complaints are in `complaints.rs`.)

use axum::extract::{Form, Path, RawForm, State};
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
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, CsrfOnly, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table,
    error_page, local, ok, pe,
};
use cyltrace_domain::Role;

/// The message form: the enterprises in scope as checkboxes, and whom of their staff to tell.
fn message_form(recipients: Vec<(String, String)>) -> FormSpec {
    FormSpec {
        title: "发送通知（可同时发给多家企业及其员工）".to_owned(),
        action: "/supervision/messages".to_owned(),
        fields: vec![
            Field::new("org_id", "接收企业", "")
                .kind("checkboxes")
                .options(recipients),
            Field::new("staff", "同时通知员工", "").options(vec![
                (String::new(), "不通知员工（企业管理员签收）".to_owned()),
                ("all".to_owned(), "企业全部员工".to_owned()),
                ("roles".to_owned(), "以下岗位的员工".to_owned()),
            ]),
            Field::new("staff_roles", "岗位", "")
                .kind("checkboxes")
                .options(
                    svc::STAFF_ROLES
                        .iter()
                        .map(|r| (r.as_str().to_owned(), r.label_zh().to_owned()))
                        .collect(),
                ),
            Field::new("title", "标题", "").required(),
            Field::new("content", "内容", "")
                .kind("textarea")
                .required(),
        ],
        submit: "发送",
    }
}

async fn messages_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    let rows = pe(svc::sent_messages(st, &v.p).await)?;
    let mut page = v.page(st, "通知消息", "/supervision/messages").await;
    page.intro = "通知发给所选的每一家企业，由企业管理员在“监管通知”中签收；选择通知员工时，该企业相应员工登录后在“通知消息”中可见。".to_owned();
    let mut t = Table::new(
        "messages",
        "已发送",
        &["时间", "接收企业", "发送对象", "标题", "内容", "签收"],
    );
    for r in &rows {
        let staff = r.staff.label_zh();
        t.rows.push(vec![
            Cell::text(local(r.created_at)),
            Cell::text(&r.org),
            Cell::text(if staff.is_empty() {
                "企业".to_owned()
            } else {
                format!("企业及{staff}")
            }),
            Cell::text(&r.title),
            Cell::text(&r.content),
            Cell::text(if r.acknowledged {
                "已签收"
            } else {
                "未签收"
            }),
        ]);
    }
    let recipients = pe(svc::message_recipients(st, &v.p).await)?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    page.blocks.push(Block::Form(message_form(recipients)));
    page.blocks.push(Block::Table(t));
    Ok(page)
}

pub(super) async fn messages(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    ok(messages_page(&st, &v).await?)
}

/// Sends a message to the checked enterprises (a form with repeated `org_id` and `staff_roles`).
pub(super) async fn send_message(
    State(st): State<AppState>,
    v: Viewer,
    RawForm(body): RawForm,
) -> PageResult {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| error_page(ApiError::BadRequest("表单内容无法读取".to_owned())))?;
    let one = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let csrf = one("_csrf");
    v.check_csrf(Some(csrf.as_str()).filter(|c| !c.is_empty()))?;
    regulator(&v)?;
    let m = svc::NewMessage {
        org_ids: all("org_id"),
        title: one("title"),
        content: one("content"),
        staff: one("staff"),
        staff_roles: all("staff_roles"),
    };
    match svc::send_message(&st, &v.p, &m).await {
        Ok(n) => Ok(noted(
            Redirect::to("/supervision/messages"),
            format!("message sent to {n} enterprises"),
        )),
        Err(e) => {
            let sent = vec![
                ("org_id".to_owned(), m.org_ids.join(",")),
                ("staff".to_owned(), m.staff.clone()),
                ("staff_roles".to_owned(), m.staff_roles.join(",")),
                ("title".to_owned(), m.title.clone()),
                ("content".to_owned(), m.content.clone()),
            ];
            let failure = FormFailure::of("/supervision/messages", sent, e)?;
            messages_page(&st, &v).await?.refused(failure)
        }
    }
}

/// `/messages`: the messages a regulator addressed to the staff of the viewer's enterprise (all of
/// them, or the viewer's role), for every signed-in staff member.
pub(super) async fn staff_messages(State(st): State<AppState>, v: Viewer) -> PageResult {
    let rows = pe(svc::staff_messages(&st, &v.p).await)?;
    let mut page = v.page(&st, "通知消息", "/messages").await;
    page.intro = "监管部门发给本企业员工的通知。".to_owned();
    let mut t = Table::new("staff_messages", "", &["时间", "企业", "标题", "内容"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                Cell::text(local(r.created_at)),
                Cell::text(&r.org),
                Cell::text(&r.title),
                Cell::text(&r.content),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
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
