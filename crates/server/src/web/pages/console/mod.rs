//! The enterprise console (E-series pages of UI.md for the enterprise admin, `/console/…`) and the
//! inspection station's workbench (`/inspection`): the overview (`overview.rs`), archives and labels
//! (`cylinders.rs`), fill and check records and refusals (`records.rs`), stock, transport, orders
//! and recycling (`circulation.rs`), periodic inspection with applications from the due list
//! (`inspection.rs`), staff, imports and the node admin's pages (`admin.rs`), and the accounts admins
//! manage (`accounts.rs`: 用户管理 and the staff accounts), lab tests and repairs (`workshop.rs`,
//! B8), recycling orders (`recycling_orders.rs`, C4), gas ordered from the label page
//! (`order_requests.rs`), the regulator's spot checks answered with photos (`spot_checks.rs`) and
//! the office's forms (`office/`: sites, customers, vehicles, drivers and escorts, waybills, batches,
//! label blocks, household checks). Every list comes from the same services and data scope as the
//! v1 API; forms post with the session's CSRF token and pass through the audit layer.

use axum::Router;
use axum::routing::{get, post};
use cyltrace_domain::{EventData, Role};
use cyltrace_store::StoredEvent;
use serde::Deserialize;

use crate::services;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{Cell, Field, Filter, PageError, Pager, local};

