//! The cylinder status projection: where a cylinder is and the facts the filling rules read, as a pure
//! fold over its events in time order (ties in record order). The store keeps the result beside the
//! archive and updates it in the same transaction as the events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::archive::{Archive, CylinderState, Registration};
use crate::event::{Conclusion, Event, EventData};
use crate::time::Date;
use crate::units::Text;

/// Lifecycle location (A10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LocationKind {
    /// No event has placed it yet.
    #[default]
    Unknown,
    EmptyStore,
    FullStore,
    InTransport,
    AtDealer,
    AtCustomer,
    InInspection,
    Scrapped,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::EmptyStore => "empty_store",
            Self::FullStore => "full_store",
            Self::InTransport => "in_transport",
            Self::AtDealer => "at_dealer",
            Self::AtCustomer => "at_customer",
            Self::InInspection => "in_inspection",
            Self::Scrapped => "scrapped",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Unknown => "未知",
            Self::EmptyStore => "空瓶库",
            Self::FullStore => "重瓶库",
            Self::InTransport => "运输中",
            Self::AtDealer => "经销点",
            Self::AtCustomer => "用户处",
            Self::InInspection => "检验中",
            Self::Scrapped => "已报废",
        }
    }
}

/// Whether the label is usable. A void label is never re-activated (A7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LabelStatus {
    #[default]
    Active,
    Void,
}

/// The current status of one cylinder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CylinderStatus {
    pub state: CylinderState,
    pub location_kind: LocationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<Uuid>,
    /// Holds gas (after a fill, until it comes back empty).
    pub full: bool,
    /// End of the last fill (B1.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fill_at: Option<DateTime<Utc>>,
    /// A passing post-fill check (复检) was recorded after the last fill (B1.12).
    pub post_fill_checked: bool,
    /// Since the last fill it went out (deliver, load, full store_out) … (B1.9)
    pub out_since_fill: bool,
    /// … and after that came back empty (recycle, unload, empty store_in).
    pub back_since_out: bool,
    /// Time of the last passed pre-fill check (B1.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pre_fill_pass_at: Option<DateTime<Utc>>,
    /// The kind of a failed check that took the cylinder out of circulation, until a passing re-check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    pub label: LabelStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_uid: Option<Text>,
    /// A label was bound to the archive (`tag_bind`, A5).
    #[serde(default)]
    pub tag_bound: bool,
    /// The inspection station the cylinder was sent to and has not yet answered for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_station: Option<Uuid>,
    /// The customer a `deliver` handed it to, until it moves again (C5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Text>,
    /// Time of the latest event applied (a late event older than this causes a refold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<DateTime<Utc>>,
    pub event_count: u64,
}

impl CylinderStatus {
    /// The status of a cylinder with no events yet, from its archive.
    pub fn initial(archive: &Archive) -> Self {
        let scrapped = archive.state == CylinderState::Scrapped;
        CylinderStatus {
            state: archive.state,
            location_kind: if scrapped {
                LocationKind::Scrapped
            } else {
                LocationKind::Unknown
            },
            site_id: None,
            full: false,
            last_fill_at: None,
            post_fill_checked: false,
            out_since_fill: false,
            back_since_out: false,
            last_pre_fill_pass_at: None,
            failed_check: None,
            last_check_date: archive.last_check_date,
            next_check_date: archive.next_check_date,
            registration: archive.registration.clone(),
            label: if scrapped {
                LabelStatus::Void
            } else {
                LabelStatus::Active
            },
            tag_uid: None,
            tag_bound: false,
            inspection_station: None,
            holder: None,
            last_event_at: None,
            event_count: 0,
        }
    }

    /// Whether applying an event at `time` needs a refold from the start (it is older than one applied).
    pub fn needs_refold(&self, time: DateTime<Utc>) -> bool {
        self.last_event_at.is_some_and(|last| time < last)
    }

