//! What the one writer takes and answers: a [`WriteRequest`] is everything one request of a caller
//! writes — new archives, events to judge and append, a filling decision, the audit row, further
//! records — and it commits as a whole or not at all.

use chrono::{DateTime, Utc};
use cyltrace_domain::Event;
use cyltrace_domain::circulation::Confirmation;
use cyltrace_domain::intake::{Actor, Naming, Refusal};
use uuid::Uuid;

use crate::model::{AuditRecord, BizRecord, DecisionRecord};
use crate::{NewCylinder, StoreError};

/// One request for the writer. Its parts are written in this order, in one transaction.
#[derive(Debug, Default)]
pub struct WriteRequest {
    /// Archives to create before the events (a registration approval creates the archives its
    /// `register` events name).
    pub cylinders: Option<NewArchives>,
    /// Events to judge and append.
    pub intake: Option<Intake>,
    /// A filling-control decision.
    pub decision: Option<DecisionRecord>,
    /// Business records the request creates beside its events (an inspection application).
    pub records: Vec<BizRecord>,
    /// Leaves a lower node declared for records it uploaded (the `/PS` witness).
    pub ps_leaves: Vec<DeclaredLeaf>,
    /// A `/PS` document whose state the request changes.
    pub ps_doc: Option<PsDocUpdate>,
    /// The request's audit row: written only if everything else is.
    pub audit: Option<AuditRecord>,
}

/// Archives created by a request, and when.
#[derive(Debug)]
pub struct NewArchives {
    pub archives: Vec<NewCylinder>,
    pub at: DateTime<Utc>,
}

/// Events to append, and who judges them.
#[derive(Debug)]
pub struct Intake {
    pub events: Vec<Event>,
    /// When the node received them (the events' `recorded_at`).
    pub recorded_at: DateTime<Utc>,
    pub judge: Judge,
}

#[derive(Debug)]
pub enum Judge {
    /// Everything a person, a device or a lower platform sends: each event is judged (what it names
    /// exists and is in the actor's scope; the circulation guards), against the state after every
    /// event before it.
    Judged {
        actor: Actor,
        /// How the request names the events' fields in refusals.
        naming: Naming,
        /// A delivery that completes an order (C3), checked and written with its `deliver` event.
        order: Option<OrderDelivery>,
        /// The oldest an event may be against `recorded_at` (the node's `max_event_age`); none: no
        /// age limit. Times before 2000 are refused whatever this says.
        max_age: Option<chrono::Duration>,
    },
    /// Stored as they come: demo seeding, benchmark data, the archives' register events the upstream
    /// decided. Ids, archives and the log are still checked; a missing archive is an error.
    Trusted {
        recorded_by: Option<Uuid>,
        org_id: Uuid,
    },
}

/// An order's delivery: the order, the `deliver` event (the intake's first) and how the customer
/// confirmed it.
#[derive(Debug, Clone)]
pub struct OrderDelivery {
    pub order_id: Uuid,
    pub confirmation: Confirmation,
    /// Whether someone other than the courier the order was dispatched to may deliver it (admins).
    pub any_courier: bool,
}

/// A leaf hash a lower node declared for a record it uploaded.
#[derive(Debug, Clone)]
pub struct DeclaredLeaf {
    pub user_id: Uuid,
    pub ledger_index: i64,
    pub leaf_hash: cyltrace_ledger::Hash,
    pub event_id: Uuid,
    pub at: DateTime<Utc>,
}

/// A `/PS` document's new state and body; with `from`, only if the document is still in that
/// state (a decision taken twice at once is taken once).
#[derive(Debug, Clone)]
pub struct PsDocUpdate {
    pub id: i64,
    pub state: String,
    pub body: serde_json::Value,
    pub at: DateTime<Utc>,
    pub from: Option<String>,
}

/// What a committed request stored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// One answer per event of the intake, in order.
    pub appended: Vec<Appended>,
}

/// The answer for one event of an appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub id: Uuid,
    pub ledger_index: i64,
    /// False when the id had been stored before (an idempotent retry).
    pub new: bool,
}

/// Who appends trusted events, and when.
#[derive(Debug, Clone)]
pub struct AppendContext {
    pub recorded_by: Option<Uuid>,
    pub org_id: Uuid,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request was judged and refused; nothing of it is stored.
    #[error("refused: {0:?}")]
    Refused(Vec<Refusal>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WriteError {
    /// A refusal where none can happen (a request without judged events) is a store error.
    pub fn into_store(self) -> StoreError {
        match self {
            WriteError::Store(e) => e,
            WriteError::Refused(r) => StoreError::Corrupt(format!("unexpected refusal: {r:?}")),
        }
    }
}
