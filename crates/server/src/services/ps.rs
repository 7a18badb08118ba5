//! The regulator interface (`/PS`, YUNNAN-API.md) on the receiving side: uploads from enterprises,
//! inspection stations and lower platforms land as events of the uploading unit; registration
//! applications wait for a regulator; spot checks and inspection applications are documents; month
//! counts are compared with what arrived; lower nodes' ledgers are witnessed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::ps::{
    self, BusinessCount, GenericBottle, RegistrationApply, TraceKind, parse_trace, ymdhms,
};
use cyltrace_domain::{
    CylinderCode, Event, EventData, OrgKind, Registration, Role, Text, ValidationErrors,
};
use cyltrace_ledger::{Checkpoint, Hash, verify_checkpoint, verify_consistency, verify_inclusion};
use cyltrace_store::{
    AppendContext, EventFilter, NewCylinder, Page, PsDoc, PsDocFilter, RegAlarm, Scope, StoreError,
    WitnessRecord,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Why a `/PS` call failed: HTTP 400 (unparsable), 401 (ticket), or 200 with `State:1`.
#[derive(Debug)]
pub enum PsError {
    BadRequest(String),
    Unauthorized(String),
    Refused(String),
    Internal(String),
}

pub type PsResult<T> = Result<T, PsError>;

impl From<StoreError> for PsError {
    fn from(e: StoreError) -> Self {
        PsError::Internal(e.to_string())
    }
}

impl From<ApiError> for PsError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) => PsError::BadRequest(m),
            ApiError::Unauthorized(m) => PsError::Unauthorized(m),
            ApiError::Internal(m) => PsError::Internal(m),
            ApiError::Invalid(v) => PsError::Refused(reasons(&v)),
            other => PsError::Refused(problem_detail(&other)),
        }
    }
}

fn problem_detail(e: &ApiError) -> String {
    match e {
        ApiError::Forbidden(m) | ApiError::NotFound(m) | ApiError::Conflict(m, _) => m.clone(),
        other => other.to_string(),
    }
}

/// All field errors as one reason: `Items[1].Barcode: …；Man.Name: …`.
pub fn reasons(v: &ValidationErrors) -> String {
    v.0.iter()
        .map(|e| {
            if e.field.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("；")
}

pub(crate) fn refuse(field: impl AsRef<str>, msg: impl AsRef<str>) -> PsError {
    PsError::Refused(format!("{}: {}", field.as_ref(), msg.as_ref()))
}

/// Tickets live two hours (YUNNAN-API.md), unless configured otherwise.
pub async fn login(st: &AppState, body: &Value) -> PsResult<String> {
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| refuse(k, "缺少必填属性"))
    };
    let (account, password) = (field("Account")?, field("Password")?);
    let login = json!({"username": account, "password": password});
    match crate::services::login_for(st, &login, st.config.ps_ticket_ttl_secs).await {
        Ok((ticket, _, _)) => Ok(ticket),
        Err(ApiError::Unauthorized(m)) => Err(PsError::Refused(m)),
        Err(e) => Err(e.into()),
    }
}

/// The caller behind a ticket.
pub async fn principal(st: &AppState, ticket: Option<&str>) -> PsResult<Principal> {
    let t = ticket
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PsError::Unauthorized("缺少令牌参数 ticket（或 token），请先调用 /PS/Auth/Login".into())
        })?;
    crate::services::authenticate(st, t).await.map_err(|_| {
        PsError::Unauthorized("令牌无效或已过期，请重新调用 /PS/Auth/Login".to_owned())
    })
}

// ---------------------------------------------------------------------------------------------
// Archives

