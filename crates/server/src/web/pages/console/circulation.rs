//! Circulation in the enterprise console: stock (库存), vehicles, waybills and positions (车辆运单),
//! orders with dispatch (订单配送) and recycling (回收记录). Customers (用户管理) are
//! `office::customers`.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use cyltrace_domain::EventData;
use cyltrace_domain::circulation::personal_view;
use cyltrace_domain::event::Recycle;
use cyltrace_domain::time::china_date;
use cyltrace_store::Page as StorePage;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{MAX_PAGE_NO, PAGE_ROWS, RecordPageQuery, enterprise, event_row};
use crate::services::circulation::{self as circ, ListQuery, RecyclingQuery};
use crate::services::orgs;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::kit::{
    Block, Cell, CsrfOnly, Field, FormSpec, Page, PageError, PageResult, Table, json_num, local,
    ok, or_dash, pe,
};

pub(super) async fn stock(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let rows = pe(circ::stock(&st, &v.p, None).await)?;
    let mut page = v.page(&st, "库存", "/console/stock").await;
    let mut t = Table::new("stock", "各站点库存", &["站点", "类型", "重瓶", "空瓶"]);
    t.rows = rows
        .iter()
        .map(|r| {
            vec![
                or_dash(r.site_name.as_ref()),
                Cell::text(r.site_kind.map_or("—", cyltrace_domain::SiteKind::label_zh)),
                Cell::num(r.full),
                Cell::num(r.empty),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Note(
        "盘点请用手持终端逐瓶扫码；库存可在“导入导出”页导出为 Excel。".to_owned(),
    ));
    ok(page)
}

pub(super) async fn transport(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    let today = cyltrace_domain::Date(china_date(st.now()));
    let vehicles = pe(circ::records(&st, &v.p, circ::VEHICLE, 500).await)?;
    let vehicles: Vec<circ::VehicleView> = vehicles
        .iter()
        .filter_map(|r| circ::vehicle_view(r, today).ok())
        .collect();
    let waybills = pe(circ::records(&st, &v.p, circ::WAYBILL, 500).await)?;
    let waybills = pe(waybills
        .iter()
        .map(circ::waybill_view)
        .collect::<Result<Vec<_>, _>>())?;
    let positions = pe(circ::latest_positions(&st, &v.p).await)?;
    let site_names: HashMap<String, String> = pe(orgs::list_sites(
        &st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?
    .into_iter()
    .map(|s| (s.id.to_string(), s.name))
    .collect();
    let mut page = v.page(&st, "车辆与运单", "/console/transport").await;
    let mut t = Table::new(
        "vehicles",
        "危险货物运输车辆",
        &["车牌", "车型", "道路运输证", "有效期至", "有效"],
    );
    t.rows = vehicles
        .iter()
        .map(|x| {
            vec![
                Cell::text(x.vehicle.plate.as_str()),
                Cell::text(&x.vehicle.vehicle_type),
                Cell::text(&x.vehicle.permit_no),
                Cell::text(x.vehicle.permit_valid_until),
                Cell::text(if x.permit_valid { "是" } else { "否" }),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(t));
    let mut w = Table::new(
        "waybills",
        "运单",
        &["运单号", "目的地", "状态", "装车", "卸车", "开单时间"],
    );
    w.rows = waybills
        .iter()
        .map(|r| {
            let wb = &r.doc.waybill;
            vec![
                Cell::text(&r.doc.number),
                Cell::text(
                    wb.destination
                        .as_ref()
                        .map(|d| d.to_string())
                        .or_else(|| {
                            wb.destination_site_id
                                .and_then(|id| site_names.get(&id.to_string()).cloned())
                        })
                        .unwrap_or_else(|| "—".to_owned()),
                ),
                Cell::text(match r.state.as_str() {
                    "created" => "待装车",
                    "in_transit" => "运输中",
                    "done" => "已完成",
                    _ => "—",
                }),
                Cell::num(r.doc.loaded.len()),
                Cell::num(r.doc.unloaded.len()),
                Cell::text(local(r.created_at)),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(w));
    let mut p = Table::new(
        "positions",
        "车辆最新位置",
        &["车牌", "时间", "纬度", "经度"],
    );
    p.rows = positions
        .iter()
        .map(|x| {
            vec![
                or_dash(x.plate.as_ref()),
                Cell::text(local(x.time)),
                json_num(x.lat),
                json_num(x.lon),
            ]
        })
        .collect();
    page.blocks.push(Block::Table(p));
    page.blocks.push(Block::Links(
        "登记与开单".to_owned(),
        vec![
            ("/console/vehicles".to_owned(), "新增车辆".to_owned()),
            (
                "/console/transport-staff".to_owned(),
                "登记驾驶员或押运员".to_owned(),
            ),
            ("/console/waybills".to_owned(), "开运单".to_owned()),
        ],
    ));
    ok(page)
}

fn all_customers() -> ListQuery {
    ListQuery {
        limit: Some(500),
        offset: None,
        state: None,
        customer_id: None,
    }
}

async fn order_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    let view = personal_view(&v.p.roles);
    let orders = pe(circ::records(st, &v.p, circ::ORDER, 200).await)?;
    let couriers: Vec<(String, String)> = pe(orgs::couriers(st, &v.p).await)?
        .into_iter()
        .map(|u| (u.id.to_string(), u.name))
        .collect();
    let customers: Vec<(String, String)> =
        pe(circ::list_customers(st, &v.p, &all_customers()).await)?
            .iter()
            .map(|c| (c.id.to_string(), format!("{} {}", c.name, c.phone)))
            .collect();
    let mut page = v.page(st, "订单与配送", "/console/orders").await;
    let mut t = Table::new(
        "orders",
        "订单",
        &["下单时间", "用户", "地址", "品种与数量", "状态", "操作"],
    );
    for r in &orders {
        let o = pe(circ::order_view(r, view, false))?;
        let items = o
            .items
            .iter()
            .map(|i| format!("{} {} × {}", i.medium, i.spec, i.quantity))
            .collect::<Vec<_>>()
            .join("，");
        let customer = match r.ref_id {
            Some(id) => pe(circ::customer_name(st, id, view).await)?,
            None => String::new(),
        };
        let address = match &o.address {
            circ::DeliveryAddress::Full(a) => a.address.to_string(),
            circ::DeliveryAddress::Masked { address } => address.clone(),
        };
        let mut row = vec![
            Cell::text(local(o.created_at)),
            Cell::text(customer),
            Cell::text(address),
            Cell::text(items),
            Cell::text(o.state_zh.unwrap_or("")),
        ];
        row.push(if r.state == "created" {
            Cell::button(
                format!("/console/orders/{}/dispatch", r.id),
                "派给第一位配送员",
            )
        } else {
            Cell::text("")
        });
        t.rows.push(row);
    }
    page.blocks
        .extend(super::order_requests::block(st, v).await?);
    page.blocks.push(Block::Table(t));
    page.blocks.push(Block::Form(FormSpec {
        title: "电话订气：新建订单".to_owned(),
        action: "/console/orders".to_owned(),
        fields: vec![
            Field::new("customer_id", "用户", "")
                .options(customers)
                .required(),
            Field::new("quantity", "数量（瓶）", "1")
                .kind("number")
                .required(),
            Field::new("medium", "介质", "液化石油气"),
            Field::new("spec", "规格", "YSP35.5"),
            Field::new("courier", "配送员", "").options(
                std::iter::once((String::new(), "暂不派单".to_owned()))
                    .chain(couriers)
                    .collect(),
            ),
        ],
        submit: "提交订单",
    }));
    Ok(page)
}

pub(super) async fn orders(State(st): State<AppState>, v: Viewer) -> PageResult {
    enterprise(&v)?;
    ok(order_page(&st, &v).await?)
}

#[derive(Deserialize)]
pub(super) struct OrderForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    customer_id: String,
    quantity: String,
    medium: Option<String>,
    spec: Option<String>,
    courier: Option<String>,
}

pub(super) async fn create_order(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<OrderForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let qty: Value = f
        .quantity
        .trim()
        .parse::<i64>()
        .map_or_else(|_| Value::String(f.quantity.clone()), Value::from);
    let body = json!({
        "customer_id": f.customer_id.trim(), "address_index": 0, "requested_at": st.now(),
        "items": [{"medium": f.medium.unwrap_or_default().trim(), "spec": f.spec.unwrap_or_default().trim(), "quantity": qty}],
    });
    let r = pe(circ::create_order(&st, &v.p, &body).await)?;
    if let Some(c) = f.courier.filter(|c| !c.is_empty()) {
        pe(circ::dispatch_order(&st, &v.p, r.id, &json!({"courier_id": c})).await)?;
    }
    Ok(Redirect::to("/console/orders").into_response())
}

pub(super) async fn dispatch_order(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<CsrfOnly>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    pe(circ::dispatch_to_first_courier(&st, &v.p, id).await)?;
    Ok(Redirect::to("/console/orders").into_response())
}

pub(super) async fn recycling(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<RecordPageQuery>,
) -> PageResult {
    enterprise(&v)?;
    let (events, total) = pe(circ::recycle_events(
        &st,
        &v.p,
        RecyclingQuery {
            limit: Some(PAGE_ROWS as i64),
            offset: Some(q.page.unwrap_or(0).min(MAX_PAGE_NO as i64).max(0) * PAGE_ROWS as i64),
            ..Default::default()
        },
        q.code.clone().filter(|c| !c.is_empty()),
    )
    .await)?;
    let mut page = v.page(&st, "回收记录", "/console/recycling").await;
    page.filter = Some(q.filter("/console/recycling"));
    let mut t = Table::new(
        "recycling",
        "空瓶回收",
        &["时间", "操作", "气瓶", "操作人", "用户", "存证序号"],
    );
    t.rows = events
        .iter()
        .map(|e| {
            let who = match &e.event.data {
                EventData::Recycle(Recycle {
                    customer_id: Some(_),
                    ..
                }) => "已登记用户",
                _ => "—",
            };
            event_row(e, who.to_owned())
        })
        .collect();
    t.pager = Some(q.pager("/console/recycling", total));
    page.blocks.push(Block::Table(t));
    ok(page)
}
