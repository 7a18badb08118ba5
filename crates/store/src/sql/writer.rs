//! The one writer (DESIGN §2.1). Every event, filling decision and audit row is written by this task,
//! in group commits: it takes the requests that are waiting (up to [`GROUP`] events or requests),
//! runs each inside a savepoint of one transaction — a refused or failed request is rolled back
//! alone and answered with its error — extends the ledger's tree by the new leaves, commits once,
//! and only then answers each caller. Concurrent callers share the fsync, and because one task
//! judges and writes, a request is judged against everything committed or accepted before it.

use chrono::{DateTime, Utc};
use cyltrace_domain::EventKind;
use cyltrace_ledger::Hash;
use tokio::sync::{mpsc, oneshot};

use super::db::{Conn, Pool, sql};
use super::facts::Caches;
use super::{audit, cylinders, filling, intake, ledger, ps, records};
use crate::model::{LedgerInfo, LedgerParams};
use crate::{Result, StoreError, WriteError, WriteRequest, Written};

/// Requests waiting for the writer.
const QUEUE: usize = 4096;
/// The most one transaction takes, in events (or requests without events); a single larger
/// request still goes alone.
const GROUP: usize = 256;

/// What the writer needs to extend the log.
pub(super) struct Log {
    pub info: LedgerInfo,
    /// Whether appends write leaves and tiles (`LedgerParams::write`).
    pub write: bool,
    /// Whether new events of the uplink kinds get an outbox row (`LedgerParams::outbox`).
    pub outbox: bool,
}

/// Whether a new event of this kind goes to the upstream (gets an outbox row).
pub(super) fn uplinked(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::PreFillCheck
            | EventKind::Fill
            | EventKind::PostFillCheck
            | EventKind::InspectionResult
    )
}

/// Where tests make the writer fail, to see that a request's parts commit together or not at all.
#[cfg(feature = "failpoints")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// Writing a request's audit row.
    Audit,
    /// Updating a business record an event moves (a waybill, an order).
    RecordUpdate,
}

#[derive(Default)]
pub(super) struct Faults {
    #[cfg(feature = "failpoints")]
    at: std::sync::Mutex<Option<FailPoint>>,
}

impl Faults {
    /// An injected failure at `point`, when tests asked for one there.
    #[cfg(feature = "failpoints")]
    pub fn check(&self, point: FailPoint) -> Result<()> {
        let at = *self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if at == Some(point) {
            return Err(StoreError::Corrupt(format!(
                "injected failure at {point:?}"
            )));
        }
        Ok(())
    }
}

struct Job {
    req: WriteRequest,
    reply: oneshot::Sender<std::result::Result<Written, WriteError>>,
}

impl Job {
    fn weight(&self) -> usize {
        self.req
            .intake
            .as_ref()
            .map_or(1, |i| i.events.len().max(1))
    }
}

/// The way in to the writer task.
pub(super) struct Handle {
    jobs: mpsc::Sender<Job>,
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    faults: std::sync::Arc<Faults>,
}

pub(super) fn spawn(pool: Pool, info: LedgerInfo, params: &LedgerParams) -> Handle {
    let (jobs, rx) = mpsc::channel(QUEUE);
    let faults = std::sync::Arc::new(Faults::default());
    let log = Log {
        info,
        write: params.write,
        outbox: params.outbox,
    };
    tokio::spawn(run(pool, log, rx, faults.clone()));
    Handle { jobs, faults }
}

