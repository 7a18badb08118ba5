//! 委托充装与停用 (issue 16, B9, A10): the regulator grants and revokes permissions for a filling
//! enterprise to fill another owner's cylinders, and locks or unlocks a cylinder of its region.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Redirect;
use cyltrace_domain::OrgKind;
use cyltrace_store::Page as StorePage;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::regulator;
use crate::error::ApiError;
use crate::services::{cylinders, orgs, permissions};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, CsrfOnly, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, ok, pe,
};

const GRANT: &str = "/supervision/permissions";
const LOCK: &str = "/supervision/permissions/cylinder-state";

async fn permissions_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    let all = StorePage {
        limit: 1000,
        offset: 0,
    };
    let list = pe(permissions::list(st, &v.p, all).await)?;
    let enterprises: Vec<(String, String)> = pe(orgs::list_orgs(st, &v.p, all).await)?
        .into_iter()
        .filter(|o| o.kind == OrgKind::FillingEnterprise)
        .map(|o| (o.id.to_string(), o.name))
        .collect();
    let mut page = v.page(st, "委托充装与气瓶停用", GRANT).await;
    page.intro = "经使用登记机关同意，充装单位可在有效期内充装其他产权单位的气瓶（委托充装）；车用气瓶不受“非本站登记气瓶”限制。停用的气瓶禁止充装和流转，恢复使用后方可继续。".to_owned();
    let mut t = Table::new(
        "permissions",
        "委托充装许可",
        &[
            "产权单位",
            "受托充装单位",
            "有效期至",
            "状态",
            "批准时间",
            "",
        ],
    );
    t.rows = list
        .iter()
        .map(|p| {
            vec![
                Cell::text(&p.owner_name),
                Cell::text(&p.filler_name),
                Cell::text(p.valid_until),
                Cell::text(p.state_zh()).class(match p.state {
                    "active" => "ok",
                    "expired" => "warn",
                    _ => "",
                }),
                Cell::text(crate::web::pages::kit::local(p.created_at)),
                if p.state == "revoked" {
                    Cell::text("")
                } else {
                    Cell::button(format!("{GRANT}/{}/revoke", p.id), "撤销")
                },
            ]
        })
        .collect();
    if list.is_empty() {
        page.blocks.push(Block::Note(
            "尚无委托充装许可。需要时在下方选择产权单位和受托充装单位并填写有效期。".to_owned(),
        ));
    }
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Form(FormSpec {
        title: "批准委托充装".to_owned(),
        action: GRANT.to_owned(),
        fields: vec![
            Field::new("owner_org_id", "产权单位", "").options(enterprises.clone()),
            Field::new("filler_org_id", "受托充装单位", "").options(enterprises),
            Field::new("valid_until", "有效期至", "")
                .kind("date")
                .required(),
        ],
        submit: "批准",
    }));
    page.blocks.push(Block::Form(FormSpec {
        title: "停用或恢复气瓶".to_owned(),
        action: LOCK.to_owned(),
        fields: vec![
            Field::new("code", "气瓶编码", "").required(),
            Field::new("state", "操作", "locked").options(vec![
                ("locked".to_owned(), "停用（锁定）".to_owned()),
                ("normal".to_owned(), "恢复使用".to_owned()),
            ]),
            Field::new("reason", "原因", "").required(),
        ],
        submit: "提交",
    }));
    Ok(page)
}

pub(super) async fn page(State(st): State<AppState>, v: Viewer) -> PageResult {
    regulator(&v)?;
    ok(permissions_page(&st, &v).await?)
}

#[derive(Deserialize)]
pub(super) struct GrantForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    owner_org_id: String,
    filler_org_id: String,
    valid_until: String,
}

pub(super) async fn grant(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<GrantForm>,
) -> PageResult {
    regulator(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let body = json!({"owner_org_id": f.owner_org_id.trim(), "filler_org_id": f.filler_org_id.trim(),
                      "valid_until": f.valid_until.trim()});
    match permissions::grant(&st, &v.p, &body).await {
        Ok(p) => Ok(noted(
            Redirect::to(GRANT),
            format!(
                "filling permission {}: owner {} filler {} until {}",
                p.id, p.owner_org_id, p.filler_org_id, p.valid_until
            ),
        )),
        Err(e) => {
            let sent = vec![
                ("owner_org_id".to_owned(), f.owner_org_id),
                ("filler_org_id".to_owned(), f.filler_org_id),
                ("valid_until".to_owned(), f.valid_until),
            ];
            permissions_page(&st, &v)
                .await?
                .refused(FormFailure::of(GRANT, sent, e)?)
        }
    }
}

pub(super) async fn revoke(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    regulator(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    pe(permissions::revoke(&st, &v.p, id).await)?;
    Ok(noted(
        Redirect::to(GRANT),
        format!("filling permission {id} revoked"),
    ))
}

#[derive(Deserialize)]
pub(super) struct StateForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    code: String,
    state: String,
    reason: String,
}

pub(super) async fn cylinder_state(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<StateForm>,
) -> PageResult {
    regulator(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let code = f.code.trim().to_owned();
    let body = json!({"changes": {"state": f.state.trim()}, "reason": f.reason.trim()});
    let result = cylinders::change_archive(&st, &v.p, &code, &body, None).await;
    // An unknown or malformed code is the code field's fault on this form.
    let result = result.map_err(|e| match e {
        ApiError::NotFound(m) => ApiError::invalid("code", m),
        other => other,
    });
    match result {
        Ok(_) => Ok(noted(
            Redirect::to(&format!("/console/cylinders/{code}")),
            format!(
                "archive {code} state → {}: {}",
                f.state.trim(),
                f.reason.trim()
            ),
        )),
        Err(e) => {
            let sent = vec![
                ("code".to_owned(), f.code),
                ("state".to_owned(), f.state),
                ("reason".to_owned(), f.reason),
            ];
            permissions_page(&st, &v)
                .await?
                .refused(FormFailure::of(LOCK, sent, e)?)
        }
    }
}
