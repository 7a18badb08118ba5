//! Data scope (G1), roles, the audit log (G2) and login lock-out (G5), over HTTP.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

mod common;

use chrono::Utc;
use common::*;
use cyltrace_testkit::{
    ADMIN, ADMIN_PASSWORD, PASSWORD, Resp, TestApp, archive, event, sample_data,
};
use serde_json::{Value, json};

const A_CODE: &str = "1103007831";
const B_CODE: &str = "2203007831";

// G1: an enterprise sees only its own subtree; a regulator sees the enterprises under it.
#[tokio::test]
async fn enterprises_do_not_see_each_other() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("a").await;
    // B under the same prefecture as A: siblings.
    let b = enterprise_under(&app, "b", a.province, a.prefecture).await;
    app.post_cylinders(&a.admin, vec![archive(A_CODE, a.org)])
        .await
        .expect(201);
    app.post_cylinders(&b.admin, vec![archive(B_CODE, b.org)])
        .await
        .expect(201);
    let b_event = event(
        "pre_fill_check",
        &[B_CODE],
        &ago(30),
        Some(b.station),
        sample_data("pre_fill_check"),
    );
    let b_event_id = b_event["id"].as_str().expect("id").to_owned();
    app.post_events(&b.filler, vec![b_event]).await.expect(201);
    let b_admin_id = me(&app, &b.admin).await;
    let a_admin_id = me(&app, &a.admin).await;

    // G1: 403 on every read of B's data.
    for path in [
        format!("/api/v1/cylinders/{B_CODE}"),
        format!("/api/v1/cylinders/{B_CODE}/events"),
        format!("/api/v1/sites/{}", b.station),
        format!("/api/v1/orgs/{}", b.org),
        format!("/api/v1/users/{b_admin_id}"),
        format!("/api/v1/events/{b_event_id}"),
    ] {
        problem(app.get(&a.admin, &path).await, 403, None);
        problem(app.get(&a.filler, &path).await, 403, None);
        // B reads it.
        app.get(&b.admin, &path).await.expect(200);
    }
    problem(
        app.get(&b.admin, &format!("/api/v1/users/{a_admin_id}"))
            .await,
        403,
        None,
    );

    // G1: an event on B's cylinder is refused, and nothing is stored.
    let foreign = event("deliver", &[B_CODE], &ago(10), None, sample_data("deliver"));
    let foreign_id = foreign["id"].as_str().expect("id").to_owned();
    problem(app.post_events(&a.admin, vec![foreign]).await, 403, None);
    // Mixed with an event of its own: the whole batch is refused.
    let own = event(
        "tag_bind",
        &[A_CODE],
        &ago(10),
        None,
        sample_data("tag_bind"),
    );
    let own_id = own["id"].as_str().expect("id").to_owned();
    let foreign2 = event(
        "tag_bind",
        &[B_CODE],
        &ago(10),
        None,
        sample_data("tag_bind"),
    );
    problem(
        app.post_events(&a.admin, vec![own, foreign2]).await,
        403,
        None,
    );
    // B's site on A's cylinder is refused too.
    problem(
        app.post_events(
            &a.admin,
            vec![event(
                "pre_fill_check",
                &[A_CODE],
                &ago(10),
                Some(b.station),
                sample_data("pre_fill_check"),
            )],
        )
        .await,
        403,
        None,
    );
    assert_eq!(events_of(&app, &b.admin, B_CODE).await.len(), 1);
    assert!(events_of(&app, &a.admin, A_CODE).await.is_empty());
    for id in [&foreign_id, &own_id] {
        problem(
            app.get(&app.admin, &format!("/api/v1/events/{id}")).await,
            404,
            None,
        );
    }
    // A cannot create archives, sites or users for B either.
    problem(
        app.post_cylinders(&a.admin, vec![archive("2203007899", b.org)])
            .await,
        403,
        None,
    );
    problem(
        app.post(
            &a.admin,
            "/api/v1/sites",
            &json!({"org_id": b.org, "kind": "store", "name": "门店"}),
        )
        .await,
        403,
        None,
    );
    problem(
        app.post(
            &a.admin,
            "/api/v1/users",
            &json!({"username": "b_spy", "password": PASSWORD, "name": "间谍", "org_id": b.org,
                    "roles": ["filler"]}),
        )
        .await,
        403,
        None,
    );

    // G1: A's lists hold A's items and none of B's.
    let orgs = item_ids(&app.get(&a.admin, "/api/v1/orgs").await.expect(200));
    assert!(orgs.contains(&a.org.to_string()), "{orgs:?}");
    assert!(!orgs.contains(&b.org.to_string()), "{orgs:?}");
    assert!(!orgs.contains(&a.prefecture.to_string()), "{orgs:?}");
    let sites = item_ids(&app.get(&a.admin, "/api/v1/sites").await.expect(200));
    assert!(sites.contains(&a.station.to_string()));
    assert!(!sites.contains(&b.station.to_string()) && !sites.contains(&b.warehouse.to_string()));
    let users = item_ids(&app.get(&a.admin, "/api/v1/users").await.expect(200));
    assert!(users.contains(&a_admin_id.to_string()));
    assert!(!users.contains(&b_admin_id.to_string()), "{users:?}");
    let cyl = app.get(&a.admin, "/api/v1/cylinders").await.expect(200);
    let codes: Vec<&str> = cyl.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(codes, vec![A_CODE]);

    // G1: the prefecture's regulator sees both enterprises.
    let regulator = app
        .user_token(&app.admin, a.prefecture, "km_regulator", &["regulator"])
        .await;
    for code in [A_CODE, B_CODE] {
        app.get(&regulator, &format!("/api/v1/cylinders/{code}"))
            .await
            .expect(200);
        app.get(&regulator, &format!("/api/v1/cylinders/{code}/events"))
            .await
            .expect(200);
    }
    app.get(&regulator, &format!("/api/v1/events/{b_event_id}"))
        .await
        .expect(200);
    let cyl = app.get(&regulator, "/api/v1/cylinders").await.expect(200);
    assert_eq!(cyl.body["items"].as_array().expect("items").len(), 2);

    // … and a regulator of another prefecture of the same province sees neither.
    let other = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": "曲靖市市场监督管理局", "region_code": "530300",
                   "parent_id": a.province}),
        )
        .await;
    let qujing = app
        .user_token(&app.admin, other, "qj_regulator", &["regulator"])
        .await;
    for code in [A_CODE, B_CODE] {
        problem(
            app.get(&qujing, &format!("/api/v1/cylinders/{code}")).await,
            403,
            None,
        );
    }
    let cyl = app.get(&qujing, "/api/v1/cylinders").await.expect(200);
    assert!(cyl.body["items"].as_array().expect("items").is_empty());
}

