//! Persistence of cyltrace. [`Store`] is composed of one trait per area — organisations and people
//! ([`OrgStore`]), archives ([`CylinderStore`]), events ([`EventStore`]), filling records
//! ([`FillingStore`]), the ledger ([`LedgerStore`]), the `/PS` interface and the uplink ([`PsStore`]),
//! business records ([`RecordStore`]), the audit log ([`AuditStore`]) and the safety of accounts
//! (deactivation, passwords, the second factor: [`AccountStore`]) — plus [`Store::write`], the
//! one write path. One implementation, [`SqlStore`], serves SQLite (the embedded default, WAL, in the
//! data directory) and PostgreSQL, with migrations per backend run at start-up.
//!
//! Every event, filling decision and audit row is written by one writer task (`sql/writer.rs`): it
//! takes the requests that are waiting, judges each event inside its transaction against the state
//! left by everything before it (`cyltrace_domain::intake`), appends what is accepted with its
//! projection, index, alarm, outbox, ledger and business-record rows, and commits once for the group
//! before answering anyone. A refused request is rolled back alone; an id seen before is not stored
//! again.

mod alarms;
mod devices;
pub mod leaf;
mod model;
mod sql;
mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::{Archive, CylinderCode, CylinderStatus, NewSite};
use uuid::Uuid;

pub use alarms::*;
pub use devices::*;
pub use model::*;
#[cfg(feature = "failpoints")]
pub use sql::FailPoint;
pub use sql::SqlStore;
pub use sql::backup;
pub use write::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (a cylinder code, a username …); the string names it.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row that no longer decodes into a domain type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A new cylinder archive and the organisation that owns its data.
#[derive(Debug, Clone)]
pub struct NewCylinder {
    pub archive: Archive,
    pub org_id: Uuid,
}

/// The whole store: every area, and the one write path.
#[async_trait]
pub trait Store:
    OrgStore
    + CylinderStore
    + EventStore
    + FillingStore
    + LedgerStore
    + PsStore
    + RecordStore
    + AuditStore
    + AccountStore
    + FileStore
    + DeviceStore
    + AlarmStore
    + Send
    + Sync
    + 'static
{
    /// The backend's name, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;
    /// True when no organisation and no user exists yet (bootstrap and demo seeding).
    async fn is_empty(&self) -> Result<bool>;

    /// The one write path: hands `req` to the writer and answers once it is committed (or refused,
    /// and then nothing of it is stored).
    async fn write(&self, req: WriteRequest) -> std::result::Result<Written, WriteError>;

    /// Appends events as they come, without judging them: seeding and records this node does not
    /// judge. See [`Judge::Trusted`].
    async fn append_events(
        &self,
        events: &[cyltrace_domain::Event],
        ctx: &AppendContext,
    ) -> Result<Vec<Appended>> {
        let req = WriteRequest {
            intake: Some(Intake {
                events: events.to_vec(),
                recorded_at: ctx.recorded_at,
                judge: Judge::Trusted {
                    recorded_by: ctx.recorded_by,
                    org_id: ctx.org_id,
                },
            }),
            ..Default::default()
        };
        match self.write(req).await {
            Ok(w) => Ok(w.appended),
            Err(WriteError::Store(e)) => Err(e),
            Err(WriteError::Refused(r)) => Err(StoreError::Corrupt(format!(
                "a trusted append was judged: {r:?}"
            ))),
        }
    }

    /// Writes one audit row (committed before this returns).
    async fn insert_audit(&self, record: &AuditRecord) -> Result<()> {
        let req = WriteRequest {
            audit: Some(record.clone()),
            ..Default::default()
        };
        self.write(req)
            .await
            .map(drop)
            .map_err(WriteError::into_store)
    }

    /// Records a filling-control decision with one row per failing rule (committed before this
    /// returns).
    async fn insert_decision(&self, d: &DecisionRecord) -> Result<()> {
        let req = WriteRequest {
            decision: Some(d.clone()),
            ..Default::default()
        };
        self.write(req)
            .await
            .map(drop)
            .map_err(WriteError::into_store)
    }
}