/// §2: archives of the caller's data scope changed at or after `lasttime` (oldest first), with the
/// registration certificate (extension `RegisterNo`, `Office`), the owner's credit code (extension
/// `OwnerCreditCode`, so that a lower platform maps owners) and `UpdatedAt` (extension) to resume.
pub async fn generic_bottles(
    st: &AppState,
    p: &Principal,
    lasttime: Option<&str>,
) -> PsResult<Value> {
    p.require(Action::Read)?;
    let since = match lasttime.map(str::trim).filter(|s| !s.is_empty()) {
        None => DateTime::<Utc>::MIN_UTC,
        Some(s) => ps::parse_ymdhms(s).map_err(|m| refuse("lasttime", m))?,
    };
    let rows = st
        .store
        .list_cylinders_since(&p.scope(), since, LIST_LIMIT)
        .await?;
    let mut credit: HashMap<Uuid, Option<String>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let mut a = c.archive.clone();
        if c.status.registration.is_some() {
            a.registration = c.status.registration.clone();
        }
        a.state = c.status.state;
        let mut v = serde_json::to_value(GenericBottle::from_archive(&a, c.id))
            .map_err(|e| PsError::Internal(e.to_string()))?;
        if let std::collections::hash_map::Entry::Vacant(e) = credit.entry(c.org_id) {
            e.insert(
                st.store
                    .get_org(c.org_id)
                    .await?
                    .and_then(|o| o.credit_code),
            );
        }
        if let Some(code) = &credit[&c.org_id] {
            v["OwnerCreditCode"] = json!(code);
        }
        v["UpdatedAt"] = json!(ymdhms(c.updated_at));
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// Most archives in one `GenericBottle/List` answer; a caller resumes from the last `UpdatedAt`.
pub const LIST_LIMIT: i64 = 5000;

// ---------------------------------------------------------------------------------------------
// Trace uploads

/// §4–6: stores every item of an upload as an event of the caller's organisation, or none.
pub async fn upload_trace(
    st: &AppState,
    p: &Principal,
    kind: TraceKind,
    data: &Value,
) -> PsResult<usize> {
    if p.require(Action::RecordEvent(kind.event_kind())).is_err() {
        return Err(PsError::Refused(format!(
            "该账号无权上传“{}”数据",
            kind.event_kind().label_zh()
        )));
    }
    let now = st.now();
    let station = match (kind, ps::station_name(data)) {
        (TraceKind::Inspection, Some(name)) => station_by_name(st, name).await?.map(|o| o.id),
        _ => None,
    };
    let items = parse_trace(kind, data, p.org_id, now, station)
        .map_err(|e| PsError::Refused(reasons(&e)))?;
    let mut seen: HashMap<CylinderCode, ()> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        let code = &it.event.codes[0];
        if it.event.time > now + crate::services::MAX_FUTURE_SKEW {
            let f = if kind == TraceKind::Fill {
                "EndDate"
            } else {
                "Date"
            };
            return Err(refuse(format!("Items[{i}].{f}"), "时间晚于平台当前时间"));
        }
        if seen.insert(code.clone(), ()).is_some() {
            continue;
        }
        match st.store.get_cylinder(code).await? {
            None => {
                return Err(refuse(
                    format!("Items[{i}].Barcode"),
                    format!("气瓶 {code} 在本平台没有档案"),
                ));
            }
            // An inspection station reports on other owners' cylinders sent to it.
            Some(c)
                if !(p.sees(&c.org_path)
                    || station == Some(p.org_id)
                        && c.status.inspection_station == Some(p.org_id)) =>
            {
                return Err(refuse(
                    format!("Items[{i}].Barcode"),
                    format!("气瓶 {code} 不属于本账号所在单位"),
                ));
            }
            Some(_) => {}
        }
    }
    let events: Vec<Event> = items.iter().map(|i| i.event.clone()).collect();
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
            StoreError::Conflict(id) => {
                let i = events
                    .iter()
                    .position(|e| e.id.to_string() == id)
                    .unwrap_or(0);
                refuse(
                    format!("Items[{i}].ThridId"),
                    "该 ThridId 已用于另一条不同的记录",
                )
            }
            other => other.into(),
        })?;
    for it in &items {
        if let Some(l) = it.leaf {
            let leaf = cyltrace_store::DeclaredLeaf {
                user_id: p.user_id,
                ledger_index: l.index,
                leaf_hash: Hash(l.leaf_hash),
                event_id: it.event.id,
                at: now,
            };
            let req = cyltrace_store::WriteRequest {
                ps_leaves: vec![leaf],
                ..Default::default()
            };
            st.store.write(req).await.map_err(|e| e.into_store())?;
        }
    }
    let fresh = appended.iter().filter(|a| a.new).count();
    st.metrics.events_appended.inc_by(fresh as u64);
    st.metrics
        .events_duplicate
        .inc_by((appended.len() - fresh) as u64);
    Ok(fresh)
}

