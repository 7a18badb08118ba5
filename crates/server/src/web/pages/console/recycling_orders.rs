//! 回收单 (C4; seed 001 §5.2.1.12): the office records an order for empty cylinders to be taken back
//! (a registered customer, or a contact with an address), lists the orders by state, and confirms
//! one at a station with the codes received (one `recycle` event, the order confirmed with it) or
//! cancels it with the reason. The same use cases as `/api/v1/recycling-orders`.

use axum::Form;
use axum::extract::{Path, Query, State};
use cyltrace_domain::circulation::RecyclingState;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::masterdata::{answer, values};
use super::{MAX_PAGE_NO, PAGE_ROWS, enterprise};
use crate::services::circulation::{self as circ, ListQuery, RecyclingOrderQuery};
use crate::services::orgs;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local, ok, pe,
};

const PATH: &str = "/console/recycling-orders";

#[derive(Deserialize, Default)]
pub(super) struct OrdersQuery {
    state: Option<String>,
    page: Option<i64>,
}

async fn orders_page(st: &AppState, v: &Viewer, q: &OrdersQuery) -> Result<Page, PageError> {
    let state = q.state.clone().filter(|s| !s.is_empty());
    let n = q.page.unwrap_or(0).clamp(0, MAX_PAGE_NO as i64);
    let list = pe(circ::recycling_orders(
        st,
        &v.p,
        &RecyclingOrderQuery {
            state: state.clone(),
            limit: Some(PAGE_ROWS as i64),
            offset: Some(n * PAGE_ROWS as i64),
            ..Default::default()
        },
    )
    .await)?;
    let customers = pe(circ::list_customers(
        st,
        &v.p,
        &ListQuery {
            limit: Some(200),
            ..Default::default()
        },
    )
    .await)?;
    let mut page = v.page(st, "回收单", PATH).await;
    page.intro = "配送员、库管员或本页登记用户的空瓶回收需求；空瓶送到站点后，在回收单中扫码或填写收到的气瓶编码确认回收。".to_owned();
    let mut who = vec![(String::new(), "（未登记用户，填写联系人）".to_owned())];
    who.extend(
        customers
            .iter()
            .map(|c| (c.id.to_string(), format!("{} {}", c.name, c.phone))),
    );
    page.blocks.push(Block::Form(FormSpec {
        title: "新增回收单".to_owned(),
        action: PATH.to_owned(),
        fields: vec![
            Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
            Field::new("customer_id", "用户", "").options(who),
            Field::new("contact", "联系人（未选用户时必填）", ""),
            Field::new("phone", "联系电话", ""),
            Field::new("address", "回收地址（未选用户时必填）", ""),
            Field::new("count", "空瓶数量", "1")
                .kind("number")
                .required(),
            Field::new("codes", "已知的气瓶编码（可选，空格分隔）", ""),
            Field::new("note", "备注", ""),
        ],
        submit: "保存回收单",
    }));
    page.filter = Some(crate::web::pages::kit::Filter {
        action: PATH.to_owned(),
        fields: vec![
            Field::new("state", "状态", state.clone().unwrap_or_default()).options({
                let mut o = vec![(String::new(), "全部".to_owned())];
                o.extend(
                    RecyclingState::ALL
                        .iter()
                        .map(|s| (s.as_str().to_owned(), s.label_zh().to_owned())),
                );
                o
            }),
        ],
    });
    let mut t = Table::new(
        "recycling_orders",
        "",
        &[
            "登记时间",
            "用户/联系人",
            "电话",
            "地址",
            "数量",
            "状态",
            "确认回收",
            "",
        ],
    );
    t.rows = list
        .iter()
        .map(|o| {
            vec![
                Cell::text(local(o.created_at)),
                Cell::text(
                    o.customer_name
                        .clone()
                        .or_else(|| o.contact.clone())
                        .unwrap_or_default(),
                ),
                Cell::text(o.phone.clone().unwrap_or_default()),
                Cell::text(o.address.clone().unwrap_or_default()),
                Cell::num(o.count),
                Cell::text(o.state_zh).class(match o.state.as_str() {
                    "open" => "warn",
                    "confirmed" => "ok",
                    _ => "",
                }),
                Cell::text(o.confirmed_at.map(local).unwrap_or_default()),
                Cell::link(
                    if o.state == "open" {
                        "确认/取消"
                    } else {
                        "查看"
                    },
                    format!("{PATH}/{}", o.id),
                ),
            ]
        })
        .collect();
    if t.rows.is_empty() {
        page.blocks.push(Block::Note(
            "没有回收单：在上方登记一张，或由配送员在手持终端上登记。".to_owned(),
        ));
    }
    let link = |p: i64| {
        let qs = serde_urlencoded::to_string([
            ("state", state.clone().unwrap_or_default()),
            ("page", p.to_string()),
        ])
        .unwrap_or_default();
        format!("{PATH}?{qs}")
    };
    t.pager = Some(crate::web::pages::kit::Pager {
        prev: if n > 0 { link(n - 1) } else { String::new() },
        next: if list.len() == PAGE_ROWS {
            link(n + 1)
        } else {
            String::new()
        },
        note: format!("第 {} 页", n + 1),
    });
    page.blocks.push(Block::Table(t));
    Ok(page)
}

pub(super) async fn orders(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<OrdersQuery>,
) -> PageResult {
    enterprise(&v)?;
    ok(orders_page(&st, &v, &q).await?)
}

