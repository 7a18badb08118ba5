//! Judging events on their way into the log (DESIGN §2.1: record reality, guard actions).
//!
//! Phase one checks what an event names: every cylinder has an archive and lies in the recorder's
//! data scope, the site exists and is in scope, a fill's batch and medium are known, an inspection
//! station is one, the time is not in the future. Phase two runs the circulation guards: a move must
//! not send a cylinder where it must not go (C2–C5).
//!
//! The writer asks these functions inside its transaction, event by event, with the facts as they
//! stand after every event before — those earlier in the same request and those of every request
//! committed before — so a request is judged as if its events had come one at a time, and two
//! requests racing for one cylinder are judged one after the other. A refusal names the field in the
//! request's own terms ([`Naming`]). Pure: the store reads the facts, the caller passes the time.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::archive::Archive;
use crate::circulation::{Certificate, Plate, StaffRole, Vehicle, cylinder_refusals};
use crate::codes::CylinderCode;
use crate::error::{FieldError, join_path};
use crate::event::{Event, EventData, EventKind, Recycle, VehicleMove};
use crate::filling::canonical_medium;
use crate::org::{OrgKind, Role};
use crate::status::CylinderStatus;
use crate::time::{Date, china_date};

/// How far in the future an event's time may lie (clock skew of handhelds).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

/// Who records: the person, device or lower platform behind a request, with its data scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub org_id: Uuid,
    /// The tree path of the actor's organisation (`/<root>/…/<own id>/`).
    pub org_path: String,
    /// Sees every organisation of the node (a node admin, the node itself), not only its subtree.
    pub sees_all: bool,
    pub roles: Vec<Role>,
}

impl Actor {
    /// Whether an organisation at tree path `path` lies inside the actor's data scope.
    pub fn sees(&self, path: &str) -> bool {
        self.sees_all || path.starts_with(&self.org_path)
    }

    fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// How a request names the fields of the events it was turned into, so that a refusal points at
/// what the caller sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `POST /events`: `events[3].codes[0]`, `events[3].data.vehicle`.
    Events,
    /// A handheld scan request (one event per scan): `scans[3].code`, `scans[3].id`, and the
    /// request's shared fields by their own names (`vehicle`, `customer_id`, `site_id`).
    Scans,
    /// One event made of a request's own fields (an order delivery): `codes[0]`, `customer_id`.
    Fields,
    /// One event of one cylinder made of a request's own fields (an inspection result): `code`,
    /// `next_check_date`.
    Single,
    /// One event per code of a request's `codes` (an inspection application): `codes[3]`, and the
    /// request's shared fields by their own names (`station_org_id`, `time`).
    Codes,
    /// A `/PS` upload: `Items[3].Barcode`, `Items[3].ThridId`.
    PsItems,
}

impl Naming {
    /// The request's name for its `i`-th event as a whole (`events[3]`, `scans[3]`, `codes[3]`,
    /// `Items[3]`; empty for [`Naming::Fields`]).
    pub fn event(self, i: usize) -> String {
        match self {
            Naming::Events => format!("events[{i}]"),
            Naming::Scans => format!("scans[{i}]"),
            Naming::Fields | Naming::Single => String::new(),
            Naming::Codes => format!("codes[{i}]"),
            Naming::PsItems => format!("Items[{i}]"),
        }
    }

    /// The request's name for field `f` of its `i`-th event (`f` relative to the event: `codes[0]`,
    /// `data.vehicle`, `id`, `time`, `site_id`).
    pub fn field(self, i: usize, f: &str) -> String {
        let data = |f: &str| f.strip_prefix("data.").unwrap_or(f).to_owned();
        match self {
            Naming::Events => join_path(&format!("events[{i}]"), f),
            Naming::Scans => match f {
                "codes[0]" => format!("scans[{i}].code"),
                "id" | "time" => format!("scans[{i}].{f}"),
                _ => data(f),
            },
            Naming::Fields => data(f),
            Naming::Single => match f {
                "codes[0]" => "code".to_owned(),
                _ => data(f),
            },
            Naming::Codes => match f {
                "codes[0]" => format!("codes[{i}]"),
                f if f.starts_with("data.") || f == "time" => data(f),
                _ => join_path(&format!("codes[{i}]"), f),
            },
            Naming::PsItems => match f {
                "id" => format!("Items[{i}].ThridId"),
                f if f.starts_with("codes[") => format!("Items[{i}].Barcode"),
                _ => format!("Items[{i}]"),
            },
        }
    }
}

