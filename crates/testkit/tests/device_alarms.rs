//! Issue 18, part 5, on both backends: alarm rules on device data (H3, H5), the built-in leak alarm
//! (C10), acknowledgement and clearing through the API, and notification by webhook (signed with
//! HMAC-SM3), email (SMTP) and SMS gateway with reminders, the per-channel hourly cap and retries
//! with backoff. Devices are inserted through the store and `alarms::evaluate` / `alarms::tick` are
//! driven directly, the clock moved with `TestApp::set_now`; `tests/devices.rs` drives the same
//! path from a device over MQTT (a leak reaching a webhook and a mailbox, then acknowledged).

mod devices_kit;

use chrono::{DateTime, TimeDelta, Utc};
use cyltrace_domain::devices::notify::{SIGNATURE_HEADER, verify_webhook};
use cyltrace_domain::devices::rules::Input;
use cyltrace_server::services::devices::alarms;
use cyltrace_store::DeviceRecord;
use cyltrace_testkit::{TestApp, World};
use devices_kit::receivers::{receiver, smtp_sink};
use serde_json::{Map, Value, json};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn device(app: &TestApp, org: Uuid, type_id: &str, customer: Option<&str>) -> DeviceRecord {
    let d = DeviceRecord {
        id: Uuid::new_v4(),
        type_id: type_id.to_owned(),
        org_id: org,
        org_path: String::new(),
        site_id: None,
        name: format!("{type_id}-1号"),
        serial: None,
        group: Some("A区".to_owned()),
        tags: Vec::new(),
        customer_id: customer.map(str::to_owned),
        vehicle: None,
        channel_id: None,
        position: None,
        phone: None,
        stream_url: None,
        secret_hash: "00".repeat(32),
        disabled: false,
        created_at: app.state.now(),
        last_seen: None,
        online: true,
        up_count: 0,
        down_count: 0,
        bad_count: 0,
        properties: Map::new(),
    };
    app.state.store.insert_device(&d).await.expect("device");
    app.state
        .store
        .get_device(d.id)
        .await
        .expect("get")
        .expect("stored")
}

