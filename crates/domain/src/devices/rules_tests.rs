//! Tests of `rules`.

use super::*;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-04T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn rule(v: Value) -> AlarmRule {
    parse_rule(&v).unwrap_or_else(|e| panic!("{e}"))
}

fn threshold(for_secs: u32) -> AlarmRule {
    rule(json!({"name": "浓度过高", "device_type": "leak_alarm",
        "condition": {"property": "concentration", "op": ">", "value": 20},
        "for_secs": for_secs, "severity": "critical"}))
    .with_property_name("浓度")
}

fn offline(for_secs: u32) -> AlarmRule {
    rule(
        json!({"name": "离线", "condition": {"offline": true}, "for_secs": for_secs,
        "severity": "major"}),
    )
}

fn event_rule() -> AlarmRule {
    rule(json!({"name": "泄漏", "condition": {"event": "leak"}, "severity": "critical"}))
}

fn vals(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Runs inputs through `step`, returning the final state and the transitions.
fn run(rule: &AlarmRule, inputs: &[Input]) -> (RuleState, Vec<Transition>) {
    let mut s = RuleState::default();
    let mut out = Vec::new();
    for i in inputs {
        let (n, t) = step(rule, &s, *i);
        s = n;
        out.extend(t);
    }
    (s, out)
}

fn is_raise(t: &Transition) -> bool {
    matches!(t, Transition::Raise { .. })
}

// H3, C10: a concentration held only briefly does not raise.
#[test]
fn threshold_held_briefly_does_not_raise() {
    let r = threshold(60);
    let hi = vals(json!({"concentration": 23.5}));
    let lo = vals(json!({"concentration": 5}));
    let (s, ts) = run(
        &r,
        &[
            Input::Property {
                values: &hi,
                at: at(0),
            },
            Input::Property {
                values: &hi,
                at: at(30),
            },
            Input::Tick { now: at(59) },
            Input::Property {
                values: &lo,
                at: at(59),
            },
            Input::Tick { now: at(200) },
        ],
    );
    assert!(ts.is_empty(), "{ts:?}");
    assert_eq!(s, RuleState::default());
}

// H3, C10: held past for_secs raises, repeats update, going back clears.
#[test]
fn threshold_held_past_for_secs_raises_once_then_clears() {
    let r = threshold(60);
    let hi = vals(json!({"concentration": 23.5, "battery": 80}));
    let lo = vals(json!({"concentration": 19.9}));
    let other = vals(json!({"battery": 10}));
    let (s, ts) = run(
        &r,
        &[
            Input::Property {
                values: &hi,
                at: at(0),
            },
            Input::Property {
                values: &other,
                at: at(10),
            },
            Input::Property {
                values: &hi,
                at: at(60),
            },
            Input::Property {
                values: &hi,
                at: at(70),
            },
            Input::Tick { now: at(80) },
            Input::Property {
                values: &lo,
                at: at(90),
            },
        ],
    );
    assert_eq!(
        ts,
        vec![
            Transition::Raise {
                at: at(60),
                detail_zh: "浓度 concentration = 23.5 > 20（持续 60 秒）".into()
            },
            Transition::Update { at: at(70) },
            Transition::Clear { at: at(90) },
        ]
    );
    assert!(!s.active);
    assert_eq!(s.pending_since, None);
}

// H3: a held condition with no new readings still raises on a tick.
#[test]
fn threshold_raises_on_tick_without_new_readings() {
    let r = threshold(60);
    let hi = vals(json!({"concentration": 30}));
    let (s, ts) = run(
        &r,
        &[
            Input::Property {
                values: &hi,
                at: at(0),
            },
            Input::Tick { now: at(59) },
            Input::Tick { now: at(61) },
            Input::Tick { now: at(120) },
        ],
    );
    assert_eq!(
        ts,
        vec![Transition::Raise {
            at: at(61),
            detail_zh: "浓度 concentration = 30 > 20（持续 60 秒）".into()
        }]
    );
    assert!(s.active);
    assert_eq!(s.pending_since, Some(at(0)));
}

// H3: for_secs 0 raises on the first satisfying reading; a report without the property, a
// non-numeric value and other kinds of input change nothing.
#[test]
fn threshold_immediate_and_irrelevant_inputs() {
    let r = threshold(0);
    let hi = vals(json!({"concentration": 21}));
    let text = vals(json!({"concentration": "high"}));
    let empty = Map::new();
    let s0 = RuleState::default();
    for i in [
        Input::Property {
            values: &empty,
            at: at(0),
        },
        Input::Property {
            values: &text,
            at: at(0),
        },
        Input::Event {
            event: "leak",
            at: at(0),
        },
        Input::Offline { at: at(0) },
        Input::Online { at: at(0) },
        Input::Tick { now: at(0) },
    ] {
        assert_eq!(step(&r, &s0, i), (s0.clone(), None));
    }
    let (s, t) = step(
        &r,
        &s0,
        Input::Property {
            values: &hi,
            at: at(5),
        },
    );
    assert!(s.active);
    assert!(matches!(t, Some(Transition::Raise { at: a, .. }) if a == at(5)));
    // Without the model's name the detail names the property id only.
    let mut bare = threshold(0);
    bare.property_name = None;
    let (_, t) = step(
        &bare,
        &s0,
        Input::Property {
            values: &hi,
            at: at(5),
        },
    );
    assert_eq!(
        t,
        Some(Transition::Raise {
            at: at(5),
            detail_zh: "concentration = 21 > 20".into()
        })
    );
}

// H3: each operator.
#[test]
fn operators() {
    assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
    assert!(Op::Ge.holds(1.0, 1.0) && !Op::Ge.holds(0.5, 1.0));
    assert!(Op::Lt.holds(0.0, 1.0) && !Op::Lt.holds(1.0, 1.0));
    assert!(Op::Le.holds(1.0, 1.0) && !Op::Le.holds(1.5, 1.0));
    assert!(Op::Eq.holds(1.0, 1.0) && !Op::Eq.holds(1.1, 1.0));
    assert!(!Op::Eq.holds(f64::NAN, f64::NAN));
    // Booleans compare as 1 / 0.
    let r = rule(
        json!({"name": "门开", "condition": {"property": "door", "op": "==",
        "value": 1}, "severity": "info"}),
    );
    let open = vals(json!({"door": true}));
    let (s, t) = step(
        &r,
        &RuleState::default(),
        Input::Property {
            values: &open,
            at: at(0),
        },
    );
    assert!(s.active && t.is_some());
}

// C10: a leak event raises once, then updates; step never clears it.
#[test]
fn event_raises_once_then_updates() {
    let r = event_rule();
    let (s, ts) = run(
        &r,
        &[
            Input::Event {
                event: "mute",
                at: at(0),
            },
            Input::Event {
                event: "leak",
                at: at(1),
            },
            Input::Event {
                event: "leak",
                at: at(2),
            },
            Input::Online { at: at(3) },
            Input::Tick { now: at(100_000) },
            Input::Event {
                event: "leak",
                at: at(100_001),
            },
        ],
    );
    assert_eq!(
        ts,
        vec![
            Transition::Raise {
                at: at(1),
                detail_zh: "发生事件 leak".into()
            },
            Transition::Update { at: at(2) },
            Transition::Update { at: at(100_001) },
        ]
    );
    assert!(s.active);
    // After a person clears it the store resets the state: the next event raises anew.
    let (_, t) = step(
        &r,
        &RuleState::default(),
        Input::Event {
            event: "leak",
            at: at(5),
        },
    );
    assert!(t.as_ref().is_some_and(is_raise));
}

// H5 (8.1.1 status): offline for for_secs raises, online clears.
#[test]
fn offline_with_for_secs() {
    let r = offline(300);
    let (s, ts) = run(
        &r,
        &[
            Input::Offline { at: at(0) },
            Input::Tick { now: at(100) },
            Input::Online { at: at(200) },
            Input::Tick { now: at(400) },
            Input::Offline { at: at(1000) },
            Input::Tick { now: at(1299) },
            Input::Tick { now: at(1300) },
            Input::Offline { at: at(1400) },
            Input::Online { at: at(1500) },
        ],
    );
    assert_eq!(
        ts,
        vec![
            Transition::Raise {
                at: at(1300),
                detail_zh: "设备离线（持续 300 秒）".into()
            },
            Transition::Update { at: at(1400) },
            Transition::Clear { at: at(1500) },
        ]
    );
    assert_eq!(s, RuleState::default());
    // for_secs 0: at once.
    let (_, t) = step(
        &offline(0),
        &RuleState::default(),
        Input::Offline { at: at(0) },
    );
    assert_eq!(
        t,
        Some(Transition::Raise {
            at: at(0),
            detail_zh: "设备离线".into()
        })
    );
}

// The state is plain JSON for the store.
#[test]
fn state_round_trips_as_json() {
    let s = RuleState {
        pending_since: Some(at(3)),
        active: true,
        last_value: Some(1.5),
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(serde_json::from_value::<RuleState>(v).unwrap(), s);
    assert_eq!(
        serde_json::from_value::<RuleState>(json!({"pending_since": null, "active": false}))
            .unwrap(),
        RuleState::default()
    );
}

fn arb_input() -> impl Strategy<Value = (u8, i64, f64)> {
    (0u8..6, 0i64..400, 0.0f64..40.0)
}

proptest! {
    // H3: for threshold and offline rules Raise and Clear alternate (starting with Raise),
    // Updates only happen while active, and `active` equals "the last transition was Raise or
    // Update".
    #[test]
    fn raise_and_clear_alternate(
        for_secs in 0u32..120,
        use_offline in any::<bool>(),
        seq in proptest::collection::vec(arb_input(), 0..60),
    ) {
        let r = if use_offline { offline(for_secs) } else { threshold(for_secs) };
        let mut s = RuleState::default();
        let mut last: Option<Transition> = None;
        let mut clock = 0i64;
        for (kind, dt, v) in seq {
            // Mostly forward time with the odd step back (device clocks).
            clock += dt - 20;
            let map = vals(json!({"concentration": v}));
            let other = vals(json!({"battery": v}));
            let input = match kind {
                0 => Input::Property { values: &map, at: at(clock) },
                1 => Input::Property { values: &other, at: at(clock) },
                2 => Input::Offline { at: at(clock) },
                3 => Input::Online { at: at(clock) },
                4 => Input::Event { event: "leak", at: at(clock) },
                _ => Input::Tick { now: at(clock) },
            };
            let was_active = s.active;
            let (n, t) = step(&r, &s, input);
            match &t {
                Some(Transition::Raise { .. }) => prop_assert!(!was_active, "two raises"),
                Some(Transition::Clear { .. }) => prop_assert!(was_active, "clear without raise"),
                Some(Transition::Update { .. }) => prop_assert!(was_active, "update while cleared"),
                None => prop_assert_eq!(n.active, was_active),
            }
            if t.is_some() {
                last = t;
            }
            let expect = matches!(last, Some(Transition::Raise { .. } | Transition::Update { .. }));
            prop_assert_eq!(n.active, expect);
            s = n;
        }
    }

    // C10: an event rule raises at most once and never clears.
    #[test]
    fn event_rule_raises_once(seq in proptest::collection::vec(arb_input(), 0..40)) {
        let r = event_rule();
        let mut s = RuleState::default();
        let mut raises = 0;
        for (kind, dt, _) in seq {
            let input = match kind {
                0 | 1 => Input::Event { event: "leak", at: at(dt) },
                2 => Input::Event { event: "mute", at: at(dt) },
                3 => Input::Online { at: at(dt) },
                4 => Input::Offline { at: at(dt) },
                _ => Input::Tick { now: at(dt) },
            };
            let (n, t) = step(&r, &s, input);
            let cleared = matches!(t, Some(Transition::Clear { .. }));
            prop_assert!(!cleared, "an event alarm cleared by step");
            if t.as_ref().is_some_and(is_raise) {
                raises += 1;
            }
            s = n;
        }
        prop_assert!(raises <= 1);
    }
}

/// Any JSON value, a few levels deep.
pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!(Uuid::nil().to_string())),
        Just(json!("leak")),
        Just(json!(">")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("property".to_owned()),
                    Just("op".to_owned()),
                    Just("value".to_owned()),
                    Just("event".to_owned()),
                    Just("offline".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    // H3: changing one field of a good rule to anything either still parses or is refused
    // naming that field (and only it); the parser never panics nor refuses without a reason.
    #[test]
    fn one_bad_field_is_named(
        key in prop_oneof![
            Just("name"), Just("device_type"), Just("group"), Just("device_id"),
            Just("condition"), Just("for_secs"), Just("severity"), Just("notify"),
            Just("other"),
        ],
        value in arb_json(),
    ) {
        let mut v = threshold(60).to_json();
        v[key] = value;
        match parse_rule(&v) {
            Ok(r) => prop_assert_eq!(parse_rule(&r.to_json()), Ok(r)),
            Err(e) => {
                prop_assert!(!e.is_empty());
                for f in &e.0 {
                    prop_assert!(f.field.starts_with(key), "{} for {}", f.field, key);
                }
            }
        }
    }

    #[test]
    fn never_panics(v in arb_json()) {
        if let Err(e) = parse_rule(&v) {
            prop_assert!(!e.is_empty());
        }
    }
}

// H3: the full request parses, and round-trips through to_json.
#[test]
fn good_rules_parse() {
    let ch = Uuid::new_v4();
    let dev = Uuid::new_v4();
    let r = rule(
        json!({"name": "  浓度过高 ", "device_type": "leak_alarm", "group": "A区",
        "device_id": dev.to_string(),
        "condition": {"property": "concentration", "op": ">=", "value": 20.5},
        "for_secs": 86400, "severity": "warning", "notify": [ch.to_string()]}),
    );
    assert_eq!(r.name, "浓度过高");
    assert_eq!(r.device_type.as_deref(), Some("leak_alarm"));
    assert_eq!(r.group.as_deref(), Some("A区"));
    assert_eq!(r.device_id, Some(dev));
    assert_eq!(
        r.condition,
        Condition::Threshold {
            property: "concentration".into(),
            op: Op::Ge,
            value: 20.5
        }
    );
    assert_eq!(r.for_secs, 86400);
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.notify, vec![ch]);
    assert_eq!(parse_rule(&r.to_json()).unwrap(), r);
    assert_eq!(serde_json::to_value(&r).unwrap(), r.to_json());

    // A rule for all devices; nulls count as absent; notify may be omitted.
    let r = rule(
        json!({"name": "离线", "device_type": null, "condition": {"offline": true},
        "severity": "info"}),
    );
    assert_eq!(r.condition, Condition::Offline);
    assert_eq!((r.for_secs, r.notify.len()), (0, 0));
    assert_eq!(parse_rule(&r.to_json()).unwrap(), r);
    let r = event_rule();
    assert_eq!(
        r.condition,
        Condition::Event {
            event: "leak".into()
        }
    );
    assert_eq!(parse_rule(&r.to_json()).unwrap(), r);
}

fn fields(v: Value) -> Vec<(String, String)> {
    parse_rule(&v)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

fn field_names(v: Value) -> Vec<String> {
    fields(v).into_iter().map(|(f, _)| f).collect()
}

// H3: every bad field is named, all at once, in Chinese.
#[test]
fn bad_rules_name_every_field() {
    let notify: Vec<String> = (0..17).map(|_| Uuid::new_v4().to_string()).collect();
    let e = fields(json!({"name": "", "device_type": "泄漏", "group": " ",
        "device_id": "nope", "condition": {"property": "c", "op": "=>", "value": "20"},
        "for_secs": 86401, "severity": "fatal", "notify": notify, "extra": 1}));
    let names: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "extra",
            "name",
            "device_type",
            "group",
            "device_id",
            "condition.op",
            "condition.value",
            "for_secs",
            "severity",
            "notify"
        ]
    );
    let op = e.iter().find(|(f, _)| f == "condition.op").unwrap();
    assert_eq!(op.1, "比较符应为 >、>=、<、<=、==");
    let fs = e.iter().find(|(f, _)| f == "for_secs").unwrap();
    assert!(fs.1.contains("0 到 86400"), "{}", fs.1);
    assert!(
        e.iter().all(|(_, m)| m.chars().any(|c| c > '\u{2e80}')),
        "{e:?}"
    );

    assert_eq!(field_names(json!({})), ["name", "condition", "severity"]);
    assert_eq!(field_names(json!([])), [""]);
    assert_eq!(
        field_names(json!({"name": "x".repeat(65), "condition": {}, "severity": 1})),
        ["name", "condition", "severity"]
    );
    // Mixed or unknown condition shapes, and the parts of each shape.
    assert_eq!(
        field_names(
            json!({"name": "n", "condition": {"event": "a", "offline": true},
            "severity": "info"})
        ),
        ["condition"]
    );
    assert_eq!(
        field_names(json!({"name": "n", "condition": {"offline": false}, "severity": "info"})),
        ["condition.offline"]
    );
    assert_eq!(
        field_names(json!({"name": "n", "condition": {"event": "", "x": 1},
            "severity": "info"})),
        ["condition.x", "condition.event"]
    );
    assert_eq!(
        field_names(json!({"name": "n", "condition": {"property": "p"},
            "severity": "info", "for_secs": 1.5})),
        ["condition.op", "condition.value", "for_secs"]
    );
    assert_eq!(
        field_names(
            json!({"name": "n", "condition": "offline", "severity": "info",
            "for_secs": -1})
        ),
        ["condition", "for_secs"]
    );
    // notify: each bad id by index, duplicates refused.
    let a = Uuid::new_v4().to_string();
    assert_eq!(
        field_names(
            json!({"name": "n", "condition": {"offline": true}, "severity": "info",
            "notify": [a, 3, "x", a]})
        ),
        ["notify[1]", "notify[2]", "notify[3]"]
    );
    assert_eq!(
        field_names(
            json!({"name": "n", "condition": {"offline": true}, "severity": "info",
            "notify": {}})
        ),
        ["notify"]
    );
}

