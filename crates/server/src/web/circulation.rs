//! `/api/v1` circulation and sales (issue 6): files, vehicles and positions, drivers and escorts,
//! carrier documents, waybills, customers (masked per role), deposits and holdings, orders and their
//! delivery, household checks and rectification, stock and stock-taking, recycling, a cylinder's flow
//! table, and the handheld's scan-to-act endpoints. Handlers are thin: the use cases live in
//! `services::circulation`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Duration, Utc};
use cyltrace_domain::access::Action;
use cyltrace_domain::circulation::personal_view;
use cyltrace_domain::time::china_date;
use cyltrace_domain::{Date, ValidationErrors};
use cyltrace_store::{EventFilter, Page};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::JsonBody;
use super::api::{noted, query};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::services::audit::RequestMeta;
use crate::services::circulation::{self as svc, ListQuery};
use crate::services::{self, files};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/files", post(upload_file))
        .route("/files/{hash}", get(download_file))
        .route("/vehicles", post(create_vehicle).get(list_vehicles))
        .route("/vehicles/positions", get(latest_positions))
        .route("/vehicles/{id}", get(get_vehicle))
        .route(
            "/vehicles/{id}/positions",
            post(report_positions).get(track),
        )
        .route("/transport-staff", post(create_staff).get(list_staff))
        .route("/orgs/{id}/documents", post(create_doc).get(list_docs))
        .route("/waybills", post(create_waybill).get(list_waybills))
        .route("/waybills/{id}", get(get_waybill))
        .route("/customers", post(register_customer).get(list_customers))
        .route("/customers/progress", get(progress))
        .route("/customers/{id}", get(get_customer))
        .route("/customers/{id}/verify", post(verify_customer))
        .route("/customers/{id}/reveal", post(reveal))
        .route(
            "/customers/{id}/deposits",
            post(add_deposit).get(list_deposits),
        )
        .route("/orders", post(create_order).get(list_orders))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/dispatch", post(dispatch_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/orders/{id}/deliver", post(deliver_order))
        .route(
            "/household-check-items",
            get(check_items).put(set_check_items),
        )
        .route(
            "/household-checks",
            post(record_household_check).get(list_household_checks),
        )
        .route("/rectifications", get(list_rectifications))
        .route("/rectifications/reminders", get(reminders))
        .route("/rectifications/{id}/close", post(close_rectification))
        .route("/stock", get(stock))
        .route("/stock/{site_id}/codes", get(stock_codes))
        .route(
            "/stock/{site_id}/stocktakes",
            post(stocktake).get(list_stocktakes),
        )
        .route("/recycling", get(recycling))
        .route("/cylinders/{code}/trajectory", get(trajectory))
        .route("/scan/{action}", post(scan))
}

fn id(s: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::NotFound(format!("{what}不存在")))
}

fn today(st: &AppState) -> Date {
    Date(china_date(st.now()))
}

fn created(v: Value, note: String) -> Response {
    noted((StatusCode::CREATED, Json(v)), note)
}

type Q = Result<Query<ListQuery>, QueryRejection>;

fn items(v: Vec<Value>) -> Json<Value> {
    Json(json!({ "items": v }))
}

// --- files -----------------------------------------------------------------------------------

/// Upload a photo, signature, certificate or report (JPEG, PNG, WEBP, GIF or PDF), stored once under
/// its SM3 hash.
async fn upload_file(State(st): State<AppState>, p: Principal, body: Bytes) -> ApiResult<Response> {
    p.require(Action::Read)?;
    let Some(kind) = files::kind_of(&body) else {
        return Err(ApiError::invalid(
            "body",
            "文件类型不支持（仅 JPEG、PNG、WEBP、GIF 图片或 PDF）",
        ));
    };
    let reference = files::put(&st, &body)
        .await
        .map_err(|e| ApiError::Internal(format!("storing a file: {e}")))?;
    let hash = reference.trim_start_matches("files/").to_owned();
    Ok(created(
        json!({"hash": hash, "reference": reference, "kind": kind, "size": body.len()}),
        format!("file {hash}"),
    ))
}