fn reading(v: f64) -> Map<String, Value> {
    match json!({ "concentration": v }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

async fn property(app: &TestApp, d: &DeviceRecord, v: f64, at: DateTime<Utc>) {
    let values = reading(v);
    alarms::evaluate(
        &app.state,
        d,
        Input::Property {
            values: &values,
            at,
        },
    )
    .await
    .expect("evaluate");
}

async fn leak(app: &TestApp, d: &DeviceRecord) {
    let at = app.state.now();
    alarms::evaluate(&app.state, d, Input::Event { event: "leak", at })
        .await
        .expect("evaluate");
}

async fn tick(app: &TestApp) {
    alarms::tick(&app.state).await.expect("tick");
}

fn secs(t: DateTime<Utc>, s: i64) -> DateTime<Utc> {
    t + TimeDelta::seconds(s)
}

async fn alarm_list(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let r = app
        .get(token, &format!("/api/v1/device-alarms{query}"))
        .await
        .expect(200);
    r.body["items"].as_array().cloned().unwrap_or_default()
}

async fn alarm(app: &TestApp, token: &str, id: &Value) -> Value {
    let id = id.as_str().expect("id");
    app.get(token, &format!("/api/v1/device-alarms/{id}"))
        .await
        .expect(200)
        .body
}

async fn channel(app: &TestApp, w: &World, body: Value) -> Value {
    app.post(&w.admin, "/api/v1/notify-channels", &body)
        .await
        .expect(201)
        .body
}

// ---------------------------------------------------------------------------------------------
// Rules

// H3, H5: a threshold rule with a duration: held briefly → no alarm; held long (even without a new
// reading: the worker's tick) → an alarm; a repeat updates it; back below → cleared; again above
// → the same (unacknowledged) alarm is active again; once acknowledged and cleared it is closed
// and the next raise opens a new one. One open alarm per rule and device throughout.
#[tokio::test]
async fn threshold_with_duration_raises_updates_and_clears() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("thr").await;
    let d = device(&app, w.org, "leak_alarm", None).await;
    let other = device(&app, w.org, "scale", None).await;
    let rule = app
        .post(
            &w.admin,
            "/api/v1/alarm-rules",
            &json!({"name": "浓度过高", "device_type": "leak_alarm",
                "condition": {"property": "concentration", "op": ">", "value": 20},
                "for_secs": 60, "severity": "major"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(rule["enabled"], true);
    let t0 = app.state.now();

    // Held 30 s, then back: nothing.
    property(&app, &d, 25.0, t0).await;
    property(&app, &d, 25.0, secs(t0, 30)).await;
    property(&app, &d, 10.0, secs(t0, 40)).await;
    app.set_now(secs(t0, 200));
    tick(&app).await;
    assert!(alarm_list(&app, &w.admin, "").await.is_empty());

    // Held with no new reading: the tick raises once the minute has passed.
    property(&app, &d, 25.0, secs(t0, 300)).await;
    app.set_now(secs(t0, 330));
    tick(&app).await;
    assert!(alarm_list(&app, &w.admin, "").await.is_empty(), "30 s only");
    app.set_now(secs(t0, 361));
    tick(&app).await;
    let list = alarm_list(&app, &w.admin, "").await;
    assert_eq!(list.len(), 1);
    let a = &list[0];
    assert_eq!(
        (
            a["state"].as_str(),
            a["severity"].as_str(),
            a["kind"].as_str()
        ),
        (Some("active_unack"), Some("major"), Some("rule"))
    );
    assert_eq!(a["rule_id"], rule["id"]);
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("浓度 concentration = 25 > 20"),
        "the property is named as the thing model names it: {}",
        a["detail"]
    );

    // Repeats update the open alarm; a device of another type is not watched.
    property(&app, &d, 30.0, secs(t0, 370)).await;
    property(&app, &other, 99.0, secs(t0, 370)).await;
    let list = alarm_list(&app, &w.admin, "").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["count"], 2);

    // Back below: cleared, still unacknowledged (open).
    property(&app, &d, 5.0, secs(t0, 380)).await;
    let list = alarm_list(&app, &w.admin, "?state=cleared_unack").await;
    assert_eq!(list.len(), 1);
    assert!(list[0]["cleared_at"].is_string());

    // Above again for a minute: the same alarm is active again (one open per rule and device).
    property(&app, &d, 25.0, secs(t0, 390)).await;
    property(&app, &d, 26.0, secs(t0, 451)).await;
    let list = alarm_list(&app, &w.admin, "").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "active_unack");
    assert_eq!(list[0]["count"], 3);

    // Acknowledged, then cleared: closed; the next raise opens a second alarm.
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let acked = app
        .post(
            &w.admin,
            &format!("/api/v1/device-alarms/{id}/ack"),
            &json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(acked["state"], "active_ack");
    assert!(acked["acked_by"].is_string());
    property(&app, &d, 5.0, secs(t0, 460)).await;
    assert_eq!(
        alarm_list(&app, &w.admin, "?state=cleared_ack").await.len(),
        1
    );
    assert!(alarm_list(&app, &w.admin, "?state=open").await.is_empty());
    property(&app, &d, 25.0, secs(t0, 470)).await;
    property(&app, &d, 25.0, secs(t0, 531)).await;
    assert_eq!(alarm_list(&app, &w.admin, "").await.len(), 2);
    assert_eq!(alarm_list(&app, &w.admin, "?state=open").await.len(), 1);

    // A deleted rule raises nothing more.
    let rid = rule["id"].as_str().unwrap();
    app.client
        .delete(app.url(&format!("/api/v1/alarm-rules/{rid}")))
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap();
    let r = app
        .get(&w.admin, &format!("/api/v1/alarm-rules/{rid}"))
        .await
        .expect(200);
    assert_eq!(r.body["enabled"], false);
    let d2 = device(&app, w.org, "leak_alarm", None).await;
    property(&app, &d2, 99.0, secs(t0, 600)).await;
    property(&app, &d2, 99.0, secs(t0, 700)).await;
    assert_eq!(alarm_list(&app, &w.admin, "").await.len(), 2);
}

// H3: rules and channels are checked field by field; they live in the caller's scope.
#[tokio::test]
async fn rules_and_channels_are_checked_and_scoped() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("chk").await;
    let x = app.enterprise("chk2").await;
    let r = app
        .post(
            &w.admin,
            "/api/v1/alarm-rules",
            &json!({"name": "", "condition": {"offline": false}, "severity": "fatal"}),
        )
        .await
        .expect(422);
    assert_eq!(r.fields(), ["name", "condition.offline", "severity"]);
    // A channel of another enterprise cannot be named.
    let foreign = channel(
        &app,
        &x,
        json!({"kind": "webhook", "name": "x", "url": "http://127.0.0.1:9/"}),
    )
    .await;
    let r = app
        .post(
            &w.admin,
            "/api/v1/alarm-rules",
            &json!({"name": "离线", "condition": {"offline": true}, "severity": "info",
                "notify": [foreign["id"]]}),
        )
        .await
        .expect(422);
    assert_eq!(r.fields(), ["notify[0]"]);
    // Secrets are never answered.
    let c = channel(
        &app,
        &w,
        json!({"kind": "webhook", "name": "值班", "url": "http://127.0.0.1:9/",
            "secret": "0123456789abcdef"}),
    )
    .await;
    assert_eq!(c["has_secret"], true);
    assert!(c.get("secret").is_none());
    let list = app
        .get(&w.admin, "/api/v1/notify-channels")
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(!list.text.contains("0123456789abcdef"));
    // A filler may not manage rules.
    app.post(
        &w.filler,
        "/api/v1/alarm-rules",
        &json!({"name": "n",
        "condition": {"offline": true}, "severity": "info"}),
    )
    .await
    .expect(403);
    let bad = app
        .get(
            &w.admin,
            "/api/v1/device-alarms?state=closed&severity=fatal",
        )
        .await
        .expect(422);
    assert_eq!(bad.fields(), ["state", "severity"]);
}

// ---------------------------------------------------------------------------------------------
// C10: leak alarms

// C10: a leak alarm's `leak` event raises a critical alarm bound to the customer and the dealer
// without any rule; repeats update it; the regulator (or the enterprise) acknowledges it, a filler
// may not; a person clears it; another enterprise does not see it.
#[tokio::test]
async fn leak_event_raises_a_critical_alarm_for_customer_and_dealer() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("leak").await;
    let x = app.enterprise("leakx").await;
    let reg = app
        .user_token(&app.admin, w.province, "leak_reg", &["regulator"])
        .await;
    let d = device(&app, w.org, "leak_alarm", Some("C-0001")).await;
    leak(&app, &d).await;
    leak(&app, &d).await;
    let list = alarm_list(&app, &w.admin, "?state=open&severity=critical").await;
    assert_eq!(list.len(), 1);
    let a = &list[0];
    assert_eq!(a["kind"], "leak");
    assert_eq!(a["customer_id"], "C-0001");
    assert_eq!(a["org_id"], json!(w.org));
    assert_eq!(a["count"], 2);
    assert!(a["rule_id"].is_null());
    // The regulator sees it; another enterprise does not.
    assert_eq!(alarm_list(&app, &reg, "").await.len(), 1);
    assert!(alarm_list(&app, &x.admin, "").await.is_empty());
    let id = a["id"].as_str().unwrap();
    app.get(&x.admin, &format!("/api/v1/device-alarms/{id}"))
        .await
        .expect(403);
    app.post(
        &w.filler,
        &format!("/api/v1/device-alarms/{id}/ack"),
        &json!({}),
    )
    .await
    .expect(403);
    let acked = app
        .post(&reg, &format!("/api/v1/device-alarms/{id}/ack"), &json!({}))
        .await
        .expect(200);
    assert_eq!(acked.body["state"], "active_ack");
    let cleared = app
        .post(
            &w.admin,
            &format!("/api/v1/device-alarms/{id}/clear"),
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cleared.body["state"], "cleared_ack");
    app.post(
        &w.admin,
        &format!("/api/v1/device-alarms/{id}/clear"),
        &json!({}),
    )
    .await
    .expect(409);
    // Closed: the next leak opens a new alarm.
    leak(&app, &d).await;
    assert_eq!(alarm_list(&app, &w.admin, "").await.len(), 2);
    assert_eq!(alarm_list(&app, &w.admin, "?state=open").await.len(), 1);
    // A leak event of another device type raises nothing built in.
    let s = device(&app, w.org, "scale", Some("C-0002")).await;
    leak(&app, &s).await;
    assert_eq!(alarm_list(&app, &w.admin, "").await.len(), 2);
}

