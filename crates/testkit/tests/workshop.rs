//! Issue 17, black-box on both backends: the station's lab tests and repairs (B8) as events on the
//! cylinder, in its trace and the ledger; recycling orders (C4) created by a courier and confirmed at
//! the station with one `recycle` event, exactly once, or cancelled. Bad input names the field and
//! stores nothing; another enterprise sees none of it. A household check retried with its id (C9) is
//! stored once.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, World, archive, id_number};
use serde_json::{Value, json};
use uuid::Uuid;

async fn cylinders(app: &TestApp, w: &World, codes: &[&str]) {
    app.post_cylinders(
        &w.admin,
        codes
            .iter()
            .map(|c| {
                let mut a = archive(c, w.org);
                a["next_check_date"] = json!("2030-06-01");
                // Checked recently: a next check 2030-06-01 lies within the check period (issue 22).
                a["last_check_date"] = json!("2026-06-01");
                a
            })
            .collect(),
    )
    .await
    .expect(201);
}

fn lab_test(code: &str, station: Uuid) -> Value {
    json!({"id": Uuid::new_v4(), "codes": [code], "site_id": station, "time": ago(5),
           "sample_no": "S-20261204-01", "medium": "LPG", "result": "pass", "tester": "李工",
           "composition": {"丙烷": 62.5, "丁烷": 36.0, "C5及以上": 1.5}})
}

// B8: a lab test and a repair are events on the cylinder: in its events, its trace (flow table)
// and the ledger, listed with filters; a retry with the same id is stored once.
#[tokio::test]
async fn lab_tests_and_repairs_are_events_in_the_trace() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ws").await;
    cylinders(&app, &w, &["1107001001", "1107001002"]).await;
    let checker = app
        .user_token(&app.admin, w.org, "ws_checker", &["checker"])
        .await;

    let body = lab_test("1107001001", w.station);
    let first = app
        .post(&checker, "/api/v1/lab-tests", &body)
        .await
        .expect(201);
    let again = app
        .post(&checker, "/api/v1/lab-tests", &body)
        .await
        .expect(201);
    assert_eq!(first.body["ledger_index"], again.body["ledger_index"]);

    let repair = json!({"id": Uuid::new_v4(), "codes": ["1107001001"], "site_id": w.station,
        "items": "更换瓶阀", "valve_replaced": true, "valve_maker": "宁波阀门厂", "repairer": "王师傅"});
    app.post(&checker, "/api/v1/repairs", &repair)
        .await
        .expect(201);
    // Through the one write path too: POST /events with the kind.
    app.post_events(
        &w.admin,
        vec![cyltrace_testkit::event(
            "repair",
            &["1107001002"],
            &ago(2),
            Some(w.station),
            json!({"items": "护罩校正", "valve_replaced": false, "repairer": "王师傅"}),
        )],
    )
    .await
    .expect(201);

    let kinds: Vec<Value> = events_of(&app, &w.admin, "1107001001")
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("lab_test"), json!("repair")]);
    let flow = app
        .get(&w.admin, "/api/v1/cylinders/1107001001/trajectory")
        .await
        .expect(200);
    let text = flow.text;
    assert!(
        text.contains("化验") && text.contains("样品 S-20261204-01"),
        "{text}"
    );
    assert!(text.contains("维修") && text.contains("更换阀门"), "{text}");
    let idx = first.body["ledger_index"].as_i64().expect("index");
    let entry = app
        .get(&w.admin, &format!("/api/v1/ledger/entries/{idx}"))
        .await
        .expect(200);
    assert_eq!(entry.body["event_id"], body["id"]);

    let tests = app.get(&w.admin, "/api/v1/lab-tests").await.expect(200);
    assert_eq!(tests.body["total"], json!(1));
    assert_eq!(
        tests.body["items"][0]["data"]["composition"]["丙烷"],
        json!(62.5)
    );
    assert_eq!(tests.body["items"][0]["codes"], json!(["1107001001"]));
    let repairs = app
        .get(&w.admin, "/api/v1/repairs?code=1107001002")
        .await
        .expect(200);
    assert_eq!(repairs.body["total"], json!(1));
    assert_eq!(repairs.body["items"][0]["data"]["items"], json!("护罩校正"));

    // Scope: another enterprise lists none of them and cannot record on these cylinders.
    let other = app.enterprise("wx").await;
    let seen = app.get(&other.admin, "/api/v1/lab-tests").await.expect(200);
    assert_eq!(seen.body["total"], json!(0));
    problem(
        app.post(
            &other.admin,
            "/api/v1/lab-tests",
            &lab_test("1107001001", other.station),
        )
        .await,
        403,
        None,
    );
}

