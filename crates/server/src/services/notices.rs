//! What regulators write to enterprises and the public (E6, E7): messages from a regulator to one or
//! several enterprises — and, when it says so, to their staff (all accounts or chosen roles) — with
//! the enterprise's sign-off (签收), and safety articles shown to the public. Each is a business
//! record (`message`, `article`); one message sent to several enterprises is one record per
//! enterprise, sharing a `batch` id. The helpers here are shared with `complaints`.

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::time::cst;
use cyltrace_domain::{OrgKind, Role, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord, Scope};
use serde_json::{Value, json};
use uuid::Uuid;

use super::supervision::{ARTICLE, MESSAGE};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A list of notices reads at most this many.
const LIST_LIMIT: i64 = 500;

pub(crate) async fn list(
    st: &AppState,
    kind: &str,
    scope: Option<Scope>,
) -> ApiResult<Vec<BizRecord>> {
    Ok(st
        .store
        .list_biz(&BizFilter {
            kind: kind.to_owned(),
            scope,
            limit: LIST_LIMIT,
            ..Default::default()
        })
        .await?)
}

pub(crate) fn text_of(r: &BizRecord, k: &str) -> String {
    r.body[k].as_str().unwrap_or("").to_owned()
}

/// A time as the notices write it into their text (China time, to the minute).
pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

pub(crate) fn new_record(
    st: &AppState,
    kind: &str,
    org_id: Uuid,
    state: &str,
    body: Value,
) -> BizRecord {
    let now = st.now();
    BizRecord {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        org_id,
        org_path: String::new(),
        key: None,
        ref_id: None,
        state: state.to_owned(),
        due: None,
        body,
        created_at: now,
        updated_at: now,
    }
}

/// A required text field, trimmed, at most `max` characters.
pub(crate) fn required(name: &str, value: &str, max: usize) -> ApiResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(name, "不能为空"));
    }
    if v.chars().count() > max {
        return Err(ApiError::invalid(name, format!("不能超过 {max} 个字")));
    }
    Ok(v.to_owned())
}

/// Regulators and the node admin write messages and articles and decide complaints.
pub(crate) fn supervising(p: &Principal) -> ApiResult<()> {
    if p.roles.contains(&Role::Regulator) || p.is_node_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("当前角色无权执行此操作".to_owned()))
    }
}

