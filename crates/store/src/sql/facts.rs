//! The facts the writer's judgements read, from inside its transaction: the cylinders a request
//! touches (their state after every event before), master data cached for the group (sites,
//! organisations, batches: the writer never changes them), and per event the records the
//! circulation guards need (vehicles, waybills, certificates, customers, orders).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use cyltrace_domain::circulation::{
    Certificate, OrderDoc, Plate, StaffDoc, Vehicle, WaybillDoc, record_kind,
};
use cyltrace_domain::intake::{
    self, Actor, CylinderRef, GuardFacts, Lookups, OrderRef, Refs, SiteRef, WaybillRef,
};
use cyltrace_domain::{Archive, CylinderCode, CylinderStatus, Event, EventData, OrgKind};
use uuid::Uuid;

use super::db::{Conn, sql};
use super::{cylinders, filling, orgs, records};
use crate::model::{BizFilter, BizRecord, Scope, SiteRecord};
use crate::{Result, StoreError};

/// A cylinder a request touches: its archive, its status as it stands before the next event of the
/// request, and its owner.
pub(super) struct Touched {
    pub archive: Archive,
    pub status: CylinderStatus,
    pub org_id: Uuid,
    pub org_path: String,
    /// A late event was stored: the status must be refolded from the stored events before use.
    pub stale: bool,
    /// An event of the request was stored for it: its projection is written at the end.
    pub changed: bool,
    /// An `archive_change` of the request corrected the archive: it is written at the end too.
    pub archive_changed: bool,
}

/// The cylinders a request touches (`None`: no archive).
pub(super) type Cylinders = HashMap<CylinderCode, Option<Touched>>;

/// Loads the cylinders `e` names that the request has not read yet.
pub(super) async fn load_cylinders(
    c: &mut Conn<'_>,
    e: &Event,
    into: &mut Cylinders,
) -> Result<()> {
    for code in &e.codes {
        if !into.contains_key(code) {
            let t = cylinders::get(c, code).await?.map(|r| Touched {
                archive: r.archive,
                status: r.status,
                org_id: r.org_id,
                org_path: r.org_path,
                stale: false,
                changed: false,
                archive_changed: false,
            });
            into.insert(code.clone(), t);
        }
    }
    Ok(())
}

/// Master data read in one group's transaction.
#[derive(Default)]
pub(super) struct Caches {
    sites: HashMap<Uuid, Option<SiteRecord>>,
    org_kinds: HashMap<Uuid, Option<OrgKind>>,
    batches: HashMap<(Uuid, String), bool>,
    /// (owner, filler) → the last day of their entrusted-filling permissions (B9).
    entrusted: HashMap<(Uuid, Uuid), Option<cyltrace_domain::Date>>,
    /// Registered vehicle cylinders among the codes looked at (A9).
    vehicles: HashMap<CylinderCode, bool>,
}

impl Caches {
    /// Reads what phase one needs about `e`: its site, the organisation it names, its batch, and
    /// for a filling-floor record of another owner's cylinder by `actor_org`, whether a permission
    /// (B9) or a vehicle registration (A9) lets the station record it.
    pub async fn load_refs(
        &mut self,
        c: &mut Conn<'_>,
        e: &Event,
        actor_org: Uuid,
        cylinders: &Cylinders,
    ) -> Result<()> {
        if intake::is_filling_floor(e.kind()) {
            for code in &e.codes {
                let Some(Some(t)) = cylinders.get(code) else {
                    continue;
                };
                let owner = t.archive.owner_org_id.unwrap_or(t.org_id);
                if owner == actor_org {
                    continue;
                }
                if let Entry::Vacant(v) = self.entrusted.entry((owner, actor_org)) {
                    v.insert(orgs::entrusted_until(c, owner, actor_org).await?);
                }
                if let Entry::Vacant(v) = self.vehicles.entry(code.clone()) {
                    let car =
                        records::biz_by_key(c, record_kind::CAR_BOTTLE, code.as_str()).await?;
                    v.insert(car.is_some());
                }
            }
        }
        if let Some(id) = e.site_id
            && let Entry::Vacant(v) = self.sites.entry(id)
        {
            v.insert(orgs::get_site(c, id).await?);
        }
        if let Some(id) = e.data.referenced_org()
            && let Entry::Vacant(v) = self.org_kinds.entry(id)
        {
            let kind = sql("select kind from orgs where org_id = $1")
                .bind(id)
                .fetch_optional(c)
                .await?
                .map(|r| r.get::<String>("kind"))
                .transpose()?
                .map(|k| {
                    OrgKind::parse(&k).ok_or_else(|| StoreError::Corrupt(format!("org kind {k}")))
                })
                .transpose()?;
            v.insert(kind);
        }
        if let (EventData::Fill(f), Some(Some(site))) =
            (&e.data, e.site_id.map(|s| &self.sites[&s]))
            && let Some(batch) = &f.batch
        {
            let key = (site.org_id, batch.as_str().to_owned());
            if let Entry::Vacant(v) = self.batches.entry(key) {
                let (org, number) = v.key();
                let known = filling::get_batch(c, *org, number).await?.is_some();
                v.insert(known);
            }
        }
        Ok(())
    }
}

