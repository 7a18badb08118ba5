//! The regulator interface `/PS` (YUNNAN-API.md, seed 002 附件1) on the server side, end to end over
//! real HTTP (E2, E3, G4, B6): tickets, the three trace uploads with the spec's own examples (data in
//! the query, a form field or the body), idempotent retries, refusals that name item and property and
//! store nothing, `GenericBottle/List`, registration applications, spot checks, inspection work
//! orders, month counts, SM4 envelopes, and the cyltrace extension `/PS/Ledger/Checkpoint` (this node
//! witnessing a lower node's ledger). Runs on SQLite, and on PostgreSQL when
//! `CYLTRACE_TEST_DATABASE_URL` is set.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use cyltrace_testkit::reqwest::{Client, RequestBuilder};
use cyltrace_testkit::{PASSWORD, Resp, TestApp, World, archive, event};
use serde_json::{Value, json};
use uuid::Uuid;

const C1: &str = "1103007831";
const C2: &str = "1103007832";
/// A cylinder of the second enterprise.
const C9: &str = "1103007899";
const STATION: &str = "昆明市特种设备检验所";

// The spec's examples (§4, §5, §6), keys quoted to make them JSON; the leading spaces inside values
// are the spec's own and stay.
const BEFORE_FILL: &str = r#"{"Items":[
  {"Barcode":"1103007831","State":1,"Remark":"瓶体变形","Date":"20200420195401","ThridId":20489},
  {"Barcode":"1103007832","State":0,"ThridId":20490}],
 "Man":{"Name":"张三"}}"#;
const FILL: &str = r#"{"Items":[
  {"Barcode":" 1103007831","IdleWeight":16.33,"GrossWeight":29.76,"NetWeight":13.43,
   "BeginDate":" 20200420195401","EndDate":"20200420195521","Machine":1,"ThridId":20490},
  {"Barcode":" 1103007832","IdleWeight":16.33,"GrossWeight":29.76,"NetWeight":13.43,
   "BeginDate":" 20200420195401","EndDate":"20200420195521","Machine":2,"ThridId":20491}],
 "Factory":{"Name":" 测试厂家"},
 "Man":{"Name":" 张三"}}"#;
const AFTER_FILL: &str = r#"{"Items":[
  {"Barcode":" 1103007831","State":1,"Remark":" 密封检查不通过","Date":" 20200420195401","ThridId":20489},
  {"Barcode":" 1103007832","State":0,"Date":" 20200420195401","ThridId":20479}],
 "Man":{"Name":" 张三"}}"#;

// ---------------------------------------------------------------------------------------------
// Helpers

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// `yyyyMMddHHmmss` in China Standard Time.
fn ymdhms(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst()).format("%Y%m%d%H%M%S").to_string()
}

/// An instant given as `yyyyMMddHHmmss` in China Standard Time.
fn at(s: &str) -> DateTime<Utc> {
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").expect("yyyyMMddHHmmss");
    cst()
        .from_local_datetime(&n)
        .single()
        .expect("instant")
        .with_timezone(&Utc)
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

/// The parameter name the spec uses for the ticket on `path` (§7–8 say `token`, the rest `ticket`);
/// the server accepts both everywhere.
fn ticket_param(path: &str) -> &'static str {
    let token = [
        "/PS/BottleRegister/",
        "/PS/BottleCheck/",
        "/PS/CheckApply/",
        "/PS/File/",
    ];
    if token.iter().any(|p| path.starts_with(p)) {
        "token"
    } else {
        "ticket"
    }
}

async fn ps_login(app: &TestApp, account: &str, password: &str) -> Resp {
    send(
        app.client
            .post(app.url("/PS/Auth/Login"))
            .json(&json!({"Account": account, "Password": password})),
    )
    .await
}

/// A `/PS` caller holding a ticket.
struct Ps {
    client: Client,
    base: String,
    ticket: String,
}

impl Ps {
    /// Logs `account` (password [`PASSWORD`]) in through `/PS/Auth/Login`.
    async fn login(app: &TestApp, account: &str) -> Ps {
        let r = ps_login(app, account, PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["State"], 0, "{}", r.text);
        let ticket = r.body["Value"].as_str().expect("ticket string").to_owned();
        assert!(!ticket.is_empty());
        Ps {
            client: app.client.clone(),
            base: app.base.clone(),
            ticket,
        }
    }

    fn req(&self, post: bool, path: &str) -> RequestBuilder {
        let url = format!("{}{}", self.base, path);
        let b = if post {
            self.client.post(url)
        } else {
            self.client.get(url)
        };
        b.query(&[(ticket_param(path), self.ticket.as_str())])
    }

    /// POST with the data as the raw JSON body.
    async fn post(&self, path: &str, data: &Value) -> Resp {
        self.post_raw(path, &data.to_string()).await
    }

    async fn post_raw(&self, path: &str, body: &str) -> Resp {
        send(
            self.req(true, path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }

    /// POST with the data in the `data` query parameter (as the spec writes it).
    async fn post_query(&self, path: &str, data: &str) -> Resp {
        send(self.req(true, path).query(&[("data", data)])).await
    }

    /// POST with the data as the form field `data`.
    async fn post_form(&self, path: &str, data: &str) -> Resp {
        send(self.req(true, path).form(&[("data", data)])).await
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        send(self.req(false, path).query(params)).await
    }

    /// `POST /PS/File/Upload` of one file (multipart, built by hand).
    async fn upload(&self, filename: &str, content_type: &str, bytes: &[u8]) -> Resp {
        send(upload_req(
            self.req(true, "/PS/File/Upload"),
            filename,
            content_type,
            bytes,
        ))
        .await
    }

    /// Uploads an image and answers its path on the server.
    async fn upload_image(&self, bytes: &[u8]) -> String {
        let r = self.upload("photo.png", "image/png", bytes).await;
        let v = ok(&r);
        let path = v.as_str().expect("path string").to_owned();
        assert!(path.starts_with("files/"), "{path}");
        path
    }

    /// `GenericBottle/List` as an array (asserting it is one).
    async fn bottles(&self, lasttime: Option<&str>) -> Vec<Value> {
        let params: Vec<(&str, &str)> = lasttime.map(|l| ("lasttime", l)).into_iter().collect();
        let r = self.get("/PS/GenericBottle/List", &params).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
            .as_array()
            .unwrap_or_else(|| panic!("not an array: {}", r.text))
            .clone()
    }
}

fn upload_req(
    req: RequestBuilder,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> RequestBuilder {
    let boundary = "cyltracePsBoundary7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    req.header(
        "content-type",
        format!("multipart/form-data; boundary={boundary}"),
    )
    .body(body)
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
/// A 1×1 GIF.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
/// The start of a JPEG (SOI, JFIF APP0) and its end.
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9";

/// Asserts `{"State":0,…}` with HTTP 200 and answers `Value` (Null when absent).
#[track_caller]
fn ok(r: &Resp) -> Value {
    assert_eq!(r.status.as_u16(), 200, "HTTP status; body {}", r.text);
    assert_eq!(r.body["State"], json!(0), "State; body {}", r.text);
    r.body.get("Value").cloned().unwrap_or(Value::Null)
}

/// Asserts a business refusal: HTTP 200, `State:1`, and a `Value` reason naming `field`.
#[track_caller]
fn refused(r: &Resp, field: &str) -> String {
    assert_eq!(r.status.as_u16(), 200, "HTTP status; body {}", r.text);
    assert_eq!(r.body["State"], json!(1), "State; body {}", r.text);
    let reason = r.body["Value"]
        .as_str()
        .unwrap_or_else(|| panic!("no reason string: {}", r.text))
        .to_owned();
    assert!(
        reason.contains(field),
        "the reason should name {field:?}: {reason}"
    );
    reason
}

/// Asserts `{"State":0,"Value":"{\"Id\":n}"}` — `Value` a string holding JSON, as the spec shows —
/// and answers n.
#[track_caller]
fn value_id(r: &Resp) -> i64 {
    let v = ok(r);
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("Value should be a string holding JSON: {}", r.text));
    let inner: Value = serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let id = inner["Id"]
        .as_i64()
        .unwrap_or_else(|| panic!("Value without an integer Id: {s}"));
    assert_eq!(
        r.body,
        json!({"State": 0, "Value": format!("{{\"Id\":{id}}}")})
    );
    id
}

/// Asserts HTTP 401 with `{"State":1,"Value":reason}`.
#[track_caller]
fn unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status.as_u16(), 401, "{what}: {}", r.text);
    assert_eq!(r.body["State"], json!(1), "{what}: {}", r.text);
    assert!(r.body["Value"].is_string(), "{what}: {}", r.text);
}