pub(crate) async fn org_name(st: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(st
        .store
        .get_org(id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Messages (E6)

/// The roles of an enterprise's staff a message may also be addressed to.
pub const STAFF_ROLES: [Role; 5] = [
    Role::Filler,
    Role::Checker,
    Role::Warehouse,
    Role::Driver,
    Role::Courier,
];

/// Who among the receiving enterprise's staff a message is addressed to, besides the enterprise
/// (whose admins sign it off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffAudience {
    /// Only the enterprise (the messages of before, which name no staff).
    None,
    /// Every account of the enterprise.
    All,
    /// The accounts with one of these roles.
    Roles(Vec<Role>),
}

impl StaffAudience {
    fn to_json(&self) -> Value {
        match self {
            StaffAudience::None => json!([]),
            StaffAudience::All => json!(["*"]),
            StaffAudience::Roles(r) => json!(r.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        }
    }

    fn of(r: &BizRecord) -> StaffAudience {
        let names: Vec<&str> = r.body["staff"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if names.contains(&"*") {
            StaffAudience::All
        } else if names.is_empty() {
            StaffAudience::None
        } else {
            StaffAudience::Roles(names.into_iter().filter_map(Role::parse).collect())
        }
    }

    /// Whether a user with `roles` is addressed.
    fn reaches(&self, roles: &[Role]) -> bool {
        match self {
            StaffAudience::None => false,
            StaffAudience::All => true,
            StaffAudience::Roles(r) => roles.iter().any(|x| r.contains(x)),
        }
    }

    /// In words: `全部员工`, `充装工、配送员`, or empty.
    pub fn label_zh(&self) -> String {
        match self {
            StaffAudience::None => String::new(),
            StaffAudience::All => "全部员工".to_owned(),
            StaffAudience::Roles(r) => r
                .iter()
                .map(|r| r.label_zh())
                .collect::<Vec<_>>()
                .join("、"),
        }
    }
}

/// A message from a regulator to an enterprise (and maybe its staff).
pub struct Message {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The receiving enterprise's name (in the regulator's list and a staff member's; empty in
    /// the enterprise's inbox).
    pub org: String,
    pub title: String,
    pub content: String,
    pub acknowledged: bool,
    /// When it was signed off (China time, to the minute).
    pub acknowledged_at: String,
    pub staff: StaffAudience,
}

fn message(r: &BizRecord, org: String) -> Message {
    Message {
        id: r.id,
        created_at: r.created_at,
        org,
        title: text_of(r, "title"),
        content: text_of(r, "content"),
        acknowledged: r.state == "acknowledged",
        acknowledged_at: text_of(r, "acknowledged_at"),
        staff: StaffAudience::of(r),
    }
}

/// Messages sent to the enterprises in the caller's scope, with the receivers' names.
pub async fn sent_messages(st: &AppState, p: &Principal) -> ApiResult<Vec<Message>> {
    p.require(Action::Read)?;
    let mut out = Vec::new();
    for r in list(st, MESSAGE, Some(p.scope())).await? {
        out.push(message(&r, org_name(st, r.org_id).await?));
    }
    Ok(out)
}

/// The enterprise's inbox: messages sent to the organisations in the caller's scope.
pub async fn inbox(st: &AppState, p: &Principal) -> ApiResult<Vec<Message>> {
    p.require(Action::Read)?;
    Ok(list(st, MESSAGE, Some(p.scope()))
        .await?
        .iter()
        .map(|r| message(r, String::new()))
        .collect())
}

/// A staff member's messages: those sent to their organisation or one above it that address all
/// staff or one of the member's roles, newest first.
pub async fn staff_messages(st: &AppState, p: &Principal) -> ApiResult<Vec<Message>> {
    p.require(Action::Read)?;
    let mut out = Vec::new();
    for org in p.org_path.split('/').filter_map(|s| s.parse::<Uuid>().ok()) {
        let rows = st
            .store
            .list_biz(&BizFilter {
                kind: MESSAGE.to_owned(),
                org_id: Some(org),
                limit: LIST_LIMIT,
                ..Default::default()
            })
            .await?;
        for r in rows
            .iter()
            .filter(|r| StaffAudience::of(r).reaches(&p.roles))
        {
            out.push(message(r, org_name(st, r.org_id).await?));
        }
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    Ok(out)
}

/// The filling enterprises a regulator may write to: `(id, name)`.
pub async fn message_recipients(st: &AppState, p: &Principal) -> ApiResult<Vec<(Uuid, String)>> {
    Ok(super::supervision::orgs_in(st, &p.scope())
        .await?
        .into_iter()
        .filter(|o| o.kind == OrgKind::FillingEnterprise)
        .map(|o| (o.id, o.name))
        .collect())
}

/// What the message form sends.
#[derive(Debug, Default)]
pub struct NewMessage {
    /// The receiving enterprises' ids, as the form gives them.
    pub org_ids: Vec<String>,
    pub title: String,
    pub content: String,
    /// `""` (the enterprise only), `all` (all its staff) or `roles` (the roles below).
    pub staff: String,
    /// Role names (`filler`, `courier`, …) when `staff` is `roles`.
    pub staff_roles: Vec<String>,
}

/// Sends a message to each of the enterprises in the caller's scope that `m` names — one record per
/// enterprise, each signed off on its own — and to the staff it names. Everything is judged first:
/// a refused field is named and nothing is sent. Answers how many enterprises it went to.
pub async fn send_message(st: &AppState, p: &Principal, m: &NewMessage) -> ApiResult<usize> {
    supervising(p)?;
    let mut errs = ValidationErrors::default();
    let mut orgs = Vec::new();
    for id in m.org_ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let Ok(id) = id.parse::<Uuid>() else {
            errs.push("org_id", "接收企业不存在");
            continue;
        };
        match st.store.get_org(id).await? {
            None => errs.push("org_id", "接收企业不存在"),
            Some(o) if !p.sees(&o.path) => {
                return Err(ApiError::Forbidden(format!("{}不在您的辖区内", o.name)));
            }
            Some(o) if !orgs.contains(&o.id) => orgs.push(o.id),
            Some(_) => {}
        }
    }
    if orgs.is_empty() && errs.is_empty() {
        errs.push("org_id", "请至少选择一家接收企业");
    }
    let staff = match m.staff.trim() {
        "" | "none" => StaffAudience::None,
        "all" => StaffAudience::All,
        "roles" => {
            let mut roles = Vec::new();
            for r in &m.staff_roles {
                match Role::parse(r.trim()).filter(|r| STAFF_ROLES.contains(r)) {
                    Some(r) if !roles.contains(&r) => roles.push(r),
                    Some(_) => {}
                    None => errs.push("staff_roles", format!("未知的岗位：{r}")),
                }
            }
            if roles.is_empty() && errs.is_empty() {
                errs.push("staff_roles", "请选择要通知的岗位");
            }
            StaffAudience::Roles(roles)
        }
        _ => {
            errs.push("staff", "未知的发送对象");
            StaffAudience::None
        }
    };
    let title = checked(&mut errs, "title", &m.title, 100);
    let content = checked(&mut errs, "content", &m.content, 5000);
    errs.into_result(())?;
    let batch = Uuid::new_v4();
    for org in &orgs {
        let body = json!({
            "title": title, "content": content, "from_org_id": p.org_id, "from_user": p.username,
            "batch": batch, "staff": staff.to_json(),
        });
        st.store
            .insert_biz(&new_record(st, MESSAGE, *org, "sent", body))
            .await?;
    }
    Ok(orgs.len())
}

/// [`required`], its refusal collected in `errs`.
fn checked(errs: &mut ValidationErrors, name: &str, value: &str, max: usize) -> String {
    match required(name, value, max) {
        Ok(v) => v,
        Err(ApiError::Invalid(v)) => {
            errs.0.extend(v.0);
            String::new()
        }
        Err(_) => String::new(),
    }
}

/// Signs a message off (签收) for the caller's enterprise; signing twice changes nothing.
pub async fn ack_message(st: &AppState, p: &Principal, id: Uuid) -> ApiResult<()> {
    if !p.roles.contains(&Role::EnterpriseAdmin) {
        return Err(ApiError::Forbidden("当前角色无权执行此操作".to_owned()));
    }
    let mut r = st
        .store
        .get_biz(MESSAGE, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("通知不存在".to_owned()))?;
    if !p.sees(&r.org_path) {
        return Err(ApiError::Forbidden("该通知不是发给本企业的".to_owned()));
    }
    if r.state != "acknowledged" {
        let expected = r.updated_at;
        r.state = "acknowledged".to_owned();
        r.body["acknowledged_at"] = json!(stamp(st.now()));
        r.body["acknowledged_by"] = json!(p.username);
        r.updated_at = st.now();
        st.store.update_biz(&r, expected).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Articles (E7)

/// A safety article.
pub struct Article {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub content: String,
}

fn article_of(r: &BizRecord) -> Article {
    Article {
        id: r.id,
        created_at: r.created_at,
        title: text_of(r, "title"),
        content: text_of(r, "content"),
    }
}

/// Articles published by the organisations in the caller's scope.
pub async fn articles(st: &AppState, p: &Principal) -> ApiResult<Vec<Article>> {
    p.require(Action::Read)?;
    Ok(list(st, ARTICLE, Some(p.scope()))
        .await?
        .iter()
        .map(article_of)
        .collect())
}

/// Every published article (the public page `/articles`).
pub async fn public_articles(st: &AppState) -> ApiResult<Vec<Article>> {
    Ok(list(st, ARTICLE, None)
        .await?
        .iter()
        .map(article_of)
        .collect())
}

/// One article (public).
pub async fn article(st: &AppState, id: Uuid) -> ApiResult<Article> {
    st.store
        .get_biz(ARTICLE, id)
        .await?
        .map(|r| article_of(&r))
        .ok_or_else(|| ApiError::NotFound("文章不存在".to_owned()))
}

/// Publishes an article of the caller's organisation.
pub async fn post_article(
    st: &AppState,
    p: &Principal,
    title: &str,
    content: &str,
) -> ApiResult<()> {
    supervising(p)?;
    let body = json!({"title": required("title", title, 100)?, "content": required("content", content, 20000)?});
    st.store
        .insert_biz(&new_record(st, ARTICLE, p.org_id, "published", body))
        .await?;
    Ok(())
}
