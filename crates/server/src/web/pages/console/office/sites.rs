//! 站点仓库: the organisation's sites (each linked to its edit page in `masterdata`) and the form
//! that opens a new one (`POST /api/v1/sites`'s service).

use axum::extract::{Form, Query, State};
use cyltrace_domain::SiteKind;
use cyltrace_store::Page as StorePage;
use serde::Deserialize;

use super::{Posted, finish, object, offset, page_no, pager, table_or};
use crate::services::orgs;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::console::{PAGE_ROWS, enterprise};
use crate::web::pages::kit::{
    Block, Cell, Field, FormSpec, Page, PageError, PageResult, Table, ok, pe,
};

#[derive(Deserialize, Default)]
pub(crate) struct SitesQuery {
    page: Option<i64>,
}

pub(crate) fn kind_options() -> Vec<(String, String)> {
    [
        SiteKind::FillingStation,
        SiteKind::Warehouse,
        SiteKind::Store,
        SiteKind::DeliveryStation,
    ]
    .iter()
    .map(|k| (k.as_str().to_owned(), k.label_zh().to_owned()))
    .collect()
}

async fn sites_page(st: &AppState, v: &Viewer, n: i64) -> Result<Page, PageError> {
    enterprise(v)?;
    let sites = pe(orgs::list_sites(
        st,
        &v.p,
        StorePage {
            limit: PAGE_ROWS as i64,
            offset: offset(n),
        },
    )
    .await)?;
    let mut page = v.page(st, "站点仓库", "/console/sites").await;
    page.intro = "点击站点名称可修改站点信息或关闭站点。".to_owned();
    let mut t = Table::new(
        "sites",
        "",
        &["名称", "类型", "状态", "地址", "纬度", "经度"],
    );
    t.rows = sites
        .iter()
        .map(|s| {
            vec![
                Cell::link(&s.name, format!("/console/sites/{}", s.id)),
                Cell::text(s.kind.label_zh()),
                if s.active {
                    Cell::text("运营中").class("ok")
                } else {
                    Cell::text("已关闭").class("bad")
                },
                Cell::text(s.address.as_deref().unwrap_or("—")),
                s.lat.map_or(Cell::text("—"), Cell::num),
                s.lon.map_or(Cell::text("—"), Cell::num),
            ]
        })
        .collect();
    t.pager = Some(pager("/console/sites", &[], n, sites.len()));
    page.blocks.push(table_or(
        t,
        n,
        "还没有站点：请先在下面新增充装站、仓库、供应站或配送站。",
    ));
    page.blocks.push(Block::Form(FormSpec {
        title: "新增站点".to_owned(),
        action: "/console/sites".to_owned(),
        fields: vec![
            Field::new("kind", "类型", "filling_station").options(kind_options()),
            Field::new("name", "名称", "").required(),
            Field::new("address", "地址", ""),
            Field::new("lat", "纬度（可选，如 24.919）", ""),
            Field::new("lon", "经度（可选，如 102.478）", ""),
        ],
        submit: "新增站点",
    }));
    Ok(page)
}

pub(crate) async fn sites(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<SitesQuery>,
) -> PageResult {
    ok(sites_page(&st, &v, page_no(q.page)).await?)
}

/// Opens a site of the viewer's organisation.
pub(crate) async fn create_site(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("org_id", serde_json::json!(v.p.org_id)),
        ("kind", f.required("kind")),
        ("name", f.required("name")),
        ("address", f.text("address")),
        ("lat", f.number("lat")),
        ("lon", f.number("lon")),
    ]);
    finish(
        orgs::create_site(&st, &v.p, &body).await,
        "/console/sites",
        f.sent(),
        |s| {
            (
                format!("/console/sites/{}", s.id),
                format!("site {} {} created", s.id, s.name),
            )
        },
        |x| x,
        async || sites_page(&st, &v, 0).await,
    )
    .await
}
