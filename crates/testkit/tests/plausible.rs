//! The plausible-value policy over HTTP (issue 22, defects 4 and 6; REQUIREMENTS A1, A6, C4, G9):
//! a backdated event cannot pass the guards (`max_event_age`, times before 2000 refused), and an
//! archive whose values cannot mean what their field means is refused by field, through the API
//! and the import alike.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use cyltrace_testkit::{TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};

const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";

/// The node's clock for these tests: after the overdue archive's next check date (2026-09-01).
fn today() -> DateTime<Utc> {
    "2026-10-01T04:00:00Z".parse().expect("time")
}

async fn setup(tune: impl FnOnce(&mut cyltrace_server::Config)) -> (TestApp, World) {
    let app = TestApp::spawn_with(|c| {
        // The production default (the test kit lifts the limit for older suites).
        c.max_event_age_days = cyltrace_server::Config::default().max_event_age_days;
        tune(c)
    })
    .await;
    app.set_now(today());
    let w = app.enterprise("pl").await;
    // Overdue for periodic inspection since 2026-09-01: never delivered (C4).
    let mut overdue = archive(CODE, w.org);
    overdue["next_check_date"] = json!("2026-09-01");
    let mut fine = archive(CODE2, w.org);
    fine["last_check_date"] = json!("2026-06-01");
    fine["next_check_date"] = json!("2030-06-01");
    app.post_cylinders(&w.admin, vec![overdue, fine])
        .await
        .expect(201);
    (app, w)
}

/// Puts the cylinder full into the enterprise's warehouse at `time` (deliveries take full ones).
async fn store_full(app: &TestApp, w: &World, code: &str, time: DateTime<Utc>) {
    let e = event(
        "store_in",
        &[code],
        &rfc3339(time),
        Some(w.warehouse),
        json!({"full": true}),
    );
    app.post_events(&w.admin, vec![e]).await.expect(201);
}

fn deliver(code: &str, time: DateTime<Utc>) -> Value {
    event(
        "deliver",
        &[code],
        &rfc3339(time),
        None,
        sample_data("deliver"),
    )
}

fn message(r: &cyltrace_testkit::Resp, field: &str) -> String {
    r.body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["field"] == field)
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no error on {field}: {}", r.text))
        .to_owned()
}

// C4 (issue 22, defect 4): delivering an overdue cylinder is refused now, and a month ago too —
// there on `time`, naming the limit; times before 2000 are refused whatever the limit.
#[tokio::test]
async fn backdating_does_not_pass_the_guards() {
    let (app, w) = setup(|_| {}).await;
    let now = today();
    store_full(&app, &w, CODE, now - Duration::days(1)).await;
    store_full(
        &app,
        &w,
        CODE2,
        now - Duration::days(7) + Duration::hours(1),
    )
    .await;
    problem(
        app.post_events(&w.admin, vec![deliver(CODE, now - Duration::minutes(5))])
            .await,
        422,
        Some("events[0].codes[0]"),
    );
    let r = problem(
        app.post_events(&w.admin, vec![deliver(CODE, now - Duration::days(30))])
            .await,
        422,
        Some("events[0].time"),
    );
    let m = message(&r, "events[0].time");
    assert!(m.contains("7 天") && m.contains("max_event_age"), "{m}");
    let ancient = event(
        "deliver",
        &[CODE2],
        "0001-01-01T00:00:00+08:00",
        None,
        sample_data("deliver"),
    );
    let r = problem(
        app.post_events(&w.admin, vec![ancient]).await,
        422,
        Some("events[0].time"),
    );
    assert!(
        message(&r, "events[0].time").contains("2000-01-01"),
        "{}",
        r.text
    );
    // Within the limit, an offline handheld's past is accepted.
    app.post_events(&w.admin, vec![deliver(CODE2, now - Duration::days(6))])
        .await
        .expect(201);
    // Nothing of the refused was stored.
    let r = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}/events"))
        .await
        .expect(200);
    assert!(!r.text.contains("\"deliver\""), "{}", r.text);
}

// G9 (issue 22, defect 4): the handheld's scans are held to the same limit, named on the scan.
#[tokio::test]
async fn a_backdated_scan_is_refused_on_its_time() {
    let (app, w) = setup(|_| {}).await;
    let warehouse = app
        .user_token(&app.admin, w.org, "pl_wh", &["warehouse"])
        .await;
    let scan = |t: &str| {
        json!({"site_id": w.warehouse,
               "scans": [{"id": uuid::Uuid::new_v4(), "code": CODE2, "time": t}]})
    };
    let old = rfc3339(today() - Duration::days(8));
    let r = problem(
        app.post(&warehouse, "/api/v1/scan/receive_empty", &scan(&old))
            .await,
        422,
        Some("scans[0].time"),
    );
    assert!(message(&r, "scans[0].time").contains("7 天"), "{}", r.text);
    let recent = rfc3339(today() - Duration::days(2));
    app.post(&warehouse, "/api/v1/scan/receive_empty", &scan(&recent))
        .await
        .expect(200);
}

