//! Circulation and sales over HTTP (REQUIREMENTS C1–C9, G9): vehicles, drivers and escorts and
//! waybills (C2), the guards on circulation events (C2, C3, C4), customers registered once and
//! masked per role (C6, G1), deposits and cylinders held (C5), orders delivered with a handover code
//! (C3), household checks and rectification (C9), stock and stock-taking (C1), the cylinder's flow
//! table (C8) and the handheld's scan-to-act endpoints (G9). A seeded random walk over scan actions
//! is checked step by step against a small model of stock and holdings.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::*;
use cyltrace_testkit::{Resp, TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";
const CODE3: &str = "1103007833";
const PLATE: &str = "云A12345";
const PLATE2: &str = "云B54321";
const PHONE: &str = "13812345678";
/// Valid GB 11643 numbers (checked by `id_numbers_used_here_are_valid`; `110101199003071216`, once
/// proposed for `ID_C`, has a wrong check digit — its check character is 7).
const ID_A: &str = "11010519491231002X";
const ID_B: &str = "110101199003070134";
const ID_C: &str = "110101199003071217";
const ID_D: &str = "530102198506150013";
const ADDRESS: &str = "昆明市五华区人民中路 18 号 3 栋";
const LPG: &str = "液化石油气";
/// A validity date far in the future; and one long past.
const VALID: &str = "2030-12-31";
const EXPIRED: &str = "2026-01-01";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A server whose tokens outlive the clock moves of these tests.
async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.token_ttl_secs = 30 * 24 * 3600).await
}

/// The server's now (it differs from the wall clock after `set_now`).
fn now(app: &TestApp) -> DateTime<Utc> {
    app.state.now()
}

/// Whole seconds (what an RFC 3339 string of [`rfc3339`] carries).
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("instant")
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11643 check character of the first 17 digits.
fn id_check_char(first17: &str) -> char {
    let sum: u32 = first17
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

fn id_is_valid(s: &str) -> bool {
    s.len() == 18
        && s.as_bytes()[..17].iter().all(u8::is_ascii_digit)
        && s[17..].starts_with(id_check_char(&s[..17]))
}

/// A valid ID number built from `seed` (region 530102, a real birth date, the right check char).
fn id_number(seed: u32) -> String {
    let body = format!(
        "530102{:04}{:02}{:02}{:03}",
        1950 + seed % 50,
        1 + seed % 12,
        1 + seed % 28,
        seed % 1000
    );
    format!("{body}{}", id_check_char(&body))
}

/// `110105********002X`
fn masked_id(s: &str) -> String {
    format!("{}********{}", &s[..6], &s[14..])
}

/// An archive the guards accept (next check date far ahead).
fn valid_archive(code: &str, owner: Uuid) -> Value {
    let mut a = archive(code, owner);
    a["next_check_date"] = json!("2030-06-01");
    // Checked recently: a next check 2030-06-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    a
}

/// An archive overdue for its periodic inspection (today is after 2026-09-01).
fn overdue_archive(code: &str, owner: Uuid) -> Value {
    let mut a = archive(code, owner);
    a["next_check_date"] = json!("2026-09-01");
    a
}

/// A user with `roles` in `org` (created by the node admin): token and id.
async fn user(app: &TestApp, org: Uuid, name: &str, roles: &[&str]) -> (String, Uuid) {
    let token = app.user_token(&app.admin, org, name, roles).await;
    let id = me(app, &token).await;
    (token, id)
}

fn vehicle_body(plate: &str, permit_valid_until: &str) -> Value {
    json!({"plate": plate, "vehicle_type": "危险品运输车", "permit_no": "云交运管危字530100001号",
           "permit_valid_until": permit_valid_until, "capacity": 120})
}

async fn create_vehicle(app: &TestApp, token: &str, plate: &str, valid_until: &str) -> Uuid {
    let r = app
        .post(token, "/api/v1/vehicles", &vehicle_body(plate, valid_until))
        .await
        .expect(201);
    id_of(&r)
}

fn staff_body(
    role: &str,
    name: &str,
    id_number: &str,
    valid_until: &str,
    user_id: Option<Uuid>,
) -> Value {
    let mut b = json!({"role": role, "name": name, "id_number": id_number, "phone": "13900001111",
                       "certificate_no": format!("CYZG{}", &id_number[10..]),
                       "certificate_valid_until": valid_until});
    if let Some(u) = user_id {
        b["user_id"] = json!(u);
    }
    b
}

async fn create_staff(
    app: &TestApp,
    token: &str,
    role: &str,
    name: &str,
    id_number: &str,
    valid_until: &str,
    user_id: Option<Uuid>,
) -> Uuid {
    let r = app
        .post(
            token,
            "/api/v1/transport-staff",
            &staff_body(role, name, id_number, valid_until, user_id),
        )
        .await
        .expect(201);
    id_of(&r)
}

/// A residential customer with one address (with a position).
fn person(name: &str, id_number: &str, phone: &str) -> Value {
    json!({"kind": "residential", "name": name, "id_number": id_number, "phone": phone,
           "addresses": [{"address": ADDRESS, "label": "家", "lat": 25.04, "lon": 102.71}]})
}

async fn register(app: &TestApp, token: &str, body: Value) -> Uuid {
    let r = app
        .post(token, "/api/v1/customers", &body)
        .await
        .expect(201);
    assert_eq!(r.body["created"], json!(true), "{}", r.text);
    assert_eq!(r.body["bound"], json!(true), "{}", r.text);
    id_of(&r)
}

async fn customer(app: &TestApp, token: &str, id: Uuid) -> Value {
    app.get(token, &format!("/api/v1/customers/{id}"))
        .await
        .expect(200)
        .body
}

/// `holdings.held` and the sorted `held_codes` of a customer.
async fn held(app: &TestApp, token: &str, id: Uuid) -> (i64, Vec<String>) {
    let c = customer(app, token, id).await;
    let n = c["holdings"]["held"]
        .as_i64()
        .unwrap_or_else(|| panic!("no holdings.held: {c}"));
    let mut codes: Vec<String> = c["held_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no held_codes: {c}"))
        .iter()
        .map(|v| v.as_str().expect("code").to_owned())
        .collect();
    codes.sort();
    (n, codes)
}

/// Uploads a tiny PNG (the signature and `salt`) and answers its hash.
async fn upload_png(app: &TestApp, token: &str, salt: &str) -> String {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(salt.as_bytes());
    let r = app
        .post_raw(token, "/api/v1/files", bytes)
        .await
        .expect(201);
    assert_eq!(r.body["kind"], json!("PNG"), "{}", r.text);
    r.body["hash"].as_str().expect("hash").to_owned()
}

/// `POST /scan/{action}` of one code at `time`, with the batch fields of `extra`.
async fn scan(
    app: &TestApp,
    token: &str,
    action: &str,
    code: &str,
    time: DateTime<Utc>,
    extra: Value,
) -> Resp {
    scan_many(app, token, action, &[code], time, extra).await
}

/// `POST /scan/{action}` of several codes, a second apart from `time`.
async fn scan_many(
    app: &TestApp,
    token: &str,
    action: &str,
    codes: &[&str],
    time: DateTime<Utc>,
    extra: Value,
) -> Resp {
    let scans: Vec<Value> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"id": Uuid::new_v4(), "code": c,
                   "time": rfc3339(time + Duration::seconds(i as i64))})
        })
        .collect();
    let mut body = json!({ "scans": scans });
    for (k, v) in extra.as_object().expect("extra is an object") {
        body[k] = v.clone();
    }
    app.post(token, &format!("/api/v1/scan/{action}"), &body)
        .await
}

/// The one result of a successful single scan.
#[track_caller]
fn result(r: &Resp) -> &Value {
    let list = r.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {}", r.text));
    assert_eq!(list.len(), 1, "{}", r.text);
    &list[0]
}

fn warnings(v: &Value) -> Vec<String> {
    v["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings list: {v}"))
        .iter()
        .map(|w| w.as_str().expect("warning").to_owned())
        .collect()
}

/// `GET /stock` as `token`: site → (full, empty).
async fn stock(app: &TestApp, token: &str) -> BTreeMap<Uuid, (i64, i64)> {
    let r = app.get(token, "/api/v1/stock").await.expect(200);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no stock items: {}", r.text))
        .iter()
        .map(|i| {
            (
                i["site_id"]
                    .as_str()
                    .expect("site_id")
                    .parse()
                    .expect("uuid"),
                (
                    i["full"].as_i64().expect("full"),
                    i["empty"].as_i64().expect("empty"),
                ),
            )
        })
        .collect()
}

/// A `deliver` event to `customer` (by id), optionally for an order.
fn deliver_event(code: &str, time: DateTime<Utc>, customer: Uuid) -> Value {
    event(
        "deliver",
        &[code],
        &rfc3339(time),
        None,
        json!({"customer_id": customer.to_string()}),
    )
}

fn recycle_event(code: &str, time: DateTime<Utc>, customer: Uuid) -> Value {
    event(
        "recycle",
        &[code],
        &rfc3339(time),
        None,
        json!({"customer_id": customer.to_string()}),
    )
}

/// One filling enterprise with the people of circulation: a store, a warehouse keeper, a courier, a
/// registered driver (valid certificate, the driver user's account), a registered vehicle and a
/// customer bound to the enterprise.
struct Shop {
    app: TestApp,
    w: World,
    store: Uuid,
    warehouse: String,
    courier: String,
    driver: String,
    customer: Uuid,
}

async fn shop(tag: &str) -> Shop {
    let app = spawn().await;
    let w = app.enterprise(tag).await;
    let store = app.create_site(&w.admin, w.org, "store", "五华门店").await;
    let (warehouse, _) = user(&app, w.org, &format!("{tag}_wh"), &["warehouse"]).await;
    let (courier, _) = user(&app, w.org, &format!("{tag}_courier"), &["courier"]).await;
    let (driver, driver_id) = user(&app, w.org, &format!("{tag}_driver"), &["driver"]).await;
    create_vehicle(&app, &w.admin, PLATE, VALID).await;
    create_staff(
        &app,
        &w.admin,
        "driver",
        "李四",
        ID_B,
        VALID,
        Some(driver_id),
    )
    .await;
    let customer = register(&app, &courier, person("张三", ID_A, PHONE)).await;
    Shop {
        app,
        w,
        store,
        warehouse,
        courier,
        driver,
        customer,
    }
}

