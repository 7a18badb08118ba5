//! Who may use each route: the expected-rights table of the authorisation matrix
//! (`tests/authz_matrix.rs`), one line per route the router serves, `"METHOD /path"` → right.
//!
//! Where the permission model of the domain decides (`cyltrace_domain::access::allowed`, role ×
//! action, G1), the entry names the action and the roles are derived from the model, so a change
//! of the model changes the expectation with it. Where a service or a page decides by role by hand
//! (the regulator console, the node admin's pages, the inspector's desk), the roles are listed
//! here; a mismatch with the server fails the matrix naming the route, the caller and the answer.
//!
//! The right is the one needed with the own side's ids. Writes are called with an empty body: where
//! the body is read before the role is checked (every caller gets the same `400`/`422`), the table
//! still names the right the handler checks, which the matrix cannot see through; it then only
//! asserts that the refusal does not depend on the object.

use cyltrace_domain::EventKind;
use cyltrace_domain::Role::{self, *};
use cyltrace_domain::access::{Action, allowed};

/// The right a route needs (with the own side's ids).
pub enum Rights {
    /// Public by design: anyone, the anonymous caller too; foreign objects may be shown (the label
    /// page, the public cylinder lookup, sign-in, health, metrics, the OpenAPI document).
    Public,
    /// Any signed-in account (its own account pages, the ledger's checkpoint and proofs).
    AnyLogin,
    /// The roles `access::allowed` grants the action, on a route that names no object of the own
    /// enterprise (lists are cut to the caller's scope).
    Act(Action),
    /// The same on an object of the own enterprise: the roles the action is granted whose data
    /// scope holds the enterprise — all callers but the inspector, whose station stands beside the
    /// enterprise (it sees cylinders only once they are sent to it).
    InScope(Action),
    /// The roles listed (decided by the service or page, not by `access`).
    Only(&'static [Role]),
}

/// The regulator console and the regulators' API.
const REGULATORS: &[Role] = &[NodeAdmin, Regulator];
/// The enterprise console.
const ENTERPRISE: &[Role] = &[NodeAdmin, EnterpriseAdmin];
/// Console pages a regulator opens too (an enterprise's archive, organisation and sites).
const REGULATOR_AND_ENTERPRISE: &[Role] = &[NodeAdmin, Regulator, EnterpriseAdmin];

/// The roles a right lets through.
pub fn allowed_roles(r: &Rights) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| match r {
            Rights::Public | Rights::AnyLogin => true,
            Rights::Act(a) => allowed(&[*role], *a),
            Rights::InScope(a) => *role != Inspector && allowed(&[*role], *a),
            Rights::Only(list) => list.contains(role),
        })
        .collect()
}

use Rights::*;

