//! Archive attachments and vehicle cylinders: factory documents of a cylinder or a batch of them (A2:
//! 产品合格证, 质量证明书, 监督检验证书, 型式试验证书 as stored files), and vehicle cylinder archives
//! (A9, Yunnan `CarBottle`) — an ordinary archive plus the vehicle extension, listed upward by
//! `/PS/CarBottle/List`.

use chrono::{DateTime, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::car_bottle::CarBottle;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{CylinderCode, Text, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const CYLINDER_DOC: &str = "cylinder_doc";
pub use cyltrace_domain::circulation::record_kind::CAR_BOTTLE;

/// The kinds of factory document (seed 000 §6.2).
const DOC_KINDS: [&str; 4] = ["产品合格证", "质量证明书", "监督检验证书", "型式试验证书"];

/// Records of one cylinder are found by a UUID derived from its code.
pub fn code_ref(code: &CylinderCode) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("cyltrace:cylinder:{code}").as_bytes(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDoc {
    kind: String,
    /// SM3 of a file uploaded through `POST /api/v1/files` (PDF or image).
    file: String,
    #[serde(default)]
    number: Option<Text>,
    #[serde(default)]
    issued_on: Option<cyltrace_domain::Date>,
    /// The cylinders the document covers (a batch certificate covers many).
    codes: Vec<String>,
}

/// Attaches a factory document to one or many cylinders (all must be in scope).
pub async fn attach_document(st: &AppState, p: &Principal, body: &Value) -> ApiResult<usize> {
    p.require(Action::WriteCylinders)?;
    let d: NewDoc = from_value(body, "")?;
    let mut errs = ValidationErrors::default();
    if !DOC_KINDS.contains(&d.kind.trim()) {
        errs.push("kind", format!("应为：{}", DOC_KINDS.join("、")));
    }
    if !super::files::usable(st, p, &d.file).await? {
        errs.push("file", "文件不存在，请先上传（POST /api/v1/files）");
    }
    if d.codes.is_empty() || d.codes.len() > 10_000 {
        errs.push("codes", "应为 1–10000 个气瓶编码");
    }
    let mut codes = Vec::with_capacity(d.codes.len());
    for (i, c) in d.codes.iter().enumerate() {
        match CylinderCode::parse(c) {
            Ok(code) => match st.store.get_cylinder(&code).await? {
                Some(rec) if p.sees(&rec.org_path) => codes.push((code, rec.org_id)),
                Some(_) => errs.push(format!("codes[{i}]"), "气瓶不在您的数据权限范围内"),
                None => errs.push(format!("codes[{i}]"), format!("气瓶 {code} 不存在")),
            },
            Err(e) => errs.push(format!("codes[{i}]"), e),
        }
    }
    errs.into_result(())?;
    let now = st.now();
    let mut stored = 0;
    for (code, org) in &codes {
        let r = BizRecord {
            id: Uuid::new_v4(),
            kind: CYLINDER_DOC.to_owned(),
            org_id: *org,
            org_path: String::new(),
            // The same file of the same kind is attached to a cylinder once.
            key: Some(format!("{code}/{}/{}", d.kind.trim(), d.file)),
            ref_id: Some(code_ref(code)),
            state: "active".to_owned(),
            due: None,
            body: json!({"code": code.as_str(), "kind": d.kind.trim(), "file": d.file,
                         "number": d.number, "issued_on": d.issued_on, "by": p.user_id}),
            created_at: now,
            updated_at: now,
        };
        match st.store.insert_biz(&r).await {
            Ok(()) => {
                stored += 1;
                super::files::own(st, *org, Some(p.user_id), &d.file).await?;
            }
            Err(cyltrace_store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stored)
}

/// The factory documents of a cylinder in scope.
pub async fn documents(st: &AppState, p: &Principal, code: &str) -> ApiResult<Vec<Value>> {
    let c = super::get_cylinder(st, p, code).await?;
    let list = st
        .store
        .list_biz(&BizFilter {
            kind: CYLINDER_DOC.to_owned(),
            ref_id: Some(code_ref(&c.archive.code)),
            limit: 100,
            ..Default::default()
        })
        .await?;
    Ok(list
        .iter()
        .map(|r| {
            let mut v = r.body.clone();
            v["id"] = json!(r.id);
            v["created_at"] = json!(r.created_at);
            v
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Vehicle cylinders (A9)

/// Registers a vehicle cylinder: its archive (with the registration certificate) and the vehicle
/// extension. The owner is `owner_org_id` or the caller's organisation.
pub async fn create_car_bottle(st: &AppState, p: &Principal, body: &Value) -> ApiResult<BizRecord> {
    p.require(Action::WriteCylinders)?;
    let mut body = body.clone();
    let owner = match body.as_object_mut().and_then(|m| m.remove("owner_org_id")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Uuid>(v)
                .map_err(|_| ApiError::invalid("owner_org_id", "应为机构 id（UUID）"))?,
        ),
    };
    let cb: CarBottle = from_value(&body, "")?;
    cb.validate()?;
    let mut archive = cb.archive_json();
    if let Some(o) = owner {
        archive["owner_org_id"] = json!(o);
    }
    super::create_cylinders(st, p, &json!({ "cylinders": [archive] }))
        .await
        .map_err(|e| {
            rename_fields(e, |f: &str| {
                f.strip_prefix("cylinders[0].").unwrap_or(f).to_owned()
            })
        })?;
    let code = CylinderCode::parse(&cb.code).map_err(|m| ApiError::invalid("code", m))?;
    let rec = st
        .store
        .get_cylinder(&code)
        .await?
        .ok_or_else(|| ApiError::Internal("the archive just stored is missing".to_owned()))?;
    let mut stored = serde_json::to_value(&cb).unwrap_or_default();
    let identity = cb
        .identity_no
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    stored["identity_no"] = Value::Null;
    stored["identity_masked"] = json!(identity.map(mask_identity));
    stored["identity_sealed"] = match identity {
        Some(i) => super::circulation::seal_text(st, i)?,
        None => Value::Null,
    };
    stored["archive_id"] = json!(rec.id);
    let now = st.now();
    let r = BizRecord {
        id: Uuid::new_v4(),
        kind: CAR_BOTTLE.to_owned(),
        org_id: rec.org_id,
        org_path: String::new(),
        key: Some(code.as_str().to_owned()),
        ref_id: Some(code_ref(&code)),
        state: "active".to_owned(),
        due: None,
        body: stored,
        created_at: now,
        updated_at: now,
    };
    st.store.insert_biz(&r).await?;
    Ok(r)
}

/// An identity number shown masked: the first 4 and last 4 characters.
fn mask_identity(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    if c.len() <= 8 {
        return "*".repeat(c.len());
    }
    let head: String = c[..4].iter().collect();
    let tail: String = c[c.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(c.len() - 8))
}

/// The stored extension back as the domain type (identity masked) with the cylinder's state.
pub async fn car_bottle_view(st: &AppState, r: &BizRecord) -> ApiResult<Value> {
    let mut v = r.body.clone();
    if let Some(code) = v["code"].as_str().and_then(|c| CylinderCode::parse(c).ok())
        && let Some(c) = st.store.get_cylinder(&code).await?
    {
        v["state"] = json!(c.status.state);
        v["label"] = json!(c.status.label);
        v["next_check_date"] = json!(c.status.next_check_date);
    }
    v["identity_no"] = v["identity_masked"].take();
    if let Some(m) = v.as_object_mut() {
        m.remove("identity_masked");
        m.remove("identity_sealed");
    }
    v["id"] = json!(r.id);
    v["org_id"] = json!(r.org_id);
    Ok(v)
}

/// Vehicle cylinders in the caller's scope, as [`car_bottle_view`] shows them.
pub async fn list_car_bottles(st: &AppState, p: &Principal) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let list = st
        .store
        .list_biz(&BizFilter {
            kind: CAR_BOTTLE.to_owned(),
            scope: Some(p.scope()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let mut items = Vec::with_capacity(list.len());
    for r in &list {
        items.push(car_bottle_view(st, r).await?);
    }
    Ok(items)
}

/// The vehicle cylinder `code`, if the caller sees it.
async fn visible_car_bottle(st: &AppState, p: &Principal, code: &str) -> ApiResult<BizRecord> {
    let r = st
        .store
        .biz_by_key(CAR_BOTTLE, code.trim())
        .await?
        .ok_or_else(|| ApiError::NotFound("车用气瓶不存在".to_owned()))?;
    p.require_scope(&r.org_path, "该车用气瓶")?;
    Ok(r)
}

/// One vehicle cylinder, as [`car_bottle_view`] shows it.
pub async fn car_bottle(st: &AppState, p: &Principal, code: &str) -> ApiResult<Value> {
    p.require(Action::Read)?;
    let r = visible_car_bottle(st, p, code).await?;
    car_bottle_view(st, &r).await
}

/// The three labels of a vehicle cylinder (mounted at 120° from each other), as one PDF.
pub async fn car_bottle_labels(st: &AppState, p: &Principal, code: &str) -> ApiResult<Vec<u8>> {
    p.require(Action::Read)?;
    visible_car_bottle(st, p, code).await?;
    let codes = vec![code.trim().to_owned(); 3];
    super::labels::sheet(st, p, &codes).await
}

/// `/PS/CarBottle/List`: vehicle cylinders of the caller's scope changed at or after `since`, in the
/// Yunnan field names.
pub async fn car_bottles_yunnan(
    st: &AppState,
    p: &Principal,
    since: DateTime<Utc>,
) -> ApiResult<Vec<Value>> {
    p.require(Action::Read)?;
    let list = st
        .store
        .list_biz(&BizFilter {
            kind: CAR_BOTTLE.to_owned(),
            scope: Some(p.scope()),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for r in list.iter().rev().filter(|r| r.updated_at >= since) {
        let mut body = r.body.clone();
        let masked = body["identity_masked"].as_str().map(str::to_owned);
        if let Some(m) = body.as_object_mut() {
            for k in ["identity_masked", "identity_sealed", "archive_id"] {
                m.remove(k);
            }
        }
        let Ok(cb) = serde_json::from_value::<CarBottle>(body) else {
            continue;
        };
        let state = match CylinderCode::parse(&cb.code) {
            Ok(code) => st
                .store
                .get_cylinder(&code)
                .await?
                .map_or(0, |c| c.status.state.yunnan()),
            Err(_) => 0,
        };
        out.push(cb.to_yunnan(
            r.body["archive_id"].as_i64().unwrap_or(0),
            state,
            masked.as_deref(),
        ));
    }
    Ok(out)
}

/// Renames the fields of errors about the archive built for a request to the request's own fields
/// (`cylinders[0].code` → `code`), by `fix`.
fn rename_fields(e: ApiError, fix: impl Fn(&str) -> String) -> ApiError {
    use cyltrace_domain::{FieldError, ValidationErrors};
    match e {
        ApiError::Invalid(errs) => ApiError::Invalid(ValidationErrors(
            errs.0
                .into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        )),
        ApiError::Conflict(m, f) => ApiError::Conflict(
            m,
            f.into_iter()
                .map(|x| FieldError::new(fix(&x.field), x.message))
                .collect(),
        ),
        other => other,
    }
}
