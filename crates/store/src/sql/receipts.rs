//! Recycling orders confirmed by the `recycle` events that name them (C4), inside the writer's
//! transaction: checked before anything of the intake is written (the order is in the recorder's
//! scope and still open), and marked confirmed with the event's index after it is stored. A retry of
//! the confirming event leaves the order as it is.

use std::collections::HashSet;

use cyltrace_domain::circulation::{
    ReceiptCheck, RecyclingOrderDoc, RecyclingReceipt, RecyclingState, record_kind,
};
use cyltrace_domain::intake::{Actor, Naming, Refusal};
use cyltrace_domain::{Event, EventData, FieldError};

use super::db::Conn;
use super::records;
use crate::model::BizRecord;
use crate::{Appended, Result, StoreError, WriteError};

type Outcome<T> = std::result::Result<T, WriteError>;

/// An order one event of the intake confirms: the event's position, the order as read.
pub(super) struct Receipt {
    event: usize,
    record: BizRecord,
    doc: RecyclingOrderDoc,
}

fn doc_of(r: &BizRecord) -> Result<RecyclingOrderDoc> {
    serde_json::from_value(r.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("recycling order {}: {e}", r.id)))
}

/// The orders the intake's `recycle` events confirm, each checked: it exists in the recorder's
/// scope, it is open (or confirmed by this very event, a retry), and no two events confirm it.
pub(super) async fn check(
    c: &mut Conn<'_>,
    actor: Option<(&Actor, Naming)>,
    events: &[Event],
) -> Outcome<Vec<Receipt>> {
    let mut out = Vec::new();
    let mut named = HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let EventData::Recycle(r) = &e.data else {
            continue;
        };
        let Some(id) = r.recycling_order_id else {
            continue;
        };
        let field = actor.map_or_else(
            || "data.recycling_order_id".to_owned(),
            |(_, n)| n.field(i, "data.recycling_order_id"),
        );
        let invalid =
            |m: &str| WriteError::Refused(vec![Refusal::Invalid(FieldError::new(&field, m))]);
        let Some(record) = records::get_biz(c, record_kind::RECYCLING_ORDER, id).await? else {
            return Err(invalid("回收单不存在"));
        };
        if let Some((a, _)) = actor
            && !a.sees(&record.org_path)
        {
            return Err(invalid("回收单不存在"));
        }
        if !named.insert(id) {
            return Err(invalid("同一回收单在一次提交中被确认了两次"));
        }
        let doc = doc_of(&record)?;
        if doc.receipt.as_ref().is_some_and(|x| x.event_id == e.id) {
            continue;
        }
        let state = RecyclingState::parse(&record.state).ok_or_else(|| {
            StoreError::Corrupt(format!("recycling order state {}", record.state))
        })?;
        match doc.check_receipt(state, e.codes.len()) {
            ReceiptCheck::Confirm => out.push(Receipt {
                event: i,
                record,
                doc,
            }),
            ReceiptCheck::Refused(m) => {
                return Err(WriteError::Refused(vec![Refusal::Conflict(
                    FieldError::new(field, m),
                )]));
            }
        }
    }
    Ok(out)
}

/// Marks each order confirmed by its event, now stored at `appended`'s index.
pub(super) async fn confirm(
    c: &mut Conn<'_>,
    receipts: Vec<Receipt>,
    events: &[Event],
    appended: &[Appended],
    at: chrono::DateTime<chrono::Utc>,
) -> Outcome<()> {
    for Receipt {
        event,
        mut record,
        mut doc,
    } in receipts
    {
        let (Some(e), Some(a)) = (events.get(event), appended.get(event)) else {
            return Err(StoreError::Corrupt("a receipt without its event".to_owned()).into());
        };
        doc.receipt = Some(RecyclingReceipt {
            event_id: e.id,
            ledger_index: a.ledger_index,
            site_id: e.site_id,
            codes: e.codes.iter().map(|c| c.as_str().to_owned()).collect(),
            time: e.time,
        });
        record.state = RecyclingState::Confirmed.as_str().to_owned();
        record.body = serde_json::to_value(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !super::intake::save_record(c, record, at).await? {
            return Err(WriteError::Refused(vec![Refusal::Conflict(
                FieldError::new("state", "回收单已被他人修改，请刷新后重试"),
            )]));
        }
    }
    Ok(())
}
