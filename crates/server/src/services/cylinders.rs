//! Cylinder archives: creation all or nothing (owners checked against the caller's scope), one
//! archive with its status, and its events.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use cyltrace_domain::access::Action;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Archive, CylinderCode, Role, ValidationErrors, Verdict};
use cyltrace_store::{CylinderRecord, NewCylinder, OrgRecord, Page, StoredEvent};
use serde_json::Value;
use uuid::Uuid;

use super::{MAX_CYLINDERS_PER_REQUEST, envelope};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Parses every archive of `{"cylinders":[…]}`, reporting all invalid fields at once, then checks
/// owners and scope, then inserts all or none.
pub async fn create_cylinders(st: &AppState, p: &Principal, body: &Value) -> ApiResult<usize> {
    p.require(Action::WriteCylinders)?;
    let list = envelope(body, "cylinders", MAX_CYLINDERS_PER_REQUEST)?;
    let mut errs = ValidationErrors::default();
    let mut archives = Vec::with_capacity(list.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let today = china_date(st.now());
    for (i, v) in list.iter().enumerate() {
        let prefix = format!("cylinders[{i}]");
        match from_value::<Archive>(v, &prefix) {
            Ok(a) => {
                if let Err(e) = a.validate_on(today) {
                    errs.extend_under(&prefix, e);
                }
                if let Some(first) = seen.insert(a.code.to_string(), i) {
                    errs.push(
                        format!("{prefix}.code"),
                        format!("与 cylinders[{first}] 的编码 {} 重复", a.code),
                    );
                }
                archives.push((i, a));
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    let mut errs = ValidationErrors::default();
    // Owners: each must exist and lie in the caller's scope.
    let mut owners: HashMap<Uuid, OrgRecord> = HashMap::new();
    let mut new = Vec::with_capacity(archives.len());
    for (i, mut a) in archives {
        let owner_id = match a.owner_org_id {
            Some(id) => id,
            None if p.is_node_admin() || p.roles.contains(&Role::Regulator) => {
                errs.push(format!("cylinders[{i}].owner_org_id"), "请指定产权单位");
                continue;
            }
            None => p.org_id,
        };
        if let Entry::Vacant(v) = owners.entry(owner_id) {
            match st.store.get_org(owner_id).await? {
                Some(o) => {
                    v.insert(o);
                }
                None => {
                    errs.push(format!("cylinders[{i}].owner_org_id"), "产权单位不存在");
                    continue;
                }
            }
        }
        let owner = &owners[&owner_id];
        p.require_scope(&owner.path, "产权单位")?;
        a.owner_org_id = Some(owner_id);
        a.region_code.get_or_insert(owner.region_code);
        new.push((
            i,
            NewCylinder {
                archive: a,
                org_id: owner_id,
            },
        ));
    }
    errs.into_result(())?;
    let batch: Vec<NewCylinder> = new.iter().map(|(_, c)| c.clone()).collect();
    match st.store.insert_cylinders(&batch, st.now()).await {
        Ok(n) => Ok(n),
        Err(cyltrace_store::StoreError::Conflict(code)) => {
            let i = new
                .iter()
                .find(|(_, c)| c.archive.code.as_str() == code)
                .map_or(0, |(i, _)| *i);
            let msg = format!("气瓶编码 {code} 已存在");
            Err(ApiError::Conflict(
                msg.clone(),
                vec![cyltrace_domain::FieldError::new(
                    format!("cylinders[{i}].code"),
                    msg,
                )],
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `PATCH /cylinders/{code}`: `{"changes": {field: value, …}, "reason"}`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchivePatch {
    /// Archive fields (any but `code`) and their new values; `null` clears one.
    #[schema(value_type = Object)]
    pub changes: serde_json::Map<String, Value>,
    /// Why (e.g. 复称皮重, 阀门损坏停用); recorded with the change.
    pub reason: String,
}

/// Corrects a cylinder archive or locks / unlocks it (A1, A10): the change is an `archive_change`
/// event in the ledger with each field's old and new value and the reason, written through the
/// one write path with the request's audit row; the next decision reads the new archive.
/// A regulator may only lock and unlock (`state`); a scrapped cylinder never changes state.
pub async fn change_archive(
    st: &AppState,
    p: &Principal,
    code: &str,
    body: &Value,
    audit: Option<&super::audit::Audit>,
) -> ApiResult<CylinderRecord> {
    use cyltrace_domain::CylinderState;
    use cyltrace_domain::event::{ArchiveChange, EventData};
    let input: ArchivePatch = from_value(body, "")?;
    let only_state = input.changes.keys().all(|k| k == "state");
    p.require(if only_state {
        Action::LockCylinder
    } else {
        Action::EditArchive
    })?;
    let c = get_cylinder(st, p, code).await?;
    let mut errs = ValidationErrors::default();
    let reason = cyltrace_domain::Text::parse(&input.reason)
        .map_err(|m| errs.push("reason", format!("请填写修改原因：{m}")))
        .ok();
    let scrapped =
        c.status.state == CylinderState::Scrapped || c.archive.state == CylinderState::Scrapped;
    if scrapped && input.changes.contains_key("state") {
        errs.push("changes.state", "气瓶已报废，报废是最终状态，不能再改变");
    }
    if let Some(owner) = input.changes.get("owner_org_id").filter(|v| !v.is_null()) {
        let owner = owner.as_str().and_then(|s| Uuid::parse_str(s).ok());
        match owner {
            None => errs.push("changes.owner_org_id", "应为机构 id（UUID）"),
            Some(id) => match st.store.get_org(id).await? {
                Some(o) if p.sees(&o.path) => {}
                Some(_) => errs.push("changes.owner_org_id", "产权单位不在您的数据权限范围内"),
                None => errs.push("changes.owner_org_id", "产权单位不存在"),
            },
        }
    }
    errs.into_result(())?;
    let (_, diff) = c.archive.changed(&input.changes)?;
    if diff.is_empty() {
        return Err(ApiError::invalid(
            "changes",
            "与现有档案相同，没有需要修改的内容",
        ));
    }
    let event = cyltrace_domain::Event {
        id: Uuid::new_v4(),
        data: EventData::ArchiveChange(ArchiveChange {
            changes: diff,
            reason: reason.expect("checked above"),
        }),
        codes: vec![c.archive.code.clone()],
        time: st.now(),
        site_id: None,
        operator: None,
        device: None,
        position: None,
    };
    let sub = super::events::Submission::new(vec![event], cyltrace_domain::intake::Naming::Single);
    super::events::submit(st, p, sub, audit)
        .await
        .map_err(super::events::api_error)?;
    get_cylinder(st, p, code).await
}

pub fn parse_code(s: &str) -> ApiResult<CylinderCode> {
    CylinderCode::parse(s).map_err(|m| ApiError::invalid("code", m))
}

pub async fn get_cylinder(st: &AppState, p: &Principal, code: &str) -> ApiResult<CylinderRecord> {
    p.require(Action::Read)?;
    let code = parse_code(code)?;
    let c = st
        .store
        .get_cylinder(&code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("气瓶 {code} 不存在")))?;
    p.require_scope(&c.org_path, "该气瓶")?;
    Ok(c)
}

pub async fn cylinder_events(
    st: &AppState,
    p: &Principal,
    code: &str,
) -> ApiResult<Vec<StoredEvent>> {
    let c = get_cylinder(st, p, code).await?;
    Ok(st.store.events_of(&c.archive.code).await?)
}

/// Archives in the caller's data scope.
pub async fn list_cylinders(
    st: &AppState,
    p: &Principal,
    page: Page,
) -> ApiResult<Vec<CylinderRecord>> {
    p.require(Action::Read)?;
    Ok(st.store.list_cylinders(&p.scope(), page).await?)
}

/// What the console's archive search asks for: a part of the code, factory serial or own number,
/// a verdict and a location (each optional, as `as_str()` names them).
pub struct CylinderSearch {
    pub needle: String,
    pub verdict: String,
    pub location: String,
}

/// The archives in the caller's scope matching `q`: the `take` after the first `skip` matches, each
/// with its verdict today, and how many match in all.
pub async fn search(
    st: &AppState,
    p: &Principal,
    q: &CylinderSearch,
    skip: usize,
    take: usize,
) -> ApiResult<(Vec<(CylinderRecord, Verdict)>, usize)> {
    p.require(Action::Read)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let mut rows = Vec::new();
    let mut matched = 0usize;
    super::supervision::each_cylinder(st, &p.scope(), |c| {
        let a = &c.archive;
        let vd = Verdict::of(a, &c.status, today);
        let hit = (q.needle.is_empty()
            || a.code.as_str().contains(&q.needle)
            || a.factory_serial
                .as_ref()
                .is_some_and(|s| s.as_str().contains(&q.needle))
            || a.inner_no
                .as_ref()
                .is_some_and(|s| s.as_str().contains(&q.needle)))
            && (q.verdict.is_empty() || vd.as_str() == q.verdict)
            && (q.location.is_empty() || c.status.location_kind.as_str() == q.location);
        if !hit {
            return;
        }
        matched += 1;
        if matched > skip && rows.len() < take {
            rows.push((c.clone(), vd));
        }
    })
    .await?;
    Ok((rows, matched))
}

/// The name of a cylinder's owner (产权单位), for a cylinder the caller already sees.
pub async fn owner_name(st: &AppState, c: &CylinderRecord) -> ApiResult<Option<String>> {
    match c.archive.owner_org_id {
        Some(id) => Ok(st.store.get_org(id).await?.map(|o| o.name)),
        None => Ok(None),
    }
}
