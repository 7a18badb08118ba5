//! The device sweeper in a loop: silent devices go offline every `device_sweep_secs`; telemetry past
//! its retention is deleted hourly.

use std::time::Duration;

use crate::services::devices::sweep;
use crate::state::AppState;

pub async fn run(st: AppState) {
    let every = Duration::from_secs(st.config.device_sweep_secs.max(1));
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = sweep::sweep(&st).await {
            tracing::error!(error = %e, "device sweep");
        }
        if ticks.is_multiple_of(3600 / every.as_secs().max(1)) {
            match sweep::purge(&st).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "telemetry past its retention deleted"),
                Err(e) => tracing::error!(error = %e, "telemetry purge"),
            }
        }
        ticks += 1;
    }
}
