//! The web consoles (issue 8): browser sessions with CSRF, pages per role and data scope, and the
//! supervision figures of UI.md checked against the events that make them (E4, E5).

use cyltrace_testkit::{PASSWORD, TestApp, World, archive, event, id_number, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

mod common;
use common::{HEADERS, csv_file, row};

/// A browser: follows no redirects, keeps the cookies it is given.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: String,
    set_cookie: Vec<String>,
    text: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let r = req
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let set_cookie: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookie {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let text = r.text().await.expect("body");
        Page {
            status,
            location,
            set_cookie,
            text,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = hidden(&form.text, "_csrf");
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("_csrf", &csrf),
                ("next", ""),
            ],
        )
        .await
    }

    /// The CSRF token of the session, as the pages carry it.
    async fn csrf(&mut self) -> String {
        let r = self.get("/api/v1/session").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v: Value = serde_json::from_str(&r.text).expect("json");
        v["csrf"].as_str().expect("csrf").to_owned()
    }
}

fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let i = html.find(&pat).expect("hidden field") + pat.len();
    html[i..].split('"').next().unwrap_or("").to_owned()
}

/// The value shown in the figure card `key` of a page.
fn figure(html: &str, key: &str) -> String {
    let pat = format!("data-figure=\"{key}\"><span class=\"v\">");
    let i = html
        .find(&pat)
        .unwrap_or_else(|| panic!("figure {key} on the page"))
        + pat.len();
    html[i..].split('<').next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn sessions_need_csrf_for_every_write_and_end_at_logout() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ss").await;
    app.user_token(&app.admin, w.org, "ss_keeper", &["warehouse"])
        .await;
    let mut b = Browser::new(&app);

    // Pages without a session go to the login page, keeping where they were going.
    let r = b.get("/console/cylinders?q=1").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/login?next=%2Fconsole%2Fcylinders%3Fq%3D1");

    // A login form posted without the token of the form page is refused (login CSRF).
    let mut forged = Browser::new(&app);
    let r = forged
        .post_form(
            "/login",
            &[
                ("username", "ss_admin"),
                ("password", PASSWORD),
                ("_csrf", "0123456789abcdef0123456789abcdef"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(!forged.cookies.contains_key("cyltrace_session"));

    // `next` must be a path on this site: a tab (browsers drop it) must not turn `/\t/x` into `//x`.
    let mut evil = Browser::new(&app);
    let form = evil.get("/login?next=/%09/evil.example").await;
    assert_eq!(hidden(&form.text, "next"), "", "{}", form.text);
    let csrf = hidden(&form.text, "_csrf");
    let r = evil
        .post_form(
            "/login",
            &[
                ("username", "ss_admin"),
                ("password", PASSWORD),
                ("_csrf", &csrf),
                ("next", "/\t/evil.example"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location.as_str()), (303, "/console"));
    // A period outside the calendar is a clear error, not a crash.
    let far = app
        .get(&app.admin, "/api/v1/supervision?to=%2B262142-12-31")
        .await;
    assert_eq!(far.status, 422, "{}", far.text);

    // A wrong password: the form again with the reason, in Chinese.
    let r = b.login("ss_admin", "wrong-password1").await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("用户名或密码错误"), "{}", r.text);

    // The right one: an HttpOnly, SameSite=Strict session cookie and the role's home page.
    let r = b.login("ss_admin", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.location, "/console");
    let session = r
        .set_cookie
        .iter()
        .find(|c| c.starts_with("cyltrace_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let home = b.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.text.contains("企业总览"), "{}", home.text);

    // The JSON API accepts the cookie for reads; a write needs the X-CSRF-Token header.
    let csrf = b.csrf().await;
    let body = json!({"cylinders": [archive("6100000001", w.org)]});
    let req = b
        .client
        .post(format!("{}/api/v1/cylinders", app.base))
        .json(&body);
    let r = b.send(req).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("CSRF"), "{}", r.text);
    let req = b
        .client
        .post(format!("{}/api/v1/cylinders", app.base))
        .header("x-csrf-token", "0".repeat(32))
        .json(&body);
    assert_eq!(b.send(req).await.status, 403);
    assert_eq!(
        app.get(&w.admin, "/api/v1/cylinders/6100000001")
            .await
            .status,
        404
    );
    let req = b
        .client
        .post(format!("{}/api/v1/cylinders", app.base))
        .header("x-csrf-token", &csrf)
        .json(&body);
    let r = b.send(req).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Page forms are checked the same way (here: logging out).
    let r = b.post_form("/logout", &[("_csrf", "nope")]).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        b.get("/api/v1/session").await.status,
        200,
        "still signed in"
    );
    let stolen = b.cookies.get("cyltrace_session").cloned().expect("cookie");
    let r = b.post_form("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/login"));
    // The token itself is dead, not only the cookie cleared.
    let mut thief = Browser::new(&app);
    thief.cookies.insert("cyltrace_session".to_owned(), stolen);
    assert_eq!(thief.get("/api/v1/session").await.status, 401);
    assert_eq!(thief.get("/console").await.status, 303);

    // Logins through the form are audited like the API's.
    let audit = app
        .get(&app.admin, "/api/v1/audit?limit=200")
        .await
        .expect(200);
    let paths: Vec<(String, i64)> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap_or("").to_owned(),
                a["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    for expected in [
        ("/login", 401),
        ("/login", 303),
        ("/logout", 303),
        ("/api/v1/cylinders", 201),
    ] {
        assert!(
            paths
                .iter()
                .any(|(p, s)| p == expected.0 && *s == expected.1),
            "{expected:?} in {paths:?}"
        );
    }

    // Each role lands on its own home page.
    let mut k = Browser::new(&app);
    assert_eq!(k.login("ss_keeper", PASSWORD).await.location, "/app/");
    assert_eq!(k.get("/app/").await.status, 200);
    // A keeper has no console pages.
    assert_eq!(k.get("/console").await.status, 403);
}

async fn regulator(app: &TestApp, w: &World, name: &str) -> String {
    app.user_token(&app.admin, w.prefecture, name, &["regulator"])
        .await
}

fn with(mut a: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().expect("object") {
        a[k] = v.clone();
    }
    a
}

/// The codes of a listing (`{"count", "items"}`), checking the count.
fn codes(v: &Value) -> Vec<String> {
    assert_eq!(
        v["count"].as_u64(),
        v["items"].as_array().map(|a| a.len() as u64),
        "{v}"
    );
    let mut c: Vec<String> = v["items"]
        .as_array()
        .expect("array")
        .iter()
        .map(|l| l["code"].as_str().expect("code").to_owned())
        .collect();
    c.sort();
    c
}

/// E4/E5: every supervision figure from a small set of cylinders whose events make it.
#[tokio::test]
async fn supervision_figures_match_the_events() {
    let app = TestApp::spawn().await;
    // 2026-11-21 14:00 China time; the period is November 2026.
    app.set_now("2026-11-21T06:00:00Z".parse().expect("time"));
    let w = app.enterprise("sv").await;
    let reg = regulator(&app, &w, "sv_regulator").await;
    let other = app.enterprise("xx").await;
    let other_reg = regulator(&app, &other, "xx_regulator").await;
    app.post_cylinders(&other.admin, vec![archive("7100000001", other.org)])
        .await
        .expect(201);

    let a = |code: &str, f: Value| with(archive(code, w.org), f);
    app.post_cylinders(
        &w.admin,
        vec![
            // A: next inspection in 19 days — pending inspection.
            a("5100000001", json!({"next_check_date": "2026-12-10"})),
            // B: inspection overdue since 1 November.
            a("5100000002", json!({"next_check_date": "2026-11-01"})),
            // C: discard date in 55 days — pending scrap.
            a(
                "5100000003",
                json!({"next_check_date": "2027-06-01", "discard_date": "2027-01-15"}),
            ),
            // D: past its discard date, still active — abnormal.
            a(
                "5100000004",
                json!({"next_check_date": "2027-06-01", "discard_date": "2026-10-01"}),
            ),
            // E: scrapped — not active.
            a(
                "5100000005",
                json!({"next_check_date": "2028-06-01", "last_check_date": "2026-06-01"}),
            ),
            // F: nothing due.
            a(
                "5100000006",
                json!({"next_check_date": "2028-06-01", "last_check_date": "2026-06-01"}),
            ),
        ],
    )
    .await
    .expect(201);
    let cust = app
        .post(
            &w.admin,
            "/api/v1/customers",
            &json!({"kind": "residential", "name": "张三", "id_number": id_number("53010219850615123"),
                    "phone": "13800001234", "addresses": [{"address": "昆明市五华区人民中路 1 号", "label": "家"}]}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let t = |hh: u32| format!("2026-11-21T{hh:02}:00:00Z");
    let fill = |code: &str, hh: u32| {
        let mut d = sample_data("fill");
        d["begin"] = json!(t(hh));
        d["end"] = json!(format!("2026-11-21T{hh:02}:03:00Z"));
        event(
            "fill",
            &[code],
            &format!("2026-11-21T{hh:02}:03:00Z"),
            Some(w.station),
            d,
        )
    };
    // Decisions first (the clock stands at 06:00): B refused (B1.4), E scrapped (B1.6), a code
    // that is no cylinder (A8, illegal label).
    let fc = |code: &str| json!({"code": code, "site_id": w.station, "medium": "液化石油气"});
    app.set_now("2026-11-21T00:30:00Z".parse().expect("time"));
    let scrap = event("scrap", &["5100000005"], &t(0), None, sample_data("scrap"));
    app.post_events(&w.admin, vec![scrap]).await.expect(201);
    let r = app
        .post(&w.filler, "/api/v1/fill-control", &fc("5100000002"))
        .await
        .expect(200);
    assert_eq!(r.body["allow"], json!(false));
    let r = app
        .post(&w.filler, "/api/v1/fill-control", &fc("5100000005"))
        .await
        .expect(200);
    assert!(r.text.contains("B1.6"), "{}", r.text);
    app.post(&w.filler, "/api/v1/fill-control", &fc("5199999999"))
        .await
        .expect(200);
    app.set_now("2026-11-21T06:00:00Z".parse().expect("time"));
    // B filled anyway after its refusal (refusal overridden, overdue filled); A and F filled and
    // delivered (A to a customer, F to a dealer); F comes back empty; C fails a pre-fill check.
    let mut pre = sample_data("pre_fill_check");
    pre["no_corrosion"] = json!(false);
    app.post_events(
        &w.filler,
        vec![
            fill("5100000002", 1),
            fill("5100000001", 1),
            fill("5100000006", 1),
            event(
                "pre_fill_check",
                &["5100000003"],
                &t(1),
                Some(w.station),
                pre,
            ),
        ],
    )
    .await
    .expect(201);
    app.post_events(
        &w.admin,
        vec![
            event(
                "deliver",
                &["5100000001"],
                &t(2),
                None,
                json!({"customer_id": cust}),
            ),
            event("deliver", &["5100000006"], &t(2), None, json!({})),
            event("recycle", &["5100000006"], &t(3), None, json!({})),
            // Recorded four days after it happened: a late upload.
            event(
                "tag_bind",
                &["5100000003"],
                "2026-11-17T01:00:00Z",
                None,
                sample_data("tag_bind"),
            ),
        ],
    )
    .await
    .expect(201);
    // A is at the customer and has not come back: filling it again is a circulation gap (B1.9).
    let r = app
        .post(&w.filler, "/api/v1/fill-control", &fc("5100000001"))
        .await
        .expect(200);
    assert!(r.text.contains("B1.9"), "{}", r.text);

    // A complaint from the public about A, upheld by the regulator through the console.
    let mut public = Browser::new(&app);
    let form = public.get("/q/5100000001/complaint").await;
    assert_eq!(form.status, 200, "{}", form.text);
    let pre = hidden(&form.text, "_csrf");
    let r = public
        .post_form(
            "/q/5100000001/complaint",
            &[
                ("_csrf", &pre),
                ("content", "气瓶阀门漏气，送气工未做安检"),
                ("phone", "13912345678"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Without the form's token nothing is stored.
    let r = Browser::new(&app)
        .post_form(
            "/q/5100000001/complaint",
            &[("_csrf", &pre), ("content", "伪造的投诉内容")],
        )
        .await;
    assert_eq!(r.status, 422);
    let mut rb = Browser::new(&app);
    rb.login("sv_regulator", PASSWORD).await;
    let list = rb.get("/supervision/complaints").await;
    assert!(
        list.text.contains("气瓶阀门漏气") && list.text.contains("139****5678"),
        "{}",
        list.text
    );
    assert!(!list.text.contains("伪造"), "{}", list.text);
    assert!(!list.text.contains("13912345678"));
    let action = list
        .text
        .split("action=\"")
        .find(|s| s.contains("verdict=upheld"))
        .and_then(|s| s.split('"').next())
        .expect("uphold button")
        .replace("&amp;", "&");
    let csrf = rb.csrf().await;
    let r = rb.post_form(&action, &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, 303, "{}", r.text);

    // The figures.
    let s = app.get(&reg, "/api/v1/supervision").await.expect(200).body;
    assert_eq!(s["total"], json!(6), "{s}");
    assert_eq!(s["active"], json!(5), "E is scrapped: {s}");
    assert_eq!(codes(&s["inspection_soon"]), ["5100000001"]);
    assert_eq!(codes(&s["inspection_overdue"]), ["5100000002"]);
    assert_eq!(codes(&s["scrap_soon"]), ["5100000003"]);
    assert_eq!(codes(&s["scrap_past"]), ["5100000004"]);
    assert_eq!(
        codes(&s["overdue_used"]),
        ["5100000002"],
        "B was filled while overdue"
    );
    assert_eq!(s["scrapped_scanned"], json!(1));
    // The unknown code, and the scrapped cylinder's void label (A8 with B1.6).
    assert_eq!(s["illegal_labels"], json!(2));
    assert_eq!(s["circulation_gaps"], json!(1));
    assert_eq!(s["delivered"], json!(2));
    assert_eq!(s["recycled"], json!(1));
    assert_eq!(
        s["in_use"],
        json!([{"county": "五华区（530102）", "org": "sv燃气", "cylinders": 1}]),
        "A is at the customer"
    );
    assert_eq!(s["enterprises"].as_array().map(Vec::len), Some(1), "{s}");
    let e = &s["enterprises"][0];
    assert_eq!(e["name"], json!("sv燃气"));
    assert_eq!(
        (
            e["cylinders"].clone(),
            e["ok"].clone(),
            e["overdue"].clone()
        ),
        (json!(6), json!(3), json!(1))
    );
    assert_eq!(
        (e["expired"].clone(), e["scrapped"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(e["fills"], json!(3));
    assert_eq!(
        e["refusals"],
        json!(4),
        "B, E, the unknown code and A's gap"
    );
    assert_eq!(e["recycling_rate"], json!(0.5));
    assert_eq!(
        e["credit_counts"],
        json!({"refusals_overridden": 1, "late_uploads": 1, "overdue_filled": 1, "complaints_upheld": 1})
    );
    // 100 − 10 − 1 − 5 − 5 with the default weights.
    assert_eq!(
        (e["credit_score"].clone(), e["credit_grade"].clone()),
        (json!(79.0), json!("B"))
    );

    // Statistics: this month's bucket.
    let st = app
        .get(&reg, "/api/v1/supervision/statistics?g=month&n=2")
        .await
        .expect(200)
        .body;
    let b = &st["buckets"][1];
    assert_eq!(b["label"], json!("2026-11"), "{st}");
    assert_eq!(
        (
            b["fills"].clone(),
            b["delivered"].clone(),
            b["recycled"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );
    assert_eq!(
        (b["refusals"].clone(), b["checks_failed"].clone()),
        (json!(4), json!(1))
    );
    assert_eq!(b["refusals_by_rule"]["B1.6"], json!(1), "{b}");
    assert_eq!(st["buckets"][0]["label"], json!("2026-10"));
    assert_eq!(st["buckets"][0]["fills"], json!(0));
    let q = app
        .get(&reg, "/api/v1/supervision/statistics?g=quarter&n=1")
        .await
        .expect(200)
        .body;
    assert_eq!(q["buckets"][0]["label"], json!("2026Q4"));
    assert_eq!(q["buckets"][0]["fills"], json!(3));
    app.get(&reg, "/api/v1/supervision/statistics?g=week")
        .await
        .expect(422);

    // Another period: October has none of these events.
    let oct = app
        .get(&reg, "/api/v1/supervision?from=2026-10-01&to=2026-10-31")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (oct["delivered"].clone(), oct["illegal_labels"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(oct["enterprises"][0]["credit_grade"], json!("A"));
    app.get(&reg, "/api/v1/supervision?from=2026-11-30&to=2026-11-01")
        .await
        .expect(422);

    // Scope: the other region's regulator sees only its own cylinder.
    let o = app
        .get(&other_reg, "/api/v1/supervision")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (o["total"].clone(), o["delivered"].clone()),
        (json!(1), json!(0))
    );

    // The pages show the same numbers.
    let overview = rb.get("/supervision").await;
    assert_eq!(overview.status, 200);
    for (key, value) in [
        ("total", "6"),
        ("active", "5"),
        ("inspection_soon", "1"),
        ("inspection_overdue", "1"),
        ("scrap_soon", "1"),
        ("scrap_past", "1"),
        ("recycling_rate", "50.0%"),
        ("in_use", "1"),
    ] {
        assert_eq!(figure(&overview.text, key), value, "{key}");
    }
    let abnormal = rb.get("/supervision/abnormal").await;
    assert_eq!(figure(&abnormal.text, "illegal_labels"), "2");
    assert!(abnormal.text.contains("5100000002"));
    let credit = rb.get("/supervision/enterprises").await;
    assert!(credit.text.contains("B（79 分）"), "{}", credit.text);
    let stats = rb.get("/supervision/statistics?g=quarter").await;
    assert!(stats.text.contains("<svg") && stats.text.contains("2026Q4"));
    assert!(
        rb.get("/supervision/map")
            .await
            .text
            .contains("五华区（530102）")
    );
    let big = rb.get("/bigscreen").await;
    assert_eq!(big.status, 200);
    assert!(big.text.contains("http-equiv=\"refresh\""));
    assert_eq!(figure(&big.text, "inspection_overdue"), "1");
}

/// No console page shows another organisation's data, and each page needs its role.
#[tokio::test]
async fn pages_respect_roles_and_data_scope() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("pa").await;
    let other = app.enterprise("pb").await;
    app.user_token(&app.admin, w.prefecture, "pa_regulator", &["regulator"])
        .await;
    app.post_cylinders(&w.admin, vec![archive("5200000001", w.org)])
        .await
        .expect(201);
    app.post_cylinders(&other.admin, vec![archive("5300000001", other.org)])
        .await
        .expect(201);
    let mut a = Browser::new(&app);
    a.login("pa_admin", PASSWORD).await;
    let own = a.get("/console/cylinders/5200000001").await;
    assert_eq!(own.status, 200);
    assert!(own.text.contains("全程追溯"));
    let theirs = a.get("/console/cylinders/5300000001").await;
    assert_eq!(theirs.status, 403, "{}", theirs.text);
    assert!(!theirs.text.contains("1260419"));
    // Every page of the enterprise menu renders for its admin.
    let home = a.get("/console").await.text;
    let pages: Vec<String> = home
        .split("<a href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("/console"))
        .map(str::to_owned)
        .collect();
    assert!(pages.len() >= 15, "{pages:?}");
    for p in &pages {
        let r = a.get(p).await;
        assert_eq!(r.status, 200, "{p}: {}", r.text);
        assert!(!r.text.contains("class=\"error\""), "{p}");
    }
    let list = a.get("/console/cylinders").await;
    assert!(list.text.contains("5200000001") && !list.text.contains("5300000001"));
    for page in [
        "/supervision",
        "/supervision/map",
        "/bigscreen",
        "/admin/audit",
    ] {
        assert_eq!(a.get(page).await.status, 403, "{page}");
    }
    // The regulator reaches the supervision pages and its region's cylinders, not the other's.
    let mut r = Browser::new(&app);
    assert_eq!(
        r.login("pa_regulator", PASSWORD).await.location,
        "/supervision"
    );
    // Every page of the regulator's menu renders.
    let home = r.get("/supervision").await.text;
    let pages: Vec<String> = home
        .split("<a href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("/supervision") || h.starts_with("/bigscreen"))
        .map(str::to_owned)
        .collect();
    assert!(pages.len() >= 17, "{pages:?}");
    for p in &pages {
        let page = r.get(p).await;
        assert_eq!(page.status, 200, "{p}: {}", page.text);
        assert!(!page.text.contains("class=\"error\""), "{p}");
    }
    assert_eq!(r.get("/console/cylinders/5200000001").await.status, 200);
    assert_eq!(r.get("/console/cylinders/5300000001").await.status, 403);
    assert_eq!(
        r.get("/console/orders").await.status,
        403,
        "enterprise pages"
    );
    // Posting a message to an enterprise outside the region is refused and stores nothing.
    let csrf = r.csrf().await;
    let other_org = other.org.to_string();
    let sent = r
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("org_id", &other_org),
                ("title", "检查通知"),
                ("content", "请自查"),
            ],
        )
        .await;
    assert_eq!(sent.status, 403);
    let own_org = w.org.to_string();
    let sent = r
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("org_id", &own_org),
                ("title", "检查通知"),
                ("content", "请于本周自查超期气瓶"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303);
    // The enterprise signs it off; the other enterprise never sees it.
    let inbox = a.get("/console/messages").await;
    assert!(inbox.text.contains("请于本周自查超期气瓶"));
    let ack = inbox
        .text
        .split("action=\"")
        .find(|s| s.starts_with("/console/messages/"))
        .and_then(|s| s.split('"').next())
        .expect("sign-off button")
        .to_owned();
    let csrf_a = a.csrf().await;
    assert_eq!(a.post_form(&ack, &[("_csrf", &csrf_a)]).await.status, 303);
    assert!(r.get("/supervision/messages").await.text.contains("已签收"));
    let mut b = Browser::new(&app);
    b.login("pb_admin", PASSWORD).await;
    assert!(!b.get("/console/messages").await.text.contains("自查"));
    let id = ack
        .trim_start_matches("/console/messages/")
        .trim_end_matches("/ack")
        .parse::<Uuid>()
        .expect("id");
    let csrf_b = b.csrf().await;
    assert_eq!(
        b.post_form(
            &format!("/console/messages/{id}/ack"),
            &[("_csrf", &csrf_b)]
        )
        .await
        .status,
        403
    );
}

/// A multipart body of `_csrf` and one file, as a browser sends the import form.
fn upload(csrf: &str, name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----cyltrace-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_upload(b: &mut Browser, csrf: &str, bytes: &[u8]) -> Page {
    let (ct, body) = upload(csrf, "档案.csv", bytes);
    let req = b
        .client
        .post(format!("{}/console/imports", b.base))
        .header("content-type", ct)
        .body(body);
    b.send(req).await
}

/// The job page, once the job has ended (it reloads itself while running).
async fn finished_job(b: &mut Browser, path: &str) -> String {
    for _ in 0..200 {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{}", p.text);
        if !p.text.contains("http-equiv=\"refresh\"") {
            return p.text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import job at {path} did not end");
}

/// A6 from the console: the upload form starts the same all-or-nothing import job as the API.
#[tokio::test]
async fn the_console_imports_archives_from_an_uploaded_file() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("im").await;
    let mut b = Browser::new(&app);
    b.login("im_admin", PASSWORD).await;
    let form = b.get("/console/imports").await;
    assert!(
        form.text.contains("enctype=\"multipart/form-data\""),
        "{}",
        form.text
    );
    let csrf = hidden(&form.text, "_csrf");
    let good = csv_file(
        HEADERS,
        &[row("5400000001", w.org), row("5400000002", w.org)],
    );

    // Without the session's CSRF token: refused, no job.
    let r = post_upload(&mut b, "forged", &good).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        app.get(&w.admin, "/api/v1/cylinders/5400000001")
            .await
            .status,
        404
    );

    let r = post_upload(&mut b, &csrf, &good).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(
        r.location.starts_with("/console/imports/"),
        "{}",
        r.location
    );
    let done = finished_job(&mut b, &r.location).await;
    assert!(done.contains("导入完成"), "{done}");
    assert_eq!(figure(&done, "inserted"), "2");
    app.get(&w.admin, "/api/v1/cylinders/5400000002")
        .await
        .expect(200);

    // A bad row: the page names the row, the column and the reason; nothing of the file is stored.
    let mut bad = row("5400000004", w.org);
    bad[16] = "2026-13-45".to_owned();
    let file = csv_file(HEADERS, &[row("5400000003", w.org), bad]);
    let r = post_upload(&mut b, &csrf, &file).await;
    let failed = finished_job(&mut b, &r.location).await;
    assert!(failed.contains("导入未完成"), "{failed}");
    assert!(
        failed.contains("下次检验日期") && failed.contains("<td class=\"num\">3</td>"),
        "{failed}"
    );
    assert_eq!(
        app.get(&w.admin, "/api/v1/cylinders/5400000003")
            .await
            .status,
        404
    );
    // The jobs list shows both.
    let list = b.get("/console/imports").await;
    assert_eq!(
        list.text.matches("<td>csv</td>").count(),
        2,
        "{}",
        list.text
    );

    // Another enterprise cannot open these jobs.
    let _ = app.enterprise("iz").await;
    let mut z = Browser::new(&app);
    z.login("iz_admin", PASSWORD).await;
    assert_eq!(z.get(&r.location).await.status, 403);
}

// Issue 16: master data through the pages. A licence renewed (a date that does not exist comes back
// with the reason next to its field), a site closed, a cylinder locked and unlocked, and a
// regulator's entrusted-filling permission, each seen on the next page.
#[tokio::test]
async fn master_data_changes_through_the_pages() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("md").await;
    let owner = common::enterprise_under(&app, "mdo", w.province, w.prefecture).await;
    const CODE: &str = "5400000001";
    app.post_cylinders(&w.admin, vec![archive(CODE, w.org)])
        .await
        .expect(201);
    let mut a = Browser::new(&app);
    a.login("md_admin", PASSWORD).await;
    let page = a.get("/console/org").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("登记或续期许可证"));
    let csrf = a.csrf().await;
    let licence = format!("/console/org/{}/licence", w.org);
    let bad = a
        .post_form(
            &licence,
            &[
                ("_csrf", &csrf),
                ("kind", "filling"),
                ("number", "TS4253001-2031"),
                ("valid_until", "2031-02-30"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert!(
        bad.text.contains("class=\"field-error\"") && bad.text.contains("TS4253001-2031"),
        "the form comes back filled in, the reason next to the date: {}",
        bad.text
    );
    let ok = a
        .post_form(
            &licence,
            &[
                ("_csrf", &csrf),
                ("kind", "filling"),
                ("number", "TS4253001-2031"),
                ("valid_until", "2031-12-31"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let page = a.get("/console/org").await;
    assert!(page.text.contains("2031-12-31") && page.text.contains("TS4253001-2031"));
    // Without the CSRF token nothing changes.
    let forged = a
        .post_form(
            &licence,
            &[
                ("kind", "filling"),
                ("number", "X"),
                ("valid_until", "2032-01-01"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);

    // A site closed is shown as closed.
    let closed = a
        .post_form(
            &format!("/console/sites/{}/active", w.station),
            &[("_csrf", &csrf), ("active", "false")],
        )
        .await;
    assert_eq!(closed.status, 303, "{}", closed.text);
    assert!(a.get("/console/sites").await.text.contains("已关闭"));

    // A cylinder locked with a reason: the public page says 已停用; unlocked it does not.
    let state = format!("/console/cylinders/{CODE}/state");
    let locked = a
        .post_form(
            &state,
            &[
                ("_csrf", &csrf),
                ("state", "locked"),
                ("reason", "阀门损坏"),
            ],
        )
        .await;
    assert_eq!(locked.status, 303, "{}", locked.text);
    assert!(a.get(&format!("/q/{CODE}")).await.text.contains("已停用"));
    assert!(
        a.get(&format!("/console/cylinders/{CODE}"))
            .await
            .text
            .contains("恢复使用")
    );
    let no_reason = a
        .post_form(
            &state,
            &[("_csrf", &csrf), ("state", "normal"), ("reason", "")],
        )
        .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.text);
    a.post_form(
        &state,
        &[
            ("_csrf", &csrf),
            ("state", "normal"),
            ("reason", "更换阀门"),
        ],
    )
    .await;
    assert!(!a.get(&format!("/q/{CODE}")).await.text.contains("已停用"));

    // A regulator grants entrusted filling; the list shows it in force.
    app.user_token(&app.admin, w.prefecture, "md_reg", &["regulator"])
        .await;
    let mut r = Browser::new(&app);
    r.login("md_reg", PASSWORD).await;
    assert_eq!(r.get("/supervision/permissions").await.status, 200);
    let csrf = r.csrf().await;
    let until = (app.state.now() + chrono::Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    let granted = r
        .post_form(
            "/supervision/permissions",
            &[
                ("_csrf", &csrf),
                ("owner_org_id", &owner.org.to_string()),
                ("filler_org_id", &w.org.to_string()),
                ("valid_until", &until),
            ],
        )
        .await;
    assert_eq!(granted.status, 303, "{}", granted.text);
    let list = r.get("/supervision/permissions").await.text;
    assert!(list.contains("mdo燃气") && list.contains(&until) && list.contains("有效"));
}