/// Phase one's view of the facts.
pub(super) struct RefFacts<'a> {
    pub cylinders: &'a Cylinders,
    pub caches: &'a Caches,
}

impl Refs for RefFacts<'_> {
    fn cylinder(&self, code: &CylinderCode) -> Option<CylinderRef<'_>> {
        self.cylinders
            .get(code)
            .and_then(Option::as_ref)
            .map(|t| CylinderRef {
                org_path: &t.org_path,
                sent_to: t.status.inspection_station,
                owner: t.archive.owner_org_id.unwrap_or(t.org_id),
            })
    }

    fn site(&self, id: Uuid) -> Option<SiteRef<'_>> {
        self.caches
            .sites
            .get(&id)
            .and_then(Option::as_ref)
            .map(|s| SiteRef {
                org_id: s.org_id,
                org_path: &s.org_path,
                active: s.active,
            })
    }

    fn org_kind(&self, id: Uuid) -> Option<OrgKind> {
        self.caches.org_kinds.get(&id).copied().flatten()
    }

    fn entrusted_until(&self, owner: Uuid, filler: Uuid) -> Option<cyltrace_domain::Date> {
        self.caches
            .entrusted
            .get(&(owner, filler))
            .copied()
            .flatten()
    }

    fn vehicle(&self, code: &CylinderCode) -> bool {
        self.caches.vehicles.get(code).copied().unwrap_or(false)
    }

    fn batch_known(&self, org_id: Uuid, number: &str) -> bool {
        self.caches
            .batches
            .get(&(org_id, number.to_owned()))
            .copied()
            .unwrap_or(false)
    }
}

/// A waybill as the guards read it.
pub(super) struct WaybillFacts {
    org_path: String,
    vehicle_id: Option<Uuid>,
    plate: String,
    driver: Option<Certificate>,
    escort: Option<Certificate>,
}

/// What the guards of one event read besides the cylinders.
#[derive(Default)]
pub(super) struct Loaded {
    vehicle: Option<(Plate, Uuid, Vehicle)>,
    waybill: Option<(String, WaybillFacts)>,
    customer: Option<(Uuid, bool)>,
    order: Option<(String, String, Option<Uuid>)>,
}

fn doc<T: serde::de::DeserializeOwned>(r: &BizRecord, v: &serde_json::Value) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| StoreError::Corrupt(format!("{} {}: {e}", r.kind, r.id)))
}

async fn certificate(c: &mut Conn<'_>, staff: Option<Uuid>) -> Result<Option<Certificate>> {
    let Some(id) = staff else { return Ok(None) };
    match records::get_biz(c, record_kind::STAFF, id).await? {
        Some(r) => Ok(Some(doc::<StaffDoc>(&r, &r.body)?.certificate)),
        None => Ok(None),
    }
}

fn scope_of(actor: &Actor) -> Option<Scope> {
    (!actor.sees_all).then(|| Scope(actor.org_path.clone()))
}