// C10, H3: an event rule never clears by itself; a person clears it and the rule starts afresh.
#[tokio::test]
async fn event_rule_is_cleared_by_a_person() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("evr").await;
    let d = device(&app, w.org, "scale", None).await;
    app.post(
        &w.admin,
        "/api/v1/alarm-rules",
        &json!({"name": "倾倒", "device_id": d.id, "condition": {"event": "tilt"},
            "severity": "warning"}),
    )
    .await
    .expect(201);
    let at = app.state.now();
    alarms::evaluate(&app.state, &d, Input::Event { event: "tilt", at })
        .await
        .unwrap();
    alarms::evaluate(&app.state, &d, Input::Event { event: "tilt", at })
        .await
        .unwrap();
    let list = alarm_list(&app, &w.admin, "").await;
    assert_eq!((list.len(), list[0]["count"].as_i64()), (1, Some(2)));
    let id = list[0]["id"].as_str().unwrap();
    app.post(
        &w.admin,
        &format!("/api/v1/device-alarms/{id}/clear"),
        &json!({}),
    )
    .await
    .expect(200);
    app.post(
        &w.admin,
        &format!("/api/v1/device-alarms/{id}/ack"),
        &json!({}),
    )
    .await
    .expect(200);
    alarms::evaluate(&app.state, &d, Input::Event { event: "tilt", at })
        .await
        .unwrap();
    assert_eq!(
        alarm_list(&app, &w.admin, "?state=active_unack")
            .await
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Notification

// H3: a raised alarm is delivered to a webhook (signed HMAC-SM3, checked with verify_webhook), an
// SMTP server and an SMS gateway (the rendered JSON template), each delivery recorded; clearing
// notifies again.
#[tokio::test]
async fn webhook_email_and_sms_are_delivered() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ntf").await;
    let (hook_url, hook) = receiver(0).await;
    let (sms_url, sms) = receiver(0).await;
    let (smtp_port, mails) = smtp_sink().await;
    let secret = "s3cret-s3cret-s3cret";
    let wh = channel(
        &app,
        &w,
        json!({"kind": "webhook", "name": "值班系统", "url": hook_url,
        "secret": secret}),
    )
    .await;
    let em = channel(
        &app,
        &w,
        json!({"kind": "email", "name": "邮件", "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port, "smtp_tls": "none", "from": "alarm@example.com",
        "to": ["ops@example.com", "boss@example.com"]}),
    )
    .await;
    let sm = channel(&app, &w, json!({"kind": "sms", "name": "短信", "url": sms_url,
        "body_template": "{\"mobile\": \"{{phone}}\", \"content\": \"{{text}}\", \"dev\": \"{{device}}\"}",
        "phones": ["13800138000"]}))
    .await;
    let rule = app
        .post(
            &w.admin,
            "/api/v1/alarm-rules",
            &json!({"name": "浓度过高", "condition": {"property": "concentration", "op": ">=",
                "value": 20}, "severity": "critical", "notify": [wh["id"], em["id"], sm["id"]]}),
        )
        .await
        .expect(201);
    let d = device(&app, w.org, "leak_alarm", None).await;
    property(&app, &d, 23.5, app.state.now()).await;
    tick(&app).await;

    let list = alarm_list(&app, &w.admin, "").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["rule_id"], rule.body["id"]);
    let a = alarm(&app, &w.admin, &list[0]["id"]).await;
    let ds = a["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 3, "{a}");
    assert!(
        ds.iter().all(|d| d["state"] == "sent" && d["attempt"] == 1),
        "{a}"
    );

    // The webhook: the alarm JSON, signed over the raw body.
    let got = hook.bodies();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let sig = headers[SIGNATURE_HEADER].to_str().unwrap();
    let now = app.state.now().timestamp();
    assert!(verify_webhook(secret.as_bytes(), sig, body, now, 300));
    assert!(!verify_webhook(b"another-secret-xx", sig, body, now, 300));
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["phase"], "raised");
    assert_eq!(v["alarm"]["id"], list[0]["id"]);
    assert_eq!(v["alarm"]["severity"], "critical");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("【严重告警】浓度过高")
    );

    // The email: both recipients, from the channel's sender.
    let m = mails.lock().unwrap().clone();
    assert_eq!(m.len(), 1);
    assert!(m[0].contains("<alarm@example.com>"), "{}", m[0]);
    assert!(m[0].contains("<ops@example.com>") && m[0].contains("<boss@example.com>"));
    assert!(m[0].contains("Subject:"));

    // The SMS gateway: the template filled in, valid JSON.
    let s = sms.bodies();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0["content-type"], "application/json");
    let v: Value = serde_json::from_slice(&s[0].1).unwrap();
    assert_eq!(v["mobile"], "13800138000");
    assert_eq!(v["dev"], d.name.as_str());
    assert!(v["content"].as_str().unwrap().contains("浓度过高"));

    // Cleared: each channel is told.
    property(&app, &d, 1.0, app.state.now()).await;
    tick(&app).await;
    let got = hook.bodies();
    assert_eq!(got.len(), 2);
    let v: Value = serde_json::from_slice(&got[1].1).unwrap();
    assert_eq!(v["phase"], "cleared");
    assert_eq!(mails.lock().unwrap().len(), 2);
    assert_eq!(sms.bodies().len(), 2);
}

