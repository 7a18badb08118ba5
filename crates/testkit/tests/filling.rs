//! Filling control over HTTP (contract § Filling control, table B.1 and REQUIREMENTS B1–B5, A8): the
//! whole station workflow, one test per rule of table B.1 (a cylinder failing only that rule, then the
//! condition fixed), several rules at once, illegal labels, the decision records, bad requests,
//! overfill alarms, failed checks and filling batches. The pure rules are unit-tested in
//! `cyltrace-domain` (`filling.rs`); these tests drive the real server through the projection of the
//! recorded events, the server's clock and the China calendar.

mod common;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use common::*;
use cyltrace_testkit::{TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

const LPG: &str = "液化石油气";
const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";
const CODE3: &str = "1103007833";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A server whose tokens outlive the clock moves of these tests (a day and more).
async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.token_ttl_secs = 30 * 24 * 3600).await
}

/// The server's now (it differs from the wall clock after `set_now`).
fn now(app: &TestApp) -> DateTime<Utc> {
    app.state.now()
}

/// `t` without its fraction of a second (what an RFC 3339 string of [`rfc3339`] carries).
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("instant")
}

/// `minutes` before the server's now, RFC 3339 in China time.
fn srv_ago(app: &TestApp, minutes: i64) -> String {
    rfc3339(now(app) - Duration::minutes(minutes))
}

/// Today on the China calendar, by the server's clock.
fn china_today(app: &TestApp) -> NaiveDate {
    now(app).with_timezone(&cst()).date_naive()
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An archive every rule accepts: [`archive`] with a next check date in the future.
fn ok_archive(code: &str, owner: Uuid) -> Value {
    let mut a = archive(code, owner);
    a["next_check_date"] = json!("2028-09-01");
    // Checked recently: a next check 2028-09-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    a
}

async fn add_cylinder(app: &TestApp, w: &World, a: Value) {
    app.post_cylinders(&w.admin, vec![a]).await.expect(201);
}

/// Records `events` as `token`; they must be accepted.
async fn record(app: &TestApp, token: &str, events: Vec<Value>) {
    app.post_events(token, events).await.expect(201);
}

fn pre_check(code: &str, time: &str, site: Uuid) -> Value {
    event(
        "pre_fill_check",
        &[code],
        time,
        Some(site),
        sample_data("pre_fill_check"),
    )
}

/// A pre-fill check with one item failed (cracks found).
fn failed_pre_check(code: &str, time: &str, site: Uuid) -> Value {
    let mut e = pre_check(code, time, site);
    e["data"]["no_cracks"] = json!(false);
    e
}

fn post_check(code: &str, time: &str, site: Uuid) -> Value {
    event(
        "post_fill_check",
        &[code],
        time,
        Some(site),
        sample_data("post_fill_check"),
    )
}

/// A post-fill check with one item failed (a leak at the valve neck).
fn failed_post_check(code: &str, time: &str, site: Uuid) -> Value {
    let mut e = post_check(code, time, site);
    e["data"]["no_valve_neck_leak"] = json!(false);
    e
}

/// A fill of three minutes ending at `end` (the event's time), at `site`.
fn fill_at(
    code: &str,
    site: Uuid,
    end: DateTime<Utc>,
    tare: f64,
    gross: f64,
    batch: Option<&str>,
) -> Value {
    let mut data = json!({"scale_no": "CZ-01", "begin": rfc3339(end - Duration::minutes(3)),
                          "end": rfc3339(end), "tare_kg": tare, "gross_kg": gross, "medium": LPG});
    if let Some(b) = batch {
        data["batch"] = json!(b);
    }
    event("fill", &[code], &rfc3339(end), Some(site), data)
}

/// Out to a customer (B1.9).
fn deliver(code: &str, time: DateTime<Utc>) -> Value {
    event(
        "deliver",
        &[code],
        &rfc3339(time),
        None,
        sample_data("deliver"),
    )
}

/// Back empty from a customer (B1.9).
fn recycle(code: &str, time: DateTime<Utc>, site: Uuid) -> Value {
    event(
        "recycle",
        &[code],
        &rfc3339(time),
        Some(site),
        sample_data("recycle"),
    )
}

/// Adds an archive every rule accepts and a passed pre-fill check 30 minutes ago (by the server's
/// clock): a cylinder never filled that may be filled now.
async fn ready(app: &TestApp, w: &World, code: &str) {
    add_cylinder(app, w, ok_archive(code, w.org)).await;
    record(
        app,
        &w.filler,
        vec![pre_check(code, &srv_ago(app, 30), w.station)],
    )
    .await;
}

/// `POST /fill-control` as `token`.
async fn ask(
    app: &TestApp,
    token: &str,
    code: &str,
    site: Uuid,
    medium: &str,
) -> cyltrace_testkit::Resp {
    app.post(
        token,
        "/api/v1/fill-control",
        &json!({"code": code, "site_id": site, "medium": medium}),
    )
    .await
}

/// The enterprise's filler asks at its filling station for LPG; the decision (200).
async fn decide(app: &TestApp, w: &World, code: &str) -> Value {
    ask(app, &w.filler, code, w.station, LPG)
        .await
        .expect(200)
        .body
}

fn rules(d: &Value) -> Vec<String> {
    d["refusals"]
        .as_array()
        .unwrap_or_else(|| panic!("no refusals list: {d}"))
        .iter()
        .map(|r| r["rule"].as_str().expect("rule").to_owned())
        .collect()
}

#[track_caller]
fn assert_allowed(d: &Value) {
    assert_eq!(d["allow"], json!(true), "expected allow: {d}");
    assert_eq!(d["refusals"], json!([]), "allowed with refusals: {d}");
    assert!(
        d["decision_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .is_some(),
        "no decision_id: {d}"
    );
}

/// The decision refuses with exactly `expected`, in that order, each with a reason.
#[track_caller]
fn assert_refused(d: &Value, expected: &[&str]) {
    assert_eq!(d["allow"], json!(false), "expected a refusal: {d}");
    assert_eq!(rules(d), expected, "refusals: {d}");
    for r in d["refusals"].as_array().expect("refusals") {
        assert!(
            r["reason"].as_str().is_some_and(|s| !s.trim().is_empty()),
            "a refusal without a reason: {d}"
        );
    }
    assert!(
        d["decision_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .is_some(),
        "no decision_id: {d}"
    );
}

/// The reason given for `rule` in a decision.
#[track_caller]
fn reason(d: &Value, rule: &str) -> String {
    d["refusals"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["rule"] == rule))
        .and_then(|r| r["reason"].as_str())
        .unwrap_or_else(|| panic!("no {rule} refusal in {d}"))
        .to_owned()
}

/// A province and a prefecture regulator.
async fn regulators(app: &TestApp, tag: &str) -> (Uuid, Uuid) {
    let province = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": format!("{tag}省局"), "region_code": "530000"}),
        )
        .await;
    let prefecture = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": format!("{tag}市局"), "region_code": "530100",
                   "parent_id": province}),
        )
        .await;
    (province, prefecture)
}