mod accounts;
mod admin;
mod alarms;
mod circulation;
mod cylinders;
mod devices;
mod inspection;
pub(crate) mod masterdata;
mod notify_channels;
mod office;
mod order_requests;
mod overview;
mod records;
mod recycling_orders;
mod spot_checks;
mod workshop;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview::overview))
        .route("/console/cylinders", get(cylinders::cylinders))
        .route("/console/cylinders/{code}", get(cylinders::cylinder))
        .route("/console/labels", get(cylinders::labels))
        .route(
            "/console/sites",
            get(office::sites::sites).post(office::sites::create_site),
        )
        .route(
            "/console/sites/{id}",
            get(masterdata::site).post(masterdata::save_site),
        )
        .route("/console/sites/{id}/active", post(masterdata::site_active))
        .route(
            "/console/devices",
            get(devices::devices).post(devices::register),
        )
        .route(
            "/console/devices/{id}",
            get(devices::device).post(devices::save),
        )
        .route("/console/devices/{id}/secret", post(devices::reset_secret))
        .route("/console/devices/{id}/call", post(devices::call))
        .route("/console/alarms", get(alarms::alarm_list))
        .route("/console/alarms/{id}", get(alarms::alarm))
        .route("/console/alarms/{id}/ack", post(alarms::ack))
        .route("/console/alarms/{id}/clear", post(alarms::clear))
        .route(
            "/console/alarm-rules",
            get(alarms::rules).post(alarms::create_rule),
        )
        .route(
            "/console/alarm-rules/{id}/delete",
            post(alarms::delete_rule),
        )
        .route(
            "/console/notify-channels",
            get(notify_channels::channels).post(notify_channels::create_channel),
        )
        .route(
            "/console/notify-channels/{id}/delete",
            post(notify_channels::delete_channel),
        )
        .route("/console/org", get(masterdata::own_org))
        .route(
            "/console/org/{id}",
            get(masterdata::org).post(masterdata::save_org),
        )
        .route("/console/org/{id}/licence", post(masterdata::save_licence))
        .route(
            "/console/cylinders/{code}/archive",
            post(masterdata::save_archive),
        )
        .route(
            "/console/cylinders/{code}/state",
            post(masterdata::save_state),
        )
        .route(
            "/console/staff",
            get(admin::staff).post(accounts::create_staff),
        )
        .route(
            "/console/staff/{id}",
            get(accounts::staff_user).post(accounts::staff_update),
        )
        .route(
            "/console/staff/{id}/password",
            post(accounts::staff_password),
        )
        .route("/console/staff/{id}/totp", post(accounts::staff_totp))
        .route("/console/fills", get(records::fills))
        .route("/console/checks", get(records::checks))
        .route("/console/refusals", get(records::refusals))
        .route(
            "/console/batches",
            get(office::batches::batches).post(office::batches::create_batch),
        )
        .route("/console/batches/{id}", get(office::batches::batch))
        .route("/console/stock", get(circulation::stock))
        .route("/console/transport", get(circulation::transport))
        .route(
            "/console/customers",
            get(office::customers::customers).post(office::customers::create_customer),
        )
        .route("/console/customers/{id}", get(office::customers::customer))
        .route(
            "/console/customers/{id}/deposits",
            post(office::customers::add_deposit),
        )
        .route(
            "/console/customers/{id}/verify",
            post(office::customers::verify),
        )
        .route(
            "/console/vehicles",
            get(office::transport::vehicles).post(office::transport::create_vehicle),
        )
        .route(
            "/console/transport-staff",
            get(office::transport::transport_staff).post(office::transport::create_transport_staff),
        )
        .route(
            "/console/waybills",
            get(office::transport::waybills).post(office::transport::create_waybill),
        )
        .route("/console/waybills/{id}", get(office::waybill::waybill))
        .route(
            "/console/waybills/{id}/moves",
            post(office::waybill::record_moves),
        )
        .route(
            "/console/label-blocks",
            get(office::labels::label_blocks).post(office::labels::create_block),
        )
        .route("/console/label-blocks/issue", post(office::labels::issue))
        .route(
            "/console/household-checks",
            get(office::household::household_checks).post(office::household::record_check),
        )
        .route(
            "/console/orders",
            get(circulation::orders).post(circulation::create_order),
        )
        .route(
            "/console/orders/{id}/dispatch",
            post(circulation::dispatch_order),
        )
        .route("/console/order-requests/{id}", get(order_requests::request))
        .route(
            "/console/order-requests/{id}/convert",
            post(order_requests::convert),
        )
        .route(
            "/console/order-requests/{id}/{state}",
            post(order_requests::set_state),
        )
        .route("/console/spot-checks", get(spot_checks::spot_checks))
        .route(
            "/console/spot-checks/{id}",
            get(spot_checks::spot_check)
                .post(spot_checks::answer)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::web::pages::photos::BODY_LIMIT,
                )),
        )
        .route(
            "/console/spot-checks/{id}/photos/{n}",
            get(spot_checks::photo),
        )
        .route("/console/recycling", get(circulation::recycling))
        .route(
            "/console/recycling-orders",
            get(recycling_orders::orders).post(recycling_orders::create),
        )
        .route(
            "/console/recycling-orders/{id}",
            get(recycling_orders::order),
        )
        .route(
            "/console/recycling-orders/{id}/confirm",
            post(recycling_orders::confirm),
        )
        .route(
            "/console/recycling-orders/{id}/cancel",
            post(recycling_orders::cancel),
        )
        .route(
            "/console/lab-tests",
            get(workshop::lab_tests).post(workshop::save_lab_test),
        )
        .route(
            "/console/repairs",
            get(workshop::repairs).post(workshop::save_repair),
        )
        .route("/console/inspections", get(inspection::inspections))
        .route("/console/inspections/apply", post(inspection::apply))
        .route(
            "/console/imports",
            get(admin::imports).post(admin::upload_import).layer(
                axum::extract::DefaultBodyLimit::max(services::archives::MAX_IMPORT_BYTES),
            ),
        )
        .route("/console/imports/{id}", get(admin::import_job))
        .route("/inspection", get(inspection::inspector_home))
        .route("/inspection/results", post(inspection::inspection_result))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/orgs", get(admin::orgs))
        .route("/admin/node", get(admin::node))
        .route("/admin/users", get(accounts::users))
        .route(
            "/admin/users/{id}",
            get(accounts::admin_user).post(accounts::admin_update),
        )
        .route("/admin/users/{id}/password", post(accounts::admin_password))
        .route("/admin/users/{id}/totp", post(accounts::admin_totp))
}