// G1: an inspection station an enterprise creates under itself does not open other owners'
// cylinders to it (only an inspector of the station records results for other owners).
#[tokio::test]
async fn an_own_inspection_station_does_not_open_other_owners_cylinders() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("a").await;
    let b = enterprise_under(&app, "b", a.province, a.prefecture).await;
    app.post_cylinders(&b.admin, vec![archive(B_CODE, b.org)])
        .await
        .expect(201);
    // An enterprise cannot set up an inspection station of its own.
    problem(
        app.post(
            &a.admin,
            "/api/v1/orgs",
            &json!({"kind": "inspection_station", "name": "自建检验所", "region_code": "530102"}),
        )
        .await,
        422,
        Some("kind"),
    );
    // A real station's inspector may answer only for cylinders sent to that station.
    let station = app
        .create_org(
            &app.admin,
            json!({"kind": "inspection_station", "name": "昆明检验所", "region_code": "530102",
                   "parent_id": a.prefecture}),
        )
        .await;
    let inspector = app
        .user_token(&app.admin, station, "km_inspector", &["inspector"])
        .await;
    let mut data = inspection_result_data(station);
    data["conclusion"] = json!("scrap");
    data.as_object_mut()
        .expect("data")
        .remove("next_check_date");
    let scrap = event("inspection_result", &[B_CODE], &ago(5), None, data.clone());
    let scrap_id = scrap["id"].as_str().expect("id").to_owned();
    problem(app.post_events(&inspector, vec![scrap]).await, 403, None);
    // Nothing stored: B's label stays active.
    assert!(events_of(&app, &b.admin, B_CODE).await.is_empty());
    let c = app
        .get(&b.admin, &format!("/api/v1/cylinders/{B_CODE}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "active");
    assert_eq!(c.body["status"]["state"], "normal");
    problem(
        app.get(&app.admin, &format!("/api/v1/events/{scrap_id}"))
            .await,
        404,
        None,
    );
    // Once B sends the cylinder to the station, its inspector's result is recorded.
    let send = event(
        "inspection_send",
        &[B_CODE],
        &ago(10),
        None,
        json!({"station_org_id": station}),
    );
    app.post_events(&b.admin, vec![send]).await.expect(201);
    let scrap = event("inspection_result", &[B_CODE], &ago(5), None, data);
    app.post_events(&inspector, vec![scrap]).await.expect(201);
    let c = app
        .get(&b.admin, &format!("/api/v1/cylinders/{B_CODE}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
}

// G1: a regulator of region 530200 (another prefecture under the province) is outside 530100.
#[tokio::test]
async fn a_regulator_of_another_prefecture_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("a").await;
    app.post_cylinders(&a.admin, vec![archive(A_CODE, a.org)])
        .await
        .expect(201);
    let yuxi = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": "玉溪市市场监督管理局", "region_code": "530200",
                   "parent_id": a.province}),
        )
        .await;
    let token = app
        .user_token(&app.admin, yuxi, "yx_regulator", &["regulator"])
        .await;
    problem(
        app.get(&token, &format!("/api/v1/cylinders/{A_CODE}"))
            .await,
        403,
        None,
    );
    problem(
        app.get(&token, &format!("/api/v1/sites/{}", a.station))
            .await,
        403,
        None,
    );
    problem(
        app.get(&token, &format!("/api/v1/orgs/{}", a.org)).await,
        403,
        None,
    );
    // The province's regulator sees it.
    let province = app
        .user_token(&app.admin, a.province, "yn_regulator", &["regulator"])
        .await;
    app.get(&province, &format!("/api/v1/cylinders/{A_CODE}"))
        .await
        .expect(200);
}

