//! `/api/v1` circulation and sales (issue 6): vehicles and positions, drivers and escorts, carrier
//! documents and waybills (`transport`); customers (masked per role), deposits and holdings
//! (`customers`); orders and their delivery (`orders`); household checks and rectification
//! (`household`); stock and stock-taking, recycling, a cylinder's flow table and the handheld's
//! scan-to-act (`stock`). Handlers are thin: the use cases live in `services::circulation`.

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::services::circulation::ListQuery;
use crate::state::AppState;
use crate::web::middleware::noted;

mod customers;
mod household;
mod orders;
mod stock;
mod transport;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/vehicles",
            post(transport::create_vehicle).get(transport::list_vehicles),
        )
        .route("/vehicles/positions", get(transport::latest_positions))
        .route("/vehicles/{id}", get(transport::get_vehicle))
        .route(
            "/vehicles/{id}/positions",
            post(transport::report_positions).get(transport::track),
        )
        .route(
            "/transport-staff",
            post(transport::create_staff).get(transport::list_staff),
        )
        .route(
            "/orgs/{id}/documents",
            post(transport::create_doc).get(transport::list_docs),
        )
        .route(
            "/waybills",
            post(transport::create_waybill).get(transport::list_waybills),
        )
        .route("/waybills/{id}", get(transport::get_waybill))
        .route(
            "/customers",
            post(customers::register_customer).get(customers::list_customers),
        )
        .route("/customers/progress", get(customers::progress))
        .route("/customers/{id}", get(customers::get_customer))
        .route("/customers/{id}/verify", post(customers::verify_customer))
        .route("/customers/{id}/reveal", post(customers::reveal))
        .route(
            "/customers/{id}/deposits",
            post(customers::add_deposit).get(customers::list_deposits),
        )
        .route(
            "/orders",
            post(orders::create_order).get(orders::list_orders),
        )
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/dispatch", post(orders::dispatch_order))
        .route("/orders/{id}/cancel", post(orders::cancel_order))
        .route("/orders/{id}/deliver", post(orders::deliver_order))
        .route(
            "/household-check-items",
            get(household::check_items).put(household::set_check_items),
        )
        .route(
            "/household-checks",
            post(household::record_household_check).get(household::list_household_checks),
        )
        .route("/rectifications", get(household::list_rectifications))
        .route("/rectifications/reminders", get(household::reminders))
        .route(
            "/rectifications/{id}/close",
            post(household::close_rectification),
        )
        .route("/stock", get(stock::stock))
        .route("/stock/{site_id}/codes", get(stock::stock_codes))
        .route(
            "/stock/{site_id}/stocktakes",
            post(stock::stocktake).get(stock::list_stocktakes),
        )
        .route("/recycling", get(stock::recycling))
        .route("/cylinders/{code}/trajectory", get(stock::trajectory))
        .route("/scan/{action}", post(stock::scan))
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