/// Why a request (or one of its events) is refused. Invalid fields are reported all at once; the
/// first refusal of another kind decides the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 422: a field of the request and why.
    Invalid(FieldError),
    /// No archive for the code the field names (an interface phrases it in its own words).
    NoArchive { field: String, code: CylinderCode },
    /// The cylinder the field names lies outside the recorder's data scope.
    OutOfScope { field: String, code: CylinderCode },
    /// 403, with the message.
    Forbidden(String),
    /// 404, with the message.
    NotFound(String),
    /// 409: an id or a state that is taken.
    Conflict(FieldError),
}

impl Refusal {
    fn invalid(field: String, message: impl Into<String>) -> Self {
        Refusal::Invalid(FieldError::new(field, message))
    }

    /// Whether this refusal only adds to a list of invalid fields (and decides nothing alone).
    pub fn is_invalid_field(&self) -> bool {
        matches!(self, Refusal::Invalid(_) | Refusal::NoArchive { .. })
    }
}

// ---------------------------------------------------------------------------------------------
// Phase one: what an event names

/// What phase one knows about a cylinder: its owner's tree path, and the inspection station it was
/// sent to and that has not answered yet.
#[derive(Debug, Clone, Copy)]
pub struct CylinderRef<'a> {
    pub org_path: &'a str,
    pub sent_to: Option<Uuid>,
    /// The owner (产权单位) whose permission entrusted filling needs (B9).
    pub owner: Uuid,
}

/// What phase one knows about a site: its organisation and that organisation's tree path.
#[derive(Debug, Clone, Copy)]
pub struct SiteRef<'a> {
    pub org_id: Uuid,
    pub org_path: &'a str,
    /// A closed site (`active: false`) takes no new records; its history stays.
    pub active: bool,
}

/// The facts phase one reads, as the store found them in the writer's transaction.
pub trait Refs {
    fn cylinder(&self, code: &CylinderCode) -> Option<CylinderRef<'_>>;
    fn site(&self, id: Uuid) -> Option<SiteRef<'_>>;
    fn org_kind(&self, id: Uuid) -> Option<OrgKind>;
    /// Whether enterprise `org_id` defined the filling batch `number` (B5).
    fn batch_known(&self, org_id: Uuid, number: &str) -> bool;
    /// The last day of the permissions for `filler` to fill `owner`'s cylinders (B9), if any.
    fn entrusted_until(&self, owner: Uuid, filler: Uuid) -> Option<crate::Date>;
    /// Whether the cylinder is a registered vehicle cylinder (A9).
    fn vehicle(&self, code: &CylinderCode) -> bool;
}

/// The records of the filling floor, which a station may make of another owner's cylinder it is
/// permitted to fill (B9) and of any vehicle cylinder (A9).
pub fn is_filling_floor(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::PreFillCheck
            | EventKind::Fill
            | EventKind::InFillCheck
            | EventKind::PostFillCheck
    )
}