// B8: bad input names the field of the flat body and stores nothing; a filler may not record them.
#[tokio::test]
async fn bad_workshop_records_name_the_field() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("wb").await;
    cylinders(&app, &w, &["1107002001"]).await;
    let mut bad = lab_test("1107002001", w.station);
    bad["composition"] = json!({"丙烷": 80.0, "丁烷": 30.0});
    problem(
        app.post(&w.admin, "/api/v1/lab-tests", &bad).await,
        422,
        Some("composition"),
    );
    let mut bad = lab_test("1107002001", w.station);
    bad["result"] = json!("maybe");
    problem(
        app.post(&w.admin, "/api/v1/lab-tests", &bad).await,
        422,
        Some("result"),
    );
    let mut bad = lab_test("1107002001", w.station);
    bad["codes"] = json!(["1107002999"]);
    problem(
        app.post(&w.admin, "/api/v1/lab-tests", &bad).await,
        422,
        Some("codes[0]"),
    );
    let repair = json!({"id": Uuid::new_v4(), "codes": ["1107002001"], "items": "更换瓶阀",
        "valve_replaced": true, "repairer": "王师傅"});
    problem(
        app.post(&w.admin, "/api/v1/repairs", &repair).await,
        422,
        Some("valve_maker"),
    );
    let two = json!({"id": Uuid::new_v4(), "codes": ["1107002001", "1107002001"], "items": "除锈",
        "valve_replaced": false, "repairer": "王师傅"});
    problem(
        app.post(&w.admin, "/api/v1/repairs", &two).await,
        422,
        Some("codes"),
    );
    problem(
        app.post(
            &w.filler,
            "/api/v1/lab-tests",
            &lab_test("1107002001", w.station),
        )
        .await,
        403,
        None,
    );
    assert!(events_of(&app, &w.admin, "1107002001").await.is_empty());
}

/// A customer of `w` who holds `code` (delivered to them).
async fn customer_holding(app: &TestApp, w: &World, code: &str) -> Uuid {
    let c = app
        .post(
            &w.admin,
            "/api/v1/customers",
            &json!({"kind": "residential", "name": "赵六", "id_number": id_number("53010219800101001"),
                    "phone": "13900001111", "addresses": [{"address": "昆明市五华区人民路 1 号"}]}),
        )
        .await
        .expect(201);
    let c = id_of(&c);
    app.post_events(
        &w.admin,
        vec![
            cyltrace_testkit::event(
                "store_in",
                &[code],
                &ago(90),
                Some(w.warehouse),
                json!({"full": true}),
            ),
            cyltrace_testkit::event(
                "deliver",
                &[code],
                &ago(60),
                None,
                json!({"customer_id": c}),
            ),
        ],
    )
    .await
    .expect(201);
    c
}

