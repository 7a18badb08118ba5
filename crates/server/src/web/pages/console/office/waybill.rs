//! A waybill's page (C2): who carries it with which certificates, from where to where, the
//! cylinders loaded and unloaded under it, and the office's entry of loads and unloads the floor did
//! not scan (装车 / 卸车补录), recorded as `load` / `unload` events through the event write path.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Extension, Form, Path, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use serde_json::json;
use uuid::Uuid;

use super::Posted;
use super::transport::{destination, site_names, state_zh};
use crate::services::audit::RequestMeta;
use crate::services::circulation as circ;
use crate::services::events;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::{audit_to, audited};
use crate::web::pages::console::enterprise;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local, ok, pe,
};

async fn waybill_page(st: &AppState, v: &Viewer, id: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let w = pe(circ::waybill(st, &v.p, id).await)?;
    let sites = site_names(st, v).await?;
    let names: HashMap<&str, &str> = sites
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    let d = &w.doc;
    let mut page = v
        .page(st, &format!("运单 · {}", d.number), "/console/waybills")
        .await;
    let cert = |c: &cyltrace_domain::circulation::Certificate| {
        format!(
            "{}（从业资格证 {}，有效期至 {}）",
            c.name, c.certificate_no, c.certificate_valid_until
        )
    };
    page.blocks.push(Block::Facts(
        "运单".to_owned(),
        vec![
            ("运单号".to_owned(), d.number.clone()),
            ("状态".to_owned(), state_zh(&w.state).to_owned()),
            (
                "起运站点".to_owned(),
                names
                    .get(d.waybill.origin_site_id.to_string().as_str())
                    .copied()
                    .unwrap_or("—")
                    .to_owned(),
            ),
            ("目的地".to_owned(), destination(&d.waybill, &names)),
            ("车辆".to_owned(), d.plate.as_str().to_owned()),
            ("驾驶员".to_owned(), cert(&d.driver)),
            (
                "押运员".to_owned(),
                d.escort.as_ref().map_or_else(|| "—".to_owned(), cert),
            ),
            ("计划发车".to_owned(), local(d.waybill.depart_at)),
            ("开单时间".to_owned(), local(w.created_at)),
        ],
    ));
    let codes = |title: &str, table: &str, set: &BTreeSet<String>| {
        let mut t = Table::new(
            table,
            &format!("{title}（{} 只）", set.len()),
            &["气瓶", "状态"],
        );
        t.rows = set
            .iter()
            .map(|c| {
                let state = if table == "loaded" && !d.unloaded.contains(c) {
                    "在车上"
                } else {
                    "已卸车"
                };
                vec![
                    Cell::link(c, format!("/console/cylinders/{c}")),
                    Cell::text(state),
                ]
            })
            .collect();
        t
    };
    if d.loaded.is_empty() {
        page.blocks.push(Block::Note(
            "还没有装车：驾驶员或库管员在手持终端扫码装车（选择本运单），气瓶将显示在这里；未扫码的可在下面补录。"
                .to_owned(),
        ));
    } else {
        page.blocks
            .push(Block::Table(codes("装车气瓶", "loaded", &d.loaded)));
        page.blocks
            .push(Block::Table(codes("卸车气瓶", "unloaded", &d.unloaded)));
    }
    if w.state != "done" {
        page.blocks.push(Block::Form(FormSpec {
            title: "装车 / 卸车补录（手持终端未扫码时）".to_owned(),
            action: format!("/console/waybills/{}/moves", w.id),
            fields: vec![
                Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
                Field::new("kind", "操作", "load").options(vec![
                    ("load".to_owned(), "装车".to_owned()),
                    ("unload".to_owned(), "卸车".to_owned()),
                ]),
                Field::new("codes", "气瓶编码（每行一个，或用逗号、空格分隔）", "")
                    .kind("textarea")
                    .required(),
            ],
            submit: "登记",
        }));
    }
    page.blocks.push(Block::Links(
        "相关".to_owned(),
        vec![
            ("/console/waybills".to_owned(), "全部运单".to_owned()),
            ("/console/transport".to_owned(), "车辆最新位置".to_owned()),
        ],
    ));
    Ok(page)
}

pub(crate) async fn waybill(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    ok(waybill_page(&st, &v, &id).await?)
}

/// 装车 / 卸车补录: one `load` or `unload` event of the cylinders entered, under this waybill's
/// vehicle and number, at its origin (load) or destination site (unload) — recorded as
/// `POST /api/v1/events` records it, with its guards (permits, certificates, where each cylinder is).
pub(crate) async fn record_moves(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let w = pe(circ::waybill(&st, &v.p, &id).await)?;
    let kind = if f.get("kind") == "unload" {
        "unload"
    } else {
        "load"
    };
    let codes: Vec<&str> = f
        .get("codes")
        .split(|c: char| c.is_whitespace() || c == ',' || c == '，' || c == '、')
        .filter(|c| !c.is_empty())
        .collect();
    let site = if kind == "load" {
        Some(w.doc.waybill.origin_site_id)
    } else {
        w.doc.waybill.destination_site_id
    };
    let mut event = json!({
        "id": f.get("id").trim(), "kind": kind, "codes": codes, "time": st.now(),
        "data": {"vehicle": w.doc.plate.as_str(), "waybill": w.doc.number},
    });
    if let Some(s) = site {
        event["site_id"] = json!(s);
    }
    let audit = audit_to(meta, StatusCode::SEE_OTHER).note(format!(
        "waybill {} {kind} of {} cylinders",
        w.doc.number,
        codes.len()
    ));
    let action = format!("/console/waybills/{}/moves", w.id);
    match events::record_events(&st, &v.p, &json!({"events": [event]}), Some(&audit)).await {
        Ok(_) => Ok(audited(Redirect::to(&format!(
            "/console/waybills/{}",
            w.id
        )))),
        Err(e) => {
            let mut failure = FormFailure::of(&action, f.sent(), e)?;
            for e in &mut failure.errors {
                // `events[0].codes[1]` is a cylinder of the list (its code is in the message, or
                // named here); anything else of the event is said above the form.
                let path = e.field.strip_prefix("events[0].").unwrap_or(&e.field);
                if let Some(rest) = path.strip_prefix("codes[") {
                    let n: Option<usize> = rest.split(']').next().and_then(|n| n.parse().ok());
                    if let Some(code) = n.and_then(|n| codes.get(n))
                        && !e.message.contains(code)
                    {
                        e.message = format!("{code}：{}", e.message);
                    }
                    e.field = "codes".to_owned();
                } else if path == "codes" {
                    e.field = "codes".to_owned();
                    if codes.is_empty() {
                        e.message = "请填写气瓶编码".to_owned();
                    }
                } else {
                    e.field = String::new();
                }
            }
            waybill_page(&st, &v, &id).await?.refused(failure)
        }
    }
}