/// A filling enterprise with the given `licences` under `prefecture`, with a filling station, a
/// warehouse, an admin and a filler (like [`TestApp::enterprise_under`]).
async fn enterprise_with_licences(
    app: &TestApp,
    tag: &str,
    (province, prefecture): (Uuid, Uuid),
    licences: Value,
) -> World {
    let body = json!({"kind": "filling_enterprise", "name": format!("{tag}燃气"), "region_code": "530102",
                      "parent_id": prefecture, "licences": licences});
    app.enterprise_from(tag, province, body).await
}

fn filling_licence(valid_until: &str) -> Value {
    json!({"kind": "filling", "number": "TS4253001-2028", "valid_until": valid_until})
}

fn gas_licence(valid_until: &str) -> Value {
    json!({"kind": "gas_business", "number": "云燃经字第001号", "valid_until": valid_until})
}

/// The items of a `{"items": [...]}` answer.
#[track_caller]
fn items(r: &cyltrace_testkit::Resp) -> Vec<Value> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.text))
        .clone()
}

/// All recorded decisions the node admin sees.
async fn all_decisions(app: &TestApp, query: &str) -> cyltrace_testkit::Resp {
    app.get(
        &app.admin,
        &format!("/api/v1/fill-control/decisions{query}"),
    )
    .await
    .expect(200)
}

// ---------------------------------------------------------------------------------------------
// The station workflow