/// Organisations, sites, users and their tokens.
#[async_trait]
pub trait OrgStore {
    async fn insert_org(&self, org: &OrgRecord) -> Result<()>;
    async fn get_org(&self, id: Uuid) -> Result<Option<OrgRecord>>;
    async fn list_orgs(&self, scope: &Scope, page: Page) -> Result<Vec<OrgRecord>>;
    /// Writes what of an organisation may change: name, phone, address, credit code, licences.
    async fn update_org(&self, org: &OrgRecord) -> Result<()>;

    async fn insert_site(&self, id: Uuid, site: &NewSite, at: DateTime<Utc>) -> Result<()>;
    async fn get_site(&self, id: Uuid) -> Result<Option<SiteRecord>>;
    async fn list_sites(&self, scope: &Scope, page: Page) -> Result<Vec<SiteRecord>>;
    /// Writes what of a site may change: name, address, position, open or closed.
    async fn update_site(&self, site: &SiteRecord) -> Result<()>;

    async fn insert_permission(&self, p: &FillingPermission) -> Result<()>;
    async fn get_permission(&self, id: Uuid) -> Result<Option<FillingPermission>>;
    /// Permissions whose owner, filler or granting regulator lies in `scope`, newest first.
    async fn list_permissions(&self, scope: &Scope, page: Page) -> Result<Vec<FillingPermission>>;
    /// Revokes a permission; `false` when it was revoked already.
    async fn revoke_permission(&self, id: Uuid, by: Uuid, at: DateTime<Utc>) -> Result<bool>;
    /// The last day of the unrevoked permissions for `filler` to fill `owner`'s cylinders (B9).
    async fn entrusted_until(
        &self,
        owner: Uuid,
        filler: Uuid,
    ) -> Result<Option<cyltrace_domain::Date>>;

    async fn insert_user(&self, user: &UserRecord) -> Result<()>;
    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>>;
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn list_users(&self, scope: &Scope, page: Page) -> Result<Vec<UserRecord>>;
    /// Records a failed login; locks the account until `lock_until` when given.
    async fn note_failed_login(
        &self,
        user_id: Uuid,
        lock_until: Option<DateTime<Utc>>,
    ) -> Result<()>;
    async fn reset_failed_logins(&self, user_id: Uuid) -> Result<()>;

    async fn insert_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Ends a token (logout); an unknown token is no error.
    async fn delete_token(&self, token_hash: &str) -> Result<()>;
    /// The active user holding an unexpired token, and when the token expires (a deactivated
    /// user's tokens are never honoured, even before they are deleted).
    async fn user_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserRecord, DateTime<Utc>)>>;
}

/// A change to a user's account (`PATCH /users/{id}`): the fields given are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChange {
    pub name: Option<String>,
    pub roles: Option<Vec<cyltrace_domain::Role>>,
    pub active: Option<bool>,
}

/// A user's second factor as stored. The secrets are sealed (encrypted by the server) and still
/// never shown by `Debug`.
#[derive(Clone, Default, PartialEq)]
pub struct TotpRecord {
    /// The enrolled secret, sealed; `None` when no second factor is enrolled.
    pub secret: Option<String>,
    /// The secret of an enrolment begun and not yet confirmed, sealed.
    pub pending: Option<String>,
    pub enabled_at: Option<DateTime<Utc>>,
    /// The last accepted time step (a code is accepted once).
    pub last_step: Option<i64>,
    /// Recovery codes not used yet.
    pub recovery_left: i64,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("enrolled", &self.secret.is_some())
            .field("pending", &self.pending.is_some())
            .field("enabled_at", &self.enabled_at)
            .field("last_step", &self.last_step)
            .field("recovery_left", &self.recovery_left)
            .finish()
    }
}

