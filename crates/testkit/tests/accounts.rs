//! Accounts people can keep safe (issue 16, G5 — GB/T 22239 level 2: authentication, intrusion
//! prevention): deactivation ends tokens and page sessions at once, password changes end the other
//! sessions, a temporary password must be changed first, throttling of failed logins by client
//! address, bad changes refused naming the field with nothing changed, and the pages admins manage
//! accounts on. (The second factor: `totp.rs`.) Run against the real server, on SQLite and (with
//! `CYLTRACE_TEST_DATABASE_URL`) PostgreSQL.

use cyltrace_testkit::{PASSWORD, TestApp, World, archive};
use serde_json::{Value, json};

mod accounts_kit;
mod common;
use accounts_kit::{Browser, audit_details, login_from, patch, user};
use common::problem;
// ---------------------------------------------------------------------------------------- tests

/// G5: a deactivated account's existing token gets 401 and its page session is sent to the login
/// page at once; it cannot log in (answered like a wrong password); reactivated, it can again.
#[tokio::test]
async fn deactivation_ends_tokens_and_page_sessions_at_once() {
    let app = TestApp::spawn().await;
    let w: World = app.enterprise("deact").await;
    let id = user(
        &app,
        &w.admin,
        w.org,
        "leaver",
        &["filler", "enterprise_admin"],
    )
    .await;
    let token = app.login("leaver", PASSWORD).await;
    app.get(&token, "/api/v1/me").await.expect(200);
    let mut b = Browser::new(&app);
    assert_eq!(b.login("leaver", PASSWORD).await.status, 303);
    assert_eq!(b.get("/console/staff").await.status, 200);

    let r = patch(
        &app,
        &w.admin,
        &format!("/api/v1/users/{id}"),
        &json!({"active": false}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["active"], json!(false));
    assert_eq!(r.body["id"], json!(id));

    // At once: no waiting for the principal cache.
    problem(app.get(&token, "/api/v1/me").await, 401, None);
    let page = b.get("/console/staff").await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(page.location.starts_with("/login"), "{}", page.location);
    // Logging in again is refused exactly like a wrong password.
    let inactive = problem(app.try_login("leaver", PASSWORD).await, 401, None);
    let wrong = problem(app.try_login("leaver", "Wrong-Passw0rd").await, 401, None);
    assert_eq!(inactive.body["detail"], wrong.body["detail"]);
    assert_eq!(b.login("leaver", PASSWORD).await.status, 401);
    // Lists show the state; the audit says what changed and why the login failed.
    let list = app
        .get(&w.admin, "/api/v1/users?limit=500")
        .await
        .expect(200);
    let row = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["id"] == json!(id))
        .cloned()
        .expect("the user is listed");
    assert_eq!(row["active"], json!(false));
    let mut admin = Browser::new(&app);
    assert_eq!(admin.login("deact_admin", PASSWORD).await.status, 303);
    assert!(admin.get("/console/staff").await.text.contains("停用"));
    let notes = audit_details(&app, &format!("/api/v1/users/{id}")).await;
    assert!(
        notes.iter().any(|n| n.contains("active true → false")),
        "{notes:?}"
    );
    let logins = audit_details(&app, "/api/v1/auth/token").await;
    assert!(logins.iter().any(|n| n == "account inactive"), "{logins:?}");

    patch(
        &app,
        &w.admin,
        &format!("/api/v1/users/{id}"),
        &json!({"active": true}),
    )
    .await
    .expect(200);
    app.login("leaver", PASSWORD).await;
}