// B1, B2, B3, B5: batch → pre-fill check → control → fill → post-fill check → records → next control.
#[tokio::test]
async fn workflow_pre_check_fill_control_fill_post_check() {
    let app = spawn().await;
    let w = app.enterprise("wf").await;

    // B5: the enterprise defines a batch.
    let b = app
        .post(&w.admin, "/api/v1/batches", &json!({"number": "B20261121"}))
        .await
        .expect(201);
    assert_eq!(b.body["number"], "B20261121");
    assert_eq!(b.body["org_id"], json!(w.org));

    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;

    // B2: the filler's pre-fill check, then the control answer with the cut-off weight (B4).
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    assert_allowed(&d);
    assert_eq!(d["fill_limit_kg"], json!(14.5));
    assert_eq!(
        d["target_gross_kg"],
        json!(31.0),
        "tare 16.5 + fill limit 14.5"
    );

    // B3: the fill, in the batch; then the post-fill check.
    let end = secs(now(&app) - Duration::minutes(2));
    let fill = fill_at(CODE, w.station, end, 16.5, 30.9, Some("B20261121"));
    let fill_id = fill["id"].clone();
    record(&app, &w.filler, vec![fill]).await;
    record(
        &app,
        &w.filler,
        vec![post_check(CODE, &srv_ago(&app, 1), w.station)],
    )
    .await;

    // The fill record (table C.1) on the station's day list.
    let fill_day = day((end - Duration::minutes(3))
        .with_timezone(&cst())
        .date_naive());
    let filler_id = me(&app, &w.filler).await;
    let r = app
        .get(
            &w.admin,
            &format!("/api/v1/fills?site_id={}&date={fill_day}", w.station),
        )
        .await
        .expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    let f = &items(&r)[0];
    assert_eq!(f["event_id"], fill_id);
    assert_eq!(f["code"], CODE);
    assert_eq!(f["scale_no"], "CZ-01");
    assert_eq!(f["tare_kg"], json!(16.5));
    assert_eq!(f["gross_kg"], json!(30.9));
    assert_eq!(f["net_kg"], json!(14.4));
    assert_eq!(f["batch"], "B20261121");
    assert_eq!(f["enterprise"], "wf燃气");
    assert_eq!(f["filling_licence"], "TS4253001-2028");
    assert_eq!(f["site_id"], json!(w.station));
    assert_eq!(f["date"], fill_day);
    assert_eq!(f["recorded_by"], json!(filler_id));
    assert_eq!(instant(&f["end"]), end);
    // Another day lists nothing.
    let next_day = day((end - Duration::minutes(3))
        .with_timezone(&cst())
        .date_naive()
        + Duration::days(1));
    let r = app
        .get(
            &w.admin,
            &format!("/api/v1/fills?site_id={}&date={next_day}", w.station),
        )
        .await
        .expect(200);
    assert_eq!(r.body["total"], 0, "{}", r.text);

    // The check records (table C.2): both checks, passed, newest first.
    let r = app
        .get(&w.filler, &format!("/api/v1/checks?code={CODE}"))
        .await
        .expect(200);
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let checks = items(&r);
    let kinds: Vec<&str> = checks
        .iter()
        .map(|c| c["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["post_fill_check", "pre_fill_check"]);
    for c in &checks {
        assert_eq!(c["passed"], true, "{c}");
        assert_eq!(c["code"], CODE);
        assert_eq!(c["failed_items"], json!([]));
    }

    // A second control right away: less than 24 h since the fill, and it has not been out and back.
    let d = decide(&app, &w, CODE).await;
    assert_refused(&d, &["B1.8", "B1.9"]);
}

// ---------------------------------------------------------------------------------------------
// One test per rule of table B.1

// B1.1
#[tokio::test]
async fn b1_1_filling_licence_expired() {
    let app = spawn().await;
    let regs = regulators(&app, "b11").await;
    let today = china_today(&app);
    let yesterday = day(today - Duration::days(1));

    let expired = enterprise_with_licences(
        &app,
        "expired",
        regs,
        json!([filling_licence(&yesterday), gas_licence("2030-12-31")]),
    )
    .await;
    ready(&app, &expired, CODE).await;
    let d = decide(&app, &expired, CODE).await;
    assert_refused(&d, &["B1.1"]);

    // An enterprise that differs only in its filling licence, valid through today.
    let valid = enterprise_with_licences(
        &app,
        "valid",
        regs,
        json!([filling_licence(&day(today)), gas_licence("2030-12-31")]),
    )
    .await;
    ready(&app, &valid, CODE2).await;
    assert_allowed(&decide(&app, &valid, CODE2).await);

    // A missing filling licence is refused too.
    let missing =
        enterprise_with_licences(&app, "missing", regs, json!([gas_licence("2030-12-31")])).await;
    ready(&app, &missing, CODE3).await;
    assert_refused(&decide(&app, &missing, CODE3).await, &["B1.1"]);
}

// B1.2
#[tokio::test]
async fn b1_2_gas_business_licence_expired() {
    let app = spawn().await;
    let regs = regulators(&app, "b12").await;
    let today = china_today(&app);
    let yesterday = day(today - Duration::days(1));

    let expired = enterprise_with_licences(
        &app,
        "expired",
        regs,
        json!([filling_licence("2030-12-31"), gas_licence(&yesterday)]),
    )
    .await;
    ready(&app, &expired, CODE).await;
    assert_refused(&decide(&app, &expired, CODE).await, &["B1.2"]);

    let valid = enterprise_with_licences(
        &app,
        "valid",
        regs,
        json!([filling_licence("2030-12-31"), gas_licence(&day(today))]),
    )
    .await;
    ready(&app, &valid, CODE2).await;
    assert_allowed(&decide(&app, &valid, CODE2).await);

    let missing = enterprise_with_licences(
        &app,
        "missing",
        regs,
        json!([filling_licence("2030-12-31")]),
    )
    .await;
    ready(&app, &missing, CODE3).await;
    assert_refused(&decide(&app, &missing, CODE3).await, &["B1.2"]);
}

// B1.3
#[tokio::test]
async fn b1_3_unregistered_cylinder() {
    let app = spawn().await;
    let w = app.enterprise("b13").await;
    let mut a = ok_archive(CODE, w.org);
    a.as_object_mut().expect("archive").remove("registration");
    add_cylinder(&app, &w, a).await;
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE).await, &["B1.3"]);

    // Fixed through the API: the usage registration is recorded.
    record(
        &app,
        &w.admin,
        vec![event(
            "register",
            &[CODE],
            &srv_ago(&app, 20),
            None,
            sample_data("register"),
        )],
    )
    .await;
    assert_allowed(&decide(&app, &w, CODE).await);
}

// B1.4: judged on the China calendar, whatever the UTC date.
#[tokio::test]
async fn b1_4_overdue_for_inspection_on_the_china_calendar() {
    let app = spawn().await;
    let w = app.enterprise("b14").await;
    // 17:00 UTC on 20 November is 01:00 on 21 November in China.
    let t = DateTime::parse_from_rfc3339("2026-11-20T17:00:00Z")
        .expect("instant")
        .with_timezone(&Utc);
    app.set_now(t);
    assert_eq!(day(china_today(&app)), "2026-11-21");

    let mut due_today = ok_archive(CODE, w.org);
    due_today["next_check_date"] = json!("2026-11-21");
    let mut overdue = ok_archive(CODE2, w.org);
    overdue["next_check_date"] = json!("2026-11-20");
    add_cylinder(&app, &w, due_today).await;
    add_cylinder(&app, &w, overdue).await;
    let pre = srv_ago(&app, 30);
    record(
        &app,
        &w.filler,
        vec![
            pre_check(CODE, &pre, w.station),
            pre_check(CODE2, &pre, w.station),
        ],
    )
    .await;

    assert_allowed(&decide(&app, &w, CODE).await);
    let d = decide(&app, &w, CODE2).await;
    assert_refused(&d, &["B1.4"]);

    // Fixed through the API: a passed periodic inspection moves the next check date.
    let station = inspection_station(&app, w.prefecture).await;
    record(
        &app,
        &w.admin,
        vec![event(
            "inspection_result",
            &[CODE2],
            &srv_ago(&app, 20),
            None,
            inspection_result_data(station),
        )],
    )
    .await;
    assert_allowed(&decide(&app, &w, CODE2).await);
}

