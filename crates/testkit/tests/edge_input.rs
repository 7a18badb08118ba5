//! Text that no field can hold, refused at the edge the same way on SQLite and PostgreSQL (issue
//! 22, G4): NUL in a JSON body, a query string or a `/PS` call's `data`, and bytes that are not
//! UTF-8 once a query or form is decoded, are answered 422 (API, naming the field) or 400 with
//! `State` 1 (`/PS`), store nothing, and are audited like any other request (G2) — an audit row
//! that would hold a NUL is written with U+FFFD and never fails the rows committed with it. `/PS`
//! values of the wrong type are `State` 1 (YUNNAN-API), and an oversized `/PS` body is answered
//! with the envelope. Runs on SQLite, and on PostgreSQL when `CYLTRACE_TEST_DATABASE_URL` is set.
// Tests stand at real time.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use cyltrace_testkit::reqwest::RequestBuilder;
use cyltrace_testkit::{PASSWORD, Resp, TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};

const CODE: &str = "1103007831";

async fn setup(tag: &str) -> (TestApp, World) {
    let app = TestApp::spawn().await;
    let w = world(&app, tag).await;
    (app, w)
}

async fn world(app: &TestApp, tag: &str) -> World {
    let w = app.enterprise(tag).await;
    app.post_cylinders(&w.admin, vec![archive(CODE, w.org)])
        .await
        .expect(201);
    app.user_token(&app.admin, w.org, &format!("{tag}_platform"), &["platform"])
        .await;
    w
}

async fn send(req: RequestBuilder) -> Resp {
    let r = req.send().await.expect("request");
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        body,
        content_type,
        text,
    }
}

/// Every byte but letters and digits as `%XX` (so that a test can put any byte in a query).
fn pct(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn events_of_code(app: &TestApp, w: &World) -> usize {
    let r = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}/events"))
        .await
        .expect(200);
    r.body["events"].as_array().expect("events").len()
}

/// The audit rows whose path starts with `path`.
async fn audit_rows(app: &TestApp, path: &str) -> Vec<Value> {
    let r = app
        .get(
            &app.admin,
            &format!("/api/v1/audit?limit=500&path={}", pct(path.as_bytes())),
        )
        .await
        .expect(200);
    r.body["items"].as_array().expect("audit items").clone()
}

async fn ps_ticket(app: &TestApp, account: &str) -> String {
    let r = send(
        app.client
            .post(app.url("/PS/Auth/Login"))
            .json(&json!({"Account": account, "Password": PASSWORD})),
    )
    .await;
    assert_eq!(r.body["State"], 0, "{}", r.text);
    r.body["Value"].as_str().expect("ticket").to_owned()
}

/// Asserts the `/PS` envelope with `State` 1, HTTP `status`, and a reason naming `field`.
#[track_caller]
fn ps_refused(r: &Resp, status: u16, field: &str) {
    assert_eq!(r.status.as_u16(), status, "HTTP status; body {}", r.text);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}: {}",
        r.content_type,
        r.text
    );
    assert_eq!(r.body["State"], json!(1), "{}", r.text);
    let reason = r.body["Value"].as_str().unwrap_or_default();
    assert!(
        reason.contains(field),
        "the reason should name {field}: {reason}"
    );
}

fn before_fill(remark: &str) -> String {
    json!({"Items": [{"Barcode": CODE, "State": 1, "Remark": remark, "ThridId": 11}],
           "Man": {"Name": "王五"}})
    .to_string()
}