/// G5: changing one's own password ends the other tokens and sessions and keeps the one used; an
/// admin's reset ends them all; the old password no longer works.
#[tokio::test]
async fn password_changes_end_the_other_sessions() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("pwd").await;
    let id = user(&app, &w.admin, w.org, "changer", &["filler"]).await;
    let a = app.login("changer", PASSWORD).await;
    let other = app.login("changer", PASSWORD).await;
    let mut b = Browser::new(&app);
    assert_eq!(b.login("changer", PASSWORD).await.status, 303);

    // Refusals name the field and change nothing.
    problem(
        app.post(
            &a,
            "/api/v1/auth/password",
            &json!({"old_password": "Not-the-0ne", "new_password": "Kunming2027"}),
        )
        .await,
        422,
        Some("old_password"),
    );
    problem(
        app.post(
            &a,
            "/api/v1/auth/password",
            &json!({"old_password": PASSWORD, "new_password": "short1"}),
        )
        .await,
        422,
        Some("new_password"),
    );
    app.get(&other, "/api/v1/me").await.expect(200);

    app.post(
        &a,
        "/api/v1/auth/password",
        &json!({"old_password": PASSWORD, "new_password": "Kunming2027"}),
    )
    .await
    .expect(204);
    app.get(&a, "/api/v1/me").await.expect(200);
    problem(app.get(&other, "/api/v1/me").await, 401, None);
    let page = b.get("/account").await;
    assert!(page.location.starts_with("/login"), "{page:?}");
    problem(app.try_login("changer", PASSWORD).await, 401, None);
    let fresh = app.login("changer", "Kunming2027").await;

    // An admin's reset ends every session of the user, the one used last included.
    app.post(
        &w.admin,
        &format!("/api/v1/users/{id}/password"),
        &json!({"password": "Dianchi2028x"}),
    )
    .await
    .expect(204);
    problem(app.get(&a, "/api/v1/me").await, 401, None);
    problem(app.get(&fresh, "/api/v1/me").await, 401, None);
    let t = app.login("changer", "Dianchi2028x").await;
    app.get(&t, "/api/v1/cylinders").await.expect(200);

    // The page form does the same, and asks twice for the new password.
    let mut b = Browser::new(&app);
    assert_eq!(b.login("changer", "Dianchi2028x").await.status, 303);
    let csrf = b.csrf().await;
    let r = b
        .post_form(
            "/account/password",
            &[
                ("_csrf", &csrf),
                ("old_password", "Dianchi2028x"),
                ("new_password", "Erhai2029ab"),
                ("new_password2", "Erhai2029ac"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("两次输入的新密码不一致"), "{}", r.text);
    let r = b
        .post_form(
            "/account/password",
            &[
                ("_csrf", &csrf),
                ("old_password", "Dianchi2028x"),
                ("new_password", "Erhai2029ab"),
                ("new_password2", "Erhai2029ab"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    problem(app.get(&t, "/api/v1/me").await, 401, None);
    assert_eq!(b.get("/account").await.status, 200);
    let notes = audit_details(&app, "/api/v1/auth/password").await;
    assert!(
        notes.iter().any(|n| n.contains("own password changed")),
        "{notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("Kunming2027")),
        "no password in the audit"
    );
}

/// G5: a password an admin sets as temporary must be changed at the next login: the API answers
/// 403 until it is, the pages send the user to the change-password page.
#[tokio::test]
async fn a_temporary_password_must_be_changed_at_the_next_login() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("temp").await;
    let id = user(&app, &w.admin, w.org, "newbie", &["enterprise_admin"]).await;
    app.post(
        &w.admin,
        &format!("/api/v1/users/{id}/password"),
        &json!({"password": "Temp2026pass", "temporary": true}),
    )
    .await
    .expect(204);
    let u = app
        .get(&w.admin, &format!("/api/v1/users/{id}"))
        .await
        .expect(200);
    assert_eq!(u.body["must_change_password"], json!(true));

    let t = app.login("newbie", "Temp2026pass").await;
    let r = problem(app.get(&t, "/api/v1/cylinders").await, 403, None);
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("临时密码"),
        "{}",
        r.text
    );
    problem(
        app.post(&t, "/api/v1/cylinders", &json!({"cylinders": []}))
            .await,
        403,
        None,
    );
    app.get(&t, "/api/v1/session").await.expect(200);

    // The pages: the login goes to the change-password page, and so does every other page.
    let mut b = Browser::new(&app);
    let r = b.login("newbie", "Temp2026pass").await;
    assert_eq!(r.location, "/account/password");
    let r = b.get("/console").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/account/password"));
    let r = b.get("/account/password").await;
    assert!(r.text.contains("修改临时密码"), "{}", r.text);
    let csrf = b.csrf().await;
    let r = b
        .post_form(
            "/account/password",
            &[
                ("_csrf", &csrf),
                ("old_password", "Temp2026pass"),
                ("new_password", "Mine2026pass"),
                ("new_password2", "Mine2026pass"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(b.get("/console").await.status, 200);
    // The API token from before was another session: it ended with the change.
    problem(app.get(&t, "/api/v1/me").await, 401, None);
    let t = app.login("newbie", "Mine2026pass").await;
    app.get(&t, "/api/v1/cylinders").await.expect(200);
    let u = app
        .get(&w.admin, &format!("/api/v1/users/{id}"))
        .await
        .expect(200);
    assert_eq!(u.body["must_change_password"], json!(false));

    // The API's own change works the same way.
    app.post(
        &w.admin,
        &format!("/api/v1/users/{id}/password"),
        &json!({"password": "Temp2027pass", "temporary": true}),
    )
    .await
    .expect(204);
    let t = app.login("newbie", "Temp2027pass").await;
    problem(app.get(&t, "/api/v1/cylinders").await, 403, None);
    app.post(
        &t,
        "/api/v1/auth/password",
        &json!({"old_password": "Temp2027pass", "new_password": "Mine2027pass"}),
    )
    .await
    .expect(204);
    app.get(&t, "/api/v1/cylinders").await.expect(200);
}

/// G5: 30 wrong logins from one address across many accounts → 429 with `Retry-After` (problem+json
/// on the API, the envelope on /PS, a Chinese page on /login; the complaint form too); another
/// address still logs in.
#[tokio::test]
async fn failed_logins_from_one_address_are_throttled() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = "127.0.0.1, ::1".to_owned();
        c.login_rate_per_minute = 10;
        c.login_burst = 20;
    })
    .await;
    let w = app.enterprise("thr").await;
    for i in 0..5 {
        user(&app, &w.admin, w.org, &format!("target{i}"), &["filler"]).await;
    }
    let attacker = "203.0.113.7";
    let mut statuses = Vec::new();
    let mut retry = None;
    for i in 0..30 {
        let name = if i % 3 == 0 {
            format!("target{}", i % 5)
        } else {
            format!("nobody{i}")
        };
        let (r, ra) = login_from(
            &app,
            attacker,
            json!({"username": name, "password": "Guess-2026x"}),
        )
        .await;
        assert!(r.status.as_u16() < 500, "never a 5xx: {}", r.text);
        if r.status.as_u16() == 429 {
            assert!(r.content_type.starts_with("application/problem+json"));
            assert!(
                r.body["detail"].as_str().unwrap_or("").contains("秒后再试"),
                "{}",
                r.text
            );
            retry = ra;
        }
        statuses.push(r.status.as_u16());
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let secs: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // Even the right password waits while the address is throttled; another address logs in.
    let (r, _) = login_from(
        &app,
        attacker,
        json!({"username": "target1", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status.as_u16(), 429);
    let (r, _) = login_from(
        &app,
        "198.51.100.9",
        json!({"username": "target1", "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);

    // The login page and /PS from the same address.
    let mut b = Browser::new(&app);
    b.forwarded_for = Some(attacker.to_owned());
    let r = b.login("target2", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.retry_after.is_some());
    assert!(r.text.contains("秒后再试"));
    let r = app
        .client
        .post(app.url("/PS/Auth/Login"))
        .header("x-forwarded-for", attacker)
        .json(&json!({"Account": "target2", "Password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let v: Value = r.json().await.expect("envelope");
    assert_eq!(v["State"], json!(1));

    // The complaint form from one address.
    app.post_cylinders(&w.admin, vec![archive("5100000077", w.org)])
        .await
        .expect(201);
    let mut public = Browser::new(&app);
    public.forwarded_for = Some("192.0.2.44".to_owned());
    let mut last = 0;
    for _ in 0..21 {
        let r = public
            .post_form(
                "/q/5100000077/complaint",
                &[("_csrf", "x"), ("content", "漏气")],
            )
            .await;
        assert!(r.status < 500);
        last = r.status;
        if r.status == 429 {
            assert!(r.retry_after.is_some());
            assert!(r.text.contains("提交过于频繁"));
        }
    }
    assert_eq!(last, 429);
    let notes = audit_details(&app, "/api/v1/auth/token").await;
    assert!(
        notes.iter().any(|n| n.starts_with("throttled")),
        "{notes:?}"
    );
}

/// Bad input (issue 16): a role the caller may not grant, the last node admin deactivating itself,
/// a PATCH of `username`, unknown fields or roles → 403/422 naming the field; nothing changes.
#[tokio::test]
async fn bad_account_changes_name_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("bad").await;
    let other = app.enterprise("other").await;
    let id = user(&app, &w.admin, w.org, "steady", &["filler"]).await;
    let path = format!("/api/v1/users/{id}");
    let before = app.get(&w.admin, &path).await.expect(200).body;

    let r = problem(
        patch(&app, &w.admin, &path, &json!({"roles": ["regulator"]})).await,
        403,
        None,
    );
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("监管"),
        "{}",
        r.text
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"username": "renamed"})).await,
        422,
        Some("username"),
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"nickname": "x"})).await,
        422,
        Some("nickname"),
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"roles": ["pilot"]})).await,
        422,
        Some("roles[0]"),
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"roles": []})).await,
        422,
        Some("roles"),
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"name": ""})).await,
        422,
        Some("name"),
    );
    problem(
        patch(&app, &w.admin, &path, &json!({"active": "no"})).await,
        422,
        Some("active"),
    );
    problem(
        app.post(
            &w.admin,
            &format!("{path}/password"),
            &json!({"password": "abc"}),
        )
        .await,
        422,
        Some("password"),
    );
    // Outside the data scope: another enterprise's admin.
    problem(
        patch(&app, &other.admin, &path, &json!({"active": false})).await,
        403,
        None,
    );
    problem(
        app.post(
            &other.admin,
            &format!("{path}/password"),
            &json!({"password": "Another2026x"}),
        )
        .await,
        403,
        None,
    );
    // A user holding a role the admin could not grant is not theirs to manage.
    let reg = user(&app, &app.admin, w.org, "oddly_placed", &["regulator"]).await;
    let r = problem(
        patch(
            &app,
            &w.admin,
            &format!("/api/v1/users/{reg}"),
            &json!({"active": false}),
        )
        .await,
        403,
        None,
    );
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("无权管理"),
        "{}",
        r.text
    );
    assert_eq!(app.get(&w.admin, &path).await.expect(200).body, before);
    app.login("steady", PASSWORD).await;
    app.login("oddly_placed", PASSWORD).await;

    // The last active node admin cannot deactivate itself nor drop the role.
    let me = common::me(&app, &app.admin).await;
    let mine = format!("/api/v1/users/{me}");
    problem(
        patch(&app, &app.admin, &mine, &json!({"active": false})).await,
        422,
        Some("active"),
    );
    problem(
        patch(&app, &app.admin, &mine, &json!({"roles": ["regulator"]})).await,
        422,
        Some("roles"),
    );
    app.get(&app.admin, "/api/v1/me").await.expect(200);
    let u = app.get(&app.admin, &mine).await.expect(200);
    assert_eq!(u.body["active"], json!(true));
    assert_eq!(u.body["roles"], json!(["node_admin"]));
    // With a second node admin it can.
    let second = user(&app, &app.admin, w.province, "second_root", &["node_admin"]).await;
    let t2 = app.login("second_root", PASSWORD).await;
    patch(&app, &app.admin, &mine, &json!({"name": "老管理员"}))
        .await
        .expect(200);
    patch(&app, &t2, &mine, &json!({"active": false}))
        .await
        .expect(200);
    problem(
        patch(
            &app,
            &t2,
            &format!("/api/v1/users/{second}"),
            &json!({"active": false}),
        )
        .await,
        422,
        Some("active"),
    );
}

