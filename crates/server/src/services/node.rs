//! The node itself: whether its database answers (`/readyz`), and its status as the node admin sees
//! it (the ledger, the latest signed checkpoint, the upstream outbox).

use cyltrace_domain::access::Action;
use cyltrace_store::{CheckpointRecord, OutboxStats};

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::state::AppState;

/// The node as its admin sees it: the log, the latest checkpoint, the upstream outbox.
pub struct NodeStatus {
    pub ledger_size: u64,
    pub checkpoint: Option<CheckpointRecord>,
    pub outbox: OutboxStats,
    pub origin: String,
    pub hash: String,
    pub backend: &'static str,
    pub upstream_url: Option<String>,
}

pub async fn node_status(st: &AppState, p: &Principal) -> ApiResult<NodeStatus> {
    p.require(Action::Read)?;
    let ledger_size = st.store.ledger_size().await?;
    let checkpoint = st.store.latest_checkpoint().await?;
    let outbox = st.store.outbox_stats().await?;
    let info = st.store.ledger();
    Ok(NodeStatus {
        ledger_size,
        checkpoint,
        outbox,
        origin: info.origin.clone(),
        hash: info.hash.to_string(),
        backend: st.store.backend(),
        upstream_url: st.config.upstream_url.clone(),
    })
}

/// Whether the database answers (`/readyz`), and which backend it is.
pub async fn readiness(st: &AppState) -> (Result<(), String>, &'static str) {
    (
        st.store.ping().await.map_err(|e| e.to_string()),
        st.store.backend(),
    )
}