/// §9: compares a reported month count with the events this node received from the caller, keeps
/// the comparison and raises an alarm for the regulator on a mismatch.
pub async fn business_count(
    st: &AppState,
    p: &Principal,
    data: &Value,
) -> PsResult<Option<String>> {
    let c = BusinessCount::parse(data).map_err(|e| PsError::Refused(reasons(&e)))?;
    let (from, to) = c.range();
    let (_, received) = st
        .store
        .list_events(&EventFilter {
            scope: Some(Scope(p.org_path.clone())),
            kinds: vec![c.kind.event_kind().as_str()],
            from: Some(from),
            to: Some(to),
            limit: 1,
            ..Default::default()
        })
        .await?;
    let matches = received == c.count;
    let now = st.now();
    let body = json!({"Year": c.year, "Month": c.month, "Type": c.kind.count_type(),
        "Reported": c.count, "Received": received});
    let doc = PsDoc {
        id: 0,
        kind: "business_count".to_owned(),
        org_id: p.org_id,
        org_path: p.org_path.clone(),
        target_org_id: None,
        third_id: Some(format!("{}-{:02}-{}", c.year, c.month, c.kind.count_type())),
        state: if matches { "match" } else { "mismatch" }.to_owned(),
        body: body.clone(),
        created_at: now,
        updated_at: now,
    };
    let (id, new) = st.store.insert_ps_doc(&doc).await?;
    if !new {
        st.store.update_ps_doc(id, &doc.state, &body, now).await?;
    }
    if matches {
        return Ok(None);
    }
    let msg = format!(
        "{}年{}月{}：上报 {} 条，本平台收到 {} 条",
        c.year,
        c.month,
        c.kind.event_kind().label_zh(),
        c.count,
        received
    );
    st.store
        .insert_reg_alarm(&RegAlarm {
            id: 0,
            org_id: p.org_id,
            kind: "business_count_mismatch".to_owned(),
            message: msg.clone(),
            at: now,
        })
        .await?;
    Ok(Some(format!("数量不一致，已记录：{msg}")))
}

// ---------------------------------------------------------------------------------------------
// Registration applications (§7.1, §7.2)

/// Keeps an application for a regulator of this node; answers its id (the same id for a repeated
/// `ThirdId`).
pub async fn apply_registration(
    st: &AppState,
    p: &Principal,
    body: &Value,
    old: bool,
) -> PsResult<i64> {
    if p.require(Action::WriteCylinders).is_err() {
        return Err(PsError::Refused("该账号无权申请使用登记".to_owned()));
    }
    let a = RegistrationApply::parse(body).map_err(|e| PsError::Refused(reasons(&e)))?;
    for (name, path) in ["PayImage", "BatchImage", "DeviceImage"]
        .iter()
        .zip(&a.images)
    {
        if !crate::services::files::exists(st, path) {
            return Err(refuse(
                format!("Overview.{name}"),
                format!("文件“{path}”不存在，请先调用 /PS/File/Upload 上传"),
            ));
        }
    }
    for (i, it) in a.items.iter().enumerate() {
        match st.store.get_cylinder(&it.code).await? {
            Some(_) if !old => {
                return Err(refuse(
                    format!("Items[{i}].Barcode"),
                    format!("气瓶 {} 已有档案，旧瓶请用 ApplyOld 补录", it.code),
                ));
            }
            Some(c) if !p.sees(&c.org_path) => {
                return Err(refuse(
                    format!("Items[{i}].Barcode"),
                    format!("气瓶 {} 不属于本单位", it.code),
                ));
            }
            _ => {}
        }
    }
    let now = st.now();
    let doc = PsDoc {
        id: 0,
        kind: if old { "apply_old" } else { "apply_new" }.to_owned(),
        org_id: p.org_id,
        org_path: p.org_path.clone(),
        target_org_id: None,
        third_id: Some(a.third_id.clone()),
        state: "pending".to_owned(),
        body: json!({"Request": body, "Applicant": p.username}),
        created_at: now,
        updated_at: now,
    };
    Ok(st.store.insert_ps_doc(&doc).await?.0)
}

