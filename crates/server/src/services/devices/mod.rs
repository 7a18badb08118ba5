//! Devices (issue 18, DEVICES.md): the registry and the derived status (`registry`), what devices
//! send (`ingest`), remote service calls (`calls`), the sweeper that records devices going silent
//! (`sweep`), the in-memory hub (`hub`), alarm rules, alarms and their notification (`alarms`).

use cyltrace_domain::devices::rules::Input;
use cyltrace_store::DeviceRecord;

use crate::error::ApiResult;
use crate::state::AppState;

pub mod alarms;
pub mod calls;
pub mod hub;
pub mod ingest;
pub mod notify;
pub mod registry;
pub mod sweep;

pub use hub::Hub;

/// Every accepted message and status change of a device goes through the alarm rules.
pub async fn on_input(st: &AppState, d: &DeviceRecord, input: Input<'_>) -> ApiResult<()> {
    alarms::evaluate(st, d, input).await
}
