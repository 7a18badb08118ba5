//! The device sweeper (8.1.1): a device silent past its type's `offline_after_secs` is recorded as
//! gone offline (a device event, and the alarm rules' `offline` input); telemetry older than
//! `telemetry_retention_days` is deleted.

use chrono::Duration;
use cyltrace_domain::devices::rules::Input;

use super::ingest::status_event;
use super::registry::{Status, status, type_of};
use crate::error::ApiResult;
use crate::state::AppState;

/// One pass: answers how many devices went offline.
pub async fn sweep(st: &AppState) -> ApiResult<usize> {
    let now = st.now();
    let mut gone = 0;
    for d in st.store.online_devices().await? {
        let t = type_of(st, &d).await?;
        if status(&d, &t, now) == Status::Online {
            continue;
        }
        st.store.set_online(d.id, false).await?;
        st.devices.records.remove(&d.id);
        status_event(st, &d, "offline", now).await?;
        super::on_input(st, &d, Input::Offline { at: now }).await?;
        gone += 1;
    }
    Ok(gone)
}

/// Deletes readings past the retention; answers how many.
pub async fn purge(st: &AppState) -> ApiResult<u64> {
    let days = st.config.telemetry_retention_days;
    if days == 0 {
        return Ok(0);
    }
    let before = st.now() - Duration::days(i64::from(days));
    Ok(st.store.purge_telemetry(before).await?)
}