/// Phase one for the `i`-th event of a request recorded by `actor` at `now`: adds a refusal to `out`
/// for everything it names that is missing, out of scope or unknown, and for a time in the future,
/// before 2000 or older than `max_age` (the node's `max_event_age`; none: no age limit), so that a
/// backdated event cannot pass the guards of a day long gone.
#[allow(clippy::too_many_arguments)]
pub fn check_refs(
    e: &Event,
    i: usize,
    naming: Naming,
    actor: &Actor,
    now: DateTime<Utc>,
    max_age: Option<Duration>,
    refs: &impl Refs,
    out: &mut Vec<Refusal>,
) {
    let at = |f: &str| naming.field(i, f);
    if e.time > now + MAX_FUTURE_SKEW {
        out.push(Refusal::invalid(at("time"), "事件时间晚于服务器当前时间"));
    }
    if let Some(r) = crate::plausible::event_time_refusal(e.time, now, max_age) {
        out.push(Refusal::invalid(at("time"), r));
    }
    if let Some(org_id) = e.data.referenced_org() {
        match refs.org_kind(org_id) {
            Some(OrgKind::InspectionStation) => {}
            Some(_) => out.push(Refusal::invalid(
                at("data.station_org_id"),
                "该机构不是检验机构",
            )),
            None => out.push(Refusal::invalid(
                at("data.station_org_id"),
                "检验机构不存在",
            )),
        }
    }
    // An inspection station reports results for other owners' cylinders sent to it.
    let acting_station = match &e.data {
        EventData::InspectionResult(r)
            if r.station_org_id == actor.org_id
                && (actor.has(Role::Inspector) || actor.has(Role::Platform)) =>
        {
            Some(actor.org_id)
        }
        _ => None,
    };
    for (j, code) in e.codes.iter().enumerate() {
        let field = at(&format!("codes[{j}]"));
        match refs.cylinder(code) {
            None => out.push(Refusal::NoArchive {
                field,
                code: code.clone(),
            }),
            Some(c)
                if !actor.sees(c.org_path)
                    && (acting_station.is_none() || c.sent_to != acting_station)
                    && !(is_filling_floor(e.kind())
                        && (refs.vehicle(code)
                            || refs
                                .entrusted_until(c.owner, actor.org_id)
                                .is_some_and(|d| d.0 >= china_date(e.time)))) =>
            {
                out.push(Refusal::OutOfScope {
                    field,
                    code: code.clone(),
                });
            }
            Some(_) => {}
        }
    }
    let site = e.site_id.map(|id| refs.site(id));
    match site {
        Some(None) => out.push(Refusal::invalid(at("site_id"), "站点不存在")),
        Some(Some(s)) if !actor.sees(s.org_path) => out.push(Refusal::Forbidden(format!(
            "{}: 该站点不在您的数据权限范围内",
            at("site_id")
        ))),
        Some(Some(s)) if !s.active => out.push(Refusal::invalid(
            at("site_id"),
            "站点已关闭（停用），不能再记录新的作业",
        )),
        _ => {}
    }
    if let EventData::Fill(f) = &e.data {
        // B5: a fill names a batch its enterprise defined.
        if let (Some(batch), Some(Some(site))) = (&f.batch, site)
            && !refs.batch_known(site.org_id, batch.as_str())
        {
            out.push(Refusal::invalid(
                at("data.batch"),
                format!("充装批次“{batch}”不存在，请先建立批次"),
            ));
        }
        if let Some(m) = &f.medium
            && canonical_medium(m.as_str()).is_none()
        {
            out.push(Refusal::invalid(
                at("data.medium"),
                format!("平台不支持的充装介质“{m}”"),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phase two: the circulation guards

/// Whether an event is a circulation move the guards judge (C1–C5).
pub fn is_circulation(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::StoreIn
            | EventKind::StoreOut
            | EventKind::Load
            | EventKind::Unload
            | EventKind::Deliver
            | EventKind::Recycle
    )
}

/// What the guards of an event need looked up (the store reads these before [`guard`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lookups {
    /// The vehicle of a load or unload, when its plate is well formed.
    pub plate: Option<Plate>,
    /// The waybill a load or unload names.
    pub waybill: Option<String>,
    /// A load or unload without a waybill: the recording user's own driver certificate.
    pub my_certificate: bool,
    /// The customer a delivery or recycling names, when the id is a canonical UUID.
    pub customer: Option<Uuid>,
    /// The order a delivery names (its id, or its number).
    pub order: Option<String>,
}

pub fn lookups(e: &Event) -> Lookups {
    let mut l = Lookups::default();
    match &e.data {
        EventData::Load(m) | EventData::Unload(m) => {
            l.plate = Plate::parse(m.vehicle.as_str()).ok();
            match &m.waybill {
                Some(w) => l.waybill = Some(w.as_str().to_owned()),
                None => l.my_certificate = true,
            }
        }
        EventData::Deliver(d) => {
            l.customer = d
                .customer_id
                .as_ref()
                .and_then(|c| canonical_uuid(c.as_str()));
            l.order = d.order_id.as_ref().map(|o| o.as_str().to_owned());
        }
        EventData::Recycle(Recycle {
            customer_id: Some(c),
            ..
        }) => l.customer = canonical_uuid(c.as_str()),
        _ => {}
    }
    l
}

fn canonical_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok().filter(|u| u.to_string() == s)
}

/// A waybill as the guards read it: who may see it, its vehicle, and its people's certificates as
/// registered now (a renewal after the waybill was issued counts).
#[derive(Debug, Clone, Copy)]
pub struct WaybillRef<'a> {
    pub org_path: &'a str,
    pub vehicle_id: Option<Uuid>,
    pub plate: &'a str,
    pub driver: Option<&'a Certificate>,
    pub escort: Option<&'a Certificate>,
}

/// An order as the guards read it.
#[derive(Debug, Clone, Copy)]
pub struct OrderRef<'a> {
    pub org_path: &'a str,
    pub customer: Option<Uuid>,
}

