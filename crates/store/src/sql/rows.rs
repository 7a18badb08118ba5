//! Rows → domain types, for both backends (columns are read by name through [`Row::get`]). A row
//! that no longer decodes is `StoreError::Corrupt`, never a default.

use cyltrace_domain::event::Position;
use cyltrace_domain::units::Text;
use cyltrace_domain::{CylinderCode, Event, EventData, OrgKind, RegionCode, Role, SiteKind};
use cyltrace_ledger::Hash;

use super::db::Row;
use crate::model::*;
use crate::{Result, StoreError};

/// The columns of an event row as [`event`] reads them (from `events e`).
pub const EVENT_COLUMNS: &str = "e.ledger_index, e.event_id, e.kind, e.codes, e.time_us, e.site_id, e.operator, e.device, e.lat, e.lon, e.data, e.org_id, e.recorded_by, e.created_at";
/// The columns of a user row as [`user`] reads them (from `users u join orgs o`).
pub const USER_COLUMNS: &str = "u.user_id, u.org_id, u.username, u.password_hash, u.name, u.roles, u.failed_logins, u.locked_until, u.created_at, u.active, u.must_change_password, u.totp_enabled_at, o.path";
/// The columns of a cylinder row as [`cylinder`] reads them (from `cylinders c join orgs o`).
pub const CYLINDER_COLUMNS: &str =
    "c.cylinder_id, c.archive, c.status, c.org_id, c.created_at, c.updated_at, o.path";

fn corrupt(what: &str, v: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {v}"))
}

fn hash(r: &Row, col: &str) -> Result<Hash> {
    Hash::from_slice(&r.get::<Vec<u8>>(col)?).map_err(|e| corrupt(col, e))
}

fn size(r: &Row, col: &str) -> Result<u64> {
    let n: i64 = r.get(col)?;
    u64::try_from(n).map_err(|_| corrupt(col, n))
}

pub fn org(r: &Row) -> Result<OrgRecord> {
    let kind: String = r.get("kind")?;
    let region: String = r.get("region_code")?;
    Ok(OrgRecord {
        id: r.uuid("org_id")?,
        kind: OrgKind::parse(&kind).ok_or_else(|| corrupt("org kind", &kind))?,
        name: r.get("name")?,
        region_code: RegionCode::parse(&region).map_err(StoreError::Corrupt)?,
        parent_id: r.opt_uuid("parent_id")?,
        credit_code: r.get("credit_code")?,
        licences: r.json("licences")?,
        phone: r.get("phone")?,
        address: r.get("address")?,
        path: r.get("path")?,
        created_at: r.time("created_at")?,
    })
}

pub fn site(r: &Row) -> Result<SiteRecord> {
    let kind: String = r.get("kind")?;
    Ok(SiteRecord {
        id: r.uuid("site_id")?,
        org_id: r.uuid("org_id")?,
        kind: SiteKind::parse(&kind).ok_or_else(|| corrupt("site kind", &kind))?,
        name: r.get("name")?,
        address: r.get("address")?,
        lat: r.get("lat")?,
        lon: r.get("lon")?,
        active: r.get("active")?,
        org_path: r.get("path")?,
        created_at: r.time("created_at")?,
    })
}

pub fn permission(r: &Row) -> Result<FillingPermission> {
    let until: String = r.get("valid_until")?;
    Ok(FillingPermission {
        id: r.uuid("permission_id")?,
        owner_org_id: r.uuid("owner_org_id")?,
        filler_org_id: r.uuid("filler_org_id")?,
        valid_until: cyltrace_domain::Date::parse(&until).map_err(StoreError::Corrupt)?,
        granted_by: r.uuid("granted_by")?,
        granted_org_id: r.uuid("granted_org_id")?,
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        revoked_by: r.opt_uuid("revoked_by")?,
    })
}

pub fn user(r: &Row) -> Result<UserRecord> {
    let roles: Vec<String> = r.json("roles")?;
    let roles = roles
        .iter()
        .map(|s| Role::parse(s).ok_or_else(|| corrupt("role", s)))
        .collect::<Result<Vec<_>>>()?;
    Ok(UserRecord {
        id: r.uuid("user_id")?,
        org_id: r.uuid("org_id")?,
        username: r.get("username")?,
        password_hash: r.get("password_hash")?,
        name: r.get("name")?,
        roles,
        failed_logins: r.get("failed_logins")?,
        locked_until: r.opt_time("locked_until")?,
        org_path: r.get("path")?,
        created_at: r.time("created_at")?,
        active: r.get("active")?,
        must_change_password: r.get("must_change_password")?,
        totp_enabled: r.get::<Option<i64>>("totp_enabled_at")?.is_some(),
    })
}

