//! The alarm worker (issue 18, H3, H5): once a second, `services::devices::alarms::tick` — rules
//! whose condition has held long enough raise without a new reading, unacknowledged alarms are
//! re-notified, due notifications are sent with retries and the per-channel hourly cap.

use std::time::Duration;

use crate::services::devices::alarms;
use crate::state::AppState;

/// Runs [`alarms::tick`] every second until the task is dropped; a failed pass is logged and the
/// next one tries again.
pub async fn run(st: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = alarms::tick(&st).await {
            tracing::warn!(error = %e, "alarm worker pass failed");
        }
    }
}