impl Shop {
    /// Adds `archive` and puts the cylinder full into the warehouse at `time`.
    async fn full_in_warehouse(&self, a: Value, time: DateTime<Utc>) {
        let code = a["code"].as_str().expect("code").to_owned();
        self.app
            .post_cylinders(&self.w.admin, vec![a])
            .await
            .expect(201);
        scan(
            &self.app,
            &self.warehouse,
            "store_full",
            &code,
            time,
            json!({"site_id": self.w.warehouse}),
        )
        .await
        .expect(200);
    }

    async fn events(&self, code: &str) -> Vec<Value> {
        events_of(&self.app, &self.w.admin, code).await
    }
}

// ---------------------------------------------------------------------------------------------
// The test data itself

#[test]
fn id_numbers_used_here_are_valid() {
    for id in [ID_A, ID_B, ID_C, ID_D] {
        assert!(id_is_valid(id), "{id} fails the GB 11643 check");
    }
    for seed in [0, 1, 17, 123, 999, 4242] {
        let id = id_number(seed);
        assert!(id_is_valid(&id), "{id}");
        assert!(
            chrono::NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").is_ok(),
            "{id}"
        );
    }
    assert!(!id_is_valid("110105194912310021"));
    assert!(!id_is_valid("110101199003071216"));
    assert_eq!(masked_id(ID_A), "110105********002X");
}

// ---------------------------------------------------------------------------------------------
// 1. The whole cycle of one cylinder