/// A regulator approves an application: registration numbers are assigned, archives created (new
/// cylinders) and `register` events recorded, so the archives appear in the applicant's
/// `GenericBottle/List`.
pub async fn approve_registration(
    st: &AppState,
    p: &Principal,
    id: i64,
) -> Result<Value, ApiError> {
    if !p.roles.contains(&Role::Regulator) && !p.is_node_admin() {
        return Err(ApiError::Forbidden(
            "只有监管人员可以审批使用登记".to_owned(),
        ));
    }
    // One decision at a time: the state and the archives are checked again under the lock, so two
    // approvals (of one application, or of two for the same code) cannot both register.
    static APPROVALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _g = APPROVALS.lock().await;
    let doc = regulator_doc(st, p, id, &["apply_new", "apply_old"]).await?;
    if doc.state != "pending" {
        return Err(ApiError::Conflict(
            format!("该申请已{}", state_zh(&doc.state)),
            vec![],
        ));
    }
    let a = RegistrationApply::parse(&doc.body["Request"]).map_err(ApiError::Invalid)?;
    let applicant = st
        .store
        .get_org(doc.org_id)
        .await?
        .ok_or_else(|| ApiError::Internal("applicant vanished".to_owned()))?;
    // The archives may have changed since the application arrived.
    for it in &a.items {
        match st.store.get_cylinder(&it.code).await? {
            Some(_) if doc.kind == "apply_new" => {
                return Err(ApiError::Conflict(
                    format!("气瓶 {} 已有档案，不能按新瓶登记", it.code),
                    vec![],
                ));
            }
            Some(c) if !c.org_path.starts_with(&applicant.path) => {
                return Err(ApiError::Conflict(
                    format!("气瓶 {} 的档案属于其他单位", it.code),
                    vec![],
                ));
            }
            _ => {}
        }
    }
    let authority = st
        .store
        .get_org(p.org_id)
        .await?
        .map_or_else(|| "登记机关".to_owned(), |o| o.name);
    let now = st.now();
    let today = cyltrace_domain::Date(cyltrace_domain::time::china_date(now));
    let region = applicant.region_code.as_str().to_owned();
    let unit: u32 = region[2..5].parse().unwrap_or(0);
    let mut numbers = Vec::new();
    let mut new_archives = Vec::new();
    let mut events = Vec::new();
    for (i, it) in a.items.iter().enumerate() {
        let seq = next_seq(st, &format!("registration_seq:{}", &region[..2])).await?;
        let number =
            ps::registration_number(st.config.registration_variety, &region[..2], unit, seq);
        let reg = Registration {
            number: Text::parse(&number).map_err(ApiError::Internal)?,
            date: today,
            authority: Text::parse(&authority).map_err(ApiError::Internal)?,
        };
        if st.store.get_cylinder(&it.code).await?.is_none() {
            let mut archive = a.archive(i, applicant.id, reg.clone());
            archive.region_code = Some(applicant.region_code);
            new_archives.push(NewCylinder {
                archive,
                org_id: applicant.id,
            });
        }
        events.push(Event {
            id: Uuid::new_v5(&doc.org_id, format!("register:{id}:{}", it.code).as_bytes()),
            data: EventData::Register(reg),
            codes: vec![it.code.clone()],
            time: now,
            site_id: None,
            operator: Text::parse(&p.username).ok(),
            device: None,
            position: None,
        });
        numbers.push(json!({"Barcode": it.code.as_str(), "RegisterNo": number}));
    }
    if !new_archives.is_empty() {
        st.store.insert_cylinders(&new_archives, now).await?;
    }
    st.store
        .append_events(
            &events,
            &AppendContext {
                recorded_by: Some(p.user_id),
                org_id: p.org_id,
                recorded_at: now,
            },
        )
        .await?;
    let mut body = doc.body.clone();
    body["Numbers"] = Value::Array(numbers.clone());
    body["DecidedBy"] = json!(p.username);
    st.store.update_ps_doc(id, "approved", &body, now).await?;
    Ok(json!({"id": id, "state": "approved", "numbers": numbers}))
}

pub async fn reject_registration(
    st: &AppState,
    p: &Principal,
    id: i64,
    reason: &str,
) -> Result<(), ApiError> {
    if !p.roles.contains(&Role::Regulator) && !p.is_node_admin() {
        return Err(ApiError::Forbidden(
            "只有监管人员可以审批使用登记".to_owned(),
        ));
    }
    let reason = Text::parse(reason).map_err(|m| ApiError::invalid("reason", m))?;
    let doc = regulator_doc(st, p, id, &["apply_new", "apply_old"]).await?;
    if doc.state != "pending" {
        return Err(ApiError::Conflict(
            format!("该申请已{}", state_zh(&doc.state)),
            vec![],
        ));
    }
    let mut body = doc.body.clone();
    body["Reason"] = json!(reason.as_str());
    body["DecidedBy"] = json!(p.username);
    st.store
        .update_ps_doc(id, "rejected", &body, st.now())
        .await?;
    Ok(())
}

fn state_zh(s: &str) -> &'static str {
    match s {
        "approved" => "批准",
        "rejected" => "驳回",
        _ => "处理",
    }
}

async fn regulator_doc(
    st: &AppState,
    p: &Principal,
    id: i64,
    kinds: &[&str],
) -> Result<PsDoc, ApiError> {
    let doc = st
        .store
        .get_ps_doc(id)
        .await?
        .filter(|d| kinds.contains(&d.kind.as_str()))
        .ok_or_else(|| ApiError::NotFound(format!("申请 {id} 不存在")))?;
    p.require_scope(&doc.org_path, "该申请")?;
    Ok(doc)
}

