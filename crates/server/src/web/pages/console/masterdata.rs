//! Master data through the pages (issue 16): an organisation's details and licences (本单位信息,
//! a node admin's 组织机构 → 编辑), a site's details and closing it (站点仓库 → 编辑), and a cylinder
//! archive's correction and lock (气瓶档案 → 修改档案 / 停用). Every form posts with the session's
//! CSRF token; a refused one comes back filled in with each reason next to its field.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Redirect;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, LicenceKind, Role};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::services::{self, cylinders, orgs};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, ok, pe,
};

/// Who changes master data on the pages: enterprise and node admins, and regulators in scope.
fn editor(v: &Viewer) -> Result<(), PageError> {
    v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin, Role::Regulator])
}

/// The answer to a posted form: back to `to` when it worked (the audit row gets `note`), else the
/// page again with the reasons next to the fields.
pub(super) async fn answer<T>(
    result: Result<T, ApiError>,
    to: String,
    note: impl FnOnce(&T) -> String,
    failure: impl FnOnce(ApiError) -> Result<FormFailure, PageError>,
    page: impl AsyncFnOnce() -> Result<Page, PageError>,
) -> PageResult {
    match result {
        Ok(r) => Ok(noted(Redirect::to(&to), note(&r))),
        Err(e) => page().await?.refused(failure(e)?),
    }
}

pub(super) fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Organisation and licences

/// `/console/org`: the viewer's own organisation.
pub(super) async fn own_org(State(st): State<AppState>, v: Viewer) -> PageResult {
    editor(&v)?;
    let id = v.p.org_id;
    ok(org_page(&st, &v, id).await?)
}

async fn org_page(st: &AppState, v: &Viewer, id: Uuid) -> Result<Page, PageError> {
    let org = pe(services::get_org(st, &v.p, id).await)?;
    let mut page = v
        .page(st, &format!("本单位信息 · {}", org.name), "/console/org")
        .await;
    let today = Date(china_date(st.now()));
    let mut t = Table::new("licences", "许可证", &["种类", "编号", "有效期至", "状态"]);
    t.rows = org
        .licences
        .iter()
        .map(|l| {
            let left = (l.valid_until.naive() - today.naive()).num_days();
            let state = if left < 0 {
                Cell::text("已过期").class("bad")
            } else if left <= 60 {
                Cell::text(format!("{left} 天后到期")).class("warn")
            } else {
                Cell::text("有效").class("ok")
            };
            vec![
                Cell::text(l.kind.label_zh()),
                Cell::text(l.number.as_str()),
                Cell::text(l.valid_until),
                state,
            ]
        })
        .collect();
    if org.licences.is_empty() {
        page.blocks.push(Block::Note(
            "尚未登记许可证：充装单位须登记气瓶充装许可证和燃气经营许可证，否则充装控制将拒绝充装（B1.1、B1.2）。".to_owned(),
        ));
    }
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Form(FormSpec {
        title: "登记或续期许可证（同种类的许可证将被替换）".to_owned(),
        action: format!("/console/org/{id}/licence"),
        fields: vec![
            Field::new("kind", "种类", "filling").options(
                [
                    LicenceKind::Filling,
                    LicenceKind::GasBusiness,
                    LicenceKind::Transport,
                ]
                .iter()
                .map(|k| (k.as_str().to_owned(), k.label_zh().to_owned()))
                .collect(),
            ),
            Field::new("number", "许可证编号", "").required(),
            Field::new("valid_until", "有效期至", "")
                .kind("date")
                .required(),
        ],
        submit: "保存许可证",
    }));
    page.blocks.push(Block::Form(FormSpec {
        title: "基本信息".to_owned(),
        action: format!("/console/org/{id}"),
        fields: vec![
            Field::new("name", "名称", &org.name).required(),
            Field::new(
                "phone",
                "服务电话（显示在气瓶扫码页，可拨打、订气）",
                org.phone.clone().unwrap_or_default(),
            ),
            Field::new("address", "地址", org.address.clone().unwrap_or_default()),
            Field::new(
                "credit_code",
                "统一社会信用代码",
                org.credit_code.clone().unwrap_or_default(),
            ),
        ],
        submit: "保存",
    }));
    Ok(page)
}

