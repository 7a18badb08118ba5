//! Cylinder archives (气瓶档案): the search, one cylinder with its trace, documents and labels; and
//! label printing with the number blocks and issuance (标签打印).

use axum::extract::{Path, Query, State};
use cyltrace_domain::Verdict;
use cyltrace_domain::time::china_date;
use serde::Deserialize;

use super::{MAX_PAGE_NO, PAGE_ROWS, enterprise};
use crate::services::circulation as circ;
use crate::services::cylinders::{self, CylinderSearch};
use crate::services::{self, labels};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{
    Block, Card, Cell, Field, Filter, PageResult, Pager, Table, json_num, local, ok, or_dash, pe,
    verdict_cell,
};
use cyltrace_domain::Role;

#[derive(Deserialize, Default)]
pub(super) struct CylinderQuery {
    q: Option<String>,
    verdict: Option<String>,
    location: Option<String>,
    page: Option<usize>,
}

fn verdict_options() -> Vec<(String, String)> {
    let mut o = vec![(String::new(), "全部".to_owned())];
    for v in [
        Verdict::Ok,
        Verdict::Overdue,
        Verdict::Expired,
        Verdict::Scrapped,
        Verdict::InvalidLabel,
    ] {
        o.push((v.as_str().to_owned(), v.label_zh().to_owned()));
    }
    o
}

fn location_options() -> Vec<(String, String)> {
    use cyltrace_domain::LocationKind as L;
    let mut o = vec![(String::new(), "全部".to_owned())];
    for l in [
        L::Unknown,
        L::EmptyStore,
        L::FullStore,
        L::InTransport,
        L::AtDealer,
        L::AtCustomer,
        L::InInspection,
        L::Scrapped,
    ] {
        o.push((l.as_str().to_owned(), l.label_zh().to_owned()));
    }
    o
}

