//! 入户安检 (C9): the household safety checks in scope, narrowed by customer, result and day, and
//! the form that records one from the office — the configured check items (each one ticked when it
//! failed: a failed item opens a rectification task), the customer's signed sheet and an optional
//! photo, uploaded as the API's `POST /files` stores them.

use std::collections::{HashMap, HashSet};

use axum::extract::{Multipart, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Posted, china_now, china_time, finish, object, offset, page_no, pager, table_or};
use crate::error::ApiError;
use crate::services::circulation::{self as circ, CheckFilter, ListQuery};
use crate::services::files;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::console::{PAGE_ROWS, enterprise};
use crate::web::pages::kit::{
    Block, Cell, Field, Filter, FormFailure, FormSpec, Page, PageError, PageResult, Table,
    error_page, jtime, ok, pe,
};

const ACTION: &str = "/console/household-checks";

#[derive(Deserialize, Default)]
pub(crate) struct ChecksQuery {
    customer_id: Option<String>,
    result: Option<String>,
    date: Option<String>,
    page: Option<i64>,
}

impl ChecksQuery {
    fn value(v: &Option<String>) -> &str {
        v.as_deref().map_or("", str::trim)
    }
}

/// The check items a failed tick names, from a refused form (to tick them again).
async fn checks_page(
    st: &AppState,
    v: &Viewer,
    q: &ChecksQuery,
    failed: &HashSet<String>,
) -> Result<Page, PageError> {
    enterprise(v)?;
    let n = page_no(q.page);
    let customer = ChecksQuery::value(&q.customer_id);
    let result = ChecksQuery::value(&q.result);
    let date = ChecksQuery::value(&q.date);
    let filter = CheckFilter {
        customer_id: match customer {
            "" => None,
            c => Some(pe(crate::services::parse_id(c, "用户"))?),
        },
        result: Some(result.to_owned()).filter(|s| !s.is_empty()),
        date: Some(date.to_owned()).filter(|s| !s.is_empty()),
        limit: Some(PAGE_ROWS as i64),
        offset: Some(offset(n)),
    };
    let checks = pe(circ::household_checks_where(st, &v.p, &filter).await)?;
    let customers = pe(circ::list_customers(
        st,
        &v.p,
        &ListQuery {
            limit: Some(500),
            ..Default::default()
        },
    )
    .await)?;
    let names: HashMap<String, String> = customers
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect();
    let items = pe(circ::read_check_items(st, &v.p).await)?;
    let item_text: HashMap<&str, &str> = items
        .iter()
        .map(|i| (i.code.as_str(), i.text.as_str()))
        .collect();
    let mut page = v.page(st, "入户安检", ACTION).await;
    page.intro = "送气时随瓶安检在手持终端记录；在办公室补录时请上传用户签字的安检单。不合格项目将生成整改任务。".to_owned();
    let customer_options: Vec<(String, String)> = customers
        .iter()
        .map(|c| (c.id.to_string(), format!("{} {}", c.name, c.phone)))
        .collect();
    page.filter = Some(Filter {
        action: ACTION.to_owned(),
        fields: vec![
            Field::new("customer_id", "用户", customer).options(
                std::iter::once((String::new(), "全部".to_owned()))
                    .chain(customer_options.iter().cloned())
                    .collect(),
            ),
            Field::new("result", "结果", result).options(vec![
                (String::new(), "全部".to_owned()),
                ("passed".to_owned(), "合格".to_owned()),
                ("failed".to_owned(), "不合格".to_owned()),
            ]),
            Field::new("date", "记录日期", date).kind("date"),
        ],
    });
    let mut t = Table::new(
        "household_checks",
        "安检记录",
        &["安检时间", "用户", "结果", "不合格项目", "照片", "签字"],
    );
    t.rows = checks
        .iter()
        .map(|c| {
            let failed: Vec<&str> = c["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["ok"] == json!(false))
                .filter_map(|a| a["item"].as_str())
                .map(|code| item_text.get(code).copied().unwrap_or(code))
                .collect();
            let file = |h: Option<&str>, label: &str| match h {
                Some(h) => Cell::link(label, format!("/api/v1/files/{h}")),
                None => Cell::text("—"),
            };
            vec![
                jtime(c, "time"),
                Cell::text(
                    c["customer_id"]
                        .as_str()
                        .and_then(|id| names.get(id))
                        .map_or("—", String::as_str),
                ),
                if c["result"] == "passed" {
                    Cell::text("合格").class("ok")
                } else {
                    Cell::text("不合格").class("bad")
                },
                Cell::text(if failed.is_empty() {
                    "—".to_owned()
                } else {
                    failed.join("；")
                }),
                file(
                    c["photos"]
                        .as_array()
                        .and_then(|p| p.first())
                        .and_then(Value::as_str),
                    "查看",
                ),
                file(c["signature"].as_str(), "查看"),
            ]
        })
        .collect();
    t.pager = Some(pager(
        ACTION,
        &[
            ("customer_id", customer),
            ("result", result),
            ("date", date),
        ],
        n,
        checks.len(),
    ));
    let filtered = !(customer.is_empty() && result.is_empty() && date.is_empty());
    page.blocks.push(if filtered {
        Block::Table(t)
    } else {
        table_or(
            t,
            n,
            "还没有入户安检记录：配送员送气时在手持终端安检，或在下面补录一次。",
        )
    });
    if customers.is_empty() {
        page.blocks.push(Block::Links(
            "补录安检".to_owned(),
            vec![(
                "/console/customers".to_owned(),
                "还没有用户，请先为用户开户".to_owned(),
            )],
        ));
        return Ok(page);
    }
    let mut items_table = Table::new(
        "check_items",
        "安检项目（不合格的请勾选）",
        &["项目", "整改期限", "不合格"],
    );
    items_table.rows = items
        .iter()
        .filter(|i| i.active)
        .map(|i| {
            vec![
                Cell::text(i.text.as_str()),
                Cell::text(format!("{} 天", i.rectify_days)),
                Cell::check(
                    "failed",
                    i.code.as_str(),
                    ACTION,
                    failed.contains(i.code.as_str()),
                    format!("{} 不合格", i.text),
                ),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(items_table));
    page.blocks.push(Block::Form(FormSpec {
        title: "补录入户安检".to_owned(),
        action: ACTION.to_owned(),
        fields: vec![
            Field::new("customer_id", "用户", "").options(customer_options),
            Field::new("time", "安检时间", china_now(st.now()))
                .kind("datetime-local")
                .required(),
            Field::new("signature", "用户签字的安检单（照片或扫描件）", "")
                .kind("file")
                .required(),
            Field::new("photo", "现场照片（可选）", "").kind("file"),
        ],
        submit: "保存安检记录",
    }));
    Ok(page)
}

pub(crate) async fn household_checks(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ChecksQuery>,
) -> PageResult {
    ok(checks_page(&st, &v, &q, &HashSet::new()).await?)
}

/// Records a household check from the office: the files first (as `POST /files` stores them),
/// then the check (as `POST /household-checks` records it).
pub(crate) async fn record_check(
    State(st): State<AppState>,
    v: Viewer,
    mut form: Multipart,
) -> PageResult {
    enterprise(&v)?;
    let mut text = Vec::new();
    let mut uploads: HashMap<String, Vec<u8>> = HashMap::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| error_page(ApiError::BadRequest(format!("上传内容无法读取：{e}"))))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if field.file_name().is_some() {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| error_page(ApiError::BadRequest(format!("文件无法读取：{e}"))))?;
            if !bytes.is_empty() {
                uploads.insert(name, bytes.to_vec());
            }
        } else {
            let value = field
                .text()
                .await
                .map_err(|e| error_page(ApiError::BadRequest(format!("上传内容无法读取：{e}"))))?;
            text.push((name, value));
        }
    }
    let f = Posted(text);
    v.check_csrf(f.csrf())?;
    let failed: HashSet<String> = f.all("failed").into_iter().map(str::to_owned).collect();
    let redo = ChecksQuery::default();
    // The files, each stored as the API stores an upload; a refused one is named by its field.
    let mut hashes: HashMap<&str, String> = HashMap::new();
    let mut file_errors = Vec::new();
    for name in ["signature", "photo"] {
        if let Some(bytes) = uploads.get(name) {
            match files::upload(&st, &v.p, bytes).await {
                Ok(s) => {
                    hashes.insert(name, s.hash);
                }
                Err(ApiError::Invalid(errs)) => file_errors.extend(
                    errs.0
                        .into_iter()
                        .map(|e| cyltrace_domain::FieldError::new(name, e.message)),
                ),
                Err(e) => return Err(error_page(e)),
            }
        }
    }
    if !file_errors.is_empty() {
        let failure = FormFailure::of(
            ACTION,
            f.sent(),
            ApiError::Invalid(cyltrace_domain::ValidationErrors(file_errors)),
        )?;
        return checks_page(&st, &v, &redo, &failed).await?.refused(failure);
    }
    let items = pe(circ::read_check_items(&st, &v.p).await)?;
    let answers: Vec<Value> = items
        .iter()
        .filter(|i| i.active)
        .map(|i| json!({"item": i.code, "ok": !failed.contains(i.code.as_str())}))
        .collect();
    let signed = hashes.contains_key("signature");
    let body = object(vec![
        ("customer_id", f.required("customer_id")),
        ("time", china_time(f.get("time"))),
        ("answers", json!(answers)),
        (
            "photos",
            json!(hashes.get("photo").into_iter().collect::<Vec<_>>()),
        ),
        (
            "signature",
            json!(hashes.get("signature").cloned().unwrap_or_default()),
        ),
    ]);
    finish(
        circ::record_household_check(&st, &v.p, &body).await,
        ACTION,
        f.sent(),
        |(check, tasks)| {
            (
                ACTION.to_owned(),
                format!(
                    "household check {} {} rectifications",
                    check.id,
                    tasks.len()
                ),
            )
        },
        |mut x| {
            for e in &mut x.errors {
                if e.field == "signature" && !signed {
                    e.message = "请上传用户签字的安检单".to_owned();
                }
                if e.field.starts_with("photos") {
                    e.field = "photo".to_owned();
                }
                if e.field.starts_with("answers") {
                    e.field = String::new();
                }
            }
            x
        },
        async || checks_page(&st, &v, &redo, &failed).await,
    )
    .await
}
