//! 监管抽查 in the enterprise console (D5): the spot checks a regulator addressed to the enterprise,
//! each answered here with a text and up to three photos (JPEG, PNG or WebP, at most 5 MB each;
//! refused photos are named next to the field and nothing is kept). The regulator reads the answer
//! and sees the photos on its spot-check page.

use axum::extract::{Path, State};
use axum::response::Redirect;

use super::enterprise;
use crate::services::ps as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, error_page,
    local, ok, pe,
};
use crate::web::pages::photos::{PhotoForm, photo_response};
use crate::web::pages::supervision::{ps_time, thumbnails};

pub(super) async fn spot_checks(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let docs = pe(svc::spot_checks(&st, &v.p).await)?;
    let mut page = v.page(&st, "监管抽查", "/console/spot-checks").await;
    page.intro =
        "监管部门下达的气瓶抽查。请逐项核查后答复，可附最多 3 张照片；答复后监管部门即可查看。"
            .to_owned();
    let mut t = Table::new(
        "spot_checks",
        "",
        &["下达时间", "抽查气瓶", "说明", "状态", "答复", "操作"],
    );
    for d in &docs {
        t.rows.push(vec![
            Cell::text(local(d.created_at)),
            Cell::text(d.codes.join(" ")),
            Cell::text(&d.comment),
            Cell::text(svc::doc_state_zh(&d.state)),
            Cell::text(if d.answer.is_empty() {
                "—"
            } else {
                &d.answer
            }),
            Cell::link(
                if d.state == "open" {
                    "答复"
                } else {
                    "查看"
                },
                format!("/console/spot-checks/{}", d.id),
            ),
        ]);
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

async fn spot_check_page(st: &AppState, v: &Viewer, id: i64) -> Result<Page, PageError> {
    let d = pe(svc::spot_check(st, &v.p, id).await)?;
    let mut page = v.page(st, "监管抽查", "/console/spot-checks").await;
    page.heading = format!("抽查 · {} 下达", local(d.created_at));
    page.blocks.push(Block::Facts(
        "抽查内容".to_owned(),
        vec![
            ("下达时间".to_owned(), local(d.created_at)),
            ("说明".to_owned(), d.comment.clone()),
            ("抽查气瓶".to_owned(), d.codes.join("、")),
            ("状态".to_owned(), svc::doc_state_zh(&d.state).to_owned()),
            (
                "答复".to_owned(),
                if d.answer.is_empty() {
                    "—".to_owned()
                } else {
                    d.answer.clone()
                },
            ),
            ("答复时间".to_owned(), ps_time(&d.answered_at)),
        ],
    ));
    if d.photos > 0 {
        page.blocks.push(Block::Svg(
            format!("答复照片（{} 张）", d.photos),
            thumbnails(&format!("/console/spot-checks/{id}/photos"), d.photos),
        ));
    }
    if d.state == "open" {
        page.blocks.push(Block::Form(FormSpec {
            title: "答复抽查".to_owned(),
            action: format!("/console/spot-checks/{id}"),
            fields: vec![
                Field::new("answer", "核查情况", "")
                    .kind("textarea")
                    .required(),
                Field::new("photos", "照片 1（JPEG/PNG/WebP，≤5 MB）", "").kind("file"),
                Field::new("photos", "照片 2", "").kind("file"),
                Field::new("photos", "照片 3", "").kind("file"),
            ],
            submit: "提交答复",
        }));
    }
    Ok(page)
}

pub(super) async fn spot_check(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    enterprise(&v)?;
    ok(spot_check_page(&st, &v, id).await?)
}

/// The answer with its photos (multipart): judged whole, stored only when every part passes.
pub(super) async fn answer(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    form: PhotoForm,
) -> PageResult {
    enterprise(&v)?;
    let action = format!("/console/spot-checks/{id}");
    if let Some((status, why)) = &form.broken {
        let failure = FormFailure {
            action: action.clone(),
            values: Vec::new(),
            status: *status,
            errors: vec![cyltrace_domain::FieldError::new("photos", why.clone())],
        };
        return spot_check_page(&st, &v, id).await?.refused(failure);
    }
    v.check_csrf(form.csrf())?;
    let result = svc::answer_spot_check_here(&st, &v.p, id, form.get("answer"), &form.photos).await;
    match result {
        Ok(()) => Ok(noted(
            Redirect::to("/console/spot-checks"),
            format!("spot check {id} answered with {} photos", form.photos.len()),
        )),
        Err(e) => {
            let failure = FormFailure::of(&action, form.values(&["answer"]), e)?;
            spot_check_page(&st, &v, id).await?.refused(failure)
        }
    }
}

/// A photo of one of the enterprise's spot-check answers.
pub(super) async fn photo(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, n)): Path<(i64, usize)>,
) -> PageResult {
    enterprise(&v)?;
    let (bytes, ct) = svc::spot_check_photo(&st, &v.p, id, n)
        .await
        .map_err(error_page)?;
    Ok(photo_response(bytes, ct))
}