// C1 C2 C3 C5 C8 G9: filled, stored full, dispatched, loaded and unloaded on a waybill, delivered to
// a customer on an order with the handover code, recycled from them, received empty — and the flow
// table tells it all, as JSON and CSV; the waybill is done.
#[tokio::test]
async fn one_cylinder_goes_round_the_whole_cycle() {
    let app = spawn().await;
    let w = app.enterprise("cy").await;
    let store = app.create_site(&w.admin, w.org, "store", "五华门店").await;
    let (warehouse, warehouse_uid) = user(&app, w.org, "cy_wh", &["warehouse"]).await;
    let (driver, driver_uid) = user(&app, w.org, "cy_driver", &["driver"]).await;
    let (courier, courier_uid) = user(&app, w.org, "cy_courier", &["courier"]).await;
    app.post_cylinders(&w.admin, vec![valid_archive(CODE, w.org)])
        .await
        .expect(201);

    // C2: the vehicle, its driver (the driver user's account) and an escort.
    let vid = create_vehicle(&app, &w.admin, PLATE, VALID).await;
    problem(
        app.post(&w.admin, "/api/v1/vehicles", &vehicle_body(PLATE, VALID))
            .await,
        409,
        Some("plate"),
    );
    let v = app
        .get(&w.admin, &format!("/api/v1/vehicles/{vid}"))
        .await
        .expect(200);
    assert_eq!(v.body["plate"], json!(PLATE), "{}", v.text);
    assert_eq!(v.body["permit_valid"], json!(true), "{}", v.text);
    let drv = create_staff(
        &app,
        &w.admin,
        "driver",
        "李四",
        ID_B,
        VALID,
        Some(driver_uid),
    )
    .await;
    let esc = create_staff(&app, &w.admin, "escort", "王五", ID_C, VALID, None).await;
    // The same person in the same role twice → 409.
    problem(
        app.post(
            &w.admin,
            "/api/v1/transport-staff",
            &staff_body("driver", "李四", ID_B, VALID, None),
        )
        .await,
        409,
        None,
    );
    let staff = app
        .get(&w.admin, "/api/v1/transport-staff")
        .await
        .expect(200);
    assert!(
        !staff.text.contains(ID_B) && !staff.text.contains(ID_C),
        "full ID numbers in the staff list: {}",
        staff.text
    );
    let items = staff.body["items"].as_array().expect("staff items");
    assert_eq!(items.len(), 2, "{}", staff.text);
    for (id, number) in [(drv, ID_B), (esc, ID_C)] {
        let s = items
            .iter()
            .find(|s| s["id"] == json!(id))
            .unwrap_or_else(|| panic!("{id} not listed: {}", staff.text));
        assert_eq!(s["id_number"], json!(masked_id(number)), "{s}");
        assert_eq!(s["certificate_valid"], json!(true), "{s}");
    }

    let wb = app
        .post(
            &w.admin,
            "/api/v1/waybills",
            &json!({"origin_site_id": w.warehouse, "destination_site_id": store, "vehicle_id": vid,
                    "driver_id": drv, "escort_id": esc, "depart_at": rfc3339(now(&app))}),
        )
        .await
        .expect(201);
    let wb_id = id_of(&wb);
    let number = wb.body["number"]
        .as_str()
        .unwrap_or_else(|| panic!("no waybill number: {}", wb.text))
        .to_owned();
    let wb_path = format!("/api/v1/waybills/{wb_id}");
    let waybill = || async { app.get(&w.admin, &wb_path).await.expect(200).body };
    assert_eq!(waybill().await["state"], json!("created"));

    // Filled at the station (B1 data of filling.rs), three hours ago and on.
    let t0 = secs(now(&app) - Duration::hours(3));
    let t = |m: i64| t0 + Duration::minutes(m);
    let fill_end = t(10);
    app.post_events(
        &w.filler,
        vec![
            event(
                "pre_fill_check",
                &[CODE],
                &rfc3339(t(0)),
                Some(w.station),
                sample_data("pre_fill_check"),
            ),
            event(
                "fill",
                &[CODE],
                &rfc3339(fill_end),
                Some(w.station),
                json!({"scale_no": "CZ-01", "begin": rfc3339(fill_end - Duration::minutes(3)),
                       "end": rfc3339(fill_end), "tare_kg": 16.5, "gross_kg": 30.8, "medium": LPG}),
            ),
            event(
                "post_fill_check",
                &[CODE],
                &rfc3339(t(12)),
                Some(w.station),
                sample_data("post_fill_check"),
            ),
        ],
    )
    .await
    .expect(201);

    // G9, C1: stored full in the warehouse.
    let r = scan(
        &app,
        &warehouse,
        "store_full",
        CODE,
        t(20),
        json!({"site_id": w.warehouse}),
    )
    .await
    .expect(200);
    let res = result(&r);
    assert_eq!(res["code"], json!(CODE), "{}", r.text);
    assert_eq!(res["full"], json!(true), "{}", r.text);
    assert_eq!(res["location_kind"], json!("full_store"), "{}", r.text);
    assert_eq!(res["new"], json!(true), "{}", r.text);
    assert_eq!(res["verdict"], json!("ok"), "{}", r.text);
    assert!(res["ledger_index"].is_i64(), "{}", r.text);
    for key in ["id", "state", "next_check_date"] {
        assert!(!res[key].is_null(), "result lacks {key}: {}", r.text);
    }
    assert!(warnings(res).is_empty(), "{}", r.text);
    let s = app
        .get(&w.admin, &format!("/api/v1/stock?site_id={}", w.warehouse))
        .await
        .expect(200);
    let items = s.body["items"].as_array().expect("stock items");
    assert_eq!(items.len(), 1, "{}", s.text);
    assert_eq!(items[0]["site_id"], json!(w.warehouse), "{}", s.text);
    assert_eq!(items[0]["site_name"], json!("仓库"), "{}", s.text);
    assert_eq!(
        (items[0]["full"].as_i64(), items[0]["empty"].as_i64()),
        (Some(1), Some(0)),
        "{}",
        s.text
    );
    let codes = app
        .get(&w.admin, &format!("/api/v1/stock/{}/codes", w.warehouse))
        .await
        .expect(200);
    assert_eq!(
        codes.body["items"],
        json!([{"code": CODE, "full": true}]),
        "{}",
        codes.text
    );

    // Dispatched, loaded on the waybill by the driver, unloaded at the store.
    let r = scan(
        &app,
        &warehouse,
        "dispatch",
        CODE,
        t(30),
        json!({"site_id": w.warehouse}),
    )
    .await
    .expect(200);
    assert_eq!(result(&r)["location_kind"], json!("in_transport"));
    assert!(stock(&app, &w.admin).await.is_empty());
    let r = scan(
        &app,
        &driver,
        "load",
        CODE,
        t(40),
        json!({"vehicle": PLATE, "waybill": number}),
    )
    .await
    .expect(200);
    assert_eq!(result(&r)["location_kind"], json!("in_transport"));
    let wbv = waybill().await;
    assert_eq!(wbv["state"], json!("in_transit"), "{wbv}");
    assert_eq!(wbv["loaded"], json!([CODE]), "{wbv}");
    let r = scan(
        &app,
        &driver,
        "unload",
        CODE,
        t(90),
        json!({"site_id": store, "vehicle": PLATE, "waybill": number}),
    )
    .await
    .expect(200);
    assert_eq!(result(&r)["full"], json!(true), "{}", r.text);
    let wbv = waybill().await;
    assert_eq!(wbv["state"], json!("done"), "{wbv}");
    assert_eq!(wbv["unloaded"], json!([CODE]), "{wbv}");

    // C3: an order, dispatched to the courier, delivered with the handover code.
    let cust = register(&app, &courier, person("张三", ID_A, PHONE)).await;
    let o = app
        .post(
            &w.admin,
            "/api/v1/orders",
            &json!({"customer_id": cust, "items": [{"medium": "LPG", "spec": "YSP15", "quantity": 1}],
                    "requested_at": rfc3339(now(&app)), "remark": "下午送"}),
        )
        .await
        .expect(201);
    let order = id_of(&o);
    assert_eq!(o.body["state"], json!("created"), "{}", o.text);
    let code = o.body["handover_code"]
        .as_str()
        .unwrap_or_else(|| panic!("the enterprise admin sees the handover code: {}", o.text))
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    // The courier never sees the code.
    let seen = app
        .get(&courier, &format!("/api/v1/orders/{order}"))
        .await
        .expect(200);
    assert!(
        seen.body["handover_code"].is_null() && !seen.text.contains(&code),
        "{}",
        seen.text
    );
    let deliver_path = format!("/api/v1/orders/{order}/deliver");
    let delivery = |id: Uuid, codes: &[&str], confirmation: Value| {
        json!({"id": id, "codes": codes, "time": rfc3339(t(100)), "confirmation": confirmation,
               "lat": 25.04, "lon": 102.71})
    };
    let delivery_id = Uuid::new_v4();
    let by_code = json!({"method": "code", "code": code});
    // Not dispatched yet → 422.
    problem(
        app.post(
            &w.admin,
            &deliver_path,
            &delivery(delivery_id, &[CODE], by_code.clone()),
        )
        .await,
        422,
        None,
    );
    // Only a courier may be dispatched to.
    problem(
        app.post(
            &w.admin,
            &format!("/api/v1/orders/{order}/dispatch"),
            &json!({"courier_id": warehouse_uid}),
        )
        .await,
        422,
        Some("courier_id"),
    );
    let d = app
        .post(
            &w.admin,
            &format!("/api/v1/orders/{order}/dispatch"),
            &json!({"courier_id": courier_uid}),
        )
        .await
        .expect(200);
    assert_eq!(d.body["state"], json!("dispatched"), "{}", d.text);
    let wrong = if code == "123456" { "654321" } else { "123456" };
    problem(
        app.post(
            &courier,
            &deliver_path,
            &delivery(
                delivery_id,
                &[CODE],
                json!({"method": "code", "code": wrong}),
            ),
        )
        .await,
        422,
        Some("confirmation.code"),
    );
    problem(
        app.post(
            &courier,
            &deliver_path,
            &delivery(delivery_id, &[CODE, CODE2], by_code.clone()),
        )
        .await,
        422,
        Some("codes"),
    );
    problem(
        app.post(
            &courier,
            &deliver_path,
            &delivery(
                delivery_id,
                &[CODE],
                json!({"method": "signature", "file": "ab".repeat(32)}),
            ),
        )
        .await,
        422,
        Some("confirmation.file"),
    );
    assert_eq!(events_of(&app, &w.admin, CODE).await.len(), 7);
    let done = app
        .post(
            &courier,
            &deliver_path,
            &delivery(delivery_id, &[CODE], by_code.clone()),
        )
        .await
        .expect(200);
    assert_eq!(done.body["state"], json!("delivered"), "{}", done.text);
    let idx = done.body["ledger_index"]
        .as_i64()
        .unwrap_or_else(|| panic!("no ledger_index: {}", done.text));
    // A retry answers the same.
    let again = app
        .post(
            &courier,
            &deliver_path,
            &delivery(delivery_id, &[CODE], by_code.clone()),
        )
        .await
        .expect(200);
    assert_eq!(again.body["state"], json!("delivered"), "{}", again.text);
    assert_eq!(again.body["ledger_index"], json!(idx), "{}", again.text);
    // C5: the customer holds it; the deliver event names the order and the customer.
    assert_eq!(held(&app, &w.admin, cust).await, (1, vec![CODE.to_owned()]));
    let evs = events_of(&app, &w.admin, CODE).await;
    assert_eq!(evs.len(), 8, "{evs:?}");
    let dev = evs
        .iter()
        .find(|e| e["kind"] == "deliver")
        .unwrap_or_else(|| panic!("no deliver event: {evs:?}"));
    assert_eq!(dev["id"], json!(delivery_id), "{dev}");
    assert_eq!(dev["data"]["order_id"], json!(order.to_string()), "{dev}");
    assert_eq!(dev["data"]["customer_id"], json!(cust.to_string()), "{dev}");

    // Recycled by the courier from that customer, received empty at the warehouse.
    let r = scan(
        &app,
        &courier,
        "recycle",
        CODE,
        t(120),
        json!({"customer_id": cust.to_string(), "lat": 25.04, "lon": 102.71}),
    )
    .await
    .expect(200);
    assert_eq!(result(&r)["full"], json!(false), "{}", r.text);
    assert_eq!(held(&app, &w.admin, cust).await, (0, vec![]));
    let r = scan(
        &app,
        &warehouse,
        "receive_empty",
        CODE,
        t(150),
        json!({"site_id": w.warehouse}),
    )
    .await
    .expect(200);
    assert_eq!(result(&r)["location_kind"], json!("empty_store"));
    assert_eq!(
        stock(&app, &w.admin).await,
        BTreeMap::from([(w.warehouse, (0, 1))])
    );
    let rec = app.get(&w.admin, "/api/v1/recycling").await.expect(200);
    assert_eq!(rec.body["total"], json!(1), "{}", rec.text);
    assert_eq!(rec.body["items"][0]["codes"], json!([CODE]), "{}", rec.text);
    assert_eq!(
        rec.body["items"][0]["data"]["customer_id"],
        json!(cust.to_string()),
        "{}",
        rec.text
    );

    // C8: the flow table, oldest first.
    let tr = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}/trajectory"))
        .await
        .expect(200);
    assert_eq!(tr.body["code"], json!(CODE), "{}", tr.text);
    let rows = tr.body["rows"].as_array().expect("rows").clone();
    let col = |k: &str| -> Vec<Value> { rows.iter().map(|r| r[k].clone()).collect() };
    assert_eq!(
        col("kind"),
        json!([
            "pre_fill_check",
            "fill",
            "post_fill_check",
            "store_in",
            "store_out",
            "load",
            "unload",
            "deliver",
            "recycle",
            "store_in"
        ])
        .as_array()
        .expect("kinds")
        .clone(),
        "{}",
        tr.text
    );
    let ops = [
        "充装前检查",
        "充装",
        "充装后检查",
        "入库",
        "出库",
        "装车",
        "卸车",
        "配送交付",
        "空瓶回收",
        "入库",
    ];
    for (r, op) in rows.iter().zip(ops) {
        assert_eq!(r["operation"], json!(op), "{r}");
        assert_eq!(r["tare_kg"].as_f64(), Some(16.5), "{r}");
    }
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| instant(&r["time"])).collect();
    assert_eq!(
        times,
        vec![
            t(0),
            t(10),
            t(12),
            t(20),
            t(30),
            t(40),
            t(90),
            t(100),
            t(120),
            t(150)
        ]
    );
    let idxs: Vec<i64> = rows
        .iter()
        .map(|r| r["ledger_index"].as_i64().expect("ledger_index"))
        .collect();
    assert!(idxs.windows(2).all(|p| p[0] < p[1]), "{idxs:?}");
    assert_eq!(idxs[7], idx);
    // Who, where, what.
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    for (i, who) in [
        (0, "cy_filler"),
        (3, "cy_wh"),
        (5, "cy_driver"),
        (7, "cy_courier"),
        (8, "cy_courier"),
        (9, "cy_wh"),
    ] {
        assert_eq!(s(&rows[i]["operator"]), who, "{}", rows[i]);
    }
    for (i, place) in [
        (0, "充装站"),
        (1, "充装站"),
        (3, "仓库"),
        (4, "仓库"),
        (6, "五华门店"),
        (9, "仓库"),
    ] {
        assert_eq!(s(&rows[i]["place"]), place, "{}", rows[i]);
    }
    assert!(s(&rows[5]["place"]).contains(PLATE), "{}", rows[5]);
    assert!(!s(&rows[7]["place"]).is_empty(), "{}", rows[7]);
    for i in [5, 6] {
        let target = s(&rows[i]["target"]);
        assert!(
            target.contains(PLATE) && target.contains(&number),
            "{}",
            rows[i]
        );
    }
    let target = s(&rows[7]["target"]);
    assert!(
        target.contains("张三") && target.contains(&order.to_string()),
        "{}",
        rows[7]
    );
    assert!(s(&rows[8]["target"]).contains("张三"), "{}", rows[8]);
    assert_eq!(s(&rows[3]["target"]), "重瓶", "{}", rows[3]);
    assert_eq!(s(&rows[9]["target"]), "空瓶", "{}", rows[9]);
    // Only the fill has a gross weight.
    assert_eq!(rows[1]["gross_kg"].as_f64(), Some(30.8), "{}", rows[1]);
    for (i, r) in rows.iter().enumerate() {
        if i != 1 {
            assert!(r["gross_kg"].is_null(), "{r}");
        }
    }
    // A warehouse keeper sees the customer's name masked.
    let tw = app
        .get(&warehouse, &format!("/api/v1/cylinders/{CODE}/trajectory"))
        .await
        .expect(200);
    assert!(
        !tw.text.contains("张三") && tw.text.contains("张*"),
        "{}",
        tw.text
    );

    // As CSV: BOM, header, one line per event.
    let csv = app
        .get(
            &w.admin,
            &format!("/api/v1/cylinders/{CODE}/trajectory?format=csv"),
        )
        .await
        .expect(200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let body = csv
        .text
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("no BOM: {:?}", &csv.text[..20.min(csv.text.len())]));
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines[0].trim_end(),
        "时间,操作,操作人,地点,去向/对象,皮重(kg),毛重(kg),存证序号"
    );
    assert_eq!(lines.len(), 1 + rows.len(), "{body}");
    for (line, op) in lines[1..].iter().zip(ops) {
        assert!(line.contains(op), "{line} lacks {op}");
    }
    assert!(lines[2].contains("30.8"), "{}", lines[2]);
    assert!(lines[8].contains(&idx.to_string()), "{}", lines[8]);

    // The same table as xlsx: a header row and one row per event, gross weights as numbers.
    let (status, _, xlsx) = app
        .get_bytes(
            &w.admin,
            &format!("/api/v1/cylinders/{CODE}/trajectory?format=xlsx"),
        )
        .await;
    assert_eq!(status, 200);
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("an xlsx");
    let sheet = book
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    assert_eq!(sheet.height(), 1 + rows.len());
    assert_eq!(
        sheet.get_value((0, 1)).map(|c| c.to_string()),
        Some("操作".to_owned())
    );
    assert_eq!(sheet.get_value((2, 6)), Some(&calamine::Data::Float(30.8)));
}

// ---------------------------------------------------------------------------------------------
// 2. Refusals: 422 naming the field, nothing stored

// C4: only a full cylinder is delivered; one in the empty store is refused.
#[tokio::test]
async fn deliver_refuses_a_cylinder_in_the_empty_store() {
    let s = shop("de").await;
    let app = &s.app;
    app.post_cylinders(&s.w.admin, vec![valid_archive(CODE, s.w.org)])
        .await
        .expect(201);
    let t0 = secs(now(app) - Duration::hours(1));
    scan(
        app,
        &s.warehouse,
        "receive_empty",
        CODE,
        t0,
        json!({"site_id": s.w.warehouse}),
    )
    .await
    .expect(200);
    let before = s.events(CODE).await;
    let r = app
        .post_events(
            &s.courier,
            vec![deliver_event(CODE, t0 + Duration::minutes(5), s.customer)],
        )
        .await;
    problem(r, 422, Some("events[0].codes[0]"));
    // By scan too.
    problem(
        scan(
            app,
            &s.courier,
            "deliver",
            CODE,
            t0 + Duration::minutes(6),
            json!({"customer_id": s.customer.to_string()}),
        )
        .await,
        422,
        Some("scans[0].code"),
    );
    assert_eq!(s.events(CODE).await, before);
    assert_eq!(held(app, &s.w.admin, s.customer).await, (0, vec![]));
    assert_eq!(
        stock(app, &s.w.admin).await,
        BTreeMap::from([(s.w.warehouse, (0, 1))])
    );
}

