//! 用户管理: customers in scope with the account-opening progress and the form that registers a
//! new one (C6; the ID number is sealed by the service), and a customer's page (C5): cylinders
//! held, deposits (收押金 / 退押) and real-name verification (实名核验).

use axum::extract::{Form, Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Posted, finish, object, offset, page_no, pager, rename, table_or};
use crate::services::circulation::{self as circ, ListQuery};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::console::{PAGE_ROWS, enterprise};
use crate::web::pages::kit::{
    Block, Card, Cell, Field, FormSpec, Page, PageError, PageResult, Table, jcell, jtime, local,
    ok, or_dash, pe,
};

#[derive(Deserialize, Default)]
pub(crate) struct CustomersQuery {
    page: Option<i64>,
}

async fn customers_page(st: &AppState, v: &Viewer, n: i64) -> Result<(Page, usize), PageError> {
    enterprise(v)?;
    let list = pe(circ::list_customers(
        st,
        &v.p,
        &ListQuery {
            limit: Some(PAGE_ROWS as i64),
            offset: Some(offset(n)),
            ..Default::default()
        },
    )
    .await)?;
    let progress = pe(circ::progress(st, &v.p).await)?;
    let mut page = v.page(st, "用户管理", "/console/customers").await;
    page.intro = "点击用户姓名查看持瓶、收押金和实名核验。".to_owned();
    let mut pr = Table::new(
        "progress",
        "开户与实名制进度",
        &["企业", "已开户", "已实名", "未实名用户持瓶"],
    );
    pr.rows = progress
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
    page.blocks.push(Block::Table(pr));
    let mut t = Table::new(
        "customers",
        "用户（身份证号脱敏显示；完整号码须单独申请查看并留痕）",
        &["姓名", "类型", "电话", "身份证号", "实名认证", "开户时间"],
    );
    t.rows = list
        .iter()
        .map(|c| {
            vec![
                Cell::link(&c.name, format!("/console/customers/{}", c.id)),
                Cell::text(c.kind.label_zh()),
                Cell::text(&c.phone),
                or_dash(c.id_number.as_ref()),
                if c.real_name_verified {
                    Cell::text("已实名").class("ok")
                } else {
                    Cell::text("未实名").class("warn")
                },
                Cell::text(local(c.created_at)),
            ]
        })
        .collect();
    t.pager = Some(pager("/console/customers", &[], n, list.len()));
    let shown = t.rows.len();
    page.blocks.push(table_or(
        t,
        n,
        "还没有用户：请先在下面为用户开户（居民用户须登记身份证号）。",
    ));
    page.blocks.push(Block::Form(FormSpec {
        title: "新增用户（开户）".to_owned(),
        action: "/console/customers".to_owned(),
        fields: vec![
            Field::new("kind", "用户类型", "residential").options(vec![
                ("residential".to_owned(), "居民用户".to_owned()),
                ("commercial".to_owned(), "商业用户".to_owned()),
            ]),
            Field::new("name", "姓名（商业用户填单位名称）", "").required(),
            Field::new("id_number", "身份证号（居民用户必填，加密保存）", ""),
            Field::new("credit_code", "统一社会信用代码（商业用户必填）", ""),
            Field::new("contact", "联系人（商业用户）", ""),
            Field::new("phone", "电话", "").required(),
            Field::new("address", "送气地址", "").required(),
            Field::new("address2", "第二个地址（可选）", ""),
        ],
        submit: "开户",
    }));
    Ok((page, shown))
}

pub(crate) async fn customers(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<CustomersQuery>,
) -> PageResult {
    let (page, shown) = customers_page(&st, &v, page_no(q.page)).await?;
    // G2: a customer list is personal data; its read is audited.
    Ok(noted(
        ok(page)?,
        format!("customers page: {shown} customers shown"),
    ))
}

/// Registers a customer (or binds one already registered in the node) and opens their page.
pub(crate) async fn create_customer(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let addresses: Vec<Value> = ["address", "address2"]
        .iter()
        .filter(|k| !f.get(k).trim().is_empty())
        .map(|k| json!({"address": f.get(k).trim()}))
        .collect();
    let body = object(vec![
        ("kind", f.required("kind")),
        ("name", f.required("name")),
        ("id_number", f.text("id_number")),
        ("credit_code", f.text("credit_code")),
        ("contact", f.text("contact")),
        ("phone", f.required("phone")),
        ("addresses", json!(addresses)),
    ]);
    finish(
        circ::register_customer(&st, &v.p, &body).await,
        "/console/customers",
        f.sent(),
        |(r, created, bound)| {
            (
                format!("/console/customers/{}", r.id),
                format!("customer {} created={created} bound={bound}", r.id),
            )
        },
        |x| rename(x, "addresses", "address"),
        async || Ok(customers_page(&st, &v, 0).await?.0),
    )
    .await
}

// ------------------------------------------------------------------------------ one customer

