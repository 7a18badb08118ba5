//! Response bodies. Store records are turned into these and never serialised directly (no password
//! hashes, times in China Standard Time).

use cyltrace_domain::status::{CylinderStatus, LabelStatus, LocationKind};
use cyltrace_domain::{Archive, CylinderState, Licence, OrgKind, QrId, Role, SiteKind, Timestamp};
use cyltrace_store::{AuditRecord, CylinderRecord, OrgRecord, SiteRecord, StoredEvent, UserRecord};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct IdView {
    pub id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    pub id: Uuid,
    pub kind: OrgKind,
    pub name: String,
    pub region_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
    pub licences: Vec<Licence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub created_at: Timestamp,
}

impl From<OrgRecord> for OrgView {
    fn from(o: OrgRecord) -> Self {
        OrgView {
            id: o.id,
            kind: o.kind,
            name: o.name,
            region_code: o.region_code.to_string(),
            parent_id: o.parent_id,
            credit_code: o.credit_code,
            licences: o.licences,
            phone: o.phone,
            address: o.address,
            created_at: o.created_at.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SiteView {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: SiteKind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// `false` once closed: no new records; its history stays.
    pub active: bool,
    pub created_at: Timestamp,
}

impl From<SiteRecord> for SiteView {
    fn from(s: SiteRecord) -> Self {
        SiteView {
            id: s.id,
            org_id: s.org_id,
            kind: s.kind,
            name: s.name,
            address: s.address,
            lat: s.lat,
            lon: s.lon,
            active: s.active,
            created_at: s.created_at.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub name: String,
    pub org_id: Uuid,
    pub roles: Vec<Role>,
    pub created_at: Timestamp,
    /// False once deactivated (停用): no login, no session.
    pub active: bool,
    /// A temporary password is set: it must be changed at the next login.
    pub must_change_password: bool,
    /// A TOTP second factor is enrolled.
    pub totp_enabled: bool,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            name: u.name,
            org_id: u.org_id,
            roles: u.roles,
            created_at: u.created_at.into(),
            active: u.active,
            must_change_password: u.must_change_password,
            totp_enabled: u.totp_enabled,
        }
    }
}

/// The contract's `status` object, plus the facts the filling rules read.
#[derive(Serialize, ToSchema)]
pub struct StatusView {
    pub state: CylinderState,
    pub location_kind: LocationKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fill_at: Option<Timestamp>,
    pub next_check_date: Option<String>,
    pub label: LabelStatus,
    pub full: bool,
    pub post_fill_checked: bool,
    pub out_since_fill: bool,
    pub back_since_out: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_pre_fill_pass_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<Timestamp>,
    pub event_count: u64,
}

impl From<&CylinderStatus> for StatusView {
    fn from(s: &CylinderStatus) -> Self {
        StatusView {
            state: s.state,
            location_kind: s.location_kind,
            site_id: s.site_id,
            last_fill_at: s.last_fill_at.map(Timestamp),
            next_check_date: s.next_check_date.map(|d| d.to_string()),
            label: s.label,
            full: s.full,
            post_fill_checked: s.post_fill_checked,
            out_since_fill: s.out_since_fill,
            back_since_out: s.back_since_out,
            last_pre_fill_pass_at: s.last_pre_fill_pass_at.map(Timestamp),
            failed_check: s.failed_check.clone(),
            tag_uid: s.tag_uid.as_ref().map(|t| t.to_string()),
            last_event_at: s.last_event_at.map(Timestamp),
            event_count: s.event_count,
        }
    }
}

/// The archive as it stands now (registration, check dates and state follow the events), the
/// node's numeric id, the 16-digit QR id, and the status.
#[derive(Serialize)]
pub struct CylinderView {
    #[serde(flatten)]
    pub archive: Archive,
    pub archive_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_id: Option<String>,
    pub status: StatusView,
}

/// One object: the archive's properties and the view's three. (A derived schema would be
/// `allOf: [Archive, {…}]`, and Archive — a request body that refuses unknown fields — says
/// `additionalProperties: false`, which under `allOf` refuses the view's own fields: no answer
/// could match.)
impl utoipa::PartialSchema for CylinderView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type,
        };
        use utoipa::openapi::{Ref, RefOr};
        let mut obj = match <Archive as utoipa::PartialSchema>::schema() {
            RefOr::T(Schema::Object(o)) => o,
            _ => Object::new(),
        };
        obj.additional_properties = None;
        obj.description = Some(
            "The archive as it stands now (registration, check dates and state follow the \
             events), the node's numeric id, the 16-digit QR id, and the status."
                .to_owned(),
        );
        obj.properties.insert(
            "archive_id".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .into(),
        );
        obj.properties.insert(
            "qr_id".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "The 16-digit QR id (when the archive names its region)",
                ))
                .into(),
        );
        obj.properties.insert(
            "status".to_owned(),
            Ref::from_schema_name("StatusView").into(),
        );
        obj.required
            .extend(["archive_id".to_owned(), "status".to_owned()]);
        RefOr::T(Schema::Object(obj))
    }
}

impl ToSchema for CylinderView {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <Archive as ToSchema>::schemas(schemas);
        schemas.push((
            StatusView::name().into(),
            <StatusView as utoipa::PartialSchema>::schema(),
        ));
        <StatusView as ToSchema>::schemas(schemas);
    }
}

impl From<CylinderRecord> for CylinderView {
    fn from(c: CylinderRecord) -> Self {
        let mut archive = c.archive;
        archive.registration = c.status.registration.clone();
        archive.last_check_date = c.status.last_check_date;
        archive.next_check_date = c.status.next_check_date;
        archive.state = c.status.state;
        let qr_id = archive.region_code.map(|region| {
            QrId {
                region,
                code: archive.code.clone(),
            }
            .digits()
        });
        CylinderView {
            archive,
            archive_id: c.id,
            qr_id,
            status: StatusView::from(&c.status),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub kind: cyltrace_domain::EventKind,
    #[schema(value_type = Vec<String>)]
    pub codes: Vec<cyltrace_domain::CylinderCode>,
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    pub data: Value,
    pub ledger_index: i64,
    pub recorded_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<Uuid>,
    pub org_id: Uuid,
}

impl From<StoredEvent> for EventView {
    fn from(s: StoredEvent) -> Self {
        let e = s.event;
        EventView {
            id: e.id,
            kind: e.kind(),
            data: e.data.data_json(),
            codes: e.codes,
            time: e.time.into(),
            site_id: e.site_id,
            operator: e.operator.map(|t| t.to_string()),
            device: e.device.map(|t| t.to_string()),
            lat: e.position.map(|p| p.lat),
            lon: e.position.map(|p| p.lon),
            ledger_index: s.ledger_index,
            recorded_at: s.recorded_at.into(),
            recorded_by: s.recorded_by,
            org_id: s.org_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    pub method: String,
    pub path: String,
    pub status: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditView {
    fn from(a: AuditRecord) -> Self {
        AuditView {
            id: a.id,
            at: a.at.into(),
            user_id: a.user_id,
            username: a.username,
            org_id: a.org_id,
            method: a.method,
            path: a.path,
            status: a.status,
            ip: a.ip,
            detail: a.detail,
        }
    }
}