/// The facts phase two reads, as they stand before the event being judged.
pub trait GuardFacts {
    /// The archive and status of a cylinder.
    fn cylinder(&self, code: &CylinderCode) -> Option<(&Archive, &CylinderStatus)>;
    /// A registered vehicle by plate: its record id and data.
    fn vehicle(&self, plate: &Plate) -> Option<(Uuid, &Vehicle)>;
    fn waybill(&self, number: &str) -> Option<WaybillRef<'_>>;
    /// The certificate the recording user is registered under as driver or escort, if any.
    fn my_certificate(&self) -> Option<&Certificate>;
    /// Whether the customer is registered (`Some`) and bound to an organisation in the actor's scope.
    fn customer(&self, id: Uuid) -> Option<bool>;
    fn order(&self, key: &str) -> Option<OrderRef<'_>>;
}

/// Phase two for the `i`-th event: the circulation guards, and a station's worklist for its
/// inspection results. Events of other kinds pass.
pub fn guard(
    e: &Event,
    i: usize,
    naming: Naming,
    actor: &Actor,
    facts: &impl GuardFacts,
    out: &mut Vec<Refusal>,
) {
    let at = |f: &str| naming.field(i, f);
    // D2: a station's inspector records results only for cylinders sent to that station and not
    // answered yet (its worklist).
    if let EventData::InspectionResult(r) = &e.data
        && r.station_org_id == actor.org_id
        && actor.has(Role::Inspector)
    {
        for (j, code) in e.codes.iter().enumerate() {
            if let Some((_, status)) = facts.cylinder(code)
                && status.inspection_station != Some(actor.org_id)
            {
                out.push(Refusal::invalid(
                    at(&format!("codes[{j}]")),
                    "该气瓶不在本检验机构的待检清单中（未送检到本机构，或已出具结果）",
                ));
            }
        }
        return;
    }
    if !is_circulation(e.kind()) {
        return;
    }
    let day = Date(china_date(e.time));
    let wanted = lookups(e);
    match &e.data {
        EventData::Load(m) | EventData::Unload(m) => {
            transport(m, &wanted, day, &at, actor, facts, out);
        }
        EventData::Deliver(d) => {
            if let Some(c) = &d.customer_id {
                customer(c.as_str(), &at("data.customer_id"), facts, out);
            }
            if let Some(o) = &d.order_id {
                match facts.order(o.as_str()) {
                    None => out.push(Refusal::invalid(at("data.order_id"), "订单不存在")),
                    Some(o) if !actor.sees(o.org_path) => out.push(Refusal::invalid(
                        at("data.order_id"),
                        "该订单不在您的数据权限范围内",
                    )),
                    Some(o) => {
                        if d.customer_id.as_ref().map(|c| c.as_str().to_owned())
                            != o.customer.map(|u| u.to_string())
                        {
                            out.push(Refusal::invalid(
                                at("data.customer_id"),
                                "与订单的用户不一致",
                            ));
                        }
                    }
                }
            }
        }
        EventData::Recycle(Recycle {
            customer_id: Some(c),
            ..
        }) => customer(c.as_str(), &at("data.customer_id"), facts, out),
        _ => {}
    }
    for (j, code) in e.codes.iter().enumerate() {
        let Some((archive, status)) = facts.cylinder(code) else {
            continue;
        };
        for reason in cylinder_refusals(&e.data, archive, status, day) {
            out.push(Refusal::invalid(
                at(&format!("codes[{j}]")),
                format!("气瓶 {code}：{reason}"),
            ));
        }
    }
}