    /// Applies one event (the fold step).
    pub fn apply(&mut self, e: &Event) {
        use EventData as D;
        let went_out = |s: &mut Self| {
            s.out_since_fill = true;
            s.back_since_out = false;
        };
        let came_back = |s: &mut Self| {
            if s.out_since_fill {
                s.back_since_out = true;
            }
            s.full = false;
        };
        let scrapped = self.state == CylinderState::Scrapped;
        match &e.data {
            D::TagBind(t) => {
                self.tag_bound = true;
                if t.tag_uid.is_some() {
                    self.tag_uid = t.tag_uid.clone();
                }
            }
            D::Register(r) => self.registration = Some(r.clone()),
            // A failed check takes the cylinder out of circulation until a passing re-check: a failed
            // pre- or in-fill check voids the last passed pre-fill check (rule B1.10 then refuses),
            // a failed post-fill check is no re-check record (B1.12 refuses) until one passes.
            D::PreFillCheck(c) => {
                if c.passed() {
                    self.last_pre_fill_pass_at = Some(e.time);
                    if matches!(
                        self.failed_check.as_deref(),
                        Some("pre_fill_check" | "in_fill_check")
                    ) {
                        self.failed_check = None;
                    }
                } else {
                    self.last_pre_fill_pass_at = None;
                    self.failed_check = Some("pre_fill_check".to_owned());
                }
                self.place(LocationKind::EmptyStore, e.site_id);
            }
            D::Fill(f) => {
                self.last_fill_at = Some(f.end.utc());
                self.post_fill_checked = false;
                self.out_since_fill = false;
                self.back_since_out = false;
                self.full = true;
                self.place(LocationKind::FullStore, e.site_id);
            }
            D::InFillCheck(c) => {
                if !c.passed() {
                    self.last_pre_fill_pass_at = None;
                    self.failed_check = Some("in_fill_check".to_owned());
                }
            }
            D::PostFillCheck(c) => {
                self.post_fill_checked = self.last_fill_at.is_some() && c.passed();
                if c.passed() {
                    if self.failed_check.as_deref() == Some("post_fill_check") {
                        self.failed_check = None;
                    }
                } else {
                    self.failed_check = Some("post_fill_check".to_owned());
                }
            }
            D::StoreIn(m) => {
                if m.full {
                    self.full = true;
                    self.place(LocationKind::FullStore, e.site_id);
                } else {
                    came_back(self);
                    self.place(LocationKind::EmptyStore, e.site_id);
                }
            }
            D::StoreOut(m) => {
                if m.full {
                    went_out(self);
                }
                self.place(LocationKind::InTransport, None);
            }
            D::Load(_) => {
                went_out(self);
                self.place(LocationKind::InTransport, None);
            }
            D::Unload(_) => {
                // Full cylinders are unloaded at dealers; empty ones at the station's empty store.
                let at = if self.full {
                    LocationKind::AtDealer
                } else {
                    LocationKind::EmptyStore
                };
                if self.out_since_fill {
                    self.back_since_out = true;
                }
                self.place(at, e.site_id);
            }
            D::Deliver(d) => {
                went_out(self);
                let at = if d.customer_id.is_some() {
                    LocationKind::AtCustomer
                } else {
                    LocationKind::AtDealer
                };
                self.place(at, e.site_id);
                self.holder = d.customer_id.clone();
            }
            D::Recycle(_) => {
                came_back(self);
                self.place(LocationKind::EmptyStore, e.site_id);
            }
            D::InspectionSend(s) => {
                self.inspection_station = Some(s.station_org_id);
                self.place(LocationKind::InInspection, None);
            }
            D::InspectionResult(r) => match r.conclusion {
                Conclusion::Pass => {
                    self.last_check_date = Some(r.check_date);
                    self.next_check_date = r.next_check_date;
                    self.failed_check = None;
                    self.place(LocationKind::EmptyStore, e.site_id);
                }
                Conclusion::Scrap => self.scrap(),
            },
            D::Scrap(_) => self.scrap(),
            D::ArchiveChange(c) => self.change(c),
            // The station's lab tests and repairs are kept in the trace; a repaired cylinder goes
            // back into use only through a passing re-check (B1.10, B1.12).
            D::LabTest(_) | D::Repair(_) => {}
        }
        if matches!(e.data, D::InspectionResult(_)) {
            self.inspection_station = None;
        }
        // A scrapped cylinder stays where the scrapping left it, whatever is recorded later.
        if scrapped || self.state == CylinderState::Scrapped {
            self.scrap();
        }
        self.last_event_at = Some(self.last_event_at.map_or(e.time, |t| t.max(e.time)));
        self.event_count += 1;
    }