// C4, C5: a recycle naming a customer needs that customer to hold the cylinder.
#[tokio::test]
async fn recycle_refuses_a_customer_who_never_received_the_cylinder() {
    let s = shop("rc").await;
    let app = &s.app;
    let other = register(app, &s.courier, person("赵六", ID_D, "13700001111")).await;
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    s.full_in_warehouse(valid_archive(CODE2, s.w.org), t0).await;
    // CODE2 goes to the other customer.
    app.post_events(
        &s.courier,
        vec![deliver_event(CODE2, t0 + Duration::minutes(5), other)],
    )
    .await
    .expect(201);
    // CODE is still in the full store: nobody holds it.
    let before = s.events(CODE).await;
    problem(
        app.post_events(
            &s.courier,
            vec![recycle_event(CODE, t0 + Duration::minutes(10), s.customer)],
        )
        .await,
        422,
        Some("events[0].codes[0]"),
    );
    assert_eq!(s.events(CODE).await, before);
    // CODE2 is held by the other customer, not by ours.
    let before2 = s.events(CODE2).await;
    problem(
        scan(
            app,
            &s.courier,
            "recycle",
            CODE2,
            t0 + Duration::minutes(11),
            json!({"customer_id": s.customer.to_string()}),
        )
        .await,
        422,
        Some("scans[0].code"),
    );
    assert_eq!(s.events(CODE2).await, before2);
    assert_eq!(
        held(app, &s.w.admin, other).await,
        (1, vec![CODE2.to_owned()])
    );
    // From the one who holds it: accepted.
    app.post_events(
        &s.courier,
        vec![recycle_event(CODE2, t0 + Duration::minutes(12), other)],
    )
    .await
    .expect(201);
    assert_eq!(held(app, &s.w.admin, other).await, (0, vec![]));
}

// C2: a vehicle whose permit expired carries nothing: no load, no waybill.
#[tokio::test]
async fn load_refuses_a_vehicle_with_an_expired_permit() {
    let s = shop("vp").await;
    let app = &s.app;
    let expired = create_vehicle(app, &s.w.admin, PLATE2, EXPIRED).await;
    let list = app.get(&s.w.admin, "/api/v1/vehicles").await.expect(200);
    let items = list.body["items"].as_array().expect("vehicles");
    let valid_of = |plate: &str| {
        items
            .iter()
            .find(|v| v["plate"] == json!(plate))
            .unwrap_or_else(|| panic!("{plate} not listed: {}", list.text))["permit_valid"]
            .clone()
    };
    assert_eq!(valid_of(PLATE), json!(true));
    assert_eq!(valid_of(PLATE2), json!(false));

    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    let before = s.events(CODE).await;
    // The registered driver (valid certificate) loads without a waybill: refused for the vehicle.
    let load = |plate: &str| {
        event(
            "load",
            &[CODE],
            &rfc3339(t0 + Duration::minutes(10)),
            None,
            json!({"vehicle": plate}),
        )
    };
    problem(
        app.post_events(&s.driver, vec![load(PLATE2)]).await,
        422,
        Some("events[0].data.vehicle"),
    );
    assert_eq!(s.events(CODE).await, before);
    // A waybill for it is refused too, and none is stored.
    let drivers = app
        .get(&s.w.admin, "/api/v1/transport-staff")
        .await
        .expect(200);
    let drv = drivers.body["items"][0]["id"].clone();
    problem(
        app.post(
            &s.w.admin,
            "/api/v1/waybills",
            &json!({"origin_site_id": s.w.warehouse, "destination": "宜良县匡远街道经销点",
                    "vehicle_id": expired, "driver_id": drv, "depart_at": rfc3339(now(app))}),
        )
        .await,
        422,
        Some("vehicle_id"),
    );
    let wbs = app.get(&s.w.admin, "/api/v1/waybills").await.expect(200);
    assert_eq!(wbs.body["items"], json!([]), "{}", wbs.text);
    // The same load on the valid vehicle is accepted.
    app.post_events(&s.driver, vec![load(PLATE)])
        .await
        .expect(201);
}

// C2: no waybill for a driver or an escort whose certificate expired; nothing stored.
#[tokio::test]
async fn waybill_refuses_expired_driver_and_escort_certificates() {
    let s = shop("wc").await;
    let app = &s.app;
    let vid = app
        .get(&s.w.admin, "/api/v1/vehicles")
        .await
        .expect(200)
        .body["items"][0]["id"]
        .clone();
    let old_driver = create_staff(app, &s.w.admin, "driver", "钱七", ID_C, EXPIRED, None).await;
    let good_driver = app
        .get(&s.w.admin, "/api/v1/transport-staff")
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .expect("staff")
        .iter()
        .find(|x| x["certificate_valid"] == json!(true))
        .expect("the shop's driver")["id"]
        .clone();
    let old_escort = create_staff(app, &s.w.admin, "escort", "孙八", ID_D, EXPIRED, None).await;
    let staff = app
        .get(&s.w.admin, "/api/v1/transport-staff")
        .await
        .expect(200);
    let old = staff.body["items"]
        .as_array()
        .expect("staff")
        .iter()
        .find(|x| x["id"] == json!(old_driver))
        .expect("listed")
        .clone();
    assert_eq!(old["certificate_valid"], json!(false), "{old}");
    let body = |driver: Value, escort: Option<Uuid>| {
        let mut b = json!({"origin_site_id": s.w.warehouse, "destination_site_id": s.store,
                           "vehicle_id": vid, "driver_id": driver, "depart_at": rfc3339(now(app))});
        if let Some(e) = escort {
            b["escort_id"] = json!(e);
        }
        b
    };
    problem(
        app.post(
            &s.w.admin,
            "/api/v1/waybills",
            &body(json!(old_driver), None),
        )
        .await,
        422,
        Some("driver_id"),
    );
    problem(
        app.post(
            &s.w.admin,
            "/api/v1/waybills",
            &body(good_driver.clone(), Some(old_escort)),
        )
        .await,
        422,
        Some("escort_id"),
    );
    let wbs = app.get(&s.w.admin, "/api/v1/waybills").await.expect(200);
    assert_eq!(wbs.body["items"], json!([]), "{}", wbs.text);
    // With valid people it is issued.
    app.post(&s.w.admin, "/api/v1/waybills", &body(good_driver, None))
        .await
        .expect(201);
}

// C2: a load on a waybill needs the waybill's vehicle, and its driver's and escort's certificates
// valid on the day of the load (an escort's certificate that expired after the waybill was issued
// stops the load).
#[tokio::test]
async fn load_on_a_waybill_checks_its_vehicle_and_certificates_on_the_day() {
    let s = shop("lw").await;
    let app = &s.app;
    let vid = app
        .get(&s.w.admin, "/api/v1/vehicles")
        .await
        .expect(200)
        .body["items"][0]["id"]
        .clone();
    create_vehicle(app, &s.w.admin, PLATE2, VALID).await;
    let driver = app
        .get(&s.w.admin, "/api/v1/transport-staff")
        .await
        .expect(200)
        .body["items"][0]["id"]
        .clone();
    let today = now(app).with_timezone(&cst()).date_naive();
    let soon = (today + Duration::days(2)).format("%Y-%m-%d").to_string();
    let escort = create_staff(app, &s.w.admin, "escort", "王五", ID_C, &soon, None).await;
    let wb = app
        .post(
            &s.w.admin,
            "/api/v1/waybills",
            &json!({"number": "YD-LW-0001", "origin_site_id": s.w.warehouse, "destination_site_id": s.store,
                    "vehicle_id": vid, "driver_id": driver, "escort_id": escort,
                    "depart_at": rfc3339(now(app))}),
        )
        .await
        .expect(201);
    assert_eq!(wb.body["number"], json!("YD-LW-0001"), "{}", wb.text);
    // The same number twice → 409.
    problem(
        app.post(
            &s.w.admin,
            "/api/v1/waybills",
            &json!({"number": "YD-LW-0001", "origin_site_id": s.w.warehouse, "destination": "宜良县经销点",
                    "vehicle_id": vid, "driver_id": driver, "depart_at": rfc3339(now(app))}),
        )
        .await,
        409,
        None,
    );
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    let load = |plate: &str, time: DateTime<Utc>| {
        event(
            "load",
            &[CODE],
            &rfc3339(time),
            None,
            json!({"vehicle": plate, "waybill": "YD-LW-0001"}),
        )
    };
    let before = s.events(CODE).await;
    // Another vehicle than the waybill's.
    problem(
        app.post_events(&s.driver, vec![load(PLATE2, t0 + Duration::minutes(5))])
            .await,
        422,
        Some("events[0].data.vehicle"),
    );
    // Three days on, the escort's certificate has expired.
    let later = now(app) + Duration::days(3);
    app.set_now(later);
    problem(
        app.post_events(&s.driver, vec![load(PLATE, later - Duration::minutes(5))])
            .await,
        422,
        Some("events[0].data.waybill"),
    );
    assert_eq!(s.events(CODE).await, before);
    let w = app
        .get(&s.w.admin, &format!("/api/v1/waybills/{}", id_of(&wb)))
        .await
        .expect(200);
    assert_eq!(w.body["state"], json!("created"), "{}", w.text);
    assert_eq!(w.body["loaded"], json!([]), "{}", w.text);
}

// C2: without a waybill, only a registered driver with a valid certificate records a load.
#[tokio::test]
async fn load_without_waybill_needs_a_registered_driver() {
    let s = shop("ld").await;
    let app = &s.app;
    let (stranger, _) = user(app, s.w.org, "ld_driver2", &["driver"]).await;
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    let before = s.events(CODE).await;
    let load = event(
        "load",
        &[CODE],
        &rfc3339(t0 + Duration::minutes(10)),
        None,
        json!({"vehicle": PLATE}),
    );
    problem(
        app.post_events(&stranger, vec![load.clone()]).await,
        422,
        Some("events[0].data.waybill"),
    );
    assert_eq!(s.events(CODE).await, before);
    // The registered driver may.
    app.post_events(&s.driver, vec![load]).await.expect(201);
    assert_eq!(s.events(CODE).await.len(), before.len() + 1);
}