/// The events of a cylinder (`GET /api/v1/cylinders/{code}/events`).
async fn events(app: &TestApp, token: &str, code: &str) -> Vec<Value> {
    let r = app
        .get(token, &format!("/api/v1/cylinders/{code}/events"))
        .await
        .expect(200);
    r.body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {}", r.text))
        .clone()
}

fn of_kind<'a>(evs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["kind"] == kind).collect()
}

/// How many events the cylinders have in all.
async fn count_events(app: &TestApp, token: &str, codes: &[&str]) -> usize {
    let mut n = 0;
    for c in codes {
        n += events(app, token, c).await.len();
    }
    n
}

fn time_of(e: &Value) -> DateTime<Utc> {
    let s = e["time"].as_str().expect("time");
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

#[track_caller]
fn approx(v: &Value, x: f64) {
    let n = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((n - x).abs() < 1e-9, "{n} ≠ {x}");
}

async fn user_id(app: &TestApp, username: &str) -> Uuid {
    let t = app.login(username, PASSWORD).await;
    let r = app.get(&t, "/api/v1/me").await.expect(200);
    r.body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id")
}

/// An enterprise with cylinders C1 and C2 and a `/PS` platform account `<tag>_platform`.
async fn world(app: &TestApp, tag: &str) -> World {
    let w = app.enterprise(tag).await;
    app.post_cylinders(&w.admin, vec![archive(C1, w.org), archive(C2, w.org)])
        .await
        .expect(201);
    app.user_token(&app.admin, w.org, &format!("{tag}_platform"), &["platform"])
        .await;
    w
}

/// A second enterprise under the same regulators, with cylinder C9.
async fn other_enterprise(app: &TestApp, w: &World) -> World {
    let w2 = app
        .enterprise_under("psother", w.province, w.prefecture)
        .await;
    app.post_cylinders(&w2.admin, vec![archive(C9, w2.org)])
        .await
        .expect(201);
    w2
}

/// A regulator user of the prefecture (`<tag>_reg`), as a v1 token.
async fn regulator(app: &TestApp, w: &World, tag: &str) -> String {
    app.user_token(
        &app.admin,
        w.prefecture,
        &format!("{tag}_reg"),
        &["regulator"],
    )
    .await
}

fn fill_item(code: &str, thrid: i64, end: DateTime<Utc>) -> Value {
    json!({"Barcode": code, "IdleWeight": 16.5, "GrossWeight": 31.0, "NetWeight": 14.5,
           "BeginDate": ymdhms(end - chrono::Duration::minutes(3)), "EndDate": ymdhms(end),
           "Machine": 3, "ThridId": thrid})
}

fn fill_batch(items: Vec<Value>) -> Value {
    json!({"Items": items, "Factory": {"Name": "上海耀华"}, "Man": {"Name": "李四"}})
}

fn check_batch(items: Vec<Value>) -> Value {
    json!({"Items": items, "Man": {"Name": "王五"}})
}

// ---------------------------------------------------------------------------------------------
// Tickets

#[tokio::test]
async fn login_gives_a_ticket_and_every_endpoint_wants_one() {
    // E2: the token endpoint (YUNNAN-API.md decision), then 401 without or with a bad ticket.
    let app = TestApp::spawn().await;
    let _w = world(&app, "pslogin").await;

    let r = ps_login(&app, "pslogin_platform", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["State"], 0, "{}", r.text);
    let ticket = r.body["Value"].as_str().expect("ticket").to_owned();
    assert!(ticket.len() >= 16, "a ticket worth the name: {ticket}");

    // Wrong password and unknown account: State 1 on HTTP 200, and no ticket.
    for (account, password) in [
        ("pslogin_platform", "Wrong-Passw0rd"),
        ("nobody_here", PASSWORD),
    ] {
        let r = ps_login(&app, account, password).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["State"], 1, "{}", r.text);
        assert!(r.body["Value"].is_string());
        assert_ne!(r.body["Value"], json!(ticket));
    }
    // A missing Password is named; an unparsable body is HTTP 400.
    let r = send(
        app.client
            .post(app.url("/PS/Auth/Login"))
            .json(&json!({"Account": "pslogin_platform"})),
    )
    .await;
    refused(&r, "Password");
    let r = send(
        app.client
            .post(app.url("/PS/Auth/Login"))
            .header("content-type", "application/json")
            .body("{Account: x"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["State"], 1, "{}", r.text);

    // Both parameter names carry the ticket.
    for name in ["ticket", "token"] {
        let r = send(
            app.client
                .get(app.url("/PS/GenericBottle/List"))
                .query(&[(name, ticket.as_str())]),
        )
        .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert!(r.body.is_array(), "{name}: {}", r.text);
    }

    // Every endpoint: no ticket, a bad ticket (under either name) → 401 {"State":1,"Value":…}.
    let data = json!({"Items": [], "Man": {"Name": "张三"}});
    let endpoints: [(&str, &str); 19] = [
        ("GET", "/PS/GenericBottle/List"),
        ("GET", "/PS/CarBottle/List"),
        ("POST", "/PS/GenericTrace/BeforeFill"),
        ("POST", "/PS/GenericTrace/Fill"),
        ("POST", "/PS/GenericTrace/AfterFill"),
        ("POST", "/PS/GenericTrace/Inspection"),
        ("POST", "/PS/BottleRegister/ApplyNew"),
        ("POST", "/PS/BottleRegister/ApplyOld"),
        ("POST", "/PS/BottleCheck/UnresponseList"),
        ("GET", "/PS/BottleCheck/GetDetail"),
        ("POST", "/PS/BottleCheck/Response"),
        ("POST", "/PS/CheckApply/BeginApply"),
        ("POST", "/PS/CheckApply/AddBottle"),
        ("POST", "/PS/CheckApply/RemoveBottle"),
        ("POST", "/PS/CheckApply/EndApply"),
        ("POST", "/PS/GenericStatistics/BusinessCount"),
        ("POST", "/PS/File/Upload"),
        ("GET", "/PS/Ledger/Checkpoint"),
        ("POST", "/PS/Ledger/Checkpoint"),
    ];
    let bogus = "0123456789abcdef0123456789abcdef";
    for (method, path) in endpoints {
        for query in [
            vec![],
            vec![("ticket", bogus)],
            vec![("token", bogus)],
            vec![("ticket", "")],
        ] {
            let url = app.url(path);
            let req = if method == "GET" {
                app.client.get(url)
            } else {
                app.client.post(url)
            }
            .query(&query)
            .query(&[("id", "1")]);
            let req = if path == "/PS/File/Upload" {
                upload_req(req, "a.png", "image/png", PNG)
            } else if method == "POST" {
                req.header("content-type", "application/json")
                    .body(data.to_string())
            } else {
                req
            };
            let r = send(req).await;
            unauthorized(&r, &format!("{method} {path} {query:?}"));
        }
    }

    // Tickets expire (default 2 h).
    let ps = Ps::login(&app, "pslogin_platform").await;
    assert!(ps.get("/PS/CarBottle/List", &[]).await.body.is_array());
    app.set_now(app.state.now() + chrono::Duration::hours(3));
    unauthorized(
        &ps.get("/PS/CarBottle/List", &[]).await,
        "a ticket older than two hours",
    );
}

// ---------------------------------------------------------------------------------------------
// Trace uploads (§4–6)

#[tokio::test]
async fn the_specs_examples_upload_as_events_by_query_form_and_body() {
    // E2 / B6: §4 BeforeFill in the query, §5 Fill as a form field, §6 AfterFill as the body.
    let app = TestApp::spawn().await;
    let w = world(&app, "pstrace").await;
    let ps = Ps::login(&app, "pstrace_platform").await;

    let before = app.state.now();
    assert_eq!(
        ps.post_query("/PS/GenericTrace/BeforeFill", BEFORE_FILL)
            .await
            .body,
        json!({"State": 0})
    );
    let after = app.state.now();
    let r = ps.post_form("/PS/GenericTrace/Fill", FILL).await;
    assert_eq!(r.body, json!({"State": 0}), "{}", r.text);
    let r = ps.post_raw("/PS/GenericTrace/AfterFill", AFTER_FILL).await;
    assert_eq!(r.body, json!({"State": 0}), "{}", r.text);

    let e1 = events(&app, &w.admin, C1).await;
    let e2 = events(&app, &w.admin, C2).await;
    for evs in [&e1, &e2] {
        for kind in ["pre_fill_check", "fill", "post_fill_check"] {
            assert_eq!(of_kind(evs, kind).len(), 1, "{kind}: {evs:?}");
        }
    }

    // C1's failed pre-fill check, at the Date given, by 张三 (trimmed).
    let pre = of_kind(&e1, "pre_fill_check")[0];
    assert_eq!(pre["data"], json!({"result": "fail", "remark": "瓶体变形"}));
    assert_eq!(time_of(pre), at("20200420195401"));
    assert_eq!(pre["operator"], "张三");
    assert_eq!(pre["org_id"], json!(w.org));
    // C2's passed check had no Date: it stands at the time of the upload.
    let pre2 = of_kind(&e2, "pre_fill_check")[0];
    assert_eq!(pre2["data"], json!({"result": "pass"}));
    let t = time_of(pre2);
    assert!(
        t >= before - chrono::Duration::seconds(1) && t <= after + chrono::Duration::seconds(1),
        "{t} not between {before} and {after}"
    );

    // The fills: weights, scale, times and the scale maker, white space trimmed.
    for (evs, scale) in [(&e1, "1"), (&e2, "2")] {
        let f = of_kind(evs, "fill")[0];
        approx(&f["data"]["tare_kg"], 16.33);
        approx(&f["data"]["gross_kg"], 29.76);
        assert_eq!(f["data"]["scale_no"], scale);
        assert_eq!(time_of(f), at("20200420195521"));
        assert_eq!(f["operator"], "张三");
        assert_eq!(f["device"], "测试厂家");
        assert_eq!(f["codes"], json!([if scale == "1" { C1 } else { C2 }]));
    }

    // The post-fill checks.
    let post = of_kind(&e1, "post_fill_check")[0];
    assert_eq!(
        post["data"],
        json!({"result": "fail", "remark": "密封检查不通过"})
    );
    assert_eq!(time_of(post), at("20200420195401"));
    assert_eq!(
        of_kind(&e2, "post_fill_check")[0]["data"],
        json!({"result": "pass"})
    );

    // An enterprise admin uploads through /PS as well.
    let admin = Ps::login(&app, "pstrace_admin").await;
    let r = admin
        .post(
            "/PS/GenericTrace/BeforeFill",
            &check_batch(vec![json!({"Barcode": C1, "State": 0, "ThridId": "90001"})]),
        )
        .await;
    ok(&r);
    assert_eq!(
        of_kind(&events(&app, &w.admin, C1).await, "pre_fill_check").len(),
        2
    );
    // A warehouse keeper's role does not allow fills, through /PS neither.
    app.user_token(&app.admin, w.org, "pstrace_store", &["warehouse"])
        .await;
    let store = Ps::login(&app, "pstrace_store").await;
    let r = store
        .post_raw("/PS/GenericTrace/Fill", &FILL.replace("2049", "3049"))
        .await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 7);
}