/// 气瓶档案: search by code, factory serial or inner number; filter by verdict and location.
pub(super) async fn cylinders(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<CylinderQuery>,
) -> PageResult {
    v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin, Role::Regulator])?;
    let needle = q.q.clone().unwrap_or_default().trim().to_owned();
    let verdict = q.verdict.clone().unwrap_or_default();
    let location = q.location.clone().unwrap_or_default();
    let page_no = q.page.unwrap_or(0).min(MAX_PAGE_NO);
    let search = CylinderSearch {
        needle: needle.clone(),
        verdict: verdict.clone(),
        location: location.clone(),
    };
    let (hits, matched) =
        pe(cylinders::search(&st, &v.p, &search, page_no * PAGE_ROWS, PAGE_ROWS).await)?;
    let rows = hits
        .iter()
        .map(|(c, vd)| {
            let a = &c.archive;
            let code = a.code.as_str();
            vec![
                Cell::link(code, format!("/console/cylinders/{code}")),
                Cell::text(a.factory_serial.as_ref().map_or("—", |s| s.as_str())),
                Cell::text(a.medium.as_ref().map_or("—", |s| s.as_str())),
                Cell::text(a.style.as_ref().map_or("—", |s| s.as_str())),
                Cell::text(c.status.location_kind.label_zh()),
                Cell::text(if c.status.full { "重瓶" } else { "空瓶" }),
                Cell::text(
                    c.status
                        .next_check_date
                        .map_or("—".to_owned(), |d| d.to_string()),
                ),
                verdict_cell(*vd),
            ]
        })
        .collect();
    let mut page = v.page(&st, "气瓶档案", "/console/cylinders").await;
    page.filter = Some(Filter {
        action: "/console/cylinders".to_owned(),
        fields: vec![
            Field::new("q", "气瓶编码 / 出厂编号 / 自有编号", needle.clone()),
            Field::new("verdict", "判定", verdict.clone()).options(verdict_options()),
            Field::new("location", "位置", location.clone()).options(location_options()),
        ],
    });
    let mut t = Table::new(
        "cylinders",
        &format!("共 {matched} 只"),
        &[
            "气瓶编码",
            "出厂编号",
            "介质",
            "规格型号",
            "位置",
            "空/重",
            "下次检验",
            "判定",
        ],
    );
    t.rows = rows;
    let link = |n: usize| {
        let qs = serde_urlencoded::to_string([
            ("q", needle.as_str()),
            ("verdict", verdict.as_str()),
            ("location", location.as_str()),
            ("page", &n.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/cylinders?{qs}")
    };
    t.pager = Some(Pager {
        prev: if page_no > 0 {
            link(page_no - 1)
        } else {
            String::new()
        },
        next: if (page_no + 1) * PAGE_ROWS < matched {
            link(page_no + 1)
        } else {
            String::new()
        },
        note: format!("第 {} 页", page_no + 1),
    });
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// One cylinder: archive, status, the full trace with ledger indexes, documents and labels.
pub(super) async fn cylinder(
    State(st): State<AppState>,
    v: Viewer,
    Path(code): Path<String>,
) -> PageResult {
    ok(cylinder_view(&st, &v, &code).await?)
}

/// The cylinder page (also shown again with a refused correction form).
pub(super) async fn cylinder_view(
    st: &AppState,
    v: &Viewer,
    code: &str,
) -> Result<crate::web::pages::kit::Page, crate::web::pages::kit::PageError> {
    let st = st.clone();
    let code = code.to_owned();
    let c = pe(services::get_cylinder(&st, &v.p, &code).await)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let a = &c.archive;
    let s = &c.status;
    let owner = pe(cylinders::owner_name(&st, &c).await)?;
    let t =
        |o: Option<&cyltrace_domain::Text>| o.map_or("—".to_owned(), |s| s.as_str().to_owned());
    let d = |o: Option<cyltrace_domain::Date>| o.map_or("—".to_owned(), |d| d.to_string());
    let vd = Verdict::of(a, s, today);
    let mut page = v
        .page(
            &st,
            &format!("气瓶 {}", a.code.as_str()),
            "/console/cylinders",
        )
        .await;
    page.cards = vec![
        Card::new("verdict", "判定", vd.label_zh()).class(match vd {
            Verdict::Ok => "good",
            Verdict::Overdue => "warn",
            _ => "bad",
        }),
        Card::new("location", "当前位置", s.location_kind.label_zh()),
        Card::new("full", "空/重", if s.full { "重瓶" } else { "空瓶" }),
        Card::new("state", "档案状态", a.state.label_zh()),
    ];
    page.blocks.push(Block::Facts(
        "档案".to_owned(),
        vec![
            ("气瓶编码".to_owned(), a.code.as_str().to_owned()),
            (
                "产权单位".to_owned(),
                owner.unwrap_or_else(|| "—".to_owned()),
            ),
            ("出厂编号".to_owned(), t(a.factory_serial.as_ref())),
            ("自有编号".to_owned(), t(a.inner_no.as_ref())),
            ("规格型号".to_owned(), t(a.style.as_ref())),
            ("充装介质".to_owned(), t(a.medium.as_ref())),
            ("制造单位".to_owned(), t(a.manufacturer.as_ref())),
            ("上次检验".to_owned(), d(s.last_check_date)),
            ("下次检验".to_owned(), d(s.next_check_date)),
            ("报废日期".to_owned(), d(a.effective_discard_date())),
            (
                "使用登记证".to_owned(),
                s.registration
                    .as_ref()
                    .map_or("未登记".to_owned(), |r| r.number.as_str().to_owned()),
            ),
            (
                "电子标签".to_owned(),
                format!(
                    "{}{}",
                    if s.label == cyltrace_domain::LabelStatus::Active {
                        "有效"
                    } else {
                        "已作废"
                    },
                    if s.tag_bound { "（已绑定）" } else { "" }
                ),
            ),
        ],
    ));
    let rows = pe(circ::trajectory(&st, &v.p, &code).await)?;
    let mut tr = Table::new(
        "trace",
        "全程追溯（每条记录已存证，序号为存证账本索引）",
        &[
            "时间",
            "操作",
            "操作人",
            "地点",
            "去向/对象",
            "皮重",
            "毛重",
            "存证序号",
        ],
    );
    tr.rows = rows
        .iter()
        .rev()
        .map(|r| {
            vec![
                Cell::text(local(r.time)),
                Cell::text(&r.operation),
                Cell::text(&r.operator),
                Cell::text(&r.place),
                Cell::text(&r.target),
                r.tare_kg.map_or(Cell::text("—"), Cell::num),
                r.gross_kg.map_or(Cell::text("—"), Cell::num),
                Cell::num(r.ledger_index),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(tr));
    let code = a.code.as_str();
    let mut links = vec![
        (format!("/q/{code}"), "公众查询页（二维码页面）".to_owned()),
        (
            format!("/api/v1/labels/{code}/svg"),
            "标签（SVG，可打印）".to_owned(),
        ),
        (
            format!("/api/v1/labels/sheet?codes={code}"),
            "A4 标签纸（PDF）".to_owned(),
        ),
        (
            format!("/api/v1/cylinders/{code}/trajectory?format=csv"),
            "流向表（CSV）".to_owned(),
        ),
    ];
    if s.last_check_date.is_some() {
        links.push((
            format!("/api/v1/cylinders/{code}/inspection-report"),
            "最近一次检验报告（PDF）".to_owned(),
        ));
    }
    page.blocks
        .push(Block::Links("标签与文件".to_owned(), links));
    page.blocks.extend(super::masterdata::archive_forms(v, &c));
    Ok(page)
}

/// 标签打印: label blocks, issuance and the A4 sheet.
pub(super) async fn labels(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let issuance = pe(labels::issuance(&st, &v.p).await)?;
    let blocks = pe(labels::blocks(&st, &v.p).await)?;
    let mut page = v.page(&st, "标签打印", "/console/labels").await;
    page.intro =
        "标签号段、发卡记录与发卡率；在气瓶档案页可打印单个标签或 A4 标签纸（每页 10 枚）。"
            .to_owned();
    let mut t = Table::new(
        "issuance",
        "发卡率",
        &["单位", "已建档", "已绑定标签", "发卡率"],
    );
    t.rows = issuance
        .iter()
        .map(|r| {
            vec![
                or_dash(r.org_name.as_ref()),
                Cell::num(r.archived),
                Cell::num(r.bound),
                json_num(r.rate),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    let mut b = Table::new("blocks", "标签号段", &["前缀", "介质", "下一序号", "状态"]);
    b.rows = Vec::with_capacity(blocks.len());
    for r in &blocks {
        let d = pe(labels::BlockDoc::of(r))?;
        b.rows.push(vec![
            Cell::text(&d.prefix),
            Cell::text(&d.medium),
            Cell::num(d.next),
            Cell::text(&r.state),
        ]);
    }
    page.blocks.push(Block::Table(b));
    page.blocks.push(Block::Links(
        "号段与发卡".to_owned(),
        vec![(
            "/console/label-blocks".to_owned(),
            "分配号段、发卡".to_owned(),
        )],
    ));
    page.filter = Some(Filter {
        action: "/api/v1/labels/sheet".to_owned(),
        fields: vec![Field::new(
            "codes",
            "打印 A4 标签纸：气瓶编码（逗号分隔，最多 500 个）",
            "",
        )],
    });
    ok(page)
}
