//! The public v1 contract's happy paths, driven over HTTP: auth, organisations, sites, users,
//! cylinder archives (A1), every event kind, the label (A7), idempotent retries, all-or-nothing
//! batches, late events, and the operations endpoints.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

mod common;

use chrono::{Duration, Utc};
use common::*;
use cyltrace_testkit::{PASSWORD, TestApp, archive, event, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn token_orgs_sites_users_and_me() {
    let app = TestApp::spawn().await;

    // POST /auth/token → {token, expires_at}
    let r = app
        .try_login(cyltrace_testkit::ADMIN, cyltrace_testkit::ADMIN_PASSWORD)
        .await
        .expect(200);
    let token = r.body["token"].as_str().expect("token").to_owned();
    assert!(!token.is_empty());
    assert!(instant(&r.body["expires_at"]) > Utc::now());
    app.get(&token, "/api/v1/me").await.expect(200);

    // POST /orgs for each kind → 201 {id}; GET /orgs/{id} answers what was sent.
    let province = app
        .post(
            &token,
            "/api/v1/orgs",
            &json!({"kind": "regulator", "name": "云南省市场监督管理局", "region_code": "530000"}),
        )
        .await
        .expect(201);
    let province = id_of(&province);
    let mut orgs = vec![(province, "regulator")];
    let prefecture = id_of(
        &app.post(
            &token,
            "/api/v1/orgs",
            &json!({"kind": "regulator", "name": "昆明市市场监督管理局", "region_code": "530100",
                    "parent_id": province}),
        )
        .await
        .expect(201),
    );
    orgs.push((prefecture, "regulator"));
    let credit = cyltrace_domain::CreditCode::with_check("91530100MA6K0000X").expect("credit code");
    let enterprise = id_of(
        &app.post(
            &token,
            "/api/v1/orgs",
            &json!({"kind": "filling_enterprise", "name": "昆明燃气有限公司", "region_code": "530102",
                    "parent_id": prefecture, "credit_code": credit.as_str(),
                    "licences": [{"kind": "filling", "number": "TS4253001-2028", "valid_until": "2030-12-31"},
                                 {"kind": "gas_business", "number": "云燃经字第001号", "valid_until": "2030-12-31"}]}),
        )
        .await
        .expect(201),
    );
    orgs.push((enterprise, "filling_enterprise"));
    for (kind, name, licences) in [
        ("inspection_station", "昆明市特种设备检验所", json!([])),
        (
            "carrier",
            "滇运危险品运输公司",
            json!([{"kind": "transport", "number": "云交运管许可昆字530100001号", "valid_until": "2029-06-30"}]),
        ),
        ("dealer", "五华区液化气供应点", json!([])),
    ] {
        let r = app
            .post(
                &token,
                "/api/v1/orgs",
                &json!({"kind": kind, "name": name, "region_code": "530102", "parent_id": prefecture,
                        "licences": licences}),
            )
            .await
            .expect(201);
        orgs.push((id_of(&r), kind));
    }
    for (id, kind) in &orgs {
        let r = app
            .get(&token, &format!("/api/v1/orgs/{id}"))
            .await
            .expect(200);
        assert_eq!(r.body["id"], json!(id));
        assert_eq!(r.body["kind"], *kind);
    }
    let e = app
        .get(&token, &format!("/api/v1/orgs/{enterprise}"))
        .await
        .expect(200);
    assert_eq!(e.body["name"], "昆明燃气有限公司");
    assert_eq!(e.body["region_code"], "530102");
    assert_eq!(e.body["parent_id"], json!(prefecture));
    assert_eq!(e.body["credit_code"], credit.as_str());
    assert_eq!(e.body["licences"][0]["kind"], "filling");
    assert_eq!(e.body["licences"][1]["valid_until"], "2030-12-31");

    // POST /sites for each kind → 201 {id}; GET /sites/{id}.
    for (kind, name) in [
        ("filling_station", "官渡充装站"),
        ("warehouse", "官渡仓库"),
        ("store", "五华门店"),
        ("delivery_station", "盘龙配送站"),
    ] {
        let r = app
            .post(
                &token,
                "/api/v1/sites",
                &json!({"org_id": enterprise, "kind": kind, "name": name, "address": "昆明市官渡区春城路1号",
                        "lat": 25.02, "lon": 102.72}),
            )
            .await
            .expect(201);
        let id = id_of(&r);
        let s = app
            .get(&token, &format!("/api/v1/sites/{id}"))
            .await
            .expect(200);
        assert_eq!(s.body["id"], json!(id));
        assert_eq!(s.body["org_id"], json!(enterprise));
        assert_eq!(s.body["kind"], kind);
        assert_eq!(s.body["name"], name);
        assert_eq!(s.body["address"], "昆明市官渡区春城路1号");
        assert_eq!(s.body["lat"], 25.02);
        assert_eq!(s.body["lon"], 102.72);
    }

    // POST /users → 201 {id}; the user logs in; GET /users/{id} and /me.
    let r = app
        .post(
            &token,
            "/api/v1/users",
            &json!({"username": "zhang.san", "password": PASSWORD, "name": "张三", "org_id": enterprise,
                    "roles": ["enterprise_admin", "filler"]}),
        )
        .await
        .expect(201);
    let user = id_of(&r);
    let user_token = app.login("zhang.san", PASSWORD).await;
    let u = app
        .get(&token, &format!("/api/v1/users/{user}"))
        .await
        .expect(200);
    assert_eq!(u.body["username"], "zhang.san");
    assert_eq!(u.body["name"], "张三");
    assert_eq!(u.body["org_id"], json!(enterprise));
    assert_eq!(u.body["roles"], json!(["enterprise_admin", "filler"]));
    let me = app.get(&user_token, "/api/v1/me").await.expect(200);
    assert_eq!(me.body["id"], json!(user));
    assert_eq!(me.body["username"], "zhang.san");
    // The user reads its own organisation and user record too.
    app.get(&user_token, &format!("/api/v1/orgs/{enterprise}"))
        .await
        .expect(200);
    app.get(&user_token, &format!("/api/v1/users/{user}"))
        .await
        .expect(200);
}

/// Three full archives, each a little different.
fn three_archives(owner: Uuid) -> Vec<Value> {
    let a = archive("1103007831", owner);
    let mut b = archive("1103007832", owner);
    b["factory_serial"] = json!("2270001");
    b["inner_no"] = json!("XY60236");
    b["style"] = json!("YSP118");
    b["valve"] = json!(3);
    b["tare_kg"] = json!(47.25);
    b["fill_limit_kg"] = json!(49.5);
    b["volume_l"] = json!(118.0);
    b["working_pressure_mpa"] = json!(2.1);
    b["test_pressure_mpa"] = json!(3.2);
    b["wall_thickness_mm"] = json!(3.0);
    b["life_years"] = json!(15);
    b["check_period_years"] = json!(4);
    b["manufacture_date"] = json!("2023-03-15");
    b["last_check_date"] = json!("2023-03-20");
    b["next_check_date"] = json!("2027-03-20");
    b["discard_date"] = json!("2038-03-15");
    // Registered after it was made (issue 22: the archive's registration predated manufacture).
    b["registration"]["date"] = json!("2023-04-01");
    b["state"] = json!("locked");
    let mut c = archive("1103007833", owner);
    c["region_code"] = json!("530102");
    c["valve"] = json!(2);
    c["medium"] = json!("二甲醚");
    c["registration"] = json!({"number": "553001000003", "date": "2023-01-05", "authority": "官渡区市场监督管理局"});
    vec![a, b, c]
}

#[tokio::test]
async fn cylinder_archives_round_trip_every_field() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("arch").await;
    let sent = three_archives(w.org);
    let r = app.post_cylinders(&w.admin, sent.clone()).await.expect(201);
    assert_eq!(r.body, json!({"created": 3}));

    for a in &sent {
        let code = a["code"].as_str().expect("code");
        let got = app
            .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
            .await
            .expect(200);
        // A1: every archive field sent comes back unchanged.
        for (key, value) in a.as_object().expect("archive object") {
            assert_eq!(
                &got.body[key], value,
                "{code}: field {key} sent {value}, got {}",
                got.body[key]
            );
        }
        let status = &got.body["status"];
        for key in ["state", "location_kind", "next_check_date", "label"] {
            assert!(
                status.get(key).is_some(),
                "status lacks {key}: {}",
                got.text
            );
        }
        assert_eq!(status["state"], a["state"]);
        assert_eq!(status["next_check_date"], a["next_check_date"]);
        assert_eq!(status["label"], "active");
        assert_eq!(status["location_kind"], "unknown");
    }

    // Without a registration the archive says so by leaving it out.
    let mut unregistered = archive("1103007834", w.org);
    unregistered
        .as_object_mut()
        .expect("object")
        .remove("registration");
    app.post_cylinders(&w.admin, vec![unregistered])
        .await
        .expect(201);
    let got = app
        .get(&w.admin, "/api/v1/cylinders/1103007834")
        .await
        .expect(200);
    assert!(
        got.body.get("registration").is_none_or(Value::is_null),
        "{}",
        got.text
    );

    // The list shows them.
    let list = app.get(&w.admin, "/api/v1/cylinders").await.expect(200);
    let codes: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    for code in ["1103007831", "1103007832", "1103007833", "1103007834"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
}

#[tokio::test]
async fn events_are_accepted_with_dense_indexes_and_listed_oldest_first() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ev").await;
    app.post_cylinders(
        &w.admin,
        vec![archive("1103007831", w.org), archive("1103007832", w.org)],
    )
    .await
    .expect(201);

    // One batch, not in time order: the answer follows the batch order with dense indexes.
    let batch = vec![
        event(
            "pre_fill_check",
            &["1103007831"],
            &ago(30),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        event(
            "tag_bind",
            &["1103007831"],
            &ago(50),
            None,
            sample_data("tag_bind"),
        ),
        event(
            "pre_fill_check",
            &["1103007832"],
            &ago(40),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
    ];
    let mut batch = batch;
    batch[1]["operator"] = json!("王师傅");
    batch[1]["lat"] = json!(25.04);
    batch[1]["lon"] = json!(102.71);
    let r = app.post_events(&w.filler, batch.clone()).await.expect(201);
    let accepted = r.body["accepted"].as_array().expect("accepted");
    assert_eq!(accepted.len(), 3);
    for (a, e) in accepted.iter().zip(&batch) {
        assert_eq!(a["id"], e["id"]);
    }
    assert_eq!(indexes(&r), vec![0, 1, 2]);

    // A later request continues the dense sequence.
    let r = app
        .post_events(
            &w.filler,
            vec![
                event(
                    "post_fill_check",
                    &["1103007831"],
                    &ago(10),
                    Some(w.station),
                    sample_data("post_fill_check"),
                ),
                event(
                    "in_fill_check",
                    &["1103007831"],
                    &ago(20),
                    Some(w.station),
                    sample_data("in_fill_check"),
                ),
            ],
        )
        .await
        .expect(201);
    assert_eq!(indexes(&r), vec![3, 4]);

    // GET …/events: oldest first, each with its ledger index.
    let evs = events_of(&app, &w.filler, "1103007831").await;
    let kinds: Vec<&str> = evs.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            "tag_bind",
            "pre_fill_check",
            "in_fill_check",
            "post_fill_check"
        ]
    );
    let times: Vec<_> = evs.iter().map(|e| instant(&e["time"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let idx: Vec<i64> = evs
        .iter()
        .map(|e| e["ledger_index"].as_i64().expect("ledger_index"))
        .collect();
    assert_eq!(idx, vec![1, 0, 4, 3]);
    assert_eq!(evs[0]["id"], batch[1]["id"]);
    assert_eq!(evs[0]["data"], sample_data("tag_bind"));
    assert_eq!(evs[0]["operator"], "王师傅");
    assert_eq!(evs[0]["lat"], 25.04);
    assert_eq!(evs[0]["lon"], 102.71);
    assert_eq!(evs[1]["site_id"], json!(w.station));
    assert_eq!(evs[1]["codes"], json!(["1103007831"]));

    // GET /events/{id}
    let one = app
        .get(
            &w.admin,
            &format!("/api/v1/events/{}", batch[2]["id"].as_str().expect("id")),
        )
        .await
        .expect(200);
    assert_eq!(one.body["kind"], "pre_fill_check");
    assert_eq!(one.body["ledger_index"], 2);
    assert_eq!(one.body["data"], sample_data("pre_fill_check"));
}

#[tokio::test]
async fn every_event_kind_is_accepted_and_scrap_voids_the_label() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("kinds").await;
    let code = "1103007831";
    // Valid until 2030 (an overdue cylinder may not be sent out); a vehicle, driver and waybill
    // for `load` / `unload` (C2).
    let mut a = archive(code, w.org);
    a["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    app.post_cylinders(&w.admin, vec![a]).await.expect(201);
    app.transport(&w, "云A12345", "YD0001").await;
    let station = inspection_station(&app, w.prefecture).await;
    let inspector = app
        .user_token(&app.admin, station, "jy_inspector", &["inspector"])
        .await;

    // (kind, site, data, recorder) in time order; every kind of the contract table.
    let kinds: Vec<(&str, Option<Uuid>, Value)> = vec![
        ("tag_bind", None, sample_data("tag_bind")),
        ("register", None, sample_data("register")),
        (
            "pre_fill_check",
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        ("fill", Some(w.station), sample_data("fill")),
        (
            "in_fill_check",
            Some(w.station),
            sample_data("in_fill_check"),
        ),
        (
            "post_fill_check",
            Some(w.station),
            sample_data("post_fill_check"),
        ),
        ("store_in", Some(w.warehouse), sample_data("store_in")),
        ("store_out", Some(w.warehouse), sample_data("store_out")),
        ("load", None, sample_data("load")),
        ("unload", None, sample_data("unload")),
        ("deliver", None, sample_data("deliver")),
        ("recycle", None, sample_data("recycle")),
        ("inspection_send", None, json!({"station_org_id": station})),
        ("inspection_result", None, inspection_result_data(station)),
    ];
    let n = kinds.len() as i64;
    for (i, (kind, site, data)) in kinds.into_iter().enumerate() {
        let e = event(kind, &[code], &ago(200 - i as i64 * 10), site, data);
        // An inspector of the station records the result for another owner's cylinder.
        let token = if kind == "inspection_result" {
            &inspector
        } else {
            &w.admin
        };
        let r = app.post_events(token, vec![e]).await;
        assert_eq!(r.status.as_u16(), 201, "{kind}: {}", r.text);
        assert_eq!(indexes(&r), vec![i as i64], "{kind}");
    }
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "active");
    assert_eq!(c.body["status"]["state"], "normal");
    // The passed inspection moved the next check date; the register event the registration.
    assert_eq!(c.body["status"]["next_check_date"], "2030-11-20");
    assert_eq!(c.body["next_check_date"], "2030-11-20");
    assert_eq!(c.body["last_check_date"], "2026-11-20");
    assert_eq!(c.body["registration"], sample_data("register"));

    // A7: scrap voids the label …
    app.post_events(
        &w.admin,
        vec![event(
            "scrap",
            &[code],
            &ago(40),
            None,
            sample_data("scrap"),
        )],
    )
    .await
    .expect(201);
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
    assert_eq!(c.body["status"]["state"], "scrapped");
    assert_eq!(c.body["state"], "scrapped");

    // … for good: a later tag binding does not make it active again (A7).
    app.post_events(
        &w.admin,
        vec![event(
            "tag_bind",
            &[code],
            &ago(20),
            None,
            json!({"tag_uid": "E2000017221101449999"}),
        )],
    )
    .await
    .expect(201);
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
    assert_eq!(c.body["status"]["state"], "scrapped");

    // … nor does a late event before the scrap (the refold keeps the label void).
    app.post_events(
        &w.admin,
        vec![event(
            "tag_bind",
            &[code],
            &ago(300),
            None,
            sample_data("tag_bind"),
        )],
    )
    .await
    .expect(201);
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
    assert_eq!(c.body["status"]["state"], "scrapped");

    let evs = events_of(&app, &w.admin, code).await;
    assert_eq!(evs.len() as i64, n + 3);
}

#[tokio::test]
async fn a_retried_batch_is_answered_with_its_original_indexes_and_stored_once() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("idem").await;
    app.post_cylinders(&w.admin, vec![archive("1103007831", w.org)])
        .await
        .expect(201);
    let batch = vec![
        event(
            "pre_fill_check",
            &["1103007831"],
            &ago(30),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        event(
            "fill",
            &["1103007831"],
            &ago(25),
            Some(w.station),
            sample_data("fill"),
        ),
    ];
    let first = app.post_events(&w.filler, batch.clone()).await.expect(201);
    let second = app.post_events(&w.filler, batch.clone()).await.expect(201);
    assert_eq!(indexes(&first), vec![0, 1]);
    assert_eq!(first.body, second.body);
    let evs = events_of(&app, &w.filler, "1103007831").await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    // The same id twice in one batch is stored once; both are answered with its index.
    let twice = event(
        "tag_bind",
        &["1103007831"],
        &ago(35),
        None,
        sample_data("tag_bind"),
    );
    let r = app
        .post_events(&w.filler, vec![twice.clone(), twice.clone()])
        .await
        .expect(201);
    assert_eq!(indexes(&r), vec![2, 2]);
    let evs = events_of(&app, &w.filler, "1103007831").await;
    assert_eq!(evs.len(), 3, "{evs:?}");

    // A batch mixing a known and a new event: the known one keeps its index, the new one gets the
    // next dense index.
    let new = event(
        "post_fill_check",
        &["1103007831"],
        &ago(20),
        Some(w.station),
        sample_data("post_fill_check"),
    );
    let r = app
        .post_events(&w.filler, vec![batch[1].clone(), new.clone()])
        .await
        .expect(201);
    assert_eq!(indexes(&r), vec![1, 3]);
    assert_eq!(r.body["accepted"][1]["id"], new["id"]);
    let r = app
        .post_events(
            &w.filler,
            vec![event(
                "in_fill_check",
                &["1103007831"],
                &ago(22),
                Some(w.station),
                sample_data("in_fill_check"),
            )],
        )
        .await
        .expect(201);
    assert_eq!(indexes(&r), vec![4]);
    let evs = events_of(&app, &w.filler, "1103007831").await;
    assert_eq!(evs.len(), 5);
    let mut idx: Vec<i64> = evs
        .iter()
        .map(|e| e["ledger_index"].as_i64().expect("ledger_index"))
        .collect();
    idx.sort_unstable();
    assert_eq!(idx, vec![0, 1, 2, 3, 4]);
    let c = app
        .get(&w.filler, "/api/v1/cylinders/1103007831")
        .await
        .expect(200);
    assert_eq!(c.body["status"]["event_count"], 5);
}

#[tokio::test]
async fn an_event_batch_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("aon").await;
    app.post_cylinders(&w.admin, vec![archive("1103007831", w.org)])
        .await
        .expect(201);
    let batch = vec![
        event(
            "pre_fill_check",
            &["1103007831"],
            &ago(30),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        event(
            "fill",
            &["1103007831"],
            &ago(25),
            Some(w.station),
            sample_data("fill"),
        ),
        event(
            "post_fill_check",
            &["9999999999"],
            &ago(20),
            Some(w.station),
            sample_data("post_fill_check"),
        ),
    ];
    problem(
        app.post_events(&w.filler, batch.clone()).await,
        422,
        Some("events[2].codes[0]"),
    );
    assert!(events_of(&app, &w.filler, "1103007831").await.is_empty());
    for e in &batch {
        problem(
            app.get(
                &app.admin,
                &format!("/api/v1/events/{}", e["id"].as_str().expect("id")),
            )
            .await,
            404,
            None,
        );
    }
    let c = app
        .get(&w.filler, "/api/v1/cylinders/1103007831")
        .await
        .expect(200);
    assert_eq!(c.body["status"]["event_count"], 0);
    assert_eq!(c.body["status"]["location_kind"], "unknown");
    // Nothing took a ledger index: the next event gets 0.
    let r = app
        .post_events(&w.filler, vec![batch[0].clone()])
        .await
        .expect(201);
    assert_eq!(indexes(&r), vec![0]);
}

#[tokio::test]
async fn a_cylinder_batch_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("caon").await;

    // The 2nd archive is invalid: 422, the 1st is not stored.
    let mut bad = archive("1103007832", w.org);
    bad["valve"] = json!(7);
    problem(
        app.post_cylinders(&w.admin, vec![archive("1103007831", w.org), bad])
            .await,
        422,
        Some("cylinders[1].valve"),
    );
    problem(
        app.get(&w.admin, "/api/v1/cylinders/1103007831").await,
        404,
        None,
    );

    // A code already stored: 409 and nothing of the batch is stored.
    app.post_cylinders(&w.admin, vec![archive("1103007840", w.org)])
        .await
        .expect(201);
    let r = app
        .post_cylinders(
            &w.admin,
            vec![
                archive("1103007841", w.org),
                archive("1103007840", w.org),
                archive("1103007842", w.org),
            ],
        )
        .await;
    problem(r, 409, Some("cylinders[1].code"));
    for code in ["1103007841", "1103007842"] {
        problem(
            app.get(&w.admin, &format!("/api/v1/cylinders/{code}"))
                .await,
            404,
            None,
        );
    }
    // The stored one is untouched.
    app.get(&w.admin, "/api/v1/cylinders/1103007840")
        .await
        .expect(200);
    let list = app.get(&w.admin, "/api/v1/cylinders").await.expect(200);
    assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
}

#[tokio::test]
async fn a_late_event_refolds_the_status() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("late").await;
    app.post_cylinders(&w.admin, vec![archive("1103007831", w.org)])
        .await
        .expect(201);
    let t = Utc::now() - Duration::hours(2);
    let t = t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()));
    let begin = t - Duration::minutes(3);
    let mut fill = sample_data("fill");
    fill["begin"] = json!(rfc3339(begin));
    fill["end"] = json!(rfc3339(t));
    app.post_events(
        &w.filler,
        vec![event(
            "fill",
            &["1103007831"],
            &rfc3339(t),
            Some(w.station),
            fill,
        )],
    )
    .await
    .expect(201);
    let before = app
        .get(&w.filler, "/api/v1/cylinders/1103007831")
        .await
        .expect(200);
    assert!(
        before.body["status"]
            .get("last_pre_fill_pass_at")
            .is_none_or(Value::is_null),
        "{}",
        before.text
    );

    // The pre-fill check done an hour before the fill arrives later.
    let check_at = t - Duration::hours(1);
    app.post_events(
        &w.filler,
        vec![event(
            "pre_fill_check",
            &["1103007831"],
            &rfc3339(check_at),
            Some(w.station),
            sample_data("pre_fill_check"),
        )],
    )
    .await
    .expect(201);
    let c = app
        .get(&w.filler, "/api/v1/cylinders/1103007831")
        .await
        .expect(200);
    let s = &c.body["status"];
    assert_eq!(instant(&s["last_pre_fill_pass_at"]), check_at, "{}", c.text);
    assert_eq!(instant(&s["last_fill_at"]), t, "{}", c.text);
    // Refolded in time order: the fill came after the check, so the cylinder is full.
    assert_eq!(s["location_kind"], "full_store");
    assert_eq!(s["event_count"], 2);
    let evs = events_of(&app, &w.filler, "1103007831").await;
    let kinds: Vec<&str> = evs.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["pre_fill_check", "fill"]);
}