#[derive(Deserialize)]
pub(super) struct NewOrderForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    id: String,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    codes: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn create(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<NewOrderForm>,
) -> PageResult {
    enterprise(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let mut body = json!({"id": f.id.trim()});
    for (k, x) in [
        ("customer_id", &f.customer_id),
        ("contact", &f.contact),
        ("phone", &f.phone),
        ("address", &f.address),
        ("note", &f.note),
    ] {
        if !x.trim().is_empty() {
            body[k] = json!(x.trim());
        }
    }
    body["count"] = f
        .count
        .trim()
        .parse::<u32>()
        .map_or_else(|_| json!(f.count.trim()), |n| json!(n));
    let codes: Vec<&str> = f.codes.split_whitespace().collect();
    if !codes.is_empty() {
        body["codes"] = json!(codes);
    }
    let sent = values(&[
        ("customer_id", &f.customer_id),
        ("contact", &f.contact),
        ("phone", &f.phone),
        ("address", &f.address),
        ("count", &f.count),
        ("codes", &f.codes),
        ("note", &f.note),
    ]);
    answer(
        circ::create_recycling_order(&st, &v.p, &body).await,
        PATH.to_owned(),
        |r| format!("recycling order {}", r.id),
        |e| FormFailure::of(PATH, sent, e),
        async || orders_page(&st, &v, &OrdersQuery::default()).await,
    )
    .await
}

/// Where empty cylinders are received: the open stores, warehouses and stations of the scope.
async fn receiving_sites(st: &AppState, v: &Viewer) -> Result<Vec<(String, String)>, PageError> {
    let sites = pe(orgs::list_sites(
        st,
        &v.p,
        cyltrace_store::Page {
            limit: 500,
            offset: 0,
        },
    )
    .await)?;
    Ok(sites
        .into_iter()
        .filter(|s| s.active)
        .map(|s| {
            (
                s.id.to_string(),
                format!("{}（{}）", s.name, s.kind.label_zh()),
            )
        })
        .collect())
}

async fn order_page(st: &AppState, v: &Viewer, id: Uuid) -> Result<Page, PageError> {
    let o = pe(circ::recycling_order(st, &v.p, &id.to_string()).await)?;
    let mut page = v.page(st, "回收单", PATH).await;
    let mut facts = vec![
        ("状态".to_owned(), o.state_zh.to_owned()),
        ("登记时间".to_owned(), local(o.created_at)),
        (
            "用户/联系人".to_owned(),
            o.customer_name
                .clone()
                .or_else(|| o.contact.clone())
                .unwrap_or_default(),
        ),
        ("电话".to_owned(), o.phone.clone().unwrap_or_default()),
        ("地址".to_owned(), o.address.clone().unwrap_or_default()),
        ("空瓶数量".to_owned(), o.count.to_string()),
        ("登记的气瓶".to_owned(), o.codes.join(" ")),
        (
            "备注".to_owned(),
            o.note.as_ref().map(|n| n.to_string()).unwrap_or_default(),
        ),
    ];
    if let Some(r) = &o.received {
        facts.push(("收到的气瓶".to_owned(), r.join(" ")));
        facts.push((
            "确认时间".to_owned(),
            o.confirmed_at.map(local).unwrap_or_default(),
        ));
        facts.push((
            "存证序号".to_owned(),
            o.ledger_index.map(|i| i.to_string()).unwrap_or_default(),
        ));
    }
    if let Some(r) = &o.cancel_reason {
        facts.push(("取消原因".to_owned(), r.to_string()));
    }
    page.blocks.push(Block::Facts("回收单".to_owned(), facts));
    if o.state == RecyclingState::Open.as_str() {
        page.blocks.push(Block::Form(FormSpec {
            title: "确认回收".to_owned(),
            action: format!("{PATH}/{id}/confirm"),
            fields: vec![
                Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
                Field::new("site_id", "收瓶站点", "").options(receiving_sites(st, v).await?),
                Field::new(
                    "codes",
                    "收到的气瓶编码（扫码或输入，空格或换行分隔）",
                    o.codes.join(" "),
                )
                .kind("textarea")
                .required(),
            ],
            submit: "确认回收",
        }));
        page.blocks.push(Block::Form(FormSpec {
            title: "取消回收单".to_owned(),
            action: format!("{PATH}/{id}/cancel"),
            fields: vec![Field::new("reason", "取消原因", "").required()],
            submit: "取消回收单",
        }));
    }
    Ok(page)
}

pub(super) async fn order(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
) -> PageResult {
    enterprise(&v)?;
    ok(order_page(&st, &v, id).await?)
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    id: String,
    #[serde(default)]
    site_id: String,
    #[serde(default)]
    codes: String,
}

pub(super) async fn confirm(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<ConfirmForm>,
) -> PageResult {
    enterprise(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let body: Value = json!({"id": f.id.trim(), "site_id": f.site_id.trim(),
        "codes": f.codes.split_whitespace().collect::<Vec<_>>()});
    let action = format!("{PATH}/{id}/confirm");
    let sent = values(&[("site_id", &f.site_id), ("codes", &f.codes)]);
    answer(
        circ::confirm_recycling_order(&st, &v.p, id, &body, None).await,
        format!("{PATH}/{id}"),
        |(_, idx)| format!("recycling order {id} confirmed at ledger index {idx}"),
        |e| FormFailure::of(&action, sent, e),
        async || order_page(&st, &v, id).await,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct CancelForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
}

pub(super) async fn cancel(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<CancelForm>,
) -> PageResult {
    enterprise(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let action = format!("{PATH}/{id}/cancel");
    let sent = values(&[("reason", &f.reason)]);
    answer(
        circ::cancel_recycling_order(&st, &v.p, id, &json!({"reason": f.reason.trim()})).await,
        format!("{PATH}/{id}"),
        |_| format!("recycling order {id} cancelled"),
        |e| FormFailure::of(&action, sent, e),
        async || order_page(&st, &v, id).await,
    )
    .await
}