pub(super) async fn org(State(st): State<AppState>, v: Viewer, Path(id): Path<Uuid>) -> PageResult {
    editor(&v)?;
    ok(org_page(&st, &v, id).await?)
}

#[derive(Deserialize)]
pub(super) struct OrgForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    credit_code: String,
}

pub(super) async fn save_org(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<OrgForm>,
) -> PageResult {
    editor(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let mut body =
        json!({"name": f.name.trim(), "phone": f.phone.trim(), "address": f.address.trim()});
    if !f.credit_code.trim().is_empty() {
        body["credit_code"] = json!(f.credit_code.trim());
    }
    let action = format!("/console/org/{id}");
    let sent = values(&[
        ("name", &f.name),
        ("phone", &f.phone),
        ("address", &f.address),
        ("credit_code", &f.credit_code),
    ]);
    answer(
        orgs::update_org(&st, &v.p, id, &body).await,
        action.clone(),
        |c| c.note.clone(),
        |e| FormFailure::of(&action, sent, e),
        async || org_page(&st, &v, id).await,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct LicenceForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    kind: String,
    number: String,
    valid_until: String,
}

pub(super) async fn save_licence(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<LicenceForm>,
) -> PageResult {
    editor(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let body = json!({"licences": [{"kind": f.kind.trim(), "number": f.number.trim(),
                                    "valid_until": f.valid_until.trim()}]});
    let action = format!("/console/org/{id}/licence");
    let sent = values(&[
        ("kind", &f.kind),
        ("number", &f.number),
        ("valid_until", &f.valid_until),
    ]);
    answer(
        orgs::update_org(&st, &v.p, id, &body).await,
        format!("/console/org/{id}"),
        |c| c.note.clone(),
        |e| FormFailure::of(&action, sent, e),
        async || org_page(&st, &v, id).await,
    )
    .await
}

/// Days within which a licence's expiry is shown as a reminder (issue 16).
pub(crate) const LICENCE_REMINDER_DAYS: i64 = 60;

/// 许可证到期提醒: the licences in the viewer's scope expiring within 60 days or expired, soonest
/// first, each linking to its organisation's page; nothing when there are none.
pub(crate) async fn licence_reminders(
    st: &AppState,
    v: &Viewer,
) -> Result<Option<Block>, PageError> {
    let due = pe(orgs::expiring_licences(st, &v.p, LICENCE_REMINDER_DAYS).await)?;
    if due.is_empty() {
        return Ok(None);
    }
    let today = Date(china_date(st.now()));
    let mut t = Table::new(
        "licence_reminders",
        "许可证到期提醒（60 天内到期或已过期）",
        &["单位", "许可证", "编号", "有效期至", "剩余"],
    );
    t.rows = due
        .iter()
        .map(|(o, l)| {
            let left = (l.valid_until.naive() - today.naive()).num_days();
            vec![
                Cell::link(&o.name, format!("/console/org/{}", o.id)),
                Cell::text(l.kind.label_zh()),
                Cell::text(l.number.as_str()),
                Cell::text(l.valid_until),
                if left < 0 {
                    Cell::text(format!("已过期 {} 天", -left)).class("bad")
                } else {
                    Cell::text(format!("{left} 天")).class("warn")
                },
            ]
        })
        .collect();
    Ok(Some(Block::Table(t)))
}

// ---------------------------------------------------------------------------------------------
// Sites

async fn site_page(st: &AppState, v: &Viewer, id: Uuid) -> Result<Page, PageError> {
    let site = pe(orgs::get_site(st, &v.p, id).await)?;
    let mut page = v
        .page(st, &format!("站点 · {}", site.name), "/console/sites")
        .await;
    page.blocks.push(Block::Facts(
        "站点".to_owned(),
        vec![
            ("类型".to_owned(), site.kind.label_zh().to_owned()),
            (
                "状态".to_owned(),
                if site.active {
                    "运营中"
                } else {
                    "已关闭"
                }
                .to_owned(),
            ),
        ],
    ));
    if !site.active {
        page.blocks.push(Block::Note(
            "该站点已关闭：充装控制、作业记录和扫码均不再接受该站点；历史记录保留。".to_owned(),
        ));
    }
    let num = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    page.blocks.push(Block::Form(FormSpec {
        title: "编辑站点".to_owned(),
        action: format!("/console/sites/{id}"),
        fields: vec![
            Field::new("name", "名称", &site.name).required(),
            Field::new("address", "地址", site.address.clone().unwrap_or_default()),
            Field::new("lat", "纬度", num(site.lat)),
            Field::new("lon", "经度", num(site.lon)),
        ],
        submit: "保存",
    }));
    let (to, title, submit) = if site.active {
        ("false", "关闭站点（停止接受新的作业记录）", "关闭站点")
    } else {
        ("true", "重新启用站点", "重新启用")
    };
    page.blocks.push(Block::Form(FormSpec {
        title: title.to_owned(),
        action: format!("/console/sites/{id}/active"),
        fields: vec![Field::new("active", "", to).kind("hidden")],
        submit,
    }));
    Ok(page)
}

pub(super) async fn site(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
) -> PageResult {
    editor(&v)?;
    ok(site_page(&st, &v, id).await?)
}

#[derive(Deserialize)]
pub(super) struct SiteForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lon: String,
}

/// A number field of a form: empty is absent, a number is sent as one, anything else as the text
/// (so that the service names the field).
pub(super) fn number(s: &str) -> Option<Value> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.parse::<f64>().map_or_else(|_| json!(s), |n| json!(n)))
}