// H3: repeat_every_secs re-notifies an unacknowledged alarm until it is acknowledged, and
// max_per_hour caps one channel (C10: a leak alarm notifies every channel of the dealer).
#[tokio::test]
async fn reminders_until_acknowledged_and_the_hourly_cap() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("rep").await;
    let (url, hook) = receiver(0).await;
    channel(
        &app,
        &w,
        json!({"kind": "webhook", "name": "w", "url": url,
        "repeat_every_secs": 60, "max_per_hour": 3}),
    )
    .await;
    let d = device(&app, w.org, "leak_alarm", Some("C-9")).await;
    let t0 = app.state.now();
    leak(&app, &d).await;
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 1);
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 1, "not yet due");
    for (i, s) in [61, 122].into_iter().enumerate() {
        app.set_now(secs(t0, s));
        tick(&app).await;
        assert_eq!(hook.bodies().len(), i + 2);
    }
    let v: Value = serde_json::from_slice(&hook.bodies()[1].1).unwrap();
    assert_eq!(v["phase"], "repeated");
    assert!(v["text"].as_str().unwrap().contains("未确认提醒"));
    // The fourth within the hour is capped (recorded, not sent).
    app.set_now(secs(t0, 183));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 3);
    let id = alarm_list(&app, &w.admin, "").await[0]["id"].clone();
    let a = alarm(&app, &w.admin, &id).await;
    let states: Vec<&str> = a["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "sent", "sent", "capped"]);
    // After the hour, reminders go out again, until acknowledged.
    app.set_now(secs(t0, 3700));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 4);
    app.post(
        &w.admin,
        &format!("/api/v1/device-alarms/{}/ack", id.as_str().unwrap()),
        &json!({}),
    )
    .await
    .expect(200);
    app.set_now(secs(t0, 7200));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 4, "acknowledged: no more reminders");
}

