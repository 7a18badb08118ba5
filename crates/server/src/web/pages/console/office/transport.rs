//! Transport in the office (C2): vehicles with their dangerous-goods permits (车辆), drivers and
//! escorts with their qualification certificates (驾驶与押运人员) and electronic waybills (运单);
//! a waybill's own page is `waybill`.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use cyltrace_domain::circulation::StaffRole;
use cyltrace_store::Page as StorePage;
use serde::Deserialize;

use super::{Posted, china_now, china_time, finish, object, offset, page_no, pager, table_or};
use crate::services::circulation::{self as circ, ListQuery};
use crate::services::orgs;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::pages::console::{PAGE_ROWS, enterprise};
use crate::web::pages::kit::{
    Block, Cell, Field, FormSpec, Page, PageError, PageResult, Table, local, ok, pe,
};

#[derive(Deserialize, Default)]
pub(crate) struct ListPageQuery {
    page: Option<i64>,
    state: Option<String>,
}

fn list_query(n: i64, state: Option<String>) -> ListQuery {
    ListQuery {
        limit: Some(PAGE_ROWS as i64),
        offset: Some(offset(n)),
        state,
        customer_id: None,
    }
}

fn valid_cell(valid: bool) -> Cell {
    if valid {
        Cell::text("有效").class("ok")
    } else {
        Cell::text("已过期").class("bad")
    }
}

// ------------------------------------------------------------------------------------ vehicles

async fn vehicles_page(st: &AppState, v: &Viewer, n: i64) -> Result<Page, PageError> {
    enterprise(v)?;
    let list = pe(circ::list_vehicles(st, &v.p, &list_query(n, None)).await)?;
    let mut page = v.page(st, "车辆", "/console/vehicles").await;
    page.intro = "危险货物道路运输许可证过期的车辆不能开运单、不能装车（C2）。".to_owned();
    let mut t = Table::new(
        "vehicles",
        "危险货物运输车辆",
        &[
            "车牌",
            "车型",
            "道路运输许可证",
            "有效期至",
            "许可证",
            "核载（瓶）",
        ],
    );
    t.rows = list
        .iter()
        .map(|x| {
            vec![
                Cell::text(x.vehicle.plate.as_str()),
                Cell::text(&x.vehicle.vehicle_type),
                Cell::text(&x.vehicle.permit_no),
                Cell::text(x.vehicle.permit_valid_until),
                valid_cell(x.permit_valid),
                x.vehicle
                    .capacity
                    .map_or_else(|| Cell::text("—"), Cell::num),
            ]
        })
        .collect();
    t.pager = Some(pager("/console/vehicles", &[], n, list.len()));
    page.blocks.push(table_or(
        t,
        n,
        "还没有车辆，请先在下面新增车辆（车牌、车型和危险货物道路运输许可证）。",
    ));
    page.blocks.push(Block::Form(FormSpec {
        title: "新增车辆".to_owned(),
        action: "/console/vehicles".to_owned(),
        fields: vec![
            Field::new("plate", "车牌号（如 云A12345）", "").required(),
            Field::new("vehicle_type", "车型", "危险品运输车").required(),
            Field::new("permit_no", "危险货物道路运输许可证号", "").required(),
            Field::new("permit_valid_until", "许可证有效期至", "")
                .kind("date")
                .required(),
            Field::new("capacity", "核载气瓶数（可选）", "").kind("number"),
            Field::new("terminal_id", "车载终端号（JT/T 808，可选）", ""),
        ],
        submit: "新增车辆",
    }));
    Ok(page)
}

pub(crate) async fn vehicles(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ListPageQuery>,
) -> PageResult {
    ok(vehicles_page(&st, &v, page_no(q.page)).await?)
}