async fn customer_page(st: &AppState, v: &Viewer, id: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let c = pe(circ::customer_detail(st, &v.p, id).await)?;
    let deposits = pe(circ::deposits(st, &v.p, id).await)?;
    let name = c["name"].as_str().unwrap_or_default();
    let mut page = v
        .page(st, &format!("用户 · {name}"), "/console/customers")
        .await;
    let h = &c["holdings"];
    let n = |k: &str| h[k].as_i64().unwrap_or(0);
    page.cards = vec![
        Card::new("held", "持有气瓶", n("held")),
        Card::new("deposits", "已交押金（瓶）", n("deposits")),
        Card::new("owed", "欠押（瓶）", n("owed")).class(if n("owed") > 0 { "warn" } else { "" }),
        Card::new("credit", "存瓶（瓶）", n("credit")),
    ];
    let verified = c["real_name_verified"].as_bool().unwrap_or(false);
    let kind = match c["kind"].as_str() {
        Some("commercial") => "商业用户",
        _ => "居民用户",
    };
    let text = |k: &str| c[k].as_str().unwrap_or("—").to_owned();
    let mut facts = vec![
        ("姓名".to_owned(), name.to_owned()),
        ("用户类型".to_owned(), kind.to_owned()),
        ("电话".to_owned(), text("phone")),
        ("身份证号（脱敏）".to_owned(), text("id_number")),
    ];
    if c["credit_code"].is_string() {
        facts.push(("统一社会信用代码".to_owned(), text("credit_code")));
    }
    for (i, a) in c["addresses"].as_array().into_iter().flatten().enumerate() {
        facts.push((
            format!("地址 {}", i + 1),
            a["address"].as_str().unwrap_or("—").to_owned(),
        ));
    }
    facts.push((
        "实名认证".to_owned(),
        if verified {
            format!("已实名（{} 核验）", jtime(&c, "verified_at").text)
        } else {
            "未实名：请核验身份证后登记".to_owned()
        },
    ));
    page.blocks.push(Block::Facts("用户信息".to_owned(), facts));
    if !verified {
        page.blocks.push(Block::Form(FormSpec {
            title: "实名核验".to_owned(),
            action: format!("/console/customers/{id}/verify"),
            fields: vec![
                Field::new("method", "核验方式", "现场核验身份证原件").options(
                    ["现场核验身份证原件", "公安身份信息联网核验", "人脸识别核验"]
                        .iter()
                        .map(|m| ((*m).to_owned(), (*m).to_owned()))
                        .collect(),
                ),
            ],
            submit: "登记为已实名",
        }));
    }
    let mut d = Table::new(
        "deposits",
        "押金记录",
        &["时间", "收据号", "瓶数", "金额（元）", "类型"],
    );
    d.rows = deposits
        .iter()
        .map(|x| {
            let count = x["count"].as_i64().unwrap_or(0);
            vec![
                jtime(x, "created_at"),
                jcell(x, "receipt_no"),
                Cell::num(count),
                x["amount_yuan"]
                    .as_f64()
                    .map_or_else(|| Cell::text("—"), |a| Cell::num(format!("{a:.2}"))),
                Cell::text(if count < 0 { "退押" } else { "收押" }),
            ]
        })
        .collect();
    if d.rows.is_empty() {
        page.blocks.push(Block::Note(
            "还没有押金记录：用户借用气瓶时请在下面收押金。".to_owned(),
        ));
    } else {
        page.blocks.push(Block::Table(d));
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "收押金 / 退押".to_owned(),
        action: format!("/console/customers/{id}/deposits"),
        fields: vec![
            Field::new("count", "瓶数（退押填负数）", "1")
                .kind("number")
                .required(),
            Field::new("amount_yuan", "金额（元）", "").required(),
            Field::new("receipt_no", "收据号", "").required(),
        ],
        submit: "登记押金",
    }));
    let mut held = Table::new("held", "当前持有的气瓶", &["气瓶"]);
    held.rows = c["held_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|code| vec![Cell::link(code, format!("/console/cylinders/{code}"))])
        .collect();
    if held.rows.is_empty() {
        page.blocks.push(Block::Note(
            "该用户目前没有持有气瓶：配送员送气时扫码交付，气瓶即记在用户名下。".to_owned(),
        ));
    } else {
        page.blocks.push(Block::Table(held));
    }
    Ok(page)
}

pub(crate) async fn customer(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let page = customer_page(&st, &v, &id).await?;
    // G2: a customer's details are personal data; their read is audited.
    Ok(noted(ok(page)?, format!("customer page {id}")))
}

/// 收押金 / 退押 for a customer.
pub(crate) async fn add_deposit(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let cid = pe(crate::services::parse_id(&id, "用户"))?;
    let body = object(vec![
        ("count", f.number("count")),
        ("amount_yuan", f.number("amount_yuan")),
        ("receipt_no", f.required("receipt_no")),
    ]);
    let action = format!("/console/customers/{id}/deposits");
    finish(
        circ::add_deposit(&st, &v.p, cid, &body).await,
        &action,
        f.sent(),
        |r| {
            (
                format!("/console/customers/{id}"),
                format!("deposit {} customer {cid}", r.id),
            )
        },
        |x| x,
        async || customer_page(&st, &v, &id).await,
    )
    .await
}

/// 实名核验: records that the customer's real name was checked.
pub(crate) async fn verify(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let cid = pe(crate::services::parse_id(&id, "用户"))?;
    let body = json!({"method": f.get("method").trim()});
    let action = format!("/console/customers/{id}/verify");
    finish(
        circ::verify_customer(&st, &v.p, cid, &body).await,
        &action,
        f.sent(),
        |r| {
            (
                format!("/console/customers/{id}"),
                format!("customer {} verified", r.id),
            )
        },
        |x| x,
        async || customer_page(&st, &v, &id).await,
    )
    .await
}