// H3: a failing webhook is retried with backoff (5 s, 30 s, …), each attempt recorded with its
// error (without secrets), until it is delivered.
#[tokio::test]
async fn failing_webhook_is_retried_with_backoff() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("rty").await;
    let (url, hook) = receiver(2).await;
    channel(
        &app,
        &w,
        json!({"kind": "webhook", "name": "w", "url": format!("{url}?token=hush")}),
    )
    .await;
    let d = device(&app, w.org, "leak_alarm", None).await;
    let t0 = app.state.now();
    leak(&app, &d).await;
    tick(&app).await;
    let id = alarm_list(&app, &w.admin, "").await[0]["id"].clone();
    let first = alarm(&app, &w.admin, &id).await["deliveries"][0].clone();
    assert_eq!(
        (first["state"].as_str(), first["attempt"].as_i64()),
        (Some("pending"), Some(1))
    );
    assert!(first["error"].as_str().unwrap().contains("500"));
    assert!(!first["error"].as_str().unwrap().contains("hush"));
    // Not before the backoff.
    app.set_now(secs(t0, 3));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 1);
    app.set_now(secs(t0, 6));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 2);
    let second = alarm(&app, &w.admin, &id).await["deliveries"][0].clone();
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["state"], "pending");
    app.set_now(secs(t0, 20));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 2, "the second wait is 30 s");
    app.set_now(secs(t0, 40));
    tick(&app).await;
    assert_eq!(hook.bodies().len(), 3);
    let last = alarm(&app, &w.admin, &id).await["deliveries"][0].clone();
    assert_eq!(
        (last["state"].as_str(), last["attempt"].as_i64()),
        (Some("sent"), Some(3))
    );
    assert!(last["error"].is_null());
}

// H3: a webhook that keeps failing is given up after MAX_ATTEMPTS tries (5 s, 30 s, 2 min, 10 min,
// 30 min apart), recorded as failed.
#[tokio::test]
async fn a_delivery_is_given_up_after_the_last_attempt() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("gvu").await;
    let (url, hook) = receiver(usize::MAX).await;
    channel(
        &app,
        &w,
        json!({"kind": "webhook", "name": "w", "url": url}),
    )
    .await;
    let d = device(&app, w.org, "leak_alarm", None).await;
    let t0 = app.state.now();
    leak(&app, &d).await;
    tick(&app).await;
    for s in [6, 40, 170, 780, 2590, 5000, 9000] {
        app.set_now(secs(t0, s));
        tick(&app).await;
    }
    assert_eq!(hook.bodies().len(), 6);
    let id = alarm_list(&app, &w.admin, "").await[0]["id"].clone();
    let d = alarm(&app, &w.admin, &id).await["deliveries"][0].clone();
    assert_eq!(
        (d["state"].as_str(), d["attempt"].as_i64()),
        (Some("failed"), Some(6))
    );
    assert!(d["error"].as_str().unwrap().contains("HTTP 500"));
}