/// Keeping accounts safe (G5): deactivation, passwords, ending sessions, the TOTP second factor and
/// its recovery codes. Every method that ends sessions deletes the token rows in the same
/// transaction as the change that calls for it.
#[async_trait]
pub trait AccountStore {
    /// Sets what `change` names and answers the user as stored afterwards and how many tokens
    /// were ended (`None`: no such user). Deactivating deletes every token of the user in the same
    /// transaction.
    async fn update_user(&self, id: Uuid, change: &UserChange)
    -> Result<Option<(UserRecord, u64)>>;
    /// How many active users hold the `node_admin` role.
    async fn count_active_node_admins(&self) -> Result<i64>;
    /// Replaces the password hash (`must_change`: a temporary password), clears the failed-login
    /// count and lock, and deletes every token of the user but `keep` (a token hash); answers how
    /// many tokens were deleted.
    async fn set_password(
        &self,
        id: Uuid,
        hash: &str,
        must_change: bool,
        keep: Option<&str>,
    ) -> Result<u64>;
    /// Deletes every token of the user but `keep`; answers how many.
    async fn end_sessions(&self, id: Uuid, keep: Option<&str>) -> Result<u64>;
    /// The user's second factor (`None`: no such user).
    async fn totp(&self, id: Uuid) -> Result<Option<TotpRecord>>;
    /// Begins (`Some`) or abandons (`None`) an enrolment.
    async fn set_totp_pending(&self, id: Uuid, sealed: Option<&str>) -> Result<()>;
    /// Completes the enrolment whose pending secret is still `sealed`: it becomes the secret,
    /// `step` the last accepted step, and `recovery` (keyed hashes) replaces the recovery codes.
    /// Answers false (and changes nothing) when the pending secret is another by now.
    async fn enable_totp(
        &self,
        id: Uuid,
        sealed: &str,
        step: i64,
        recovery: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Removes the second factor, a pending enrolment and the recovery codes.
    async fn disable_totp(&self, id: Uuid) -> Result<()>;
    /// Records `step` as the last accepted one if it is later than the stored one; answers whether
    /// it was (false: that code, or a later one, was accepted already).
    async fn use_totp_step(&self, id: Uuid, step: i64) -> Result<bool>;
    /// Marks the unused recovery code with keyed hash `hash` as used; answers whether there was one.
    async fn use_recovery_code(&self, id: Uuid, hash: &str, at: DateTime<Utc>) -> Result<bool>;
}

/// Cylinder archives and their status projections.
#[async_trait]
pub trait CylinderStore {
    /// Inserts archives, all or none; a taken code is `Conflict(code)`.
    async fn insert_cylinders(&self, cylinders: &[NewCylinder], at: DateTime<Utc>)
    -> Result<usize>;
    async fn get_cylinder(&self, code: &CylinderCode) -> Result<Option<CylinderRecord>>;
    async fn list_cylinders(&self, scope: &Scope, page: Page) -> Result<Vec<CylinderRecord>>;
    /// Archives in `scope` changed at or after `since`, oldest change first, at most `limit`.
    async fn list_cylinders_since(
        &self,
        scope: &Scope,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CylinderRecord>>;
    async fn count_cylinders(&self) -> Result<i64>;
    /// The codes among `codes` that are archived already (in no particular order). One query per
    /// chunk of codes, so a bulk import checks 100,000 codes in a few hundred queries.
    async fn existing_codes(&self, codes: &[CylinderCode]) -> Result<Vec<CylinderCode>>;
    /// Archives in `scope` ordered by code, the first `limit` after `after` (keyset paging: an export
    /// of every archive reads each row once).
    async fn list_cylinders_after(
        &self,
        scope: &Scope,
        after: Option<&CylinderCode>,
        limit: i64,
    ) -> Result<Vec<CylinderRecord>>;
}

/// Reading the stored events.
#[async_trait]
pub trait EventStore {
    async fn get_event(&self, id: Uuid) -> Result<Option<StoredEvent>>;
    /// A cylinder's events in time order (ties in record order).
    async fn events_of(&self, code: &CylinderCode) -> Result<Vec<StoredEvent>>;
    /// Events matching `filter` (fill and check records), newest first, and how many match.
    async fn list_events(&self, filter: &EventFilter) -> Result<(Vec<StoredEvent>, i64)>;
    /// Visits every event the filter selects (its `limit` and `offset` are ignored) in ledger order,
    /// a page at a time, without holding them all; answers how many it visited.
    async fn for_each_event(
        &self,
        filter: &EventFilter,
        each: &mut (dyn FnMut(StoredEvent) + Send),
    ) -> Result<u64>;
}

/// Filling records: decisions, refusal counts, alarms, batches.
#[async_trait]
pub trait FillingStore {
    async fn list_alarms(&self, filter: &AlarmFilter) -> Result<(Vec<AlarmRecord>, i64)>;
    /// Matching decisions, newest first, and how many match.
    async fn list_decisions(&self, filter: &DecisionFilter) -> Result<(Vec<DecisionRecord>, i64)>;
    /// How often each rule refused, among the decisions matching `filter` (`rule` is ignored).
    async fn refusal_counts(&self, filter: &DecisionFilter) -> Result<Vec<(String, i64)>>;
    /// Illegal-label attempts per filling station, among the decisions matching `filter`.
    async fn illegal_label_counts(&self, filter: &DecisionFilter) -> Result<Vec<(Uuid, i64)>>;

