//! Gas ordered from the page behind a label (来源：扫码订气, F3) in the enterprise console: the
//! requests head the order list (订单配送) with the contact to call back; each opens a page where
//! the enterprise marks it called back, dismisses it, or turns it into a normal order for one of its
//! customers.

use axum::extract::{Form, Path, State};
use axum::response::Redirect;
use serde::Deserialize;
use uuid::Uuid;

use super::enterprise;
use crate::services::circulation::{self as circ, ListQuery};
use crate::services::public_requests::{self as svc, OrderRequestView};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, CsrfOnly, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local,
    ok, pe,
};
use crate::web::pages::public_label::tel_uri;

/// Requests listed on the order page.
const LISTED: i64 = 100;

fn tel(phone: &str) -> String {
    format!("tel:{}", tel_uri(phone))
}

/// The table of requests for the order page (订单配送), newest first; none when there are none.
pub(super) async fn block(st: &AppState, v: &Viewer) -> Result<Option<Block>, PageError> {
    let rows = pe(svc::order_requests(st, &v.p, None, LISTED).await)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let waiting = rows.iter().filter(|r| r.state == "new").count();
    let mut t = Table::new(
        "order_requests",
        &format!("扫码订气预约（待回电 {waiting} 条）"),
        &[
            "提交时间",
            "来源",
            "联系人",
            "电话",
            "地址",
            "希望送气时间",
            "数量",
            "状态",
            "处理",
        ],
    );
    t.rows = rows
        .iter()
        .map(|r| {
            let open = matches!(r.state.as_str(), "new" | "called");
            vec![
                Cell::text(local(r.created_at)),
                Cell::text(format!("扫码订气（气瓶 {}）", r.cylinder)),
                Cell::text(&r.name),
                Cell::link(&r.phone, tel(&r.phone)),
                Cell::text(&r.address),
                Cell::text(&r.preferred),
                Cell::num(r.quantity),
                Cell::text(svc::state_zh(&r.state)).class(if r.state == "new" {
                    "warn"
                } else {
                    ""
                }),
                Cell::link(
                    if open { "处理" } else { "查看" },
                    format!("/console/order-requests/{}", r.id),
                ),
            ]
        })
        .collect();
    Ok(Some(Block::Table(t)))
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

async fn request_page(st: &AppState, v: &Viewer, id: Uuid) -> Result<Page, PageError> {
    let r: OrderRequestView = pe(svc::order_request(st, &v.p, id).await)?;
    let mut page = v.page(st, "扫码订气预约", "/console/orders").await;
    page.blocks.push(Block::Facts(
        "预约内容（来源：扫码订气）".to_owned(),
        vec![
            ("提交时间".to_owned(), local(r.created_at)),
            ("扫码气瓶".to_owned(), r.cylinder.clone()),
            ("联系人".to_owned(), r.name.clone()),
            ("联系电话".to_owned(), r.phone.clone()),
            ("送气地址".to_owned(), r.address.clone()),
            ("希望送气时间".to_owned(), r.preferred.clone()),
            ("数量".to_owned(), format!("{} 瓶", r.quantity)),
            (
                "备注".to_owned(),
                if r.remark.is_empty() {
                    "—".to_owned()
                } else {
                    r.remark.clone()
                },
            ),
            ("状态".to_owned(), svc::state_zh(&r.state).to_owned()),
        ],
    ));
    if let Some(order) = r.order_id {
        page.blocks.push(Block::Note(format!(
            "已转为订单 {order}，请在“订单配送”中派送。"
        )));
    }
    if !matches!(r.state.as_str(), "new" | "called") {
        return Ok(page);
    }
    page.blocks.push(Block::Links(
        "回电".to_owned(),
        vec![(tel(&r.phone), format!("拨打 {}", r.phone))],
    ));
    let want = digits(&r.phone);
    let customers = pe(circ::list_customers(
        st,
        &v.p,
        &ListQuery {
            limit: Some(500),
            offset: None,
            state: None,
            customer_id: None,
        },
    )
    .await)?;
    let matched = customers
        .iter()
        .find(|c| !want.is_empty() && digits(&c.phone) == want)
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    let options = std::iter::once((String::new(), "请选择用户".to_owned()))
        .chain(
            customers
                .iter()
                .map(|c| (c.id.to_string(), format!("{} {}", c.name, c.phone))),
        )
        .collect();
    page.blocks.push(Block::Note(
        "电话确认后转为订单。尚未开户的新用户，请先在“用户管理”中实名开户，再回到此页转为订单。"
            .to_owned(),
    ));
    page.blocks.push(Block::Form(FormSpec {
        title: "转为订单".to_owned(),
        action: format!("/console/order-requests/{id}/convert"),
        fields: vec![
            Field::new("customer_id", "用户（按电话自动匹配）", matched)
                .options(options)
                .required(),
            Field::new("quantity", "数量（瓶）", r.quantity.to_string())
                .kind("number")
                .required(),
            Field::new("medium", "介质", "液化石油气"),
            Field::new("spec", "规格", "YSP35.5"),
        ],
        submit: "转为订单",
    }));
    if r.state == "new" {
        page.blocks.push(Block::Form(FormSpec {
            title: "已电话联系，稍后再转订单".to_owned(),
            action: format!("/console/order-requests/{id}/called"),
            fields: vec![],
            submit: "标记为已回电",
        }));
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "无法受理（如地址不在配送范围、联系不上）".to_owned(),
        action: format!("/console/order-requests/{id}/dismissed"),
        fields: vec![],
        submit: "不受理",
    }));
    Ok(page)
}

pub(super) async fn request(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
) -> PageResult {
    enterprise(&v)?;
    // G2: the request shows a person's contact; its read is audited.
    let note = format!("order request {id} shown");
    Ok(noted(ok(request_page(&st, &v, id).await?)?, note))
}

/// 已回电 / 不受理.
pub(super) async fn set_state(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, state)): Path<(Uuid, String)>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    enterprise(&v)?;
    pe(svc::set_request_state(&st, &v.p, id, &state).await)?;
    Ok(noted(
        Redirect::to("/console/orders"),
        format!("order request {id} marked {state}"),
    ))
}

#[derive(Deserialize)]
pub(super) struct ConvertForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    medium: String,
    #[serde(default)]
    spec: String,
}

/// 转为订单: a normal order for the chosen customer; the request remembers it.
pub(super) async fn convert(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<ConvertForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    enterprise(&v)?;
    let result = svc::convert_request(
        &st,
        &v.p,
        id,
        &f.customer_id,
        &f.quantity,
        &f.medium,
        &f.spec,
    )
    .await;
    match result {
        Ok(order) => Ok(noted(
            Redirect::to("/console/orders"),
            format!("order request {id} became order {order}"),
        )),
        Err(e) => {
            let action = format!("/console/order-requests/{id}/convert");
            let sent = vec![
                ("customer_id".to_owned(), f.customer_id.clone()),
                ("quantity".to_owned(), f.quantity.clone()),
                ("medium".to_owned(), f.medium.clone()),
                ("spec".to_owned(), f.spec.clone()),
            ];
            let failure = FormFailure::of(&action, sent, e)?;
            request_page(&st, &v, id).await?.refused(failure)
        }
    }
}
