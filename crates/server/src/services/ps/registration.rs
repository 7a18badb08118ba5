//! Usage registration applications (§7.1, §7.2): kept for a regulator of this node, approved (numbers
//! assigned, archives created, `register` events appended — the event write path, kept as it is) or
//! rejected.

use cyltrace_domain::access::Action;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::ps::{self, RegistrationApply};
use cyltrace_domain::{Event, EventData, Registration, Role, Text};
use cyltrace_store::{NewArchives, NewCylinder, PsDoc, PsDocUpdate};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PsError, PsResult, reasons, refuse};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::services::audit::Audit;
use crate::services::events::{Submission, api_error, submit};
use crate::state::AppState;

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
    a.check_on(cyltrace_domain::time::china_date(st.now()))
        .map_err(|e| PsError::Refused(reasons(&e)))?;
    for (name, path) in ["PayImage", "BatchImage", "DeviceImage"]
        .iter()
        .zip(&a.images)
    {
        if !crate::services::files::usable(st, p, path).await? {
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
    audit: Option<&Audit>,
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
    let mut body = doc.body.clone();
    body["Numbers"] = Value::Array(numbers.clone());
    body["DecidedBy"] = json!(p.username);
    // The archives, their `register` events and the decision: one commit.
    let mut sub = Submission::new(events, Naming::Fields);
    if !new_archives.is_empty() {
        sub.cylinders = Some(NewArchives {
            archives: new_archives,
            at: now,
        });
    }
    sub.ps_doc = Some(PsDocUpdate {
        id,
        state: "approved".to_owned(),
        body,
        at: now,
        from: Some("pending".to_owned()),
    });
    submit(st, p, sub, audit).await.map_err(api_error)?;
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