    /// Inserts a batch; a number the enterprise already used is `Conflict(number)`.
    async fn insert_batch(&self, b: &BatchRecord) -> Result<()>;
    async fn get_batch(&self, org_id: Uuid, number: &str) -> Result<Option<BatchRecord>>;
    async fn list_batches(&self, scope: &Scope, page: Page) -> Result<Vec<BatchRecord>>;
    async fn get_batch_by_id(&self, id: Uuid) -> Result<Option<BatchRecord>>;
    /// The fills naming batch `number` at the stations of enterprise `org_id` (the batches a fill
    /// may name are its station's enterprise's, B5), newest first; found through the index over
    /// fills' batch numbers.
    async fn batch_fills(&self, org_id: Uuid, number: &str, page: Page) -> Result<Vec<BatchFill>>;
    /// What all the fills of that batch add up to.
    async fn batch_fill_counts(&self, org_id: Uuid, number: &str) -> Result<BatchFillCounts>;
}

/// The audit log (written through [`Store::write`]).
#[async_trait]
pub trait AuditStore {
    /// Matching audit records, newest first, and the total number matching.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<(Vec<AuditRecord>, i64)>;
}

/// The ledger: the Merkle tree's tiles and the signed checkpoints.
#[async_trait]
pub trait LedgerStore {
    /// The origin and hash of this node's log.
    fn ledger(&self) -> &LedgerInfo;
    /// Number of leaves in the log (= events stored).
    async fn ledger_size(&self) -> Result<u64>;
    /// The stored tiles named (cut to the width asked for; a stored tile may have grown since).
    /// A tile not stored, or narrower than asked, is left out.
    async fn get_tiles(
        &self,
        tiles: &[cyltrace_ledger::Tile],
    ) -> Result<Vec<cyltrace_ledger::TileData>>;
    /// Events with `ledger_index >= from`, in log order, at most `limit`.
    async fn events_from(&self, from: i64, limit: i64) -> Result<Vec<StoredEvent>>;
    /// Records a signed checkpoint as the latest; with `keep`, also in the kept history.
    async fn insert_checkpoint(&self, c: &CheckpointRecord, keep: bool) -> Result<()>;
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>>;
    /// The kept history of checkpoints, oldest first.
    async fn checkpoints(&self) -> Result<Vec<CheckpointRecord>>;
}

/// The `/PS` interface: the uplink outbox, documents, lower nodes' ledgers, regulator alarms.
#[async_trait]
pub trait PsStore {
    /// Pending outbox rows in outbox order (= log order), at most `limit`.
    async fn outbox_pending(&self, limit: i64) -> Result<Vec<OutboxItem>>;
    /// Records the outcome of a delivery attempt for the rows `ids`.
    async fn outbox_mark(&self, ids: &[i64], mark: &OutboxMark) -> Result<()>;
    async fn outbox_stats(&self) -> Result<OutboxStats>;