// B1.5
#[tokio::test]
async fn b1_5_past_design_life() {
    let app = spawn().await;
    let w = app.enterprise("b15").await;
    let today = china_today(&app);

    let mut past = ok_archive(CODE, w.org);
    past["discard_date"] = json!(day(today - Duration::days(1)));
    add_cylinder(&app, &w, past).await;
    let mut last_day = ok_archive(CODE2, w.org);
    last_day["discard_date"] = json!(day(today));
    add_cylinder(&app, &w, last_day).await;
    // No discard date: manufacture date + life years (2018-09 + 8 years) decides.
    let mut by_life = ok_archive(CODE3, w.org);
    by_life
        .as_object_mut()
        .expect("archive")
        .remove("discard_date");
    by_life["manufacture_date"] = json!("2018-09");
    by_life["last_check_date"] = json!("2024-09-01");
    add_cylinder(&app, &w, by_life).await;
    let pre = srv_ago(&app, 30);
    record(
        &app,
        &w.filler,
        [CODE, CODE2, CODE3]
            .iter()
            .map(|c| pre_check(c, &pre, w.station))
            .collect(),
    )
    .await;

    assert_refused(&decide(&app, &w, CODE).await, &["B1.5"]);
    assert_refused(&decide(&app, &w, CODE3).await, &["B1.5"]);
    // A cylinder that differs only in its discard date, today: still usable.
    assert_allowed(&decide(&app, &w, CODE2).await);
}

// B1.6 (with A7: scrapping voids the label, so the void label is refused as A8 as well).
#[tokio::test]
async fn b1_6_scrapped_cylinder() {
    let app = spawn().await;
    let w = app.enterprise("b16").await;
    ready(&app, &w, CODE).await;
    assert_allowed(&decide(&app, &w, CODE).await);

    record(
        &app,
        &w.admin,
        vec![event(
            "scrap",
            &[CODE],
            &srv_ago(&app, 10),
            None,
            sample_data("scrap"),
        )],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    // Of table B.1 exactly B1.6 fails; the label is void (A7), which the contract refuses as A8.
    assert_refused(&d, &["A8", "B1.6"]);

    // Registered as scrapped: the same.
    let mut a = ok_archive(CODE2, w.org);
    a["state"] = json!("scrapped");
    add_cylinder(&app, &w, a).await;
    record(
        &app,
        &w.admin,
        vec![pre_check(CODE2, &srv_ago(&app, 30), w.station)],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE2).await, &["A8", "B1.6"]);

    // A later passed inspection does not bring it back (A7).
    let station = inspection_station(&app, w.prefecture).await;
    record(
        &app,
        &w.admin,
        vec![event(
            "inspection_result",
            &[CODE],
            &srv_ago(&app, 5),
            None,
            inspection_result_data(station),
        )],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE).await, &["A8", "B1.6"]);

    // A cylinder that differs only in its state is allowed.
    ready(&app, &w, CODE3).await;
    assert_allowed(&decide(&app, &w, CODE3).await);
}

// B1.7 (B9): only the enterprise's own cylinders.
#[tokio::test]
async fn b1_7_not_own_property() {
    let app = spawn().await;
    let a = app.enterprise("own").await;
    let b = app
        .enterprise_under("other", a.province, a.prefecture)
        .await;
    // Owned by the other enterprise under the same prefecture (created by the node admin).
    app.post_cylinders(&app.admin, vec![ok_archive(CODE, b.org)])
        .await
        .expect(201);
    record(
        &app,
        &app.admin,
        vec![pre_check(CODE, &srv_ago(&app, 30), a.station)],
    )
    .await;
    assert_refused(&decide(&app, &a, CODE).await, &["B1.7"]);

    // The same cylinder at its owner's station, whose enterprise differs only in being the owner.
    assert_allowed(&decide(&app, &b, CODE).await);
}

// B1.8: 24 h between fills, by the server's clock.
#[tokio::test]
async fn b1_8_less_than_24_hours_since_the_last_fill() {
    let app = spawn().await;
    let w = app.enterprise("b18").await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;
    let t = secs(now(&app) - Duration::minutes(10));
    record(
        &app,
        &w.filler,
        vec![
            pre_check(CODE, &rfc3339(t - Duration::minutes(20)), w.station),
            fill_at(CODE, w.station, t, 16.5, 30.8, None),
        ],
    )
    .await;
    record(
        &app,
        &w.filler,
        vec![post_check(
            CODE,
            &rfc3339(t + Duration::minutes(1)),
            w.station,
        )],
    )
    .await;

    // 23 h 59 min after the fill: out and back recorded, a fresh pre-fill check — only B1.8 fails.
    app.set_now(t + Duration::hours(23) + Duration::minutes(59));
    record(
        &app,
        &w.admin,
        vec![
            deliver(CODE, t + Duration::hours(1)),
            recycle(CODE, t + Duration::hours(2), w.station),
        ],
    )
    .await;
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE).await, &["B1.8"]);

    // 24 h 01 min after the fill.
    app.set_now(t + Duration::hours(24) + Duration::minutes(1));
    assert_allowed(&decide(&app, &w, CODE).await);
}

