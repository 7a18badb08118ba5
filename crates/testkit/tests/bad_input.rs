//! Bad input over HTTP: every refusal is `application/problem+json` with `type`, `title`, `status`,
//! `detail`, and `errors[].field` naming the path of the offending value.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};

const CODE: &str = "1103007831";

/// A server with one enterprise and one cylinder.
async fn setup() -> (TestApp, World) {
    let app = TestApp::spawn().await;
    let w = app.enterprise("bad").await;
    app.post_cylinders(&w.admin, vec![archive(CODE, w.org)])
        .await
        .expect(201);
    (app, w)
}

fn fill(w: &World) -> Value {
    event(
        "fill",
        &[CODE],
        &ago(10),
        Some(w.station),
        sample_data("fill"),
    )
}

/// Posts one event and asserts a 422 naming `field`; then checks that nothing was stored.
async fn refused(app: &TestApp, w: &World, e: Value, field: &str) {
    problem(app.post_events(&w.admin, vec![e]).await, 422, Some(field));
    assert!(
        events_of(app, &w.admin, CODE).await.is_empty(),
        "a refused event was stored"
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, w) = setup().await;
    let r = app
        .post_raw(&w.admin, "/api/v1/events", "{\"events\": [{\"id\": ")
        .await;
    problem(r, 400, None);
    let r = app
        .post_raw(&w.admin, "/api/v1/cylinders", "not json at all")
        .await;
    problem(r, 400, None);
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_named() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["data"].as_object_mut().expect("data").remove("gross_kg");
    refused(&app, &w, e, "events[0].data.gross_kg").await;

    let mut e = fill(&w);
    e["data"]["gross_kg"] = json!("heavy");
    refused(&app, &w, e, "events[0].data.gross_kg").await;

    // A missing top-level field of an event.
    let mut e = fill(&w);
    e.as_object_mut().expect("event").remove("time");
    refused(&app, &w, e, "events[0].time").await;
}

#[tokio::test]
async fn invalid_codes() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["codes"] = json!(["12345"]);
    refused(&app, &w, e, "events[0].codes[0]").await;
    problem(
        app.get(&w.admin, "/api/v1/cylinders/12345").await,
        422,
        None,
    );
    problem(
        app.get(&w.admin, "/api/v1/cylinders/12345/events").await,
        422,
        None,
    );
}

#[tokio::test]
async fn unknown_kind() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["kind"] = json!("teleport");
    refused(&app, &w, e, "events[0].kind").await;
}

#[tokio::test]
async fn impossible_weights() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["data"]["tare_kg"] = json!(-1);
    refused(&app, &w, e, "events[0].data.tare_kg").await;

    let mut e = fill(&w);
    e["data"]["tare_kg"] = json!(16.5);
    e["data"]["gross_kg"] = json!(10.0);
    refused(&app, &w, e, "events[0].data.gross_kg").await;
}

#[tokio::test]
async fn unknown_site() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["site_id"] = json!(uuid::Uuid::new_v4());
    refused(&app, &w, e, "events[0].site_id").await;
}

#[tokio::test]
async fn a_date_that_does_not_exist() {
    let (app, w) = setup().await;
    let mut data = sample_data("register");
    data["date"] = json!("2023-02-29");
    refused(
        &app,
        &w,
        event("register", &[CODE], &ago(10), None, data),
        "events[0].data.date",
    )
    .await;
}

#[tokio::test]
async fn the_error_of_the_third_event_is_reported_under_events_2() {
    let (app, w) = setup().await;
    let mut third = event(
        "post_fill_check",
        &[CODE],
        &ago(5),
        Some(w.station),
        sample_data("post_fill_check"),
    );
    third["data"]["no_temperature_rise"] = json!("yes");
    let batch = vec![
        event(
            "pre_fill_check",
            &[CODE],
            &ago(20),
            Some(w.station),
            sample_data("pre_fill_check"),
        ),
        fill(&w),
        third,
    ];
    let r = problem(
        app.post_events(&w.admin, batch).await,
        422,
        Some("events[2].data.no_temperature_rise"),
    );
    assert!(
        r.fields().iter().all(|f| f.starts_with("events[2].")),
        "{:?}",
        r.fields()
    );
    assert!(events_of(&app, &w.admin, CODE).await.is_empty());

    let mut third = fill(&w);
    third["data"]["gross_kg"] = json!(1.0);
    let batch = vec![fill(&w), fill(&w), third];
    problem(
        app.post_events(&w.admin, batch).await,
        422,
        Some("events[2].data.gross_kg"),
    );
    assert!(events_of(&app, &w.admin, CODE).await.is_empty());
}