/// The next number of a node-wide sequence kept in the settings.
async fn next_seq(st: &AppState, key: &str) -> Result<u32, ApiError> {
    // Approvals are rare and made by people: a read-increment-write under one lock suffices.
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _g = LOCK.lock().await;
    let n: u32 = st
        .store
        .get_setting(key)
        .await?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        + 1;
    st.store.set_setting(key, &n.to_string(), st.now()).await?;
    Ok(n)
}

pub async fn list_docs(
    st: &AppState,
    p: &Principal,
    kind: &str,
    state: Option<String>,
    page: Page,
) -> Result<Vec<PsDoc>, ApiError> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_ps_docs(&PsDocFilter {
            kind: kind.to_owned(),
            scope: Some(p.scope()),
            state,
            limit: page.limit,
            offset: page.offset,
            ..Default::default()
        })
        .await?)
}

// ---------------------------------------------------------------------------------------------
// Spot checks (§7.3)

/// A regulator orders a spot check of an enterprise's cylinders (v1 API):
/// `{"org_id", "style"?, "comment", "codes": [...]}`.
pub async fn create_spot_check(
    st: &AppState,
    p: &Principal,
    body: &Value,
) -> Result<i64, ApiError> {
    if !p.roles.contains(&Role::Regulator) && !p.is_node_admin() {
        return Err(ApiError::Forbidden("只有监管人员可以发起抽查".to_owned()));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Input {
        org_id: Uuid,
        #[serde(default)]
        style: Option<Text>,
        comment: Text,
        codes: Vec<CylinderCode>,
    }
    let input: Input = cyltrace_domain::parse::from_value(body, "")?;
    let org = st
        .store
        .get_org(input.org_id)
        .await?
        .ok_or_else(|| ApiError::invalid("org_id", "企业不存在"))?;
    p.require_scope(&org.path, "该企业")?;
    if input.codes.is_empty() {
        return Err(ApiError::invalid("codes", "至少抽查一个气瓶"));
    }
    let mut items = Vec::new();
    for (i, code) in input.codes.iter().enumerate() {
        let c = st
            .store
            .get_cylinder(code)
            .await?
            .filter(|c| c.org_path.starts_with(&org.path))
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("codes[{i}]"),
                    format!("气瓶 {code} 不是该企业的气瓶"),
                )
            })?;
        items.push(json!({"Id": i + 1, "Barcode": code.as_str(),
            "Printno": c.archive.factory_serial.as_ref().map_or("", |t| t.as_str())}));
    }
    let now = st.now();
    let style = input
        .style
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let doc = PsDoc {
        id: 0,
        kind: "spot_check".to_owned(),
        org_id: org.id,
        org_path: org.path.clone(),
        target_org_id: Some(p.org_id),
        third_id: None,
        state: "open".to_owned(),
        body: json!({"Style": style, "CheckCount": items.len(), "CheckDate": ymdhms(now),
            "CheckComment": input.comment.as_str(), "ApplyDate": ymdhms(now), "Items": items,
            "IssuedBy": p.username}),
        created_at: now,
        updated_at: now,
    };
    Ok(st.store.insert_ps_doc(&doc).await?.0)
}

fn spot_summary(d: &PsDoc, with_id: bool) -> Value {
    let b = &d.body;
    let mut v = json!({"Style": b["Style"], "CheckCount": b["CheckCount"], "CheckDate": b["CheckDate"],
        "CheckComment": b["CheckComment"], "ApplyDate": b["ApplyDate"]});
    if with_id {
        v["Id"] = json!(d.id);
    }
    v
}

/// §7.3.1: the caller's spot checks not yet answered.
pub async fn unanswered_spot_checks(st: &AppState, p: &Principal) -> PsResult<Value> {
    let docs = st
        .store
        .list_ps_docs(&PsDocFilter {
            kind: "spot_check".to_owned(),
            org_id: Some(p.org_id),
            state: Some("open".to_owned()),
            limit: 500,
            ..Default::default()
        })
        .await?;
    Ok(Value::Array(
        docs.iter().map(|d| spot_summary(d, true)).collect(),
    ))
}

async fn own_doc(st: &AppState, p: &Principal, id: i64, kind: &str, what: &str) -> PsResult<PsDoc> {
    st.store
        .get_ps_doc(id)
        .await?
        .filter(|d| d.kind == kind && d.org_id == p.org_id)
        .ok_or_else(|| refuse("Id", format!("{what} {id} 不存在或不属于本单位")))
}

/// §7.3.2.
pub async fn spot_check_detail(st: &AppState, p: &Principal, id: Option<&str>) -> PsResult<Value> {
    let id = parse_id(id, "id")?;
    let d = own_doc(st, p, id, "spot_check", "抽查").await?;
    let mut v = spot_summary(&d, false);
    v["Items"] = d.body["Items"].clone();
    Ok(v)
}