pub(super) async fn save_site(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<SiteForm>,
) -> PageResult {
    editor(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let mut body = json!({"name": f.name.trim()});
    if !f.address.trim().is_empty() {
        body["address"] = json!(f.address.trim());
    }
    for (k, x) in [("lat", &f.lat), ("lon", &f.lon)] {
        if let Some(n) = number(x) {
            body[k] = n;
        }
    }
    let action = format!("/console/sites/{id}");
    let sent = values(&[
        ("name", &f.name),
        ("address", &f.address),
        ("lat", &f.lat),
        ("lon", &f.lon),
    ]);
    answer(
        orgs::update_site(&st, &v.p, id, &body).await,
        action.clone(),
        |c| c.note.clone(),
        |e| FormFailure::of(&action, sent, e),
        async || site_page(&st, &v, id).await,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    active: String,
}

pub(super) async fn site_active(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<ActiveForm>,
) -> PageResult {
    editor(&v)?;
    v.check_csrf(f.csrf.as_deref())?;
    let body = json!({"active": f.active == "true"});
    let action = format!("/console/sites/{id}/active");
    answer(
        orgs::update_site(&st, &v.p, id, &body).await,
        format!("/console/sites/{id}"),
        |c| c.note.clone(),
        |e| FormFailure::of(&action, Vec::new(), e),
        async || site_page(&st, &v, id).await,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Cylinder archives: correction and lock

/// The archive fields the correction form offers, as (field, label, input type).
const ARCHIVE_FIELDS: [(&str, &str, &str); 9] = [
    ("tare_kg", "气瓶质量（皮重，kg）", ""),
    ("fill_limit_kg", "允许充装量（kg）", ""),
    ("medium", "充装介质", ""),
    ("factory_serial", "出厂编号", ""),
    ("inner_no", "自有编号", ""),
    ("last_check_date", "检验日期", "date"),
    ("next_check_date", "下次检验日期", "date"),
    ("discard_date", "报废日期", "date"),
    ("manufacturer", "制造单位", ""),
];

/// The archive's value of a form field as the form shows it.
fn shown(archive: &Value, field: &str) -> String {
    match archive.get(field) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The correction and lock forms of a cylinder's page (for those who may use them).
pub(super) fn archive_forms(v: &Viewer, c: &cyltrace_store::CylinderRecord) -> Vec<Block> {
    let mut out = Vec::new();
    let code = c.archive.code.as_str();
    let archive = serde_json::to_value(&c.archive).unwrap_or(Value::Null);
    if v.p
        .require(cyltrace_domain::access::Action::EditArchive)
        .is_ok()
    {
        let mut fields: Vec<Field> = ARCHIVE_FIELDS
            .iter()
            .map(|(name, label, kind)| Field::new(name, label, shown(&archive, name)).kind(kind))
            .collect();
        fields.push(Field::new("reason", "修改原因", "").required());
        out.push(Block::Form(FormSpec {
            title: "修改档案（记入存证账本，保留修改前后的值）".to_owned(),
            action: format!("/console/cylinders/{code}/archive"),
            fields,
            submit: "保存修改",
        }));
    }
    let scrapped = c.status.state == cyltrace_domain::CylinderState::Scrapped;
    if !scrapped
        && v.p
            .require(cyltrace_domain::access::Action::LockCylinder)
            .is_ok()
    {
        let locked = c.status.state == cyltrace_domain::CylinderState::Locked;
        let (to, title, submit) = if locked {
            ("normal", "恢复使用（解除停用）", "恢复使用")
        } else {
            ("locked", "停用气瓶（锁定：禁止充装和流转）", "停用气瓶")
        };
        out.push(Block::Form(FormSpec {
            title: title.to_owned(),
            action: format!("/console/cylinders/{code}/state"),
            fields: vec![
                Field::new("state", "", to).kind("hidden"),
                Field::new("reason", "原因", "").required(),
            ],
            submit,
        }));
    }
    out
}

async fn cylinder_page(st: &AppState, v: &Viewer, code: &str) -> Result<Page, PageError> {
    super::cylinders::cylinder_view(st, v, code).await
}

#[derive(Deserialize)]
pub(super) struct ArchiveForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    reason: String,
    #[serde(flatten)]
    fields: std::collections::HashMap<String, String>,
}

pub(super) async fn save_archive(
    State(st): State<AppState>,
    v: Viewer,
    Path(code): Path<String>,
    Form(f): Form<ArchiveForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let c = pe(services::get_cylinder(&st, &v.p, &code).await)?;
    let archive = serde_json::to_value(&c.archive).unwrap_or(Value::Null);
    // Only what the user changed: a field left as shown is no change.
    let mut changes = Map::new();
    for (name, _, kind) in ARCHIVE_FIELDS {
        let Some(given) = f.fields.get(name).map(|s| s.trim()) else {
            continue;
        };
        if given == shown(&archive, name) {
            continue;
        }
        let value = match (given, kind) {
            ("", _) => Value::Null,
            (g, "") if name.ends_with("_kg") => number(g).unwrap_or(Value::Null),
            (g, _) => json!(g),
        };
        changes.insert(name.to_owned(), value);
    }
    let body = json!({"changes": changes, "reason": f.reason.trim()});
    let action = format!("/console/cylinders/{code}/archive");
    let mut sent: Vec<(String, String)> = f.fields.clone().into_iter().collect();
    sent.push(("reason".to_owned(), f.reason.clone()));
    answer(
        cylinders::change_archive(&st, &v.p, &code, &body, None).await,
        format!("/console/cylinders/{code}"),
        |_| format!("archive {code} changed: {}", f.reason.trim()),
        |e| FormFailure::of(&action, sent, e),
        async || cylinder_page(&st, &v, &code).await,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct StateForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    state: String,
    reason: String,
}

pub(super) async fn save_state(
    State(st): State<AppState>,
    v: Viewer,
    Path(code): Path<String>,
    Form(f): Form<StateForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let body = json!({"changes": {"state": f.state.trim()}, "reason": f.reason.trim()});
    let action = format!("/console/cylinders/{code}/state");
    let sent = values(&[("state", &f.state), ("reason", &f.reason)]);
    answer(
        cylinders::change_archive(&st, &v.p, &code, &body, None).await,
        format!("/console/cylinders/{code}"),
        |_| {
            format!(
                "archive {code} state → {}: {}",
                f.state.trim(),
                f.reason.trim()
            )
        },
        |e| FormFailure::of(&action, sent, e),
        async || cylinder_page(&st, &v, &code).await,
    )
    .await
}