pub(crate) async fn create_vehicle(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("plate", f.required("plate")),
        ("vehicle_type", f.required("vehicle_type")),
        ("permit_no", f.required("permit_no")),
        ("permit_valid_until", f.required("permit_valid_until")),
        ("capacity", f.number("capacity")),
        ("terminal_id", f.text("terminal_id")),
    ]);
    finish(
        circ::create_vehicle(&st, &v.p, &body).await,
        "/console/vehicles",
        f.sent(),
        |r| {
            (
                "/console/vehicles".to_owned(),
                format!("vehicle {} {}", r.id, r.key.as_deref().unwrap_or_default()),
            )
        },
        |x| x,
        async || vehicles_page(&st, &v, 0).await,
    )
    .await
}

// ----------------------------------------------------------------------- drivers and escorts

async fn staff_page(st: &AppState, v: &Viewer, n: i64) -> Result<Page, PageError> {
    enterprise(v)?;
    let list = pe(circ::list_staff(st, &v.p, &list_query(n, None)).await)?;
    let users = pe(orgs::list_users(
        st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?;
    let mut page = v
        .page(st, "驾驶与押运人员", "/console/transport-staff")
        .await;
    page.intro =
        "驾驶员、押运员须实名登记并持有效的从业资格证；证书过期的人员不能派运单（C2）。".to_owned();
    let mut t = Table::new(
        "transport_staff",
        "驾驶员与押运员",
        &[
            "姓名",
            "岗位",
            "身份证号",
            "电话",
            "从业资格证",
            "有效期至",
            "证书",
        ],
    );
    t.rows = list
        .iter()
        .map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::text(x.role.label_zh()),
                Cell::text(x.id_number.as_deref().unwrap_or("—")),
                Cell::text(&x.phone),
                Cell::text(&x.certificate_no),
                Cell::text(x.certificate_valid_until),
                valid_cell(x.certificate_valid),
            ]
        })
        .collect();
    t.pager = Some(pager("/console/transport-staff", &[], n, list.len()));
    page.blocks.push(table_or(
        t,
        n,
        "还没有驾驶员或押运员，请先在下面登记（姓名、身份证号和从业资格证）。",
    ));
    page.blocks.push(Block::Form(FormSpec {
        title: "登记驾驶员或押运员".to_owned(),
        action: "/console/transport-staff".to_owned(),
        fields: vec![
            Field::new("role", "岗位", "driver").options(vec![
                ("driver".to_owned(), "驾驶员".to_owned()),
                ("escort".to_owned(), "押运员".to_owned()),
            ]),
            Field::new("name", "姓名", "").required(),
            Field::new("id_number", "身份证号（加密保存）", "").required(),
            Field::new("phone", "电话", "").required(),
            Field::new("certificate_no", "从业资格证号", "").required(),
            Field::new("certificate_valid_until", "资格证有效期至", "")
                .kind("date")
                .required(),
            Field::new("user_id", "手持终端账户（可选）", "").options(
                std::iter::once((String::new(), "不关联".to_owned()))
                    .chain(
                        users
                            .iter()
                            .map(|u| (u.id.to_string(), format!("{}（{}）", u.name, u.username))),
                    )
                    .collect(),
            ),
        ],
        submit: "登记",
    }));
    Ok(page)
}

pub(crate) async fn transport_staff(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ListPageQuery>,
) -> PageResult {
    ok(staff_page(&st, &v, page_no(q.page)).await?)
}

pub(crate) async fn create_transport_staff(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("role", f.required("role")),
        ("name", f.required("name")),
        ("id_number", f.required("id_number")),
        ("phone", f.required("phone")),
        ("certificate_no", f.required("certificate_no")),
        (
            "certificate_valid_until",
            f.required("certificate_valid_until"),
        ),
        ("user_id", f.text("user_id")),
    ]);
    finish(
        circ::create_staff(&st, &v.p, &body).await,
        "/console/transport-staff",
        f.sent(),
        |r| {
            (
                "/console/transport-staff".to_owned(),
                format!("transport staff {}", r.id),
            )
        },
        |x| x,
        async || staff_page(&st, &v, 0).await,
    )
    .await
}

