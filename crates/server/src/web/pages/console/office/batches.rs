//! 充装批次 (B5): the enterprise's filling batches with the form that defines one, and a batch's
//! page — the fills that name it (at its enterprise's stations) with their count, total net weight
//! and the fills made although the last filling-control decision refused the cylinder.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use cyltrace_domain::filling::known_media;
use cyltrace_domain::{EventData, SiteKind};
use cyltrace_store::Page as StorePage;
use serde::Deserialize;

use super::{Posted, finish, object, offset, page_no, pager, table_or};
use crate::services::{filling, orgs};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::console::{PAGE_ROWS, enterprise};
use crate::web::pages::kit::{
    Block, Card, Cell, Field, FormSpec, Page, PageError, PageResult, Pager, Table, local, ok, pe,
};

#[derive(Deserialize, Default)]
pub(crate) struct PageQuery {
    page: Option<i64>,
}

/// The sites in scope: (id, name) of all, and the filling stations.
async fn sites(
    st: &AppState,
    v: &Viewer,
) -> Result<HashMap<String, (String, SiteKind)>, PageError> {
    Ok(pe(orgs::list_sites(
        st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?
    .into_iter()
    .map(|s| (s.id.to_string(), (s.name, s.kind)))
    .collect())
}

async fn batches_page(st: &AppState, v: &Viewer, n: i64) -> Result<Page, PageError> {
    enterprise(v)?;
    let list = pe(filling::list_batches(
        st,
        &v.p,
        StorePage {
            limit: PAGE_ROWS as i64,
            offset: offset(n),
        },
    )
    .await)?;
    let sites = sites(st, v).await?;
    let mut page = v.page(st, "充装批次", "/console/batches").await;
    page.intro = "充装记录以批次号归入批次（充装工在手持终端选择当天的批次）；点击批次号查看该批次的充装记录和统计。".to_owned();
    let mut t = Table::new(
        "batches",
        "",
        &["批次号", "名称", "介质", "充装站", "创建时间"],
    );
    t.rows = list
        .iter()
        .map(|b| {
            vec![
                Cell::link(&b.number, format!("/console/batches/{}", b.id)),
                Cell::text(b.name.as_deref().unwrap_or("—")),
                Cell::text(b.medium.as_deref().unwrap_or("—")),
                Cell::text(
                    b.site_id
                        .and_then(|s| sites.get(&s.to_string()))
                        .map_or("—", |(name, _)| name.as_str()),
                ),
                Cell::text(local(b.created_at)),
            ]
        })
        .collect();
    t.pager = Some(pager("/console/batches", &[], n, list.len()));
    page.blocks.push(table_or(
        t,
        n,
        "还没有充装批次：请先在下面新建批次，充装记录才能归入批次。",
    ));
    let mut stations: Vec<(String, String)> = sites
        .iter()
        .filter(|(_, (_, k))| *k == SiteKind::FillingStation)
        .map(|(id, (name, _))| (id.clone(), name.clone()))
        .collect();
    stations.sort_by(|a, b| a.1.cmp(&b.1));
    stations.insert(0, (String::new(), "不限".to_owned()));
    page.blocks.push(Block::Form(FormSpec {
        title: "新建充装批次".to_owned(),
        action: "/console/batches".to_owned(),
        fields: vec![
            Field::new("number", "批次号（本单位内唯一，如 B20260315-2）", "").required(),
            Field::new("name", "名称（可选）", ""),
            Field::new("site_id", "充装站", "").options(stations),
            Field::new("medium", "充装介质", "液化石油气").options(
                std::iter::once((String::new(), "不限".to_owned()))
                    .chain(
                        known_media()
                            .iter()
                            .map(|m| ((*m).to_owned(), (*m).to_owned())),
                    )
                    .collect(),
            ),
        ],
        submit: "新建批次",
    }));
    Ok(page)
}

pub(crate) async fn batches(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<PageQuery>,
) -> PageResult {
    ok(batches_page(&st, &v, page_no(q.page)).await?)
}

pub(crate) async fn create_batch(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("number", f.required("number")),
        ("name", f.text("name")),
        ("site_id", f.text("site_id")),
        ("medium", f.text("medium")),
    ]);
    finish(
        filling::create_batch(&st, &v.p, &body).await,
        "/console/batches",
        f.sent(),
        |b| {
            (
                format!("/console/batches/{}", b.id),
                format!("batch {} {} of org {}", b.id, b.number, b.org_id),
            )
        },
        |x| x,
        async || batches_page(&st, &v, 0).await,
    )
    .await
}