/// The pages (issue 16): the node admin's 用户管理 and the enterprise admin's staff accounts —
/// create, edit roles, deactivate (its session goes to the login page), reset the password.
#[tokio::test]
async fn admins_manage_accounts_on_the_pages() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("pages").await;
    let mut admin = Browser::new(&app);
    assert_eq!(admin.login("pages_admin", PASSWORD).await.status, 303);
    let csrf = admin.csrf().await;
    let staff = admin.get("/console/staff").await;
    assert!(staff.text.contains("新建员工账户"), "{}", staff.text);
    assert!(
        !staff.text.contains("name=\"regulator\""),
        "no role the admin may not grant"
    );
    // A refused form comes back filled in, the reason next to the field.
    let r = admin
        .post_form(
            "/console/staff",
            &[
                ("_csrf", &csrf),
                ("username", "x"),
                ("name", "王五"),
                ("password", PASSWORD),
                ("filler", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("field-error") && r.text.contains("value=\"王五\""),
        "{}",
        r.text
    );
    let r = admin
        .post_form(
            "/console/staff",
            &[
                ("_csrf", &csrf),
                ("username", "wangwu"),
                ("name", "王五"),
                ("password", PASSWORD),
                ("filler", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let edit = r.location.clone();
    assert!(edit.starts_with("/console/staff/"), "{edit}");
    let mut wangwu = Browser::new(&app);
    assert_eq!(wangwu.login("wangwu", PASSWORD).await.status, 303);
    assert_eq!(wangwu.get("/account").await.status, 200);

    // Roles and deactivation in one form.
    let r = admin
        .post_form(
            &edit,
            &[
                ("_csrf", &csrf),
                ("name", "王五"),
                ("filler", "on"),
                ("checker", "on"),
                ("active", "false"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = admin.get(&r.location).await;
    assert!(page.text.contains("停用"), "{}", page.text);
    let r = wangwu.get("/account").await;
    assert!(r.location.starts_with("/login"), "{r:?}");
    let t = app
        .get(&w.admin, "/api/v1/users?limit=500")
        .await
        .expect(200);
    let row = t.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["username"] == json!("wangwu"))
        .cloned()
        .expect("listed");
    assert_eq!(row["active"], json!(false));
    assert_eq!(row["roles"], json!(["filler", "checker"]));

    // Reactivate and reset the password as temporary.
    let r = admin
        .post_form(
            &edit,
            &[
                ("_csrf", &csrf),
                ("name", "王五"),
                ("filler", "on"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let r = admin
        .post_form(
            &format!("{edit}/password"),
            &[
                ("_csrf", &csrf),
                ("password", "Reset2026abc"),
                ("temporary", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = wangwu.login("wangwu", "Reset2026abc").await;
    assert_eq!(r.location, "/account/password");

    // The node admin's 用户管理 lists every user, and edits them the same way.
    let mut root = Browser::new(&app);
    assert_eq!(
        root.login(cyltrace_testkit::ADMIN, cyltrace_testkit::ADMIN_PASSWORD)
            .await
            .status,
        303
    );
    let list = root.get("/admin/users").await;
    assert_eq!(list.status, 200);
    assert!(list.text.contains("wangwu") && list.text.contains("用户管理"));
    let id = edit.rsplit('/').next().expect("id");
    let page = root.get(&format!("/admin/users/{id}")).await;
    assert!(page.text.contains("重置密码"), "{}", page.text);
    // An enterprise admin cannot open it.
    assert_eq!(admin.get("/admin/users").await.status, 403);
}