// C4: a courier records a recycling order for a customer; the station's keeper confirms the codes it
// received: one `recycle` event naming the order and the customer, the order confirmed with it. A
// retry answers the same and stores nothing more; a second confirmation or a cancel is refused.
#[tokio::test]
async fn a_recycling_order_is_confirmed_once_at_the_station() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("rc").await;
    cylinders(&app, &w, &["1107003001", "1107003002"]).await;
    let customer = customer_holding(&app, &w, "1107003001").await;
    let courier = app
        .user_token(&app.admin, w.org, "rc_courier", &["courier"])
        .await;
    let keeper = app
        .user_token(&app.admin, w.org, "rc_keeper", &["warehouse"])
        .await;

    let order_id = Uuid::new_v4();
    let body = json!({"id": order_id, "customer_id": customer, "count": 1, "note": "下午在家"});
    let created = app
        .post(&courier, "/api/v1/recycling-orders", &body)
        .await
        .expect(201);
    assert_eq!(created.body["state"], json!("open"));
    assert_eq!(created.body["customer_name"], json!("赵六"));
    // A retry of the creation answers the same order.
    let again = app
        .post(&courier, "/api/v1/recycling-orders", &body)
        .await
        .expect(201);
    assert_eq!(again.body["id"], json!(order_id));
    let open = app
        .get(&keeper, "/api/v1/recycling-orders?state=open")
        .await
        .expect(200);
    assert_eq!(open.body["items"].as_array().map(Vec::len), Some(1));

    // A courier cannot confirm: the station does.
    let confirm = json!({"id": Uuid::new_v4(), "site_id": w.warehouse, "codes": ["1107003001"]});
    let path = format!("/api/v1/recycling-orders/{order_id}/confirm");
    problem(app.post(&courier, &path, &confirm).await, 403, None);
    let done = app.post(&keeper, &path, &confirm).await.expect(200);
    assert_eq!(done.body["state"], json!("confirmed"));
    assert_eq!(done.body["received"], json!(["1107003001"]));
    let retry = app.post(&keeper, &path, &confirm).await.expect(200);
    assert_eq!(retry.body["ledger_index"], done.body["ledger_index"]);

    let events = events_of(&app, &w.admin, "1107003001").await;
    let recycles: Vec<&Value> = events.iter().filter(|e| e["kind"] == "recycle").collect();
    assert_eq!(recycles.len(), 1, "{events:?}");
    assert_eq!(recycles[0]["data"]["recycling_order_id"], json!(order_id));
    assert_eq!(
        recycles[0]["data"]["customer_id"],
        json!(customer.to_string())
    );
    assert_eq!(recycles[0]["site_id"], json!(w.warehouse));

    // Confirmed once: another confirmation (a new event id) and a cancel are refused.
    let other = json!({"id": Uuid::new_v4(), "site_id": w.warehouse, "codes": ["1107003002"]});
    problem(app.post(&keeper, &path, &other).await, 409, None);
    problem(
        app.post(
            &keeper,
            &format!("/api/v1/recycling-orders/{order_id}/cancel"),
            &json!({"reason": "重复"}),
        )
        .await,
        422,
        Some("state"),
    );
    assert!(
        events_of(&app, &w.admin, "1107003002")
            .await
            .iter()
            .all(|e| e["kind"] != "recycle")
    );
}

