//! Registration approvals and spot checks (the `/PS` documents, seen from the regulator console):
//! each spot check with the enterprise's answer and its photos (D5).

use axum::extract::{Extension, Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::complaints::thumbnails;
use super::regulator;
use crate::error::ApiError;
use crate::services::audit::RequestMeta;
use crate::services::ps::{self as svc, doc_state_zh};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::{audit_to, audited};
use crate::web::pages::kit::{Block, Cell, CsrfOnly, PageResult, Table, error_page, local, ok, pe};
use crate::web::pages::photos::photo_response;

pub(super) async fn registrations(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let docs = pe(svc::applications(&st, &v.p).await)?;
    let mut page = v
        .page(&st, "使用登记审批", "/supervision/registrations")
        .await;
    page.intro = "企业提交的新瓶 / 在用瓶使用登记申请；通过后为每只气瓶分配登记证编号并记入档案。"
        .to_owned();
    let mut t = Table::new(
        "registrations",
        "",
        &["申请时间", "申请单位", "类型", "气瓶数", "状态", "审批", ""],
    );
    for d in &docs {
        let pending = d.state == "pending";
        t.rows.push(vec![
            Cell::text(local(d.created_at)),
            Cell::text(&d.applicant),
            Cell::text(if d.new {
                "新瓶登记"
            } else {
                "在用瓶登记"
            }),
            Cell::num(d.cylinders),
            Cell::text(doc_state_zh(&d.state)),
            if pending {
                Cell::button(
                    format!("/supervision/registrations/{}/approve", d.id),
                    "通过",
                )
            } else {
                Cell::text("")
            },
            if pending {
                Cell::button(
                    format!("/supervision/registrations/{}/reject", d.id),
                    "驳回",
                )
            } else {
                Cell::text(&d.reason)
            },
        ]);
    }
    page.blocks.push(Block::Table(t));
    ok(page)
}

pub(super) async fn decide_registration(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, decision)): Path<(i64, String)>,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    regulator(&v)?;
    match decision.as_str() {
        "approve" => {
            let audit = audit_to(meta, StatusCode::SEE_OTHER)
                .note(format!("registration application {id} approved"));
            pe(svc::approve_registration(&st, &v.p, id, Some(&audit)).await)?;
            return Ok(audited(Redirect::to("/supervision/registrations")));
        }
        "reject" => {
            pe(svc::reject_registration(&st, &v.p, id, "资料不全，请补充后重新申请").await)?
        }
        _ => return Err(error_page(ApiError::NotFound("未知的审批操作".to_owned()))),
    }
    Ok(Redirect::to("/supervision/registrations").into_response())
}

pub(super) async fn spot_checks(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    let docs = pe(svc::spot_checks(&st, &v.p).await)?;
    let mut page = v.page(&st, "抽查", "/supervision/spot-checks").await;
    page.intro =
        "向企业下达的气瓶抽查任务及企业答复（下达：POST /api/v1/ps/spot-checks；企业在其控制台或通过 /PS 接口答复）。".to_owned();
    let mut t = Table::new(
        "spot_checks",
        "",
        &[
            "下达时间",
            "被抽查企业",
            "气瓶数",
            "说明",
            "状态",
            "企业答复",
            "答复时间",
            "照片",
        ],
    );
    let mut photos = Vec::new();
    for d in &docs {
        t.rows.push(vec![
            Cell::text(local(d.created_at)),
            Cell::text(&d.enterprise),
            Cell::num(d.cylinders),
            Cell::text(&d.comment),
            Cell::text(doc_state_zh(&d.state)),
            Cell::text(if d.answer.is_empty() {
                "—"
            } else {
                &d.answer
            }),
            Cell::text(ps_time(&d.answered_at)),
            Cell::num(d.photos),
        ]);
        if d.photos > 0 {
            photos.push(Block::Svg(
                format!(
                    "{} 的答复照片（{} 下达的抽查）",
                    d.enterprise,
                    local(d.created_at)
                ),
                thumbnails(
                    &format!("/supervision/spot-checks/{}/photos", d.id),
                    d.photos,
                ),
            ));
        }
    }
    page.blocks.push(Block::Table(t));
    page.blocks.extend(photos);
    ok(page)
}

/// `yyyyMMddHHmmss` (the /PS documents' times) as `yyyy-MM-dd HH:mm`, or `—`.
pub(crate) fn ps_time(s: &str) -> String {
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{} {}:{}",
            &s[..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12]
        )
    } else {
        "—".to_owned()
    }
}

/// A photo of a spot check's answer, for the regulator in scope.
pub(super) async fn spot_check_photo(
    State(st): State<AppState>,
    v: Viewer,
    Path((id, n)): Path<(i64, usize)>,
) -> PageResult {
    regulator(&v)?;
    let (bytes, ct) = pe(svc::spot_check_photo(&st, &v.p, id, n).await)?;
    Ok(photo_response(bytes, ct))
}
