//! Events into the log, inside the writer's transaction: judged (phase one: what they name; phase
//! two: the circulation guards, event by event against the state after every event before), then
//! appended with their per-cylinder index rows, alarms, outbox rows, leaves, the business records
//! they move (waybills, an order, recycling orders, inspection applications) and the cylinders' projections. An id stored before is a retry,
//! answered with its original index and not stored again.

use cyltrace_domain::circulation::{
    Certificate, Delivery, DeliveryCheck, DeliveryRefusal, OrderState, record_kind,
};
use cyltrace_domain::event::InspectionResult;
use cyltrace_domain::filling::alarms_for;
use cyltrace_domain::inspection::{INSPECTION_APP, InspectionApplication};
use cyltrace_domain::intake::{self, Actor, Naming, Refusal};
use cyltrace_domain::{CylinderCode, Event, EventData, FieldError};
use cyltrace_ledger::LogHash;
use uuid::Uuid;

use super::db::{Conn, from_us, sql, to_json, us};
use super::facts::{self, Cylinders, GuardView, RefFacts};
use super::writer::{Request, stored_time, uplinked};
use super::{events, records};
use crate::model::{BizFilter, BizRecord, StoredEvent};
use crate::{Appended, Intake, Judge, OrderDelivery, Result, StoreError, WriteError};

type Outcome<T> = std::result::Result<T, WriteError>;

fn refused(r: Refusal) -> WriteError {
    WriteError::Refused(vec![r])
}

/// Who an intake's events are recorded by, and how they are judged.
struct Recorder<'a> {
    recorded_by: Option<Uuid>,
    org_id: Uuid,
    judged: Option<(&'a Actor, Naming)>,
}

/// Judges and appends an intake; answers one [`Appended`] per event.
pub(super) async fn append(w: &mut Request<'_, '_>, intake: &Intake) -> Outcome<Vec<Appended>> {
    let recorded_at = stored_time(intake.recorded_at)?;
    let mut cyl = Cylinders::new();
    for e in &intake.events {
        facts::load_cylinders(w.c, e, &mut cyl).await?;
    }
    let (recorder, order) = match &intake.judge {
        Judge::Trusted {
            recorded_by,
            org_id,
        } => (
            Recorder {
                recorded_by: *recorded_by,
                org_id: *org_id,
                judged: None,
            },
            None,
        ),
        Judge::Judged {
            actor,
            naming,
            order,
            max_age,
        } => {
            let order = match order {
                Some(o) => check_order(w.c, actor, o, &intake.events).await?,
                None => None,
            };
            // Phase one: everything the events name, before anything is written.
            let mut refusals = Vec::new();
            for (i, e) in intake.events.iter().enumerate() {
                w.caches.load_refs(w.c, e, actor.org_id, &cyl).await?;
                let refs = RefFacts {
                    cylinders: &cyl,
                    caches: w.caches,
                };
                intake::check_refs(
                    e,
                    i,
                    *naming,
                    actor,
                    recorded_at,
                    *max_age,
                    &refs,
                    &mut refusals,
                );
            }
            if !refusals.is_empty() {
                return Err(WriteError::Refused(refusals));
            }
            (
                Recorder {
                    recorded_by: actor.user_id,
                    org_id: actor.org_id,
                    judged: Some((actor, *naming)),
                },
                order,
            )
        }
    };
    // Recycling orders the `recycle` events confirm (C4): in scope and still open.
    let receipts = super::receipts::check(w.c, recorder.judged, &intake.events).await?;
    // Phase two, event by event: judge against the state so far, then store.
    let mut invalid = Vec::new();
    let mut taken = Vec::new();
    let mut mine: Option<Option<Certificate>> = None;
    let mut out = Vec::with_capacity(intake.events.len());
    for (i, e) in intake.events.iter().enumerate() {
        if let Some(index) = seen(w.c, e, recorder.org_id).await? {
            match index {
                Some(ledger_index) => out.push(Appended {
                    id: e.id,
                    ledger_index,
                    new: false,
                }),
                None => match recorder.judged {
                    Some((_, naming)) => {
                        let msg = format!("事件 id {} 已被另一条不同的事件使用", e.id);
                        taken.push(Refusal::Conflict(FieldError::new(
                            naming.field(i, "id"),
                            msg,
                        )));
                    }
                    None => return Err(StoreError::Conflict(e.id.to_string()).into()),
                },
            }
            continue;
        }
        for code in &e.codes {
            refresh(w.c, &mut cyl, code).await?;
        }
        if let Some((actor, naming)) = recorder.judged {
            let want = intake::lookups(e);
            let loaded = facts::load_guarded(w.c, actor, &want, &mut mine).await?;
            let view = GuardView {
                cylinders: &cyl,
                loaded: &loaded,
                mine: mine.as_ref().and_then(Option::as_ref),
            };
            intake::guard(e, i, naming, actor, &view, &mut invalid);
        }
        let index = store_event(w, e, &recorder, recorded_at, &mut cyl).await?;
        out.push(Appended {
            id: e.id,
            ledger_index: index,
            new: true,
        });
    }
    // Invalid fields are reported before a taken id (the id is checked when the events are).
    if !invalid.is_empty() {
        return Err(WriteError::Refused(invalid));
    }
    if !taken.is_empty() {
        return Err(WriteError::Refused(taken));
    }
    if let Some((rec, doc)) = order {
        deliver_order(w, rec, doc, intake, &out, recorded_at).await?;
    }
    super::receipts::confirm(w.c, receipts, &intake.events, &out, recorded_at).await?;
    for (code, t) in &mut cyl {
        if let Some(t) = t
            && t.changed
        {
            if t.stale {
                refold(w.c, code, t).await?;
            }
            write_projection(w.c, code, t, recorded_at).await?;
        }
    }
    Ok(out)
}