    /// A correction of the archive: what the status carries of the archive follows it (A10: a
    /// lock takes the cylinder out of use until `normal` puts it back; a scrapped one stays so).
    fn change(&mut self, c: &crate::event::ArchiveChange) {
        fn value<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Option<T> {
            serde_json::from_value(v.clone()).ok()
        }
        if let Some(to) = c.to("state").and_then(value::<CylinderState>) {
            match to {
                CylinderState::Scrapped => self.scrap(),
                s if self.state != CylinderState::Scrapped => self.state = s,
                _ => {}
            }
        }
        if let Some(to) = c.to("next_check_date") {
            self.next_check_date = value(to);
        }
        if let Some(to) = c.to("last_check_date") {
            self.last_check_date = value(to);
        }
        if let Some(to) = c.to("registration") {
            self.registration = value(to);
        }
    }

    fn place(&mut self, at: LocationKind, site: Option<Uuid>) {
        self.location_kind = at;
        self.site_id = site;
        self.holder = None;
    }

    fn scrap(&mut self) {
        self.state = CylinderState::Scrapped;
        self.label = LabelStatus::Void;
        self.location_kind = LocationKind::Scrapped;
        self.full = false;
        self.holder = None;
    }

    /// The status after all `events` (any order: they are sorted by time, ties kept in the given
    /// record order).
    pub fn fold<'a>(archive: &Archive, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut evs: Vec<&Event> = events.into_iter().collect();
        evs.sort_by_key(|e| e.time); // stable: ties stay in record order
        let mut s = Self::initial(archive);
        for e in evs {
            s.apply(e);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use chrono::Duration;
    use proptest::prelude::*;
    use serde_json::json;

    fn archive() -> Archive {
        crate::parse::from_value(
            &json!({"code": "1103007831", "next_check_date": "2028-01-01"}),
            "",
        )
        .unwrap()
    }

    fn ev(kind: EventKind, minutes: i64) -> Event {
        let t0 = DateTime::parse_from_rfc3339("2026-11-01T00:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let t = t0 + Duration::minutes(minutes);
        let data = match kind {
            EventKind::Fill => {
                json!({"scale_no": "S1", "begin": t.to_rfc3339(), "end": t.to_rfc3339(), "tare_kg": 15, "gross_kg": 29.5})
            }
            EventKind::PreFillCheck => {
                json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true,
                "no_deformation": true, "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true})
            }
            EventKind::PostFillCheck => {
                json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true,
                "no_bulge_or_defect": true, "no_temperature_rise": true})
            }
            EventKind::StoreIn => json!({"full": false}),
            EventKind::StoreOut => json!({"full": true}),
            EventKind::Load | EventKind::Unload => json!({"vehicle": "云A12345"}),
            EventKind::Deliver => json!({"customer_id": "C1"}),
            EventKind::Recycle => json!({}),
            EventKind::Scrap => json!({"reason": "腐蚀"}),
            EventKind::InspectionSend => json!({"station_org_id": Uuid::nil()}),
            EventKind::InspectionResult => {
                json!({"conclusion": "pass", "check_date": "2026-11-02", "next_check_date": "2030-11-02",
                "report_no": "R1", "station_org_id": Uuid::nil(), "inspector": "李四"})
            }
            EventKind::InFillCheck => {
                json!({"no_abnormal_sound": true, "no_seal_leak": true, "wall_temperature_normal": true, "no_other_abnormality": true})
            }
            EventKind::TagBind => json!({}),
            EventKind::Register => json!({"number": "1", "date": "2026-11-01", "authority": "局"}),
            EventKind::ArchiveChange => {
                json!({"changes": {"state": {"from": "normal", "to": "locked"}}, "reason": "阀门损坏"})
            }
            EventKind::LabTest => {
                json!({"sample_no": "S1", "medium": "LPG", "result": "pass", "tester": "李工"})
            }
            EventKind::Repair => {
                json!({"items": "护罩校正", "valve_replaced": false, "repairer": "王师傅"})
            }
        };
        Event {
            id: Uuid::new_v4(),
            data: EventData::parse(kind, &data, "").unwrap(),
            codes: vec![crate::codes::CylinderCode::parse("1103007831").unwrap()],
            time: t,
            site_id: Some(Uuid::nil()),
            operator: None,
            device: None,
            position: None,
        }
    }