impl Handle {
    pub async fn write(&self, req: WriteRequest) -> std::result::Result<Written, WriteError> {
        let stopped = || StoreError::Corrupt("the writer has stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { req, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    #[cfg(feature = "failpoints")]
    pub fn fail_at(&self, point: Option<FailPoint>) {
        *self
            .faults
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = point;
    }
}

async fn run(pool: Pool, log: Log, mut rx: mpsc::Receiver<Job>, faults: std::sync::Arc<Faults>) {
    while let Some(first) = rx.recv().await {
        let mut weight = first.weight();
        let mut group = vec![first];
        while weight < GROUP {
            match rx.try_recv() {
                Ok(next) => {
                    weight += next.weight();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        match commit_group(&pool, &log, &faults, &group).await {
            Ok(answers) => {
                for (job, answer) in group.into_iter().zip(answers) {
                    // A caller that gave up waiting needs no answer.
                    drop(job.reply.send(answer));
                }
            }
            Err(e) => {
                // The group's own transaction failed (begin, tiles or commit): try each alone, so
                // that one request cannot fail the others.
                tracing::warn!(error = %e, requests = group.len(), "group commit failed; committing one by one");
                for job in group {
                    let answer = match commit_group(
                        &pool,
                        &log,
                        &faults,
                        std::slice::from_ref(&job),
                    )
                    .await
                    {
                        Ok(mut a) => a.pop().unwrap_or_else(|| {
                            Err(StoreError::Corrupt("no answer".to_owned()).into())
                        }),
                        Err(e) => Err(e.into()),
                    };
                    drop(job.reply.send(answer));
                }
            }
        }
    }
}

/// One transaction for a group: each request in a savepoint, then the new leaves into the tree's
/// tiles, then one commit. Answers one result per request.
async fn commit_group(
    pool: &Pool,
    log: &Log,
    faults: &Faults,
    group: &[Job],
) -> Result<Vec<std::result::Result<Written, WriteError>>> {
    let mut tx = pool.begin().await?;
    let mut c = tx.conn();
    let old_size = ledger::log_size(&mut c).await?;
    let mut next =
        i64::try_from(old_size).map_err(|_| StoreError::Corrupt("ledger size".to_owned()))?;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut caches = Caches::default();
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        sql("savepoint request").execute(&mut c).await?;
        let mut request = Request {
            c: &mut c,
            log,
            faults,
            caches: &mut caches,
            next,
            leaves: Vec::new(),
        };
        match request.write(&job.req).await {
            Ok(written) => {
                next = request.next;
                leaves.append(&mut request.leaves);
                sql("release savepoint request").execute(&mut c).await?;
                answers.push(Ok(written));
            }
            Err(e) => {
                sql("rollback to savepoint request").execute(&mut c).await?;
                sql("release savepoint request").execute(&mut c).await?;
                answers.push(Err(e));
            }
        }
    }
    if log.write && !leaves.is_empty() {
        ledger::append_leaves(&mut c, log.info.hash, old_size, &leaves).await?;
    }
    tx.commit().await?;
    Ok(answers)
}

/// One request inside the group's transaction.
pub(super) struct Request<'r, 'c> {
    pub c: &'r mut Conn<'c>,
    pub log: &'r Log,
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    pub faults: &'r Faults,
    /// Master data read in this transaction (sites, organisations, batches).
    pub caches: &'r mut Caches,
    /// The ledger index of the next new event.
    pub next: i64,
    /// The leaf hashes of the events stored by this request, in index order.
    pub leaves: Vec<Hash>,
}

impl Request<'_, '_> {
    async fn write(&mut self, req: &WriteRequest) -> std::result::Result<Written, WriteError> {
        if let Some(new) = &req.cylinders {
            cylinders::insert(self.c, &new.archives, new.at)
                .await
                .map_err(|e| match e {
                    e if super::db::unique_violation(&e) => {
                        StoreError::Conflict("a cylinder code is archived already".to_owned())
                    }
                    e => e,
                })?;
        }
        let appended = match &req.intake {
            Some(i) => intake::append(self, i).await?,
            None => Vec::new(),
        };
        if let Some(d) = &req.decision {
            filling::insert_decision(self.c, d).await?;
        }
        for r in &req.records {
            records::insert_biz(self.c, r).await?;
        }
        for l in &req.ps_leaves {
            ps::insert_leaf(self.c, l).await?;
        }
        if let Some(u) = &req.ps_doc {
            ps::update_doc(self.c, u).await?;
        }
        if let Some(a) = &req.audit {
            #[cfg(feature = "failpoints")]
            self.faults.check(FailPoint::Audit)?;
            audit::insert(self.c, a).await?;
        }
        Ok(Written { appended })
    }
}

/// The time as the log keeps it (to the microsecond).
pub(super) fn stored_time(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    super::db::from_us(super::db::us(t))
}