/// Whether the event's id is stored already: `Some(Some(index))` for a retry of the same event,
/// `Some(None)` when a different event holds the id, `None` when it is new.
async fn seen(c: &mut Conn<'_>, e: &Event, org_id: Uuid) -> Result<Option<Option<i64>>> {
    let Some(row) =
        sql("select ledger_index, kind, codes, org_id, data from events where event_id = $1")
            .bind(e.id)
            .fetch_optional(c)
            .await?
    else {
        return Ok(None);
    };
    // A retry is the same event from the same organisation; anything else reusing the id is
    // refused rather than silently dropped.
    let codes: Vec<CylinderCode> = row.json("codes")?;
    let same = row.get::<String>("kind")? == e.kind().as_str()
        && codes == e.codes
        && row.uuid("org_id")? == org_id
        && row.get::<String>("data")? == to_json(&e.data.data_json());
    Ok(Some(same.then(|| row.get("ledger_index")).transpose()?))
}

/// Refolds a cylinder's status when a late event made it stale, so that what follows is judged and
/// applied against the status as the stored events give it.
async fn refresh(c: &mut Conn<'_>, cyl: &mut Cylinders, code: &CylinderCode) -> Result<()> {
    if let Some(Some(t)) = cyl.get_mut(code)
        && t.stale
    {
        refold(c, code, t).await?;
    }
    Ok(())
}

async fn refold(c: &mut Conn<'_>, code: &CylinderCode, t: &mut facts::Touched) -> Result<()> {
    let evs: Vec<StoredEvent> = events::events_of(c, code).await?;
    t.status = crate::refold(&t.archive, &evs);
    t.stale = false;
    Ok(())
}