// G9, C4: an overdue cylinder is received with a warning, but never delivered or dispatched.
#[tokio::test]
async fn scan_refuses_to_deliver_an_overdue_cylinder() {
    let s = shop("od").await;
    let app = &s.app;
    app.post_cylinders(&s.w.admin, vec![overdue_archive(CODE, s.w.org)])
        .await
        .expect(201);
    let t0 = secs(now(app) - Duration::hours(1));
    let r = scan(
        app,
        &s.warehouse,
        "receive_empty",
        CODE,
        t0,
        json!({"site_id": s.w.warehouse}),
    )
    .await
    .expect(200);
    let res = result(&r);
    assert_eq!(res["verdict"], json!("overdue"), "{}", r.text);
    assert!(
        warnings(res).iter().any(|w| w.contains("超期")),
        "{}",
        r.text
    );
    // Stored full (an observation, accepted with the warning) …
    let r = scan(
        app,
        &s.warehouse,
        "store_full",
        CODE,
        t0 + Duration::minutes(1),
        json!({"site_id": s.w.warehouse}),
    )
    .await
    .expect(200);
    assert!(
        warnings(result(&r)).iter().any(|w| w.contains("超期")),
        "{}",
        r.text
    );
    // … but not delivered, nor dispatched.
    let before = s.events(CODE).await;
    problem(
        scan(
            app,
            &s.courier,
            "deliver",
            CODE,
            t0 + Duration::minutes(5),
            json!({"customer_id": s.customer.to_string()}),
        )
        .await,
        422,
        Some("scans[0].code"),
    );
    problem(
        scan(
            app,
            &s.warehouse,
            "dispatch",
            CODE,
            t0 + Duration::minutes(6),
            json!({"site_id": s.w.warehouse}),
        )
        .await,
        422,
        Some("scans[0].code"),
    );
    assert_eq!(s.events(CODE).await, before);
    assert_eq!(held(app, &s.w.admin, s.customer).await, (0, vec![]));
}

// C4: a batch with one refused event stores none; a retried batch (same ids) is accepted again
// although the cylinder moved on since.
#[tokio::test]
async fn a_refused_batch_stores_nothing_and_a_retry_is_accepted() {
    let s = shop("rb").await;
    let app = &s.app;
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    app.post_cylinders(&s.w.admin, vec![valid_archive(CODE2, s.w.org)])
        .await
        .expect(201);
    let deliver = vec![deliver_event(CODE, t0 + Duration::minutes(5), s.customer)];
    app.post_events(&s.courier, deliver.clone())
        .await
        .expect(201);
    app.post_events(
        &s.courier,
        vec![recycle_event(CODE, t0 + Duration::minutes(10), s.customer)],
    )
    .await
    .expect(201);
    let before = s.events(CODE).await;
    assert_eq!(before.len(), 3);
    // The retry: accepted, nothing new.
    app.post_events(&s.courier, deliver).await.expect(201);
    assert_eq!(s.events(CODE).await, before);
    // A fresh deliver of the now empty cylinder is refused.
    problem(
        app.post_events(
            &s.courier,
            vec![deliver_event(CODE, t0 + Duration::minutes(15), s.customer)],
        )
        .await,
        422,
        Some("events[0].codes[0]"),
    );
    // A good event with a refused one: neither is stored.
    let good = event(
        "store_in",
        &[CODE2],
        &rfc3339(t0 + Duration::minutes(16)),
        Some(s.w.warehouse),
        json!({"full": false}),
    );
    let bad = deliver_event(CODE, t0 + Duration::minutes(17), s.customer);
    problem(
        app.post_events(&s.w.admin, vec![good, bad]).await,
        422,
        Some("events[1].codes[0]"),
    );
    assert!(s.events(CODE2).await.is_empty());
    assert_eq!(s.events(CODE).await, before);
    assert_eq!(held(app, &s.w.admin, s.customer).await, (0, vec![]));
}

// G9: a refusal of a scan names a field of the scan request (the handheld highlights it): the
// batch's `vehicle`, not the `events[i].data.vehicle` of the event the server built.
#[tokio::test]
async fn scan_refusals_name_fields_of_the_scan_request() {
    let s = shop("sf").await;
    let app = &s.app;
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    let r = scan(
        app,
        &s.driver,
        "load",
        CODE,
        t0 + Duration::minutes(5),
        json!({"vehicle": "云A99999"}),
    )
    .await;
    let r = problem(r, 422, None);
    let fields = r.fields();
    assert!(
        fields.iter().any(|f| f == "vehicle"),
        "an unregistered vehicle should be named `vehicle`, got {fields:?}: {}",
        r.text
    );
    assert!(
        fields.iter().all(|f| !f.contains(".data.")),
        "fields that do not exist in a scan request: {fields:?}"
    );
}

// C3, C4: an order delivery of a cylinder that may not go out (here: in the empty store) is refused,
// the order stays dispatched, nothing is stored — and the refusal names the request's `codes[0]`,
// not the `events[0].codes[0]` of the event the server built.
#[tokio::test]
async fn order_delivery_refusals_name_fields_of_the_request() {
    let s = shop("of").await;
    let app = &s.app;
    let courier_id = me(app, &s.courier).await;
    app.post_cylinders(&s.w.admin, vec![valid_archive(CODE, s.w.org)])
        .await
        .expect(201);
    let t0 = secs(now(app) - Duration::hours(1));
    scan(
        app,
        &s.warehouse,
        "receive_empty",
        CODE,
        t0,
        json!({"site_id": s.w.warehouse}),
    )
    .await
    .expect(200);
    let o = app
        .post(
            &s.w.admin,
            "/api/v1/orders",
            &json!({"customer_id": s.customer, "items": [{"medium": "LPG", "spec": "YSP15", "quantity": 1}],
                    "requested_at": rfc3339(now(app))}),
        )
        .await
        .expect(201);
    let order = id_of(&o);
    let code = o.body["handover_code"].as_str().expect("code").to_owned();
    app.post(
        &s.w.admin,
        &format!("/api/v1/orders/{order}/dispatch"),
        &json!({"courier_id": courier_id}),
    )
    .await
    .expect(200);
    let before = s.events(CODE).await;
    let r = app
        .post(
            &s.courier,
            &format!("/api/v1/orders/{order}/deliver"),
            &json!({"id": Uuid::new_v4(), "codes": [CODE], "time": rfc3339(t0 + Duration::minutes(5)),
                    "confirmation": {"method": "code", "code": code}}),
        )
        .await;
    let r = problem(r, 422, None);
    assert_eq!(s.events(CODE).await, before);
    let view = app
        .get(&s.w.admin, &format!("/api/v1/orders/{order}"))
        .await
        .expect(200);
    assert_eq!(view.body["state"], json!("dispatched"), "{}", view.text);
    assert_eq!(held(app, &s.w.admin, s.customer).await, (0, vec![]));
    let fields = r.fields();
    assert!(
        fields.iter().any(|f| f == "codes[0]"),
        "the refused cylinder should be named `codes[0]`, got {fields:?}: {}",
        r.text
    );
}

// C5: a customer id is a UUID whatever its letter case: a delivery accepted for the registered
// customer is counted in their holdings and recycled from them.
#[tokio::test]
async fn customer_ids_in_events_are_matched_as_ids() {
    let s = shop("cs").await;
    let app = &s.app;
    let t0 = secs(now(app) - Duration::hours(1));
    s.full_in_warehouse(valid_archive(CODE, s.w.org), t0).await;
    let upper = s.customer.to_string().to_uppercase();
    let r = app
        .post_events(
            &s.courier,
            vec![event(
                "deliver",
                &[CODE],
                &rfc3339(t0 + Duration::minutes(5)),
                None,
                json!({"customer_id": upper}),
            )],
        )
        .await;
    if r.status.as_u16() == 422 {
        // Refusing a non-canonical id is fine too.
        problem(r, 422, Some("events[0].data.customer_id"));
        return;
    }
    r.expect(201);
    assert_eq!(
        held(app, &s.w.admin, s.customer).await,
        (1, vec![CODE.to_owned()]),
        "a delivery accepted for customer {upper} is not counted in their holdings"
    );
    app.post_events(
        &s.courier,
        vec![recycle_event(CODE, t0 + Duration::minutes(10), s.customer)],
    )
    .await
    .expect(201);
}

// ---------------------------------------------------------------------------------------------
// 3. Personal data masked by role; the reveal is audited