#[tokio::test]
async fn a_retried_upload_is_stored_once_and_a_reused_thrid_id_is_refused() {
    // E2: the same ThridId twice is stored once and answered as success.
    let app = TestApp::spawn().await;
    let w = world(&app, "psretry").await;
    let ps = Ps::login(&app, "psretry_platform").await;

    for _ in 0..2 {
        assert_eq!(
            ps.post_raw("/PS/GenericTrace/BeforeFill", BEFORE_FILL)
                .await
                .body,
            json!({"State": 0})
        );
        assert_eq!(
            ps.post_raw("/PS/GenericTrace/Fill", FILL).await.body,
            json!({"State": 0})
        );
    }
    // The spec's AfterFill reuses 20489 (a BeforeFill ThridId): another kind, another record.
    assert_eq!(
        ps.post_raw("/PS/GenericTrace/AfterFill", AFTER_FILL)
            .await
            .body,
        json!({"State": 0})
    );
    for code in [C1, C2] {
        let evs = events(&app, &w.admin, code).await;
        assert_eq!(evs.len(), 3, "{code}: {evs:?}");
    }
    let ids: BTreeSet<String> = events(&app, &w.admin, C1)
        .await
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);

    // The same ThridId with another Barcode: refused, naming the item, and nothing of the batch
    // stored (the fresh second item neither).
    let n = count_events(&app, &w.admin, &[C1, C2]).await;
    let r = ps
        .post(
            "/PS/GenericTrace/BeforeFill",
            &check_batch(vec![
                json!({"Barcode": C2, "State": 0, "ThridId": 20489}),
                json!({"Barcode": C1, "State": 0, "ThridId": 77001}),
            ]),
        )
        .await;
    refused(&r, "Items[0].ThridId");
    let r = ps
        .post(
            "/PS/GenericTrace/BeforeFill",
            &check_batch(vec![
                json!({"Barcode": C1, "State": 0, "ThridId": 77002}),
                json!({"Barcode": C2, "State": 0, "ThridId": 20489}),
            ]),
        )
        .await;
    refused(&r, "Items[1].ThridId");
    // Another result under the same ThridId and Barcode is a different record too.
    let r = ps
        .post(
            "/PS/GenericTrace/BeforeFill",
            &check_batch(vec![
                json!({"Barcode": C1, "State": 0, "Date": "20200420195401",
                                      "ThridId": 20489}),
            ]),
        )
        .await;
    refused(&r, "Items[0].ThridId");
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, n);
    assert_eq!(
        of_kind(&events(&app, &w.admin, C1).await, "pre_fill_check")[0]["data"],
        json!({"result": "fail", "remark": "瓶体变形"})
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_naming_item_and_property_and_store_nothing() {
    // E2: State 1 with a reason naming item and property; nothing of the batch stored.
    let app = TestApp::spawn().await;
    let w = world(&app, "psbad").await;
    let w2 = other_enterprise(&app, &w).await;
    let ps = Ps::login(&app, "psbad_platform").await;
    let t = app.state.now() - chrono::Duration::minutes(30);
    let good = |thrid: i64| fill_item(C1, thrid, t);

    let mut wrong = fill_item(C2, 5, t);
    wrong["IdleWeight"] = json!("x");
    let mut no_man = fill_batch(vec![good(7)]);
    no_man.as_object_mut().unwrap().remove("Man");
    let mut net = fill_item(C2, 8, t);
    net["NetWeight"] = json!(13.0);
    let mut date = fill_item(C2, 10, t);
    date["BeginDate"] = json!("20200231195401");
    let cases: Vec<(&str, Value, &str)> = vec![
        // Unknown barcode.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![good(1), fill_item("1103009999", 2, t)]),
            "Items[1].Barcode",
        ),
        // A cylinder of another enterprise.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![fill_item(C9, 3, t), good(4)]),
            "Items[0].Barcode",
        ),
        // Wrong type.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![good(6), wrong]),
            "Items[1].IdleWeight",
        ),
        // Missing Man.
        ("/PS/GenericTrace/Fill", no_man, "Man"),
        // Net weight not gross − tare.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![good(9), net]),
            "Items[1].NetWeight",
        ),
        // A date that does not exist.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![date, good(11)]),
            "Items[0].BeginDate",
        ),
        // A check result other than 0 or 1.
        (
            "/PS/GenericTrace/BeforeFill",
            check_batch(vec![
                json!({"Barcode": C1, "State": 0, "ThridId": 12}),
                json!({"Barcode": C2, "State": 2, "ThridId": 13}),
            ]),
            "Items[1].State",
        ),
        (
            "/PS/GenericTrace/AfterFill",
            check_batch(vec![json!({"Barcode": C1, "State": 2, "ThridId": 14})]),
            "Items[0].State",
        ),
        // A bad check Date.
        (
            "/PS/GenericTrace/AfterFill",
            check_batch(vec![
                json!({"Barcode": C1, "State": 0, "Date": "2020-04-20 19:54:01", "ThridId": 15}),
            ]),
            "Items[0].Date",
        ),
        // A fill that ends in the future.
        (
            "/PS/GenericTrace/Fill",
            fill_batch(vec![
                good(16),
                fill_item(C2, 17, app.state.now() + chrono::Duration::days(2)),
            ]),
            "Items[1].EndDate",
        ),
    ];

    for (path, data, field) in cases {
        let r = ps.post(path, &data).await;
        refused(&r, field);
        assert_eq!(
            count_events(&app, &w.admin, &[C1, C2]).await,
            0,
            "{path} {field}: something was stored"
        );
    }
    assert!(events(&app, &w2.admin, C9).await.is_empty());

    // Unparsable JSON is HTTP 400, in the body, the query or a form field.
    let r = ps.post_raw("/PS/GenericTrace/Fill", "{Items: [").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["State"], 1, "{}", r.text);
    let r = ps
        .post_query("/PS/GenericTrace/BeforeFill", "{\"Items\":")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = ps.post_form("/PS/GenericTrace/AfterFill", "not json").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 0);

    // And the same items, fixed, are stored.
    let r = ps
        .post(
            "/PS/GenericTrace/Fill",
            &fill_batch(vec![good(100), fill_item(C2, 101, t)]),
        )
        .await;
    ok(&r);
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 2);
}

// ---------------------------------------------------------------------------------------------
// Archives (§2, §3)

