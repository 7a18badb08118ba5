//! Shared state of a running node.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cyltrace_store::Store;

use crate::config::Config;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// The server's clock; the domain never reads one.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