async fn download_file(
    State(st): State<AppState>,
    p: Principal,
    Path(hash): Path<String>,
) -> ApiResult<Response> {
    p.require(Action::Read)?;
    let reference = files::reference(&hash);
    let bytes = files::read(&st, &reference)
        .await
        .ok_or_else(|| ApiError::NotFound("文件不存在".to_owned()))?;
    let ct = match files::kind_of(&bytes) {
        Some("PDF") => "application/pdf",
        Some("PNG") => "image/png",
        Some("JPEG") => "image/jpeg",
        Some("GIF") => "image/gif",
        Some("WEBP") => "image/webp",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, ct)], bytes).into_response())
}

// --- transport -------------------------------------------------------------------------------

async fn create_vehicle(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_vehicle(&st, &p, &body).await?;
    Ok(created(json!({"id": r.id}), format!("vehicle {}", r.id)))
}

async fn list_vehicles(State(st): State<AppState>, p: Principal, q: Q) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::VEHICLE, &p)?;
    let t = today(&st);
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| svc::vehicle_view(r, t))
            .collect::<ApiResult<_>>()?,
    ))
}

async fn get_vehicle(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let r = svc::visible_record(&st, &p, svc::VEHICLE, id(&v, "车辆")?, "车辆").await?;
    Ok(Json(svc::vehicle_view(&r, today(&st))?))
}

async fn report_positions(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let vid = id(&v, "车辆")?;
    let n = svc::report_positions(&st, &p, vid, &body).await?;
    Ok(created(
        json!({"stored": n}),
        format!("vehicle {vid} positions {n}"),
    ))
}

async fn latest_positions(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::latest_positions(&st, &p).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
}

async fn track(
    State(st): State<AppState>,
    p: Principal,
    Path(v): Path<String>,
    q: Result<Query<TrackQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let q = query(q)?;
    let r = svc::visible_record(&st, &p, svc::VEHICLE, id(&v, "车辆")?, "车辆").await?;
    let to = q.to.unwrap_or_else(|| st.now() + Duration::minutes(5));
    let from = q.from.unwrap_or(to - Duration::hours(24));
    let limit = q.limit.unwrap_or(5000).clamp(1, 50_000);
    let pts = st.store.vehicle_track(r.id, from, to, limit).await?;
    Ok(items(
        pts.iter()
            .map(|pt| svc::position_view(pt, r.key.as_deref()))
            .collect(),
    ))
}

async fn create_staff(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_staff(&st, &p, &body).await?;
    Ok(created(
        json!({"id": r.id}),
        format!("transport staff {}", r.id),
    ))
}

async fn list_staff(State(st): State<AppState>, p: Principal, q: Q) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::STAFF, &p)?;
    let (view, t) = (personal_view(&p.roles), today(&st));
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| svc::staff_view(r, view, t))
            .collect::<ApiResult<_>>()?,
    ))
}

async fn create_doc(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_org_doc(&st, &p, id(&o, "机构")?, &body).await?;
    Ok(created(
        json!({"id": r.id}),
        format!("org document {}", r.id),
    ))
}

async fn list_docs(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let org = services::get_org(&st, &p, id(&o, "机构")?).await?;
    let f = cyltrace_store::BizFilter {
        kind: svc::ORG_DOC.to_owned(),
        org_id: Some(org.id),
        limit: 500,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| {
                let mut v = r.body.clone();
                v["id"] = json!(r.id);
                v["created_at"] = json!(r.created_at);
                v
            })
            .collect(),
    ))
}

async fn create_waybill(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_waybill(&st, &p, &body).await?;
    Ok(created(
        json!({"id": r.id, "number": r.key}),
        format!("waybill {}", r.key.as_deref().unwrap_or_default()),
    ))
}

async fn list_waybills(State(st): State<AppState>, p: Principal, q: Q) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::WAYBILL, &p)?;
    let list = st.store.list_biz(&f).await?;
    Ok(items(list.iter().map(svc::waybill_view).collect()))
}

async fn get_waybill(
    State(st): State<AppState>,
    p: Principal,
    Path(w): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let r = svc::visible_record(&st, &p, svc::WAYBILL, id(&w, "运单")?, "运单").await?;
    Ok(Json(svc::waybill_view(&r)))
}

// --- customers -------------------------------------------------------------------------------