    #[test]
    fn full_circulation_cycle() {
        use EventKind as K;
        let a = archive();
        let evs: Vec<Event> = [
            K::PreFillCheck,
            K::Fill,
            K::PostFillCheck,
            K::StoreOut,
            K::Load,
            K::Unload,
            K::Deliver,
            K::Recycle,
        ]
        .iter()
        .enumerate()
        .map(|(i, k)| ev(*k, i as i64 * 10))
        .collect();
        let s = CylinderStatus::fold(&a, &evs);
        assert!(s.post_fill_checked && s.out_since_fill && s.back_since_out);
        assert_eq!(s.location_kind, LocationKind::EmptyStore);
        assert!(!s.full);
        assert_eq!(s.event_count, 8);
        let s = CylinderStatus::fold(&a, &evs[..4]);
        assert!(s.out_since_fill && !s.back_since_out);
        assert_eq!(s.location_kind, LocationKind::InTransport);
    }

    #[test]
    fn a_fill_resets_the_circulation_facts() {
        use EventKind as K;
        let evs = vec![
            ev(K::Fill, 0),
            ev(K::PostFillCheck, 1),
            ev(K::Deliver, 2),
            ev(K::Recycle, 3),
            ev(K::Fill, 60 * 25),
        ];
        let s = CylinderStatus::fold(&archive(), &evs);
        assert!(!s.post_fill_checked && !s.out_since_fill && !s.back_since_out && s.full);
        assert_eq!(s.last_fill_at, Some(evs[4].time));
    }

    #[test]
    fn scrap_voids_the_label_for_good() {
        use EventKind as K;
        // A7: a later pass or tag binding never re-activates the label.
        let evs = vec![
            ev(K::Scrap, 0),
            ev(K::InspectionResult, 10),
            ev(K::TagBind, 20),
            ev(K::Recycle, 30),
        ];
        let s = CylinderStatus::fold(&archive(), &evs);
        assert_eq!(
            (s.state, s.label, s.location_kind),
            (
                CylinderState::Scrapped,
                LabelStatus::Void,
                LocationKind::Scrapped
            )
        );
    }

    fn failed(kind: EventKind, minutes: i64) -> Event {
        let mut e = ev(kind, minutes);
        e.data = match e.data {
            EventData::PreFillCheck(crate::event::Check::Items(mut c)) => {
                c.no_cracks = false;
                EventData::PreFillCheck(crate::event::Check::Items(c))
            }
            EventData::InFillCheck(mut c) => {
                c.no_seal_leak = false;
                EventData::InFillCheck(c)
            }
            EventData::PostFillCheck(crate::event::Check::Items(mut c)) => {
                c.no_valve_neck_leak = false;
                EventData::PostFillCheck(crate::event::Check::Items(c))
            }
            other => other,
        };
        e
    }