/// C2: the vehicle is registered with a valid permit, the waybill is this vehicle's and its people's
/// certificates are valid; without a waybill the recording person must be a registered driver.
fn transport(
    m: &VehicleMove,
    wanted: &Lookups,
    day: Date,
    at: &dyn Fn(&str) -> String,
    actor: &Actor,
    facts: &impl GuardFacts,
    out: &mut Vec<Refusal>,
) {
    let plate = match &wanted.plate {
        Some(p) => p,
        None => {
            let reason = Plate::parse(m.vehicle.as_str()).err().unwrap_or_default();
            out.push(Refusal::invalid(at("data.vehicle"), reason));
            return;
        }
    };
    let Some((vehicle_id, vehicle)) = facts.vehicle(plate) else {
        out.push(Refusal::invalid(
            at("data.vehicle"),
            format!("车辆 {} 未登记", plate.as_str()),
        ));
        return;
    };
    if let Some(r) = vehicle.refusal(day) {
        out.push(Refusal::invalid(at("data.vehicle"), r));
    }
    match &m.waybill {
        Some(number) => {
            let Some(w) = facts.waybill(number.as_str()) else {
                out.push(Refusal::invalid(
                    at("data.waybill"),
                    format!("运单 {number} 不存在"),
                ));
                return;
            };
            if !actor.sees(w.org_path) {
                out.push(Refusal::invalid(
                    at("data.waybill"),
                    "该运单不在您的数据权限范围内",
                ));
                return;
            }
            if w.vehicle_id != Some(vehicle_id) {
                out.push(Refusal::invalid(
                    at("data.vehicle"),
                    format!("运单 {number} 的车辆是 {}", w.plate),
                ));
            }
            for (c, who) in [(w.driver, "driver"), (w.escort, "escort")] {
                if let Some(r) = c.and_then(|c| c.refusal(day)) {
                    out.push(Refusal::invalid(
                        at("data.waybill"),
                        format!("运单 {number}：{r}（{who}）"),
                    ));
                }
            }
        }
        None => match facts.my_certificate() {
            Some(c) if c.role == StaffRole::Driver => {
                if let Some(r) = c.refusal(day) {
                    out.push(Refusal::invalid(at("data.vehicle"), r));
                }
            }
            _ => out.push(Refusal::invalid(
                at("data.waybill"),
                "装卸车须填写电子运单号，或由已登记从业资格证的驾驶员本人记录",
            )),
        },
    }
}

/// A customer named by a delivery or recycling is registered and has an account with the actor's
/// organisation (C6); its id is written in canonical form (holdings are matched on it).
fn customer(id: &str, field: &str, facts: &impl GuardFacts, out: &mut Vec<Refusal>) {
    let Ok(uuid) = Uuid::parse_str(id) else {
        out.push(Refusal::invalid(
            field.to_owned(),
            "用户 id 应为已登记用户的 id",
        ));
        return;
    };
    if uuid.to_string() != id {
        out.push(Refusal::invalid(
            field.to_owned(),
            format!("用户 id 应写作小写带连字符的形式：{uuid}"),
        ));
        return;
    }
    match facts.customer(uuid) {
        None => out.push(Refusal::invalid(field.to_owned(), "用户未登记")),
        Some(false) => out.push(Refusal::invalid(field.to_owned(), "该用户未在您的单位开户")),
        Some(true) => {}
    }
}
