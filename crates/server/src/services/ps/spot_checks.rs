//! Spot checks (§7.3, D5): a regulator orders one (v1 API), the enterprise lists, reads and answers
//! its own — over `/PS` with a photo per cylinder, or from its console with a text and up to three
//! photos (`Answer` in the document: `Text`, `Photos`, `Date`, `By`) — and the regulator in scope
//! reads the answer and sees the photos.

use cyltrace_domain::access::Action;
use cyltrace_domain::ps::ymdhms;
use cyltrace_domain::{CylinderCode, Role, Text, ValidationErrors};
use cyltrace_store::{Page, PsDoc, PsDocFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PsError, PsResult, list_docs, org_name, own_doc, refuse};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::files::{self, Upload, check_photos};
use crate::state::AppState;

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
    p.require(Action::Read)?;
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

/// §7.3.2.
pub async fn spot_check_detail(st: &AppState, p: &Principal, id: Option<&str>) -> PsResult<Value> {
    p.require(Action::Read)?;
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
        if !crate::services::files::usable(st, p, image).await? {
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
// The consoles: the enterprise answers, the regulator reads (D5)

/// Characters an answer's text may have.
const ANSWER_MAX: usize = 2000;

/// A spot check as the consoles show it.
pub struct SpotCheck {
    pub id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The enterprise checked.
    pub enterprise: String,
    pub cylinders: u64,
    /// The codes of the cylinders to check.
    pub codes: Vec<String>,
    pub comment: String,
    pub state: String,
    /// The enterprise's answer from its console (empty when answered over `/PS` or not yet).
    pub answer: String,
    /// When it was answered (`yyyyMMddHHmmss`, China time), and by whom.
    pub answered_at: String,
    pub answered_by: String,
    /// How many photos came with the answer (the console's, then one per cylinder over `/PS`).
    pub photos: usize,
}

/// Every photo of an answer: the console's photos, then the `/PS` answer's one per cylinder.
fn photos_of(d: &PsDoc) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = strings(&d.body["Answer"]["Photos"]);
    if let Some(items) = d.body["Items"].as_array() {
        out.extend(
            items
                .iter()
                .filter_map(|i| i["Image"].as_str())
                .map(str::to_owned),
        );
    }
    out
}

async fn view_of(st: &AppState, d: &PsDoc) -> ApiResult<SpotCheck> {
    let b = &d.body;
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    Ok(SpotCheck {
        id: d.id,
        created_at: d.created_at,
        enterprise: org_name(st, d.org_id).await?,
        cylinders: b["CheckCount"].as_u64().unwrap_or(0),
        codes: b["Items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["Barcode"].as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        comment: text(&b["CheckComment"]),
        state: d.state.clone(),
        answer: text(&b["Answer"]["Text"]),
        answered_at: text(&b["Answer"]["Date"]),
        answered_by: text(&b["Answer"]["By"]),
        photos: photos_of(d).len(),
    })
}

/// Spot checks in the caller's scope, newest first: those ordered by a regulator of the region, or
/// those addressed to the caller's enterprise.
pub async fn spot_checks(st: &AppState, p: &Principal) -> ApiResult<Vec<SpotCheck>> {
    let docs = list_docs(
        st,
        p,
        "spot_check",
        None,
        Page {
            limit: 500,
            offset: 0,
        },
    )
    .await?;
    let mut out = Vec::with_capacity(docs.len());
    for d in docs.iter().filter(|d| p.sees(&d.org_path)) {
        out.push(view_of(st, d).await?);
    }
    Ok(out)
}

/// A spot check of an enterprise in the caller's scope.
async fn visible_doc(st: &AppState, p: &Principal, id: i64) -> ApiResult<PsDoc> {
    p.require(cyltrace_domain::access::Action::Read)?;
    let d = st
        .store
        .get_ps_doc(id)
        .await?
        .filter(|d| d.kind == "spot_check")
        .ok_or_else(|| ApiError::NotFound("抽查不存在".to_owned()))?;
    p.require_scope(&d.org_path, "该抽查")?;
    Ok(d)
}

/// One spot check of the caller's scope.
pub async fn spot_check(st: &AppState, p: &Principal, id: i64) -> ApiResult<SpotCheck> {
    let d = visible_doc(st, p, id).await?;
    view_of(st, &d).await
}

/// Photo `n` (from 0) of a spot check's answer, for the enterprise answering it and the regulator in
/// scope; and its media type.
pub async fn spot_check_photo(
    st: &AppState,
    p: &Principal,
    id: i64,
    n: usize,
) -> ApiResult<(Vec<u8>, &'static str)> {
    let d = visible_doc(st, p, id).await?;
    let reference = photos_of(&d)
        .into_iter()
        .nth(n)
        .ok_or_else(|| ApiError::NotFound("照片不存在".to_owned()))?;
    let bytes = files::read(st, &reference)
        .await
        .ok_or_else(|| ApiError::NotFound("照片不存在".to_owned()))?;
    let ct = files::media_type(&bytes);
    Ok((bytes, ct))
}

/// The enterprise answers an open spot check from its console (D5): a text (`answer`) and up to
/// three photos (`photos`), all judged before anything is kept.
pub async fn answer_spot_check_here(
    st: &AppState,
    p: &Principal,
    id: i64,
    answer: &str,
    photos: &[Upload],
) -> ApiResult<()> {
    if !p.roles.contains(&Role::EnterpriseAdmin) && !p.is_node_admin() {
        return Err(ApiError::Forbidden("只有企业管理员可以答复抽查".to_owned()));
    }
    let d = visible_doc(st, p, id).await?;
    if d.state != "open" {
        return Err(ApiError::Conflict("该抽查已答复".to_owned(), vec![]));
    }
    let mut errs = ValidationErrors::default();
    let answer = answer.trim();
    match answer.chars().count() {
        0 => errs.push("answer", "请填写答复内容"),
        n if n > ANSWER_MAX => errs.push("answer", format!("不能超过 {ANSWER_MAX} 个字")),
        _ => {}
    }
    check_photos("photos", photos, &mut errs);
    errs.into_result(())?;
    let bytes: Vec<Vec<u8>> = photos.iter().map(|u| u.bytes.clone()).collect();
    let refs = files::put_photos(st, d.org_id, Some(p.user_id), &bytes).await?;
    let mut body = d.body.clone();
    body["Answer"] = json!({"Text": answer, "Photos": refs, "Date": ymdhms(st.now()),
        "By": p.username});
    st.store
        .update_ps_doc(id, "answered", &body, st.now())
        .await?;
    Ok(())
}