/// §7.3.3: the enterprise answers with a photo per cylinder.
pub async fn answer_spot_check(st: &AppState, p: &Principal, body: &Value) -> PsResult<()> {
    let id = body
        .get("Id")
        .and_then(Value::as_i64)
        .ok_or_else(|| refuse("Id", "缺少或不是整数"))?;
    let d = own_doc(st, p, id, "spot_check", "抽查").await?;
    if d.state != "open" {
        return Err(refuse("Id", "该抽查已回复"));
    }
    let answers = body
        .get("Items")
        .and_then(Value::as_array)
        .ok_or_else(|| refuse("Items", "缺少或不是数组"))?;
    let mut doc_body = d.body.clone();
    let items = doc_body["Items"]
        .as_array_mut()
        .ok_or_else(|| PsError::Internal("spot check without items".into()))?;
    for (i, a) in answers.iter().enumerate() {
        let item_id = a
            .get("Id")
            .and_then(Value::as_i64)
            .ok_or_else(|| refuse(format!("Items[{i}].Id"), "缺少或不是整数"))?;
        let image = a
            .get("Image")
            .and_then(Value::as_str)
            .map(str::trim)
            .ok_or_else(|| refuse(format!("Items[{i}].Image"), "缺少照片路径"))?;
        if !crate::services::files::exists(st, image) {
            return Err(refuse(
                format!("Items[{i}].Image"),
                format!("文件“{image}”不存在，请先上传"),
            ));
        }
        let item = items
            .iter_mut()
            .find(|x| x["Id"].as_i64() == Some(item_id))
            .ok_or_else(|| {
                refuse(
                    format!("Items[{i}].Id"),
                    format!("抽查中没有气瓶 {item_id}"),
                )
            })?;
        item["Image"] = json!(image);
    }
    if let Some(missing) = items.iter().find(|x| x.get("Image").is_none()) {
        return Err(refuse(
            "Items",
            format!(
                "气瓶 {} 缺少照片",
                missing["Barcode"].as_str().unwrap_or("")
            ),
        ));
    }
    st.store
        .update_ps_doc(id, "answered", &doc_body, st.now())
        .await?;
    Ok(())
}

fn parse_id(v: Option<&str>, name: &str) -> PsResult<i64> {
    v.map(str::trim)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refuse(name, "缺少或不是整数"))
}

// ---------------------------------------------------------------------------------------------
// Inspection applications (§8)

/// §8.1: opens a work order for an inspection station of this node.
pub async fn begin_check_apply(st: &AppState, p: &Principal, body: &Value) -> PsResult<i64> {
    let third = third_id(body)?;
    let station = body
        .get("Station")
        .and_then(Value::as_object)
        .ok_or_else(|| refuse("Station", "缺少检验机构"))?;
    let name = station
        .get("Name")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| refuse("Station.Name", "缺少必填属性"))?;
    let sid = station
        .get("Id")
        .ok_or_else(|| refuse("Station.Id", "缺少必填属性"))?;
    let by_id = match sid {
        Value::String(s) => Uuid::parse_str(s.trim()).ok(),
        _ => None,
    };
    let org = match by_id {
        Some(id) => st.store.get_org(id).await?,
        None => station_by_name(st, name).await?,
    }
    .filter(|o| o.kind == OrgKind::InspectionStation)
    .ok_or_else(|| refuse("Station", format!("检验机构“{name}”不存在")))?;
    let now = st.now();
    let doc = PsDoc {
        id: 0,
        kind: "check_apply".to_owned(),
        org_id: p.org_id,
        org_path: p.org_path.clone(),
        target_org_id: Some(org.id),
        third_id: Some(third),
        state: "open".to_owned(),
        body: json!({"Station": {"Id": org.id.to_string(), "Name": org.name}, "Items": [], "Ops": []}),
        created_at: now,
        updated_at: now,
    };
    Ok(st.store.insert_ps_doc(&doc).await?.0)
}

/// The inspection station of this node called `name`.
async fn station_by_name(st: &AppState, name: &str) -> PsResult<Option<cyltrace_store::OrgRecord>> {
    let mut offset = 0;
    loop {
        let page = st
            .store
            .list_orgs(&Scope::all(), Page { limit: 500, offset })
            .await?;
        if let Some(o) = page
            .iter()
            .find(|o| o.kind == OrgKind::InspectionStation && o.name == name)
        {
            return Ok(Some(o.clone()));
        }
        if page.len() < 500 {
            return Ok(None);
        }
        offset += 500;
    }
}