#[tokio::test]
async fn generic_bottle_list_gives_the_callers_archives_since_lasttime() {
    // E2 §2: capitalised names, yyyyMMdd dates, Id int; lasttime filters; scope holds.
    let app = TestApp::spawn_with(|c| c.token_ttl_secs = 30 * 24 * 3600).await;
    let w = world(&app, "pslist").await;
    let w2 = other_enterprise(&app, &w).await;
    let ps = Ps::login(&app, "pslist_platform").await;

    let list = ps.bottles(None).await;
    let codes: BTreeSet<&str> = list.iter().filter_map(|b| b["Barcode"].as_str()).collect();
    assert_eq!(codes, BTreeSet::from([C1, C2]), "{list:?}");
    let b = list.iter().find(|b| b["Barcode"] == C1).unwrap();
    assert_eq!(b["Printno"], "1260419");
    assert_eq!(b["InnerNo"], "XY60235");
    assert_eq!(b["Style"], "YSP35.5");
    assert_eq!(b["Valve"], 1);
    assert_eq!(b["Medium"], "液化石油气");
    assert_eq!(b["ProductDate"], "20220901");
    assert_eq!(b["CheckDate"], "20220901");
    assert_eq!(b["NextDate"], "20260901");
    assert_eq!(b["DiscardDate"], "20300901");
    assert_eq!(b["State"], 0);
    approx(&b["IdleWeight"], 16.5);
    approx(&b["FillWeight"], 14.5);
    approx(&b["Volumn"], 35.5);
    assert_eq!(b["CheckPeriod"], 4);
    assert_eq!(b["LifePeriod"], 8);
    assert_eq!(b["Factory"], "江苏特种设备生产有限公司");
    assert_eq!(b["RegisterDate"], "20221001000000");
    assert!(b["Id"].is_i64(), "Id is an int: {b}");
    assert_ne!(
        b["Id"],
        list.iter().find(|b| b["Barcode"] == C2).unwrap()["Id"]
    );
    // No lower-case or snake_case names leak out.
    for k in b.as_object().unwrap().keys() {
        assert!(
            k.chars().next().unwrap().is_ascii_uppercase() && !k.contains('_'),
            "{k}"
        );
    }

    // The other enterprise sees its own only.
    app.user_token(&app.admin, w2.org, "psother_platform", &["platform"])
        .await;
    let ps2 = Ps::login(&app, "psother_platform").await;
    let l2 = ps2.bottles(None).await;
    assert_eq!(l2.len(), 1, "{l2:?}");
    assert_eq!(l2[0]["Barcode"], C9);

    // lasttime: an old one gives all, a future one nothing, one after the first archives only the
    // archives made later.
    assert_eq!(ps.bottles(Some("20000101000000")).await.len(), 2);
    let future = ymdhms(app.state.now() + chrono::Duration::days(1));
    assert_eq!(ps.bottles(Some(&future)).await, Vec::<Value>::new());
    let later = app.state.now() + chrono::Duration::hours(1);
    app.set_now(later);
    app.post_cylinders(&w.admin, vec![archive("1103007833", w.org)])
        .await
        .expect(201);
    let since = ymdhms(later - chrono::Duration::minutes(1));
    let fresh = ps.bottles(Some(&since)).await;
    let codes: Vec<&str> = fresh.iter().filter_map(|b| b["Barcode"].as_str()).collect();
    assert_eq!(codes, ["1103007833"]);
    assert_eq!(ps.bottles(None).await.len(), 3);

    // A bad lasttime is named.
    for bad in ["2020-01-01", "20200231000000", "abc"] {
        let r = ps.get("/PS/GenericBottle/List", &[("lasttime", bad)]).await;
        refused(&r, "lasttime");
    }

    // §3: no vehicle cylinder is registered here; the list is empty (after the ticket is checked).
    let r = ps
        .get("/PS/CarBottle/List", &[("lasttime", "20000101000000")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!([]));
}

// ---------------------------------------------------------------------------------------------
// Registration applications (§7.1, §7.2)

fn apply_body(third: i64, images: &[String; 3], items: Value) -> Value {
    json!({"ThirdId": third,
        "Overview": {"Style": "YSP35.5", "Medium": "液化石油气", "Factory": 12, "CreateDate": "20250101",
            "DiscardDate": "20330101", "CheckDate": "20250101", "NextDate": "20290101", "IdleWeight": 16.5,
            "Remark": "新购", "Valve": 1, "PayImage": images[0], "BatchImage": images[1],
            "DeviceImage": images[2]},
        "Items": items})
}

#[tokio::test]
async fn registration_applications_are_approved_or_rejected_by_the_regulator() {
    // E2 §7.1 / §7.2 with /PS/File/Upload for the photos.
    let app = TestApp::spawn().await;
    let w = world(&app, "psreg").await;
    let reg = regulator(&app, &w, "psreg").await;
    let ps = Ps::login(&app, "psreg_admin").await;

    // Uploads: images accepted, a text file refused.
    let path = |r: &Resp| ok(r).as_str().expect("path").to_owned();
    let images: [String; 3] = [
        ps.upload_image(PNG).await,
        path(&ps.upload("b.jpg", "image/jpeg", JPEG).await),
        path(&ps.upload("c.gif", "image/gif", GIF).await),
    ];
    assert_eq!(images.iter().collect::<BTreeSet<_>>().len(), 3);
    let r = ps
        .upload("note.txt", "image/png", "这不是图片，只是文字".as_bytes())
        .await;
    refused(&r, "file");
    let r = ps.upload("empty.png", "image/png", b"").await;
    refused(&r, "file");

    // ApplyNew: Value is a string holding {"Id":n}; the same ThirdId again gives the same Id.
    let items = json!([{"Barcode": " 1103007840", "Printno": "1260501", "InnerNo": "XY1"},
                       {"Barcode": "1103007841", "Printno": "1260502", "InnerNo": "XY2"}]);
    let body = apply_body(77, &images, items.clone());
    let id = value_id(&ps.post("/PS/BottleRegister/ApplyNew", &body).await);
    assert_eq!(
        value_id(&ps.post("/PS/BottleRegister/ApplyNew", &body).await),
        id
    );
    // Also with the data in the query (the spec's form for §4–6 works everywhere).
    assert_eq!(
        value_id(
            &ps.post_query("/PS/BottleRegister/ApplyNew", &body.to_string())
                .await
        ),
        id
    );

    // A photo that was never uploaded, a missing one: named.
    let mut missing = apply_body(78, &images, items.clone());
    missing["Overview"]["PayImage"] = json!(format!("files/{}", "0".repeat(64)));
    refused(
        &ps.post("/PS/BottleRegister/ApplyNew", &missing).await,
        "Overview.PayImage",
    );
    missing["Overview"]
        .as_object_mut()
        .unwrap()
        .remove("PayImage");
    refused(
        &ps.post("/PS/BottleRegister/ApplyNew", &missing).await,
        "Overview.PayImage",
    );
    // A cylinder that already has an archive is not new.
    let existing = apply_body(
        79,
        &images,
        json!([{"Barcode": C1, "Printno": "1260419", "InnerNo": "XY60235"}]),
    );
    refused(
        &ps.post("/PS/BottleRegister/ApplyNew", &existing).await,
        "Items[0].Barcode",
    );

    // The regulator sees the application, pending.
    let r = app.get(&reg, "/api/v1/ps/applications").await.expect(200);
    let apps = r.body["items"].as_array().expect("items");
    assert_eq!(apps.len(), 1, "{}", r.text);
    assert_eq!(apps[0]["id"], id);
    assert_eq!(apps[0]["kind"], "apply_new");
    assert_eq!(apps[0]["state"], "pending");
    assert_eq!(apps[0]["org_id"], json!(w.org));
    // Not yet registered: no archive.
    assert_eq!(ps.bottles(None).await.len(), 2);
    // The enterprise does not approve its own application.
    app.post(
        &w.admin,
        &format!("/api/v1/ps/applications/{id}/approve"),
        &json!({}),
    )
    .await
    .expect(403);

    // Approval: 12-digit registration numbers, archives owned by the applicant.
    let r = app
        .post(
            &reg,
            &format!("/api/v1/ps/applications/{id}/approve"),
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["state"], "approved");
    let numbers = r.body["numbers"].as_array().expect("numbers").clone();
    assert_eq!(numbers.len(), 2, "{}", r.text);
    for n in &numbers {
        let no = n["RegisterNo"].as_str().expect("RegisterNo");
        assert!(
            no.len() == 12 && no.bytes().all(|b| b.is_ascii_digit()),
            "{no}"
        );
    }
    assert_ne!(numbers[0]["RegisterNo"], numbers[1]["RegisterNo"]);
    app.post(
        &reg,
        &format!("/api/v1/ps/applications/{id}/approve"),
        &json!({}),
    )
    .await
    .expect(409);
    let list = ps.bottles(None).await;
    assert_eq!(list.len(), 4, "{list:?}");
    for (code, printno) in [("1103007840", "1260501"), ("1103007841", "1260502")] {
        let b = list
            .iter()
            .find(|b| b["Barcode"] == code)
            .unwrap_or_else(|| panic!("{code} not listed: {list:?}"));
        let n = numbers
            .iter()
            .find(|n| n["Barcode"] == code)
            .expect("number");
        assert_eq!(b["RegisterNo"], n["RegisterNo"]);
        assert_eq!(b["Printno"], printno);
        assert_eq!(b["NextDate"], "20290101");
        assert_eq!(b["Style"], "YSP35.5");
        assert!(b["RegisterDate"].as_str().is_some_and(|d| d.len() == 14));
        // The registration is an event of the cylinder.
        assert_eq!(
            of_kind(&events(&app, &w.admin, code).await, "register").len(),
            1
        );
    }

    // ApplyOld for an existing archive; then a rejection.
    let old = apply_body(
        80,
        &images,
        json!([{"Barcode": C1, "Printno": "1260419", "InnerNo": "XY60235"}]),
    );
    let old_id = value_id(&ps.post("/PS/BottleRegister/ApplyOld", &old).await);
    assert_ne!(old_id, id);
    // An old-cylinder application for another enterprise's cylinder is refused.
    other_enterprise(&app, &w).await;
    let foreign = apply_body(
        81,
        &images,
        json!([{"Barcode": C9, "Printno": "1", "InnerNo": "X"}]),
    );
    refused(
        &ps.post("/PS/BottleRegister/ApplyOld", &foreign).await,
        "Items[0].Barcode",
    );
    app.post(
        &reg,
        &format!("/api/v1/ps/applications/{old_id}/reject"),
        &json!({"reason": "照片不清晰"}),
    )
    .await
    .expect(200);
    let r = app
        .get(&reg, "/api/v1/ps/applications?state=rejected")
        .await
        .expect(200);
    let rejected = r.body["items"].as_array().expect("items");
    assert_eq!(rejected.len(), 1, "{}", r.text);
    assert_eq!(rejected[0]["id"], old_id);
    assert_eq!(rejected[0]["kind"], "apply_old");
    app.post(
        &reg,
        &format!("/api/v1/ps/applications/{old_id}/approve"),
        &json!({}),
    )
    .await
    .expect(409);
    // Rejected: C1 got no registration event.
    assert!(of_kind(&events(&app, &w.admin, C1).await, "register").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Spot checks (§7.3)

#[tokio::test]
async fn spot_checks_are_listed_detailed_and_answered_with_photos() {
    // E2 §7.3.
    let app = TestApp::spawn().await;
    let w = world(&app, "psspot").await;
    let reg = regulator(&app, &w, "psspot").await;
    let ps = Ps::login(&app, "psspot_admin").await;
    assert_eq!(
        ps.post("/PS/BottleCheck/UnresponseList", &json!({}))
            .await
            .body,
        json!([])
    );

    let r = app
        .post(
            &reg,
            "/api/v1/ps/spot-checks",
            &json!({"org_id": w.org, "comment": "核对钢印号", "codes": [C1, C2]}),
        )
        .await
        .expect(201);
    let id = r.body["id"].as_i64().expect("id");
    // A cylinder outside the enterprise cannot be spot-checked there.
    app.post(
        &reg,
        "/api/v1/ps/spot-checks",
        &json!({"org_id": w.org, "comment": "x", "codes": ["1103009999"]}),
    )
    .await
    .expect(422);

    // §7.3.1 (POST, as the spec writes it; GET works too).
    let r = ps.post("/PS/BottleCheck/UnresponseList", &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.body.as_array().expect("array").clone();
    assert_eq!(list.len(), 1, "{}", r.text);
    let s = &list[0];
    assert_eq!(s["Id"], id);
    assert_eq!(s["CheckCount"], 2);
    assert_eq!(s["CheckComment"], "核对钢印号");
    assert!(s["Style"].is_string());
    for k in ["CheckDate", "ApplyDate"] {
        let d = s[k].as_str().unwrap_or_else(|| panic!("{k}: {s}"));
        assert!(
            d.len() == 14 && d.bytes().all(|b| b.is_ascii_digit()),
            "{k}: {d}"
        );
    }
    assert_eq!(
        ps.get("/PS/BottleCheck/UnresponseList", &[]).await.body,
        r.body
    );

    // §7.3.2.
    let id_s = id.to_string();
    let r = ps.get("/PS/BottleCheck/GetDetail", &[("id", &id_s)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["CheckCount"], 2);
    assert_eq!(r.body["CheckComment"], "核对钢印号");
    let items = r.body["Items"].as_array().expect("Items").clone();
    assert_eq!(items.len(), 2, "{}", r.text);
    let barcodes: BTreeSet<&str> = items.iter().filter_map(|i| i["Barcode"].as_str()).collect();
    assert_eq!(barcodes, BTreeSet::from([C1, C2]));
    for i in &items {
        assert!(i["Id"].is_i64(), "{i}");
        assert_eq!(i["Printno"], "1260419");
    }
    refused(
        &ps.get("/PS/BottleCheck/GetDetail", &[("id", "x")]).await,
        "id",
    );
    refused(
        &ps.get("/PS/BottleCheck/GetDetail", &[("id", "999")]).await,
        "Id",
    );
    // Another enterprise does not see it.
    let w2 = other_enterprise(&app, &w).await;
    app.user_token(&app.admin, w2.org, "psother_platform", &["platform"])
        .await;
    let ps2 = Ps::login(&app, "psother_platform").await;
    assert_eq!(
        ps2.get("/PS/BottleCheck/UnresponseList", &[]).await.body,
        json!([])
    );
    refused(
        &ps2.get("/PS/BottleCheck/GetDetail", &[("id", &id_s)]).await,
        "Id",
    );

    // §7.3.3: an unknown item, a photo never uploaded, a missing answer → State 1, still open.
    let photo = ps.upload_image(PNG).await;
    let photo2 = ps.upload_image(GIF).await;
    let (i0, i1) = (items[0]["Id"].clone(), items[1]["Id"].clone());
    let bad: [(Value, &str); 3] = [
        (
            json!({"Id": id, "Items": [{"Id": i0, "Image": photo}, {"Id": 99, "Image": photo2}]}),
            "Items[1].Id",
        ),
        (
            json!({"Id": id, "Items": [{"Id": i0, "Image": format!("files/{}", "a".repeat(64))},
                                       {"Id": i1, "Image": photo2}]}),
            "Items[0].Image",
        ),
        (
            json!({"Id": id, "Items": [{"Id": i0, "Image": photo}]}),
            "Items",
        ),
    ];
    for (body, field) in bad {
        refused(&ps.post("/PS/BottleCheck/Response", &body).await, field);
        assert_eq!(
            ps.get("/PS/BottleCheck/UnresponseList", &[]).await.body[0]["Id"],
            id
        );
    }
    refused(
        &ps2.post(
            "/PS/BottleCheck/Response",
            &json!({"Id": id, "Items": [{"Id": i0, "Image": photo}, {"Id": i1, "Image": photo2}]}),
        )
        .await,
        "Id",
    );

    // The answer: State 0, gone from the unanswered list, the photos in the detail.
    let answer =
        json!({"Id": id, "Items": [{"Id": i0, "Image": photo}, {"Id": i1, "Image": photo2}]});
    assert_eq!(
        ps.post("/PS/BottleCheck/Response", &answer).await.body,
        json!({"State": 0})
    );
    assert_eq!(
        ps.get("/PS/BottleCheck/UnresponseList", &[]).await.body,
        json!([])
    );
    let r = ps.get("/PS/BottleCheck/GetDetail", &[("id", &id_s)]).await;
    let images: BTreeSet<&str> = r.body["Items"]
        .as_array()
        .expect("Items")
        .iter()
        .filter_map(|i| i["Image"].as_str())
        .collect();
    assert_eq!(images, BTreeSet::from([photo.as_str(), photo2.as_str()]));
    refused(&ps.post("/PS/BottleCheck/Response", &answer).await, "Id");
    // The regulator sees it answered.
    let r = app.get(&reg, "/api/v1/ps/spot-checks").await.expect(200);
    assert_eq!(r.body["items"][0]["id"], id);
    assert_eq!(r.body["items"][0]["state"], "answered");
}

// ---------------------------------------------------------------------------------------------
// Inspection work orders (§8)

#[tokio::test]
async fn check_apply_work_orders_send_cylinders_to_the_station() {
    // E2 §8.1–8.4.
    let app = TestApp::spawn().await;
    let w = world(&app, "pscheck").await;
    let station = app
        .create_org(
            &app.admin,
            json!({"kind": "inspection_station", "name": STATION, "region_code": "530102",
                   "parent_id": w.prefecture}),
        )
        .await;
    let inspector = app
        .user_token(&app.admin, station, "pscheck_station", &["inspector"])
        .await;
    let ps = Ps::login(&app, "pscheck_admin").await;

    // BeginApply by the station's id, and by its name only (Id 0); the same ThirdId again.
    let begin = json!({"ThirdId": 501, "Station": {"Id": station.to_string(), "Name": STATION}});
    let id = value_id(&ps.post("/PS/CheckApply/BeginApply", &begin).await);
    assert_eq!(
        value_id(&ps.post("/PS/CheckApply/BeginApply", &begin).await),
        id
    );
    let by_name = json!({"ThirdId": 502, "Station": {"Id": 0, "Name": STATION}});
    let id2 = value_id(&ps.post("/PS/CheckApply/BeginApply", &by_name).await);
    assert_ne!(id2, id);
    refused(
        &ps.post(
            "/PS/CheckApply/BeginApply",
            &json!({"ThirdId": 503, "Station": {"Id": 0, "Name": "没有这个检验所"}}),
        )
        .await,
        "Station",
    );
    // An organisation that is not an inspection station is not one.
    refused(
        &ps.post(
            "/PS/CheckApply/BeginApply",
            &json!({"ThirdId": 504, "Station": {"Id": w.org.to_string(), "Name": "x"}}),
        )
        .await,
        "Station",
    );

    // AddBottle (idempotent by ThirdId), RemoveBottle.
    let add = json!({"ThirdId": 601, "Id": id,
                     "Items": [{"Barcode": C1, "SeqNo": 1}, {"Barcode": C2, "SeqNo": 2}]});
    assert_eq!(
        ps.post("/PS/CheckApply/AddBottle", &add).await.body,
        json!({"State": 0})
    );
    assert_eq!(
        ps.post("/PS/CheckApply/AddBottle", &add).await.body,
        json!({"State": 0})
    );
    refused(
        &ps.post(
            "/PS/CheckApply/AddBottle",
            &json!({"ThirdId": 605, "Id": id, "Items": [{"Barcode": "1103009999", "SeqNo": 3}]}),
        )
        .await,
        "Items[0].Barcode",
    );
    refused(
        &ps.post(
            "/PS/CheckApply/AddBottle",
            &json!({"ThirdId": 606, "Id": 999_999, "Items": [{"Barcode": C1, "SeqNo": 3}]}),
        )
        .await,
        "Id",
    );
    let remove = json!({"ThirdId": 602, "Id": id, "Items": [{"Barcode": C2}]});
    assert_eq!(
        ps.post("/PS/CheckApply/RemoveBottle", &remove).await.body,
        json!({"State": 0})
    );

    // The station sees the work order with the cylinder left.
    let r = app
        .get(&inspector, "/api/v1/ps/check-applies")
        .await
        .expect(200);
    let orders = r.body["items"].as_array().expect("items").clone();
    let order = orders
        .iter()
        .find(|o| o["id"] == id)
        .unwrap_or_else(|| panic!("work order {id} not seen by the station: {}", r.text));
    assert_eq!(order["target_org_id"], json!(station));
    assert_eq!(order["state"], "open");
    let barcodes: Vec<&str> = order["body"]["Items"]
        .as_array()
        .expect("Items")
        .iter()
        .filter_map(|i| i["Barcode"].as_str())
        .collect();
    assert_eq!(barcodes, [C1]);
    assert!(orders.iter().any(|o| o["id"] == id2));

    // EndApply: the cylinder is sent to the station.
    let end = json!({"ThirdId": 603, "Id": id});
    assert_eq!(
        ps.post("/PS/CheckApply/EndApply", &end).await.body,
        json!({"State": 0})
    );
    assert_eq!(
        ps.post("/PS/CheckApply/EndApply", &end).await.body,
        json!({"State": 0})
    );
    let sent = events(&app, &w.admin, C1).await;
    let sends = of_kind(&sent, "inspection_send");
    assert_eq!(sends.len(), 1, "{sent:?}");
    assert_eq!(sends[0]["data"]["station_org_id"], json!(station));
    assert!(of_kind(&events(&app, &w.admin, C2).await, "inspection_send").is_empty());

    // After the end: a new AddBottle is refused, the repeated one still answered as success.
    refused(
        &ps.post(
            "/PS/CheckApply/AddBottle",
            &json!({"ThirdId": 604, "Id": id, "Items": [{"Barcode": C2, "SeqNo": 2}]}),
        )
        .await,
        "Id",
    );
    assert_eq!(
        ps.post("/PS/CheckApply/AddBottle", &add).await.body,
        json!({"State": 0})
    );
    let r = app
        .get(&inspector, "/api/v1/ps/check-applies?state=ended")
        .await
        .expect(200);
    let ended = r.body["items"].as_array().expect("items");
    assert_eq!(ended.len(), 1, "{}", r.text);
    assert_eq!(ended[0]["id"], id);
    assert_eq!(ended[0]["body"]["Items"].as_array().map(Vec::len), Some(1));
    // An empty work order cannot end.
    refused(
        &ps.post(
            "/PS/CheckApply/EndApply",
            &json!({"ThirdId": 607, "Id": id2}),
        )
        .await,
        "Id",
    );
}

// ---------------------------------------------------------------------------------------------
// Month counts (§9)

#[tokio::test]
async fn business_count_compares_with_what_arrived_and_alarms_on_a_mismatch() {
    // E3: monthly reconciliation.
    let app = TestApp::spawn_with(|c| c.token_ttl_secs = 30 * 24 * 3600).await;
    // The server's clock in the middle of the current month, so that "this month" is unambiguous.
    let today = Utc::now().with_timezone(&cst());
    let mid = cst()
        .with_ymd_and_hms(today.year(), today.month(), 15, 12, 0, 0)
        .single()
        .expect("mid-month")
        .with_timezone(&Utc);
    app.set_now(mid);
    let w = world(&app, "pscount").await;
    let w2 = other_enterprise(&app, &w).await;
    let reg = regulator(&app, &w, "pscount").await;
    let ps = Ps::login(&app, "pscount_platform").await;
    let (year, month) = (today.year(), today.month());
    let count = |n: i64, t: i64| json!({"Year": year, "Month": month, "Count": n, "Type": t});

    // The spec's example fills (2020) are not this month's; three fills of today are.
    ok(&ps.post_raw("/PS/GenericTrace/Fill", FILL).await);
    let t = mid - chrono::Duration::hours(1);
    ok(&ps
        .post(
            "/PS/GenericTrace/Fill",
            &fill_batch(vec![
                fill_item(C1, 1, t),
                fill_item(C2, 2, t),
                fill_item(C1, 3, t + chrono::Duration::minutes(10)),
            ]),
        )
        .await);
    // Another enterprise's fill this month is not this one's.
    app.user_token(&app.admin, w2.org, "psother_platform", &["platform"])
        .await;
    let ps2 = Ps::login(&app, "psother_platform").await;
    ok(&ps2
        .post(
            "/PS/GenericTrace/Fill",
            &fill_batch(vec![fill_item(C9, 1, t)]),
        )
        .await);

    let r = ps
        .post("/PS/GenericStatistics/BusinessCount", &count(3, 2))
        .await;
    assert_eq!(r.body, json!({"State": 0}), "{}", r.text);
    let r = ps
        .post("/PS/GenericStatistics/BusinessCount", &count(0, 1))
        .await;
    assert_eq!(r.body, json!({"State": 0}), "{}", r.text);
    let alarms = app
        .get(
            &reg,
            "/api/v1/regulator/alarms?kind=business_count_mismatch",
        )
        .await
        .expect(200);
    assert_eq!(alarms.body["items"], json!([]), "{}", alarms.text);

    // One more reported than arrived: accepted, the difference said, an alarm for the regulator.
    let r = ps
        .post("/PS/GenericStatistics/BusinessCount", &count(4, 2))
        .await;
    let v = ok(&r);
    let said = v
        .as_str()
        .unwrap_or_else(|| panic!("a Value saying the counts differ: {}", r.text));
    assert!(said.contains('4') && said.contains('3'), "{said}");
    let alarms = app.get(&reg, "/api/v1/regulator/alarms").await.expect(200);
    let items = alarms.body["items"].as_array().expect("items");
    let mismatch: Vec<&Value> = items
        .iter()
        .filter(|a| a["kind"] == "business_count_mismatch")
        .collect();
    assert_eq!(mismatch.len(), 1, "{}", alarms.text);
    assert_eq!(mismatch[0]["org_id"], json!(w.org));
    let r = app
        .get(&reg, "/api/v1/ps/business-counts")
        .await
        .expect(200);
    let docs = r.body["items"].as_array().expect("items");
    let fills: Vec<&Value> = docs
        .iter()
        .filter(|d| d["body"]["Type"] == 2 && d["org_id"] == json!(w.org))
        .collect();
    assert_eq!(fills.len(), 1, "{}", r.text);
    assert_eq!(fills[0]["state"], "mismatch");
    assert_eq!(fills[0]["body"]["Reported"], 4);
    assert_eq!(fills[0]["body"]["Received"], 3);
    assert_eq!(fills[0]["body"]["Year"], year);
    assert_eq!(fills[0]["body"]["Month"], month);

    // Bad months and types are named.
    let mut month13 = count(3, 2);
    month13["Month"] = json!(13);
    refused(
        &ps.post("/PS/GenericStatistics/BusinessCount", &month13)
            .await,
        "Month",
    );
    refused(
        &ps.post("/PS/GenericStatistics/BusinessCount", &count(3, 5))
            .await,
        "Type",
    );
    let mut no_count = count(3, 2);
    no_count.as_object_mut().unwrap().remove("Count");
    refused(
        &ps.post("/PS/GenericStatistics/BusinessCount", &no_count)
            .await,
        "Count",
    );
}

// ---------------------------------------------------------------------------------------------
// SM4 (G4)

#[tokio::test]
async fn an_account_with_an_sm4_key_sends_sealed_data_only() {
    // G4: sensitive data encrypted with SM4 (CBC, PKCS#7, random IV) in transit.
    use cyltrace_server::sm4::{Sm4Key, seal};
    const KEY: &str = "0123456789abcdeffedcba9876543210";
    let app = TestApp::spawn().await;
    let w = world(&app, "pssm4").await;
    let user = user_id(&app, "pssm4_platform").await;
    let ps = Ps::login(&app, "pssm4_platform").await;
    let key_url = app.url(&format!("/api/v1/ps/accounts/{user}/sm4-key"));

    // A malformed key is refused; an enterprise admin may not set keys.
    let r = send(
        app.client
            .put(&key_url)
            .bearer_auth(&app.admin)
            .json(&json!({"key": "0123"})),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = send(
        app.client
            .put(&key_url)
            .bearer_auth(&w.admin)
            .json(&json!({"key": KEY})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);

    let r = send(
        app.client
            .put(&key_url)
            .bearer_auth(&app.admin)
            .json(&json!({"key": KEY})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Plain data is refused now.
    let data: Value = serde_json::from_str(BEFORE_FILL).unwrap();
    refused(&ps.post("/PS/GenericTrace/BeforeFill", &data).await, "SM4");
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 0);

    // An envelope sealed with another key does not open.
    let other = Sm4Key::parse_hex("00112233445566778899aabbccddeeff").unwrap();
    let wrong = seal(&other, &data).unwrap();
    refused(
        &ps.post("/PS/GenericTrace/BeforeFill", &wrong).await,
        "Cipher",
    );
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 0);

    // The envelope {"Cipher","Iv"} (base64) with the account's key is opened and stored.
    let key = Sm4Key::parse_hex(KEY).unwrap();
    let sealed = seal(&key, &data).unwrap();
    assert!(sealed["Cipher"].is_string() && sealed["Iv"].is_string());
    assert!(!sealed.to_string().contains("张三"));
    assert_eq!(
        ps.post("/PS/GenericTrace/BeforeFill", &sealed).await.body,
        json!({"State": 0})
    );
    // A second envelope of the same data has another IV, and is the same record.
    let again = seal(&key, &data).unwrap();
    assert_ne!(again["Iv"], sealed["Iv"]);
    assert_ne!(again["Cipher"], sealed["Cipher"]);
    assert_eq!(
        ps.post_form("/PS/GenericTrace/BeforeFill", &again.to_string())
            .await
            .body,
        json!({"State": 0})
    );
    let pre = of_kind(&events(&app, &w.admin, C1).await, "pre_fill_check")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(pre.len(), 1);
    assert_eq!(
        pre[0]["data"],
        json!({"result": "fail", "remark": "瓶体变形"})
    );
    assert_eq!(pre[0]["operator"], "张三");
    assert_eq!(count_events(&app, &w.admin, &[C1, C2]).await, 2);

    // Another account (no key) sends plain data, and an envelope is refused there.
    let admin = Ps::login(&app, "pssm4_admin").await;
    refused(
        &admin.post("/PS/GenericTrace/BeforeFill", &sealed).await,
        "SM4",
    );

    // The key removed: plain again.
    let r = send(
        app.client
            .put(&key_url)
            .bearer_auth(&app.admin)
            .json(&json!({"key": null})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    ok(&ps
        .post(
            "/PS/GenericTrace/AfterFill",
            &check_batch(vec![json!({"Barcode": C2, "State": 0, "ThridId": 1})]),
        )
        .await);
}

// ---------------------------------------------------------------------------------------------
// Witnessing a lower node's ledger (cyltrace extension)

/// Waits for `app` to sign a checkpoint covering at least `size` entries.
async fn checkpoint_covering(app: &TestApp, size: u64) -> Value {
    for _ in 0..200 {
        let r = app.get(&app.admin, "/api/v1/ledger/checkpoint").await;
        if r.status == 200 && r.body["size"].as_u64() >= Some(size) {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covering {size} entries");
}

fn witness_body(cp: &Value, consistency: Value) -> Value {
    json!({"Text": cp["text"], "Signature": cp["signature"], "PublicKey": cp["public_key"],
           "Hash": "sm3", "Consistency": consistency, "Inclusion": []})
}

/// What the witness holds of the caller's ledger (`Value` of GET, a string holding JSON).
async fn witnessed(ps: &Ps) -> Value {
    let r = ps.get("/PS/Ledger/Checkpoint", &[]).await;
    let v = ok(&r);
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("Value should be a string holding JSON: {}", r.text));
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Records `n` more warehouse events at the lower node.
async fn record_at(lower: &TestApp, w: &World, n: usize, minute: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            event(
                "store_in",
                &[if i % 2 == 0 { C1 } else { C2 }],
                &format!("2026-11-20T09:{:02}:{:02}+08:00", minute, i),
                Some(w.warehouse),
                json!({"full": true}),
            )
        })
        .collect();
    lower.post_events(&w.admin, events).await.expect(201);
}

async fn tamper_alarms(app: &TestApp, reg: &str) -> usize {
    let r = app
        .get(reg, "/api/v1/regulator/alarms?kind=ledger_tamper")
        .await
        .expect(200);
    r.body["items"].as_array().expect("items").len()
}

/// Flips the last hex digit of `s`.
fn flip_last(s: &str) -> String {
    let mut b = s.to_owned();
    let last = b.pop().expect("non-empty");
    b.push(if last == '0' { '1' } else { '0' });
    b
}

#[tokio::test]
async fn the_witness_keeps_lower_checkpoints_and_alarms_on_tampering() {
    // G3/E2 extension: this node witnesses a lower node's checkpoints (signature + consistency).
    let upper = TestApp::spawn().await;
    let w = upper.enterprise("pswit").await;
    upper
        .user_token(&upper.admin, w.prefecture, "pswit_platform", &["platform"])
        .await;
    let reg = upper
        .user_token(&upper.admin, w.province, "pswit_reg", &["regulator"])
        .await;
    let ps = Ps::login(&upper, "pswit_platform").await;
    let held = witnessed(&ps).await;
    assert_eq!(held["Size"], 0, "{held}");
    assert!(held["Root"].is_null(), "{held}");

    // The lower node: its own server, events, a signed checkpoint.
    let lower = TestApp::spawn().await;
    let lw = lower.enterprise("lower").await;
    lower
        .post_cylinders(&lw.admin, vec![archive(C1, lw.org), archive(C2, lw.org)])
        .await
        .expect(201);
    record_at(&lower, &lw, 5, 0).await;
    let cp1 = checkpoint_covering(&lower, 5).await;
    let size1 = cp1["size"].as_u64().unwrap();
    ok(&ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp1, json!([])))
        .await);
    let held = witnessed(&ps).await;
    assert_eq!(held["Size"], size1, "{held}");
    assert_eq!(held["Root"], cp1["root"], "{held}");
    // The same checkpoint again (a retry) is fine.
    ok(&ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp1, json!([])))
        .await);
    assert_eq!(tamper_alarms(&upper, &reg).await, 0);

    // More at the lower node: the next checkpoint with its consistency proof.
    record_at(&lower, &lw, 4, 10).await;
    let cp2 = checkpoint_covering(&lower, size1 + 4).await;
    let size2 = cp2["size"].as_u64().unwrap();
    let proof = lower
        .get(
            &lower.admin,
            &format!("/api/v1/ledger/proof/consistency?old={size1}&new={size2}"),
        )
        .await
        .expect(200);
    let proof2 = proof.body["proof"].clone();
    assert!(!proof2.as_array().unwrap().is_empty());
    ok(&ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp2, proof2))
        .await);
    let held = witnessed(&ps).await;
    assert_eq!(held["Size"], size2, "{held}");
    assert_eq!(held["Root"], cp2["root"], "{held}");
    assert_eq!(tamper_alarms(&upper, &reg).await, 0);

    // A tampered signature: refused, and an alarm for the regulator.
    let mut forged = witness_body(&cp2, json!([]));
    forged["Signature"] = json!(flip_last(cp2["signature"].as_str().unwrap()));
    let r = ps.post("/PS/Ledger/Checkpoint", &forged).await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 1);
    // A text changed under a valid signature (a larger size claimed) is the same.
    let mut bent = witness_body(&cp2, json!([]));
    let text = cp2["text"].as_str().unwrap();
    bent["Text"] = json!(text.replacen(&format!("\n{size2}\n"), &format!("\n{}\n", size2 + 1), 1));
    assert_ne!(bent["Text"], cp2["text"]);
    let r = ps.post("/PS/Ledger/Checkpoint", &bent).await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 2);
    // A checkpoint validly signed by another key (this node's own): not the witnessed log.
    upper
        .post_cylinders(&w.admin, vec![archive(C1, w.org)])
        .await
        .expect(201);
    record_at(&upper, &w, 1, 0).await;
    let own = checkpoint_covering(&upper, 1).await;
    let r = ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&own, json!([])))
        .await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 3);

    // A valid newer checkpoint with a wrong consistency proof: empty, altered → refused + alarm.
    record_at(&lower, &lw, 3, 20).await;
    let cp3 = checkpoint_covering(&lower, size2 + 3).await;
    let size3 = cp3["size"].as_u64().unwrap();
    let r = ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp3, json!([])))
        .await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 4);
    let proof = lower
        .get(
            &lower.admin,
            &format!("/api/v1/ledger/proof/consistency?old={size2}&new={size3}"),
        )
        .await
        .expect(200);
    let good = proof.body["proof"].clone();
    let mut altered = good.clone();
    let first = altered[0].as_str().unwrap().to_owned();
    altered[0] = json!(flip_last(&first));
    let r = ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp3, altered))
        .await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 5);
    // A proof from the wrong size.
    let proof_from_1 = lower
        .get(
            &lower.admin,
            &format!("/api/v1/ledger/proof/consistency?old={size1}&new={size3}"),
        )
        .await
        .expect(200);
    let r = ps
        .post(
            "/PS/Ledger/Checkpoint",
            &witness_body(&cp3, proof_from_1.body["proof"].clone()),
        )
        .await;
    assert_eq!(r.body["State"], 1, "{}", r.text);
    assert_eq!(tamper_alarms(&upper, &reg).await, 6);
    let held = witnessed(&ps).await;
    assert_eq!(held["Size"], size2, "nothing refused is kept: {held}");

    // The alarms say what happened, for the regulator of the account's organisation.
    let r = upper
        .get(&reg, "/api/v1/regulator/alarms?kind=ledger_tamper")
        .await
        .expect(200);
    for a in r.body["items"].as_array().unwrap() {
        assert_eq!(a["org_id"], json!(w.prefecture));
        assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // An enterprise outside the prefecture's subtree does not see them.
    let outsider = upper.enterprise("pswitout").await;
    let r = upper
        .get(
            &outsider.admin,
            "/api/v1/regulator/alarms?kind=ledger_tamper",
        )
        .await
        .expect(200);
    assert_eq!(r.body["items"], json!([]));

    // The right proof is still accepted.
    ok(&ps
        .post("/PS/Ledger/Checkpoint", &witness_body(&cp3, good))
        .await);
    assert_eq!(witnessed(&ps).await["Size"], size3);
}

