//! Organisations, sites and users: creation inside the caller's data scope (roles only as the caller
//! may grant them), reads and lists in scope, and the node's first admin on an empty database.

use cyltrace_domain::access::{Action, may_grant};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{NewOrg, NewSite, OrgChanges, OrgKind, Role, SiteChanges, ValidationErrors};
use cyltrace_store::{OrgRecord, Page, SiteRecord, UserRecord};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Principal, check_password_strength, hash_password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn create_org(st: &AppState, p: &Principal, body: &Value) -> ApiResult<OrgRecord> {
    p.require(Action::CreateOrg)?;
    let org: NewOrg = from_value(body, "")?;
    // Without a parent, a node admin creates a root; anyone else creates inside their own organisation.
    let parent_id = match org.parent_id {
        Some(id) => Some(id),
        None if p.is_node_admin() => None,
        None => Some(p.org_id),
    };
    let parent = match parent_id {
        None => None,
        Some(id) => {
            let parent = st
                .store
                .get_org(id)
                .await?
                .ok_or_else(|| ApiError::invalid("parent_id", "上级机构不存在"))?;
            p.require_scope(&parent.path, "上级机构")?;
            org.check_parent(parent.kind, parent.region_code)?;
            Some(parent)
        }
    };
    let id = Uuid::new_v4();
    let record = OrgRecord {
        id,
        kind: org.kind,
        name: org.name.to_string(),
        region_code: org.region_code,
        parent_id,
        credit_code: org.credit_code.map(|c| c.as_str().to_owned()),
        licences: org.licences,
        phone: None,
        address: None,
        path: OrgRecord::child_path(parent.as_ref().map(|o| o.path.as_str()), id),
        created_at: st.now(),
    };
    st.store.insert_org(&record).await?;
    Ok(record)
}