fn third_id(body: &Value) -> PsResult<String> {
    match body.get("ThirdId") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => Err(refuse("ThirdId", "缺少或不是整数")),
    }
}

/// §8.2–8.4 on an open work order of the caller. Idempotent by `ThirdId`.
pub async fn change_check_apply(
    st: &AppState,
    p: &Principal,
    body: &Value,
    op: &str,
) -> PsResult<()> {
    let third = third_id(body)?;
    let id = body
        .get("Id")
        .and_then(Value::as_i64)
        .ok_or_else(|| refuse("Id", "缺少或不是整数"))?;
    let d = own_doc(st, p, id, "check_apply", "送检工单").await?;
    let mut b = d.body.clone();
    let op_key = format!("{op}:{third}");
    if b["Ops"]
        .as_array()
        .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some(op_key.as_str())))
    {
        return Ok(());
    }
    if d.state != "open" {
        return Err(refuse("Id", "该送检工单已结束"));
    }
    let mut items: Vec<Value> = b["Items"].as_array().cloned().unwrap_or_default();
    let now = st.now();
    let mut state = "open";
    match op {
        "add" | "remove" => {
            let list = body
                .get("Items")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| refuse("Items", "至少需要一个气瓶"))?;
            for (i, it) in list.iter().enumerate() {
                let code = it
                    .get("Barcode")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .ok_or_else(|| refuse(format!("Items[{i}].Barcode"), "缺少必填属性"))
                    .and_then(|s| {
                        CylinderCode::parse(s).map_err(|m| refuse(format!("Items[{i}].Barcode"), m))
                    })?;
                if op == "remove" {
                    items.retain(|x| x["Barcode"].as_str() != Some(code.as_str()));
                    continue;
                }
                let seq = it
                    .get("SeqNo")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| refuse(format!("Items[{i}].SeqNo"), "缺少或不是整数"))?;
                match st.store.get_cylinder(&code).await? {
                    Some(c) if p.sees(&c.org_path) => {}
                    _ => {
                        return Err(refuse(
                            format!("Items[{i}].Barcode"),
                            format!("气瓶 {code} 不存在或不属于本单位"),
                        ));
                    }
                }
                if !items
                    .iter()
                    .any(|x| x["Barcode"].as_str() == Some(code.as_str()))
                {
                    items.push(json!({"Barcode": code.as_str(), "SeqNo": seq}));
                }
            }
        }
        _ => {
            // End: the cylinders are sent to the station (one `inspection_send` event).
            if items.is_empty() {
                return Err(refuse("Id", "送检工单中没有气瓶"));
            }
            let station: Uuid = d
                .target_org_id
                .ok_or_else(|| PsError::Internal("work order without station".into()))?;
            let codes = items
                .iter()
                .filter_map(|x| x["Barcode"].as_str())
                .filter_map(|s| CylinderCode::parse(s).ok())
                .collect();
            let e = Event {
                id: Uuid::new_v5(&p.org_id, format!("check_apply:{id}").as_bytes()),
                data: EventData::InspectionSend(cyltrace_domain::event::InspectionSend {
                    station_org_id: station,
                }),
                codes,
                time: now,
                site_id: None,
                operator: Text::parse(&p.username).ok(),
                device: None,
                position: None,
            };
            st.store
                .append_events(
                    &[e],
                    &AppendContext {
                        recorded_by: Some(p.user_id),
                        org_id: p.org_id,
                        recorded_at: now,
                    },
                )
                .await?;
            state = "ended";
        }
    }
    b["Items"] = Value::Array(items);
    if let Some(ops) = b["Ops"].as_array_mut() {
        ops.push(json!(op_key));
    }
    st.store.update_ps_doc(id, state, &b, now).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Witnessing a lower node's ledger (cyltrace extension)

/// What this node holds of the caller's ledger: the size and root of the last accepted checkpoint
/// and the declared leaves still to be proven included (at most 256).
pub async fn witness_state(st: &AppState, p: &Principal) -> PsResult<Value> {
    let latest = st.store.latest_witness(p.user_id).await?;
    let size = latest.as_ref().map_or(0, |w| w.size);
    let pending = st
        .store
        .ps_leaves_unaudited(p.user_id, u64::MAX >> 1, 256)
        .await?;
    Ok(json!({
        "Size": size,
        "Root": latest.map(|w| w.root.to_hex()),
        "Pending": pending.iter().map(|(i, _)| i).collect::<Vec<_>>(),
    }))
}

