//! 化验记录 and 维修记录 (B8; seed 001 §5.2.1.9–10): a form to record one and the list, filtered by
//! cylinder and day. Both post through `services::workshop::record`, the same use case as
//! `POST /api/v1/lab-tests` / `/repairs`; a hidden id makes a resubmitted form record once.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Redirect;
use cyltrace_domain::{EventData, EventKind, SiteKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::masterdata::number;
use super::{RecordPageQuery, enterprise, event_row};
use crate::services::{orgs, workshop};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, ok, pe,
};

/// What a page of this module shows: its kind, path and words.
struct Sheet {
    kind: EventKind,
    path: &'static str,
    title: &'static str,
    empty: &'static str,
}

const LAB: Sheet = Sheet {
    kind: EventKind::LabTest,
    path: "/console/lab-tests",
    title: "化验记录",
    empty: "还没有化验记录：在上方表单填写样品、组分和结论后保存。",
};

const REPAIR: Sheet = Sheet {
    kind: EventKind::Repair,
    path: "/console/repairs",
    title: "维修记录",
    empty: "还没有维修记录：在上方表单填写气瓶、维修内容后保存。",
};

/// The filling stations of the viewer's scope (where tests and repairs happen), open ones only.
async fn stations(st: &AppState, v: &Viewer) -> Result<Vec<(String, String)>, PageError> {
    let sites = pe(orgs::list_sites(
        st,
        &v.p,
        cyltrace_store::Page {
            limit: 500,
            offset: 0,
        },
    )
    .await)?;
    let mut o = vec![(String::new(), "（不指定）".to_owned())];
    o.extend(
        sites
            .into_iter()
            .filter(|s| s.active && s.kind == SiteKind::FillingStation)
            .map(|s| (s.id.to_string(), s.name)),
    );
    Ok(o)
}

fn form(sheet: &Sheet, sites: Vec<(String, String)>) -> FormSpec {
    let id = Field::new("id", "", Uuid::new_v4().to_string()).kind("hidden");
    let site = Field::new("site_id", "充装站", "").options(sites);
    let fields = match sheet.kind {
        EventKind::LabTest => vec![
            id,
            Field::new("codes", "气瓶编码（多个用空格或换行分隔）", "")
                .kind("textarea")
                .required(),
            site,
            Field::new("sample_no", "样品编号", "").required(),
            Field::new("medium", "介质", "液化石油气").required(),
            Field::new("composition", "组分（每行“组分=百分比”，如 丙烷=62.5）", "")
                .kind("textarea"),
            Field::new("result", "化验结论", "pass").options(vec![
                ("pass".to_owned(), "合格".to_owned()),
                ("fail".to_owned(), "不合格".to_owned()),
            ]),
            Field::new("tester", "化验员", "").required(),
            Field::new("batch", "充装批次（可选）", ""),
            Field::new("remark", "备注", ""),
        ],
        _ => vec![
            id,
            Field::new("codes", "气瓶编码", "").required(),
            site,
            Field::new("items", "维修内容", "").required(),
            Field::new("valve_replaced", "是否更换阀门", "false").options(vec![
                ("false".to_owned(), "否".to_owned()),
                ("true".to_owned(), "是".to_owned()),
            ]),
            Field::new("valve_maker", "阀门制造单位（更换时填写）", ""),
            Field::new("repairer", "维修人", "").required(),
            Field::new("remark", "备注", ""),
        ],
    };
    FormSpec {
        title: format!("新增{}", sheet.title),
        action: sheet.path.to_owned(),
        fields,
        submit: "保存",
    }
}

/// A row's detail: what was tested or repaired, in words.
fn detail(data: &EventData) -> String {
    match data {
        EventData::LabTest(t) => {
            let parts: Vec<String> = t
                .composition
                .iter()
                .map(|(k, v)| format!("{k} {v}%"))
                .collect();
            format!(
                "样品 {} · {} · {}{} · 化验员 {}",
                t.sample_no,
                t.medium,
                t.result.label_zh(),
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", parts.join("、"))
                },
                t.tester
            )
        }
        EventData::Repair(r) => format!(
            "{}{} · 维修人 {}",
            r.items,
            match (&r.valve_replaced, &r.valve_maker) {
                (true, Some(m)) => format!(" · 更换阀门（{m}）"),
                _ => String::new(),
            },
            r.repairer
        ),
        _ => String::new(),
    }
}

