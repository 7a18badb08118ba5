//! The device registry, device events and telemetry (issue 18, DEVICES.md).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::devices::model::DeviceType;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{Result, Scope};

/// A user-defined device type and the organisation that defined it (none: the node admin).
#[derive(Debug, Clone)]
pub struct DeviceTypeRecord {
    pub model: DeviceType,
    pub org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    pub id: Uuid,
    pub type_id: String,
    pub org_id: Uuid,
    /// The owning organisation's tree path (read only).
    pub org_path: String,
    pub site_id: Option<Uuid>,
    pub name: String,
    pub serial: Option<String>,
    pub group: Option<String>,
    pub tags: Vec<String>,
    pub customer_id: Option<String>,
    pub vehicle: Option<String>,
    pub channel_id: Option<String>,
    pub position: Option<i32>,
    pub phone: Option<String>,
    pub stream_url: Option<String>,
    /// SHA-256 of the secret (hex); the secret itself is shown once and never kept.
    pub secret_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    /// The status last recorded (the sweeper records going offline and coming back).
    pub online: bool,
    pub up_count: i64,
    pub down_count: i64,
    pub bad_count: i64,
    /// Latest property values: id → `{"value","time"}`.
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub scope: Option<Scope>,
    pub org_id: Option<Uuid>,
    pub site_id: Option<Uuid>,
    pub type_id: Option<String>,
    pub group: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A device event (`up/event`, or the node's own `online`/`offline`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEventRecord {
    pub id: Uuid,
    pub device_id: Uuid,
    pub event: String,
    pub time: DateTime<Utc>,
    pub output: Option<Value>,
    pub recorded_at: DateTime<Utc>,
}

/// One property reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub property: String,
    pub time: DateTime<Utc>,
    pub value: Value,
}

/// What one message did to a device's counters, status and latest values.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub at: DateTime<Utc>,
    pub up: i64,
    pub down: i64,
    pub bad: i64,
    /// Whether the message counts as seen (accepted messages only).
    pub seen: bool,
    /// Readings that become the latest values.
    pub readings: Vec<Reading>,
}

#[async_trait]
pub trait DeviceStore {
    async fn insert_device_type(&self, t: &DeviceTypeRecord) -> Result<()>;
    /// User-defined types visible in `scope` (the node's own and those of organisations in it).
    async fn list_device_types(&self, scope: &Scope) -> Result<Vec<DeviceTypeRecord>>;
    async fn get_device_type(&self, id: &str) -> Result<Option<DeviceTypeRecord>>;

    async fn insert_device(&self, d: &DeviceRecord) -> Result<()>;
    async fn get_device(&self, id: Uuid) -> Result<Option<DeviceRecord>>;
    async fn device_by_phone(&self, phone: &str) -> Result<Option<DeviceRecord>>;
    /// Devices, newest first, and the total of the filter.
    async fn list_devices(&self, f: &DeviceFilter) -> Result<(Vec<DeviceRecord>, i64)>;
    /// Devices at sites in `scope` (scales, readers, cameras: the station's equipment), and of them
    /// those silent since before `cutoff` or never heard from.
    async fn count_station_devices(
        &self,
        scope: &Scope,
        cutoff: DateTime<Utc>,
    ) -> Result<(i64, i64)>;
    /// Devices marked online (the sweeper's candidates).
    async fn online_devices(&self) -> Result<Vec<DeviceRecord>>;
    /// Writes the registry fields (name, site, group, tags, disabled, secret hash, bindings).
    async fn update_device(&self, d: &DeviceRecord) -> Result<()>;
    /// Counters, last seen, latest values and telemetry of one message, in one transaction.
    async fn record_activity(&self, device: Uuid, a: &Activity) -> Result<()>;
    async fn set_online(&self, device: Uuid, online: bool) -> Result<()>;

    /// Stores a device event once; false when its id was stored before.
    async fn insert_device_event(&self, e: &DeviceEventRecord) -> Result<bool>;
    async fn device_events(&self, device: Uuid, limit: i64) -> Result<Vec<DeviceEventRecord>>;
    /// Readings of one device (one property or all), newest first.
    async fn telemetry(
        &self,
        device: Uuid,
        property: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Reading>>;
    /// Deletes readings older than `before`; answers how many.
    async fn purge_telemetry(&self, before: DateTime<Utc>) -> Result<u64>;
}