/// Stores one new event with its index rows, alarms and outbox row, applies it to the touched
/// cylinders and notes it on the waybill it names; answers its ledger index.
async fn store_event(
    w: &mut Request<'_, '_>,
    e: &Event,
    recorder: &Recorder<'_>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    cyl: &mut Cylinders,
) -> Result<i64> {
    // The log keeps times to the microsecond: the projection must see the event as stored, or it
    // would differ from a refold of the stored events.
    let time = from_us(us(e.time))?;
    let stored;
    let e = if time == e.time {
        e
    } else {
        stored = Event { time, ..e.clone() };
        &stored
    };
    let index = w.next;
    let codes: Vec<&str> = e.codes.iter().map(|c| c.as_str()).collect();
    sql("insert into events (ledger_index, event_id, kind, codes, time_us, site_id, operator, device, lat, lon, data, org_id, recorded_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
    .bind(index)
    .bind(e.id)
    .bind(e.kind().as_str())
    .bind(to_json(&codes))
    .bind(e.time)
    .bind(e.site_id)
    .bind(e.operator.as_ref().map(|s| s.as_str()))
    .bind(e.device.as_ref().map(|s| s.as_str()))
    .bind(e.position.map(|p| p.lat))
    .bind(e.position.map(|p| p.lon))
    .bind(to_json(&e.data.data_json()))
    .bind(recorder.org_id)
    .bind(recorder.recorded_by)
    .bind(recorded_at)
    .execute(w.c)
    .await?;
    if w.log.outbox && uplinked(e.kind()) {
        sql(
            "insert into outbox (ledger_index, event_id, kind, created_at) values ($1, $2, $3, $4)",
        )
        .bind(index)
        .bind(e.id)
        .bind(e.kind().as_str())
        .bind(recorded_at)
        .execute(w.c)
        .await?;
    }
    for code in &e.codes {
        let t = cyl
            .get_mut(code)
            .and_then(Option::as_mut)
            .ok_or_else(|| StoreError::NotFound(format!("cylinder {code}")))?;
        sql("insert into event_codes (code, ledger_index, time_us, org_id, created_at) values ($1, $2, $3, $4, $5)")
            .bind(code.as_str())
            .bind(index)
            .bind(e.time)
            .bind(t.org_id)
            .bind(recorded_at)
            .execute(w.c)
            .await?;
        for alarm in alarms_for(&e.data, &t.archive) {
            sql("insert into alarms (kind, code, event_id, org_id, site_id, message, at, created_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(alarm.kind.as_str())
            .bind(code.as_str())
            .bind(e.id)
            .bind(t.org_id)
            .bind(e.site_id)
            .bind(&alarm.message)
            .bind(e.time)
            .bind(recorded_at)
            .execute(w.c)
            .await?;
        }
        t.changed = true;
        if let EventData::ArchiveChange(c) = &e.data {
            t.archive = t.archive.after(c);
            t.archive_changed = true;
        }
        if t.stale || t.status.needs_refold(e.time) {
            // A late event: the status is refolded from the stored events when next needed.
            t.stale = true;
        } else {
            t.status.apply(e);
        }
    }
    if let EventData::Load(m) | EventData::Unload(m) = &e.data
        && let Some(number) = &m.waybill
    {
        note_on_waybill(
            w,
            number.as_str(),
            matches!(e.data, EventData::Load(_)),
            &e.codes,
            recorded_at,
        )
        .await?;
    }
    if let EventData::InspectionResult(r) = &e.data {
        for code in &e.codes {
            note_inspection(w, r, code, recorded_at).await?;
        }
    }
    let leaf = crate::leaf::encode(
        &w.log.info.origin,
        e,
        recorder.org_id,
        recorder.recorded_by,
        recorded_at,
    );
    w.leaves.push(w.log.info.hash.leaf(&leaf));
    w.next += 1;
    Ok(index)
}

/// Writes a business record changed by an event; `false` when another writer changed it since it
/// was read (the caller reads it again).
pub(super) async fn save_record(
    c: &mut Conn<'_>,
    mut r: BizRecord,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let expected = r.updated_at;
    r.updated_at = at.max(expected + chrono::Duration::microseconds(1));
    records::update_biz(c, &r, expected).await
}

/// Adds the codes to the waybill's loaded or unloaded set and moves its state (C2).
async fn note_on_waybill(
    w: &mut Request<'_, '_>,
    number: &str,
    loaded: bool,
    codes: &[CylinderCode],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    #[cfg(feature = "failpoints")]
    w.faults.check(super::writer::FailPoint::RecordUpdate)?;
    for _ in 0..5 {
        let Some(mut r) = records::biz_by_key(w.c, record_kind::WAYBILL, number).await? else {
            return Ok(());
        };
        let mut doc = facts::waybill_doc(&r)?;
        let Some(state) = doc.note(loaded, codes) else {
            return Ok(());
        };
        r.state = state.as_str().to_owned();
        r.body = serde_json::to_value(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if save_record(w.c, r, at).await? {
            return Ok(());
        }
    }
    Err(StoreError::Conflict(format!("waybill {number}")))
}

/// Marks an inspection result on the station's open application that waits for this cylinder; the
/// application is done when every cylinder of it has one (D2).
async fn note_inspection(
    w: &mut Request<'_, '_>,
    r: &InspectionResult,
    code: &CylinderCode,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let open = BizFilter {
        kind: INSPECTION_APP.to_owned(),
        ref_id: Some(r.station_org_id),
        state: Some("applied".to_owned()),
        limit: 1000,
        ..Default::default()
    };
    for mut rec in records::list_biz(w.c, &open).await? {
        let mut app: InspectionApplication = serde_json::from_value(rec.body.clone())
            .map_err(|e| StoreError::Corrupt(format!("inspection application {}: {e}", rec.id)))?;
        let Some(done) = app.note(code.as_str(), r) else {
            continue;
        };
        if done {
            rec.state = "done".to_owned();
        }
        rec.body = serde_json::to_value(&app).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !save_record(w.c, rec, at).await? {
            return Err(StoreError::Conflict(format!(
                "inspection application of {code}"
            )));
        }
        break;
    }
    Ok(())
}

/// Checks that the intake's delivery may complete the order (C3); answers the order to complete,
/// or `None` when this delivery completed it already (a retry).
async fn check_order(
    c: &mut Conn<'_>,
    actor: &Actor,
    o: &OrderDelivery,
    events: &[Event],
) -> Outcome<Option<(BizRecord, cyltrace_domain::circulation::OrderDoc)>> {
    let Some(rec) = records::get_biz(c, record_kind::ORDER, o.order_id).await? else {
        return Err(refused(Refusal::NotFound("订单不存在".to_owned())));
    };
    if !actor.sees(&rec.org_path) {
        return Err(refused(Refusal::Forbidden(
            "订单不在您的数据权限范围内".to_owned(),
        )));
    }
    let doc = facts::order_doc(&rec)?;
    let state = OrderState::parse(&rec.state)
        .ok_or_else(|| StoreError::Corrupt(format!("order state {}", rec.state)))?;
    let Some(e) = events.first() else {
        return Err(StoreError::Corrupt("an order delivery without its event".to_owned()).into());
    };
    let check = doc.check_delivery(
        state,
        e.id,
        actor.user_id,
        o.any_courier,
        &o.confirmation,
        e.codes.len(),
    );
    match check {
        Ok(DeliveryCheck::Repeated) => Ok(None),
        Ok(DeliveryCheck::Proceed) => Ok(Some((rec, doc))),
        Err(DeliveryRefusal::Done(m)) => {
            Err(refused(Refusal::Conflict(FieldError::new("state", m))))
        }
        Err(DeliveryRefusal::Invalid { field, message }) => {
            Err(refused(Refusal::Invalid(FieldError::new(field, message))))
        }
        Err(DeliveryRefusal::NotYours(m)) => Err(refused(Refusal::Forbidden(m))),
    }
}

/// Marks the order delivered by the intake's `deliver` event.
async fn deliver_order(
    w: &mut Request<'_, '_>,
    mut rec: BizRecord,
    mut doc: cyltrace_domain::circulation::OrderDoc,
    intake: &Intake,
    appended: &[Appended],
    at: chrono::DateTime<chrono::Utc>,
) -> Outcome<()> {
    let (Some(e), Some(a), Judge::Judged { order: Some(o), .. }) =
        (intake.events.first(), appended.first(), &intake.judge)
    else {
        return Err(StoreError::Corrupt("an order delivery without its event".to_owned()).into());
    };
    #[cfg(feature = "failpoints")]
    w.faults.check(super::writer::FailPoint::RecordUpdate)?;
    doc.delivery = Some(Delivery {
        event_id: e.id,
        ledger_index: a.ledger_index,
        codes: e.codes.iter().map(|c| c.as_str().to_owned()).collect(),
        time: e.time,
        confirmation: o.confirmation.clone(),
    });
    rec.state = OrderState::Delivered.as_str().to_owned();
    rec.body = serde_json::to_value(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if save_record(w.c, rec, at).await? {
        Ok(())
    } else {
        Err(refused(Refusal::Conflict(FieldError::new(
            "state",
            "订单已被他人修改，请刷新后重试",
        ))))
    }
}

async fn write_projection(
    c: &mut Conn<'_>,
    code: &CylinderCode,
    t: &facts::Touched,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let s = &t.status;
    if t.archive_changed {
        sql("update cylinders set archive = $1 where code = $2")
            .bind(to_json(&t.archive))
            .bind(code.as_str())
            .execute(c)
            .await?;
    }
    sql("update cylinders set status = $1, state = $2, location_kind = $3, next_check_date = $4, site_id = $5, holder = $6, updated_at = $7
         where code = $8")
    .bind(to_json(s))
    .bind(s.state.as_str())
    .bind(s.location_kind.as_str())
    .bind(s.next_check_date.map(|d| d.to_string()))
    .bind(s.site_id)
    .bind(s.holder.as_ref().map(|h| h.as_str()))
    .bind(at)
    .bind(code.as_str())
    .execute(c)
    .await?;
    Ok(())
}