// A slice, so that a new entry is one new line (`Vec::extend` takes `&[T]` for `T: Copy`).
pub(super) const ENTERPRISE_NAV: &[(&str, &str)] = &[
    ("/console", "企业总览"),
    ("/console/org", "本单位信息"),
    ("/console/cylinders", "气瓶档案"),
    ("/console/labels", "标签打印"),
    ("/console/label-blocks", "标签号段与发卡"),
    ("/console/sites", "站点仓库"),
    ("/console/devices", "设备管理"),
    ("/console/alarms", "设备报警"),
    ("/console/alarm-rules", "报警规则"),
    ("/console/notify-channels", "通知渠道"),
    ("/console/staff", "人员资质"),
    ("/console/fills", "充装记录"),
    ("/console/checks", "检查记录"),
    ("/console/refusals", "拒充与非法标签"),
    ("/console/batches", "充装批次"),
    ("/console/lab-tests", "化验记录"),
    ("/console/repairs", "维修记录"),
    ("/console/stock", "库存"),
    ("/console/transport", "车辆运单"),
    ("/console/vehicles", "车辆"),
    ("/console/transport-staff", "驾驶与押运人员"),
    ("/console/waybills", "运单"),
    ("/console/customers", "用户管理"),
    ("/console/household-checks", "入户安检"),
    ("/console/orders", "订单配送"),
    ("/console/recycling", "回收记录"),
    ("/console/recycling-orders", "回收单"),
    ("/console/inspections", "定期检验"),
    ("/console/imports", "导入导出"),
    ("/console/messages", "监管通知"),
    ("/console/spot-checks", "监管抽查"),
];

fn enterprise(v: &Viewer) -> Result<(), PageError> {
    v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin])
}

const PAGE_ROWS: usize = 50;
/// The last page a list offers (50 × 20,000 rows; beyond, use the exports).
const MAX_PAGE_NO: usize = 20_000;

#[derive(Deserialize, Default)]
struct RecordPageQuery {
    code: Option<String>,
    date: Option<String>,
    page: Option<i64>,
}

impl RecordPageQuery {
    fn record_query(&self) -> services::filling::RecordQuery {
        services::filling::RecordQuery {
            code: self.code.clone().filter(|s| !s.trim().is_empty()),
            date: self.date.clone().filter(|s| !s.trim().is_empty()),
            limit: Some(PAGE_ROWS as i64),
            offset: Some(self.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0) * PAGE_ROWS as i64),
            ..Default::default()
        }
    }
    fn filter(&self, action: &str) -> Filter {
        Filter {
            action: action.to_owned(),
            fields: vec![
                Field::new("code", "气瓶编码", self.code.clone().unwrap_or_default()),
                Field::new("date", "日期", self.date.clone().unwrap_or_default()).kind("date"),
            ],
        }
    }
    fn pager(&self, action: &str, total: i64) -> Pager {
        let n = self.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0);
        let link = |p: i64| {
            let qs = serde_urlencoded::to_string([
                ("code", self.code.clone().unwrap_or_default()),
                ("date", self.date.clone().unwrap_or_default()),
                ("page", p.to_string()),
            ])
            .unwrap_or_default();
            format!("{action}?{qs}")
        };
        Pager {
            prev: if n > 0 { link(n - 1) } else { String::new() },
            next: if (n + 1) * (PAGE_ROWS as i64) < total {
                link(n + 1)
            } else {
                String::new()
            },
            note: format!("共 {total} 条，第 {} 页", n + 1),
        }
    }
}

/// The weighing of a fill: tare, gross, net and the scale.
fn weighing(e: &StoredEvent) -> String {
    match &e.event.data {
        EventData::Fill(f) => {
            let (t, g) = (f.tare_kg.get(), f.gross_kg.get());
            format!(
                "皮重 {t:.2} kg · 毛重 {g:.2} kg · 净重 {:.2} kg · 秤 {}",
                g - t,
                f.scale_no
            )
        }
        _ => String::new(),
    }
}

fn event_row(e: &StoredEvent, detail: String) -> Vec<Cell> {
    let ev = &e.event;
    vec![
        Cell::text(local(ev.time)),
        Cell::text(ev.kind().label_zh()),
        Cell::text(
            ev.codes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Cell::text(ev.operator.as_ref().map_or("—", |o| o.as_str())),
        Cell::text(detail),
        Cell::num(e.ledger_index),
    ]
}