// B1.9: out (deliver / load / full store_out) and back empty (recycle / unload / empty store_in).
#[tokio::test]
async fn b1_9_circulation_incomplete() {
    let app = spawn().await;
    let w = app.enterprise("b19").await;
    app.transport(&w, "云A12345", "YD0001").await;
    let n = now(&app);
    let h = |hours: i64| secs(n - Duration::hours(hours));
    let ev = |kind: &str, code: &str, at: DateTime<Utc>, site: Option<Uuid>, data: Value| {
        event(kind, &[code], &rfc3339(at), site, data)
    };
    let pairs = [
        (CODE, deliver(CODE, h(20)), recycle(CODE, h(10), w.station)),
        (
            CODE2,
            ev("load", CODE2, h(20), None, sample_data("load")),
            ev(
                "unload",
                CODE2,
                h(10),
                Some(w.station),
                sample_data("unload"),
            ),
        ),
        (
            CODE3,
            ev(
                "store_out",
                CODE3,
                h(20),
                Some(w.warehouse),
                json!({"full": true}),
            ),
            ev(
                "store_in",
                CODE3,
                h(10),
                Some(w.warehouse),
                json!({"full": false}),
            ),
        ),
    ];
    for (code, out, back) in pairs {
        // Filled 26 h ago and re-checked; a fresh pre-fill check; no circulation yet.
        add_cylinder(&app, &w, ok_archive(code, w.org)).await;
        record(
            &app,
            &w.filler,
            vec![
                fill_at(code, w.station, h(26), 16.5, 30.8, None),
                post_check(code, &rfc3339(h(26) + Duration::minutes(5)), w.station),
                pre_check(code, &srv_ago(&app, 30), w.station),
            ],
        )
        .await;
        assert_refused(&decide(&app, &w, code).await, &["B1.9"]);
        // Out but not back.
        record(&app, &w.admin, vec![out]).await;
        assert_refused(&decide(&app, &w, code).await, &["B1.9"]);
        // Back empty.
        record(&app, &w.admin, vec![back]).await;
        assert_allowed(&decide(&app, &w, code).await);
    }
}

// B1.10: a passed pre-fill check within 16 h.
#[tokio::test]
async fn b1_10_no_passed_pre_fill_check_within_16_hours() {
    let app = spawn().await;
    let w = app.enterprise("b110").await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;
    assert_refused(&decide(&app, &w, CODE).await, &["B1.10"]);

    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 16 * 60 + 1), w.station)],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE).await, &["B1.10"]);

    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 15 * 60 + 59), w.station)],
    )
    .await;
    assert_allowed(&decide(&app, &w, CODE).await);
}

// B1.11
#[tokio::test]
async fn b1_11_medium_differs() {
    let app = spawn().await;
    let w = app.enterprise("b111").await;
    ready(&app, &w, CODE).await;
    let d = ask(&app, &w.filler, CODE, w.station, "二甲醚")
        .await
        .expect(200)
        .body;
    assert_refused(&d, &["B1.11"]);
    // The medium of the cylinder.
    let d = ask(&app, &w.filler, CODE, w.station, LPG)
        .await
        .expect(200)
        .body;
    assert_allowed(&d);
}

// B1.12: the previous fill needs a post-fill re-check.
#[tokio::test]
async fn b1_12_no_post_fill_recheck() {
    let app = spawn().await;
    let w = app.enterprise("b112").await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;
    let fill_end = secs(now(&app) - Duration::hours(26));
    record(
        &app,
        &w.filler,
        vec![fill_at(CODE, w.station, fill_end, 16.5, 30.8, None)],
    )
    .await;
    record(
        &app,
        &w.admin,
        vec![
            deliver(CODE, fill_end + Duration::hours(6)),
            recycle(CODE, fill_end + Duration::hours(16), w.station),
        ],
    )
    .await;
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    assert_refused(&decide(&app, &w, CODE).await, &["B1.12"]);

    // Fixed through the API: the post-fill check of that fill is recorded.
    record(
        &app,
        &w.filler,
        vec![post_check(
            CODE,
            &rfc3339(fill_end + Duration::minutes(5)),
            w.station,
        )],
    )
    .await;
    assert_allowed(&decide(&app, &w, CODE).await);
}

// ---------------------------------------------------------------------------------------------
// Several rules, illegal labels, records, bad input

// B1: every failing rule is listed, in rule order.
#[tokio::test]
async fn several_rules_are_listed_in_rule_order() {
    let app = spawn().await;
    let w = app.enterprise("many").await;
    // Unregistered and overdue (next check 2026-09-01), asked for the wrong medium.
    let mut a = archive(CODE, w.org);
    a.as_object_mut().expect("archive").remove("registration");
    add_cylinder(&app, &w, a).await;
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    let d = ask(&app, &w.filler, CODE, w.station, "二甲醚")
        .await
        .expect(200)
        .body;
    assert_refused(&d, &["B1.3", "B1.4", "B1.11"]);

    // Filled an hour ago, nothing since, no pre-fill check: B1.8, B1.9, B1.10, B1.12 with B1.11.
    add_cylinder(&app, &w, ok_archive(CODE2, w.org)).await;
    record(
        &app,
        &w.filler,
        vec![fill_at(
            CODE2,
            w.station,
            secs(now(&app) - Duration::hours(1)),
            16.5,
            30.8,
            None,
        )],
    )
    .await;
    let d = ask(&app, &w.filler, CODE2, w.station, "DME")
        .await
        .expect(200)
        .body;
    assert_refused(&d, &["B1.8", "B1.9", "B1.10", "B1.11", "B1.12"]);
}

