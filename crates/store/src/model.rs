//! Records the store hands out: domain types plus what the store adds (ids, tree paths, times).

use chrono::{DateTime, Utc};
use cyltrace_domain::{
    Archive, CylinderStatus, Event, Licence, OrgKind, RegionCode, Role, SiteKind,
};
use uuid::Uuid;

/// Data scope: a prefix of the organisation tree path. `Scope::all()` sees everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(pub String);

impl Scope {
    pub fn all() -> Self {
        Scope("/".to_owned())
    }

    /// Whether an organisation with tree path `path` lies inside this scope.
    pub fn contains(&self, path: &str) -> bool {
        path.starts_with(&self.0)
    }

    /// The `like` pattern of the subtree (`/a/b/%`).
    pub fn like(&self) -> String {
        format!("{}%", self.0)
    }
}

/// The `like` pattern of an optional scope (`None` matches everything).
pub(crate) fn scope_like(scope: &Option<Scope>) -> Option<String> {
    scope.as_ref().map(Scope::like)
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrgRecord {
    pub id: Uuid,
    pub kind: OrgKind,
    pub name: String,
    pub region_code: RegionCode,
    pub parent_id: Option<Uuid>,
    pub credit_code: Option<String>,
    pub licences: Vec<Licence>,
    /// The phone the public label page offers to call (订气、报修、咨询).
    pub phone: Option<String>,
    pub address: Option<String>,
    /// `/<root id>/…/<own id>/`: the subtree of an organisation is every path with this prefix.
    pub path: String,
    pub created_at: DateTime<Utc>,
}

impl OrgRecord {
    /// The tree path of a child of `parent` (or of a root when `parent` is `None`).
    pub fn child_path(parent: Option<&str>, id: Uuid) -> String {
        format!("{}{}/", parent.unwrap_or("/"), id)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: SiteKind,
    pub name: String,
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// `false` once the site is closed: it takes no new records, its history stays.
    pub active: bool,
    pub org_path: String,
    pub created_at: DateTime<Utc>,
}

/// A regulator's permission for a filling enterprise to fill another owner's cylinders (B9 委托充装),
/// up to and including `valid_until`, unless revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct FillingPermission {
    pub id: Uuid,
    pub owner_org_id: Uuid,
    pub filler_org_id: Uuid,
    pub valid_until: cyltrace_domain::Date,
    pub granted_by: Uuid,
    /// The regulator that granted it.
    pub granted_org_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub username: String,
    /// Argon2id PHC string; never serialised to clients.
    pub password_hash: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub org_path: String,
    pub created_at: DateTime<Utc>,
    /// False once deactivated: no login, and none of its tokens is honoured.
    pub active: bool,
    /// Set with a temporary password: the user must choose a new one before anything else.
    pub must_change_password: bool,
    /// Whether a TOTP second factor is enrolled (its secret is read through `AccountStore`).
    pub totp_enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CylinderRecord {
    /// The node's numeric archive id (Yunnan `Id`).
    pub id: i64,
    pub archive: Archive,
    pub status: CylinderStatus,
    pub org_id: Uuid,
    pub org_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub event: Event,
    /// Position in the node's append-only log (0-based): the ledger leaf index.
    pub ledger_index: i64,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: Option<Uuid>,
    /// The organisation that recorded it.
    pub org_id: Uuid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    pub org_id: Option<Uuid>,
    pub org_path: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub ip: Option<String>,
    /// What was written (ids, counts); never secrets.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only actions of users inside this scope (`None` = all, for node admins).
    pub scope: Option<Scope>,
    pub username: Option<String>,
    pub path_prefix: Option<String>,
    pub method: Option<String>,
    /// From this instant, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, exclusive.
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// One recorded filling-control decision (who, which station, which cylinder, allow/refuse, rules).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    /// The filling station's organisation (the filling enterprise).
    pub org_id: Uuid,
    pub site_id: Uuid,
    /// The code as scanned (10 digits; may belong to no archive: an illegal label).
    pub code: String,
    pub medium: String,
    pub allow: bool,
    pub refusals: Vec<RefusalRecord>,
    /// Refused under A8: the code has no archive or its label is void.
    pub illegal_label: bool,
    pub fill_limit_kg: Option<f64>,
    pub target_gross_kg: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefusalRecord {
    pub rule: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    pub scope: Option<Scope>,
    pub site_id: Option<Uuid>,
    pub code: Option<String>,
    pub allow: Option<bool>,
    pub illegal_label: Option<bool>,
    /// Only decisions that failed this rule.
    pub rule: Option<String>,
    /// From, inclusive; to, exclusive.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// Events of some kinds, filtered; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events recorded by organisations inside this scope (`None` = all).
    pub scope: Option<Scope>,
    /// Up to three kinds (none = all kinds).
    pub kinds: Vec<&'static str>,
    pub site_id: Option<Uuid>,
    pub code: Option<String>,
    pub operator: Option<String>,
    pub recorded_by: Option<Uuid>,
    /// From, inclusive; to, exclusive (event time).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    pub id: i64,
    pub kind: String,
    pub code: String,
    pub event_id: Uuid,
    /// The cylinder owner's organisation.
    pub org_id: Uuid,
    pub site_id: Option<Uuid>,
    pub message: String,
    /// When the event that raised it happened.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    pub scope: Option<Scope>,
    pub kind: Option<String>,
    pub code: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A filling batch (充装批次, B5) defined by an enterprise; fills name it by `number`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    pub id: Uuid,
    pub org_id: Uuid,
    pub number: String,
    pub name: Option<String>,
    pub site_id: Option<Uuid>,
    pub medium: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A fill that names a batch (B5): the fill event, and whether the last filling-control decision
/// for its cylinder before the fill was a refusal (filled although refused).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchFill {
    pub event: StoredEvent,
    pub refused: bool,
}

/// What a batch's fills add up to (B5): how many, their total net weight (gross − tare), and how
/// many were filled although the last decision for the cylinder refused it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BatchFillCounts {
    pub fills: i64,
    pub net_kg: f64,
    pub refused: i64,
}

/// How this node's ledger is set up. The hash and origin a log is created with are kept in the
/// database and never change; a configured value that differs from the stored one is refused.
#[derive(Debug, Clone)]
pub struct LedgerParams {
    /// The log's origin (node id), e.g. `cyltrace.example.cn/530100`. `None`: the stored one, or,
    /// for a new log, `cyltrace/` and a random suffix.
    pub origin: Option<String>,
    /// `None`: the stored one, or SM3 for a new log.
    pub hash: Option<cyltrace_ledger::HashAlg>,
    /// Whether appends write leaves and tiles. Only benchmarks turn this off (to measure what the
    /// ledger costs); a node that ran without it no longer verifies.
    pub write: bool,
    /// Whether new events of the uplink kinds (pre-fill check, fill, post-fill check, inspection
    /// result) get an outbox row in their append transaction: on when the node has an upstream.
    pub outbox: bool,
}

impl Default for LedgerParams {
    fn default() -> Self {
        LedgerParams {
            origin: None,
            hash: None,
            write: true,
            outbox: false,
        }
    }
}

/// The ledger parameters in force: what the log was created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerInfo {
    pub origin: String,
    pub hash: cyltrace_ledger::HashAlg,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub size: u64,
    pub root: cyltrace_ledger::Hash,
    pub time: DateTime<Utc>,
    /// The signed C2SP checkpoint text.
    pub text: String,
    /// SM2 signature over `text`, ASN.1 DER.
    pub signature: Vec<u8>,
    /// The signer's public key, uncompressed SEC1.
    pub public_key: Vec<u8>,
}

/// An event waiting in the uplink outbox (written in the event's own append transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub outbox_id: i64,
    pub event: StoredEvent,
    /// Failed delivery attempts so far.
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// What became of outbox rows after a delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum OutboxMark {
    /// The upstream stored them (or had them already).
    Sent { at: DateTime<Utc> },
    /// The upstream refused them for a business reason; they are kept, never retried automatically.
    Refused { at: DateTime<Utc>, reason: String },
    /// Not delivered (upstream down, transport error): stays pending, `attempts` + 1.
    Failed { error: String },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStats {
    pub pending: i64,
    pub sent: i64,
    pub refused: i64,
    /// `created_at` of the oldest pending row.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// A document of the `/PS` interface kept by the receiving node: a registration application, a spot
/// check, an inspection application, a reported month count. `body` is the document as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PsDoc {
    /// The numeric id handed to callers (`Id`).
    pub id: i64,
    /// `apply_new`, `apply_old`, `spot_check`, `check_apply`, `business_count`.
    pub kind: String,
    /// The organisation that owns the document (the applicant; the enterprise a spot check targets).
    pub org_id: Uuid,
    pub org_path: String,
    /// A second organisation that must see it (the inspection station of a check application).
    pub target_org_id: Option<Uuid>,
    /// The caller's own id (`ThirdId`): unique per (kind, org_id) when given.
    pub third_id: Option<String>,
    /// e.g. `pending`, `approved`, `rejected`, `open`, `ended`, `answered`, `match`, `mismatch`.
    pub state: String,
    pub body: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct PsDocFilter {
    pub kind: String,
    /// Documents whose organisation or target organisation lies inside this scope (`None` = all).
    pub scope: Option<Scope>,
    pub org_id: Option<Uuid>,
    pub target_org_id: Option<Uuid>,
    pub state: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A checkpoint of a lower node's ledger, received and verified by this node as its witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRecord {
    /// The account (user) the lower node logs in with.
    pub user_id: Uuid,
    pub origin: String,
    pub size: u64,
    pub root: cyltrace_ledger::Hash,
    pub text: String,
    pub signature: Vec<u8>,
    pub public_key: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// An alarm for the regulator that is not about one cylinder: a lower node's ledger that does not
/// verify (`ledger_tamper`), a month count that differs (`business_count_mismatch`), an uplink that
/// is behind (`uplink_stale`), a record the upstream refused (`uplink_refused`).
#[derive(Debug, Clone, PartialEq)]
pub struct RegAlarm {
    pub id: i64,
    pub org_id: Uuid,
    pub kind: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct RegAlarmFilter {
    /// Alarms of organisations inside this scope (`None` = all).
    pub scope: Option<Scope>,
    pub kind: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A business record of circulation (issue 6), kept as JSON with the few columns queries need:
/// `vehicle`, `staff` (drivers and escorts), `waybill`, `customer`, `binding` (customer ↔ dealer),
/// `order`, `deposit`, `household_check`, `rectification`, `stocktake`, `check_item`, `carrier_doc`.
#[derive(Debug, Clone, PartialEq)]
pub struct BizRecord {
    pub id: Uuid,
    pub kind: String,
    /// The owning organisation (its subtree path is filled in on reads; ignored on writes).
    pub org_id: Uuid,
    pub org_path: String,
    /// Unique per kind when given (a plate, a person's identity hash, `customer/org` of a binding).
    pub key: Option<String>,
    /// The record this one belongs to (the customer of an order, deposit or check; the vehicle of a
    /// waybill; the check of a rectification task).
    pub ref_id: Option<Uuid>,
    pub state: String,
    /// A due time (rectification tasks).
    pub due: Option<DateTime<Utc>>,
    pub body: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct BizFilter {
    pub kind: String,
    /// Records whose organisation lies inside this scope (`None` = all).
    pub scope: Option<Scope>,
    pub org_id: Option<Uuid>,
    pub ref_id: Option<Uuid>,
    pub state: Option<String>,
    /// Only records with `due` before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Only records created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only records created before this time.
    pub created_before: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// One reported position of a vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct VehiclePosition {
    pub vehicle_id: Uuid,
    pub org_id: Uuid,
    pub time: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// km/h
    pub speed: Option<f64>,
    /// degrees from north
    pub heading: Option<f64>,
}

/// How many cylinders one site holds, full or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    pub site_id: Uuid,
    pub full: i64,
    pub empty: i64,
}
