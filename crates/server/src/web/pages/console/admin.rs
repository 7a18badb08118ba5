//! The organisation's staff (人员资质; sites are `office::sites`), archive imports and exports (导入导出)
//! with an import job's progress, and the node admin's pages: the audit log (审计日志), the
//! organisations (组织机构) and the node with its ledger (节点与存证).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use cyltrace_domain::Role;
use cyltrace_domain::time::china_date;
use cyltrace_store::Page as StorePage;

use super::enterprise;
use crate::error::ApiError;
use crate::services::circulation as circ;
use crate::services::{self, audit, node, orgs};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{
    Block, Card, Cell, Field, FormSpec, Page, PageError, PageResult, Table, error_page, iso, local,
    ok, opt_num, or_dash, pe,
};

pub(super) async fn staff(State(st): State<AppState>, v: Viewer) -> PageResult {
    ok(staff_page(&st, &v).await?)
}

/// 人员资质: the organisation's accounts (each linked to its edit page, with state and second
/// factor), the form that creates one, and the drivers and escorts.
pub(super) async fn staff_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    enterprise(v)?;
    let users = pe(orgs::list_users(
        st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let view = cyltrace_domain::circulation::personal_view(&v.p.roles);
    let staff = pe(circ::records(st, &v.p, circ::STAFF, 1000).await)?;
    let staff: Vec<circ::StaffView> = staff
        .iter()
        .filter_map(|r| circ::staff_view(r, view, today).ok())
        .collect();
    let mut page = v.page(st, "人员资质", "/console/staff").await;
    let mut t = Table::new(
        "users",
        "平台账户",
        &["用户名", "姓名", "角色", "状态", "动态口令"],
    );
    t.rows = users
        .iter()
        .map(|u| {
            vec![
                Cell::link(&u.username, format!("/console/staff/{}", u.id)),
                Cell::text(&u.name),
                Cell::text(
                    u.roles
                        .iter()
                        .map(|r| r.label_zh())
                        .collect::<Vec<_>>()
                        .join("、"),
                ),
                super::accounts::state_cell(u),
                super::accounts::totp_cell(u),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    page.blocks
        .push(Block::Form(super::accounts::staff_form(v)));
    let mut s = Table::new(
        "staff",
        "驾驶员与押运员",
        &["姓名", "岗位", "电话", "证书编号", "证书有效期", "证书有效"],
    );
    s.rows = staff
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::text(match x.role {
                    cyltrace_domain::circulation::StaffRole::Driver => "驾驶员",
                    cyltrace_domain::circulation::StaffRole::Escort => "押运员",
                }),
                Cell::text(&x.phone),
                Cell::text(&x.certificate_no),
                Cell::text(x.certificate_valid_until),
                Cell::text(if x.certificate_valid { "是" } else { "否" }),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(s));
    page.blocks.push(Block::Links(
        "驾驶员与押运员".to_owned(),
        vec![(
            "/console/transport-staff".to_owned(),
            "登记驾驶员或押运员（从业资格证）".to_owned(),
        )],
    ));
    Ok(page)
}

pub(super) async fn imports(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let jobs = pe(services::archives::recent_jobs(&st, &v.p, 50).await)?;
    let mut page = v.page(&st, "导入导出", "/console/imports").await;
    let mut t = Table::new(
        "imports",
        "档案导入任务",
        &[
            "开始时间",
            "格式",
            "状态",
            "总行数",
            "已导入",
            "错误数",
            "说明",
        ],
    );
    t.rows = jobs
        .iter()
        .map(|j| {
            vec![
                iso(j.created_at),
                or_dash(j.format.map(|f| f.as_str())),
                Cell::text(&j.state),
                opt_num(j.total),
                opt_num(j.inserted),
                opt_num(j.error_count),
                or_dash(j.message.as_ref()),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Links(
        "下载".to_owned(),
        vec![
            (
                "/api/v1/cylinders/import-template?format=xlsx".to_owned(),
                "导入模板（Excel）".to_owned(),
            ),
            (
                "/api/v1/cylinders/import-template?format=csv".to_owned(),
                "导入模板（CSV）".to_owned(),
            ),
            (
                "/api/v1/cylinders/export?format=xlsx".to_owned(),
                "档案导出（Excel）".to_owned(),
            ),
            (
                "/api/v1/cylinders/export?format=generic_bottle_xlsx".to_owned(),
                "档案导出（云南省平台格式）".to_owned(),
            ),
            (
                "/api/v1/fills/export?format=xlsx".to_owned(),
                "充装记录导出（Excel）".to_owned(),
            ),
            (
                "/api/v1/stock/export?format=xlsx".to_owned(),
                "库存导出（Excel）".to_owned(),
            ),
        ],
    ));
    page.blocks.insert(
        0,
        Block::Form(FormSpec {
            title: "导入档案".to_owned(),
            action: "/console/imports".to_owned(),
            fields: vec![
                Field::new("file", "Excel（.xlsx）或 CSV 文件", "")
                    .kind("file")
                    .required(),
            ],
            submit: "上传并校验",
        }),
    );
    ok(page)
}

pub(super) async fn audit(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let (rows, total) = pe(audit::recent(&st, &v.p, 200).await)?;
    let mut page = v.page(&st, "审计日志", "/admin/audit").await;
    let mut t = Table::new(
        "audit",
        &format!("最近 200 条（共 {total} 条）"),
        &["时间", "用户", "方法", "路径", "状态", "来源", "说明"],
    );
    t.rows = rows
        .iter()
        .map(|a| {
            vec![
                Cell::text(local(a.at)),
                Cell::text(a.username.as_deref().unwrap_or("—")),
                Cell::text(&a.method),
                Cell::text(&a.path),
                Cell::num(a.status),
                Cell::text(a.ip.as_deref().unwrap_or("—")),
                Cell::text(a.detail.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

pub(super) async fn orgs(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let list = pe(orgs::list_orgs(
        &st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?;
    let mut page = v.page(&st, "组织机构", "/admin/orgs").await;
    let mut t = Table::new(
        "orgs",
        "",
        &["名称", "类型", "行政区划", "统一社会信用代码"],
    );
    t.rows = list
        .iter()
        .map(|o| {
            vec![
                Cell::link(
                    // The tree: each level below the root indented (the list is in path order).
                    format!(
                        "{}{}",
                        "　".repeat(o.path.matches('/').count().saturating_sub(2)),
                        o.name
                    ),
                    format!("/console/org/{}", o.id),
                ),
                Cell::text(o.kind.label_zh()),
                Cell::text(o.region_code.as_str()),
                Cell::text(o.credit_code.as_deref().unwrap_or("—")),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// 节点与存证: the ledger, its latest signed checkpoint and the upstream outbox.
pub(super) async fn node(State(st): State<AppState>, v: Viewer) -> PageResult {
    v.require_role(&[Role::NodeAdmin])?;
    let n = pe(node::node_status(&st, &v.p).await)?;
    let (size, cp, outbox) = (n.ledger_size, &n.checkpoint, &n.outbox);
    let mut page = v.page(&st, "节点与存证", "/admin/node").await;
    page.cards =
        vec![
            Card::new("ledger_size", "存证记录数", size),
            Card::new("outbox_pending", "待上报", outbox.pending).class(if outbox.pending > 0 {
                "warn"
            } else {
                "good"
            }),
            Card::new("outbox_sent", "已上报", outbox.sent),
            Card::new("outbox_refused", "被上级拒收", outbox.refused)
                .class(if outbox.refused > 0 { "bad" } else { "" }),
        ];
    page.blocks.push(Block::Facts(
        "存证账本".to_owned(),
        vec![
            ("账本名称".to_owned(), n.origin.clone()),
            ("哈希算法".to_owned(), n.hash.clone()),
            ("存储".to_owned(), n.backend.to_owned()),
            (
                "最新签名检查点".to_owned(),
                cp.as_ref().map_or("尚未签名".to_owned(), |c| {
                    format!("{} 条，{}", c.size, local(c.time))
                }),
            ),
            (
                "SM2 公钥".to_owned(),
                cp.as_ref()
                    .map_or(String::new(), |c| hex::encode(&c.public_key)),
            ),
            (
                "最早待上报".to_owned(),
                outbox.oldest_pending.map_or("—".to_owned(), local),
            ),
            (
                "上级平台".to_owned(),
                n.upstream_url
                    .clone()
                    .unwrap_or_else(|| "未配置".to_owned()),
            ),
        ],
    ));
    page.blocks.push(Block::Links(
        "校验".to_owned(),
        vec![
            (
                "/api/v1/ledger/checkpoint".to_owned(),
                "检查点（JSON）".to_owned(),
            ),
            ("/metrics".to_owned(), "运行指标（Prometheus）".to_owned()),
        ],
    ));
    ok(page)
}

/// Upload of an archive file from the console: the same import job as `POST /api/v1/cylinders/import`.
pub(super) async fn upload_import(
    State(st): State<AppState>,
    v: Viewer,
    mut form: axum::extract::Multipart,
) -> PageResult {
    enterprise(&v)?;
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| error_page(ApiError::BadRequest(format!("上传内容无法读取：{e}"))))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_lowercase();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| error_page(ApiError::BadRequest(format!("文件无法读取：{e}"))))?;
                let format = if name.ends_with(".csv") {
                    Some("csv")
                } else if name.ends_with(".xlsx") {
                    Some("xlsx")
                } else {
                    None
                };
                file = Some((format, bytes));
            }
            _ => {}
        }
    }
    v.check_csrf(csrf.as_deref())?;
    let (format, bytes) = file
        .filter(|(_, b)| !b.is_empty())
        .ok_or_else(|| error_page(ApiError::invalid("file", "请选择要导入的文件")))?;
    let job = pe(services::archives::start_import(&st, &v.p, format, None, bytes).await)?;
    Ok(Redirect::to(&format!("/console/imports/{}", job.job_id)).into_response())
}

/// One import job: its progress (the page reloads itself until the job ends) and row errors.
pub(super) async fn import_job(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    enterprise(&v)?;
    let job = pe(services::archives::get_import(&st, &v.p, &id).await)?;
    let mut page = v.page(&st, "档案导入任务", "/console/imports").await;
    if job.running() {
        page.chrome.refresh = 2;
    }
    page.intro = match job.state.as_str() {
        "validating" => "正在逐行校验……".to_owned(),
        "importing" => "校验通过，正在写入……".to_owned(),
        "done" => "导入完成。".to_owned(),
        _ => format!(
            "导入未完成，未写入任何档案。{}",
            job.message
                .as_deref()
                .unwrap_or("请按下表修改文件后重新上传。")
        ),
    };
    let n = |v: Option<usize>| v.unwrap_or(0);
    page.cards = vec![
        Card::new("total", "总行数", n(job.total)),
        Card::new("validated", "已校验", n(job.validated)),
        Card::new("inserted", "已导入", n(job.inserted)).class("good"),
        Card::new("errors", "错误", n(job.error_count)).class(if n(job.error_count) > 0 {
            "bad"
        } else {
            ""
        }),
    ];
    let mut t = Table::new(
        "row_errors",
        "错误明细（前 1000 条）",
        &["行", "列", "原因"],
    );
    t.rows = job
        .errors
        .iter()
        .flatten()
        .map(|e| {
            vec![
                Cell::num(e.row),
                Cell::text(&e.column),
                Cell::text(&e.message),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    ok(page)
}
