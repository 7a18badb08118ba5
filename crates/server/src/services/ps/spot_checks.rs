//! Spot checks (§7.3): a regulator orders one (v1 API), the enterprise lists, reads and answers its
//! own with a photo per cylinder.

use cyltrace_domain::ps::ymdhms;
use cyltrace_domain::{CylinderCode, Role, Text};
use cyltrace_store::{PsDoc, PsDocFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PsError, PsResult, own_doc, refuse};
use crate::auth::Principal;
use crate::error::ApiError;
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