async fn register_customer(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (r, created_now, bound) = svc::register_customer(&st, &p, &body).await?;
    let status = if created_now {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(noted(
        (
            status,
            Json(json!({"id": r.id, "created": created_now, "bound": bound})),
        ),
        format!("customer {} created={created_now} bound={bound}", r.id),
    ))
}

async fn list_customers(State(st): State<AppState>, p: Principal, q: Q) -> ApiResult<Json<Value>> {
    Ok(items(svc::list_customers(&st, &p, &query(q)?).await?))
}

async fn get_customer(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let cid = id(&c, "用户")?;
    let r = svc::customer(&st, &p, cid).await?;
    let mut v = svc::customer_view(&r, personal_view(&p.roles));
    let (h, codes) = svc::holdings(&st, cid).await?;
    v["holdings"] = json!(h);
    v["held_codes"] = json!(codes.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    Ok(Json(v))
}

async fn verify_customer(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::verify_customer(&st, &p, id(&c, "用户")?, &body).await?;
    Ok(noted(
        Json(json!({"id": r.id, "real_name_verified": true})),
        format!("customer {} verified", r.id),
    ))
}

/// The full ID number (a POST so that the read of personal data is in the audit log).
async fn reveal(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Response> {
    let cid = id(&c, "用户")?;
    let number = svc::reveal_id(&st, &p, cid).await?;
    Ok(noted(
        Json(json!({"id_number": number})),
        format!("revealed the ID number of customer {cid}"),
    ))
}

async fn add_deposit(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let cid = id(&c, "用户")?;
    let r = svc::add_deposit(&st, &p, cid, &body).await?;
    let (h, _) = svc::holdings(&st, cid).await?;
    Ok(created(
        json!({"id": r.id, "holdings": h}),
        format!("deposit {} customer {cid}", r.id),
    ))
}

async fn list_deposits(
    State(st): State<AppState>,
    p: Principal,
    Path(c): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let cid = id(&c, "用户")?;
    svc::customer(&st, &p, cid).await?;
    let f = cyltrace_store::BizFilter {
        kind: svc::DEPOSIT.to_owned(),
        ref_id: Some(cid),
        limit: 1000,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| {
                let mut v = r.body.clone();
                v["id"] = json!(r.id);
                v["org_id"] = json!(r.org_id);
                v["created_at"] = json!(r.created_at);
                v
            })
            .collect(),
    ))
}

async fn progress(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::progress(&st, &p).await?))
}

// --- orders ----------------------------------------------------------------------------------

fn shows_code(p: &Principal) -> bool {
    // The handover code is told to the customer by the enterprise, never shown to the courier.
    p.is_node_admin() || p.roles.contains(&cyltrace_domain::Role::EnterpriseAdmin)
}

async fn create_order(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::create_order(&st, &p, &body).await?;
    Ok(created(
        svc::order_view(&r, personal_view(&p.roles), shows_code(&p)),
        format!("order {}", r.id),
    ))
}

async fn list_orders(State(st): State<AppState>, p: Principal, q: Q) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::ORDER, &p)?;
    let view = personal_view(&p.roles);
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| svc::order_view(r, view, shows_code(&p)))
            .collect(),
    ))
}

async fn get_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let r = svc::visible_record(&st, &p, svc::ORDER, id(&o, "订单")?, "订单").await?;
    Ok(Json(svc::order_view(
        &r,
        personal_view(&p.roles),
        shows_code(&p),
    )))
}

async fn dispatch_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::dispatch_order(&st, &p, id(&o, "订单")?, &body).await?;
    Ok(noted(
        Json(svc::order_view(&r, personal_view(&p.roles), false)),
        format!("order {} dispatched", r.id),
    ))
}

async fn cancel_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
) -> ApiResult<Response> {
    let r = svc::cancel_order(&st, &p, id(&o, "订单")?).await?;
    Ok(noted(
        Json(svc::order_view(&r, personal_view(&p.roles), false)),
        format!("order {} cancelled", r.id),
    ))
}