// G4: NUL in a JSON body or a query parameter is 422 naming the field, on both backends (it was a
// 500 on PostgreSQL).
#[tokio::test]
async fn nul_and_bytes_that_are_not_text_are_refused_naming_the_field() {
    let (app, w) = setup("edgenul").await;

    let r = app.try_login("a\u{0}b", "x").await;
    problem(r, 422, Some("username"));
    let mut e = event(
        "fill",
        &[CODE],
        &ago(10),
        Some(w.station),
        sample_data("fill"),
    );
    e["data"]["scale_no"] = json!("CZ\u{0}01");
    problem(
        app.post_events(&w.admin, vec![e]).await,
        422,
        Some("events[0].data.scale_no"),
    );
    assert_eq!(
        events_of_code(&app, &w).await,
        0,
        "a refused event was stored"
    );

    for (path, param) in [
        ("/api/v1/audit", "username"),
        ("/api/v1/audit", "path"),
        ("/api/v1/fills", "operator"),
        ("/api/v1/checks", "operator"),
        ("/api/v1/alarms", "kind"),
    ] {
        let r = app.get(&app.admin, &format!("{path}?{param}=a%00b")).await;
        problem(r, 422, Some(param));
        // A byte that is not UTF-8 is refused, not replaced with U+FFFD.
        let r = app.get(&app.admin, &format!("{path}?{param}=a%FFb")).await;
        problem(r, 422, Some(param));
    }
    // The same parameters with text are answered as before.
    app.get(&app.admin, "/api/v1/audit?username=%E5%BC%A0")
        .await
        .expect(200);
    app.get(&app.admin, "/api/v1/fills?operator=a+b")
        .await
        .expect(200);
    // A NUL in a path segment too.
    let r = app.get(&w.admin, "/api/v1/cylinders/110300%0007831").await;
    problem(r, 422, Some("path"));
}

// G2, G4: refused logins are audited one by one, however many arrive together, on both backends
// (on PostgreSQL every group commit holding such a row failed and none was written).
#[tokio::test]
async fn many_refused_logins_each_leave_an_audit_row() {
    let app = TestApp::spawn().await;
    const N: usize = 40;
    let mut calls = Vec::new();
    for i in 0..N {
        let client = app.client.clone();
        let api = app.url("/api/v1/auth/token");
        let ps = app.url("/PS/Auth/Login");
        calls.push(tokio::spawn(async move {
            let a = send(
                client
                    .post(api)
                    .json(&json!({"username": format!("u{i}\u{0}x"), "password": "p"})),
            )
            .await;
            let b = send(
                client
                    .post(ps)
                    .json(&json!({"Account": format!("u{i}\u{0}x"), "Password": "p"})),
            )
            .await;
            (a, b)
        }));
    }
    for c in calls {
        let (a, b) = c.await.expect("task");
        problem(a, 422, Some("username"));
        ps_refused(&b, 400, "Account");
    }
    let refused =
        |rows: Vec<Value>, status: u16| rows.iter().filter(|r| r["status"] == status).count();
    assert_eq!(
        refused(audit_rows(&app, "/api/v1/auth/token").await, 422),
        N
    );
    assert_eq!(refused(audit_rows(&app, "/PS/Auth/Login").await, 400), N);

    // Rows that hold a NUL themselves, written together with good ones: every one is stored, the
    // NUL as U+FFFD.
    let mut writes = Vec::new();
    for i in 0..N {
        let st = app.state.clone();
        writes.push(tokio::spawn(async move {
            let bad = i % 2 == 0;
            let row = cyltrace_store::AuditRecord {
                id: 0,
                at: chrono::Utc::now(),
                user_id: None,
                username: Some(if bad {
                    format!("n{i}\u{0}")
                } else {
                    format!("n{i}")
                }),
                org_id: None,
                org_path: None,
                method: "POST".to_owned(),
                path: format!("/edge/{i}{}", if bad { "\u{0}" } else { "" }),
                status: 400,
                ip: Some("local".to_owned()),
                detail: Some(format!("detail {i}{}", if bad { "\u{0}" } else { "" })),
            };
            cyltrace_server::services::audit::record(&st, &row).await;
        }));
    }
    for w in writes {
        w.await.expect("task");
    }
    let rows = audit_rows(&app, "/edge/").await;
    assert_eq!(rows.len(), N, "every audit row is written");
    let zero = rows
        .iter()
        .find(|r| r["path"] == "/edge/0\u{FFFD}")
        .expect("the row of /edge/0");
    assert_eq!(zero["username"], "n0\u{FFFD}");
}