    #[test]
    fn a_failed_check_takes_the_cylinder_out_until_a_passing_recheck() {
        use EventKind as K;
        let a = archive();
        // A failed pre-fill check voids an earlier pass; a passing re-check restores it.
        let s = CylinderStatus::fold(&a, &[ev(K::PreFillCheck, 0), failed(K::PreFillCheck, 10)]);
        assert_eq!(
            (s.last_pre_fill_pass_at, s.failed_check.as_deref()),
            (None, Some("pre_fill_check"))
        );
        let s = CylinderStatus::fold(&a, &[failed(K::PreFillCheck, 0), ev(K::PreFillCheck, 10)]);
        assert!(s.last_pre_fill_pass_at.is_some() && s.failed_check.is_none());
        // An abnormal in-fill check needs a new pre-fill check.
        let s = CylinderStatus::fold(
            &a,
            &[
                ev(K::PreFillCheck, 0),
                ev(K::Fill, 5),
                failed(K::InFillCheck, 6),
            ],
        );
        assert_eq!(
            (s.last_pre_fill_pass_at, s.failed_check.as_deref()),
            (None, Some("in_fill_check"))
        );
        // A failed post-fill check is no re-check record until a passing one.
        let s = CylinderStatus::fold(&a, &[ev(K::Fill, 0), failed(K::PostFillCheck, 5)]);
        assert!(!s.post_fill_checked);
        assert_eq!(s.failed_check.as_deref(), Some("post_fill_check"));
        let s = CylinderStatus::fold(
            &a,
            &[
                ev(K::Fill, 0),
                failed(K::PostFillCheck, 5),
                ev(K::PreFillCheck, 6),
            ],
        );
        assert_eq!(
            s.failed_check.as_deref(),
            Some("post_fill_check"),
            "a pre-fill pass does not clear a post-fill failure"
        );
        let s = CylinderStatus::fold(
            &a,
            &[
                ev(K::Fill, 0),
                failed(K::PostFillCheck, 5),
                ev(K::PostFillCheck, 9),
            ],
        );
        assert!(s.post_fill_checked && s.failed_check.is_none());
    }

    // A10: a lock takes the cylinder out of use, `normal` puts it back, a scrapped one stays
    // scrapped; a corrected inspection date is what the next decision reads.
    #[test]
    fn archive_changes_lock_unlock_and_correct_dates() {
        let change = |changes: serde_json::Value, minutes: i64| {
            let mut e = ev(EventKind::ArchiveChange, minutes);
            e.data = EventData::parse(
                EventKind::ArchiveChange,
                &json!({"changes": changes, "reason": "核实"}),
                "",
            )
            .unwrap();
            e
        };
        let a = archive();
        let today = Date::parse("2026-11-10").unwrap();
        let mut s = CylinderStatus::initial(&a);
        s.apply(&change(
            json!({"state": {"from": "normal", "to": "locked"}}),
            1,
        ));
        assert_eq!(Verdict::of(&a, &s, today), Verdict::Locked);
        s.apply(&change(
            json!({"state": {"from": "locked", "to": "normal"}}),
            2,
        ));
        assert_eq!(Verdict::of(&a, &s, today), Verdict::Ok);
        s.apply(&change(
            json!({"next_check_date": {"from": "2028-01-01", "to": "2026-01-01"}}),
            3,
        ));
        assert_eq!(Verdict::of(&a, &s, today), Verdict::Overdue);
        s.apply(&ev(EventKind::Scrap, 4));
        s.apply(&change(
            json!({"state": {"from": "scrapped", "to": "normal"}}),
            5,
        ));
        assert_eq!(s.state, CylinderState::Scrapped, "scrapped is final");
    }