// H5: device selection by type, group and id.
#[test]
fn applies_to_devices() {
    let id = Uuid::new_v4();
    let dev = DeviceFacts {
        id,
        type_id: "leak_alarm",
        group: Some("A"),
    };
    let base = json!({"name": "n", "condition": {"offline": true}, "severity": "info"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        rule(b)
    };
    assert!(rule(base.clone()).applies_to(&dev));
    assert!(with("device_type", json!("leak_alarm")).applies_to(&dev));
    assert!(!with("device_type", json!("camera")).applies_to(&dev));
    assert!(with("group", json!("A")).applies_to(&dev));
    assert!(!with("group", json!("B")).applies_to(&dev));
    assert!(!with("group", json!("A")).applies_to(&DeviceFacts { group: None, ..dev }));
    assert!(with("device_id", json!(id)).applies_to(&dev));
    assert!(!with("device_id", json!(Uuid::new_v4())).applies_to(&dev));
    let mut both = with("device_type", json!("leak_alarm"));
    both.group = Some("B".into());
    assert!(!both.applies_to(&dev));
}

#[test]
fn severities() {
    let names: Vec<_> = Severity::ALL
        .iter()
        .map(|s| (s.as_str(), s.label_zh()))
        .collect();
    assert_eq!(
        names,
        [
            ("critical", "严重"),
            ("major", "重要"),
            ("minor", "次要"),
            ("warning", "警告"),
            ("info", "提示")
        ]
    );
    for s in Severity::ALL {
        assert_eq!(Severity::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
    }
    assert!(Severity::Critical < Severity::Info);
    assert_eq!(Severity::parse("fatal"), None);
}

// H3: the four stored states and the ?state= filter.
#[test]
fn alarm_states_and_filters() {
    assert_eq!(state_str(true, false), "active_unack");
    assert_eq!(state_str(true, true), "active_ack");
    assert_eq!(state_str(false, false), "cleared_unack");
    assert_eq!(state_str(false, true), "cleared_ack");
    let all = [(true, false), (true, true), (false, false), (false, true)];
    let hits = |f: &str| -> Vec<&'static str> {
        let f = parse_state_filter(f).unwrap();
        all.iter()
            .filter(|(a, k)| f.matches(*a, *k))
            .map(|(a, k)| state_str(*a, *k))
            .collect()
    };
    for (a, k) in all {
        assert_eq!(hits(state_str(a, k)), [state_str(a, k)]);
        assert_eq!(
            AlarmState {
                active: a,
                acked: k
            }
            .as_str(),
            state_str(a, k)
        );
    }
    assert_eq!(hits("active"), ["active_unack", "active_ack"]);
    assert_eq!(hits("cleared"), ["cleared_unack", "cleared_ack"]);
    assert_eq!(hits("unack"), ["active_unack", "cleared_unack"]);
    assert_eq!(hits("ack"), ["active_ack", "cleared_ack"]);
    assert_eq!(
        hits("open"),
        ["active_unack", "active_ack", "cleared_unack"]
    );
    let e = parse_state_filter("closed").unwrap_err();
    assert_eq!(e.0[0].field, "state");
    assert!(parse_state_filter("").is_err());
}
