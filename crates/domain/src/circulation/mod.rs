//! Circulation and sales (C1–C11): the people and vehicles that move cylinders, customers and what
//! they hold, orders, household safety checks and the guards that refuse a move that would send a
//! cylinder where it must not go. Pure: the caller passes the facts and `today`; the store remembers.

mod customers;
mod guards;
mod household;
mod orders;
mod personal;
mod records;
mod recycling;
mod transport;

pub use customers::*;
pub use guards::*;
pub use household::*;
pub use orders::*;
pub use personal::*;
pub use records::*;
pub use recycling::*;

/// The kinds of business records of circulation (`biz_records.kind` in the store).
pub mod record_kind {
    pub const VEHICLE: &str = "vehicle";
    pub const STAFF: &str = "staff";
    pub const WAYBILL: &str = "waybill";
    pub const CUSTOMER: &str = "customer";
    /// A customer's account with a dealer organisation.
    pub const BINDING: &str = "binding";
    pub const ORDER: &str = "order";
    pub const DEPOSIT: &str = "deposit";
    pub const HOUSEHOLD_CHECK: &str = "household_check";
    pub const RECTIFICATION: &str = "rectification";
    pub const STOCKTAKE: &str = "stocktake";
    /// A carrier's (or any organisation's) qualification document.
    pub const ORG_DOC: &str = "org_doc";
    /// A vehicle cylinder's registration (A9), keyed by its label number.
    pub const CAR_BOTTLE: &str = "car_bottle";
    /// A recycling order (回收单, C4): empty cylinders to be taken back.
    pub const RECYCLING_ORDER: &str = "recycling_order";
}
pub use transport::*;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};

    #[test]
    fn id_numbers_are_checked_and_masked() {
        // C6: a real-name identity with a valid GB 11643 check character.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert!(IdNumber::parse("110105194912310021").is_err());
        assert!(IdNumber::parse("11010519491331002X").is_err());
        assert!(IdNumber::parse("1101051949123100").is_err());
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn phones_names_and_addresses_are_masked() {
        assert_eq!(Phone::parse("13812345678").unwrap().masked(), "138****5678");
        assert_eq!(
            Phone::parse("0871-65551234").unwrap().masked(),
            "087******1234"
        );
        assert!(Phone::parse("1381234567").is_err());
        assert!(Phone::parse("abc").is_err());
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(
            mask_address("昆明市五华区人民中路 18 号 3 栋"),
            "昆明市五华区人民中路***"
        );
    }

    #[test]
    fn plates_are_checked() {
        for ok in ["云A12345", "云AD12345", "云A1234挂", "云a·12345"] {
            assert!(Plate::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["A12345", "云112345", "云A1234", "云AI2345", "X云A12345"] {
            assert!(Plate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn holdings_split_owed_and_credit() {
        assert_eq!(
            Holdings::of(3, 1),
            Holdings {
                held: 3,
                deposits: 1,
                owed: 2,
                credit: 0
            }
        );
        assert_eq!(
            Holdings::of(0, 2),
            Holdings {
                held: 0,
                deposits: 2,
                owed: 0,
                credit: 2
            }
        );
    }

    #[test]
    fn order_states_move_forward_only() {
        use OrderState as S;
        assert_eq!(S::Created.dispatch(), Ok(S::Dispatched));
        assert_eq!(S::Dispatched.dispatch(), Ok(S::Dispatched));
        assert!(S::Created.deliver().is_err());
        assert_eq!(S::Dispatched.deliver(), Ok(S::Delivered));
        assert!(S::Delivered.cancel().is_err());
        assert!(S::Cancelled.dispatch().is_err());
    }

    #[test]
    fn stocktake_reports_missing_and_unexpected() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = Stocktake::compare(&s(&["a", "b", "c"]), &s(&["b", "c", "d", "d"]));
        assert_eq!(t.present, s(&["b", "c"]));
        assert_eq!(t.missing, s(&["a"]));
        assert_eq!(t.unexpected, s(&["d"]));
    }

    #[test]
    fn reminders() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T08:00:00+08:00")
            .unwrap()
            .to_utc();
        assert_eq!(reminder(now + Duration::days(3), now), None);
        assert_eq!(
            reminder(now + Duration::hours(20), now),
            Some(Reminder::DueSoon)
        );
        assert_eq!(
            reminder(now - Duration::hours(1), now),
            Some(Reminder::Overdue)
        );
    }

    // C1, C5: stock per site and cylinders held per customer, from the projection fold over random
    // event sequences (submitted in any order), against a simple model that only remembers where
    // each cylinder last went.
    mod model {

        use crate::event::Event;
        use crate::event::{EventData, EventKind};
        use crate::status::LocationKind;
        use crate::{CylinderCode, CylinderStatus};
        use chrono::{DateTime, Duration};
        use proptest::prelude::*;
        use serde_json::json;
        use std::collections::BTreeMap;
        use uuid::Uuid;

        #[derive(Debug, Clone)]
        enum Op {
            StoreIn { site: u8, full: bool },
            StoreOut { full: bool },
            Load,
            Unload { site: u8 },
            Deliver { customer: u8 },
            Recycle { site: u8 },
            Fill { site: u8 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..3, any::<bool>()).prop_map(|(site, full)| Op::StoreIn { site, full }),
                any::<bool>().prop_map(|full| Op::StoreOut { full }),
                Just(Op::Load),
                (0u8..3).prop_map(|site| Op::Unload { site }),
                (0u8..3).prop_map(|customer| Op::Deliver { customer }),
                (0u8..3).prop_map(|site| Op::Recycle { site }),
                (0u8..3).prop_map(|site| Op::Fill { site }),
            ]
        }

        fn site(n: u8) -> Uuid {
            Uuid::from_u128(u128::from(n) + 1)
        }

        fn event(code: &CylinderCode, op: &Op, minute: i64) -> Event {
            let t = DateTime::parse_from_rfc3339("2026-11-01T00:00:00+08:00")
                .unwrap()
                .to_utc()
                + Duration::minutes(minute);
            let (kind, data, at) = match op {
                Op::StoreIn { site: s, full } => {
                    (EventKind::StoreIn, json!({"full": full}), Some(*s))
                }
                Op::StoreOut { full } => (EventKind::StoreOut, json!({"full": full}), None),
                Op::Load => (EventKind::Load, json!({"vehicle": "云A12345"}), None),
                Op::Unload { site: s } => {
                    (EventKind::Unload, json!({"vehicle": "云A12345"}), Some(*s))
                }
                Op::Deliver { customer } => (
                    EventKind::Deliver,
                    json!({"customer_id": format!("c{customer}")}),
                    None,
                ),
                Op::Recycle { site: s } => (EventKind::Recycle, json!({}), Some(*s)),
                Op::Fill { site: s } => (
                    EventKind::Fill,
                    json!({"scale_no": "S1", "begin": t.to_rfc3339(), "end": t.to_rfc3339(),
                           "tare_kg": 15, "gross_kg": 29.5}),
                    Some(*s),
                ),
            };
            Event {
                id: Uuid::new_v4(),
                data: EventData::parse(kind, &data, "").unwrap(),
                codes: vec![code.clone()],
                time: t,
                site_id: at.map(site),
                operator: None,
                device: None,
                position: None,
            }
        }

        /// Where the model says a cylinder is: in stock at (site, full), or held by a customer.
        #[derive(Debug, Clone, Default)]
        struct Where {
            stock: Option<(u8, bool)>,
            holder: Option<u8>,
            full: bool,
        }

        fn step(w: &mut Where, op: &Op) {
            w.holder = None;
            w.stock = None;
            match op {
                Op::StoreIn { site, full } => {
                    w.full = *full;
                    w.stock = Some((*site, *full));
                }
                Op::StoreOut { .. } | Op::Load => {}
                Op::Unload { site } => {
                    if !w.full {
                        w.stock = Some((*site, false));
                    }
                }
                Op::Deliver { customer } => w.holder = Some(*customer),
                Op::Recycle { site } => {
                    w.full = false;
                    w.stock = Some((*site, false));
                }
                Op::Fill { site } => {
                    w.full = true;
                    w.stock = Some((*site, true));
                }
            }
        }

        proptest! {
            #[test]
            fn stock_and_holdings_follow_the_last_move(
                ops in proptest::collection::vec((0usize..4, op()), 0..60),
                seed in any::<u64>(),
            ) {
                let codes: Vec<CylinderCode> = (0..4)
                    .map(|i| CylinderCode::parse(&format!("110300783{i}")).unwrap())
                    .collect();
                let archive = |c: &CylinderCode| crate::Archive::blank(c.clone());
                let mut events: Vec<Event> = ops
                    .iter()
                    .enumerate()
                    .map(|(i, (c, op))| event(&codes[*c], op, i as i64))
                    .collect();
                let mut model: Vec<Where> = vec![Where::default(); 4];
                for (c, op) in &ops {
                    step(&mut model[*c], op);
                }
                // Submission order does not matter: the fold sorts by event time.
                let mut x = seed;
                for i in (1..events.len()).rev() {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    events.swap(i, (x >> 33) as usize % (i + 1));
                }
                let mut stock: BTreeMap<(Uuid, bool), usize> = BTreeMap::new();
                let mut held: BTreeMap<String, usize> = BTreeMap::new();
                for c in &codes {
                    let s = CylinderStatus::fold(&archive(c), events.iter().filter(|e| &e.codes[0] == c));
                    match (s.location_kind, s.site_id) {
                        (LocationKind::FullStore, Some(site)) => *stock.entry((site, true)).or_default() += 1,
                        (LocationKind::EmptyStore, Some(site)) => *stock.entry((site, false)).or_default() += 1,
                        _ => {}
                    }
                    if let Some(h) = &s.holder {
                        *held.entry(h.to_string()).or_default() += 1;
                    }
                }
                let mut want_stock: BTreeMap<(Uuid, bool), usize> = BTreeMap::new();
                let mut want_held: BTreeMap<String, usize> = BTreeMap::new();
                for w in &model {
                    if let Some((s, full)) = w.stock {
                        *want_stock.entry((site(s), full)).or_default() += 1;
                    }
                    if let Some(h) = w.holder {
                        *want_held.entry(format!("c{h}")).or_default() += 1;
                    }
                }
                prop_assert_eq!(stock, want_stock);
                prop_assert_eq!(held, want_held);
            }
        }
    }
}
