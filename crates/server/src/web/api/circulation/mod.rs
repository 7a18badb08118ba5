//! `/api/v1` circulation and sales (issue 6): vehicles and positions, drivers and escorts, carrier
//! documents and waybills (`transport`); customers (masked per role), deposits and holdings
//! (`customers`); orders and their delivery (`orders`); household checks and rectification
//! (`household`); recycling orders (`recycling`); stock and stock-taking, recycling, a cylinder's flow table and the handheld's
//! scan-to-act (`stock`). Handlers are thin: the use cases live in `services::circulation`.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiRouter, v1};
use crate::services::circulation::ListQuery;
use crate::web::middleware::noted;

mod customers;
mod household;
mod orders;
mod recycling;
mod stock;
mod transport;

pub fn router() -> ApiRouter {
    use customers as c;
    use household as h;
    use orders as o;
    use recycling as r;
    use stock as s;
    use transport as t;
    OpenApiRouter::new()
        .routes(v1(routes!(t::create_vehicle, t::list_vehicles)))
        .routes(v1(routes!(t::latest_positions)))
        .routes(v1(routes!(t::get_vehicle)))
        .routes(v1(routes!(t::report_positions, t::track)))
        .routes(v1(routes!(t::create_staff, t::list_staff)))
        .routes(v1(routes!(t::create_doc, t::list_docs)))
        .routes(v1(routes!(t::create_waybill, t::list_waybills)))
        .routes(v1(routes!(t::get_waybill)))
        .routes(v1(routes!(c::register_customer, c::list_customers)))
        .routes(v1(routes!(c::progress)))
        .routes(v1(routes!(c::get_customer)))
        .routes(v1(routes!(c::verify_customer)))
        .routes(v1(routes!(c::reveal)))
        .routes(v1(routes!(c::add_deposit, c::list_deposits)))
        .routes(v1(routes!(o::create_order, o::list_orders)))
        .routes(v1(routes!(o::get_order)))
        .routes(v1(routes!(o::dispatch_order)))
        .routes(v1(routes!(o::cancel_order)))
        .routes(v1(routes!(o::deliver_order)))
        .routes(v1(routes!(
            r::create_recycling_order,
            r::list_recycling_orders
        )))
        .routes(v1(routes!(r::get_recycling_order)))
        .routes(v1(routes!(r::confirm_recycling_order)))
        .routes(v1(routes!(r::cancel_recycling_order)))
        .routes(v1(routes!(h::check_items, h::set_check_items)))
        .routes(v1(routes!(
            h::record_household_check,
            h::list_household_checks
        )))
        .routes(v1(routes!(h::list_rectifications)))
        .routes(v1(routes!(h::reminders)))
        .routes(v1(routes!(h::close_rectification)))
        .routes(v1(routes!(s::stock)))
        .routes(v1(routes!(s::stock_codes)))
        .routes(v1(routes!(s::stocktake, s::list_stocktakes)))
        .routes(v1(routes!(s::recycling)))
        .routes(v1(routes!(s::trajectory)))
        .routes(v1(routes!(s::scan)))
}

fn created(v: Value, note: String) -> Response {
    noted((StatusCode::CREATED, Json(v)), note)
}

type Q = Result<Query<ListQuery>, QueryRejection>;

/// A list as `{"items": [...]}` (typed views become JSON objects with their keys in order, as the
/// API has always sent them).
fn items<T: Serialize>(v: Vec<T>) -> Json<Value> {
    Json(json!({ "items": v }))
}