// G1: permission = role × data scope; the role half.
#[tokio::test]
async fn roles_limit_what_users_may_do() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("a").await;
    app.post_cylinders(&a.admin, vec![archive(A_CODE, a.org)])
        .await
        .expect(201);

    // A filler cannot create users …
    problem(
        app.post(
            &a.filler,
            "/api/v1/users",
            &json!({"username": "a_new", "password": PASSWORD, "name": "新人", "org_id": a.org,
                    "roles": ["filler"]}),
        )
        .await,
        403,
        None,
    );
    // … nor record a delivery (nothing is stored).
    problem(
        app.post_events(
            &a.filler,
            vec![event(
                "deliver",
                &[A_CODE],
                &ago(10),
                None,
                sample_data("deliver"),
            )],
        )
        .await,
        403,
        None,
    );
    assert!(events_of(&app, &a.admin, A_CODE).await.is_empty());
    // … but records a fill.
    app.post_events(
        &a.filler,
        vec![event(
            "fill",
            &[A_CODE],
            &ago(10),
            Some(a.station),
            sample_data("fill"),
        )],
    )
    .await
    .expect(201);

    // An enterprise admin cannot grant regulator or node admin …
    for role in ["regulator", "node_admin"] {
        problem(
            app.post(
                &a.admin,
                "/api/v1/users",
                &json!({"username": format!("a_{role}"), "password": PASSWORD, "name": "越权",
                        "org_id": a.org, "roles": ["filler", role]}),
            )
            .await,
            403,
            None,
        );
        app.try_login(&format!("a_{role}"), PASSWORD)
            .await
            .expect(401);
    }
    // … but grants the enterprise's own roles.
    app.post(
        &a.admin,
        "/api/v1/users",
        &json!({"username": "a_courier", "password": PASSWORD, "name": "配送员", "org_id": a.org,
                "roles": ["courier", "driver"]}),
    )
    .await
    .expect(201);
    let courier = app.login("a_courier", PASSWORD).await;
    app.post_events(
        &courier,
        vec![event(
            "recycle",
            &[A_CODE],
            &ago(5),
            None,
            sample_data("recycle"),
        )],
    )
    .await
    .expect(201);
    // A regulator may not grant node admin.
    let regulator = app
        .user_token(&app.admin, a.prefecture, "km_regulator", &["regulator"])
        .await;
    problem(
        app.post(
            &regulator,
            "/api/v1/users",
            &json!({"username": "km_root", "password": PASSWORD, "name": "越权", "org_id": a.prefecture,
                    "roles": ["node_admin"]}),
        )
        .await,
        403,
        None,
    );
}