// A8: unknown codes and void labels are refused and recorded as illegal-label attempts.
#[tokio::test]
async fn a8_unknown_code_and_void_label_are_recorded_as_illegal_label_attempts() {
    let app = spawn().await;
    let w = app.enterprise("a8").await;

    let d = decide(&app, &w, "9999999999").await;
    assert_eq!(d["allow"], false, "{d}");
    assert_eq!(rules(&d), ["A8"], "{d}");
    assert!(!reason(&d, "A8").is_empty());

    ready(&app, &w, CODE).await;
    record(
        &app,
        &w.admin,
        vec![event(
            "scrap",
            &[CODE],
            &srv_ago(&app, 10),
            None,
            sample_data("scrap"),
        )],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    assert_eq!(d["allow"], false, "{d}");
    assert_eq!(d["refusals"][0]["rule"], "A8", "{d}");
    assert!(rules(&d).contains(&"B1.6".to_owned()), "{d}");

    // An ordinary refusal is no illegal-label attempt.
    add_cylinder(&app, &w, ok_archive(CODE2, w.org)).await;
    assert_refused(&decide(&app, &w, CODE2).await, &["B1.10"]);

    let r = app
        .get(&w.admin, "/api/v1/fill-control/illegal-labels")
        .await
        .expect(200);
    let per_station = r.body["per_station"]
        .as_array()
        .unwrap_or_else(|| panic!("no per_station: {}", r.text));
    assert_eq!(per_station.len(), 1, "{}", r.text);
    assert_eq!(per_station[0]["site_id"], json!(w.station));
    assert_eq!(per_station[0]["count"], 2);
    assert_eq!(per_station[0]["org_id"], json!(w.org));
    assert_eq!(r.body["attempts"]["total"], 2, "{}", r.text);
    let mut codes: Vec<&str> = r.body["attempts"]["items"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| {
            assert_eq!(a["illegal_label"], true, "{a}");
            assert_eq!(a["allow"], false, "{a}");
            assert_eq!(a["site_id"], json!(w.station));
            a["code"].as_str().expect("code")
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [CODE, "9999999999"]);

    let r = app
        .get(&w.admin, "/api/v1/fill-control/refusal-counts")
        .await
        .expect(200);
    let counts = r.body["counts"]
        .as_array()
        .unwrap_or_else(|| panic!("no counts: {}", r.text));
    let count = |rule: &str| {
        counts
            .iter()
            .find(|c| c["rule"] == rule)
            .unwrap_or_else(|| panic!("{rule} not listed: {}", r.text))["count"]
            .clone()
    };
    assert_eq!(count("A8"), 2, "{}", r.text);
    assert_eq!(count("B1.6"), 1);
    assert_eq!(count("B1.10"), 1);
    assert_eq!(
        count("B1.1"),
        0,
        "rules that never refused are listed with 0"
    );
    assert_eq!(counts.len(), 14, "A8, A10 and B1.1–B1.12: {}", r.text);
}

// B1: every decision is recorded, with who, where, what and the answer, and is queryable.
#[tokio::test]
async fn every_decision_is_recorded_and_queryable() {
    let app = spawn().await;
    let w = app.enterprise("rec").await;
    let filler_id = me(&app, &w.filler).await;
    ready(&app, &w, CODE).await;
    add_cylinder(&app, &w, ok_archive(CODE2, w.org)).await;

    let d1 = decide(&app, &w, CODE).await;
    assert_allowed(&d1);
    let d2 = ask(&app, &w.filler, CODE, w.station, "二甲醚")
        .await
        .expect(200)
        .body;
    assert_refused(&d2, &["B1.11"]);
    let d3 = decide(&app, &w, CODE2).await;
    assert_refused(&d3, &["B1.10"]);

    let q = |extra: &str| {
        format!(
            "/api/v1/fill-control/decisions?site_id={}{extra}",
            w.station
        )
    };
    let r = app
        .get(&w.admin, &q(&format!("&code={CODE}")))
        .await
        .expect(200);
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let got = items(&r);
    // Newest first.
    assert_eq!(got[0]["decision_id"], d2["decision_id"]);
    assert_eq!(got[1]["decision_id"], d1["decision_id"]);
    for (rec, answered) in got.iter().zip([&d2, &d1]) {
        assert_eq!(rec["user_id"], json!(filler_id), "{rec}");
        assert_eq!(rec["site_id"], json!(w.station));
        assert_eq!(rec["code"], CODE);
        assert_eq!(rec["allow"], answered["allow"]);
        assert_eq!(rec["refusals"], answered["refusals"]);
        assert_eq!(rec["target_gross_kg"], json!(31.0));
        instant(&rec["at"]);
    }
    assert_eq!(got[0]["medium"], "二甲醚");
    assert_eq!(got[1]["medium"], LPG);

    let r = app.get(&w.admin, &q("")).await.expect(200);
    assert_eq!(r.body["total"], 3, "{}", r.text);

    let r = app.get(&w.admin, &q("&allow=false")).await.expect(200);
    assert_eq!(r.body["total"], 2, "{}", r.text);
    let mut ids: Vec<Value> = items(&r).iter().map(|i| i["decision_id"].clone()).collect();
    ids.sort_by_key(|v| v.to_string());
    let mut want = vec![d2["decision_id"].clone(), d3["decision_id"].clone()];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(ids, want);

    let r = app.get(&w.admin, &q("&rule=B1.10")).await.expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(items(&r)[0]["decision_id"], d3["decision_id"]);
    assert_eq!(items(&r)[0]["code"], CODE2);

    let r = app.get(&w.admin, &q("&allow=true")).await.expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(items(&r)[0]["decision_id"], d1["decision_id"]);
}

// B1: bad requests are refused before any decision, and none is recorded.
#[tokio::test]
async fn bad_fill_control_requests_record_no_decision() {
    let app = spawn().await;
    let w = app.enterprise("bad").await;
    let other = app.enterprise_under("bad2", w.province, w.prefecture).await;
    let checker = app
        .user_token(&app.admin, w.org, "bad_checker", &["checker"])
        .await;
    ready(&app, &w, CODE).await;
    let body = |code: Value, site: Value, medium: Value| json!({"code": code, "site_id": site, "medium": medium});
    let fc = "/api/v1/fill-control";

    // Unknown site; a warehouse; an unknown medium; a code that is not 10 digits.
    let r = app
        .post(
            &w.filler,
            fc,
            &body(json!(CODE), json!(Uuid::new_v4()), json!(LPG)),
        )
        .await;
    problem(r, 422, Some("site_id"));
    let r = app
        .post(
            &w.filler,
            fc,
            &body(json!(CODE), json!(w.warehouse), json!(LPG)),
        )
        .await;
    problem(r, 422, Some("site_id"));
    let r = app
        .post(
            &w.filler,
            fc,
            &body(json!(CODE), json!(w.station), json!("氧气")),
        )
        .await;
    problem(r, 422, Some("medium"));
    let r = app
        .post(
            &w.filler,
            fc,
            &body(json!("123"), json!(w.station), json!(LPG)),
        )
        .await;
    problem(r, 422, Some("code"));

    // Callers without the filler role, and a filler of another enterprise.
    let valid = body(json!(CODE), json!(w.station), json!(LPG));
    problem(app.post(&w.admin, fc, &valid).await, 403, None);
    problem(app.post(&checker, fc, &valid).await, 403, None);
    problem(app.post(&other.filler, fc, &valid).await, 403, None);

    // A missing field; an unknown field.
    let r = app
        .post(&w.filler, fc, &json!({"code": CODE, "site_id": w.station}))
        .await;
    problem(r, 422, Some("medium"));
    let mut extra = valid.clone();
    extra["gun"] = json!(3);
    problem(app.post(&w.filler, fc, &extra).await, 422, Some("gun"));

    // No token.
    let r = app
        .client
        .post(app.url(fc))
        .json(&valid)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);

    // Nothing was decided, and certainly nothing allowed.
    let r = all_decisions(&app, "").await;
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = all_decisions(&app, "?allow=true").await;
    assert_eq!(r.body["total"], 0, "{}", r.text);

    // The same request from the filler is decided (and recorded).
    assert_allowed(&decide(&app, &w, CODE).await);
    let r = all_decisions(&app, "").await;
    assert_eq!(r.body["total"], 1, "{}", r.text);
}

// B4: a fill over the allowed amount is stored and raises an alarm; one at the limit does not.
#[tokio::test]
async fn b4_overfill_raises_an_alarm() {
    let app = spawn().await;
    let w = app.enterprise("b4").await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;
    add_cylinder(&app, &w, ok_archive(CODE2, w.org)).await;

    let over = fill_at(
        CODE,
        w.station,
        secs(now(&app) - Duration::minutes(5)),
        16.5,
        31.2,
        None,
    );
    let over_id = over["id"].clone();
    app.post_events(&w.filler, vec![over]).await.expect(201);
    let r = app
        .get(&w.admin, &format!("/api/v1/alarms?code={CODE}"))
        .await
        .expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    let a = &items(&r)[0];
    assert_eq!(a["kind"], "overfill");
    assert_eq!(a["code"], CODE);
    assert_eq!(a["event_id"], over_id);
    assert_eq!(a["org_id"], json!(w.org));
    assert_eq!(a["site_id"], json!(w.station));
    let message = a["message"].as_str().expect("message");
    assert!(
        message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "not a Chinese message: {message}"
    );
    assert!(message.contains("超装"), "{message}");

    // Exactly at the limit (tare 16.5 + 14.5): no alarm.
    let at_limit = fill_at(
        CODE2,
        w.station,
        secs(now(&app) - Duration::minutes(4)),
        16.5,
        31.0,
        None,
    );
    app.post_events(&w.filler, vec![at_limit]).await.expect(201);
    let r = app
        .get(&w.admin, &format!("/api/v1/alarms?code={CODE2}"))
        .await
        .expect(200);
    assert_eq!(r.body["total"], 0, "{}", r.text);
    let r = app
        .get(&w.admin, "/api/v1/alarms?kind=overfill")
        .await
        .expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
}

// B2: a failed check takes the cylinder out of filling until a passing re-check.
#[tokio::test]
async fn a_failed_check_takes_the_cylinder_out_until_a_passing_recheck() {
    let app = spawn().await;
    let w = app.enterprise("b2").await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;

    // A failed pre-fill check after a passing one.
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    record(
        &app,
        &w.filler,
        vec![failed_pre_check(CODE, &srv_ago(&app, 20), w.station)],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    assert_refused(&d, &["B1.10"]);
    assert!(reason(&d, "B1.10").contains("不合格"), "{d}");
    let r = app
        .get(
            &w.filler,
            &format!("/api/v1/checks?code={CODE}&kind=pre_fill_check"),
        )
        .await
        .expect(200);
    let latest = &items(&r)[0];
    assert_eq!(latest["passed"], false, "{latest}");
    assert_eq!(latest["failed_items"], json!(["no_cracks"]));

    // A new passing pre-fill check.
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 10), w.station)],
    )
    .await;
    assert_allowed(&decide(&app, &w, CODE).await);

    // Filled; the post-fill check fails.
    let end = secs(now(&app) - Duration::minutes(5));
    record(
        &app,
        &w.filler,
        vec![fill_at(CODE, w.station, end, 16.5, 30.8, None)],
    )
    .await;
    record(
        &app,
        &w.filler,
        vec![failed_post_check(
            CODE,
            &rfc3339(end + Duration::minutes(1)),
            w.station,
        )],
    )
    .await;

    // 25 h later: the cylinder that failed its re-check may not go out (C3 guard) …
    app.set_now(end + Duration::hours(25));
    let r = app
        .post_events(&w.admin, vec![deliver(CODE, end + Duration::hours(1))])
        .await;
    let body = problem(r, 422, Some("events[0].codes[0]"));
    assert!(body.text.contains("复检合格前不能"), "{}", body.text);
    // … and a fresh pre-fill check does not make it fillable: refused for the failed re-check.
    record(
        &app,
        &w.filler,
        vec![pre_check(CODE, &srv_ago(&app, 30), w.station)],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    assert_refused(&d, &["B1.9", "B1.12"]);
    assert!(reason(&d, "B1.12").contains("不合格"), "{d}");

    // A passing post-fill re-check; then out and back.
    record(
        &app,
        &w.filler,
        vec![post_check(CODE, &srv_ago(&app, 20), w.station)],
    )
    .await;
    record(
        &app,
        &w.admin,
        vec![
            deliver(CODE, now(&app) - Duration::minutes(15)),
            recycle(CODE, now(&app) - Duration::minutes(10), w.station),
        ],
    )
    .await;
    let d = decide(&app, &w, CODE).await;
    assert!(!rules(&d).contains(&"B1.12".to_owned()), "{d}");
    assert_allowed(&d);
}