// ------------------------------------------------------------------------------------ waybills

pub(super) fn state_zh(s: &str) -> &'static str {
    match s {
        "created" => "待装车",
        "in_transit" => "运输中",
        "done" => "已完成",
        _ => "—",
    }
}

/// The sites in scope by id, for names and the form's choices.
pub(super) async fn site_names(
    st: &AppState,
    v: &Viewer,
) -> Result<Vec<(String, String)>, PageError> {
    Ok(pe(orgs::list_sites(
        st,
        &v.p,
        StorePage {
            limit: 1000,
            offset: 0,
        },
    )
    .await)?
    .into_iter()
    .filter(|s| s.active)
    .map(|s| {
        (
            s.id.to_string(),
            format!("{}（{}）", s.name, s.kind.label_zh()),
        )
    })
    .collect())
}

async fn waybills_page(st: &AppState, v: &Viewer, n: i64, state: &str) -> Result<Page, PageError> {
    enterprise(v)?;
    let filter = Some(state.to_owned()).filter(|s| !s.is_empty());
    let list = pe(circ::list_waybills(st, &v.p, &list_query(n, filter)).await)?;
    let sites = site_names(st, v).await?;
    let names: HashMap<&str, &str> = sites
        .iter()
        .map(|(id, name)| (id.as_str(), name.as_str()))
        .collect();
    let vehicles = pe(circ::list_vehicles(st, &v.p, &list_query(0, None)).await)?;
    let staff = pe(circ::list_staff(st, &v.p, &list_query(0, None)).await)?;
    let mut page = v.page(st, "运单", "/console/waybills").await;
    page.filter = Some(crate::web::pages::kit::Filter {
        action: "/console/waybills".to_owned(),
        fields: vec![Field::new("state", "状态", state).options(vec![
            (String::new(), "全部".to_owned()),
            ("created".to_owned(), "待装车".to_owned()),
            ("in_transit".to_owned(), "运输中".to_owned()),
            ("done".to_owned(), "已完成".to_owned()),
        ])],
    });
    let mut t = Table::new(
        "waybills",
        "电子运单",
        &[
            "运单号",
            "车辆",
            "驾驶员",
            "押运员",
            "起运地",
            "目的地",
            "状态",
            "装车",
            "卸车",
            "开单时间",
        ],
    );
    t.rows = list
        .iter()
        .map(|r| {
            let w = &r.doc.waybill;
            let origin = w.origin_site_id.to_string();
            vec![
                Cell::link(&r.doc.number, format!("/console/waybills/{}", r.id)),
                Cell::text(r.doc.plate.as_str()),
                Cell::text(&r.doc.driver.name),
                Cell::text(r.doc.escort.as_ref().map_or("—", |e| e.name.as_str())),
                Cell::text(names.get(origin.as_str()).copied().unwrap_or("—")),
                Cell::text(destination(w, &names)),
                Cell::text(state_zh(&r.state)),
                Cell::num(r.doc.loaded.len()),
                Cell::num(r.doc.unloaded.len()),
                Cell::text(local(r.created_at)),
            ]
        })
        .collect();
    t.pager = Some(pager(
        "/console/waybills",
        &[("state", state)],
        n,
        list.len(),
    ));
    page.blocks.push(table_or(
        t,
        n,
        "还没有运单：先登记车辆和驾驶员，再在下面开运单。",
    ));
    let drivers: Vec<_> = staff
        .iter()
        .filter(|s| s.role == StaffRole::Driver)
        .collect();
    if vehicles.is_empty() || drivers.is_empty() {
        page.blocks.push(Block::Links(
            "开运单前".to_owned(),
            vec![
                (
                    "/console/vehicles".to_owned(),
                    if vehicles.is_empty() {
                        "还没有车辆，请先新增车辆"
                    } else {
                        "车辆"
                    }
                    .to_owned(),
                ),
                (
                    "/console/transport-staff".to_owned(),
                    if drivers.is_empty() {
                        "还没有驾驶员，请先登记驾驶员"
                    } else {
                        "驾驶与押运人员"
                    }
                    .to_owned(),
                ),
            ],
        ));
    }
    let expired = |valid: bool| if valid { "" } else { "（已过期）" };
    let mut origin = sites.clone();
    origin.insert(0, (String::new(), "请选择".to_owned()));
    let mut dest = sites;
    dest.insert(
        0,
        (String::new(), "不在本平台（填写下面的地址）".to_owned()),
    );
    page.blocks.push(Block::Form(FormSpec {
        title: "开运单".to_owned(),
        action: "/console/waybills".to_owned(),
        fields: vec![
            Field::new("number", "运单号（留空由平台编号）", ""),
            Field::new("origin_site_id", "起运站点", "").options(origin),
            Field::new("destination_site_id", "目的站点", "").options(dest),
            Field::new("destination", "目的地地址（不在本平台时）", ""),
            Field::new("vehicle_id", "车辆", "").options(
                std::iter::once((String::new(), "请选择".to_owned()))
                    .chain(vehicles.iter().map(|x| {
                        (
                            x.id.to_string(),
                            format!(
                                "{} {}{}",
                                x.vehicle.plate.as_str(),
                                x.vehicle.vehicle_type,
                                expired(x.permit_valid)
                            ),
                        )
                    }))
                    .collect(),
            ),
            Field::new("driver_id", "驾驶员", "").options(
                std::iter::once((String::new(), "请选择".to_owned()))
                    .chain(drivers.iter().map(|s| {
                        (
                            s.id.to_string(),
                            format!("{}{}", s.name, expired(s.certificate_valid)),
                        )
                    }))
                    .collect(),
            ),
            Field::new("escort_id", "押运员", "").options(
                std::iter::once((String::new(), "无".to_owned()))
                    .chain(
                        staff
                            .iter()
                            .filter(|s| s.role == StaffRole::Escort)
                            .map(|s| {
                                (
                                    s.id.to_string(),
                                    format!("{}{}", s.name, expired(s.certificate_valid)),
                                )
                            }),
                    )
                    .collect(),
            ),
            Field::new("depart_at", "计划发车时间", china_now(st.now()))
                .kind("datetime-local")
                .required(),
        ],
        submit: "开运单",
    }));
    Ok(page)
}

