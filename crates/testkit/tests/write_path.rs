//! The event write path, black-box (issue 15; C3, C4, C5): a batch is judged event by event against
//! the cylinder's state including the earlier events of the same batch, all or nothing; and two
//! requests in flight at once never both pass a guard that only one of them may pass.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use common::*;
use cyltrace_testkit::{Resp, TestApp, World, archive, event, id_number, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

const CODE: &str = "1105001001";
const CODE2: &str = "1105001002";
const LPG: &str = "液化石油气";
const ADDRESS: &str = "昆明市五华区人民中路 18 号 3 栋";
/// Cylinders of the concurrency test: `1105100000` and on.
const RACE_BASE: u64 = 1_105_100_000;
const RACE_PAIRS: u64 = 100;

// ---------------------------------------------------------------------------------------------
// Helpers

/// An archive the guards accept (registered, next check date far ahead).
fn valid_archive(code: &str, owner: Uuid) -> Value {
    let mut a = archive(code, owner);
    a["next_check_date"] = json!("2030-06-01");
    // Checked recently: a next check 2030-06-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    a
}

/// Whole seconds before the server's now.
fn before_now(app: &TestApp, d: Duration) -> DateTime<Utc> {
    let t = app.state.now() - d;
    DateTime::from_timestamp(t.timestamp(), 0).expect("instant")
}

/// Registers a residential customer (bound to the caller's enterprise, C6) and answers the id.
async fn customer(app: &TestApp, token: &str, name: &str, seed: &str, phone: &str) -> Uuid {
    let body = json!({"kind": "residential", "name": name,
                      "id_number": id_number(&format!("53010219850615{seed}")), "phone": phone,
                      "addresses": [{"address": ADDRESS, "label": "家", "lat": 25.04, "lon": 102.71}]});
    let r = app
        .post(token, "/api/v1/customers", &body)
        .await
        .expect(201);
    assert_eq!(r.body["bound"], json!(true), "{}", r.text);
    id_of(&r)
}

/// An enterprise with the cylinders `codes` (not yet filled) and two customers bound to it.
async fn setup(app: &TestApp, tag: &str, codes: &[&str]) -> (World, Uuid, Uuid) {
    let w = app.enterprise(tag).await;
    app.post_cylinders(
        &w.admin,
        codes.iter().map(|c| valid_archive(c, w.org)).collect(),
    )
    .await
    .expect(201);
    let a = customer(app, &w.admin, "张三", "001", "13812345678").await;
    let b = customer(app, &w.admin, "李四", "002", "13912345678").await;
    (w, a, b)
}

/// The station's three filling records of `code` (pre-fill check, fill, post-fill check) from `t`.
fn filling_events(w: &World, code: &str, t: DateTime<Utc>) -> Vec<Value> {
    let end = t + Duration::minutes(5);
    vec![
        event(
            "pre_fill_check",
            &[code],
            &rfc3339(t),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        event(
            "fill",
            &[code],
            &rfc3339(end),
            Some(w.station),
            json!({"scale_no": "CZ-01", "begin": rfc3339(end - Duration::minutes(3)),
                   "end": rfc3339(end), "tare_kg": 16.5, "gross_kg": 30.8, "medium": LPG}),
        ),
        event(
            "post_fill_check",
            &[code],
            &rfc3339(t + Duration::minutes(7)),
            Some(w.station),
            sample_data("post_fill_check"),
        ),
    ]
}

fn deliver(code: &str, t: DateTime<Utc>, customer: Uuid) -> Value {
    event(
        "deliver",
        &[code],
        &rfc3339(t),
        None,
        json!({"customer_id": customer.to_string()}),
    )
}

fn recycle(code: &str, t: DateTime<Utc>, customer: Uuid) -> Value {
    event(
        "recycle",
        &[code],
        &rfc3339(t),
        None,
        json!({"customer_id": customer.to_string()}),
    )
}

fn store(kind: &str, w: &World, code: &str, t: DateTime<Utc>, full: bool) -> Value {
    event(
        kind,
        &[code],
        &rfc3339(t),
        Some(w.warehouse),
        json!({"full": full}),
    )
}

/// `status` of `GET /cylinders/{code}`.
async fn status(app: &TestApp, token: &str, code: &str) -> Value {
    let r = app
        .get(token, &format!("/api/v1/cylinders/{code}"))
        .await
        .expect(200);
    r.body["status"].clone()
}

/// The codes a customer holds (`held_codes` of `GET /customers/{id}`).
async fn held(app: &TestApp, token: &str, id: Uuid) -> BTreeSet<String> {
    let r = app
        .get(token, &format!("/api/v1/customers/{id}"))
        .await
        .expect(200);
    r.body["held_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no held_codes: {}", r.text))
        .iter()
        .map(|v| v.as_str().expect("code").to_owned())
        .collect()
}

/// The ids of the events of a batch.
fn ids(batch: &[Value]) -> Vec<String> {
    batch
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The ids of a `201 {"accepted": [...]}` answer, in batch order.
#[track_caller]
fn accepted_ids(r: &Resp) -> Vec<String> {
    r.body["accepted"]
        .as_array()
        .unwrap_or_else(|| panic!("no accepted list: {}", r.text))
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. A batch sees its own earlier events

// Issue 15: a batch is judged event by event against the state including the earlier events of the
// same batch. C4: a cylinder filled and checked at the station is full, so the delivery that
// follows it in the same request is accepted, and the cylinder is then at the customer (C5).
#[tokio::test]
async fn fill_and_deliver_in_one_batch_is_accepted() {
    let app = TestApp::spawn().await;
    let (w, a, _) = setup(&app, "fd", &[CODE]).await;
    let t0 = before_now(&app, Duration::hours(2));
    let mut batch = filling_events(&w, CODE, t0);
    batch.push(deliver(CODE, t0 + Duration::minutes(30), a));
    let r = app.post_events(&w.admin, batch.clone()).await.expect(201);
    assert_eq!(accepted_ids(&r), ids(&batch), "{}", r.text);
    let s = status(&app, &w.admin, CODE).await;
    assert_eq!(s["location_kind"], json!("at_customer"), "{s}");
    assert_eq!(s["event_count"], json!(4), "{s}");
    assert_eq!(
        held(&app, &w.admin, a).await,
        BTreeSet::from([CODE.to_owned()])
    );
    let stored: Vec<Value> = events_of(&app, &w.admin, CODE)
        .await
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(
        stored,
        ids(&batch).iter().map(|i| json!(i)).collect::<Vec<_>>()
    );
}

// Issue 15, C1: a cylinder stored full and taken out full in one request: the store-out sees the
// store-in before it.
#[tokio::test]
async fn store_in_full_then_store_out_full_in_one_batch_is_accepted() {
    let app = TestApp::spawn().await;
    let (w, _, _) = setup(&app, "so", &[CODE]).await;
    let t0 = before_now(&app, Duration::hours(1));
    let batch = vec![
        store("store_in", &w, CODE, t0, true),
        store("store_out", &w, CODE, t0 + Duration::minutes(5), true),
    ];
    let r = app.post_events(&w.admin, batch.clone()).await.expect(201);
    assert_eq!(accepted_ids(&r), ids(&batch), "{}", r.text);
    let s = status(&app, &w.admin, CODE).await;
    assert_eq!(s["location_kind"], json!("in_transport"), "{s}");
    assert_eq!(s["full"], json!(true), "{s}");
    assert_eq!(s["out_since_fill"], json!(true), "{s}");
}

// ---------------------------------------------------------------------------------------------
// 2. All or nothing

/// Posts `batch` and asserts: 422 naming `events[2].codes[0]`, and nothing of it stored (each id
/// unknown afterwards, the cylinders' event lists unchanged).
async fn assert_third_refused_and_nothing_stored(
    app: &TestApp,
    token: &str,
    batch: Vec<Value>,
    codes: &[&str],
) -> Resp {
    let mut before = Vec::new();
    for c in codes {
        before.push(events_of(app, token, c).await);
    }
    let r = problem(
        app.post_events(token, batch.clone()).await,
        422,
        Some("events[2].codes[0]"),
    );
    for id in ids(&batch) {
        problem(
            app.get(token, &format!("/api/v1/events/{id}")).await,
            404,
            None,
        );
    }
    for (c, b) in codes.iter().zip(before) {
        assert_eq!(events_of(app, token, c).await, b, "events of {c} changed");
    }
    r
}

// Issue 15, C4 C5: a batch whose third event is refused stores none of its events — here a recycle
// from a customer who does not hold the cylinder: the delivery before it in the batch went to
// another customer.
#[tokio::test]
async fn a_batch_whose_third_event_is_refused_stores_nothing() {
    let app = TestApp::spawn().await;
    let (w, a, b) = setup(&app, "rf", &[CODE, CODE2]).await;
    let t0 = before_now(&app, Duration::hours(1));
    let batch = vec![
        store("store_in", &w, CODE, t0, true),
        deliver(CODE, t0 + Duration::minutes(5), a),
        recycle(CODE, t0 + Duration::minutes(10), b),
    ];
    let r = assert_third_refused_and_nothing_stored(&app, &w.admin, batch, &[CODE]).await;
    assert!(r.text.contains("该用户未领用此气瓶"), "{}", r.text);
    assert!(held(&app, &w.admin, a).await.is_empty());
    let s = status(&app, &w.admin, CODE).await;
    assert_eq!(s["event_count"], json!(0), "{s}");

    // C4: the delivery of an empty cylinder as the third event, after good events of two
    // cylinders: nothing stored either.
    let batch = vec![
        event(
            "tag_bind",
            &[CODE2],
            &rfc3339(t0 + Duration::minutes(20)),
            None,
            sample_data("tag_bind"),
        ),
        store("store_in", &w, CODE, t0 + Duration::minutes(21), false),
        deliver(CODE, t0 + Duration::minutes(22), a),
    ];
    let r = assert_third_refused_and_nothing_stored(&app, &w.admin, batch, &[CODE, CODE2]).await;
    assert!(r.text.contains("不是重瓶"), "{}", r.text);
    assert!(held(&app, &w.admin, a).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Concurrent requests

// Issue 15, C4 C5: two deliveries of one full cylinder to two different customers, in flight at
// the same time: exactly one is accepted, the other refused ("气瓶在用户处" or not full), and the
// cylinder is held by the accepted one's customer only — 100 times, on 100 cylinders.
#[tokio::test]
async fn concurrent_deliveries_of_one_cylinder_accept_exactly_one() {
    let app = TestApp::spawn().await;
    let codes: Vec<String> = (0..RACE_PAIRS)
        .map(|i| (RACE_BASE + i).to_string())
        .collect();
    let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let (w, a, b) = setup(&app, "cc", &refs).await;
    let t0 = before_now(&app, Duration::hours(1));
    // All 100 cylinders full in the warehouse, by one batch.
    let stored: Vec<Value> = codes
        .iter()
        .map(|c| store("store_in", &w, c, t0, true))
        .collect();
    app.post_events(&w.admin, stored).await.expect(201);

    let t1 = t0 + Duration::minutes(10);
    let mut both = Vec::new();
    let mut neither = Vec::new();
    let mut held_a = BTreeSet::new();
    let mut held_b = BTreeSet::new();
    for (i, code) in codes.iter().enumerate() {
        // The first of the pair alternates, so that neither customer is always sent first.
        let (x, y) = if i % 2 == 0 { (a, b) } else { (b, a) };
        let (rx, ry) = tokio::join!(
            app.post_events(&w.admin, vec![deliver(code, t1, x)]),
            app.post_events(&w.admin, vec![deliver(code, t1, y)]),
        );
        for r in [&rx, &ry] {
            let s = r.status.as_u16();
            assert!(s == 201 || s == 422, "{code}: unexpected {s}: {}", r.text);
            if s == 422 {
                assert_eq!(r.fields(), ["events[0].codes[0]"], "{}", r.text);
            }
        }
        let winner = match (rx.status.as_u16(), ry.status.as_u16()) {
            (201, 201) => {
                both.push(code.clone());
                continue;
            }
            (422, 422) => {
                neither.push(code.clone());
                continue;
            }
            (201, _) => x,
            _ => y,
        };
        let set = if winner == a {
            &mut held_a
        } else {
            &mut held_b
        };
        set.insert(code.clone());
    }
    assert!(
        both.is_empty() && neither.is_empty(),
        "of {RACE_PAIRS} pairs of concurrent deliveries, {} were both accepted ({:?}…) and {} both refused ({:?}…)",
        both.len(),
        &both[..both.len().min(5)],
        neither.len(),
        &neither[..neither.len().min(5)]
    );
    // The holder is the accepted one's customer, and only that one.
    assert_eq!(held(&app, &w.admin, a).await, held_a);
    assert_eq!(held(&app, &w.admin, b).await, held_b);
    for code in &codes {
        let s = status(&app, &w.admin, code).await;
        assert_eq!(s["location_kind"], json!("at_customer"), "{code}: {s}");
        // The store-in and one delivery.
        assert_eq!(s["event_count"], json!(2), "{code}: {s}");
    }
}