pub fn cylinder(r: &Row) -> Result<CylinderRecord> {
    Ok(CylinderRecord {
        id: r.get("cylinder_id")?,
        archive: r.json("archive")?,
        status: r.json("status")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn cylinder_code(r: &Row) -> Result<CylinderCode> {
    CylinderCode::parse(&r.get::<String>("code")?).map_err(StoreError::Corrupt)
}

pub fn event(r: &Row) -> Result<StoredEvent> {
    let event_id: String = r.get("event_id")?;
    let kind: String = r.get("kind")?;
    let data: serde_json::Value = r.json("data")?;
    let data: EventData = serde_json::from_value(serde_json::json!({"kind": kind, "data": data}))
        .map_err(|e| corrupt(&format!("event {event_id}:"), e))?;
    let text = |col: &str| -> Result<Option<Text>> {
        r.get::<Option<String>>(col)?
            .map(|s| Text::parse(&s))
            .transpose()
            .map_err(StoreError::Corrupt)
    };
    let lat: Option<f64> = r.get("lat")?;
    let lon: Option<f64> = r.get("lon")?;
    Ok(StoredEvent {
        event: Event {
            id: uuid::Uuid::parse_str(&event_id).map_err(|e| corrupt("event id", e))?,
            data,
            codes: r.json("codes")?,
            time: r.time("time_us")?,
            site_id: r.opt_uuid("site_id")?,
            operator: text("operator")?,
            device: text("device")?,
            position: lat.zip(lon).map(|(lat, lon)| Position { lat, lon }),
        },
        ledger_index: r.get("ledger_index")?,
        recorded_at: r.time("created_at")?,
        recorded_by: r.opt_uuid("recorded_by")?,
        org_id: r.uuid("org_id")?,
    })
}

pub fn decision(r: &Row) -> Result<DecisionRecord> {
    Ok(DecisionRecord {
        id: r.uuid("decision_id")?,
        at: r.time("at")?,
        user_id: r.opt_uuid("user_id")?,
        org_id: r.uuid("org_id")?,
        site_id: r.uuid("site_id")?,
        code: r.get("code")?,
        medium: r.get("medium")?,
        allow: r.get("allow")?,
        refusals: r.json("refusals")?,
        illegal_label: r.get("illegal_label")?,
        fill_limit_kg: r.get("fill_limit_kg")?,
        target_gross_kg: r.get("target_gross_kg")?,
    })
}

pub fn alarm(r: &Row) -> Result<AlarmRecord> {
    Ok(AlarmRecord {
        id: r.get("alarm_id")?,
        kind: r.get("kind")?,
        code: r.get("code")?,
        event_id: r.uuid("event_id")?,
        org_id: r.uuid("org_id")?,
        site_id: r.opt_uuid("site_id")?,
        message: r.get("message")?,
        at: r.time("at")?,
    })
}

pub fn batch(r: &Row) -> Result<BatchRecord> {
    Ok(BatchRecord {
        id: r.uuid("batch_id")?,
        org_id: r.uuid("org_id")?,
        number: r.get("number")?,
        name: r.get("name")?,
        site_id: r.opt_uuid("site_id")?,
        medium: r.get("medium")?,
        created_by: r.opt_uuid("created_by")?,
        created_at: r.time("created_at")?,
    })
}

pub fn checkpoint(r: &Row) -> Result<CheckpointRecord> {
    Ok(CheckpointRecord {
        size: size(r, "size")?,
        root: hash(r, "root")?,
        time: r.time("time_us")?,
        text: r.get("text")?,
        signature: r.get("signature")?,
        public_key: r.get("public_key")?,
    })
}

pub fn audit(r: &Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: r.get("audit_id")?,
        at: r.time("at")?,
        user_id: r.opt_uuid("user_id")?,
        username: r.get("username")?,
        org_id: r.opt_uuid("org_id")?,
        org_path: r.get("org_path")?,
        method: r.get("method")?,
        path: r.get("path")?,
        status: r.get("status")?,
        ip: r.get("ip")?,
        detail: r.get("detail")?,
    })
}

pub fn ps_doc(r: &Row) -> Result<PsDoc> {
    Ok(PsDoc {
        id: r.get("doc_id")?,
        kind: r.get("kind")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        target_org_id: r.opt_uuid("target_org_id")?,
        third_id: r.get("third_id")?,
        state: r.get("state")?,
        body: r.json("body")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn witness(r: &Row) -> Result<WitnessRecord> {
    Ok(WitnessRecord {
        user_id: r.uuid("user_id")?,
        origin: r.get("origin")?,
        size: size(r, "size")?,
        root: hash(r, "root")?,
        text: r.get("text")?,
        signature: r.get("signature")?,
        public_key: r.get("public_key")?,
        received_at: r.time("received_at")?,
    })
}

pub fn declared_leaf(r: &Row) -> Result<(i64, Hash)> {
    Ok((r.get("ledger_index")?, hash(r, "leaf_hash")?))
}

pub fn reg_alarm(r: &Row) -> Result<RegAlarm> {
    Ok(RegAlarm {
        id: r.get("alarm_id")?,
        org_id: r.uuid("org_id")?,
        kind: r.get("kind")?,
        message: r.get("message")?,
        at: r.time("at")?,
    })
}

pub fn biz(r: &Row) -> Result<BizRecord> {
    Ok(BizRecord {
        id: r.uuid("record_id")?,
        kind: r.get("kind")?,
        org_id: r.uuid("org_id")?,
        org_path: r.get("path")?,
        key: r.get("key")?,
        ref_id: r.opt_uuid("ref_id")?,
        state: r.get("state")?,
        due: r.opt_time("due")?,
        body: r.json("body")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn position(r: &Row) -> Result<VehiclePosition> {
    Ok(VehiclePosition {
        vehicle_id: r.uuid("vehicle_id")?,
        org_id: r.uuid("org_id")?,
        time: r.time("time_us")?,
        lat: r.get("lat")?,
        lon: r.get("lon")?,
        speed: r.get("speed")?,
        heading: r.get("heading")?,
    })
}