async fn deliver_order(
    State(st): State<AppState>,
    p: Principal,
    Path(o): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let order = id(&o, "订单")?;
    let audit = super::audit_to(meta, StatusCode::OK).note(format!("order {order} delivered"));
    let (r, idx) = svc::deliver_order(&st, &p, order, &body, Some(&audit)).await?;
    let mut v = svc::order_view(&r, personal_view(&p.roles), false);
    v["ledger_index"] = json!(idx);
    Ok(super::audited(Json(v)))
}

// --- household checks ------------------------------------------------------------------------

async fn check_items(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    Ok(Json(json!({"items": svc::check_items(&st).await?})))
}

async fn set_check_items(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let items = svc::set_check_items(&st, &p, &body).await?;
    Ok(noted(
        Json(json!({ "items": items })),
        format!("household check items: {}", items.len()),
    ))
}

async fn record_household_check(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (check, tasks) = svc::record_household_check(&st, &p, &body).await?;
    let now = st.now();
    Ok(created(
        json!({"id": check.id, "result": check.state,
               "rectifications": tasks.iter().map(|t| svc::rectification_view(t, now)).collect::<Vec<_>>()}),
        format!("household check {} {}", check.id, check.state),
    ))
}

async fn list_household_checks(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::HOUSEHOLD_CHECK, &p)?;
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| {
                json!({"id": r.id, "customer_id": r.ref_id, "result": r.state,
                       "time": r.body["check"]["time"], "answers": r.body["check"]["answers"],
                       "photos": r.body["check"]["photos"], "signature": r.body["check"]["signature"],
                       "inspector": r.body["inspector"], "org_id": r.org_id})
            })
            .collect(),
    ))
}

async fn list_rectifications(
    State(st): State<AppState>,
    p: Principal,
    q: Q,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let f = query(q)?.biz_filter(svc::RECTIFICATION, &p)?;
    let now = st.now();
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| svc::rectification_view(r, now))
            .collect(),
    ))
}

async fn reminders(State(st): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    Ok(items(svc::reminders(&st, &p).await?))
}

async fn close_rectification(
    State(st): State<AppState>,
    p: Principal,
    Path(r): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::close_rectification(&st, &p, id(&r, "整改任务")?, &body).await?;
    Ok(noted(
        Json(svc::rectification_view(&r, st.now())),
        format!("rectification {} closed", r.id),
    ))
}

// --- stock, recycling, trajectory, scans -----------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StockQuery {
    site_id: Option<Uuid>,
}

async fn stock(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<StockQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    Ok(items(svc::stock(&st, &p, q.site_id).await?))
}

async fn stock_codes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let sid = id(&s, "站点")?;
    services::get_site(&st, &p, sid).await?;
    let codes = st.store.stock_codes(sid).await?;
    Ok(items(
        codes
            .iter()
            .map(|(c, full)| json!({"code": c.as_str(), "full": full}))
            .collect(),
    ))
}

async fn stocktake(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let r = svc::stocktake(&st, &p, id(&s, "站点")?, &body).await?;
    let mut v = r.body["result"].clone();
    v["id"] = json!(r.id);
    v["state"] = json!(r.state);
    Ok(created(v, format!("stocktake {} {}", r.id, r.state)))
}