#[tokio::test]
async fn operations_endpoints() {
    let app = TestApp::spawn().await;
    let doc = app.get_anon("/api/openapi.json").await.expect(200);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc.body["openapi"]
    );
    for path in [
        "/api/v1/events",
        "/api/v1/cylinders/{code}",
        "/api/v1/auth/token",
        "/api/v1/scan/{action}",
        "/api/v1/orders/{id}/deliver",
        "/api/v1/ps/applications",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "OpenAPI paths lack {path}"
        );
    }
    app.get_anon("/healthz").await.expect(200);
    app.get_anon("/readyz").await.expect(200);
    // One counted request before reading the metrics.
    app.get(&app.admin, "/api/v1/me").await.expect(200);
    let m = app.get_anon("/metrics").await.expect(200);
    assert!(m.text.contains("cyltrace_http_requests"), "{}", m.text);
}

// An id reused for a different event (another kind, other cylinders, another organisation) is a
// conflict, not a silent "accepted": nothing of that batch is stored.
#[tokio::test]
async fn a_reused_event_id_for_a_different_event_is_a_conflict() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("reuse").await;
    app.post_cylinders(
        &w.admin,
        vec![archive("1103007831", w.org), archive("1103007832", w.org)],
    )
    .await
    .expect(201);
    let first = event(
        "tag_bind",
        &["1103007831"],
        "2026-11-20T08:00:00+08:00",
        None,
        sample_data("tag_bind"),
    );
    app.post_events(&w.admin, vec![first.clone()])
        .await
        .expect(201);
    let mut other = first.clone();
    other["codes"] = json!(["1103007832"]);
    let fresh = event(
        "tag_bind",
        &["1103007832"],
        "2026-11-20T08:00:00+08:00",
        None,
        sample_data("tag_bind"),
    );
    let r = app
        .post_events(&w.admin, vec![fresh.clone(), other])
        .await
        .expect(409);
    assert_eq!(r.fields(), vec!["events[1].id".to_owned()]);
    let events = app
        .get(&w.admin, "/api/v1/cylinders/1103007832/events")
        .await
        .expect(200);
    assert_eq!(
        events.body["events"].as_array().map(Vec::len),
        Some(0),
        "nothing of the refused batch is stored"
    );
}