/// One batch (B5): its fills, a page at a time, and what they all add up to.
pub(crate) async fn batch(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let n = page_no(q.page);
    let (b, fills, counts) = pe(filling::batch_fills(
        &st,
        &v.p,
        &id,
        StorePage {
            limit: PAGE_ROWS as i64,
            offset: offset(n),
        },
    )
    .await)?;
    let sites = sites(&st, &v).await?;
    let site_name = |s: Option<uuid::Uuid>| {
        s.and_then(|s| sites.get(&s.to_string()))
            .map_or("—".to_owned(), |(name, _)| name.clone())
    };
    let mut page = v
        .page(&st, &format!("充装批次 · {}", b.number), "/console/batches")
        .await;
    page.cards = vec![
        Card::new("fills", "充装瓶数", counts.fills),
        Card::new(
            "net_kg",
            "充装净重合计（kg）",
            format!("{:.2}", counts.net_kg),
        ),
        Card::new("refused", "拒充后仍充装", counts.refused).class(if counts.refused > 0 {
            "bad"
        } else {
            "good"
        }),
    ];
    page.blocks.push(Block::Facts(
        "批次".to_owned(),
        vec![
            ("批次号".to_owned(), b.number.clone()),
            (
                "名称".to_owned(),
                b.name.clone().unwrap_or_else(|| "—".to_owned()),
            ),
            (
                "介质".to_owned(),
                b.medium.clone().unwrap_or_else(|| "不限".to_owned()),
            ),
            ("充装站".to_owned(), site_name(b.site_id)),
            ("创建时间".to_owned(), local(b.created_at)),
        ],
    ));
    let mut t = Table::new(
        "batch_fills",
        "本批次的充装记录",
        &[
            "时间",
            "气瓶",
            "充装站",
            "充装工",
            "秤",
            "皮重 kg",
            "毛重 kg",
            "净重 kg",
            "充装控制",
        ],
    );
    t.rows = fills
        .iter()
        .map(|f| {
            let e = &f.event.event;
            let (scale, tare, gross) = match &e.data {
                EventData::Fill(d) => (d.scale_no.to_string(), d.tare_kg.get(), d.gross_kg.get()),
                _ => (String::new(), 0.0, 0.0),
            };
            let code = e.codes.first().map(|c| c.as_str()).unwrap_or_default();
            vec![
                Cell::text(local(e.time)),
                Cell::link(code, format!("/console/cylinders/{code}")),
                Cell::text(site_name(e.site_id)),
                Cell::text(e.operator.as_ref().map_or("—", |o| o.as_str())),
                Cell::text(scale),
                Cell::num(format!("{tare:.2}")),
                Cell::num(format!("{gross:.2}")),
                Cell::num(format!("{:.2}", gross - tare)),
                if f.refused {
                    Cell::text("拒充后仍充装").class("bad")
                } else {
                    Cell::text("—")
                },
            ]
        })
        .collect();
    let total = counts.fills;
    t.pager = Some(Pager {
        prev: if n > 0 {
            format!("/console/batches/{}?page={}", b.id, n - 1)
        } else {
            String::new()
        },
        next: if offset(n + 1) < total {
            format!("/console/batches/{}?page={}", b.id, n + 1)
        } else {
            String::new()
        },
        note: format!("共 {total} 条，第 {} 页", n + 1),
    });
    if total == 0 {
        page.blocks.push(Block::Note(format!(
            "本批次还没有充装记录：充装工记录充装时选择批次“{}”，记录即归入本批次。",
            b.number
        )));
    } else {
        page.blocks.push(Block::Table(t));
    }
    ok(page)
}