/// Verifies and stores a lower node's checkpoint:
/// `{"Text","Signature" (hex DER),"PublicKey" (hex SEC1),"Hash"?: "sm3"|"sha256",
///   "Consistency": [hex…] (from the size this node holds), "Inclusion": [{"Index","Proof":[hex…]}]}`.
/// Anything that does not verify raises a tamper alarm for the regulator.
pub async fn witness_checkpoint(st: &AppState, p: &Principal, body: &Value) -> PsResult<()> {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| refuse(k, "缺少必填属性"))
    };
    let text = s("Text")?;
    let sig = hex::decode(s("Signature")?).map_err(|_| refuse("Signature", "应为十六进制"))?;
    let key = hex::decode(s("PublicKey")?).map_err(|_| refuse("PublicKey", "应为十六进制"))?;
    let alg: cyltrace_ledger::HashAlg = body
        .get("Hash")
        .and_then(Value::as_str)
        .unwrap_or("sm3")
        .parse()
        .map_err(|_| refuse("Hash", "应为 sm3 或 sha256"))?;
    let hashes = |v: Option<&Value>, field: &str| -> PsResult<Vec<Hash>> {
        v.and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|h| Hash::from_hex(h).ok())
                    .ok_or_else(|| refuse(field, "应为 64 位十六进制哈希"))
            })
            .collect()
    };
    let consistency = hashes(body.get("Consistency"), "Consistency")?;
    let cp = Checkpoint::parse(text).map_err(|e| refuse("Text", format!("检查点格式错误：{e}")))?;
    let now = st.now();
    let prev = st.store.latest_witness(p.user_id).await?;
    let alarm = |msg: String| async move {
        tracing::error!(account = %p.username, "TAMPER ALARM (lower node ledger): {msg}");
        st.metrics.tamper_alarms.inc();
        st.store
            .insert_reg_alarm(&RegAlarm {
                id: 0,
                org_id: p.org_id,
                kind: "ledger_tamper".to_owned(),
                message: msg.clone(),
                at: now,
            })
            .await?;
        Err::<(), PsError>(PsError::Refused(format!("账本检查点未通过验证：{msg}")))
    };
    if verify_checkpoint(&key, text, &sig).is_err() {
        return alarm(format!(
            "{} 的检查点（大小 {}）签名无效",
            cp.origin, cp.size
        ))
        .await;
    }
    if let Some(prev) = &prev {
        if prev.public_key != key || prev.origin != cp.origin {
            return alarm(format!(
                "检查点的签名密钥或日志名（{}）与此前登记的（{}）不同",
                cp.origin, prev.origin
            ))
            .await;
        }
        if cp.size < prev.size {
            return alarm(format!(
                "{} 的新检查点大小 {} 小于此前见证的 {}：日志被截短",
                cp.origin, cp.size, prev.size
            ))
            .await;
        }
        if verify_consistency(alg, prev.size, cp.size, &prev.root, &cp.root, &consistency).is_err()
        {
            return alarm(format!(
                "{} 的检查点（大小 {}）与此前见证的检查点（大小 {}）不一致：历史记录被改写",
                cp.origin, cp.size, prev.size
            ))
            .await;
        }
    }
    // Inclusion of the leaves the lower node declared with its uploads.
    let declared: HashMap<i64, Hash> = st
        .store
        .ps_leaves_unaudited(p.user_id, cp.size, 100_000)
        .await?
        .into_iter()
        .collect();
    let mut audited = Vec::new();
    for (i, inc) in body
        .get("Inclusion")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let index = inc
            .get("Index")
            .and_then(Value::as_i64)
            .ok_or_else(|| refuse(format!("Inclusion[{i}].Index"), "缺少或不是整数"))?;
        let Some(leaf) = declared.get(&index) else {
            continue;
        };
        let proof = hashes(inc.get("Proof"), &format!("Inclusion[{i}].Proof"))?;
        if verify_inclusion(alg, leaf, index as u64, cp.size, &proof, &cp.root).is_err() {
            return alarm(format!(
                "{} 上传记录的账本条目 {index} 不在其检查点（大小 {}）中：已上传的记录被改写",
                cp.origin, cp.size
            ))
            .await;
        }
        audited.push(index);
    }
    st.store.ps_leaves_mark_audited(p.user_id, &audited).await?;
    if prev.as_ref().is_none_or(|w| w.size < cp.size) {
        st.store
            .insert_witness(&WitnessRecord {
                user_id: p.user_id,
                origin: cp.origin.clone(),
                size: cp.size,
                root: cp.root,
                text: text.to_owned(),
                signature: sig,
                public_key: key,
                received_at: now,
            })
            .await?;
    }
    Ok(())
}