// C4 (issue 22, defect 4): `max_event_age_days` is the node's setting; 0 lifts the age limit (the
// year-2000 floor stays).
#[tokio::test]
async fn the_age_limit_is_configurable() {
    let (app, w) = setup(|c| c.max_event_age_days = 60).await;
    store_full(&app, &w, CODE2, today() - Duration::days(31)).await;
    app.post_events(&w.admin, vec![deliver(CODE2, today() - Duration::days(30))])
        .await
        .expect(201);
    let r = problem(
        app.post_events(&w.admin, vec![deliver(CODE2, today() - Duration::days(61))])
            .await,
        422,
        Some("events[0].time"),
    );
    assert!(
        message(&r, "events[0].time").contains("60 天"),
        "{}",
        r.text
    );
    let (app, w) = setup(|c| c.max_event_age_days = 0).await;
    store_full(&app, &w, CODE2, today() - Duration::days(401)).await;
    app.post_events(
        &w.admin,
        vec![deliver(CODE2, today() - Duration::days(400))],
    )
    .await
    .expect(201);
    let ancient = deliver(CODE2, "1999-06-01T00:00:00Z".parse().expect("time"));
    problem(
        app.post_events(&w.admin, vec![ancient]).await,
        422,
        Some("events[0].time"),
    );
}

// A1 (issue 22, defect 6): `POST /cylinders` refuses what the import refuses — an unknown medium —
// and values that cannot be: zero or denormal weights, zero volume, pressure and wall thickness,
// dates of year 0 or 9999, made in the future.
#[tokio::test]
async fn archives_refuse_nonsense_by_field() {
    let (app, w) = setup(|_| {}).await;
    let cases: &[(&str, Value)] = &[
        ("medium", json!("<script>alert(1)</script>")),
        ("medium", json!("🔥🔥")),
        ("tare_kg", json!(0)),
        ("tare_kg", json!(5e-324)),
        ("fill_limit_kg", json!(0)),
        ("volume_l", json!(0)),
        ("working_pressure_mpa", json!(0)),
        ("test_pressure_mpa", json!(0)),
        ("wall_thickness_mm", json!(0)),
        ("last_check_date", json!("0000-01-01")),
        ("next_check_date", json!("9999-12-31")),
        ("discard_date", json!("9999-12-31")),
        ("manufacture_date", json!("2027-01")),
    ];
    for (i, (field, value)) in cases.iter().enumerate() {
        let mut a = archive(&format!("12000000{i:02}"), w.org);
        a[*field] = value.clone();
        let r = app.post_cylinders(&w.admin, vec![a]).await;
        let r = problem(r, 422, None);
        let named = format!("cylinders[0].{field}");
        assert!(r.fields().contains(&named), "{field}={value}: {}", r.text);
    }
    // The template's own values pass (YSP35.5), and so do a YSP12 and a YSP118.
    let mut small = archive("1200000100", w.org);
    for (k, v) in [
        ("style", json!("YSP12")),
        ("tare_kg", json!(5.5)),
        ("fill_limit_kg", json!(5.0)),
        ("volume_l", json!(12.0)),
    ] {
        small[k] = v;
    }
    let mut big = archive("1200000101", w.org);
    for (k, v) in [
        ("style", json!("YSP118")),
        ("tare_kg", json!(47.5)),
        ("fill_limit_kg", json!(49.5)),
        ("volume_l", json!(118.0)),
        ("wall_thickness_mm", json!(3.0)),
    ] {
        big[k] = v;
    }
    app.post_cylinders(&w.admin, vec![archive("1200000102", w.org), small, big])
        .await
        .expect(201);
}

/// Imports `csv` for the caller's enterprise and waits for the job's end; answers the finished job.
async fn import_csv(app: &TestApp, w: &World, csv: &str) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/cylinders/import?format=csv"))
        .bearer_auth(&w.admin)
        .header("content-type", "application/octet-stream")
        .body(csv.as_bytes().to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.expect("json");
    let id = body["job_id"].as_str().expect("job id").to_owned();
    for _ in 0..600 {
        let job = app
            .get(&w.admin, &format!("/api/v1/imports/{id}"))
            .await
            .expect(200);
        if job.body["state"] == "done" || job.body["state"] == "failed" {
            return job.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import job {id} did not finish");
}

// A6 (issue 22, defect 6): a CSV row with 7 of its 30 cells is refused, naming the row and the first
// missing column, and so is a row with a zero tare; nothing of the file is stored.
#[tokio::test]
async fn the_import_refuses_short_rows_and_nonsense() {
    let (app, w) = setup(|_| {}).await;
    let headers = cyltrace_domain::import::template_headers().join(",");
    let example = cyltrace_domain::import::template_example();
    let full = |code: &str| {
        let mut cells: Vec<String> = example.iter().map(|c| (*c).to_owned()).collect();
        cells[0] = code.to_owned();
        cells.join(",")
    };
    let short = full("1300000002")
        .split(',')
        .take(7)
        .collect::<Vec<_>>()
        .join(",");
    let zero_tare = full("1300000003").replacen(",16.5,", ",0,", 1);
    let csv = format!("{headers}\n{}\n{short}\n{zero_tare}\n", full("1300000001"));
    let job = import_csv(&app, &w, &csv).await;
    assert_eq!(job["state"], "failed", "{job}");
    let errors = job["errors"].as_array().expect("errors");
    let at = |row: u64, column: &str| {
        errors
            .iter()
            .any(|e| e["row"] == row && e["column"] == column)
    };
    assert!(at(3, "皮重(kg)"), "{job}");
    assert!(at(4, "皮重(kg)"), "{job}");
    app.get(&w.admin, "/api/v1/cylinders/1300000001")
        .await
        .expect(404);
}
