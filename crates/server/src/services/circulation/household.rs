//! Household safety checks and rectification (C9, E8): the configurable check items, a check with
//! its photos and signature, a rectification task per failed item, closing and reminders.

use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::{self as dom, CheckItem, NewHouseholdCheck};
use cyltrace_domain::{FieldError, Text, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord, WriteError, WriteRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::customers::{CustomerDoc, customer};
use super::{
    CHECK_ITEMS_SETTING, HOUSEHOLD_CHECK, ListQuery, RECTIFICATION, conflict, filter,
    list_in_scope, new_record, parse, save, visible_record,
};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn check_items(st: &AppState) -> ApiResult<Vec<CheckItem>> {
    match st.store.get_setting(CHECK_ITEMS_SETTING).await? {
        Some(s) => serde_json::from_str(&s)
            .map_err(|e| ApiError::Internal(format!("stored check items: {e}"))),
        None => Ok(dom::default_check_items()),
    }
}

pub async fn set_check_items(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<Vec<CheckItem>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Items {
        items: Vec<CheckItem>,
    }
    p.require(Action::ConfigureCheckItems)?;
    let items: Items = parse(body)?;
    let mut errs = ValidationErrors::default();
    let mut codes = std::collections::HashSet::new();
    for (i, it) in items.items.iter().enumerate() {
        if !codes.insert(it.code.as_str()) {
            errs.push(format!("items[{i}].code"), "项目代码重复");
        }
        if it.rectify_days == 0 || it.rectify_days > 365 {
            errs.push(format!("items[{i}].rectify_days"), "整改期限应为 1–365 天");
        }
    }
    if !items.items.iter().any(|i| i.active) {
        errs.push("items", "至少需要一个启用的安检项目");
    }
    errs.into_result(())?;
    st.store
        .set_setting(
            CHECK_ITEMS_SETTING,
            &serde_json::to_string(&items.items).unwrap_or_default(),
            st.now(),
        )
        .await?;
    Ok(items.items)
}

/// Records a household check; each failed item opens a rectification task with its due time.
pub async fn record_household_check(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> ApiResult<(BizRecord, Vec<BizRecord>)> {
    p.require(Action::HouseholdCheck)?;
    let hc: NewHouseholdCheck = parse(body)?;
    if let Some(id) = hc.id
        && let Some(first) = st.store.get_biz(HOUSEHOLD_CHECK, id).await?
    {
        return repeated(st, p, first, &hc).await;
    }
    let c = customer(st, p, hc.customer_id).await?;
    let doc = CustomerDoc::of(&c)?;
    let addresses = doc.addresses.len();
    let now = st.now();
    if hc.time > now + super::MAX_FUTURE_SKEW {
        return Err(ApiError::invalid("time", "时间晚于服务器当前时间"));
    }
    let tasks = hc.rectifications(&check_items(st).await?, addresses)?;
    let mut errs = ValidationErrors::default();
    for (field, h) in std::iter::once(("signature".to_owned(), &hc.signature)).chain(
        hc.photos
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("photos[{i}]"), p)),
    ) {
        if !super::files::usable(st, p, h).await? {
            errs.push(field, "文件不存在，请先上传（POST /api/v1/files）");
        }
    }
    errs.into_result(())?;
    let mut check = new_record(
        HOUSEHOLD_CHECK,
        p.org_id,
        None,
        Some(hc.customer_id),
        if tasks.is_empty() { "passed" } else { "failed" },
        json!({"check": hc, "inspector": p.user_id, "address": doc.addresses.get(hc.address_index).map_or(Value::Null, |a| json!(a))}),
        now,
    );
    if let Some(id) = hc.id {
        check.id = id;
    }
    let mut out = Vec::new();
    for t in tasks {
        let mut r = new_record(
            RECTIFICATION,
            p.org_id,
            None,
            Some(hc.customer_id),
            "open",
            json!({"check_id": check.id, "item": t.item, "text": t.text}),
            now,
        );
        r.due = Some(t.due);
        out.push(r);
    }
    // The check and its tasks commit together or not at all.
    let records = std::iter::once(check.clone())
        .chain(out.iter().cloned())
        .collect();
    st.store
        .write(WriteRequest {
            records,
            ..Default::default()
        })
        .await
        .map_err(|e| match e {
            WriteError::Store(e) => ApiError::from(e),
            WriteError::Refused(r) => ApiError::Internal(format!("household check refused: {r:?}")),
        })?;
    for h in std::iter::once(&hc.signature).chain(&hc.photos) {
        super::files::own(st, check.org_id, Some(p.user_id), h).await?;
    }
    Ok((check, out))
}

