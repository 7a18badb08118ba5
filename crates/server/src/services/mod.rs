//! Use cases. Each parses input into domain types, checks role and data scope, asks the domain to
//! decide, and has the store remember — in one transaction where it writes.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::{Action, may_grant};
use cyltrace_domain::error::join_path;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{
    Archive, CylinderCode, Event, EventData, NewOrg, NewSite, OrgKind, Role, ValidationErrors,
};
use cyltrace_store::{
    AppendContext, Appended, AuditFilter, AuditRecord, CylinderRecord, NewCylinder, OrgRecord,
    Page, SiteRecord, StoredEvent, UserRecord,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Principal, check_password_strength, hash_password, new_token, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most archives accepted in one `POST /cylinders`, and events in one `POST /events`.
pub const MAX_CYLINDERS_PER_REQUEST: usize = 10_000;
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// How far in the future an event's time may lie (clock skew of handhelds).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

pub mod archives;
pub mod circulation;
pub mod files;
pub mod filling;
pub mod inspection;
pub mod labels;
pub mod ledger;
pub mod pdf;
pub mod ps;
pub mod public;
pub mod registry;
pub mod supervision;

// ---------------------------------------------------------------------------------------------
// Auth

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// Checks the password (Argon2id off the async threads), locks the account after too many failures,
/// and issues a token. The answer never tells whether the username exists.
pub async fn login(st: &AppState, body: &Value) -> ApiResult<(String, DateTime<Utc>, UserRecord)> {
    login_for(st, body, st.config.token_ttl_secs).await
}

/// [`login`] with a token that lives `ttl_secs` (a `/PS` ticket lives two hours).
pub async fn login_for(
    st: &AppState,
    body: &Value,
    ttl_secs: u64,
) -> ApiResult<(String, DateTime<Utc>, UserRecord)> {
    let input: LoginInput = from_value(body, "")?;
    let bad = || ApiError::Unauthorized("用户名或密码错误".to_owned());
    let now = st.now();
    let Some(user) = st.store.user_by_username(input.username.trim()).await? else {
        st.metrics.logins_failed.inc();
        // Spend the same time as a real check so that timing does not reveal unknown usernames.
        // The hash itself is thrown away: only the time it takes matters.
        if let Err(e) = tokio::task::spawn_blocking(|| hash_password("timing-equaliser-0")).await {
            tracing::warn!(error = %e, "login timing equaliser did not run");
        }
        return Err(bad());
    };
    if user.locked_until.is_some_and(|t| t > now) {
        st.metrics.logins_failed.inc();
        return Err(ApiError::Unauthorized(
            "登录失败次数过多，账户已临时锁定，请稍后再试".to_owned(),
        ));
    }
    let phc = user.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&input.password, &phc))
        .await
        .map_err(|e| ApiError::Internal(format!("password check task: {e}")))?;
    if !ok {
        st.metrics.logins_failed.inc();
        let lock = (user.failed_logins + 1 >= st.config.max_failed_logins)
            .then(|| now + Duration::seconds(st.config.lockout_secs as i64));
        st.store.note_failed_login(user.id, lock).await?;
        return Err(bad());
    }
    if user.failed_logins > 0 || user.locked_until.is_some() {
        st.store.reset_failed_logins(user.id).await?;
    }
    let (token, hash) = new_token()?;
    let expires = now + Duration::seconds(ttl_secs as i64);
    st.store.insert_token(&hash, user.id, expires, now).await?;
    Ok((token, expires, user))
}

/// The principal holding `token`, if it is valid and unexpired. Cached for a few seconds (never
/// past the token's expiry), as every API call asks.
/// Ends a session or token at once (the principal cache forgets it too).
pub async fn logout(st: &AppState, token: &str) -> ApiResult<()> {
    let hash = crate::auth::token_hash(token);
    st.store.delete_token(&hash).await?;
    st.caches.principals.remove(&hash);
    Ok(())
}

pub async fn authenticate(st: &AppState, token: &str) -> ApiResult<Principal> {
    let hash = crate::auth::token_hash(token);
    let now = st.now();
    if let Some((p, expires)) = st.caches.principals.get(&hash)
        && expires > now
    {
        return Ok(p);
    }
    let (user, expires) = st
        .store
        .user_by_token(&hash, now)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("访问令牌无效或已过期，请重新登录".to_owned()))?;
    let p = Principal::from(&user);
    st.caches.principals.put(hash, (p.clone(), expires), None);
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Organisations, sites, users

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

// ---------------------------------------------------------------------------------------------
// Cylinders