    /// Inserts a document; with a `third_id` already used for the same (kind, org_id), stores
    /// nothing and answers the existing id and `false`.
    async fn insert_ps_doc(&self, doc: &PsDoc) -> Result<(i64, bool)>;
    async fn get_ps_doc(&self, id: i64) -> Result<Option<PsDoc>>;
    /// Replaces a document's state and body.
    async fn update_ps_doc(
        &self,
        id: i64,
        state: &str,
        body: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Matching documents, newest first.
    async fn list_ps_docs(&self, filter: &PsDocFilter) -> Result<Vec<PsDoc>>;

    /// Declared leaves of `user_id` below `size` not yet audited, in index order, at most `limit`.
    async fn ps_leaves_unaudited(
        &self,
        user_id: Uuid,
        size: u64,
        limit: i64,
    ) -> Result<Vec<(i64, cyltrace_ledger::Hash)>>;
    async fn ps_leaves_mark_audited(&self, user_id: Uuid, indexes: &[i64]) -> Result<()>;
    /// Appends a verified checkpoint of a lower node (append-only history).
    async fn insert_witness(&self, w: &WitnessRecord) -> Result<()>;
    /// The largest checkpoint accepted from `user_id`.
    async fn latest_witness(&self, user_id: Uuid) -> Result<Option<WitnessRecord>>;

    async fn insert_reg_alarm(&self, a: &RegAlarm) -> Result<i64>;
    /// Matching alarms, newest first.
    async fn list_reg_alarms(&self, f: &RegAlarmFilter) -> Result<Vec<RegAlarm>>;
}

/// Owners of uploaded files (issue 22): a file is readable by whoever's scope holds an owner.
#[async_trait]
pub trait FileStore {
    /// Records that `org_id` owns the file `hash` (kept once per organisation; `by` is the user
    /// who uploaded or referenced it, when there was one).
    async fn add_file_owner(
        &self,
        hash: &str,
        org_id: Uuid,
        by: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Whether an organisation inside `scope` owns the file `hash` (one query).
    async fn file_owned_within(&self, hash: &str, scope: &Scope) -> Result<bool>;
}

/// Business records of circulation, vehicle positions, stock, node settings.
#[async_trait]
pub trait RecordStore {
    /// Inserts a business record. A `key` already used by a record of the same kind stores nothing
    /// and fails with `StoreError::Conflict(key)`.
    async fn insert_biz(&self, r: &BizRecord) -> Result<()>;
    async fn get_biz(&self, kind: &str, id: Uuid) -> Result<Option<BizRecord>>;
    async fn biz_by_key(&self, kind: &str, key: &str) -> Result<Option<BizRecord>>;
    /// Replaces state, due, ref_id and body (and sets `updated_at`) if the stored record still has
    /// `expected` as its `updated_at`; answers whether it did (optimistic concurrency).
    async fn update_biz(&self, r: &BizRecord, expected: DateTime<Utc>) -> Result<bool>;
    /// Matching records, newest first (by created_at, then id).
    async fn list_biz(&self, f: &BizFilter) -> Result<Vec<BizRecord>>;
    /// Counts of matching records per state (page ignored).
    async fn count_biz(&self, f: &BizFilter) -> Result<Vec<(String, i64)>>;
    /// Stores vehicle positions (a point already stored for the same vehicle and time is kept once);
    /// `at` is when they arrived.
    async fn insert_positions(&self, points: &[VehiclePosition], at: DateTime<Utc>) -> Result<()>;
    /// The latest position of each vehicle owned inside `scope`.
    async fn latest_positions(&self, scope: &Scope) -> Result<Vec<VehiclePosition>>;
    /// Positions of one vehicle in `[from, to)`, oldest first, at most `limit`.
    async fn vehicle_track(
        &self,
        vehicle_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<VehiclePosition>>;
    /// Cylinders in a store (location `empty_store` or `full_store`) per site, for sites owned inside
    /// `scope` (or one site).
    async fn stock(&self, scope: &Scope, site_id: Option<Uuid>) -> Result<Vec<StockRow>>;
    /// The cylinders in stock at one site, with whether each is full, ordered by code.
    async fn stock_codes(&self, site_id: Uuid) -> Result<Vec<(CylinderCode, bool)>>;
    /// The cylinders whose status `holder` is `holder` (delivered to that customer, not returned).
    async fn held_by(&self, holder: &str) -> Result<Vec<CylinderCode>>;

    async fn get_setting(&self, key: &str) -> Result<Option<String>>;
    /// Sets a node setting; `at` is when.
    async fn set_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()>;
}

/// Recomputes a cylinder's status from its archive and events (used on late events and by checks).
pub fn refold(archive: &Archive, events: &[StoredEvent]) -> CylinderStatus {
    CylinderStatus::fold(archive, events.iter().map(|e| &e.event))
}

/// Opens the store named by `database_url` (a `postgres://` URL) or SQLite in `data_dir`, and runs
/// the migrations.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
    ledger: &LedgerParams,
) -> Result<std::sync::Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(
            std::sync::Arc::new(SqlStore::connect_postgres(url, None, ledger).await?),
        ),
        Some(url) => Err(StoreError::Corrupt(format!(
            "unsupported database URL scheme: {}",
            url.split(':').next().unwrap_or("")
        ))),
        None => Ok(std::sync::Arc::new(
            SqlStore::open_sqlite(&data_dir.join("cyltrace.db"), ledger).await?,
        )),
    }
}