// B5: a fill names a batch its enterprise defined; batch numbers are unique.
#[tokio::test]
async fn b5_a_fill_must_name_a_defined_batch() {
    let app = spawn().await;
    let w = app.enterprise("b5").await;
    let other = app.enterprise_under("b5x", w.province, w.prefecture).await;
    add_cylinder(&app, &w, ok_archive(CODE, w.org)).await;
    let end = secs(now(&app) - Duration::minutes(5));

    let r = app
        .post_events(
            &w.filler,
            vec![fill_at(CODE, w.station, end, 16.5, 30.8, Some("NOPE"))],
        )
        .await;
    problem(r, 422, Some("events[0].data.batch"));
    assert!(events_of(&app, &w.admin, CODE).await.is_empty());

    app.post(&w.admin, "/api/v1/batches", &json!({"number": "B20261121"}))
        .await
        .expect(201);
    let r = app
        .post(&w.admin, "/api/v1/batches", &json!({"number": "B20261121"}))
        .await;
    problem(r, 409, None);

    // Another enterprise's batch is not this enterprise's.
    app.post(
        &other.admin,
        "/api/v1/batches",
        &json!({"number": "B-OTHER"}),
    )
    .await
    .expect(201);
    let r = app
        .post_events(
            &w.filler,
            vec![fill_at(CODE, w.station, end, 16.5, 30.8, Some("B-OTHER"))],
        )
        .await;
    problem(r, 422, Some("events[0].data.batch"));

    // The defined batch.
    app.post_events(
        &w.filler,
        vec![fill_at(CODE, w.station, end, 16.5, 30.8, Some("B20261121"))],
    )
    .await
    .expect(201);
    let r = app
        .get(&w.admin, &format!("/api/v1/fills?code={CODE}"))
        .await
        .expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(items(&r)[0]["batch"], "B20261121");
    let r = app.get(&w.admin, "/api/v1/batches").await.expect(200);
    let numbers: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["number"].as_str().expect("number"))
        .collect();
    assert_eq!(numbers, ["B20261121"], "only the enterprise's own batches");
}

// B1.11: the medium's aliases name the same medium.
#[tokio::test]
async fn mediums_aliases() {
    let app = spawn().await;
    let w = app.enterprise("alias").await;
    ready(&app, &w, CODE).await;
    for alias in ["LPG", "lpg", "液化气", LPG] {
        let d = ask(&app, &w.filler, CODE, w.station, alias)
            .await
            .expect(200)
            .body;
        assert_allowed(&d);
        assert_eq!(d["medium"], LPG, "{alias} is recorded as {LPG}");
    }
    // DME is another medium.
    let d = ask(&app, &w.filler, CODE, w.station, "DME")
        .await
        .expect(200)
        .body;
    assert_refused(&d, &["B1.11"]);
}