/// Parses every archive of `{"cylinders":[…]}`, reporting all invalid fields at once, then checks
/// owners and scope, then inserts all or none.
pub async fn create_cylinders(st: &AppState, p: &Principal, body: &Value) -> ApiResult<usize> {
    p.require(Action::WriteCylinders)?;
    let list = envelope(body, "cylinders", MAX_CYLINDERS_PER_REQUEST)?;
    let mut errs = ValidationErrors::default();
    let mut archives = Vec::with_capacity(list.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in list.iter().enumerate() {
        let prefix = format!("cylinders[{i}]");
        match from_value::<Archive>(v, &prefix) {
            Ok(a) => {
                if let Err(e) = a.validate() {
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

/// The list under `key` of a `{key: [...]}` body, with nothing else in the object.
pub(crate) fn envelope<'a>(body: &'a Value, key: &str, max: usize) -> ApiResult<&'a Vec<Value>> {
    let obj = body.as_object().ok_or_else(|| {
        ApiError::invalid("", format!("请求体应为 JSON 对象 {{\"{key}\": [...]}}"))
    })?;
    if let Some(other) = obj.keys().find(|k| k.as_str() != key) {
        return Err(ApiError::invalid(other.clone(), "不允许的字段（未知字段）"));
    }
    let list = obj
        .get(key)
        .ok_or_else(|| ApiError::invalid(key, "缺少必填字段"))?
        .as_array()
        .ok_or_else(|| ApiError::invalid(key, "类型错误：应为 数组"))?;
    if list.is_empty() {
        return Err(ApiError::invalid(key, "至少需要一条记录"));
    }
    if list.len() > max {
        return Err(ApiError::invalid(key, format!("一次最多提交 {max} 条")));
    }
    Ok(list)
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

// ---------------------------------------------------------------------------------------------
// Events

/// Records a batch of events: all valid, all known, all in scope — or nothing is stored.
pub async fn record_events(st: &AppState, p: &Principal, body: &Value) -> ApiResult<Vec<Appended>> {
    let list = envelope(body, "events", MAX_EVENTS_PER_REQUEST)?;
    let mut errs = ValidationErrors::default();
    let mut events = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match Event::parse(v, &format!("events[{i}]")) {
            Ok(e) => events.push(e),
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(())?;
    let mut errs = ValidationErrors::default();
    let now = st.now();
    let mut cylinders: HashMap<CylinderCode, Option<CylinderRecord>> = HashMap::new();
    let mut sites: HashMap<Uuid, Option<SiteRecord>> = HashMap::new();
    let mut orgs: HashMap<Uuid, Option<OrgRecord>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let at = |f: &str| join_path(&format!("events[{i}]"), f);
        p.require(Action::RecordEvent(e.kind())).map_err(|_| {
            ApiError::Forbidden(format!(
                "events[{i}]: 当前角色无权记录“{}”事件",
                e.kind().label_zh()
            ))
        })?;
        if e.time > now + MAX_FUTURE_SKEW {
            errs.push(at("time"), "事件时间晚于服务器当前时间");
        }
        if let Some(org_id) = e.data.referenced_org() {
            if let Entry::Vacant(v) = orgs.entry(org_id) {
                v.insert(st.store.get_org(org_id).await?);
            }
            match &orgs[&org_id] {
                Some(o) if o.kind == OrgKind::InspectionStation => {}
                Some(_) => errs.push(at("data.station_org_id"), "该机构不是检验机构"),
                None => errs.push(at("data.station_org_id"), "检验机构不存在"),
            }
        }
        // An inspector of a station records results for other owners' cylinders sent to that station.
        let acting_station = match &e.data {
            EventData::InspectionResult(r)
                if r.station_org_id == p.org_id && p.roles.contains(&Role::Inspector) =>
            {
                Some(p.org_id)
            }
            _ => None,
        };
        for (j, code) in e.codes.iter().enumerate() {
            if let Entry::Vacant(v) = cylinders.entry(code.clone()) {
                v.insert(st.store.get_cylinder(code).await?);
            }
            match &cylinders[code] {
                None => errs.push(at(&format!("codes[{j}]")), format!("气瓶 {code} 不存在")),
                Some(c)
                    if !p.sees(&c.org_path)
                        && (acting_station.is_none()
                            || c.status.inspection_station != acting_station) =>
                {
                    return Err(ApiError::Forbidden(format!(
                        "events[{i}].codes[{j}]: 气瓶 {code} 不在您的数据权限范围内"
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(site_id) = e.site_id {
            if let Entry::Vacant(v) = sites.entry(site_id) {
                v.insert(st.store.get_site(site_id).await?);
            }
            match &sites[&site_id] {
                None => errs.push(at("site_id"), "站点不存在"),
                Some(s) if !p.sees(&s.org_path) => {
                    return Err(ApiError::Forbidden(format!(
                        "events[{i}].site_id: 该站点不在您的数据权限范围内"
                    )));
                }
                Some(_) => {}
            }
        }
        // B5: a fill names a batch its enterprise defined.
        if let (EventData::Fill(f), Some(site_id)) = (&e.data, e.site_id)
            && let (Some(batch), Some(Some(site))) = (&f.batch, sites.get(&site_id))
            && st
                .store
                .get_batch(site.org_id, batch.as_str())
                .await?
                .is_none()
        {
            errs.push(
                at("data.batch"),
                format!("充装批次“{batch}”不存在，请先建立批次"),
            );
        }
        if let EventData::Fill(f) = &e.data
            && let Some(m) = &f.medium
            && cyltrace_domain::filling::canonical_medium(m.as_str()).is_none()
        {
            errs.push(at("data.medium"), format!("平台不支持的充装介质“{m}”"));
        }
    }
    errs.into_result(())?;
    circulation::guard_events(st, p, &events, &cylinders).await?;
    let ctx = AppendContext {
        recorded_by: Some(p.user_id),
        org_id: p.org_id,
        recorded_at: now,
    };
    let appended = st
        .store
        .append_events(&events, &ctx)
        .await
        .map_err(|e| match e {
            cyltrace_store::StoreError::Conflict(id) => {
                let i = events
                    .iter()
                    .position(|e| e.id.to_string() == id)
                    .unwrap_or(0);
                let msg = format!("事件 id {id} 已被另一条不同的事件使用");
                ApiError::Conflict(
                    msg.clone(),
                    vec![cyltrace_domain::FieldError::new(
                        format!("events[{i}].id"),
                        msg,
                    )],
                )
            }
            other => other.into(),
        })?;
    circulation::after_append(st, &events).await?;
    let fresh = appended.iter().filter(|a| a.new).count() as u64;
    st.metrics.events_appended.inc_by(fresh);
    st.metrics
        .events_duplicate
        .inc_by(appended.len() as u64 - fresh);
    Ok(appended)
}

/// One event, if the caller sees the organisation that recorded it or one of its cylinders.
pub async fn get_event(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<StoredEvent> {
    p.require(Action::Read)?;
    let e = st
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("事件不存在".to_owned()))?;
    if let Some(org) = st.store.get_org(e.org_id).await?
        && p.sees(&org.path)
    {
        return Ok(e);
    }
    let mut checked = HashSet::new();
    for code in &e.event.codes {
        if checked.insert(code.clone())
            && let Some(c) = st.store.get_cylinder(code).await?
            && p.sees(&c.org_path)
        {
            return Ok(e);
        }
    }
    Err(ApiError::Forbidden(
        "该事件不在您的数据权限范围内".to_owned(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Audit

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only actions of this username.
    pub username: Option<String>,
    /// Only request paths starting with this prefix, e.g. `/api/v1/events`.
    pub path: Option<String>,
    /// Only this HTTP method, e.g. `POST`.
    pub method: Option<String>,
    /// From this instant (RFC 3339), inclusive.
    pub from: Option<String>,
    /// Until this instant (RFC 3339), exclusive.
    pub to: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list_audit(
    st: &AppState,
    p: &Principal,
    q: AuditQuery,
) -> ApiResult<(Vec<AuditRecord>, i64, Page)> {
    p.require(Action::ReadAudit)?;
    let mut errs = ValidationErrors::default();
    let mut time = |name: &str, v: &Option<String>| match v {
        None => None,
        Some(s) => match cyltrace_domain::Timestamp::parse(s) {
            Ok(t) => Some(t.utc()),
            Err(m) => {
                errs.push(name, m);
                None
            }
        },
    };
    let from = time("from", &q.from);
    let to = time("to", &q.to);
    let page = page(q.limit, q.offset, &mut errs);
    errs.into_result(())?;
    let filter = AuditFilter {
        scope: (!p.is_node_admin()).then(|| p.scope()),
        username: q.username,
        path_prefix: q.path,
        method: q.method.map(|m| m.to_ascii_uppercase()),
        from,
        to,
        limit: page.limit,
        offset: page.offset,
    };
    let (items, total) = st.store.list_audit(&filter).await?;
    Ok((items, total, page))
}

/// Validated paging: limit 1–500 (default 50), offset ≥ 0.
pub fn page(limit: Option<i64>, offset: Option<i64>, errs: &mut ValidationErrors) -> Page {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=500).contains(&limit) {
        errs.push("limit", "每页条数应在 1 到 500 之间");
    }
    if offset < 0 {
        errs.push("offset", "偏移量不能为负数");
    }
    Page { limit, offset }
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
        })
        .await?;
    Ok(true)
}