/// Every route of the application, sorted by path.
pub const RIGHTS: &[(&str, Rights)] = &[
    ("GET /", AnyLogin),
    ("POST /PS/Auth/Login", Public),
    ("GET /PS/BottleCheck/GetDetail", Act(Action::Read)),
    ("POST /PS/BottleCheck/GetDetail", Act(Action::Read)),
    (
        "POST /PS/BottleCheck/Response",
        Only(&[NodeAdmin, EnterpriseAdmin]),
    ),
    ("GET /PS/BottleCheck/UnresponseList", Act(Action::Read)),
    ("POST /PS/BottleCheck/UnresponseList", Act(Action::Read)),
    (
        "POST /PS/BottleRegister/ApplyNew",
        Act(Action::WriteCylinders),
    ),
    (
        "POST /PS/BottleRegister/ApplyOld",
        Act(Action::WriteCylinders),
    ),
    ("GET /PS/CarBottle/List", Act(Action::Read)),
    ("POST /PS/CarBottle/List", Act(Action::Read)),
    (
        "POST /PS/CheckApply/AddBottle",
        Act(Action::RecordEvent(EventKind::InspectionSend)),
    ),
    (
        "POST /PS/CheckApply/BeginApply",
        Act(Action::RecordEvent(EventKind::InspectionSend)),
    ),
    (
        "POST /PS/CheckApply/EndApply",
        Act(Action::RecordEvent(EventKind::InspectionSend)),
    ),
    (
        "POST /PS/CheckApply/RemoveBottle",
        Act(Action::RecordEvent(EventKind::InspectionSend)),
    ),
    ("POST /PS/File/Upload", Act(Action::Read)),
    ("GET /PS/GenericBottle/List", Act(Action::Read)),
    ("POST /PS/GenericBottle/List", Act(Action::Read)),
    (
        "POST /PS/GenericStatistics/BusinessCount",
        Act(Action::Read),
    ),
    (
        "POST /PS/GenericTrace/AfterFill",
        Act(Action::RecordEvent(EventKind::PostFillCheck)),
    ),
    (
        "POST /PS/GenericTrace/BeforeFill",
        Act(Action::RecordEvent(EventKind::PreFillCheck)),
    ),
    (
        "POST /PS/GenericTrace/Fill",
        Act(Action::RecordEvent(EventKind::Fill)),
    ),
    (
        "POST /PS/GenericTrace/Inspection",
        Act(Action::RecordEvent(EventKind::InspectionResult)),
    ),
    ("GET /PS/Ledger/Checkpoint", AnyLogin),
    ("POST /PS/Ledger/Checkpoint", AnyLogin),
    ("GET /Q", Public),
    ("GET /account", AnyLogin),
    ("GET /account/password", AnyLogin),
    ("POST /account/password", AnyLogin),
    ("GET /account/totp", AnyLogin),
    ("POST /account/totp/begin", AnyLogin),
    ("POST /account/totp/confirm", AnyLogin),
    ("POST /account/totp/disable", AnyLogin),
    ("GET /admin/audit", Only(&[NodeAdmin])),
    ("GET /admin/node", Only(&[NodeAdmin])),
    ("GET /admin/orgs", Only(&[NodeAdmin])),
    ("GET /admin/users", Only(&[NodeAdmin])),
    ("GET /admin/users/{id}", Only(&[NodeAdmin])),
    ("POST /admin/users/{id}", Only(&[NodeAdmin])),
    ("POST /admin/users/{id}/password", Only(&[NodeAdmin])),
    ("POST /admin/users/{id}/totp", Only(&[NodeAdmin])),
    ("GET /api/openapi.json", Public),
    ("GET /api/v1/alarms", Act(Action::Read)),
    ("GET /api/v1/audit", Act(Action::ReadAudit)),
    ("POST /api/v1/auth/password", AnyLogin),
    ("POST /api/v1/auth/token", Public),
    ("GET /api/v1/auth/totp", AnyLogin),
    ("POST /api/v1/auth/totp", AnyLogin),
    ("POST /api/v1/auth/totp/confirm", AnyLogin),
    ("POST /api/v1/auth/totp/disable", AnyLogin),
    ("GET /api/v1/batches", Act(Action::Read)),
    ("POST /api/v1/batches", Act(Action::ManageBatches)),
    ("GET /api/v1/batches/{id}/fills", InScope(Action::Read)),
    ("GET /api/v1/checks", Act(Action::Read)),
    ("GET /api/v1/customers", Act(Action::Read)),
    ("POST /api/v1/customers", Act(Action::RegisterCustomers)),
    ("GET /api/v1/customers/progress", Act(Action::Read)),
    ("GET /api/v1/customers/{id}", InScope(Action::Read)),
    ("GET /api/v1/customers/{id}/deposits", InScope(Action::Read)),
    (
        "POST /api/v1/customers/{id}/deposits",
        Act(Action::ManageCustomers),
    ),
    (
        "POST /api/v1/customers/{id}/reveal",
        Only(&[NodeAdmin, EnterpriseAdmin]),
    ),
    (
        "POST /api/v1/customers/{id}/verify",
        Act(Action::ManageCustomers),
    ),
    (
        "POST /api/v1/cylinder-documents",
        Act(Action::WriteCylinders),
    ),
    ("GET /api/v1/cylinders", Act(Action::Read)),
    ("POST /api/v1/cylinders", Act(Action::WriteCylinders)),
    ("GET /api/v1/cylinders/export", Act(Action::Read)),
    ("POST /api/v1/cylinders/import", Act(Action::WriteCylinders)),
    ("GET /api/v1/cylinders/import-template", Act(Action::Read)),
    ("GET /api/v1/cylinders/{code}", InScope(Action::Read)),
    (
        "PATCH /api/v1/cylinders/{code}",
        Only(&[NodeAdmin, Regulator, EnterpriseAdmin]),
    ),
    (
        "GET /api/v1/cylinders/{code}/documents",
        InScope(Action::Read),
    ),
    ("GET /api/v1/cylinders/{code}/events", InScope(Action::Read)),
    (
        "GET /api/v1/cylinders/{code}/inspection-report",
        InScope(Action::Read),
    ),
    (
        "GET /api/v1/cylinders/{code}/trajectory",
        InScope(Action::Read),
    ),
    ("POST /api/v1/events", AnyLogin),
    ("GET /api/v1/events/{id}", InScope(Action::Read)),
    ("POST /api/v1/files", Act(Action::Read)),
    ("GET /api/v1/files/{hash}", InScope(Action::Read)),
    ("POST /api/v1/fill-control", Act(Action::FillControl)),
    ("GET /api/v1/fill-control/decisions", Act(Action::Read)),
    ("GET /api/v1/fill-control/illegal-labels", Act(Action::Read)),
    ("GET /api/v1/fill-control/refusal-counts", Act(Action::Read)),
    ("GET /api/v1/filling-permissions", Act(Action::Read)),
    (
        "POST /api/v1/filling-permissions",
        Act(Action::GrantFillingPermission),
    ),
    ("GET /api/v1/filling-permissions/{id}", Act(Action::Read)),
    (
        "POST /api/v1/filling-permissions/{id}/revoke",
        Act(Action::GrantFillingPermission),
    ),
    ("GET /api/v1/fills", Act(Action::Read)),
    ("GET /api/v1/fills/export", Act(Action::Read)),
    ("GET /api/v1/household-check-items", Act(Action::Read)),
    (
        "PUT /api/v1/household-check-items",
        Act(Action::ConfigureCheckItems),
    ),
    ("GET /api/v1/household-checks", Act(Action::Read)),
    ("POST /api/v1/household-checks", Act(Action::HouseholdCheck)),
    ("GET /api/v1/imports/{id}", Act(Action::Read)),
    ("GET /api/v1/inspection-applications", Act(Action::Read)),
    (
        "POST /api/v1/inspection-applications",
        Act(Action::RecordEvent(EventKind::InspectionSend)),
    ),
    ("POST /api/v1/inspection/results", Only(&[Inspector])),
    (
        "GET /api/v1/inspection/worklist",
        Act(Action::RecordEvent(EventKind::InspectionResult)),
    ),
    ("GET /api/v1/lab-tests", Act(Action::Read)),
    (
        "POST /api/v1/lab-tests",
        Act(Action::RecordEvent(EventKind::LabTest)),
    ),
    ("GET /api/v1/label-blocks", Act(Action::Read)),
    ("POST /api/v1/label-blocks", Act(Action::WriteCylinders)),
    (
        "POST /api/v1/label-blocks/{id}/issue",
        Act(Action::WriteCylinders),
    ),
    ("GET /api/v1/label-issues", Act(Action::Read)),
    ("GET /api/v1/labels/issuance", Act(Action::Read)),
    ("GET /api/v1/labels/sheet", Act(Action::Read)),
    ("POST /api/v1/labels/verify", Act(Action::Read)),
    ("GET /api/v1/labels/{code}", InScope(Action::Read)),
    ("GET /api/v1/labels/{code}/png", InScope(Action::Read)),
    ("GET /api/v1/labels/{code}/svg", InScope(Action::Read)),
    ("GET /api/v1/ledger/checkpoint", AnyLogin),
    ("GET /api/v1/ledger/entries/{index}", InScope(Action::Read)),
    ("GET /api/v1/ledger/proof/consistency", AnyLogin),
    ("GET /api/v1/ledger/proof/inclusion", AnyLogin),
    ("GET /api/v1/me", Act(Action::Read)),
    ("GET /api/v1/orders", Act(Action::Read)),
    ("POST /api/v1/orders", Act(Action::ManageOrders)),
    ("GET /api/v1/orders/{id}", InScope(Action::Read)),
    ("POST /api/v1/orders/{id}/cancel", Act(Action::ManageOrders)),
    (
        "POST /api/v1/orders/{id}/deliver",
        Act(Action::RecordEvent(EventKind::Deliver)),
    ),
    (
        "POST /api/v1/orders/{id}/dispatch",
        Act(Action::ManageOrders),
    ),
    ("GET /api/v1/orgs", Act(Action::Read)),
    ("POST /api/v1/orgs", Act(Action::CreateOrg)),
    ("GET /api/v1/orgs/{id}", InScope(Action::Read)),
    ("PATCH /api/v1/orgs/{id}", Act(Action::EditOrg)),
    ("GET /api/v1/orgs/{id}/documents", InScope(Action::Read)),
    (
        "POST /api/v1/orgs/{id}/documents",
        Act(Action::ManageTransport),
    ),
    (
        "PUT /api/v1/ps/accounts/{user_id}/sm4-key",
        Only(REGULATORS),
    ),
    ("GET /api/v1/ps/applications", Act(Action::Read)),
    (
        "POST /api/v1/ps/applications/{id}/approve",
        Only(REGULATORS),
    ),
    ("POST /api/v1/ps/applications/{id}/reject", Only(REGULATORS)),
    ("GET /api/v1/ps/business-counts", Act(Action::Read)),
    ("GET /api/v1/ps/check-applies", Act(Action::Read)),
    ("GET /api/v1/ps/spot-checks", Act(Action::Read)),
    ("POST /api/v1/ps/spot-checks", Only(REGULATORS)),
    ("GET /api/v1/public/cylinders/{code}", Public),
    ("GET /api/v1/public/labels", Public),
    ("GET /api/v1/rectifications", Act(Action::Read)),
    ("GET /api/v1/rectifications/reminders", Act(Action::Read)),
    (
        "POST /api/v1/rectifications/{id}/close",
        Act(Action::HouseholdCheck),
    ),
    ("GET /api/v1/recycling", Act(Action::Read)),
    ("GET /api/v1/recycling-orders", Act(Action::Read)),
    (
        "POST /api/v1/recycling-orders",
        Act(Action::RecordEvent(EventKind::Recycle)),
    ),
    ("GET /api/v1/recycling-orders/{id}", Act(Action::Read)),
    (
        "POST /api/v1/recycling-orders/{id}/cancel",
        Act(Action::ConfirmRecycling),
    ),
    (
        "POST /api/v1/recycling-orders/{id}/confirm",
        Act(Action::ConfirmRecycling),
    ),
    ("POST /api/v1/registrations", Act(Action::WriteCylinders)),
    ("GET /api/v1/regulator/alarms", Act(Action::Read)),
    ("GET /api/v1/repairs", Act(Action::Read)),
    (
        "POST /api/v1/repairs",
        Act(Action::RecordEvent(EventKind::Repair)),
    ),
    (
        "POST /api/v1/scan/{action}",
        Act(Action::RecordEvent(EventKind::StoreOut)),
    ),
    ("GET /api/v1/session", AnyLogin),
    ("GET /api/v1/sites", Act(Action::Read)),
    ("POST /api/v1/sites", Act(Action::CreateSite)),
    ("GET /api/v1/sites/{id}", InScope(Action::Read)),
    ("PATCH /api/v1/sites/{id}", Act(Action::EditSite)),
    ("GET /api/v1/stock", Act(Action::Read)),
    ("GET /api/v1/stock/export", Act(Action::Read)),
    ("GET /api/v1/stock/{site_id}/codes", InScope(Action::Read)),
    (
        "GET /api/v1/stock/{site_id}/stocktakes",
        InScope(Action::Read),
    ),
    (
        "POST /api/v1/stock/{site_id}/stocktakes",
        Act(Action::RecordEvent(EventKind::StoreIn)),
    ),
    ("GET /api/v1/supervision", Act(Action::Read)),
    ("GET /api/v1/supervision/statistics", Act(Action::Read)),
    ("GET /api/v1/transport-staff", Act(Action::Read)),
    ("POST /api/v1/transport-staff", Act(Action::ManageTransport)),
    ("GET /api/v1/uplink/status", Act(Action::Read)),
    ("GET /api/v1/users", Act(Action::Read)),
    ("POST /api/v1/users", Act(Action::CreateUser)),
    ("GET /api/v1/users/{id}", InScope(Action::Read)),
    ("PATCH /api/v1/users/{id}", Act(Action::CreateUser)),
    ("POST /api/v1/users/{id}/password", Act(Action::CreateUser)),
    ("DELETE /api/v1/users/{id}/totp", Act(Action::CreateUser)),
    ("GET /api/v1/vehicle-cylinders", Act(Action::Read)),
    (
        "POST /api/v1/vehicle-cylinders",
        Act(Action::WriteCylinders),
    ),
    ("GET /api/v1/vehicle-cylinders/{code}", Act(Action::Read)),
    (
        "GET /api/v1/vehicle-cylinders/{code}/labels",
        Act(Action::Read),
    ),
    ("GET /api/v1/vehicles", Act(Action::Read)),
    ("POST /api/v1/vehicles", Act(Action::ManageTransport)),
    ("GET /api/v1/vehicles/positions", Act(Action::Read)),
    ("GET /api/v1/vehicles/{id}", InScope(Action::Read)),
    ("GET /api/v1/vehicles/{id}/positions", InScope(Action::Read)),
    (
        "POST /api/v1/vehicles/{id}/positions",
        Act(Action::ReportPosition),
    ),
    ("GET /api/v1/waybills", Act(Action::Read)),
    ("POST /api/v1/waybills", Act(Action::ManageTransport)),
    ("GET /api/v1/waybills/{id}", InScope(Action::Read)),
    ("GET /app", Public),
    ("GET /app/", AnyLogin),
    ("GET /app/{file}", Public),
    ("GET /articles", Public),
    ("GET /articles/{id}", Public),
    ("GET /assets/site.css", Public),
    ("GET /bigscreen", Only(REGULATORS)),
    ("GET /complaint", Public),
    ("POST /complaint", Public),
    ("GET /complaint/{code}", Public),
    ("GET /console", Only(ENTERPRISE)),
    ("GET /console/batches", Only(ENTERPRISE)),
    ("POST /console/batches", Only(ENTERPRISE)),
    ("GET /console/batches/{id}", Only(ENTERPRISE)),
    ("GET /console/checks", Only(ENTERPRISE)),
    ("GET /console/customers", Only(ENTERPRISE)),
    ("POST /console/customers", Only(ENTERPRISE)),
    ("GET /console/customers/{id}", Only(ENTERPRISE)),
    ("POST /console/customers/{id}/deposits", Only(ENTERPRISE)),
    ("POST /console/customers/{id}/verify", Only(ENTERPRISE)),
    ("GET /console/cylinders", Only(REGULATOR_AND_ENTERPRISE)),
    ("GET /console/cylinders/{code}", InScope(Action::Read)),
    (
        "POST /console/cylinders/{code}/archive",
        Act(Action::EditArchive),
    ),
    (
        "POST /console/cylinders/{code}/state",
        Act(Action::LockCylinder),
    ),
    ("GET /console/fills", Only(ENTERPRISE)),
    ("GET /console/household-checks", Only(ENTERPRISE)),
    ("POST /console/household-checks", Only(ENTERPRISE)),
    ("GET /console/imports", Only(ENTERPRISE)),
    ("POST /console/imports", Only(ENTERPRISE)),
    ("GET /console/imports/{id}", Only(ENTERPRISE)),
    ("GET /console/inspections", Only(ENTERPRISE)),
    ("POST /console/inspections/apply", Only(ENTERPRISE)),
    ("GET /console/lab-tests", Only(ENTERPRISE)),
    ("POST /console/lab-tests", Only(ENTERPRISE)),
    ("GET /console/label-blocks", Only(ENTERPRISE)),
    ("POST /console/label-blocks", Only(ENTERPRISE)),
    ("POST /console/label-blocks/issue", Only(ENTERPRISE)),
    ("GET /console/labels", Only(ENTERPRISE)),
    ("GET /console/messages", Only(&[EnterpriseAdmin])),
    ("POST /console/messages/{id}/ack", Only(&[EnterpriseAdmin])),
    ("GET /console/order-requests/{id}", Only(ENTERPRISE)),
    (
        "POST /console/order-requests/{id}/convert",
        Only(ENTERPRISE),
    ),
    (
        "POST /console/order-requests/{id}/{state}",
        Only(ENTERPRISE),
    ),
    ("GET /console/orders", Only(ENTERPRISE)),
    ("POST /console/orders", Act(Action::ManageOrders)),
    (
        "POST /console/orders/{id}/dispatch",
        Act(Action::ManageOrders),
    ),
    ("GET /console/org", Only(REGULATOR_AND_ENTERPRISE)),
    ("GET /console/org/{id}", Only(REGULATOR_AND_ENTERPRISE)),
    ("POST /console/org/{id}", Act(Action::EditOrg)),
    ("POST /console/org/{id}/licence", Act(Action::EditOrg)),
    ("GET /console/recycling", Only(ENTERPRISE)),
    ("GET /console/recycling-orders", Only(ENTERPRISE)),
    ("POST /console/recycling-orders", Only(ENTERPRISE)),
    ("GET /console/recycling-orders/{id}", Only(ENTERPRISE)),
    (
        "POST /console/recycling-orders/{id}/cancel",
        Only(ENTERPRISE),
    ),
    (
        "POST /console/recycling-orders/{id}/confirm",
        Only(ENTERPRISE),
    ),
    ("GET /console/refusals", Only(ENTERPRISE)),
    ("GET /console/repairs", Only(ENTERPRISE)),
    ("POST /console/repairs", Only(ENTERPRISE)),
    ("GET /console/sites", Only(ENTERPRISE)),
    ("POST /console/sites", Only(ENTERPRISE)),
    ("GET /console/sites/{id}", Only(REGULATOR_AND_ENTERPRISE)),
    ("POST /console/sites/{id}", Act(Action::EditSite)),
    ("POST /console/sites/{id}/active", Act(Action::EditSite)),
    ("GET /console/spot-checks", Only(ENTERPRISE)),
    ("GET /console/spot-checks/{id}", Only(ENTERPRISE)),
    ("POST /console/spot-checks/{id}", Only(ENTERPRISE)),
    ("GET /console/spot-checks/{id}/photos/{n}", Only(ENTERPRISE)),
    ("GET /console/staff", Only(ENTERPRISE)),
    ("POST /console/staff", Only(ENTERPRISE)),
    ("GET /console/staff/{id}", Only(ENTERPRISE)),
    ("POST /console/staff/{id}", Only(ENTERPRISE)),
    ("POST /console/staff/{id}/password", Only(ENTERPRISE)),
    ("POST /console/staff/{id}/totp", Only(ENTERPRISE)),
    ("GET /console/stock", Only(ENTERPRISE)),
    ("GET /console/transport", Only(ENTERPRISE)),
    ("GET /console/transport-staff", Only(ENTERPRISE)),
    ("POST /console/transport-staff", Only(ENTERPRISE)),
    ("GET /console/vehicles", Only(ENTERPRISE)),
    ("POST /console/vehicles", Only(ENTERPRISE)),
    ("GET /console/waybills", Only(ENTERPRISE)),
    ("POST /console/waybills", Only(ENTERPRISE)),
    ("GET /console/waybills/{id}", Only(ENTERPRISE)),
    ("POST /console/waybills/{id}/moves", Only(ENTERPRISE)),
    ("GET /favicon.ico", Public),
    ("GET /healthz", Public),
    ("GET /inspection", Only(&[Inspector])),
    ("POST /inspection/results", Only(&[Inspector])),
    ("GET /login", Public),
    ("POST /login", Public),
    ("POST /login/totp", Public),
    ("POST /logout", Public),
    ("GET /messages", Act(Action::Read)),
    ("GET /metrics", Public),
    ("GET /q/{code}", Public),
    ("GET /q/{code}/complaint", Public),
    ("POST /q/{code}/complaint", Public),
    ("GET /q/{code}/order", Public),
    ("POST /q/{code}/order", Public),
    ("GET /readyz", Public),
    ("GET /supervision", Only(REGULATORS)),
    ("GET /supervision/abnormal", Only(REGULATORS)),
    ("GET /supervision/articles", Only(REGULATORS)),
    ("POST /supervision/articles", Only(REGULATORS)),
    ("GET /supervision/check-items", Only(REGULATORS)),
    ("POST /supervision/check-items", Only(REGULATORS)),
    ("GET /supervision/complaints", Only(REGULATORS)),
    ("GET /supervision/complaints/{id}", Only(REGULATORS)),
    ("POST /supervision/complaints/{id}", Only(REGULATORS)),
    (
        "GET /supervision/complaints/{id}/photos/{n}",
        Only(REGULATORS),
    ),
    ("GET /supervision/enterprises", Only(REGULATORS)),
    ("GET /supervision/inspection", Only(REGULATORS)),
    ("GET /supervision/map", Only(REGULATORS)),
    ("GET /supervision/messages", Only(REGULATORS)),
    ("POST /supervision/messages", Only(REGULATORS)),
    ("GET /supervision/overstock", Only(REGULATORS)),
    ("GET /supervision/permissions", Only(REGULATORS)),
    ("POST /supervision/permissions", Only(REGULATORS)),
    (
        "POST /supervision/permissions/cylinder-state",
        Only(REGULATORS),
    ),
    (
        "POST /supervision/permissions/{id}/revoke",
        Only(REGULATORS),
    ),
    ("GET /supervision/progress", Only(REGULATORS)),
    ("GET /supervision/recycling", Only(REGULATORS)),
    ("GET /supervision/registrations", Only(REGULATORS)),
    (
        "POST /supervision/registrations/{id}/{decision}",
        Only(REGULATORS),
    ),
    ("GET /supervision/scrap", Only(REGULATORS)),
    ("GET /supervision/spot-checks", Only(REGULATORS)),
    (
        "GET /supervision/spot-checks/{id}/photos/{n}",
        Only(REGULATORS),
    ),
    ("GET /supervision/statistics", Only(REGULATORS)),
];