pub(super) fn destination(
    w: &cyltrace_domain::circulation::NewWaybill,
    names: &HashMap<&str, &str>,
) -> String {
    w.destination
        .as_ref()
        .map(|d| d.to_string())
        .or_else(|| {
            w.destination_site_id
                .and_then(|id| names.get(id.to_string().as_str()).map(|n| (*n).to_owned()))
        })
        .unwrap_or_else(|| "—".to_owned())
}

pub(crate) async fn waybills(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ListPageQuery>,
) -> PageResult {
    let state = q.state.unwrap_or_default();
    ok(waybills_page(&st, &v, page_no(q.page), &state).await?)
}

pub(crate) async fn create_waybill(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    enterprise(&v)?;
    let f = Posted(f);
    v.check_csrf(f.csrf())?;
    let body = object(vec![
        ("number", f.text("number")),
        ("origin_site_id", f.required("origin_site_id")),
        ("destination_site_id", f.text("destination_site_id")),
        ("destination", f.text("destination")),
        ("vehicle_id", f.required("vehicle_id")),
        ("driver_id", f.required("driver_id")),
        ("escort_id", f.text("escort_id")),
        ("depart_at", china_time(f.get("depart_at"))),
    ]);
    finish(
        circ::create_waybill(&st, &v.p, &body).await,
        "/console/waybills",
        f.sent(),
        |r| {
            (
                format!("/console/waybills/{}", r.id),
                format!("waybill {} {}", r.id, r.key.as_deref().unwrap_or_default()),
            )
        },
        |x| x,
        async || waybills_page(&st, &v, 0, "").await,
    )
    .await
}
