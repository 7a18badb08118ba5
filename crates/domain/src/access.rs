//! Who may do what: permission = role × data scope (G1). This module decides the role half; the data
//! scope half (the user's organisation subtree) is decided by the services with the organisation tree.

use crate::event::EventKind;
use crate::org::Role;

/// An action on the platform that needs a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateOrg,
    CreateSite,
    CreateUser,
    WriteCylinders,
    RecordEvent(EventKind),
    ReadAudit,
    /// Ask whether a cylinder may be filled (`POST /fill-control`).
    FillControl,
    /// Define filling batches.
    ManageBatches,
    /// Read cylinders, sites, users and events inside the data scope.
    Read,
    /// Register vehicles, drivers and escorts, carrier documents; issue waybills (C2).
    ManageTransport,
    /// Report vehicle positions (C2).
    ReportPosition,
    /// Register customers and bind them to a dealer (C6).
    RegisterCustomers,
    /// Verify a customer's real name, take deposits (C5, C6).
    ManageCustomers,
    /// Create orders and dispatch them to couriers (C3).
    ManageOrders,
    /// Record household safety checks and close rectification tasks (C9).
    HouseholdCheck,
    /// Configure the household check items (E8).
    ConfigureCheckItems,
    /// Change an organisation's name, phone, address, credit code and licences (issue 16).
    EditOrg,
    /// Change a site, close it or open it again.
    EditSite,
    /// Correct any field of a cylinder archive (`archive_change`).
    EditArchive,
    /// Lock a cylinder (take it out of use, A10) or unlock it.
    LockCylinder,
    /// Permit entrusted filling of an owner's cylinders by another enterprise (B9 委托充装).
    GrantFillingPermission,
    /// Confirm (or cancel) a recycling order at the station: the empty cylinders were received (C4).
    ConfirmRecycling,
    /// Register devices and device types, issue their secrets, call their services; define alarm
    /// rules and notification channels (issue 18).
    ManageDevices,
    /// Acknowledge or clear a device alarm (issue 18, C10): the enterprise, or the regulator.
    AckAlarms,
}

/// Whether a principal holding `roles` may perform `action` (within its data scope).
pub fn allowed(roles: &[Role], action: Action) -> bool {
    roles.iter().any(|r| role_allows(*r, action))
}