async fn list_stocktakes(
    State(st): State<AppState>,
    p: Principal,
    Path(s): Path<String>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let sid = id(&s, "站点")?;
    services::get_site(&st, &p, sid).await?;
    let f = cyltrace_store::BizFilter {
        kind: svc::STOCKTAKE.to_owned(),
        ref_id: Some(sid),
        limit: 100,
        ..Default::default()
    };
    let list = st.store.list_biz(&f).await?;
    Ok(items(
        list.iter()
            .map(|r| {
                let mut v = r.body.clone();
                v["id"] = json!(r.id);
                v["state"] = json!(r.state);
                v["created_at"] = json!(r.created_at);
                v
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecyclingQuery {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Recycle records (回收单) in scope, newest first.
async fn recycling(
    State(st): State<AppState>,
    p: Principal,
    q: Result<Query<RecyclingQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    p.require(Action::Read)?;
    let q = query(q)?;
    let mut errs = ValidationErrors::default();
    let Page { limit, offset } = services::page(q.limit, q.offset, &mut errs);
    errs.into_result(()).map_err(ApiError::from)?;
    let f = EventFilter {
        scope: Some(p.scope()),
        kinds: vec!["recycle"],
        from: q.from,
        to: q.to,
        limit,
        offset,
        ..Default::default()
    };
    let (events, total) = st.store.list_events(&f).await?;
    Ok(Json(json!({
        "items": events.iter().map(|e| json!({
            "id": e.event.id, "time": e.event.time, "codes": e.event.codes,
            "site_id": e.event.site_id, "data": e.event.data.data_json(),
            "ledger_index": e.ledger_index,
        })).collect::<Vec<_>>(),
        "total": total,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrajectoryQuery {
    format: Option<String>,
}

/// A cylinder's flow table (C8) as JSON, or CSV with `?format=csv`.
async fn trajectory(
    State(st): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    q: Result<Query<TrajectoryQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query(q)?;
    let rows = svc::trajectory(&st, &p, &code).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(json!({"code": code, "rows": rows})).into_response()),
        Some(f @ ("csv" | "xlsx")) => {
            let format = crate::services::archives::FileFormat::parse(f)
                .map_err(|m| ApiError::invalid("format", m))?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        crate::services::archives::content_type(format).to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"trajectory-{code}.{f}\""),
                    ),
                ],
                svc::trajectory_table(&rows, format)?,
            )
                .into_response())
        }
        Some(_) => Err(ApiError::invalid("format", "应为 json、csv 或 xlsx")),
    }
}

async fn scan(
    State(st): State<AppState>,
    p: Principal,
    Path(action): Path<String>,
    Extension(meta): Extension<RequestMeta>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let audit = super::audit_to(meta, StatusCode::OK).note(format!("scan {action}"));
    let results = svc::scan(&st, &p, &action, &body, Some(&audit)).await?;
    Ok(super::audited(Json(json!({ "results": results }))))
}

/// The circulation, `/ps` and regulator endpoints in the OpenAPI document: method, path, tag and a
/// summary each (their bodies are described in the README; errors are problem+json as everywhere).
pub struct Operations;

const OPERATIONS: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/api/v1/files",
        "files",
        "Upload a photo, e-signature, certificate or report (stored once under its SM3 hash)",
    ),
    (
        "get",
        "/api/v1/files/{hash}",
        "files",
        "Download a stored file",
    ),
    (
        "post",
        "/api/v1/vehicles",
        "transport",
        "Register a vehicle with its hazardous-goods transport permit",
    ),
    (
        "get",
        "/api/v1/vehicles",
        "transport",
        "Vehicles in scope, with whether the permit is valid today",
    ),
    (
        "get",
        "/api/v1/vehicles/positions",
        "transport",
        "The last position of every vehicle in scope",
    ),
    ("get", "/api/v1/vehicles/{id}", "transport", "One vehicle"),
    (
        "post",
        "/api/v1/vehicles/{id}/positions",
        "transport",
        "Report positions of a vehicle",
    ),
    (
        "get",
        "/api/v1/vehicles/{id}/positions",
        "transport",
        "A vehicle's track (from, to)",
    ),
    (
        "post",
        "/api/v1/transport-staff",
        "transport",
        "Register a driver or escort with the qualification certificate",
    ),
    (
        "get",
        "/api/v1/transport-staff",
        "transport",
        "Drivers and escorts (ID numbers masked)",
    ),
    (
        "post",
        "/api/v1/orgs/{id}/documents",
        "transport",
        "Add a qualification document of an organisation",
    ),
    (
        "get",
        "/api/v1/orgs/{id}/documents",
        "transport",
        "Qualification documents of an organisation",
    ),
    (
        "post",
        "/api/v1/waybills",
        "transport",
        "Issue an electronic waybill (refused for an invalid permit or certificate)",
    ),
    ("get", "/api/v1/waybills", "transport", "Waybills in scope"),
    (
        "get",
        "/api/v1/waybills/{id}",
        "transport",
        "One waybill with the codes loaded and unloaded",
    ),
    (
        "post",
        "/api/v1/customers",
        "customers",
        "Register a customer once in the node and bind them to a dealer",
    ),
    (
        "get",
        "/api/v1/customers",
        "customers",
        "Customers bound to organisations in scope (masked by role)",
    ),
    (
        "get",
        "/api/v1/customers/progress",
        "customers",
        "Account opening and real-name progress per organisation",
    ),
    (
        "get",
        "/api/v1/customers/{id}",
        "customers",
        "One customer with cylinders held, deposits and owed",
    ),
    (
        "post",
        "/api/v1/customers/{id}/verify",
        "customers",
        "Record the real-name verification",
    ),
    (
        "post",
        "/api/v1/customers/{id}/reveal",
        "customers",
        "The full ID number (admins; audited)",
    ),
    (
        "post",
        "/api/v1/customers/{id}/deposits",
        "customers",
        "A cylinder deposit paid or refunded",
    ),
    (
        "get",
        "/api/v1/customers/{id}/deposits",
        "customers",
        "Deposits of a customer",
    ),
    ("post", "/api/v1/orders", "orders", "Create an order"),
    (
        "get",
        "/api/v1/orders",
        "orders",
        "Orders in scope (state=, customer_id=)",
    ),
    ("get", "/api/v1/orders/{id}", "orders", "One order"),
    (
        "post",
        "/api/v1/orders/{id}/dispatch",
        "orders",
        "Dispatch an order to a courier",
    ),
    (
        "post",
        "/api/v1/orders/{id}/cancel",
        "orders",
        "Cancel an order",
    ),
    (
        "post",
        "/api/v1/orders/{id}/deliver",
        "orders",
        "Hand the order over with the customer's confirmation",
    ),
    (
        "get",
        "/api/v1/household-check-items",
        "household checks",
        "The household safety check items",
    ),
    (
        "put",
        "/api/v1/household-check-items",
        "household checks",
        "Configure the household safety check items (regulators)",
    ),
    (
        "post",
        "/api/v1/household-checks",
        "household checks",
        "Record a household safety check",
    ),
    (
        "get",
        "/api/v1/household-checks",
        "household checks",
        "Household safety checks in scope",
    ),
    (
        "get",
        "/api/v1/rectifications",
        "household checks",
        "Rectification tasks (state=)",
    ),
    (
        "get",
        "/api/v1/rectifications/reminders",
        "household checks",
        "Open tasks due within a day or overdue",
    ),
    (
        "post",
        "/api/v1/rectifications/{id}/close",
        "household checks",
        "Close a rectification task",
    ),
    (
        "get",
        "/api/v1/stock",
        "stock",
        "Full and empty cylinders per warehouse or store (site_id=)",
    ),
    (
        "get",
        "/api/v1/stock/{site_id}/codes",
        "stock",
        "The cylinders in stock at a site",
    ),
    (
        "post",
        "/api/v1/stock/{site_id}/stocktakes",
        "stock",
        "Stock-taking: compare scanned codes with the records",
    ),
    (
        "get",
        "/api/v1/stock/{site_id}/stocktakes",
        "stock",
        "Stock-takes of a site",
    ),
    (
        "get",
        "/api/v1/recycling",
        "stock",
        "Recycle records in scope",
    ),
    (
        "get",
        "/api/v1/cylinders/{code}/trajectory",
        "cylinders",
        "A cylinder's flow table (format=json|csv|xlsx)",
    ),
    (
        "post",
        "/api/v1/scan/{action}",
        "handheld",
        "Scan-to-act: receive_empty, store_full, dispatch, load, unload, deliver, recycle",
    ),
    (
        "post",
        "/api/v1/registrations",
        "cylinders",
        "Apply for usage registration (kind=new|old, the Yunnan ApplyNew body)",
    ),
    (
        "post",
        "/api/v1/cylinder-documents",
        "cylinders",
        "Attach a factory document to cylinders",
    ),
    (
        "get",
        "/api/v1/cylinders/{code}/documents",
        "cylinders",
        "A cylinder's factory documents",
    ),
    (
        "post",
        "/api/v1/vehicle-cylinders",
        "cylinders",
        "Register a vehicle cylinder (CarBottle)",
    ),
    (
        "get",
        "/api/v1/vehicle-cylinders",
        "cylinders",
        "Vehicle cylinders in scope",
    ),
    (
        "get",
        "/api/v1/vehicle-cylinders/{code}",
        "cylinders",
        "One vehicle cylinder",
    ),
    (
        "get",
        "/api/v1/vehicle-cylinders/{code}/labels",
        "cylinders",
        "The three labels of a vehicle cylinder (PDF)",
    ),
    (
        "post",
        "/api/v1/label-blocks",
        "labels",
        "Reserve a block of label numbers for a medium",
    ),
    (
        "get",
        "/api/v1/label-blocks",
        "labels",
        "Label number blocks",
    ),
    (
        "post",
        "/api/v1/label-blocks/{id}/issue",
        "labels",
        "Issue label numbers from a block",
    ),
    (
        "get",
        "/api/v1/label-issues",
        "labels",
        "Label issuance records",
    ),
    (
        "get",
        "/api/v1/labels/issuance",
        "labels",
        "Issuance rate per organisation",
    ),
    (
        "get",
        "/api/v1/labels/sheet",
        "labels",
        "An A4 PDF sheet of labels (codes=a,b,…)",
    ),
    (
        "post",
        "/api/v1/labels/verify",
        "labels",
        "Check a scanned label's anti-counterfeit signature",
    ),
    (
        "get",
        "/api/v1/labels/{code}",
        "labels",
        "A cylinder's signed label URL",
    ),
    (
        "get",
        "/api/v1/labels/{code}/svg",
        "labels",
        "A printable SVG label",
    ),
    (
        "get",
        "/api/v1/labels/{code}/png",
        "labels",
        "The label's QR code as PNG",
    ),
    (
        "get",
        "/api/v1/public/labels",
        "public",
        "What a label's QR URL resolves to, the signature checked (no token)",
    ),
    (
        "post",
        "/api/v1/inspection-applications",
        "inspection",
        "Send cylinders to an inspection station",
    ),
    (
        "get",
        "/api/v1/inspection-applications",
        "inspection",
        "Inspection applications",
    ),
    (
        "get",
        "/api/v1/inspection/worklist",
        "inspection",
        "The station's cylinders waiting for a result",
    ),
    (
        "post",
        "/api/v1/inspection/results",
        "inspection",
        "Record a result (table D.1) and issue the report PDF",
    ),
    (
        "get",
        "/api/v1/cylinders/{code}/inspection-report",
        "inspection",
        "The latest inspection report (PDF)",
    ),
    (
        "get",
        "/api/v1/ps/applications",
        "regulator",
        "Registration applications received over /PS",
    ),
    (
        "post",
        "/api/v1/ps/applications/{id}/approve",
        "regulator",
        "Approve a registration application",
    ),
    (
        "post",
        "/api/v1/ps/applications/{id}/reject",
        "regulator",
        "Reject a registration application",
    ),
    (
        "post",
        "/api/v1/ps/spot-checks",
        "regulator",
        "Issue a spot check",
    ),
    ("get", "/api/v1/ps/spot-checks", "regulator", "Spot checks"),
    (
        "get",
        "/api/v1/ps/check-applies",
        "regulator",
        "Inspection applications",
    ),
    (
        "get",
        "/api/v1/ps/business-counts",
        "regulator",
        "Reported month counts and whether they match",
    ),
    (
        "put",
        "/api/v1/ps/accounts/{user_id}/sm4-key",
        "regulator",
        "Set the SM4 key of a /PS account",
    ),
    (
        "get",
        "/api/v1/regulator/alarms",
        "regulator",
        "Alarms for the regulator (ledger tamper, count mismatch, uplink)",
    ),
    (
        "get",
        "/api/v1/uplink/status",
        "regulator",
        "The uplink outbox",
    ),
];

impl utoipa::Modify for Operations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ObjectBuilder, Required, ResponseBuilder, Type};
        for (method, path, tag, summary) in OPERATIONS {
            let method = match *method {
                "get" => HttpMethod::Get,
                "put" => HttpMethod::Put,
                _ => HttpMethod::Post,
            };
            let mut op = OperationBuilder::new()
                .summary(Some(*summary))
                .tag(*tag)
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .response(
                    "200",
                    ResponseBuilder::new().description("OK (201 for a creation)"),
                )
                .response(
                    "422",
                    ResponseBuilder::new().description("Invalid: problem+json naming the fields"),
                );
            for seg in path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                    );
                }
            }
            openapi
                .paths
                .add_path_operation(*path, vec![method], op.build());
        }
    }
}
