//! Periodic inspection: the enterprise's applications and cylinders due (定期检验), and the inspection
//! station's workbench (检验工作台) with the result form (table D.1).

use std::collections::{HashMap, HashSet};

use axum::extract::{Extension, Form, Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use cyltrace_domain::Role;
use cyltrace_domain::time::china_date;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::enterprise;
use crate::services::audit::RequestMeta;
use crate::services::{self, inspection};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::{audit_to, audited};
use crate::web::pages::kit::{
    Block, Card, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local, ok,
    or_dash, pe,
};

/// Where the due list's selection is posted.
const APPLY: &str = "/console/inspections/apply";

/// 定期检验: the applications made and their state, and the cylinders due with a box each, to
/// apply for an inspection of those ticked at a station of the jurisdiction (D1).
async fn inspections_page(
    st: &AppState,
    v: &Viewer,
    ticked: &HashSet<String>,
) -> Result<Page, PageError> {
    enterprise(v)?;
    let apps = pe(inspection::own_applications(st, &v.p, 200).await)?;
    let days = st.config.pending_inspection_days;
    let due = pe(inspection::due(st, &v.p).await)?;
    let stations = pe(inspection::stations(st, &v.p).await)?;
    let station_names: HashMap<String, &str> = stations
        .iter()
        .map(|o| (o.id.to_string(), o.name.as_str()))
        .collect();
    let mut page = v.page(st, "定期检验", "/console/inspections").await;
    page.intro = "勾选到期或超期的气瓶，选择检验机构后点“申请检验”：气瓶记为已送检，检验机构在检验工作台看到它们。".to_owned();
    let mut a = Table::new(
        "applications",
        "送检申请",
        &["申请时间", "检验机构", "气瓶数", "已出结果", "状态"],
    );
    // Applications stay JSON documents (recorded with the inspection results, on the event write
    // path).
    a.rows = apps
        .iter()
        .map(|r| {
            let codes = r.body["codes"].as_array().map_or(0, Vec::len);
            let results = r.body["results"].as_object().map_or(0, |m| m.len());
            vec![
                Cell::text(local(r.created_at)),
                Cell::text(
                    r.body["station_org_id"]
                        .as_str()
                        .and_then(|id| station_names.get(id).copied())
                        .unwrap_or("—"),
                ),
                Cell::num(codes),
                Cell::num(results),
                match r.state.as_str() {
                    "applied" => Cell::text("已送检，待检验").class("warn"),
                    "done" => Cell::text("检验完成").class("ok"),
                    other => Cell::text(other),
                },
            ]
        })
        .collect();
    if a.rows.is_empty() {
        page.blocks.push(Block::Note(
            "还没有送检申请：在下面勾选需要检验的气瓶后申请检验。".to_owned(),
        ));
    } else {
        page.blocks.push(Block::Table(a));
    }
    let mut t = Table::new(
        "due",
        &format!(
            "{days} 天内到期或已超期、尚未送检的气瓶（{} 只{}）",
            due.len(),
            if due.len() > 500 {
                "，显示前 500 只"
            } else {
                ""
            }
        ),
        &["选择", "气瓶", "下次检验", "位置"],
    );
    t.rows = due
        .iter()
        .take(500)
        .map(|c| {
            let code = c.archive.code.as_str();
            vec![
                Cell::check(
                    "codes",
                    code,
                    APPLY,
                    ticked.contains(code),
                    format!("选择 {code}"),
                ),
                Cell::link(code, format!("/console/cylinders/{code}")),
                Cell::text(
                    c.status
                        .next_check_date
                        .map_or("—".to_owned(), |d| d.to_string()),
                ),
                Cell::text(c.status.location_kind.label_zh()),
            ]
        })
        .collect();
    if t.rows.is_empty() {
        page.blocks.push(Block::Note(format!(
            "没有 {days} 天内到期或已超期、尚未送检的气瓶。"
        )));
        return Ok(page);
    }
    if stations.is_empty() {
        page.blocks.push(Block::Note(
            "本辖区还没有检验机构：请联系监管部门在平台登记检验机构后再申请检验。".to_owned(),
        ));
        page.blocks.push(Block::Table(t));
        return Ok(page);
    }
    page.blocks.push(Block::Form(FormSpec {
        title: "申请检验（为下表勾选的气瓶）".to_owned(),
        action: APPLY.to_owned(),
        fields: vec![
            Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
            Field::new("station_org_id", "检验机构", "").options(
                stations
                    .iter()
                    .map(|o| (o.id.to_string(), o.name.clone()))
                    .collect(),
            ),
            Field::new("remark", "备注（可选）", ""),
        ],
        submit: "申请检验",
    }));
    page.blocks.push(Block::Table(t));
    Ok(page)
}

pub(super) async fn inspections(State(st): State<AppState>, v: Viewer) -> PageResult {
    ok(inspections_page(&st, &v, &HashSet::new()).await?)
}

/// 申请检验: one application for the ticked cylinders at the chosen station, through the service
/// `POST /api/v1/inspection-applications` calls (the cylinders are sent in the same commit).
pub(super) async fn apply(
    State(st): State<AppState>,
    v: Viewer,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, x)| x.as_str())
            .trim()
    };
    v.check_csrf(Some(get("_csrf")))?;
    let codes: Vec<&str> = f
        .iter()
        .filter(|(n, _)| n == "codes")
        .map(|(_, x)| x.as_str())
        .collect();
    let mut body = json!({
        "id": get("id"), "station_org_id": get("station_org_id"), "codes": codes,
        "time": st.now(),
    });
    if !get("remark").is_empty() {
        body["remark"] = json!(get("remark"));
    }
    let audit = audit_to(meta, StatusCode::SEE_OTHER).note(format!(
        "inspection application of {} cylinders",
        codes.len()
    ));
    match inspection::apply(&st, &v.p, &body, Some(&audit)).await {
        Ok(_) => Ok(audited(Redirect::to("/console/inspections"))),
        Err(e) => {
            let sent: Vec<(String, String)> =
                f.iter().filter(|(n, _)| n != "_csrf").cloned().collect();
            let mut failure = FormFailure::of(APPLY, sent, e)?;
            for e in &mut failure.errors {
                if e.field == "codes" || e.field.starts_with("codes[") && !e.field.contains('.') {
                    e.message = if e.field == "codes" {
                        "请先在下表勾选要送检的气瓶（一次 1–1000 只）".to_owned()
                    } else {
                        format!("气瓶：{}", e.message)
                    };
                    e.field = String::new();
                }
            }
            let ticked = codes.iter().map(|c| (*c).to_owned()).collect();
            inspections_page(&st, &v, &ticked).await?.refused(failure)
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct InspectionQuery {
    report: Option<String>,
}

/// 检验工作台: the station's worklist and the result form (table D.1); a result makes the report PDF.
pub(super) async fn inspector_home(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<InspectionQuery>,
) -> PageResult {
    v.require_role(&[Role::Inspector])?;
    let list = pe(inspection::worklist(&st, &v.p).await)?;
    let mut page = v.page(&st, "检验工作台", "/inspection").await;
    page.cards = vec![Card::new("worklist", "待检气瓶", list.len())];
    if let Some(code) = q
        .report
        .filter(|c| c.len() == 10 && c.bytes().all(|b| b.is_ascii_digit()))
    {
        page.blocks.push(Block::Links(
            format!("已录入气瓶 {code} 的检验结果"),
            vec![(
                format!("/api/v1/cylinders/{code}/inspection-report"),
                "下载检验报告（PDF）".to_owned(),
            )],
        ));
    }
    let mut t = Table::new(
        "worklist",
        "待检验气瓶",
        &["气瓶", "产权单位", "送检时间", "原下次检验日期"],
    );
    t.rows = list
        .iter()
        .map(|w| {
            vec![
                Cell::text(&w.code),
                or_dash(w.owner.as_ref()),
                w.sent_at
                    .map_or_else(|| Cell::text("—"), |t| Cell::text(local(t))),
                or_dash(w.next_check_date),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    if !list.is_empty() {
        let today = china_date(st.now());
        let inspector =
            pe(services::orgs::own_name(&st, &v.p).await)?.unwrap_or_else(|| v.p.username.clone());
        let yes_no = vec![
            ("false".to_owned(), "否".to_owned()),
            ("true".to_owned(), "是".to_owned()),
        ];
        page.blocks.push(Block::Form(FormSpec {
            title: "录入检验结果".to_owned(),
            action: "/inspection/results".to_owned(),
            fields: vec![
                Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden"),
                Field::new("code", "气瓶", "").options(
                    list.iter()
                        .map(|w| (w.code.clone(), w.code.clone()))
                        .collect(),
                ),
                Field::new("conclusion", "检验结论", "pass").options(vec![
                    ("pass".to_owned(), "合格".to_owned()),
                    ("scrap".to_owned(), "判废".to_owned()),
                ]),
                Field::new("check_date", "检验日期", today.to_string())
                    .kind("date")
                    .required(),
                Field::new("next_check_date", "下次检验日期（合格时必填）", "").kind("date"),
                Field::new("report_no", "报告编号", "").required(),
                Field::new("inspector", "检验员", inspector).required(),
                Field::new("valve_replaced", "是否更换瓶阀", "false").options(yes_no),
                Field::new("valve_maker", "瓶阀制造单位", ""),
                Field::new("remark", "备注", ""),
            ],
            submit: "提交结果并生成报告",
        }));
    }
    ok(page)
}

#[derive(Deserialize)]
pub(super) struct ResultForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    id: String,
    code: String,
    conclusion: String,
    check_date: String,
    next_check_date: Option<String>,
    report_no: String,
    inspector: String,
    valve_replaced: Option<String>,
    valve_maker: Option<String>,
    remark: Option<String>,
}

pub(super) async fn inspection_result(
    State(st): State<AppState>,
    v: Viewer,
    Extension(meta): Extension<RequestMeta>,
    Form(f): Form<ResultForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    v.require_role(&[Role::Inspector])?;
    let opt = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let body = json!({
        "id": f.id.trim(), "code": f.code.trim(), "conclusion": f.conclusion, "check_date": f.check_date.trim(),
        "next_check_date": opt(f.next_check_date), "report_no": f.report_no.trim(), "inspector": f.inspector.trim(),
        "valve_replaced": f.valve_replaced.as_deref() == Some("true"), "valve_maker": opt(f.valve_maker),
        "remark": opt(f.remark),
    });
    let body = match body {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    };
    let audit = audit_to(meta, StatusCode::SEE_OTHER).note("inspection result");
    pe(inspection::record_result(&st, &v.p, &body, Some(&audit)).await)?;
    let qs = serde_urlencoded::to_string([("report", f.code.trim())]).unwrap_or_default();
    Ok(audited(Redirect::to(&format!("/inspection?{qs}"))))
}