    #[test]
    fn inspection_pass_moves_the_next_check_date() {
        let s = CylinderStatus::fold(&archive(), &[ev(EventKind::InspectionResult, 0)]);
        assert_eq!(s.next_check_date.unwrap().to_string(), "2030-11-02");
    }

    fn any_kind() -> impl Strategy<Value = EventKind> {
        proptest::sample::select(EventKind::ALL.to_vec())
    }

    proptest! {
        // The projection does not depend on arrival order: a late event refolds to the same result.
        #[test]
        fn fold_is_independent_of_arrival_order(kinds in proptest::collection::vec((any_kind(), 0i64..10_000), 0..30), seed in any::<u64>()) {
            let a = archive();
            let evs: Vec<Event> = kinds.iter().map(|(k, m)| ev(*k, *m)).collect();
            let mut shuffled: Vec<&Event> = evs.iter().collect();
            // Deterministic shuffle from the seed; equal times keep their relative record order
            // only in `evs`, so compare on distinct times.
            let mut times: Vec<_> = evs.iter().map(|e| e.time).collect();
            times.sort();
            times.dedup();
            prop_assume!(times.len() == evs.len());
            let n = shuffled.len();
            let mut x = seed;
            for i in (1..n).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (x >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(CylinderStatus::fold(&a, &evs), CylinderStatus::fold(&a, shuffled));
        }

        // Incremental application in time order equals the fold.
        #[test]
        fn incremental_equals_fold(kinds in proptest::collection::vec((any_kind(), 0i64..10_000), 0..30)) {
            let a = archive();
            let mut evs: Vec<Event> = kinds.iter().map(|(k, m)| ev(*k, *m)).collect();
            evs.sort_by_key(|e| e.time);
            let mut s = CylinderStatus::initial(&a);
            for e in &evs {
                prop_assert!(!s.needs_refold(e.time));
                s.apply(e);
            }
            prop_assert_eq!(s.clone(), CylinderStatus::fold(&a, &evs));
            prop_assert_eq!(s.event_count as usize, evs.len());
            if s.state == CylinderState::Scrapped { prop_assert_eq!(s.label, LabelStatus::Void); }
        }
    }
}

/// What the public page behind a label says about a cylinder (F2), worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The code is not a cylinder of this node, or its label was voided: the label is not genuine.
    InvalidLabel,
    Scrapped,
    /// Taken out of use (停用, A10) until its archive is put back to normal.
    Locked,
    /// Past its design service life.
    Expired,
    /// Past its next periodic inspection date.
    Overdue,
    Ok,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::InvalidLabel => "invalid_label",
            Verdict::Scrapped => "scrapped",
            Verdict::Locked => "locked",
            Verdict::Expired => "expired",
            Verdict::Overdue => "overdue",
            Verdict::Ok => "ok",
        }
    }

    /// The words on the phone page (UI.md).
    pub fn label_zh(self) -> &'static str {
        match self {
            Verdict::InvalidLabel => "标签非正品",
            Verdict::Scrapped => "已报废",
            Verdict::Locked => "已停用",
            Verdict::Expired => "已超过使用年限",
            Verdict::Overdue => "已超期未检",
            Verdict::Ok => "可以使用",
        }
    }

    /// The verdict for a known cylinder on the China calendar day `today`. A scrapped cylinder
    /// says so even though its label is void; a void label on a cylinder that is not scrapped is
    /// not genuine.
    pub fn of(archive: &Archive, status: &CylinderStatus, today: Date) -> Verdict {
        if status.state == CylinderState::Scrapped || archive.state == CylinderState::Scrapped {
            Verdict::Scrapped
        } else if status.label == LabelStatus::Void {
            Verdict::InvalidLabel
        } else if status.state == CylinderState::Locked {
            Verdict::Locked
        } else if archive.effective_discard_date().is_some_and(|d| d < today) {
            Verdict::Expired
        } else if status.next_check_date.is_none_or(|d| d < today) {
            Verdict::Overdue
        } else {
            Verdict::Ok
        }
    }
}
