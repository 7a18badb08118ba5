//! Entrusted filling (B9 委托充装, seed 002 “使用登记机关同意”): a regulator of the owner's region
//! permits another filling enterprise to fill the owner's cylinders until a date; fill-control then
//! does not refuse them under B1.7. Listed in scope, revocable.

use cyltrace_domain::access::Action;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, OrgKind, ValidationErrors};
use cyltrace_store::{FillingPermission, OrgRecord, Page};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `POST /filling-permissions`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionInput {
    /// The enterprise that owns (registered) the cylinders.
    pub owner_org_id: Uuid,
    /// The enterprise permitted to fill them.
    pub filler_org_id: Uuid,
    /// The last day of the permission (China calendar).
    #[schema(value_type = String, example = "2027-06-30")]
    pub valid_until: Date,
}

/// A permission as the API and the pages show it, with the organisations' names and its state
/// today (`active`, `expired`, `revoked`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PermissionView {
    pub id: Uuid,
    pub owner_org_id: Uuid,
    pub owner_name: String,
    pub filler_org_id: Uuid,
    pub filler_name: String,
    #[schema(value_type = String)]
    pub valid_until: Date,
    pub state: &'static str,
    pub granted_by: Uuid,
    pub granted_org_id: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PermissionView {
    pub fn state_zh(&self) -> &'static str {
        match self.state {
            "active" => "有效",
            "expired" => "已到期",
            _ => "已撤销",
        }
    }
}

async fn org_of(st: &AppState, id: Uuid) -> ApiResult<Option<OrgRecord>> {
    Ok(st.store.get_org(id).await?)
}

async fn view(st: &AppState, p: &FillingPermission) -> ApiResult<PermissionView> {
    let name = |o: Option<OrgRecord>| o.map_or_else(|| "—".to_owned(), |o| o.name);
    let today = Date(china_date(st.now()));
    Ok(PermissionView {
        id: p.id,
        owner_org_id: p.owner_org_id,
        owner_name: name(org_of(st, p.owner_org_id).await?),
        filler_org_id: p.filler_org_id,
        filler_name: name(org_of(st, p.filler_org_id).await?),
        valid_until: p.valid_until,
        state: if p.revoked_at.is_some() {
            "revoked"
        } else if p.valid_until < today {
            "expired"
        } else {
            "active"
        },
        granted_by: p.granted_by,
        granted_org_id: p.granted_org_id,
        created_at: p.created_at,
        revoked_at: p.revoked_at,
    })
}

/// Grants a permission: both organisations are filling enterprises, the owner lies in the
/// regulator's region (its data scope), the last day is not past.
pub async fn grant(st: &AppState, p: &Principal, body: &Value) -> ApiResult<PermissionView> {
    p.require(Action::GrantFillingPermission)?;
    let input: PermissionInput = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    let today = Date(china_date(st.now()));
    if input.valid_until < today {
        errs.push(
            "valid_until",
            format!("有效期至 {} 已过，应不早于今天", input.valid_until),
        );
    }
    if input.owner_org_id == input.filler_org_id {
        errs.push("filler_org_id", "受托充装单位不能是产权单位本身");
    }
    let owner = org_of(st, input.owner_org_id).await?;
    let filler = org_of(st, input.filler_org_id).await?;
    for (field, org) in [("owner_org_id", &owner), ("filler_org_id", &filler)] {
        match org {
            None => errs.push(field, "机构不存在"),
            Some(o) if o.kind != OrgKind::FillingEnterprise => {
                errs.push(field, format!("“{}”不是充装单位", o.name))
            }
            Some(_) => {}
        }
    }
    errs.into_result(())?;
    let owner = owner.expect("checked above");
    if !p.sees(&owner.path) {
        return Err(ApiError::Forbidden(
            "owner_org_id: 产权单位不在您的辖区内，无权批准委托充装".to_owned(),
        ));
    }
    let record = FillingPermission {
        id: Uuid::new_v4(),
        owner_org_id: input.owner_org_id,
        filler_org_id: input.filler_org_id,
        valid_until: input.valid_until,
        granted_by: p.user_id,
        granted_org_id: p.org_id,
        created_at: st.now(),
        revoked_at: None,
        revoked_by: None,
    };
    st.store.insert_permission(&record).await?;
    view(st, &record).await
}

/// The permissions whose owner, filler or granting regulator the caller sees, newest first.
pub async fn list(st: &AppState, p: &Principal, page: Page) -> ApiResult<Vec<PermissionView>> {
    p.require(Action::Read)?;
    let mut out = Vec::new();
    for r in st.store.list_permissions(&p.scope(), page).await? {
        out.push(view(st, &r).await?);
    }
    Ok(out)
}

async fn visible(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<FillingPermission> {
    let r = st
        .store
        .get_permission(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("委托充装许可不存在".to_owned()))?;
    let mut seen = false;
    for org in [r.owner_org_id, r.filler_org_id, r.granted_org_id] {
        if let Some(o) = org_of(st, org).await?
            && p.sees(&o.path)
        {
            seen = true;
            break;
        }
    }
    if !seen {
        return Err(ApiError::Forbidden(
            "该委托充装许可不在您的数据权限范围内".to_owned(),
        ));
    }
    Ok(r)
}

pub async fn get(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<PermissionView> {
    p.require(Action::Read)?;
    view(st, &visible(st, p, id).await?).await
}

/// Revokes a permission at once: the next fill-control judges B1.7 without it.
pub async fn revoke(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<PermissionView> {
    p.require(Action::GrantFillingPermission)?;
    let r = visible(st, p, id).await?;
    let owner = org_of(st, r.owner_org_id).await?;
    if !owner.is_some_and(|o| p.sees(&o.path)) {
        return Err(ApiError::Forbidden(
            "产权单位不在您的辖区内，无权撤销该许可".to_owned(),
        ));
    }
    if !st.store.revoke_permission(id, p.user_id, st.now()).await? {
        return Err(ApiError::Conflict("该许可已撤销".to_owned(), Vec::new()));
    }
    get(st, p, id).await
}