/// Reads the records the guards of `e` need; `mine` caches the recording user's own certificate
/// for the request.
pub(super) async fn load_guarded(
    c: &mut Conn<'_>,
    actor: &Actor,
    want: &Lookups,
    mine: &mut Option<Option<Certificate>>,
) -> Result<Loaded> {
    let mut l = Loaded::default();
    if let Some(plate) = &want.plate
        && let Some(r) = records::biz_by_key(c, record_kind::VEHICLE, plate.as_str()).await?
    {
        let v: Vehicle = doc(&r, &r.body["vehicle"])?;
        l.vehicle = Some((plate.clone(), r.id, v));
    }
    if let Some(number) = &want.waybill
        && let Some(r) = records::biz_by_key(c, record_kind::WAYBILL, number).await?
    {
        let w: WaybillDoc = doc(&r, &r.body)?;
        let facts = WaybillFacts {
            org_path: r.org_path.clone(),
            vehicle_id: r.ref_id,
            plate: w.plate.as_str().to_owned(),
            driver: certificate(c, Some(w.waybill.driver_id)).await?,
            escort: certificate(c, w.waybill.escort_id).await?,
        };
        l.waybill = Some((number.clone(), facts));
    }
    if want.my_certificate && mine.is_none() {
        // The recording user's own registration as driver or escort, in their organisation.
        let f = BizFilter {
            kind: record_kind::STAFF.to_owned(),
            scope: Some(Scope(actor.org_path.clone())),
            limit: 500,
            ..Default::default()
        };
        let mut found = None;
        for r in records::list_biz(c, &f).await? {
            let s: StaffDoc = doc(&r, &r.body)?;
            if s.user_id.is_some() && s.user_id == actor.user_id {
                found = Some(s.certificate);
                break;
            }
        }
        *mine = Some(found);
    }
    if let Some(id) = want.customer
        && records::get_biz(c, record_kind::CUSTOMER, id)
            .await?
            .is_some()
    {
        let f = BizFilter {
            kind: record_kind::BINDING.to_owned(),
            scope: scope_of(actor),
            ref_id: Some(id),
            limit: 1,
            ..Default::default()
        };
        let bound = !records::list_biz(c, &f).await?.is_empty();
        l.customer = Some((id, bound));
    }
    if let Some(key) = &want.order {
        let r = match Uuid::parse_str(key) {
            Ok(id) => records::get_biz(c, record_kind::ORDER, id).await?,
            Err(_) => records::biz_by_key(c, record_kind::ORDER, key).await?,
        };
        if let Some(r) = r {
            l.order = Some((key.clone(), r.org_path, r.ref_id));
        }
    }
    Ok(l)
}

/// Phase two's view of the facts.
pub(super) struct GuardView<'a> {
    pub cylinders: &'a Cylinders,
    pub loaded: &'a Loaded,
    pub mine: Option<&'a Certificate>,
}

impl GuardFacts for GuardView<'_> {
    fn cylinder(&self, code: &CylinderCode) -> Option<(&Archive, &CylinderStatus)> {
        self.cylinders
            .get(code)
            .and_then(Option::as_ref)
            .map(|t| (&t.archive, &t.status))
    }

    fn vehicle(&self, plate: &Plate) -> Option<(Uuid, &Vehicle)> {
        self.loaded
            .vehicle
            .as_ref()
            .filter(|(p, _, _)| p == plate)
            .map(|(_, id, v)| (*id, v))
    }

    fn waybill(&self, number: &str) -> Option<WaybillRef<'_>> {
        self.loaded
            .waybill
            .as_ref()
            .filter(|(n, _)| n == number)
            .map(|(_, w)| WaybillRef {
                org_path: &w.org_path,
                vehicle_id: w.vehicle_id,
                plate: &w.plate,
                driver: w.driver.as_ref(),
                escort: w.escort.as_ref(),
            })
    }

    fn my_certificate(&self) -> Option<&Certificate> {
        self.mine
    }

    fn customer(&self, id: Uuid) -> Option<bool> {
        self.loaded
            .customer
            .filter(|(c, _)| *c == id)
            .map(|(_, bound)| bound)
    }

    fn order(&self, key: &str) -> Option<OrderRef<'_>> {
        self.loaded
            .order
            .as_ref()
            .filter(|(k, _, _)| k == key)
            .map(|(_, path, customer)| OrderRef {
                org_path: path,
                customer: *customer,
            })
    }
}

/// Reads an order's typed document.
pub(super) fn order_doc(r: &BizRecord) -> Result<OrderDoc> {
    doc(r, &r.body)
}

/// Reads a waybill's typed document.
pub(super) fn waybill_doc(r: &BizRecord) -> Result<WaybillDoc> {
    doc(r, &r.body)
}