#[tokio::test]
async fn unknown_fields_are_refused_where_they_are() {
    let (app, w) = setup().await;
    let mut e = fill(&w);
    e["colour"] = json!("red");
    refused(&app, &w, e, "events[0].colour").await;

    let mut e = fill(&w);
    e["data"]["colour"] = json!("red");
    refused(&app, &w, e, "events[0].data.colour").await;

    let mut a = archive("1103007899", w.org);
    a["colour"] = json!("red");
    problem(
        app.post_cylinders(&w.admin, vec![a]).await,
        422,
        Some("cylinders[0].colour"),
    );
    problem(
        app.get(&w.admin, "/api/v1/cylinders/1103007899").await,
        404,
        None,
    );

    // Beside the list of a batch.
    let r = app
        .post(
            &w.admin,
            "/api/v1/events",
            &json!({"events": [fill(&w)], "colour": "red"}),
        )
        .await;
    problem(r, 422, Some("colour"));
    assert!(events_of(&app, &w.admin, CODE).await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    let w = app.enterprise("big").await;
    let events: Vec<Value> = (0..40)
        .map(|i| {
            event(
                "pre_fill_check",
                &[CODE],
                &ago(100 - i),
                Some(w.station),
                sample_data("pre_fill_check"),
            )
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events })).expect("json");
    assert!(body.len() > 4096);
    problem(
        app.post_raw(&w.admin, "/api/v1/events", body).await,
        413,
        None,
    );
    // A small request still passes.
    app.get(&w.admin, "/api/v1/me").await.expect(200);
}

#[tokio::test]
async fn unknown_cylinder_is_404() {
    let (app, w) = setup().await;
    problem(
        app.get(&w.admin, "/api/v1/cylinders/9999999999").await,
        404,
        None,
    );
    problem(
        app.get(&w.admin, "/api/v1/cylinders/9999999999/events")
            .await,
        404,
        None,
    );
    problem(
        app.get(
            &w.admin,
            &format!("/api/v1/events/{}", uuid::Uuid::new_v4()),
        )
        .await,
        404,
        None,
    );
}

#[tokio::test]
async fn missing_or_bad_token_is_401() {
    let (app, w) = setup().await;
    problem(
        app.get_anon(&format!("/api/v1/cylinders/{CODE}")).await,
        401,
        None,
    );
    problem(app.get_anon("/api/v1/me").await, 401, None);
    problem(
        app.get("not-a-token", &format!("/api/v1/cylinders/{CODE}"))
            .await,
        401,
        None,
    );
    problem(app.get(&"0".repeat(64), "/api/v1/me").await, 401, None);
    // A write without a token stores nothing.
    let r = app
        .client
        .post(app.url("/api/v1/events"))
        .json(&json!({"events": [fill(&w)]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/problem+json"))
    );
    assert!(events_of(&app, &w.admin, CODE).await.is_empty());
    // Wrong password at login: 401 problem.
    problem(app.try_login("bad_admin", "WrongPass123").await, 401, None);
}

#[tokio::test]
async fn a_wrong_method_is_a_problem_too() {
    // Non-2xx answers of /api/v1 are application/problem+json (contract, Errors).
    let (app, w) = setup().await;
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/cylinders/{CODE}")))
        .bearer_auth(&w.admin)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 405);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "405 answered with content type {ct:?}"
    );
    // The cylinder is still there.
    app.get(&w.admin, &format!("/api/v1/cylinders/{CODE}"))
        .await
        .expect(200);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let (app, w) = setup().await;
    problem(app.get(&w.admin, "/api/v1/no-such-thing").await, 404, None);
}
