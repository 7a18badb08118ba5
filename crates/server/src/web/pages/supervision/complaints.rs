//! Complaints from the public on the regulator's console (E5, F3): the list of the region's
//! complaints (phones masked), one complaint with its photos (served by a route scoped to the
//! regulator, never publicly by hash) and the form that decides it with the answer (答复) the
//! complainant reads with their code.

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use serde::Deserialize;
use uuid::Uuid;

use super::regulator;
use crate::services::complaints as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local, ok, pe,
};
use crate::web::pages::photos::photo_response;

pub(super) async fn complaints(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let rows = pe(svc::complaints(&st, &v.p).await)?;
    let mut page = v.page(&st, "投诉建议", "/supervision/complaints").await;
    page.intro = "群众在气瓶二维码页面提交的投诉和建议（电话已脱敏）。点击内容查看照片并答复：答复内容投诉人凭投诉编号可见；核实属实的计入企业信用评价。".to_owned();
    let mut t = Table::new(
        "complaints",
        "",
        &[
            "时间",
            "气瓶",
            "企业",
            "内容",
            "照片",
            "联系电话",
            "状态",
            "答复",
            "处理",
        ],
    );
    for r in &rows {
        let answer = if r.answer.is_empty() {
            r.reply.clone()
        } else {
            format!("{}：{}", r.reply, r.answer)
        };
        t.rows.push(vec![
            Cell::text(local(r.created_at)),
            Cell::text(&r.code),
            Cell::text(&r.org),
            Cell::link(&r.content, format!("/supervision/complaints/{}", r.id)),
            Cell::num(r.photos),
            Cell::text(&r.phone),
            Cell::text(svc::complaint_state_zh(&r.state)),
            Cell::text(answer),
            if r.state == "open" {
                Cell::button(
                    format!("/supervision/complaints/{}?verdict=upheld", r.id),
                    "属实",
                )
            } else {
                Cell::link("查看", format!("/supervision/complaints/{}", r.id))
            },
        ]);
        if r.state == "open" {
            let mut second: Vec<Cell> = (0..8).map(|_| Cell::text("")).collect();
            second.push(Cell::button(
                format!("/supervision/complaints/{}?verdict=rejected", r.id),
                "不属实",
            ));
            t.rows.push(second);
        }
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// Thumbnails of `n` photos served at `{base}/{i}`, each a link to the full picture (our own SVG:
/// the addresses are built from ids only).
pub(crate) fn thumbnails(base: &str, n: usize) -> String {
    const W: usize = 220;
    const H: usize = 165;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" role="img" aria-label="照片">"#,
        n * (W + 10)
    );
    for i in 0..n {
        let x = i * (W + 10);
        svg.push_str(&format!(
            r##"<a href="{base}/{i}" target="_blank"><rect x="{x}" y="0" width="{W}" height="{H}" fill="#eef1f4"/><image href="{base}/{i}" x="{x}" y="0" width="{W}" height="{H}" preserveAspectRatio="xMidYMid meet"/></a>"##
        ));
    }
    svg.push_str("</svg>");
    svg
}

async fn complaint_page(st: &AppState, v: &Viewer, id: Uuid) -> Result<Page, PageError> {
    let c = pe(svc::complaint(st, &v.p, id).await)?;
    let mut page = v
        .page(
            st,
            &format!("投诉 · 气瓶 {}", c.code),
            "/supervision/complaints",
        )
        .await;
    page.blocks.push(Block::Facts(
        "投诉内容".to_owned(),
        vec![
            ("时间".to_owned(), local(c.created_at)),
            ("气瓶".to_owned(), c.code.clone()),
            ("被投诉企业".to_owned(), c.org.clone()),
            ("内容".to_owned(), c.content.clone()),
            ("联系电话".to_owned(), c.phone.clone()),
            (
                "状态".to_owned(),
                svc::complaint_state_zh(&c.state).to_owned(),
            ),
            (
                "答复".to_owned(),
                if c.answer.is_empty() {
                    "—".to_owned()
                } else {
                    c.answer.clone()
                },
            ),
        ],
    ));
    let base = format!("/supervision/complaints/{id}/photos");
    if c.photos > 0 {
        page.blocks.push(Block::Svg(
            format!("照片（{} 张，点击查看原图）", c.photos),
            thumbnails(&base, c.photos),
        ));
        page.blocks.push(Block::Links(
            "照片原图".to_owned(),
            (0..c.photos)
                .map(|i| (format!("{base}/{i}"), format!("照片 {}", i + 1)))
                .collect(),
        ));
    } else {
        page.blocks.push(Block::Note("投诉人未附照片。".to_owned()));
    }
    if c.state == "open" {
        page.blocks.push(Block::Form(FormSpec {
            title: "核实结论与答复".to_owned(),
            action: format!("/supervision/complaints/{id}"),
            fields: vec![
                Field::new("verdict", "核实结论", "").options(vec![
                    ("upheld".to_owned(), "属实（计入企业信用评价）".to_owned()),
                    ("rejected".to_owned(), "不属实".to_owned()),
                ]),
                Field::new("answer", "答复投诉人（投诉人凭编号可见）", "")
                    .kind("textarea")
                    .required(),
            ],
            submit: "提交答复",
        }));
    }
    Ok(page)
}

pub(super) async fn complaint(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
) -> PageResult {
    regulator(&v)?;
    ok(complaint_page(&st, &v, id).await?)
}

#[derive(Deserialize, Default)]
pub(super) struct VerdictQuery {
    verdict: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    verdict: Option<String>,
    #[serde(default)]
    answer: String,
}

/// Decides a complaint: the verdict from the form (or, for the list's one-click buttons, the query)
/// and the answer.
pub(super) async fn answer_complaint(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<VerdictQuery>,
    Form(f): Form<AnswerForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    let verdict = f.verdict.or(q.verdict).unwrap_or_default();
    let action = format!("/supervision/complaints/{id}");
    match svc::answer_complaint(&st, &v.p, id, &verdict, &f.answer).await {
        Ok(()) => Ok(noted(
            Redirect::to("/supervision/complaints"),
            format!("complaint {id} decided {verdict}"),
        )),
        Err(e) => {
            let failure = FormFailure::of(
                &action,
                vec![
                    ("verdict".to_owned(), verdict.clone()),
                    ("answer".to_owned(), f.answer.clone()),
                ],
                e,
            )?;
            complaint_page(&st, &v, id).await?.refused(failure)
        }
    }
}

/// A complaint's photo, for the regulator of its region only.
pub(super) async fn complaint_photo(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, n)): Path<(Uuid, usize)>,
) -> PageResult {
    regulator(&v)?;
    let (bytes, ct) = pe(svc::complaint_photo(&st, &v.p, id, n).await)?;
    Ok(photo_response(bytes, ct))
}