// G4: `/PS` data that is not text is refused wherever it travels — query, form or body — not
// replaced with U+FFFD and stored.
#[tokio::test]
async fn ps_data_that_is_not_text_is_refused_wherever_it_travels() {
    let (app, w) = setup("edgeps").await;
    let ticket = ps_ticket(&app, "edgeps_platform").await;
    let url = app.url("/PS/GenericTrace/BeforeFill");

    // In the query: a byte that is not UTF-8, and a NUL.
    let good = before_fill("瓶体变形");
    let mut bad_utf8 = good.clone().into_bytes();
    let at = good.find("瓶体变形").expect("remark");
    bad_utf8.splice(at..at + 3, [0xFF]);
    let r = send(
        app.client
            .post(format!("{url}?ticket={ticket}&data={}", pct(&bad_utf8))),
    )
    .await;
    ps_refused(&r, 400, "data");
    let with_nul = good.replace("瓶体变形", "a\u{0}b");
    let r = send(app.client.post(format!(
        "{url}?ticket={ticket}&data={}",
        pct(with_nul.as_bytes())
    )))
    .await;
    ps_refused(&r, 400, "data");

    // As a form field.
    let r = send(
        app.client
            .post(format!("{url}?ticket={ticket}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("data={}", pct(&bad_utf8))),
    )
    .await;
    ps_refused(&r, 400, "data");

    // In the body: not UTF-8, and a NUL escaped in the JSON.
    let r = send(
        app.client
            .post(format!("{url}?ticket={ticket}"))
            .header("content-type", "application/json")
            .body(bad_utf8.clone()),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["State"], 1, "{}", r.text);
    let r = send(
        app.client
            .post(format!("{url}?ticket={ticket}"))
            .header("content-type", "application/json")
            .body(
                json!({"Items": [{"Barcode": CODE, "State": 0, "ThridId": 12}],
                         "Man": {"Name": "王\u{0}五"}})
                .to_string(),
            ),
    )
    .await;
    ps_refused(&r, 400, "Man.Name");
    assert_eq!(
        events_of_code(&app, &w).await,
        0,
        "nothing refused is stored"
    );

    // The same call with text is stored.
    let r = send(app.client.post(format!(
        "{url}?ticket={ticket}&data={}",
        pct(good.as_bytes())
    )))
    .await;
    assert_eq!(r.body["State"], 0, "{}", r.text);
    assert_eq!(events_of_code(&app, &w).await, 1);
}

// E2, G4: YUNNAN-API — a wrong type is `State` 1; nothing of the batch is stored.
#[tokio::test]
async fn ps_values_of_the_wrong_type_are_refused() {
    let (app, w) = setup("edgetype").await;
    let ticket = ps_ticket(&app, "edgetype_platform").await;
    let fill = || {
        json!({"Items": [{"Barcode": CODE, "IdleWeight": 16.5, "GrossWeight": 31.0, "NetWeight": 14.5,
            "BeginDate": "20200420195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 7}],
            "Factory": {"Name": "上海耀华"}, "Man": {"Name": "李四"}})
    };
    for (pointer, bad, field) in [
        ("/Items/0/Machine", json!("x"), "Items[0].Machine"),
        ("/Items/0/ThridId", json!("abc"), "Items[0].ThridId"),
        ("/Man/Name", json!(7), "Man.Name"),
        ("/Factory/Name", json!(1.5), "Factory.Name"),
    ] {
        let mut v = fill();
        *v.pointer_mut(pointer).expect("pointer") = bad.clone();
        let r = send(
            app.client
                .post(app.url(&format!("/PS/GenericTrace/Fill?ticket={ticket}")))
                .json(&v),
        )
        .await;
        ps_refused(&r, 200, field);
    }
    assert_eq!(
        events_of_code(&app, &w).await,
        0,
        "a wrong type stored nothing"
    );
}

// G4: an oversized `/PS` body is answered with the envelope (413, `State` 1), not plain text.
#[tokio::test]
async fn an_oversized_ps_body_is_answered_with_the_envelope() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4096).await;
    world(&app, "edgebig").await;
    let ticket = ps_ticket(&app, "edgebig_platform").await;
    let r = send(
        app.client
            .post(app.url(&format!("/PS/GenericTrace/Fill?ticket={ticket}")))
            .header("content-type", "application/json")
            .body(format!(
                "{{\"Items\": [], \"Pad\": \"{}\"}}",
                "x".repeat(8192)
            )),
    )
    .await;
    ps_refused(&r, 413, "请求体过大");
}