async fn sheet_page(
    st: &AppState,
    v: &Viewer,
    sheet: &Sheet,
    q: &RecordPageQuery,
) -> Result<Page, PageError> {
    let (events, total, _) = pe(workshop::records(st, &v.p, sheet.kind, &q.record_query()).await)?;
    let mut page = v.page(st, sheet.title, sheet.path).await;
    page.intro =
        "每条记录作为气瓶的追溯事件存证，不可删除；记录有误时请补录一条更正记录并在备注中说明。"
            .to_owned();
    page.blocks
        .push(Block::Form(form(sheet, stations(st, v).await?)));
    page.filter = Some(q.filter(sheet.path));
    let mut t = Table::new(
        sheet.kind.as_str(),
        "",
        &["时间", "记录", "气瓶", "操作人", "内容", "存证序号"],
    );
    t.rows = events
        .iter()
        .map(|e| event_row(e, detail(&e.event.data)))
        .collect();
    t.pager = Some(q.pager(sheet.path, total));
    if t.rows.is_empty() {
        page.blocks.push(Block::Note(sheet.empty.to_owned()));
    }
    page.blocks.push(Block::Table(t));
    Ok(page)
}

pub(super) async fn lab_tests(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    ok(sheet_page(&st, &v, &LAB, &q).await?)
}

pub(super) async fn repairs(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    ok(sheet_page(&st, &v, &REPAIR, &q).await?)
}

/// A posted form of either page: every field as text (the CSRF token apart).
#[derive(Deserialize)]
pub(super) struct SheetForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(flatten)]
    fields: std::collections::BTreeMap<String, String>,
}

/// `组分=百分比` lines as the composition object; a line that is not one is kept as text so the
/// service names the field.
fn composition(text: &str) -> Value {
    let mut m = Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(['=', '＝', ':', '：']) {
            Some((k, v)) => {
                m.insert(k.trim().to_owned(), number(v).unwrap_or(Value::Null));
            }
            None => return json!(line),
        }
    }
    Value::Object(m)
}

/// The flat body of the service from the form's text fields.
fn body(kind: EventKind, f: &std::collections::BTreeMap<String, String>) -> Value {
    let mut b = Map::new();
    for (k, v) in f {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let value = match k.as_str() {
            "codes" => json!(v.split_whitespace().collect::<Vec<_>>()),
            "composition" if kind == EventKind::LabTest => composition(v),
            "valve_replaced" => json!(v == "true"),
            _ => json!(v),
        };
        b.insert(k.clone(), value);
    }
    Value::Object(b)
}

async fn save(st: AppState, v: Viewer, sheet: &Sheet, f: SheetForm) -> PageResult {
    enterprise(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let b = body(sheet.kind, &f.fields);
    let sent: Vec<(String, String)> = f.fields.into_iter().collect();
    let action = sheet.path;
    let result = workshop::record(&st, &v.p, sheet.kind, &b, None).await;
    match result {
        Ok(a) => Ok(noted(
            Redirect::to(action),
            format!(
                "{} recorded at ledger index {}",
                sheet.kind.as_str(),
                a.ledger_index
            ),
        )),
        Err(e) => {
            let failure = FormFailure::of(action, sent, e)?;
            sheet_page(&st, &v, sheet, &RecordPageQuery::default())
                .await?
                .refused(failure)
        }
    }
}

pub(super) async fn save_lab_test(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<SheetForm>,
) -> PageResult {
    save(st, v, &LAB, f).await
}

pub(super) async fn save_repair(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<SheetForm>,
) -> PageResult {
    save(st, v, &REPAIR, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_the_flat_body() {
        let f: std::collections::BTreeMap<String, String> = [
            ("codes", "1107001001 1107001002\n"),
            ("composition", "丙烷=62.5\n丁烷：36\n"),
            ("result", "pass"),
            ("remark", "  "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            body(EventKind::LabTest, &f),
            json!({"codes": ["1107001001", "1107001002"], "composition": {"丙烷": 62.5, "丁烷": 36.0},
                   "result": "pass"})
        );
        assert_eq!(composition("丙烷 62.5"), json!("丙烷 62.5"));
    }
}