/// A retry of a check recorded before under the same id: the same check answers as it was (with
/// its tasks); a different check reusing the id is a conflict.
async fn repeated(
    st: &AppState,
    p: &Principal,
    first: BizRecord,
    hc: &NewHouseholdCheck,
) -> ApiResult<(BizRecord, Vec<BizRecord>)> {
    p.require_scope(&first.org_path, "该安检记录")?;
    if first.body.get("check") != Some(&json!(hc)) {
        return Err(ApiError::Conflict(
            "安检记录 id 已被另一条不同的安检记录使用".to_owned(),
            vec![FieldError::new("id", "已被另一条安检记录使用")],
        ));
    }
    let tasks = st
        .store
        .list_biz(&BizFilter {
            kind: RECTIFICATION.to_owned(),
            ref_id: first.ref_id,
            scope: Some(p.scope()),
            limit: 500,
            offset: 0,
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|t| t.body.get("check_id") == Some(&json!(first.id)))
        .collect();
    Ok((first, tasks))
}

pub fn rectification_view(r: &BizRecord, now: DateTime<Utc>) -> Value {
    let reminder = (r.state == "open")
        .then(|| r.due.and_then(|d| dom::reminder(d, now)))
        .flatten();
    json!({"id": r.id, "customer_id": r.ref_id, "check_id": r.body["check_id"], "item": r.body["item"],
           "text": r.body["text"], "state": r.state, "due": r.due, "reminder": reminder,
           "closed_at": r.body["closed_at"], "remark": r.body["remark"], "photos": r.body["photos"]})
}

pub async fn close_rectification(
    st: &AppState,
    p: &Principal,
    id: Uuid,
    body: &Value,
) -> ApiResult<BizRecord> {
    #[derive(Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Close {
        remark: Text,
        #[serde(default)]
        photos: Vec<String>,
    }
    p.require(Action::HouseholdCheck)?;
    let c: Close = parse(body)?;
    for (i, h) in c.photos.iter().enumerate() {
        if !dom::is_file_hash(h) || !super::files::usable(st, p, h).await? {
            return Err(ApiError::invalid(
                format!("photos[{i}]"),
                "文件不存在，请先上传",
            ));
        }
    }
    let mut r = visible_record(st, p, RECTIFICATION, id, "整改任务").await?;
    if r.state != "open" {
        return Err(conflict("state", "整改任务已关闭".to_owned()));
    }
    r.state = "closed".to_owned();
    r.body["closed_at"] = json!(st.now());
    r.body["closed_by"] = json!(p.user_id);
    r.body["remark"] = json!(c.remark);
    r.body["photos"] = json!(c.photos);
    let saved = save(st, r).await?;
    for h in &c.photos {
        super::files::own(st, saved.org_id, Some(p.user_id), h).await?;
    }
    Ok(saved)
}

/// Open rectification tasks that need a reminder now (due within a day, or overdue), in scope.
pub async fn reminders(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let now = st.now();
    let f = BizFilter {
        state: Some("open".to_owned()),
        due_before: Some(now + Duration::days(1)),
        ..filter(RECTIFICATION, Some(p.scope()), 1000, 0)
    };
    Ok(st
        .store
        .list_biz(&f)
        .await?
        .iter()
        .map(|r| rectification_view(r, now))
        .collect())
}

/// [`check_items`] for a caller who may read.
pub async fn read_check_items(st: &AppState, p: &Principal) -> ApiResult<Vec<CheckItem>> {
    p.require(Action::Read)?;
    check_items(st).await
}

/// A household check as the API answers it.
fn check_view(r: &BizRecord) -> Value {
    json!({"id": r.id, "customer_id": r.ref_id, "result": r.state,
           "time": r.body["check"]["time"], "answers": r.body["check"]["answers"],
           "photos": r.body["check"]["photos"], "signature": r.body["check"]["signature"],
           "inspector": r.body["inspector"], "org_id": r.org_id})
}

/// Household checks in scope.
pub async fn household_checks(
    st: &AppState,
    p: &Principal,
    q: &ListQuery,
) -> ApiResult<Vec<Value>> {
    let list = list_in_scope(st, p, HOUSEHOLD_CHECK, q).await?;
    Ok(list.iter().map(check_view).collect())
}

/// What the console's list of household checks is narrowed to.
#[derive(Debug, Default)]
pub struct CheckFilter {
    pub customer_id: Option<Uuid>,
    /// `passed` or `failed`.
    pub result: Option<String>,
    /// The China calendar day (YYYY-MM-DD) the check was recorded.
    pub date: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Household checks in scope, newest first, of one customer, one result and one recording day
/// (each optional).
pub async fn household_checks_where(
    st: &AppState,
    p: &Principal,
    f: &CheckFilter,
) -> ApiResult<Vec<Value>> {
    let mut errs = ValidationErrors::default();
    if let Some(r) = &f.result
        && r != "passed"
        && r != "failed"
    {
        errs.push("result", "安检结果应为 passed（合格）或 failed（不合格）");
    }
    let day = f.date.as_deref().and_then(|d| {
        cyltrace_domain::Date::parse(d)
            .map_err(|m| errs.push("date", m))
            .ok()
    });
    errs.into_result(())?;
    let q = ListQuery {
        limit: f.limit,
        offset: f.offset,
        state: f.result.clone(),
        customer_id: f.customer_id,
    };
    p.require(Action::Read)?;
    let mut bf = q.biz_filter(HOUSEHOLD_CHECK, p)?;
    if let Some(d) = day {
        let start = crate::services::calendar::day_start(d.naive());
        bf.created_from = Some(start);
        bf.created_before = Some(start + Duration::days(1));
    }
    Ok(st
        .store
        .list_biz(&bf)
        .await?
        .iter()
        .map(check_view)
        .collect())
}

/// Rectification tasks in scope (state=).
pub async fn rectifications(st: &AppState, p: &Principal, q: &ListQuery) -> ApiResult<Vec<Value>> {
    let list = list_in_scope(st, p, RECTIFICATION, q).await?;
    let now = st.now();
    Ok(list.iter().map(|r| rectification_view(r, now)).collect())
}
