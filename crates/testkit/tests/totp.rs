//! The TOTP second factor (issue 16, G5 — GB/T 22239 level 2 "optional second factor"): enrolment
//! with a QR code, the login that needs the code (a wrong or reused one refused), recovery codes
//! that work once, the page login's second step, disabling and an admin's reset, `/PS` logins with
//! `Totp`, and the second factor made mandatory for a role. Run against the real server, on SQLite
//! and (with `CYLTRACE_TEST_DATABASE_URL`) PostgreSQL.
// The tests compute codes at the node's clock, which they move.
#![allow(clippy::disallowed_methods)]

use cyltrace_testkit::{PASSWORD, TestApp};
use serde_json::{Value, json};

mod accounts_kit;
mod common;
use accounts_kit::{Browser, advance, audit_details, code, delete, enrol, hidden, send, user};
use common::problem;

/// G5: TOTP enrolment; the login then needs the code (a wrong or reused one is refused and counts
/// as a failed login); a recovery code works once; the page login asks in a second step; the
/// user can disable it with a code and an admin can reset it; `/PS` takes the code as `Totp`.
#[tokio::test]
async fn totp_enrolment_login_and_recovery_codes() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("otp").await;
    let id = user(&app, &w.admin, w.org, "careful", &["enterprise_admin"]).await;
    let t = app.login("careful", PASSWORD).await;

    let e = app
        .post(&t, "/api/v1/auth/totp", &json!({}))
        .await
        .expect(200);
    let secret = e.body["secret"].as_str().expect("secret").to_owned();
    assert!(
        e.body["otpauth_url"]
            .as_str()
            .unwrap_or("")
            .starts_with("otpauth://totp/")
    );
    assert!(e.body["qr_svg"].as_str().unwrap_or("").contains("<svg"));
    problem(
        app.post(&t, "/api/v1/auth/totp/confirm", &json!({"code": "000000"}))
            .await,
        422,
        Some("code"),
    );
    let status = app.get(&t, "/api/v1/auth/totp").await.expect(200);
    assert_eq!(status.body["enabled"], json!(false));
    assert_eq!(status.body["pending"], json!(true));
    let first = code(&app, &secret, 0);
    let r = app
        .post(&t, "/api/v1/auth/totp/confirm", &json!({"code": first}))
        .await
        .expect(200);
    let recovery: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let u = app
        .get(&w.admin, &format!("/api/v1/users/{id}"))
        .await
        .expect(200);
    assert_eq!(u.body["totp_enabled"], json!(true));
    // The stored secret is sealed: the database does not hold it in clear.
    let listed = app.get(&t, "/api/v1/auth/totp").await.expect(200);
    assert_eq!(listed.body["recovery_codes_left"], json!(10));
    assert!(!listed.text.contains(&secret));

    // The login needs the code now.
    problem(app.try_login("careful", PASSWORD).await, 401, Some("totp"));
    let wrong = json!({"username": "careful", "password": PASSWORD, "totp": "123456"});
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&wrong)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    // The code used to confirm is not accepted again; the next step's is, once.
    let used = json!({"username": "careful", "password": PASSWORD, "totp": first});
    let r = send(
        &app,
        app.client.post(app.url("/api/v1/auth/token")).json(&used),
    )
    .await;
    problem(r, 401, Some("totp"));
    advance(&app, 60);
    let fresh =
        json!({"username": "careful", "password": PASSWORD, "totp": code(&app, &secret, 0)});
    let r = send(
        &app,
        app.client.post(app.url("/api/v1/auth/token")).json(&fresh),
    )
    .await
    .expect(200);
    let t2 = r.body["token"].as_str().expect("token").to_owned();
    app.get(&t2, "/api/v1/me").await.expect(200);
    problem(
        send(
            &app,
            app.client.post(app.url("/api/v1/auth/token")).json(&fresh),
        )
        .await,
        401,
        Some("totp"),
    );
    // A recovery code works once (written in capitals and without the dash, too).
    let rc = recovery[3].to_uppercase().replace('-', "");
    let with_rc = json!({"username": "careful", "password": PASSWORD, "totp": rc});
    send(
        &app,
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&with_rc),
    )
    .await
    .expect(200);
    problem(
        send(
            &app,
            app.client
                .post(app.url("/api/v1/auth/token"))
                .json(&with_rc),
        )
        .await,
        401,
        Some("totp"),
    );
    let status = app.get(&t, "/api/v1/auth/totp").await.expect(200);
    assert_eq!(status.body["recovery_codes_left"], json!(9));

    // The page login: the password, then the code in a second step of the same form.
    let mut b = Browser::new(&app);
    let r = b.login("careful", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("动态口令"), "{}", r.text);
    assert!(!b.cookies.contains_key("cyltrace_session"));
    let csrf = hidden(&r.text, "_csrf");
    let r = b
        .post_form(
            "/login/totp",
            &[
                ("_csrf", &csrf),
                ("code", "000000"),
                ("username", "careful"),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(!b.cookies.contains_key("cyltrace_session"));
    advance(&app, 60);
    let csrf = hidden(&r.text, "_csrf");
    let c = code(&app, &secret, 0);
    let r = b
        .post_form(
            "/login/totp",
            &[
                ("_csrf", &csrf),
                ("code", &c),
                ("username", "careful"),
                ("next", ""),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.location.as_str()),
        (303, "/console"),
        "{}",
        r.text
    );
    assert!(b.cookies.contains_key("cyltrace_session"));
    assert_eq!(b.get("/account").await.status, 200);

    // Wrong codes count as failed logins: the account locks like after wrong passwords.
    for _ in 0..5 {
        let r = send(
            &app,
            app.client.post(app.url("/api/v1/auth/token")).json(&wrong),
        )
        .await;
        assert_eq!(r.status.as_u16(), 401);
    }
    advance(&app, 60);
    let right =
        json!({"username": "careful", "password": PASSWORD, "totp": code(&app, &secret, 0)});
    let r = problem(
        send(
            &app,
            app.client.post(app.url("/api/v1/auth/token")).json(&right),
        )
        .await,
        401,
        None,
    );
    assert!(r.text.contains("锁定"), "{}", r.text);
    advance(&app, 16 * 60);

    // Disabling needs a current code; then the password alone logs in.
    problem(
        app.post(&t, "/api/v1/auth/totp/disable", &json!({"code": "000000"}))
            .await,
        422,
        Some("code"),
    );
    app.post(
        &t,
        "/api/v1/auth/totp/disable",
        &json!({"code": code(&app, &secret, 0)}),
    )
    .await
    .expect(204);
    app.login("careful", PASSWORD).await;

    // An admin resets a second factor (a lost phone).
    let (_, _) = enrol(&app, &t).await;
    problem(app.try_login("careful", PASSWORD).await, 401, Some("totp"));
    delete(&app, &w.admin, &format!("/api/v1/users/{id}/totp"))
        .await
        .expect(204);
    app.login("careful", PASSWORD).await;
    let notes = audit_details(&app, &format!("/api/v1/users/{id}/totp")).await;
    assert!(
        notes.iter().any(|n| n.contains("second factor reset")),
        "{notes:?}"
    );
    for n in audit_details(&app, "/api/v1/auth/totp").await {
        assert!(!n.contains(&secret), "no secret in the audit: {n}");
    }

    // A /PS machine account with a second factor sends the code as `Totp`.
    user(&app, &w.admin, w.org, "ps_machine", &["platform"]).await;
    let pt = app.login("ps_machine", PASSWORD).await;
    let (ps_secret, _) = enrol(&app, &pt).await;
    let ps = |body: Value| {
        let req = app.client.post(app.url("/PS/Auth/Login")).json(&body);
        send(&app, req)
    };
    let r = ps(json!({"Account": "ps_machine", "Password": PASSWORD}))
        .await
        .expect(200);
    assert_eq!(r.body["State"], json!(1));
    assert!(
        r.body["Value"].as_str().unwrap_or("").contains("Totp"),
        "{}",
        r.text
    );
    advance(&app, 60);
    let r = ps(
        json!({"Account": "ps_machine", "Password": PASSWORD, "Totp": code(&app, &ps_secret, 0)}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["State"], json!(0), "{}", r.text);
}

/// G5: with `require_totp_roles` naming `regulator`, a regulator without a second factor can log
/// in but do nothing but enrol (403 on the API, the enrolment page on the pages); once enrolled,
/// the login needs the code. `platform` accounts are exempt.
#[tokio::test]
async fn totp_is_mandatory_for_a_regulator_when_configured() {
    let app = TestApp::spawn_with(|c| c.require_totp_roles = Some("regulator".to_owned())).await;
    let w = app.enterprise("must").await;
    user(
        &app,
        &app.admin,
        w.prefecture,
        "inspector_km",
        &["regulator"],
    )
    .await;
    user(
        &app,
        &app.admin,
        w.prefecture,
        "lower_node",
        &["platform", "regulator"],
    )
    .await;
    let t = app.login("inspector_km", PASSWORD).await;
    let r = problem(app.get(&t, "/api/v1/orgs").await, 403, None);
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("动态口令"),
        "{}",
        r.text
    );
    let s = app.get(&t, "/api/v1/auth/totp").await.expect(200);
    assert_eq!(s.body["required"], json!(true));
    // The pages send the regulator to the enrolment page.
    let mut b = Browser::new(&app);
    let r = b.login("inspector_km", PASSWORD).await;
    assert_eq!(r.location, "/account/totp");
    let r = b.get("/supervision").await;
    assert_eq!((r.status, r.location.as_str()), (303, "/account/totp"));
    let csrf = b.csrf().await;
    let r = b
        .post_form("/account/totp/begin", &[("_csrf", &csrf)])
        .await;
    assert_eq!(r.location, "/account/totp");
    let page = b.get("/account/totp").await;
    assert!(page.text.contains("<svg"), "the QR code is on the page");
    let secret = page
        .text
        .split("<dt>密钥</dt><dd>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret for typing in")
        .to_owned();
    let r = b
        .post_form(
            "/account/totp/confirm",
            &[("_csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("field-error"), "{}", r.text);
    let c = code(&app, &secret, 0);
    let r = b
        .post_form("/account/totp/confirm", &[("_csrf", &csrf), ("code", &c)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("恢复码"));
    assert_eq!(b.get("/supervision").await.status, 200);
    // The API token of before works now too; a new login needs the code.
    app.get(&t, "/api/v1/orgs").await.expect(200);
    problem(
        app.try_login("inspector_km", PASSWORD).await,
        401,
        Some("totp"),
    );
    // A platform account is exempt.
    let p = app.login("lower_node", PASSWORD).await;
    app.get(&p, "/api/v1/orgs").await.expect(200);
}