fn role_allows(role: Role, action: Action) -> bool {
    use EventKind as K;
    use Role as R;
    match (role, action) {
        (R::NodeAdmin, _) => true,
        (R::Customer, Action::Read) => false,
        (_, Action::Read) => true,
        (
            R::Regulator,
            Action::CreateOrg | Action::CreateSite | Action::CreateUser | Action::ReadAudit,
        ) => true,
        (R::Regulator, Action::WriteCylinders) => true,
        // Regulators record registrations and scrapping decided on their side.
        (R::Regulator, Action::RecordEvent(K::Register | K::Scrap)) => true,
        // A regulator locks and unlocks archives (the service lets it change nothing else).
        (R::Regulator, Action::RecordEvent(K::ArchiveChange)) => true,
        (
            R::EnterpriseAdmin,
            Action::CreateOrg | Action::CreateSite | Action::CreateUser | Action::WriteCylinders,
        ) => true,
        (R::EnterpriseAdmin, Action::RecordEvent(_)) => true,
        (R::EnterpriseAdmin, Action::ManageBatches) => true,
        (R::Filler, Action::FillControl | Action::ManageBatches) => true,
        (
            R::Filler,
            Action::RecordEvent(
                K::Fill | K::PreFillCheck | K::InFillCheck | K::PostFillCheck | K::TagBind,
            ),
        ) => true,
        (
            R::Checker,
            Action::RecordEvent(K::PreFillCheck | K::InFillCheck | K::PostFillCheck | K::TagBind),
        ) => true,
        // The station's technical staff test the gas and repair cylinders (B8).
        (R::Checker, Action::RecordEvent(K::LabTest | K::Repair)) => true,
        (R::Warehouse | R::EnterpriseAdmin, Action::ConfirmRecycling) => true,
        (R::EnterpriseAdmin, Action::ManageDevices | Action::AckAlarms) => true,
        (R::Regulator, Action::AckAlarms) => true,
        (
            R::Warehouse,
            Action::RecordEvent(
                K::StoreIn | K::StoreOut | K::Recycle | K::TagBind | K::InspectionSend,
            ),
        ) => true,
        (R::Driver, Action::RecordEvent(K::Load | K::Unload)) => true,
        (R::Courier, Action::RecordEvent(K::Deliver | K::Recycle)) => true,
        (R::Inspector, Action::RecordEvent(K::InspectionResult | K::Scrap)) => true,
        (
            R::EnterpriseAdmin,
            Action::ManageTransport
            | Action::ReportPosition
            | Action::RegisterCustomers
            | Action::ManageCustomers
            | Action::ManageOrders
            | Action::HouseholdCheck,
        ) => true,
        (R::Regulator, Action::ConfigureCheckItems) => true,
        (
            R::Regulator,
            Action::EditOrg
            | Action::EditSite
            | Action::LockCylinder
            | Action::GrantFillingPermission,
        ) => true,
        (
            R::EnterpriseAdmin,
            Action::EditOrg | Action::EditSite | Action::EditArchive | Action::LockCylinder,
        ) => true,
        (R::Driver, Action::ReportPosition) => true,
        (R::Courier, Action::RegisterCustomers | Action::ManageOrders | Action::HouseholdCheck) => {
            true
        }
        // A lower platform uploads the trace records of the enterprises under it (/PS).
        (
            R::Platform,
            Action::RecordEvent(K::PreFillCheck | K::Fill | K::PostFillCheck | K::InspectionResult),
        ) => true,
        _ => false,
    }
}

/// Roles a creator may grant: a node admin grants any; a regulator any but node admin; an enterprise
/// admin only the enterprise's own roles.
pub fn may_grant(creator: &[Role], role: Role) -> bool {
    if creator.contains(&Role::NodeAdmin) {
        return true;
    }
    if creator.contains(&Role::Regulator) && role != Role::NodeAdmin {
        return true;
    }
    creator.contains(&Role::EnterpriseAdmin) && !matches!(role, Role::NodeAdmin | Role::Regulator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_fills_but_does_not_deliver() {
        assert!(allowed(
            &[Role::Filler],
            Action::RecordEvent(EventKind::Fill)
        ));
        assert!(!allowed(
            &[Role::Filler],
            Action::RecordEvent(EventKind::Deliver)
        ));
        assert!(!allowed(&[Role::Filler], Action::CreateUser));
        assert!(allowed(
            &[Role::Filler, Role::Courier],
            Action::RecordEvent(EventKind::Deliver)
        ));
    }

    #[test]
    fn only_fillers_ask_for_fill_control() {
        assert!(allowed(&[Role::Filler], Action::FillControl));
        assert!(!allowed(&[Role::EnterpriseAdmin], Action::FillControl));
        assert!(!allowed(
            &[Role::Checker, Role::Courier],
            Action::FillControl
        ));
    }

    #[test]
    fn only_admins_and_regulators_read_audit() {
        assert!(allowed(&[Role::NodeAdmin], Action::ReadAudit));
        assert!(allowed(&[Role::Regulator], Action::ReadAudit));
        assert!(!allowed(&[Role::EnterpriseAdmin], Action::ReadAudit));
    }

    #[test]
    fn enterprise_admin_cannot_grant_regulator_or_node_admin() {
        assert!(may_grant(&[Role::EnterpriseAdmin], Role::Filler));
        assert!(!may_grant(&[Role::EnterpriseAdmin], Role::Regulator));
        assert!(!may_grant(&[Role::Regulator], Role::NodeAdmin));
        assert!(may_grant(&[Role::NodeAdmin], Role::NodeAdmin));
    }
}