pub async fn get_org(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<OrgRecord> {
    p.require(Action::Read)?;
    let org = st
        .store
        .get_org(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("机构不存在".to_owned()))?;
    p.require_scope(&org.path, "该机构")?;
    Ok(org)
}

/// Organisations in the caller's data scope.
pub async fn list_orgs(st: &AppState, p: &Principal, page: Page) -> ApiResult<Vec<OrgRecord>> {
    p.require(Action::Read)?;
    Ok(st.store.list_orgs(&p.scope(), page).await?)
}

/// A master-data change and its audit note (`field: old → new`).
pub struct Changed<T> {
    pub record: T,
    pub note: String,
}

fn org_fields(o: &OrgRecord) -> Value {
    serde_json::json!({
        "name": o.name, "phone": o.phone, "address": o.address, "credit_code": o.credit_code,
        "licences": o.licences,
    })
}

/// `PATCH /orgs/{id}`: name, phone, address, credit code, licences replaced by kind (a renewal).
/// The next fill-control judges B1.1/B1.2 by the new licences (the station cache is dropped).
pub async fn update_org(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<Changed<OrgRecord>> {
    p.require(Action::EditOrg)?;
    let changes: OrgChanges = from_value(body, "")?;
    let (phone, address) = changes.validate()?;
    let old = get_org(st, p, id).await?;
    let mut new = old.clone();
    if let Some(name) = &changes.name {
        new.name = name.to_string();
    }
    if let Some(phone) = phone {
        new.phone = phone;
    }
    if let Some(address) = address {
        new.address = address;
    }
    if let Some(c) = &changes.credit_code {
        new.credit_code = Some(c.as_str().to_owned());
    }
    new.licences = changes.licences_after(&old.licences);
    st.store.update_org(&new).await?;
    st.caches.stations.clear();
    let note =
        super::audit::changes_note(&format!("org {id}"), &org_fields(&old), &org_fields(&new));
    Ok(Changed { record: new, note })
}

/// Licences of the organisations in the caller's scope that expire within `days` of `today` or
/// have expired (the overview reminders), soonest first: (organisation, licence).
pub async fn expiring_licences(
    st: &AppState,
    p: &Principal,
    days: i64,
) -> ApiResult<Vec<(OrgRecord, cyltrace_domain::Licence)>> {
    let today = cyltrace_domain::Date(cyltrace_domain::time::china_date(st.now()));
    let horizon = today.naive() + chrono::Duration::days(days);
    let orgs = list_orgs(
        st,
        p,
        Page {
            limit: 10_000,
            offset: 0,
        },
    )
    .await?;
    let mut out: Vec<(OrgRecord, cyltrace_domain::Licence)> = orgs
        .iter()
        .flat_map(|o| {
            o.licences
                .iter()
                .filter(|l| l.valid_until.naive() <= horizon)
                .map(|l| (o.clone(), l.clone()))
        })
        .collect();
    out.sort_by_key(|(_, l)| l.valid_until);
    Ok(out)
}

pub async fn create_site(st: &AppState, p: &Principal, body: &Value) -> ApiResult<SiteRecord> {
    p.require(Action::CreateSite)?;
    let site: NewSite = from_value(body, "")?;
    site.validate()?;
    let org = st
        .store
        .get_org(site.org_id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "所属机构不存在"))?;
    p.require_scope(&org.path, "所属机构")?;
    let id = Uuid::new_v4();
    let now = st.now();
    st.store.insert_site(id, &site, now).await?;
    st.store
        .get_site(id)
        .await?
        .ok_or_else(|| ApiError::Internal("site vanished after insert".to_owned()))
}

pub async fn get_site(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<SiteRecord> {
    p.require(Action::Read)?;
    let site = st
        .store
        .get_site(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("站点不存在".to_owned()))?;
    p.require_scope(&site.org_path, "该站点")?;
    Ok(site)
}

fn site_fields(s: &SiteRecord) -> Value {
    serde_json::json!({
        "name": s.name, "address": s.address, "lat": s.lat, "lon": s.lon, "active": s.active,
    })
}

/// `PATCH /sites/{id}`: name, address, position, and `active: false` to close it (fill-control,
/// events and scans then refuse it naming `site_id`; its history stays).
pub async fn update_site(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<Changed<SiteRecord>> {
    p.require(Action::EditSite)?;
    let changes: SiteChanges = from_value(body, "")?;
    changes.validate()?;
    let old = get_site(st, p, id).await?;
    let mut new = old.clone();
    if let Some(name) = &changes.name {
        new.name = name.to_string();
    }
    if let Some(a) = &changes.address {
        new.address = Some(a.to_string());
    }
    if changes.lat.is_some() {
        (new.lat, new.lon) = (changes.lat, changes.lon);
    }
    if let Some(active) = changes.active {
        new.active = active;
    }
    st.store.update_site(&new).await?;
    st.caches.stations.clear();
    let note = super::audit::changes_note(
        &format!("site {id}"),
        &site_fields(&old),
        &site_fields(&new),
    );
    Ok(Changed { record: new, note })
}

/// Sites of the organisations in the caller's data scope.
pub async fn list_sites(st: &AppState, p: &Principal, page: Page) -> ApiResult<Vec<SiteRecord>> {
    p.require(Action::Read)?;
    Ok(st.store.list_sites(&p.scope(), page).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub username: String,
    pub password: String,
    pub name: String,
    pub org_id: Uuid,
    pub roles: Vec<String>,
}

pub fn check_username(u: &str) -> Result<(), String> {
    let ok_chars = u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if !(3..=64).contains(&u.len()) || !ok_chars {
        return Err("用户名应为 3–64 位字母、数字或 _ . @ -".to_owned());
    }
    Ok(())
}

pub async fn create_user(st: &AppState, p: &Principal, body: &Value) -> ApiResult<UserRecord> {
    p.require(Action::CreateUser)?;
    let input: NewUserInput = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    if let Err(m) = check_username(&input.username) {
        errs.push("username", m);
    }
    if let Err(m) = check_password_strength(&input.username, &input.password) {
        errs.push("password", m);
    }
    if let Err(m) = cyltrace_domain::Text::parse(&input.name) {
        errs.push("name", m);
    }
    let mut roles = Vec::new();
    if input.roles.is_empty() {
        errs.push("roles", "至少需要一个角色");
    }
    for (i, r) in input.roles.iter().enumerate() {
        match Role::parse(r) {
            Some(role) if !roles.contains(&role) => roles.push(role),
            Some(_) => errs.push(format!("roles[{i}]"), "角色重复"),
            None => errs.push(format!("roles[{i}]"), format!("未知角色“{r}”")),
        }
    }
    let org = st.store.get_org(input.org_id).await?;
    if org.is_none() {
        errs.push("org_id", "所属机构不存在");
    }
    errs.into_result(())?;
    let org = org.expect("checked above");
    p.require_scope(&org.path, "所属机构")?;
    if let Some(r) = roles.iter().find(|r| !may_grant(&p.roles, **r)) {
        return Err(ApiError::Forbidden(format!(
            "您无权授予角色“{}”",
            r.label_zh()
        )));
    }
    let password = input.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hash task: {e}")))??;
    let user = UserRecord {
        id: Uuid::new_v4(),
        org_id: org.id,
        username: input.username,
        password_hash: hash,
        name: input.name.trim().to_owned(),
        roles,
        failed_logins: 0,
        locked_until: None,
        org_path: org.path,
        created_at: st.now(),
        active: true,
        must_change_password: false,
        totp_enabled: false,
    };
    st.store.insert_user(&user).await.map_err(|e| match e {
        cyltrace_store::StoreError::Conflict(_) => ApiError::Conflict(
            "用户名已被使用".to_owned(),
            vec![cyltrace_domain::FieldError::new(
                "username",
                "用户名已被使用",
            )],
        ),
        other => other.into(),
    })?;
    Ok(user)
}

pub async fn get_user(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<UserRecord> {
    p.require(Action::Read)?;
    let user = st
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("用户不存在".to_owned()))?;
    p.require_scope(&user.org_path, "该用户")?;
    Ok(user)
}

/// Users of the organisations in the caller's data scope.
pub async fn list_users(st: &AppState, p: &Principal, page: Page) -> ApiResult<Vec<UserRecord>> {
    p.require(Action::Read)?;
    Ok(st.store.list_users(&p.scope(), page).await?)
}

/// The active couriers (配送员) among the users in the caller's scope (the first 1,000 users).
pub async fn couriers(st: &AppState, p: &Principal) -> ApiResult<Vec<UserRecord>> {
    let users = list_users(
        st,
        p,
        Page {
            limit: 1000,
            offset: 0,
        },
    )
    .await?;
    Ok(users
        .into_iter()
        .filter(|u| u.active && u.roles.contains(&Role::Courier))
        .collect())
}

/// The names a page's frame shows: the user's and their organisation's (none when they cannot be
/// read: the frame is drawn anyway).
pub async fn frame_names(st: &AppState, p: &Principal) -> (Option<String>, Option<String>) {
    let user = st.store.get_user(p.user_id).await.ok().flatten();
    let org = st.store.get_org(p.org_id).await.ok().flatten();
    (user.map(|u| u.name), org.map(|o| o.name))
}

/// The caller's own name as recorded (e.g. to sign an inspection result).
pub async fn own_name(st: &AppState, p: &Principal) -> ApiResult<Option<String>> {
    Ok(st.store.get_user(p.user_id).await?.map(|u| u.name))
}

/// Creates the node's own organisation and its first node admin on an empty database.
pub async fn bootstrap_admin(
    st: &AppState,
    username: &str,
    password: &str,
) -> anyhow::Result<bool> {
    if !st.store.is_empty().await? {
        return Ok(false);
    }
    check_username(username).map_err(anyhow::Error::msg)?;
    check_password_strength(username, password)
        .map_err(|m| anyhow::anyhow!("CYLTRACE_BOOTSTRAP_ADMIN password: {m}"))?;
    let region =
        cyltrace_domain::RegionCode::parse(&st.config.node_region).map_err(anyhow::Error::msg)?;
    let id = Uuid::new_v4();
    let org = OrgRecord {
        id,
        kind: OrgKind::Regulator,
        name: "平台运营管理".to_owned(),
        region_code: region,
        parent_id: None,
        credit_code: None,
        licences: vec![],
        phone: None,
        address: None,
        path: OrgRecord::child_path(None, id),
        created_at: st.now(),
    };
    st.store.insert_org(&org).await?;
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    st.store
        .insert_user(&UserRecord {
            id: Uuid::new_v4(),
            org_id: id,
            username: username.to_owned(),
            password_hash: hash,
            name: "平台管理员".to_owned(),
            roles: vec![Role::NodeAdmin],
            failed_logins: 0,
            locked_until: None,
            org_path: org.path,
            created_at: st.now(),
            active: true,
            must_change_password: false,
            totp_enabled: false,
        })
        .await?;
    Ok(true)
}