/// The audit items of a query (as the node admin unless `token` says otherwise).
async fn audit(app: &TestApp, token: &str, query: &str) -> Resp {
    app.get(token, &format!("/api/v1/audit{query}"))
        .await
        .expect(200)
}

fn items(r: &Resp) -> &Vec<Value> {
    r.body["items"].as_array().expect("audit items")
}

// G2: every write leaves an audit record; the log is queryable and never holds secrets.
#[tokio::test]
async fn writes_are_audited_and_the_log_is_queryable() {
    let app = TestApp::spawn().await;
    let mut texts: Vec<String> = Vec::new();
    let wrong = "WrongPass999";

    let a = app.enterprise("a").await;
    let b = app.enterprise("b").await;
    let org = app
        .post(
            &app.admin,
            "/api/v1/orgs",
            &json!({"kind": "dealer", "name": "五华区液化气供应点", "region_code": "530102",
                    "parent_id": a.prefecture}),
        )
        .await
        .expect(201);
    let org_id = id_of(&org);
    texts.push(org.text);
    let site = app
        .post(
            &a.admin,
            "/api/v1/sites",
            &json!({"org_id": a.org, "kind": "store", "name": "五华门店"}),
        )
        .await
        .expect(201);
    let site_id = id_of(&site);
    texts.push(site.text);
    let secret = "Zz9SecretPw77";
    let user = app
        .post(
            &a.admin,
            "/api/v1/users",
            &json!({"username": "a_checker", "password": secret, "name": "检查员", "org_id": a.org,
                    "roles": ["checker"]}),
        )
        .await
        .expect(201);
    let user_id = id_of(&user);
    texts.push(user.text);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t1 = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cyl = app
        .post_cylinders(&a.admin, vec![archive(A_CODE, a.org)])
        .await
        .expect(201);
    texts.push(cyl.text);
    let batch = vec![
        event(
            "pre_fill_check",
            &[A_CODE],
            &ago(30),
            Some(a.station),
            sample_data("pre_fill_check"),
        ),
        event(
            "fill",
            &[A_CODE],
            &ago(20),
            Some(a.station),
            sample_data("fill"),
        ),
    ];
    let ev = app.post_events(&a.admin, batch.clone()).await.expect(201);
    texts.push(ev.text);
    // B writes too (outside A's prefecture).
    app.post_cylinders(&b.admin, vec![archive(B_CODE, b.org)])
        .await
        .expect(201);
    // A failed login.
    let failed = app.try_login("a_checker", wrong).await.expect(401);
    texts.push(failed.text);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t2 = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // One more write after t2.
    app.post_events(
        &a.filler,
        vec![event(
            "post_fill_check",
            &[A_CODE],
            &ago(10),
            Some(a.station),
            sample_data("post_fill_check"),
        )],
    )
    .await
    .expect(201);

    // The node admin sees everything, newest first.
    let all = audit(&app, &app.admin, "?limit=500").await;
    texts.push(all.text.clone());
    let rows = items(&all);
    let total = all.body["total"].as_i64().expect("total");
    assert_eq!(total as usize, rows.len());
    let ats: Vec<_> = rows.iter().map(|r| instant(&r["at"])).collect();
    assert!(ats.windows(2).all(|w| w[0] >= w[1]), "not newest first");
    for r in rows {
        for key in ["method", "path", "status", "ip", "at"] {
            assert!(
                r.get(key).is_some_and(|v| !v.is_null()),
                "row lacks {key}: {r}"
            );
        }
    }
    let find = |pred: &dyn Fn(&Value) -> bool, what: &str| -> Value {
        rows.iter()
            .find(|r| pred(r))
            .cloned()
            .unwrap_or_else(|| panic!("no audit row for {what}: {}", all.text))
    };
    let detail = |r: &Value| r["detail"].as_str().unwrap_or("").to_owned();
    // The newest is the last write.
    assert_eq!(rows[0]["path"], "/api/v1/events");
    assert_eq!(rows[0]["username"], "a_filler");
    assert_eq!(rows[0]["status"], 201);

    let r = find(
        &|r| r["path"] == "/api/v1/orgs" && detail(r).contains(&org_id.to_string()),
        "the org",
    );
    assert_eq!(r["username"], ADMIN);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["status"], 201);
    let r = find(
        &|r| r["path"] == "/api/v1/sites" && detail(r).contains(&site_id.to_string()),
        "the site",
    );
    assert_eq!(r["username"], "a_admin");
    let r = find(
        &|r| r["path"] == "/api/v1/users" && detail(r).contains(&user_id.to_string()),
        "the user",
    );
    assert_eq!(r["username"], "a_admin");
    assert_eq!(r["status"], 201);
    let r = find(
        &|r| r["path"] == "/api/v1/cylinders" && detail(r).contains(A_CODE),
        "the cylinders",
    );
    assert_eq!(r["username"], "a_admin");
    let r = find(
        &|r| {
            r["path"] == "/api/v1/events"
                && batch
                    .iter()
                    .all(|e| detail(r).contains(e["id"].as_str().expect("id")))
        },
        "the events",
    );
    assert_eq!(r["username"], "a_admin");
    assert_eq!(r["method"], "POST");
    assert_eq!(r["status"], 201);
    let r = find(
        &|r| r["path"] == "/api/v1/auth/token" && r["status"] == 401,
        "the failed login",
    );
    assert_eq!(r["username"], "a_checker");
    assert_eq!(r["method"], "POST");
    assert!(
        r["ip"].as_str().is_some_and(|ip| ip.contains("127.0.0.1")),
        "{r}"
    );
    // The refused writes are there too.
    assert!(rows.iter().all(|r| r["status"].as_i64().is_some()));

    // Filters: username.
    let f = audit(&app, &app.admin, "?username=a_admin&limit=500").await;
    assert!(!items(&f).is_empty());
    assert!(items(&f).iter().all(|r| r["username"] == "a_admin"));
    assert_eq!(
        f.body["total"].as_i64(),
        Some(rows.iter().filter(|r| r["username"] == "a_admin").count() as i64)
    );
    // path prefix.
    let f = audit(
        &app,
        &app.admin,
        &format!("?path={}&limit=500", enc("/api/v1/events")),
    )
    .await;
    assert_eq!(f.body["total"], 2);
    assert!(items(&f).iter().all(|r| r["path"] == "/api/v1/events"));
    // method (any case).
    let f = audit(&app, &app.admin, "?method=post&limit=500").await;
    assert_eq!(f.body["total"].as_i64(), Some(total));
    let f = audit(&app, &app.admin, "?method=GET").await;
    assert_eq!(f.body["total"], 0);
    // from / to, RFC 3339 with an offset.
    let f = audit(
        &app,
        &app.admin,
        &format!(
            "?from={}&to={}&limit=500",
            enc(&t1.with_timezone(&cst()).to_rfc3339()),
            enc(&t2.to_rfc3339())
        ),
    )
    .await;
    let window: Vec<(String, String)> = items(&f)
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap_or("").to_owned(),
                r["username"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        window,
        vec![
            ("/api/v1/auth/token".to_owned(), "a_checker".to_owned()),
            ("/api/v1/cylinders".to_owned(), "b_admin".to_owned()),
            ("/api/v1/events".to_owned(), "a_admin".to_owned()),
            ("/api/v1/cylinders".to_owned(), "a_admin".to_owned()),
        ]
    );
    assert_eq!(f.body["total"], 4);
    let f = audit(
        &app,
        &app.admin,
        &format!("?from={}", enc(&t2.to_rfc3339())),
    )
    .await;
    assert_eq!(f.body["total"], 1);
    let f = audit(&app, &app.admin, &format!("?to={}", enc(&t1.to_rfc3339()))).await;
    assert_eq!(f.body["total"].as_i64(), Some(total - 5));
    // Paging: pages of 3 make up the whole, the total stays.
    let mut paged = Vec::new();
    let mut offset = 0;
    loop {
        let p = audit(&app, &app.admin, &format!("?limit=3&offset={offset}")).await;
        assert_eq!(p.body["total"].as_i64(), Some(total));
        assert_eq!(p.body["limit"], 3);
        assert_eq!(p.body["offset"], offset);
        let page = items(&p).clone();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        paged.extend(page);
        offset += 3;
    }
    assert_eq!(&paged, rows);
    // Bad query values are 422.
    problem(
        app.get(&app.admin, "/api/v1/audit?from=yesterday").await,
        422,
        Some("from"),
    );
    problem(
        app.get(&app.admin, "/api/v1/audit?limit=0").await,
        422,
        Some("limit"),
    );

    // A regulator sees only rows of users inside its subtree.
    let regulator = app
        .user_token(&app.admin, a.prefecture, "km_regulator", &["regulator"])
        .await;
    let reg = audit(&app, &regulator, "?limit=500").await;
    texts.push(reg.text.clone());
    let names: Vec<&str> = items(&reg)
        .iter()
        .filter_map(|r| r["username"].as_str())
        .collect();
    assert!(names.contains(&"a_admin"), "{names:?}");
    assert!(names.contains(&"a_filler"), "{names:?}");
    for outsider in [ADMIN, "b_admin", "b_filler"] {
        assert!(!names.contains(&outsider), "{outsider} in {names:?}");
    }
    assert_eq!(reg.body["total"].as_i64(), Some(items(&reg).len() as i64));
    // B's province regulator sees none of A's rows.
    let b_reg = app
        .user_token(&app.admin, b.province, "b_regulator", &["regulator"])
        .await;
    let breg = audit(&app, &b_reg, "?limit=500").await;
    assert!(items(&breg).iter().all(|r| {
        let n = r["username"].as_str().unwrap_or("");
        !n.starts_with("a_") && n != ADMIN
    }));
    assert!(items(&breg).iter().any(|r| r["username"] == "b_admin"));

    // An enterprise admin (and a filler) may not read the audit log.
    problem(app.get(&a.admin, "/api/v1/audit").await, 403, None);
    problem(app.get(&a.filler, "/api/v1/audit").await, 403, None);

    // No answer and no audit row holds a password or a password hash.
    for path in [
        format!("/api/v1/users/{user_id}"),
        "/api/v1/users?limit=500".to_owned(),
        "/api/v1/me".to_owned(),
    ] {
        texts.push(app.get(&app.admin, &path).await.expect(200).text);
    }
    texts.push(app.get(&a.admin, "/api/v1/users").await.expect(200).text);
    texts.push(audit(&app, &app.admin, "?limit=500").await.text);
    for text in &texts {
        for secret in [
            secret,
            wrong,
            PASSWORD,
            ADMIN_PASSWORD,
            "$argon2",
            "password_hash",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked in {text}");
        }
    }
}

// G5: too many wrong passwords lock the account, even against the right password.
#[tokio::test]
async fn five_wrong_passwords_lock_the_account() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("a").await;
    app.user_token(&app.admin, a.org, "victim", &["filler"])
        .await;
    app.user_token(&app.admin, a.org, "bystander", &["filler"])
        .await;
    for i in 0..5 {
        problem(
            app.try_login("victim", &format!("Wrong{i}Pass")).await,
            401,
            None,
        );
    }
    // G5: the 6th attempt, with the right password, is refused.
    let r = problem(app.try_login("victim", PASSWORD).await, 401, None);
    assert!(r.body.get("token").is_none());
    // Another user is unaffected.
    app.login("bystander", PASSWORD).await;
    app.login("a_admin", PASSWORD).await;
    // The victim stays locked.
    problem(app.try_login("victim", PASSWORD).await, 401, None);
}

// G5: failures below the limit do not lock, and a success starts the count again.
#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    app.enterprise("a").await;
    for round in 0..2 {
        for i in 0..4 {
            problem(
                app.try_login("a_filler", &format!("Wrong{round}{i}x"))
                    .await,
                401,
                None,
            );
        }
        app.login("a_filler", PASSWORD).await;
    }
}
