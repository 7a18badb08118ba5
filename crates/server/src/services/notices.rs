//! What regulators and the public write to each other (E5–E7, F3): complaints from the public
//! against a cylinder's enterprise (upheld ones count against its credit rating), messages from a
//! regulator to enterprises with their sign-off (签收), and safety articles shown to the public.
//! Each is a business record (`complaint`, `message`, `article`).

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::Phone;
use cyltrace_domain::time::cst;
use cyltrace_domain::{CylinderCode, OrgKind, Role};
use cyltrace_store::{BizFilter, BizRecord, Scope};
use serde_json::{Value, json};
use uuid::Uuid;

use super::supervision::{ARTICLE, COMPLAINT, MESSAGE};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A list of notices reads at most this many.
const LIST_LIMIT: i64 = 500;

async fn list(st: &AppState, kind: &str, scope: Option<Scope>) -> ApiResult<Vec<BizRecord>> {
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

fn text_of(r: &BizRecord, k: &str) -> String {
    r.body[k].as_str().unwrap_or("").to_owned()
}

/// A time as the notices write it into their text (China time, to the minute).
fn stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y-%m-%d %H:%M").to_string()
}

fn new_record(st: &AppState, kind: &str, org_id: Uuid, state: &str, body: Value) -> BizRecord {
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
fn required(name: &str, value: &str, max: usize) -> ApiResult<String> {
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
fn supervising(p: &Principal) -> ApiResult<()> {
    if p.roles.contains(&Role::Regulator) || p.is_node_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("当前角色无权执行此操作".to_owned()))
    }
}

async fn org_name(st: &AppState, id: Uuid) -> ApiResult<String> {
    Ok(st
        .store
        .get_org(id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Complaints (E5, F3)

/// A complaint as the regulator sees it (the phone masked).
pub struct Complaint {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub code: String,
    pub org: String,
    pub content: String,
    /// Masked, or `—` when none was given.
    pub phone: String,
    /// `open`, `upheld` or `rejected`.
    pub state: String,
    pub reply: String,
}

/// A complaint's state in Chinese.
pub fn complaint_state_zh(s: &str) -> &'static str {
    match s {
        "open" => "待处理",
        "upheld" => "属实",
        "rejected" => "不属实",
        _ => "—",
    }
}

/// Complaints against the enterprises in the caller's scope, newest first.
pub async fn complaints(st: &AppState, p: &Principal) -> ApiResult<Vec<Complaint>> {
    p.require(Action::Read)?;
    let mut out = Vec::new();
    for r in list(st, COMPLAINT, Some(p.scope())).await? {
        out.push(Complaint {
            id: r.id,
            created_at: r.created_at,
            code: text_of(&r, "code"),
            org: org_name(st, r.org_id).await?,
            content: text_of(&r, "content"),
            phone: Phone::parse(&text_of(&r, "phone"))
                .map_or_else(|_| "—".to_owned(), |p| p.masked()),
            state: r.state.clone(),
            reply: text_of(&r, "reply"),
        });
    }
    Ok(out)
}

/// Marks a complaint `upheld` or `rejected`.
pub async fn answer_complaint(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    verdict: &str,
) -> ApiResult<()> {
    supervising(p)?;
    if !matches!(verdict, "upheld" | "rejected") {
        return Err(ApiError::invalid("verdict", "应为 upheld 或 rejected"));
    }
    let mut r = st
        .store
        .get_biz(COMPLAINT, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("投诉不存在".to_owned()))?;
    if !p.sees(&r.org_path) {
        return Err(ApiError::Forbidden("该投诉不在您的辖区内".to_owned()));
    }
    let expected = r.updated_at;
    r.state = verdict.to_owned();
    r.body["reply"] = json!(format!(
        "{}（{}）",
        complaint_state_zh(verdict),
        stamp(st.now())
    ));
    r.updated_at = st.now();
    if !st.store.update_biz(&r, expected).await? {
        return Err(ApiError::Conflict(
            "投诉已被他人处理，请刷新".to_owned(),
            vec![],
        ));
    }
    Ok(())
}

/// The cylinder a complaint form is for, and the enterprise the complaint goes to.
pub async fn complaint_target(st: &AppState, code: &str) -> ApiResult<(CylinderCode, Uuid)> {
    let c = super::parse_code(code)?;
    let rec = st
        .store
        .get_cylinder(&c)
        .await?
        .ok_or_else(|| ApiError::NotFound("气瓶不存在".to_owned()))?;
    let org = rec.archive.owner_org_id.unwrap_or(rec.org_id);
    Ok((c, org))
}

/// A complaint from the public (F3): recorded against the cylinder's enterprise for the regulator.
/// A refused content or phone is `Invalid` with the reason the form shows.
pub async fn submit_complaint(
    st: &AppState,
    code: &CylinderCode,
    org: Uuid,
    content: &str,
    phone: Option<&str>,
) -> ApiResult<()> {
    let content = content.trim();
    if content.chars().count() < 5 || content.chars().count() > 2000 {
        return Err(ApiError::invalid("content", "内容应为 5–2000 个字"));
    }
    let phone = phone.unwrap_or_default().trim().to_owned();
    if !phone.is_empty() && Phone::parse(&phone).is_err() {
        return Err(ApiError::invalid("phone", "联系电话格式不正确"));
    }
    let body = json!({"code": code.as_str(), "content": content, "phone": phone});
    st.store
        .insert_biz(&new_record(st, COMPLAINT, org, "open", body))
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Messages (E6)

/// A message from a regulator to an enterprise.
pub struct Message {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The receiving enterprise's name (in the regulator's list; empty in the inbox).
    pub org: String,
    pub title: String,
    pub content: String,
    pub acknowledged: bool,
    /// When it was signed off (China time, to the minute).
    pub acknowledged_at: String,
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

/// The filling enterprises a regulator may write to: `(id, name)`.
pub async fn message_recipients(st: &AppState, p: &Principal) -> ApiResult<Vec<(Uuid, String)>> {
    Ok(super::supervision::orgs_in(st, &p.scope())
        .await?
        .into_iter()
        .filter(|o| o.kind == OrgKind::FillingEnterprise)
        .map(|o| (o.id, o.name))
        .collect())
}

/// Sends a message to an enterprise in the caller's scope (`org_id` as the form gives it).
pub async fn send_message(
    st: &AppState,
    p: &Principal,
    org_id: &str,
    title: &str,
    content: &str,
) -> ApiResult<()> {
    supervising(p)?;
    let org_id: Uuid = org_id
        .parse()
        .map_err(|_| ApiError::invalid("org_id", "请选择接收企业"))?;
    let org = st
        .store
        .get_org(org_id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "企业不存在"))?;
    if !p.sees(&org.path) {
        return Err(ApiError::Forbidden("该企业不在您的辖区内".to_owned()));
    }
    let body = json!({
        "title": required("title", title, 100)?, "content": required("content", content, 5000)?,
        "from_org_id": p.org_id, "from_user": p.username,
    });
    st.store
        .insert_biz(&new_record(st, MESSAGE, org_id, "sent", body))
        .await?;
    Ok(())
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
