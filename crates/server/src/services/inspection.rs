//! Periodic inspection (D1–D3): an enterprise applies with the cylinders and a station (the cylinders
//! are sent: `inspection_send`), the station sees its worklist, an inspector records each result per
//! table D.1 and the platform issues the Chinese inspection report as a PDF, stores it
//! (content-addressed) and puts its hash in the `inspection_result` event, so the report is covered by
//! the ledger. A result for a cylinder that is not on the station's worklist is refused.

use cyltrace_domain::access::Action;
use cyltrace_domain::event::{Conclusion, EventData, InspectionResult, InspectionSend};
use cyltrace_domain::inspection::InspectionApplication;
use cyltrace_domain::intake::Naming;
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{CylinderCode, Date, Event, EventKind, Role, Text, ValidationErrors};
use cyltrace_store::{BizFilter, BizRecord, CylinderRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::Audit;
use crate::services::events::{Rejection, Submission, api_error, submit};
use crate::state::AppState;

pub use cyltrace_domain::inspection::INSPECTION_APP;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Apply {
    /// Chosen by the client: a retry with the same id is answered with the same application.
    id: Uuid,
    station_org_id: Uuid,
    codes: Vec<String>,
    time: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    remark: Option<Text>,
}

/// An inspection application: the cylinders are sent to the station (`inspection_send` each),
/// recorded with the application in one commit.
pub async fn apply(
    st: &AppState,
    p: &Principal,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<BizRecord> {
    p.require(Action::RecordEvent(EventKind::InspectionSend))?;
    let a: Apply = from_value(body, "")?;
    if let Some(r) = st
        .store
        .biz_by_key(INSPECTION_APP, &a.id.to_string())
        .await?
    {
        p.require_scope(&r.org_path, "该申请")?;
        return Ok(r);
    }
    if a.codes.is_empty() || a.codes.len() > 1000 {
        return Err(ApiError::invalid("codes", "应为 1–1000 个气瓶编码"));
    }
    let mut errs = ValidationErrors::default();
    let mut codes = Vec::with_capacity(a.codes.len());
    for (i, c) in a.codes.iter().enumerate() {
        match CylinderCode::parse(c) {
            Ok(c) => codes.push(c),
            Err(m) => errs.push(format!("codes[{i}]"), m),
        }
    }
    errs.into_result(())?;
    // One send per cylinder, its id derived from the application's, so a retry stores nothing twice.
    let events = codes
        .iter()
        .map(|c| Event {
            id: Uuid::new_v5(&a.id, c.as_str().as_bytes()),
            data: EventData::InspectionSend(InspectionSend {
                station_org_id: a.station_org_id,
            }),
            codes: vec![c.clone()],
            time: a.time,
            site_id: None,
            operator: None,
            device: None,
            position: None,
        })
        .collect();
    let now = st.now();
    let doc = InspectionApplication {
        codes: codes.iter().map(|c| c.as_str().to_owned()).collect(),
        station_org_id: a.station_org_id,
        remark: a.remark,
        sent_at: a.time,
        results: Default::default(),
    };
    let r = BizRecord {
        id: Uuid::new_v4(),
        kind: INSPECTION_APP.to_owned(),
        org_id: p.org_id,
        org_path: String::new(),
        key: Some(a.id.to_string()),
        ref_id: Some(a.station_org_id),
        state: "applied".to_owned(),
        due: None,
        body: serde_json::to_value(&doc).map_err(|e| ApiError::Internal(e.to_string()))?,
        created_at: now,
        updated_at: now,
    };
    let mut sub = Submission::new(events, Naming::Codes);
    sub.records.push(r);
    match submit(st, p, sub, audit).await {
        Ok(_) => {}
        // The same application, sent at the same moment by a retry: answer the stored one.
        Err(Rejection::Error(ApiError::Conflict(..))) => {}
        Err(e) => return Err(api_error(e)),
    }
    st.store
        .biz_by_key(INSPECTION_APP, &a.id.to_string())
        .await?
        .ok_or_else(|| ApiError::Internal("the application just stored is missing".to_owned()))
}

/// The inspection stations the caller may send cylinders to (D1): those of the nearest jurisdiction
/// that has any — the stations under the caller's parent organisation (its regulator), else under
/// the next one up.
pub async fn stations(st: &AppState, p: &Principal) -> ApiResult<Vec<cyltrace_store::OrgRecord>> {
    use cyltrace_domain::OrgKind;
    use cyltrace_store::{Page, Scope};
    p.require(Action::RecordEvent(EventKind::InspectionSend))?;
    // `/a/b/c/` → `/a/b/`, `/a/`, `/`.
    let parts: Vec<&str> = p.org_path.split('/').filter(|s| !s.is_empty()).collect();
    for n in (0..parts.len()).rev() {
        let scope = Scope(format!(
            "/{}",
            parts[..n]
                .iter()
                .map(|s| format!("{s}/"))
                .collect::<String>()
        ));
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let page = st
                .store
                .list_orgs(&scope, Page { limit: 500, offset })
                .await?;
            found.extend(
                page.iter()
                    .filter(|o| o.kind == OrgKind::InspectionStation)
                    .cloned(),
            );
            if page.len() < 500 {
                break;
            }
            offset += 500;
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// A cylinder waiting at a station for its result, with its application and archive facts.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    pub code: String,
    pub application_id: Uuid,
    pub owner: Option<String>,
    pub factory_serial: Option<Text>,
    pub style: Option<Text>,
    pub medium: Option<Text>,
    pub manufacturer: Option<Text>,
    pub last_check_date: Option<Date>,
    pub next_check_date: Option<Date>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The cylinders waiting at the caller's station (sent there and not answered), with their
/// applications.
pub async fn worklist(st: &AppState, p: &Principal) -> ApiResult<Vec<WorkItem>> {
    p.require(Action::RecordEvent(EventKind::InspectionResult))?;
    let station = p.org_id;
    let apps = st
        .store
        .list_biz(&BizFilter {
            kind: INSPECTION_APP.to_owned(),
            ref_id: Some(station),
            state: Some("applied".to_owned()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    for a in &apps {
        let owner = st.store.get_org(a.org_id).await?.map(|o| o.name);
        for code in a.body["codes"].as_array().into_iter().flatten() {
            let Some(code) = code.as_str().and_then(|c| CylinderCode::parse(c).ok()) else {
                continue;
            };
            if let Some(c) = st.store.get_cylinder(&code).await?
                && c.status.inspection_station == Some(station)
            {
                out.push(WorkItem {
                    code: code.as_str().to_owned(),
                    application_id: a.id,
                    owner: owner.clone(),
                    factory_serial: c.archive.factory_serial,
                    style: c.archive.style,
                    medium: c.archive.medium,
                    manufacturer: c.archive.manufacturer,
                    last_check_date: c.status.last_check_date,
                    next_check_date: c.status.next_check_date,
                    sent_at: serde_json::from_value(a.body["sent_at"].clone()).ok(),
                });
            }
        }
    }
    Ok(out)
}

/// Applications of the caller's organisations, or sent to the caller's station.
pub async fn applications(st: &AppState, p: &Principal) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    let mut f = BizFilter {
        kind: INSPECTION_APP.to_owned(),
        scope: Some(p.scope()),
        limit: 500,
        ..Default::default()
    };
    let mut list = st.store.list_biz(&f).await?;
    f.scope = None;
    f.ref_id = Some(p.org_id);
    for r in st.store.list_biz(&f).await? {
        if !list.iter().any(|x| x.id == r.id) {
            list.push(r);
        }
    }
    Ok(list)
}

/// The caller's organisations' own applications, newest first (at most `limit`).
pub async fn own_applications(
    st: &AppState,
    p: &Principal,
    limit: i64,
) -> ApiResult<Vec<BizRecord>> {
    p.require(Action::Read)?;
    Ok(st
        .store
        .list_biz(&BizFilter {
            kind: INSPECTION_APP.to_owned(),
            scope: Some(p.scope()),
            limit,
            ..Default::default()
        })
        .await?)
}

/// Active cylinders in the caller's scope whose periodic inspection is due within the configured
/// days or overdue, and that have not been sent to a station.
pub async fn due(st: &AppState, p: &Principal) -> ApiResult<Vec<CylinderRecord>> {
    use cyltrace_domain::supervision::{Due, is_active, pending_inspection};
    p.require(Action::Read)?;
    let today = Date(cyltrace_domain::time::china_date(st.now()));
    let days = st.config.pending_inspection_days;
    let mut due = Vec::new();
    super::supervision::each_cylinder(st, &p.scope(), |c| {
        if is_active(&c.archive, &c.status)
            && pending_inspection(&c.status, today, days) != Due::Later
            && c.status.inspection_station.is_none()
        {
            due.push(c.clone());
        }
    })
    .await?;
    Ok(due)
}

/// The latest inspection report of a cylinder the caller sees: the cylinder and the PDF.
pub async fn latest_report(
    st: &AppState,
    p: &Principal,
    code: &str,
) -> ApiResult<(CylinderRecord, Vec<u8>)> {
    let c = super::get_cylinder(st, p, code).await?;
    let events = st.store.events_of(&c.archive.code).await?;
    let hash = events
        .iter()
        .rev()
        .find_map(|e| match &e.event.data {
            EventData::InspectionResult(r) => r.report_file.clone(),
            _ => None,
        })
        .ok_or_else(|| ApiError::NotFound("该气瓶没有检验报告".to_owned()))?;
    let bytes = super::files::read(st, &super::files::reference(&hash))
        .await
        .ok_or_else(|| ApiError::NotFound("检验报告文件不存在".to_owned()))?;
    Ok((c, bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultIn {
    /// The `inspection_result` event's id (idempotency key).
    id: Uuid,
    code: String,
    conclusion: Conclusion,
    check_date: Date,
    #[serde(default)]
    next_check_date: Option<Date>,
    report_no: Text,
    inspector: Text,
    #[serde(default)]
    valve_replaced: Option<bool>,
    #[serde(default)]
    valve_maker: Option<Text>,
    #[serde(default)]
    remark: Option<Text>,
}

/// Records an inspection result of the caller's station and issues its report. Answers the
/// event's ledger index and the report's SM3.
pub async fn record_result(
    st: &AppState,
    p: &Principal,
    body: &Value,
    audit: Option<&Audit>,
) -> ApiResult<(i64, String)> {
    p.require(Action::RecordEvent(EventKind::InspectionResult))?;
    if !p.roles.contains(&Role::Inspector) {
        return Err(ApiError::Forbidden(
            "只有检验机构的检验员可以录入检验结果".to_owned(),
        ));
    }
    let r: ResultIn = from_value(body, "")?;
    // A retry: the stored event already names its report.
    if let Some(e) = st.store.get_event(r.id).await? {
        if let EventData::InspectionResult(res) = &e.event.data {
            return Ok((e.ledger_index, res.report_file.clone().unwrap_or_default()));
        }
        return Err(ApiError::Conflict(
            "事件 id 已被另一条不同的事件使用".to_owned(),
            vec![cyltrace_domain::FieldError::new("id", "已被使用")],
        ));
    }
    let code = CylinderCode::parse(&r.code).map_err(|m| ApiError::invalid("code", m))?;
    let c = st
        .store
        .get_cylinder(&code)
        .await?
        .ok_or_else(|| ApiError::invalid("code", "气瓶不存在"))?;
    if c.status.inspection_station != Some(p.org_id) {
        return Err(ApiError::invalid(
            "code",
            "该气瓶不在本检验机构的待检清单中（未送检到本机构，或已出具结果）",
        ));
    }
    let result = InspectionResult {
        conclusion: r.conclusion,
        check_date: r.check_date,
        next_check_date: r.next_check_date,
        report_no: r.report_no,
        station_org_id: p.org_id,
        inspector: r.inspector,
        valve_replaced: r.valve_replaced,
        valve_maker: r.valve_maker,
        remark: r.remark,
        report_file: None,
    };
    // Validated before a report is issued for it.
    result.validate()?;
    let station = st
        .store
        .get_org(p.org_id)
        .await?
        .map_or_else(String::new, |o| o.name);
    let owner = st
        .store
        .get_org(c.archive.owner_org_id.unwrap_or(c.org_id))
        .await?
        .map_or_else(String::new, |o| o.name);
    let pdf = report_pdf(&c, &result, &station, &owner)?;
    let reference = super::files::put(st, &pdf)
        .await
        .map_err(|e| ApiError::Internal(format!("storing the report: {e}")))?;
    // The report belongs to the station that issued it and to the cylinder's enterprises.
    for org in [Some(p.org_id), Some(c.org_id), c.archive.owner_org_id]
        .into_iter()
        .flatten()
    {
        super::files::own(st, org, Some(p.user_id), &reference).await?;
    }
    let hash = reference.trim_start_matches("files/").to_owned();
    let event = Event {
        id: r.id,
        data: EventData::InspectionResult(InspectionResult {
            report_file: Some(hash.clone()),
            ..result
        }),
        codes: vec![code],
        time: st.now(),
        site_id: None,
        operator: None,
        device: None,
        position: None,
    };
    // The writer checks the worklist again, and marks the result on the application, in the
    // event's own commit.
    let appended = submit(st, p, Submission::new(vec![event], Naming::Single), audit)
        .await
        .map_err(api_error)?;
    Ok((appended.first().map_or(-1, |a| a.ledger_index), hash))
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "—".to_owned(), |x| x.to_string())
}

/// The inspection report (定期检验报告) as a one-page A4 PDF in Chinese.
pub fn report_pdf(
    c: &CylinderRecord,
    r: &InspectionResult,
    station: &str,
    owner: &str,
) -> ApiResult<Vec<u8>> {
    let a = &c.archive;
    let conclusion = match r.conclusion {
        Conclusion::Pass => "合格，允许继续使用",
        Conclusion::Scrap => "判废，不得继续使用",
    };
    let valve = match (r.valve_replaced, &r.valve_maker) {
        (Some(true), Some(m)) => format!("已更换（阀门制造单位：{m}）"),
        _ => "未更换".to_owned(),
    };
    let rows: Vec<(&str, String)> = vec![
        ("报告编号", r.report_no.to_string()),
        ("气瓶编码", a.code.as_str().to_owned()),
        ("出厂编号", opt(&a.factory_serial)),
        ("规格型号", opt(&a.style)),
        ("充装介质", opt(&a.medium)),
        ("制造单位", opt(&a.manufacturer)),
        (
            "制造日期",
            a.manufacture_date
                .and_then(|d| serde_json::to_value(d).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "—".to_owned()),
        ),
        (
            "公称工作压力",
            a.working_pressure_mpa
                .map_or_else(|| "—".to_owned(), |v| format!("{} MPa", v.get())),
        ),
        (
            "水压试验压力",
            a.test_pressure_mpa
                .map_or_else(|| "—".to_owned(), |v| format!("{} MPa", v.get())),
        ),
        ("产权单位", owner.to_owned()),
        (
            "使用登记证编号",
            a.registration
                .as_ref()
                .map_or_else(|| "—".to_owned(), |g| g.number.to_string()),
        ),
        ("检验日期", r.check_date.to_string()),
        ("检验结论", conclusion.to_owned()),
        ("下次检验日期", opt(&r.next_check_date)),
        ("瓶阀", valve),
        ("备注", opt(&r.remark)),
        ("检验员", r.inspector.to_string()),
        ("检验机构", station.to_owned()),
    ];
    super::pdf::document(1, super::pdf::A4, |_, page| {
        page.text(170.0, 80.0, 24.0, "液化石油气钢瓶定期检验报告");
        page.text(
            60.0,
            115.0,
            11.0,
            "依据 GB/T 8334《液化石油气钢瓶定期检验与评定》",
        );
        page.line(60.0, 128.0, 535.0, 128.0, 1.0);
        let mut y = 160.0;
        for (k, v) in &rows {
            page.text(70.0, y, 13.0, k);
            page.text(210.0, y, 13.0, v);
            page.line(60.0, y + 9.0, 535.0, y + 9.0, 0.3);
            y += 30.0;
        }
        page.text(70.0, y + 30.0, 12.0, &format!("签发日期：{}", r.check_date));
        page.text(
            330.0,
            y + 30.0,
            12.0,
            &format!("检验机构（盖章）：{station}"),
        );
    })
}