// C4: a contact without a registered customer; the guards still judge the return (the customer
// named must hold the cylinder), a refused confirmation stores nothing and leaves the order open;
// the creator cancels it; another enterprise sees none of it.
#[tokio::test]
async fn recycling_orders_refuse_bad_input_and_stay_in_scope() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("rb").await;
    cylinders(&app, &w, &["1107004001"]).await;
    let customer = customer_holding(&app, &w, "1107004001").await;
    let courier = app
        .user_token(&app.admin, w.org, "rb_courier", &["courier"])
        .await;
    problem(
        app.post(&courier, "/api/v1/recycling-orders", &json!({"count": 1}))
            .await,
        422,
        Some("contact"),
    );
    problem(
        app.post(
            &courier,
            "/api/v1/recycling-orders",
            &json!({"contact": "钱七", "address": "昆明市西山区 2 号", "phone": "12", "count": 1}),
        )
        .await,
        422,
        Some("phone"),
    );
    problem(
        app.post(
            &courier,
            "/api/v1/recycling-orders",
            &json!({"customer_id": customer, "count": 1, "codes": ["1107004001", "1107004002"]}),
        )
        .await,
        422,
        Some("codes"),
    );
    let by_contact = app
        .post(
            &courier,
            "/api/v1/recycling-orders",
            &json!({"contact": "钱七", "phone": "13800002222", "address": "昆明市西山区 2 号", "count": 2}),
        )
        .await
        .expect(201);
    let contact_order = id_of(&by_contact);

    // The customer's order, confirmed with a code the customer does not hold: refused by the guard.
    let mine = app
        .post(
            &courier,
            "/api/v1/recycling-orders",
            &json!({"customer_id": customer, "count": 1}),
        )
        .await
        .expect(201);
    let mine = id_of(&mine);
    cylinders(&app, &w, &["1107004002"]).await;
    let path = format!("/api/v1/recycling-orders/{mine}/confirm");
    let r = app
        .post(
            &w.admin,
            &path,
            &json!({"id": Uuid::new_v4(), "site_id": w.warehouse, "codes": ["1107004002"]}),
        )
        .await;
    problem(r, 422, None);
    problem(
        app.post(
            &w.admin,
            &path,
            &json!({"id": Uuid::new_v4(), "site_id": w.warehouse, "codes": []}),
        )
        .await,
        422,
        Some("codes"),
    );
    let still = app
        .get(&w.admin, &format!("/api/v1/recycling-orders/{mine}"))
        .await
        .expect(200);
    assert_eq!(still.body["state"], json!("open"));
    assert!(
        events_of(&app, &w.admin, "1107004002")
            .await
            .iter()
            .all(|e| e["kind"] != "recycle")
    );

    // The creator cancels the contact's order with a reason.
    let cancelled = app
        .post(
            &courier,
            &format!("/api/v1/recycling-orders/{contact_order}/cancel"),
            &json!({"reason": "用户已自行送回"}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["state"], json!("cancelled"));
    assert_eq!(cancelled.body["cancel_reason"], json!("用户已自行送回"));

    // Another enterprise: nothing listed, the order is out of reach, its events cannot name it.
    let other = app.enterprise("ry").await;
    let list = app
        .get(&other.admin, "/api/v1/recycling-orders")
        .await
        .expect(200);
    assert_eq!(list.body["items"], json!([]));
    problem(
        app.get(&other.admin, &format!("/api/v1/recycling-orders/{mine}"))
            .await,
        403,
        None,
    );
    cylinders(&app, &other, &["1107005001"]).await;
    problem(
        app.post_events(
            &other.admin,
            vec![cyltrace_testkit::event(
                "recycle",
                &["1107005001"],
                &ago(1),
                Some(other.warehouse),
                json!({"recycling_order_id": mine}),
            )],
        )
        .await,
        422,
        Some("events[0].data.recycling_order_id"),
    );
}

// C9: a household check sent again with the same id (a handheld whose answer was lost) is stored
// once, with its rectification task once; another check reusing the id is a conflict.
#[tokio::test]
async fn a_retried_household_check_is_stored_once() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("hc").await;
    cylinders(&app, &w, &["1107006001"]).await;
    let customer = customer_holding(&app, &w, "1107006001").await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(b"signature");
    let signature = app
        .post_raw(&w.admin, "/api/v1/files", png)
        .await
        .expect(201)
        .body["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let items = app
        .get(&w.admin, "/api/v1/household-check-items")
        .await
        .expect(200);
    let answers: Vec<Value> = items.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["active"] == json!(true))
        .enumerate()
        .map(|(k, i)| json!({"item": i["code"], "ok": k != 0, "remark": (k == 0).then_some("需整改")}))
        .collect();
    let id = Uuid::new_v4();
    let body = json!({"id": id, "customer_id": customer, "time": ago(3), "answers": answers,
                      "signature": signature});
    let first = app
        .post(&w.admin, "/api/v1/household-checks", &body)
        .await
        .expect(201);
    assert_eq!(first.body["id"], json!(id));
    assert_eq!(first.body["result"], json!("failed"));
    let again = app
        .post(&w.admin, "/api/v1/household-checks", &body)
        .await
        .expect(201);
    assert_eq!(again.body["id"], json!(id));
    assert_eq!(
        again.body["rectifications"][0]["id"],
        first.body["rectifications"][0]["id"]
    );
    let checks = app
        .get(
            &w.admin,
            &format!("/api/v1/household-checks?customer_id={customer}"),
        )
        .await
        .expect(200);
    assert_eq!(checks.body["items"].as_array().map(Vec::len), Some(1));
    let tasks = app
        .get(&w.admin, "/api/v1/rectifications?state=open")
        .await
        .expect(200);
    assert_eq!(tasks.body["items"].as_array().map(Vec::len), Some(1));
    let mut other = body.clone();
    other["time"] = json!(ago(1));
    problem(
        app.post(&w.admin, "/api/v1/household-checks", &other).await,
        409,
        Some("id"),
    );
}