// C6, G1, G2
#[tokio::test]
async fn customer_data_is_masked_by_role_and_the_reveal_is_audited() {
    let app = spawn().await;
    let w = app.enterprise("mk").await;
    let other = app.enterprise_under("mk2", w.province, w.prefecture).await;
    let (courier, _) = user(&app, w.org, "mk_courier", &["courier"]).await;
    let (warehouse, _) = user(&app, w.org, "mk_wh", &["warehouse"]).await;
    let (regulator, _) = user(&app, w.prefecture, "mk_reg", &["regulator"]).await;
    let cust = register(&app, &courier, person("张三", ID_A, PHONE)).await;

    for (who, token) in [("admin", &w.admin), ("courier", &courier)] {
        let c = customer(&app, token, cust).await;
        assert_eq!(c["name"], json!("张三"), "{who}: {c}");
        assert_eq!(c["phone"], json!(PHONE), "{who}: {c}");
        assert_eq!(c["addresses"][0]["address"], json!(ADDRESS), "{who}: {c}");
        assert_eq!(c["addresses"][0]["lat"], json!(25.04), "{who}: {c}");
        assert_eq!(c["id_number"], json!(masked_id(ID_A)), "{who}: {c}");
        assert_eq!(c["kind"], json!("residential"), "{who}: {c}");
        assert_eq!(c["real_name_verified"], json!(false), "{who}: {c}");
    }
    for (who, token) in [
        ("warehouse", &warehouse),
        ("regulator", &regulator),
        ("filler", &w.filler),
    ] {
        let c = customer(&app, token, cust).await;
        assert_eq!(c["name"], json!("张*"), "{who}: {c}");
        assert_eq!(c["phone"], json!("138****5678"), "{who}: {c}");
        assert_eq!(
            c["addresses"][0]["address"],
            json!("昆明市五华区人民中路***"),
            "{who}: {c}"
        );
        assert!(
            c["addresses"][0].get("lat").is_none() && c["addresses"][0].get("lon").is_none(),
            "{who}: {c}"
        );
        assert_eq!(c["id_number"], json!(masked_id(ID_A)), "{who}: {c}");
        // The list is masked the same way.
        let list = app.get(token, "/api/v1/customers").await.expect(200);
        assert!(
            !list.text.contains("张三") && !list.text.contains(PHONE) && list.text.contains("张*"),
            "{who}: {}",
            list.text
        );
    }
    // No view ever holds the full ID number.
    for token in [&w.admin, &courier, &warehouse, &regulator] {
        let t = app
            .get(token, &format!("/api/v1/customers/{cust}"))
            .await
            .text;
        assert!(!t.contains(ID_A), "{t}");
    }

    // Another enterprise does not see the customer at all.
    problem(
        app.get(&other.admin, &format!("/api/v1/customers/{cust}"))
            .await,
        403,
        None,
    );
    let list = app.get(&other.admin, "/api/v1/customers").await.expect(200);
    assert_eq!(list.body["items"], json!([]), "{}", list.text);

    // Reveal: the enterprise admin only, audited.
    let reveal = format!("/api/v1/customers/{cust}/reveal");
    for token in [&courier, &warehouse, &regulator, &other.admin] {
        problem(app.post(token, &reveal, &json!({})).await, 403, None);
    }
    let r = app.post(&w.admin, &reveal, &json!({})).await.expect(200);
    assert_eq!(r.body["id_number"], json!(ID_A), "{}", r.text);
    let audit = app
        .get(&app.admin, "/api/v1/audit?limit=500")
        .await
        .expect(200);
    let rows = audit.body["items"].as_array().expect("audit items");
    let row = rows
        .iter()
        .find(|r| r["path"] == json!(reveal) && r["status"] == json!(200))
        .unwrap_or_else(|| panic!("no audit row of the reveal: {}", audit.text));
    assert_eq!(row["username"], json!("mk_admin"), "{row}");
    assert_eq!(row["method"], json!("POST"), "{row}");
    assert!(
        row["detail"]
            .as_str()
            .is_some_and(|d| d.contains("revealed")),
        "{row}"
    );
    assert!(
        !audit.text.contains(ID_A),
        "the audit log holds the full ID number"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Registered once in the node

// C6: the same person registered by two enterprises is one customer bound to both; progress counts
// registrations, verifications and cylinders held without a verified real name.
#[tokio::test]
async fn a_person_is_registered_once_across_enterprises() {
    let app = spawn().await;
    let a = app.enterprise("ra").await;
    let b = app.enterprise_under("rb", a.province, a.prefecture).await;
    let c = app.enterprise_under("rc", a.province, a.prefecture).await;
    let (regulator, _) = user(&app, a.prefecture, "ra_reg", &["regulator"]).await;
    let (warehouse, _) = user(&app, a.org, "ra_wh", &["warehouse"]).await;

    // C6: real name required and checked.
    let mut no_id = person("张三", ID_A, PHONE);
    no_id.as_object_mut().expect("body").remove("id_number");
    problem(
        app.post(&a.admin, "/api/v1/customers", &no_id).await,
        422,
        Some("id_number"),
    );
    problem(
        app.post(
            &a.admin,
            "/api/v1/customers",
            &person("张三", "110105194912310021", PHONE),
        )
        .await,
        422,
        Some("id_number"),
    );
    let list = app.get(&a.admin, "/api/v1/customers").await.expect(200);
    assert_eq!(list.body["items"], json!([]), "{}", list.text);

    let id = register(&app, &a.admin, person("张三", ID_A, PHONE)).await;
    // The same person through B (another phone, lower-case check char): the same id, bound to B.
    let r = app
        .post(
            &b.admin,
            "/api/v1/customers",
            &person("张三", &ID_A.to_lowercase(), "13600002222"),
        )
        .await
        .expect(200);
    assert_eq!(r.body["id"], json!(id), "{}", r.text);
    assert_eq!(r.body["created"], json!(false), "{}", r.text);
    assert_eq!(r.body["bound"], json!(true), "{}", r.text);
    // Again through A: nothing new.
    let r = app
        .post(&a.admin, "/api/v1/customers", &person("张三", ID_A, PHONE))
        .await
        .expect(200);
    assert_eq!(r.body["id"], json!(id), "{}", r.text);
    assert_eq!(r.body["created"], json!(false), "{}", r.text);
    assert_eq!(r.body["bound"], json!(false), "{}", r.text);
    // Another person is another customer.
    let other = register(&app, &b.admin, person("李四", &id_number(7), "13600003333")).await;
    assert_ne!(other, id);

    for token in [&a.admin, &b.admin] {
        let l = app.get(token, "/api/v1/customers").await.expect(200);
        let ids = item_ids(&l);
        assert_eq!(
            ids.iter().filter(|x| **x == id.to_string()).count(),
            1,
            "{}",
            l.text
        );
        customer(&app, token, id).await;
    }
    assert_eq!(
        item_ids(&app.get(&a.admin, "/api/v1/customers").await).len(),
        1
    );
    assert_eq!(
        item_ids(&app.get(&b.admin, "/api/v1/customers").await).len(),
        2
    );
    assert!(item_ids(&app.get(&c.admin, "/api/v1/customers").await).is_empty());
    problem(
        app.get(&c.admin, &format!("/api/v1/customers/{id}")).await,
        403,
        None,
    );

    // Progress per organisation.
    let progress = |token: String| {
        let app = &app;
        async move {
            let r = app
                .get(&token, "/api/v1/customers/progress")
                .await
                .expect(200);
            r.body["items"]
                .as_array()
                .unwrap_or_else(|| panic!("no progress items: {}", r.text))
                .iter()
                .map(|i| {
                    (
                        i["org_id"]
                            .as_str()
                            .expect("org_id")
                            .parse::<Uuid>()
                            .expect("uuid"),
                        (
                            i["registered"].as_i64().expect("registered"),
                            i["verified"].as_i64().expect("verified"),
                            i["held_without_real_name"].as_i64().expect("held"),
                        ),
                    )
                })
                .collect::<BTreeMap<Uuid, (i64, i64, i64)>>()
        }
    };
    assert_eq!(
        progress(a.admin.clone()).await,
        BTreeMap::from([(a.org, (1, 0, 0))])
    );
    // A delivers a cylinder to the (unverified) customer.
    app.post_cylinders(&a.admin, vec![valid_archive(CODE, a.org)])
        .await
        .expect(201);
    let t0 = secs(now(&app) - Duration::hours(1));
    scan(
        &app,
        &warehouse,
        "store_full",
        CODE,
        t0,
        json!({"site_id": a.warehouse}),
    )
    .await
    .expect(200);
    app.post_events(
        &a.admin,
        vec![deliver_event(CODE, t0 + Duration::minutes(5), id)],
    )
    .await
    .expect(201);
    assert_eq!(
        progress(regulator.clone()).await,
        BTreeMap::from([(a.org, (1, 0, 1)), (b.org, (2, 0, 1))])
    );
    // Verified: counted as verified, nothing held without a real name.
    let v = app
        .post(
            &b.admin,
            &format!("/api/v1/customers/{id}/verify"),
            &json!({"method": "身份证核验"}),
        )
        .await
        .expect(200);
    assert_eq!(v.body["real_name_verified"], json!(true), "{}", v.text);
    assert_eq!(
        customer(&app, &a.admin, id).await["real_name_verified"],
        json!(true)
    );
    assert_eq!(
        progress(regulator.clone()).await,
        BTreeMap::from([(a.org, (1, 1, 0)), (b.org, (2, 1, 0))])
    );
    assert_eq!(
        progress(b.admin.clone()).await,
        BTreeMap::from([(b.org, (2, 1, 0))])
    );
    // B sees what A delivered: the customer holds it wherever registered.
    assert_eq!(held(&app, &b.admin, id).await, (1, vec![CODE.to_owned()]));
}

// ---------------------------------------------------------------------------------------------
// 5. A random walk of scans against a model of stock and holdings

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Loc {
    /// Never moved.
    Nowhere,
    /// In the stock of warehouse `0`, full or empty.
    Stock(usize, bool),
    /// Out of the warehouse, on the way.
    Transit,
    /// Handed to customer `0`.
    Customer(usize),
    /// Recycled without a site (at the customer's door, on the courier's tricycle).
    Recycled,
}

#[derive(Debug, Clone)]
struct Model {
    full: bool,
    overdue: bool,
    loc: Loc,
    events: usize,
}

impl Model {
    fn holder(&self) -> Option<usize> {
        match self.loc {
            Loc::Customer(c) => Some(c),
            _ => None,
        }
    }

    fn location_kind(&self) -> &'static str {
        match self.loc {
            Loc::Nowhere => "unknown",
            Loc::Stock(_, true) => "full_store",
            Loc::Stock(_, false) | Loc::Recycled => "empty_store",
            Loc::Transit => "in_transport",
            Loc::Customer(_) => "at_customer",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    ReceiveEmpty(usize),
    StoreFull(usize),
    Dispatch(usize),
    Deliver(usize),
    /// From customer `0`, to warehouse `1` (or no site).
    Recycle(usize, Option<usize>),
}

impl Op {
    /// A step, weighted so that deliveries follow fills and recycling follows deliveries often
    /// enough, with refusals in between.
    fn random(rng: &mut Rng, m: &Model) -> Op {
        let wh = rng.below(2);
        let held = m.holder().is_some();
        let deliver = if m.full && !held { 4 } else { 1 };
        let recycle = if held { 8 } else { 1 };
        let pick = rng.below(4 + deliver + recycle);
        match pick {
            0 => Op::ReceiveEmpty(wh),
            1 | 2 => Op::StoreFull(wh),
            3 => Op::Dispatch(wh),
            p if p < 4 + deliver => Op::Deliver(rng.below(2)),
            _ => {
                // Mostly from the customer who holds it, sometimes from the wrong one.
                let c = match m.holder() {
                    Some(h) if rng.below(4) > 0 => h,
                    _ => rng.below(2),
                };
                Op::Recycle(c, (rng.below(2) == 0).then_some(wh))
            }
        }
    }

    /// Whether the server must accept it, and the model after.
    fn apply(self, m: &Model) -> (bool, Model) {
        let mut n = m.clone();
        let ok = match self {
            Op::ReceiveEmpty(w) => {
                n.full = false;
                n.loc = Loc::Stock(w, false);
                true
            }
            Op::StoreFull(w) => {
                n.full = true;
                n.loc = Loc::Stock(w, true);
                true
            }
            // Only a full cylinder that may be used leaves the store as full.
            Op::Dispatch(_) => {
                n.loc = Loc::Transit;
                m.full && !m.overdue
            }
            // … and is delivered, unless it is with a customer already.
            Op::Deliver(c) => {
                n.loc = Loc::Customer(c);
                m.full && !m.overdue && m.holder().is_none()
            }
            Op::Recycle(c, site) => {
                n.full = false;
                n.loc = site.map_or(Loc::Recycled, |w| Loc::Stock(w, false));
                m.holder() == Some(c)
            }
        };
        if ok {
            n.events += 1;
            (true, n)
        } else {
            (false, m.clone())
        }
    }
}

/// One walk; answers how often each kind of step was taken (`"Deliver ok"`, `"Recycle refused"` …).
async fn random_walk(seed: u64, steps: usize) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let app = spawn().await;
    let w = app.enterprise(&format!("pw{seed}")).await;
    let wh2 = app
        .create_site(&w.admin, w.org, "warehouse", "二号仓库")
        .await;
    let warehouses = [w.warehouse, wh2];
    let (keeper, _) = user(&app, w.org, &format!("pw{seed}_wh"), &["warehouse"]).await;
    let (courier, _) = user(&app, w.org, &format!("pw{seed}_courier"), &["courier"]).await;
    let customers = [
        register(&app, &courier, person("张三", ID_A, PHONE)).await,
        register(&app, &courier, person("李四", ID_C, "13700001111")).await,
    ];
    let codes = [CODE, CODE2, CODE3];
    // The last cylinder is overdue for inspection.
    app.post_cylinders(
        &w.admin,
        vec![
            valid_archive(CODE, w.org),
            valid_archive(CODE2, w.org),
            overdue_archive(CODE3, w.org),
        ],
    )
    .await
    .expect(201);
    let mut models: Vec<Model> = (0..3)
        .map(|i| Model {
            full: false,
            overdue: i == 2,
            loc: Loc::Nowhere,
            events: 0,
        })
        .collect();
    let mut rng = Rng::new(seed);
    let t0 = secs(now(&app) - Duration::hours(2));
    let mut trace: Vec<String> = Vec::new();
    for step in 0..steps {
        let i = rng.below(3);
        let op = Op::random(&mut rng, &models[i]);
        let (ok, next) = op.apply(&models[i]);
        let verdict = if ok { "ok" } else { "refused" };
        trace.push(format!("{step}: {} {op:?} → {verdict}", codes[i]));
        let name = format!("{op:?}");
        let name = name.split('(').next().unwrap_or_default();
        *seen.entry(format!("{name} {verdict}")).or_default() += 1;
        let ctx = || format!("seed {seed}\n{}", trace.join("\n"));
        let time = t0 + Duration::minutes(step as i64);
        let (token, action, extra) = match op {
            Op::ReceiveEmpty(k) => (&keeper, "receive_empty", json!({"site_id": warehouses[k]})),
            Op::StoreFull(k) => (&keeper, "store_full", json!({"site_id": warehouses[k]})),
            Op::Dispatch(k) => (&keeper, "dispatch", json!({"site_id": warehouses[k]})),
            Op::Deliver(c) => (
                &courier,
                "deliver",
                json!({"customer_id": customers[c].to_string()}),
            ),
            Op::Recycle(c, site) => {
                let mut e = json!({"customer_id": customers[c].to_string()});
                if let Some(k) = site {
                    e["site_id"] = json!(warehouses[k]);
                }
                (&courier, "recycle", e)
            }
        };
        let r = scan(&app, token, action, codes[i], time, extra).await;
        if ok {
            assert_eq!(r.status.as_u16(), 200, "{}\n{}", r.text, ctx());
            let res = result(&r);
            assert_eq!(res["full"], json!(next.full), "{}\n{}", r.text, ctx());
            assert_eq!(
                res["location_kind"],
                json!(next.location_kind()),
                "{}\n{}",
                r.text,
                ctx()
            );
            assert_eq!(res["new"], json!(true), "{}\n{}", r.text, ctx());
            if next.overdue {
                assert!(
                    warnings(res).iter().any(|w| w.contains("超期")),
                    "{}\n{}",
                    r.text,
                    ctx()
                );
            }
        } else {
            assert_eq!(r.status.as_u16(), 422, "{}\n{}", r.text, ctx());
            assert!(
                r.fields().iter().any(|f| f == "scans[0].code"),
                "{}\n{}",
                r.text,
                ctx()
            );
            assert_eq!(
                events_of(&app, &w.admin, codes[i]).await.len(),
                models[i].events,
                "a refused scan stored an event\n{}",
                ctx()
            );
        }
        models[i] = next;

        // C1: stock per site.
        let mut want: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
        for m in &models {
            if let Loc::Stock(k, full) = m.loc {
                let e = want.entry(warehouses[k]).or_default();
                if full {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
        assert_eq!(stock(&app, &w.admin).await, want, "stock\n{}", ctx());
        // C5: cylinders held per customer.
        for (c, id) in customers.iter().enumerate() {
            let want: Vec<String> = models
                .iter()
                .zip(codes)
                .filter(|(m, _)| m.holder() == Some(c))
                .map(|(_, code)| code.to_owned())
                .collect();
            assert_eq!(
                held(&app, &w.admin, *id).await,
                (want.len() as i64, want),
                "holdings of customer {c}\n{}",
                ctx()
            );
        }
    }

    // C1: a stock-take of the first warehouse: what the model says is there matches; one code
    // forgotten and one foreign code do not.
    let expected: Vec<&str> = models
        .iter()
        .zip(codes)
        .filter(|(m, _)| matches!(m.loc, Loc::Stock(0, _)))
        .map(|(_, c)| c)
        .collect();
    let path = format!("/api/v1/stock/{}/stocktakes", w.warehouse);
    if !expected.is_empty() {
        let r = app
            .post(&keeper, &path, &json!({"codes": expected}))
            .await
            .expect(201);
        assert_eq!(r.body["state"], json!("match"), "{}", r.text);
        assert_eq!(r.body["present"], json!(expected), "{}", r.text);
    }
    let mut scanned: Vec<&str> = expected.iter().skip(1).copied().collect();
    scanned.push("9903007899");
    let r = app
        .post(&keeper, &path, &json!({"codes": scanned}))
        .await
        .expect(201);
    assert_eq!(r.body["state"], json!("mismatch"), "{}", r.text);
    assert_eq!(r.body["unexpected"], json!(["9903007899"]), "{}", r.text);
    assert_eq!(
        r.body["missing"],
        json!(expected.iter().take(1).collect::<Vec<_>>()),
        "{}",
        r.text
    );
    seen
}

// C1 C4 C5 G9: six seeded walks of 25 scans on three cylinders (one overdue), two warehouses and
// two customers; after each scan the refusal, the stock per site and the holdings match the model.
#[tokio::test]
async fn random_scan_walks_match_the_model_of_stock_and_holdings() {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 1..=6 {
        for (k, n) in random_walk(seed, 25).await {
            *seen.entry(k).or_default() += n;
        }
    }
    // The walks reach every kind of step, accepted and refused.
    for k in [
        "ReceiveEmpty ok",
        "StoreFull ok",
        "Dispatch ok",
        "Dispatch refused",
        "Deliver ok",
        "Deliver refused",
        "Recycle ok",
        "Recycle refused",
    ] {
        assert!(seen.get(k).is_some_and(|n| *n > 0), "no {k:?} in {seen:?}");
    }
    eprintln!("steps taken: {seen:?}");
}

// ---------------------------------------------------------------------------------------------
// 6. Deposits and holdings

// C5: held, deposits, owed and credit through deliveries, deposits, recycling and a refund.
#[tokio::test]
async fn deposits_balance_cylinders_held() {
    let s = shop("dp").await;
    let app = &s.app;
    let t0 = secs(now(app) - Duration::hours(1));
    for code in [CODE, CODE2, CODE3] {
        s.full_in_warehouse(valid_archive(code, s.w.org), t0).await;
    }
    let holdings = |v: &Value| {
        (
            v["held"].as_i64().expect("held"),
            v["deposits"].as_i64().expect("deposits"),
            v["owed"].as_i64().expect("owed"),
            v["credit"].as_i64().expect("credit"),
        )
    };
    let now_h = || async { holdings(&customer(app, &s.w.admin, s.customer).await["holdings"]) };
    assert_eq!(now_h().await, (0, 0, 0, 0));
    let r = scan_many(
        app,
        &s.courier,
        "deliver",
        &[CODE, CODE2, CODE3],
        t0 + Duration::minutes(5),
        json!({"customer_id": s.customer.to_string()}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(3));
    assert_eq!(now_h().await, (3, 0, 3, 0));

    let deposit = |count: i64, receipt: &str| json!({"count": count, "amount_yuan": 150.0 * count.abs() as f64, "receipt_no": receipt});
    let path = format!("/api/v1/customers/{}/deposits", s.customer);
    let r = app
        .post(&s.w.admin, &path, &deposit(2, "YJ-0001"))
        .await
        .expect(201);
    assert_eq!(holdings(&r.body["holdings"]), (3, 2, 1, 0), "{}", r.text);
    problem(
        app.post(&s.w.admin, &path, &deposit(1, "YJ-0001")).await,
        409,
        Some("receipt_no"),
    );
    // Two come back.
    scan_many(
        app,
        &s.courier,
        "recycle",
        &[CODE, CODE2],
        t0 + Duration::minutes(10),
        json!({"customer_id": s.customer.to_string()}),
    )
    .await
    .expect(200);
    assert_eq!(now_h().await, (1, 2, 0, 1));
    // One deposit refunded; refunding more than paid is refused.
    let r = app
        .post(&s.w.admin, &path, &deposit(-1, "TY-0001"))
        .await
        .expect(201);
    assert_eq!(holdings(&r.body["holdings"]), (1, 1, 0, 0), "{}", r.text);
    problem(
        app.post(&s.w.admin, &path, &deposit(-2, "TY-0002")).await,
        422,
        Some("count"),
    );
    assert_eq!(now_h().await, (1, 1, 0, 0));
    let list = app.get(&s.w.admin, &path).await.expect(200);
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        list.text
    );
    // The courier takes no deposit.
    problem(
        app.post(&s.courier, &path, &deposit(1, "YJ-0009")).await,
        403,
        None,
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Household checks and rectification

// C9: a household check with one failed item opens a rectification task due in the item's days;
// reminders come when it is due within a day and when overdue; closing it ends them.
#[tokio::test]
async fn a_failed_household_check_opens_a_rectification_with_reminders() {
    let s = shop("hc").await;
    let app = &s.app;
    let (regulator, _) = user(app, s.w.prefecture, "hc_reg", &["regulator"]).await;

    // Files: images and PDF only.
    problem(
        app.post_raw(&s.courier, "/api/v1/files", b"just text".to_vec())
            .await,
        422,
        None,
    );
    let photo = upload_png(app, &s.courier, "photo").await;
    let signature = upload_png(app, &s.courier, "signature").await;
    let f = app
        .get(&s.courier, &format!("/api/v1/files/{signature}"))
        .await
        .expect(200);
    assert!(
        f.content_type.starts_with("image/png"),
        "{}",
        f.content_type
    );

    // E8: the items, configured by a regulator only.
    let items = app
        .get(&s.courier, "/api/v1/household-check-items")
        .await
        .expect(200);
    let mut list = items.body["items"].as_array().expect("items").clone();
    let codes: Vec<String> = list
        .iter()
        .map(|i| i["code"].as_str().expect("code").to_owned())
        .collect();
    assert_eq!(
        codes,
        [
            "leak",
            "hose",
            "regulator",
            "room",
            "distance",
            "upright",
            "alarm",
            "stove"
        ]
    );
    assert!(list.iter().all(|i| i["active"] == json!(true)));
    for it in &mut list {
        if it["code"] == "hose" {
            it["rectify_days"] = json!(3);
        }
    }
    problem(
        app.put(
            &s.w.admin,
            "/api/v1/household-check-items",
            &json!({"items": list}),
        )
        .await,
        403,
        None,
    );
    app.put(
        &regulator,
        "/api/v1/household-check-items",
        &json!({"items": list}),
    )
    .await
    .expect(200);
    let items = app
        .get(&s.courier, "/api/v1/household-check-items")
        .await
        .expect(200);
    let hose = items.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["code"] == "hose")
        .expect("hose")
        .clone();
    assert_eq!(hose["rectify_days"], json!(3), "{hose}");

    let time = secs(now(app) - Duration::minutes(10));
    let answers = |failed: Option<&str>| -> Vec<Value> {
        codes
            .iter()
            .map(|c| {
                let ok = Some(c.as_str()) != failed;
                let mut a = json!({"item": c, "ok": ok});
                if !ok {
                    a["remark"] = json!("软管老化龟裂");
                }
                a
            })
            .collect()
    };
    let check = |answers: Vec<Value>, signature: &str| {
        json!({"customer_id": s.customer, "time": rfc3339(time), "answers": answers,
               "photos": [photo], "signature": signature, "lat": 25.04, "lon": 102.71})
    };
    // Every active item exactly once, nothing unknown, a signature that was uploaded.
    let mut missing = answers(Some("hose"));
    missing.remove(0);
    problem(
        app.post(
            &s.courier,
            "/api/v1/household-checks",
            &check(missing, &signature),
        )
        .await,
        422,
        Some("answers"),
    );
    let mut unknown = answers(Some("hose"));
    unknown.push(json!({"item": "chimney", "ok": true}));
    problem(
        app.post(
            &s.courier,
            "/api/v1/household-checks",
            &check(unknown, &signature),
        )
        .await,
        422,
        Some("answers[8].item"),
    );
    problem(
        app.post(
            &s.courier,
            "/api/v1/household-checks",
            &check(answers(Some("hose")), &"ab".repeat(32)),
        )
        .await,
        422,
        Some("signature"),
    );
    let open = || async {
        app.get(&s.w.admin, "/api/v1/rectifications?state=open")
            .await
            .expect(200)
            .body["items"]
            .as_array()
            .expect("items")
            .clone()
    };
    assert!(open().await.is_empty());

    let r = app
        .post(
            &s.courier,
            "/api/v1/household-checks",
            &check(answers(Some("hose")), &signature),
        )
        .await
        .expect(201);
    assert_eq!(r.body["result"], json!("failed"), "{}", r.text);
    let tasks = r.body["rectifications"].as_array().expect("rectifications");
    assert_eq!(tasks.len(), 1, "{}", r.text);
    let task = &tasks[0];
    assert_eq!(task["item"], json!("hose"), "{task}");
    assert_eq!(task["state"], json!("open"), "{task}");
    assert!(task["reminder"].is_null(), "{task}");
    let due = instant(&task["due"]);
    assert_eq!(due, time + Duration::days(3), "{task}");
    let task_id = task["id"].as_str().expect("id").to_owned();
    // A passed check opens nothing.
    let p = app
        .post(
            &s.courier,
            "/api/v1/household-checks",
            &check(answers(None), &signature),
        )
        .await
        .expect(201);
    assert_eq!(p.body["result"], json!("passed"), "{}", p.text);
    assert_eq!(p.body["rectifications"], json!([]), "{}", p.text);
    let o = open().await;
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0]["id"], json!(task_id));

    let reminders = || async {
        app.get(&s.w.admin, "/api/v1/rectifications/reminders")
            .await
            .expect(200)
            .body["items"]
            .as_array()
            .expect("items")
            .clone()
    };
    assert!(reminders().await.is_empty());
    // Within a day of the due time: a reminder.
    app.set_now(due - Duration::hours(20));
    let rem = reminders().await;
    assert_eq!(rem.len(), 1, "{rem:?}");
    assert_eq!(rem[0]["id"], json!(task_id), "{rem:?}");
    assert_eq!(rem[0]["reminder"], json!("due_soon"), "{rem:?}");
    // Past it: overdue.
    app.set_now(due + Duration::hours(2));
    let rem = reminders().await;
    assert_eq!(rem.len(), 1, "{rem:?}");
    assert_eq!(rem[0]["reminder"], json!("overdue"), "{rem:?}");

    // Closed with a photo of the new hose; twice is a conflict.
    let close = format!("/api/v1/rectifications/{task_id}/close");
    let fixed = upload_png(app, &s.courier, "new hose").await;
    let c = app
        .post(
            &s.courier,
            &close,
            &json!({"remark": "已更换新软管", "photos": [fixed]}),
        )
        .await
        .expect(200);
    assert_eq!(c.body["state"], json!("closed"), "{}", c.text);
    problem(
        app.post(&s.courier, &close, &json!({"remark": "再次关闭"}))
            .await,
        409,
        None,
    );
    assert!(reminders().await.is_empty());
    assert!(open().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8. Vehicle positions

// C2: positions reported per vehicle; the latest per vehicle; the same time twice is stored once.
#[tokio::test]
async fn positions_latest_per_vehicle_and_idempotent() {
    let app = spawn().await;
    let w = app.enterprise("ps").await;
    let other = app.enterprise_under("ps2", w.province, w.prefecture).await;
    let (driver, _) = user(&app, w.org, "ps_driver", &["driver"]).await;
    let (warehouse, _) = user(&app, w.org, "ps_wh", &["warehouse"]).await;
    let v1 = create_vehicle(&app, &w.admin, PLATE, VALID).await;
    let v2 = create_vehicle(&app, &w.admin, PLATE2, VALID).await;
    let t1 = secs(now(&app) - Duration::minutes(10));
    let t2 = t1 + Duration::minutes(5);
    let pos = |t: DateTime<Utc>, lat: f64| json!({"time": rfc3339(t), "lat": lat, "lon": 102.71, "speed": 40.0, "heading": 90.0});
    let path1 = format!("/api/v1/vehicles/{v1}/positions");
    let r = app
        .post(
            &driver,
            &path1,
            &json!({"positions": [pos(t1, 25.01), pos(t2, 25.02)]}),
        )
        .await
        .expect(201);
    assert_eq!(r.body["stored"], json!(2), "{}", r.text);
    app.post(
        &w.admin,
        &format!("/api/v1/vehicles/{v2}/positions"),
        &json!({"positions": [pos(t1, 24.88)]}),
    )
    .await
    .expect(201);
    // Invalid: 422 naming the point, nothing stored.
    problem(
        app.post(
            &driver,
            &path1,
            &json!({"positions": [pos(t2 + Duration::minutes(1), 25.03), pos(t2 + Duration::minutes(2), 91.0)]}),
        )
        .await,
        422,
        Some("positions[1].lat"),
    );
    // A warehouse keeper reports no positions.
    problem(
        app.post(&warehouse, &path1, &json!({"positions": [pos(t2, 25.5)]}))
            .await,
        403,
        None,
    );

    let latest = || async {
        let r = app
            .get(&w.admin, "/api/v1/vehicles/positions")
            .await
            .expect(200);
        r.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items: {}", r.text))
            .iter()
            .map(|i| {
                (
                    i["vehicle_id"].as_str().expect("vehicle_id").to_owned(),
                    (
                        i["plate"].as_str().expect("plate").to_owned(),
                        instant(&i["time"]),
                        i["lat"].as_f64().expect("lat"),
                    ),
                )
            })
            .collect::<BTreeMap<String, (String, DateTime<Utc>, f64)>>()
    };
    let want = BTreeMap::from([
        (v1.to_string(), (PLATE.to_owned(), t2, 25.02)),
        (v2.to_string(), (PLATE2.to_owned(), t1, 24.88)),
    ]);
    assert_eq!(latest().await, want);
    // The same time again (a terminal resending): accepted, stored once, the first kept.
    app.post(&driver, &path1, &json!({"positions": [pos(t2, 25.5)]}))
        .await
        .expect(201);
    assert_eq!(latest().await, want);
    let track = app.get(&w.admin, &path1).await.expect(200);
    let points = track.body["items"].as_array().expect("track");
    assert_eq!(points.len(), 2, "{}", track.text);
    assert_eq!(instant(&points[0]["time"]), t1);
    assert_eq!(instant(&points[1]["time"]), t2);
    assert_eq!(points[1]["lat"].as_f64(), Some(25.02));
    // A window of the track.
    let window = format!(
        "{path1}?from={}&to={}",
        enc(&rfc3339(t1 - Duration::minutes(1))),
        enc(&rfc3339(t1 + Duration::minutes(1)))
    );
    let part = app.get(&w.admin, &window).await.expect(200);
    assert_eq!(
        part.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        part.text
    );
    // Another enterprise sees none of them.
    let theirs = app
        .get(&other.admin, "/api/v1/vehicles/positions")
        .await
        .expect(200);
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.text);
    problem(app.get(&other.admin, &path1).await, 403, None);
}