// ---------------------------------------------------------------------------------------------
// Defects found while writing these tests (fixed; kept as regressions)

#[tokio::test]
async fn file_upload_checks_the_ticket_before_the_multipart_body() {
    // E2: the ticket is checked before the body is read (401 with the envelope), and a body that
    // is not multipart is refused in the envelope too.
    let app = TestApp::spawn().await;
    world(&app, "psupl").await;
    let ps = Ps::login(&app, "psupl_platform").await;
    // E2: no ticket (and no file) → 401 with the envelope.
    let r = send(app.client.post(app.url("/PS/File/Upload"))).await;
    unauthorized(&r, "no ticket, no multipart body");
    let r = send(
        app.client
            .post(app.url("/PS/File/Upload"))
            .query(&[("token", "bogus")])
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    unauthorized(&r, "a bad ticket, no multipart body");
    // A valid ticket and a body that is not multipart: refused in the envelope.
    let r = send(
        ps.req(true, "/PS/File/Upload")
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert!(
        r.status == 400 || r.status == 200,
        "{} {}",
        r.status,
        r.text
    );
    assert_eq!(r.body["State"], 1, "the envelope: {}", r.text);
    assert!(r.body["Value"].is_string(), "the envelope: {}", r.text);
}

#[tokio::test]
async fn approving_a_new_cylinder_application_does_not_register_an_existing_archive() {
    // E2: an approval checks the archives again — a cylinder that got an archive (even another
    // enterprise's) after the application arrived is not registered, and nothing is recorded.
    let app = TestApp::spawn().await;
    let w = world(&app, "psappr").await;
    let reg = regulator(&app, &w, "psappr").await;
    let ps = Ps::login(&app, "psappr_admin").await;
    let images: [String; 3] = [
        ps.upload_image(PNG).await,
        ps.upload_image(GIF).await,
        ps.upload_image(JPEG).await,
    ];

    // E2 §7.1: a new cylinder applied for; meanwhile another enterprise files an archive of that code.
    let id = value_id(
        &ps.post(
            "/PS/BottleRegister/ApplyNew",
            &apply_body(
                1,
                &images,
                json!([{"Barcode": "1103007850", "Printno": "P1"}]),
            ),
        )
        .await,
    );
    let w2 = other_enterprise(&app, &w).await;
    app.post_cylinders(&w2.admin, vec![archive("1103007850", w2.org)])
        .await
        .expect(201);
    let r = app
        .post(
            &reg,
            &format!("/api/v1/ps/applications/{id}/approve"),
            &json!({}),
        )
        .await;
    assert!(
        r.status == 409 || r.status == 422,
        "approving registers another enterprise's cylinder: {} {}",
        r.status,
        r.text
    );
    assert!(
        of_kind(&events(&app, &w2.admin, "1103007850").await, "register").is_empty(),
        "a register event on another enterprise's cylinder"
    );
    let c = app
        .get(&w2.admin, "/api/v1/cylinders/1103007850")
        .await
        .expect(200);
    assert_eq!(c.body["registration"]["number"], "553001000001");

    // The same enterprise applying twice for one new cylinder: the second approval is refused too.
    let a1 = value_id(
        &ps.post(
            "/PS/BottleRegister/ApplyNew",
            &apply_body(
                2,
                &images,
                json!([{"Barcode": "1103007851", "Printno": "P1"}]),
            ),
        )
        .await,
    );
    let a2 = value_id(
        &ps.post(
            "/PS/BottleRegister/ApplyNew",
            &apply_body(
                3,
                &images,
                json!([{"Barcode": "1103007851", "Printno": "P2"}]),
            ),
        )
        .await,
    );
    app.post(
        &reg,
        &format!("/api/v1/ps/applications/{a1}/approve"),
        &json!({}),
    )
    .await
    .expect(200);
    let r = app
        .post(
            &reg,
            &format!("/api/v1/ps/applications/{a2}/approve"),
            &json!({}),
        )
        .await;
    assert!(
        r.status == 409 || r.status == 422,
        "a second registration of one new cylinder: {} {}",
        r.status,
        r.text
    );
    assert_eq!(
        of_kind(&events(&app, &w.admin, "1103007851").await, "register").len(),
        1
    );
}

#[tokio::test]
async fn an_empty_batch_is_refused_and_an_unknown_path_is_404() {
    // E2: "至少需要一条记录"; an unknown /PS path answers 404 in the envelope.
    let app = TestApp::spawn().await;
    world(&app, "psempty").await;
    let ps = Ps::login(&app, "psempty_platform").await;
    let r = ps
        .post(
            "/PS/GenericTrace/BeforeFill",
            &json!({"Items": [], "Man": {"Name": "张三"}}),
        )
        .await;
    refused(&r, "Items");
    let r = ps.post("/PS/GenericTrace/Teleport", &json!({})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["State"], 1, "{}", r.text);
}
