//! Devices (issue 18, DEVICES.md): the registry, the up kinds over HTTP with device credentials, and
//! over MQTT against the embedded broker and the running Mosquitto — the filling loop (H3, B1:
//! the scale acts on the platform's answer), exactly once, overfill (B4), topic isolation (H4),
//! service calls (004 §8.1.3), status from silence (8.1.1).

mod devices_kit;

use std::time::Duration;

use cyltrace_testkit::TestApp;
use devices_kit::*;
use serde_json::{Value, json};
use uuid::Uuid;

fn id_of(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn the_registry_issues_secrets_once_and_checks_bindings() {
    // H1: registry, thing model, bindings.
    let app = TestApp::spawn().await;
    let w = app.enterprise("reg").await;
    let types = app.get(&w.admin, "/api/v1/device-types").await.expect(200);
    let ids: Vec<&str> = types
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["type"].as_str())
        .collect();
    assert_eq!(
        ids[..5],
        [
            "filling_scale",
            "label_reader",
            "leak_alarm",
            "vehicle_terminal",
            "camera"
        ]
    );

    let s = scale(&app, &w).await;
    let got = app
        .get(&w.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(200);
    assert_eq!(got.body["status"], "never");
    assert!(got.body.get("secret").is_none() && !got.text.contains(&s.secret));

    // Bad bindings are named.
    let bad = app
        .post(
            &w.admin,
            "/api/v1/devices",
            &json!({"type": "filling_scale", "org_id": w.org,
            "name": "", "site_id": w.warehouse, "channel_id": "123", "position": 0}),
        )
        .await
        .expect(422);
    for f in ["name", "site_id", "channel_id", "position"] {
        assert!(
            bad.fields().contains(&f.to_owned()),
            "{f}: {:?}",
            bad.fields()
        );
    }
    app.post(
        &w.admin,
        "/api/v1/devices",
        &json!({"type": "teleporter", "org_id": w.org, "name": "x"}),
    )
    .await
    .expect(422);
    // A filler may not register devices; another enterprise's admin does not see this one.
    app.post(
        &w.filler,
        "/api/v1/devices",
        &json!({"type": "leak_alarm", "org_id": w.org, "name": "x"}),
    )
    .await
    .expect(403);
    let other = app.enterprise("reg2").await;
    app.get(&other.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(403);
    let list = app.get(&other.admin, "/api/v1/devices").await.expect(200);
    assert_eq!(list.body["total"], 0);

    // A new secret replaces the old one at once.
    let r = app
        .post(
            &w.admin,
            &format!("/api/v1/devices/{}/secret", s.id),
            &json!({}),
        )
        .await
        .expect(200);
    let fresh = Registered {
        id: s.id,
        secret: id_of(&r.body, "secret"),
    };
    http_up(&app, &s, "heartbeat", &json!({})).await.expect(401);
    http_up(&app, &fresh, "heartbeat", &json!({}))
        .await
        .expect(200);

    // PATCH: group and tags; a disabled device is refused.
    let p = app
        .patch(
            &w.admin,
            &format!("/api/v1/devices/{}", s.id),
            &json!({"group": "A区", "tags": ["一号线"]}),
        )
        .await
        .expect(200);
    assert_eq!(p.body["group"], "A区");
    let by_group = app
        .get(&w.admin, "/api/v1/devices?group=A%E5%8C%BA")
        .await
        .expect(200);
    assert_eq!(by_group.body["total"], 1);
    app.patch(
        &w.admin,
        &format!("/api/v1/devices/{}", s.id),
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    http_up(&app, &fresh, "heartbeat", &json!({}))
        .await
        .expect(403);

    // A user-defined type.
    let t = json!({"type": "flow_meter", "name": "流量计",
        "properties": [{"id": "flow", "name": "流量", "data_type": "float", "min": 0, "max": 10}]});
    app.post(&w.admin, "/api/v1/device-types", &t)
        .await
        .expect(201);
    app.post(&w.admin, "/api/v1/device-types", &t)
        .await
        .expect(409);
    let m = register(&app, &w, "flow_meter", "流量计1", json!({})).await;
    http_up(&app, &m, "property", &json!({"values": {"flow": 3.5}}))
        .await
        .expect(200);
    http_up(&app, &m, "property", &json!({"values": {"flow": 30}}))
        .await
        .expect(422);
}

#[tokio::test]
async fn the_up_kinds_over_http() {
    // H3 and B1 over HTTP with device credentials: the same kinds as MQTT.
    let app = TestApp::spawn().await;
    let w = app.enterprise("http").await;
    let code = "5301000101";
    fillable(&app, &w, code).await;
    let s = scale(&app, &w).await;

    // Credentials: another device's, a wrong secret, none.
    let other = scale(&app, &w).await;
    http_up_as(
        &app,
        s.id,
        &format!("Device {}:{}", other.id, other.secret),
        "heartbeat",
        "{}".into(),
    )
    .await
    .expect(403);
    http_up_as(
        &app,
        s.id,
        &format!("Device {}:wrong", s.id),
        "heartbeat",
        "{}".into(),
    )
    .await
    .expect(401);
    http_up_as(&app, s.id, "", "heartbeat", "{}".into())
        .await
        .expect(401);

    // Bad input: not JSON, an unknown kind, a property outside the model; each counted as bad.
    let r = http_up_as(
        &app,
        s.id,
        &format!("Device {}:{}", s.id, s.secret),
        "property",
        "nonsense".into(),
    )
    .await
    .expect(422);
    assert_eq!(r.fields(), ["payload"]);
    http_up(&app, &s, "teleport", &json!({})).await.expect(422);
    let r = http_up(
        &app,
        &s,
        "property",
        &json!({"values": {"weight_kg": 900, "colour": 1}}),
    )
    .await
    .expect(422);
    assert_eq!(r.fields(), ["values.colour", "values.weight_kg"]);
    let dev = app
        .get(&w.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(200);
    assert_eq!(dev.body["bad_count"], 3);
    assert_eq!(
        dev.body["status"], "never",
        "refused messages do not bring a device online"
    );

    // A report before any decision is refused and stores nothing.
    let early = fill_report(&app, code, 16.5, 30.0, None);
    let r = http_up(&app, &s, "fill_report", &early).await.expect(422);
    assert_eq!(r.fields(), ["decision_id"]);
    assert_eq!(fills_of(&app, &w, code).await, 0);

    // fill_request: the decision of POST /fill-control, recorded the same way.
    let req = fill_request(code);
    let a = http_up(&app, &s, "fill_request", &req).await.expect(200);
    assert_eq!(a.body["allow"], true, "{}", a.body);
    assert_eq!(a.body["request_id"], req["request_id"]);
    let decision = id_of(&a.body, "decision_id");
    let decisions = app
        .get(
            &w.admin,
            &format!("/api/v1/fill-control/decisions?code={code}"),
        )
        .await
        .expect(200);
    assert_eq!(decisions.body["items"][0]["decision_id"], decision.as_str());

    // fill_report three times: one fill event, the same ledger index each time.
    let report = fill_report(&app, code, 16.5, 30.5, Some(&decision));
    let mut indexes = Vec::new();
    for _ in 0..3 {
        let r = http_up(&app, &s, "fill_report", &report).await.expect(200);
        indexes.push(r.body["ledger_index"].as_i64().unwrap());
    }
    assert!(indexes.windows(2).all(|p| p[0] == p[1]), "{indexes:?}");
    assert_eq!(fills_of(&app, &w, code).await, 1);

    // An event of the model is stored once; one outside it is refused.
    let e = json!({"id": Uuid::new_v4(), "event": "estop", "time": rfc3339(app.state.now())});
    assert_eq!(
        http_up(&app, &s, "event", &e).await.expect(200).body["new"],
        true
    );
    assert_eq!(
        http_up(&app, &s, "event", &e).await.expect(200).body["new"],
        false
    );
    let bad = json!({"id": Uuid::new_v4(), "event": "explode", "time": rfc3339(app.state.now())});
    http_up(&app, &s, "event", &bad).await.expect(422);

    // Readings become the latest values and telemetry.
    http_up(
        &app,
        &s,
        "property",
        &json!({"values": {"weight_kg": 30.4, "valve_open": false}}),
    )
    .await
    .expect(200);
    let dev = app
        .get(&w.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(200);
    assert_eq!(dev.body["properties"]["weight_kg"]["value"], 30.4);
    assert_eq!(dev.body["status"], "online");
    let t = app
        .get(
            &w.admin,
            &format!("/api/v1/devices/{}/telemetry?property=weight_kg", s.id),
        )
        .await
        .expect(200);
    assert_eq!(t.body.as_array().unwrap().len(), 1);

    // Only a scale asks to fill.
    let alarm = register(&app, &w, "leak_alarm", "厨房报警器", json!({})).await;
    http_up(&app, &alarm, "fill_request", &fill_request(code))
        .await
        .expect(403);
}

#[tokio::test]
async fn a_refused_cylinder_is_answered_with_reasons_and_cannot_be_reported() {
    // B1: refusal with every failing rule; a report after a refusal is refused.
    let app = TestApp::spawn().await;
    let w = app.enterprise("refuse").await;
    let s = scale(&app, &w).await;
    let a = http_up(&app, &s, "fill_request", &fill_request("5301000199"))
        .await
        .expect(200);
    assert_eq!(a.body["allow"], false);
    assert!(!a.body["refusals"].as_array().unwrap().is_empty());
    let report = fill_report(
        &app,
        "5301000199",
        16.5,
        30.0,
        a.body["decision_id"].as_str(),
    );
    http_up(&app, &s, "fill_report", &report).await.expect(422);
}

/// The filling loop over MQTT on whichever broker the node uses.
async fn filling_loop(app: &TestApp, host: &str, port: u16, embedded: bool) {
    let w = app.enterprise(&format!("mq{port}")).await;
    let suffix = &Uuid::new_v4().simple().to_string()[..4];
    let digits: String = suffix
        .chars()
        .map(|c| char::from(b'0' + (c as u8) % 10))
        .collect();
    let (ok, over) = (format!("530100{digits}"), format!("530200{digits}"));
    fillable(app, &w, &ok).await;
    fillable(app, &w, &over).await;
    let s = scale(app, &w).await;
    let login = embedded.then(|| (s.id.to_string(), s.secret.clone()));
    let mut dev = MqttDevice::connect(
        host,
        port,
        s.id,
        login.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
    )
    .await
    .expect("the scale connects");

    // Ask and act on the answer.
    let req = fill_request(&ok);
    let rid = id_of(&req, "request_id");
    let answer = dev
        .ask("fill_request", &req, "fill_answer", "request_id", &rid)
        .await;
    assert_eq!(answer["allow"], true, "{answer}");
    assert!(answer["target_gross_kg"].as_f64().is_some());
    let decision = id_of(&answer, "decision_id");

    // Report three times (a device resends until acknowledged): one fill event, committed
    // before each ack.
    let report = fill_report(app, &ok, 16.5, 30.5, Some(&decision));
    let rid = id_of(&report, "id");
    let mut acks = Vec::new();
    for _ in 0..3 {
        dev.publish("fill_report", &report).await;
        let ack = dev
            .next("ack", "id", &rid, Duration::from_secs(10))
            .await
            .expect("ack");
        assert_eq!(fills_of(app, &w, &ok).await, 1, "committed before the ack");
        acks.push(ack["ledger_index"].as_i64().expect("ledger_index"));
    }
    assert!(acks.windows(2).all(|p| p[0] == p[1]));

    // Overfill (B4): a report above the allowed fill raises the alarm.
    let req = fill_request(&over);
    let rid = id_of(&req, "request_id");
    let answer = dev
        .ask("fill_request", &req, "fill_answer", "request_id", &rid)
        .await;
    let report = fill_report(app, &over, 16.5, 33.0, answer["decision_id"].as_str());
    let rid = id_of(&report, "id");
    dev.publish("fill_report", &report).await;
    let ack = dev
        .next("ack", "id", &rid, Duration::from_secs(10))
        .await
        .expect("ack");
    assert!(ack.get("error").is_none(), "{ack}");
    let alarms = app
        .get(
            &w.admin,
            &format!("/api/v1/alarms?kind=overfill&code={over}"),
        )
        .await
        .expect(200);
    assert_eq!(
        alarms.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        alarms.body
    );

    // A report without a prior allow is refused on down/ack, naming the field; nothing stored.
    let stray = fill_report(app, "5301009999", 16.5, 30.0, None);
    let rid = id_of(&stray, "id");
    dev.publish("fill_report", &stray).await;
    let ack = dev
        .next("ack", "id", &rid, Duration::from_secs(10))
        .await
        .expect("refusal");
    assert_eq!(ack["error"]["errors"][0]["field"], "decision_id", "{ack}");

    // Not JSON: refused on down/ack, counted as bad.
    let before = app
        .get(&w.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(200)
        .body["bad_count"]
        .as_i64()
        .unwrap();
    dev.client
        .publish(
            format!("cyltrace/{}/up/event", s.id),
            rumqttc::QoS::AtLeastOnce,
            false,
            "{not json",
        )
        .await
        .unwrap();
    let ack = dev
        .next_any("ack", Duration::from_secs(10))
        .await
        .expect("refusal");
    assert_eq!(ack["error"]["errors"][0]["field"], "payload", "{ack}");
    let after = app
        .get(&w.admin, &format!("/api/v1/devices/{}", s.id))
        .await
        .expect(200)
        .body["bad_count"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);

    // A service call answered, and one that times out.
    let replier = dev.client.clone();
    let mut dev2 = dev;
    let answered = tokio::spawn(async move {
        let call = dev2
            .next_any("service", Duration::from_secs(10))
            .await
            .expect("service call");
        let reply = json!({"request_id": call["request_id"], "code": 0, "message": "已停止"});
        replier
            .publish(
                format!("cyltrace/{}/up/service_reply", dev2.id),
                rumqttc::QoS::AtLeastOnce,
                false,
                reply.to_string(),
            )
            .await
            .unwrap();
        (call, dev2)
    });
    let r = app
        .post(
            &w.admin,
            &format!("/api/v1/devices/{}/services/stop", s.id),
            &json!({"timeout_secs": 10}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "replied", "{}", r.body);
    assert_eq!(r.body["code"], 0);
    let (call, _dev) = answered.await.unwrap();
    assert_eq!(call["service"], "stop");
    let r = app
        .post(
            &w.admin,
            &format!("/api/v1/devices/{}/services/stop", s.id),
            &json!({"timeout_secs": 1}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "timeout");
    app.post(
        &w.admin,
        &format!("/api/v1/devices/{}/services/explode", s.id),
        &json!({}),
    )
    .await
    .expect(404);
    app.post(
        &w.admin,
        &format!("/api/v1/devices/{}/services/set_tolerance", s.id),
        &json!({"input": {"tolerance_kg": 9}, "timeout_secs": 1}),
    )
    .await
    .expect(422);
}

/// A leak alarm reports `leak` over MQTT (C10): a critical alarm bound to its customer's dealer,
/// delivered to the dealer's webhook (signed) and mailbox by the node's alarm worker, then
/// acknowledged by the enterprise.
async fn leak_over_mqtt(app: &TestApp, host: &str, port: u16, embedded: bool) {
    use cyltrace_domain::devices::notify::{SIGNATURE_HEADER, verify_webhook};
    use devices_kit::receivers::{receiver, smtp_sink};
    let w = app.enterprise(&format!("leak{port}")).await;
    let (hook_url, hook) = receiver(0).await;
    let (smtp_port, mails) = smtp_sink().await;
    let secret = "leak-webhook-secret-16";
    for body in [
        json!({"kind": "webhook", "name": "值班系统", "url": hook_url, "secret": secret}),
        json!({"kind": "email", "name": "值班邮箱", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
               "smtp_tls": "none", "from": "alarm@example.com", "to": ["duty@example.com"]}),
    ] {
        app.post(&w.admin, "/api/v1/notify-channels", &body)
            .await
            .expect(201);
    }
    let d = register(app, &w, "leak_alarm", "居民厨房报警器", json!({})).await;
    let login = embedded.then(|| (d.id.to_string(), d.secret.clone()));
    let mut dev = MqttDevice::connect(
        host,
        port,
        d.id,
        login.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
    )
    .await
    .expect("the leak alarm connects");
    let e = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now()),
                   "output": {"concentration": 42.0}});
    let ack = dev.ask("event", &e, "ack", "id", &id_of(&e, "id")).await;
    assert_eq!(ack["new"], true);
    let list = app
        .get(&w.admin, "/api/v1/device-alarms?state=active_unack")
        .await
        .expect(200);
    let alarm = list.body["items"][0].clone();
    assert_eq!(
        (alarm["kind"].as_str(), alarm["severity"].as_str()),
        (Some("leak"), Some("critical")),
        "{}",
        list.body
    );
    // The alarm worker (every second) delivers to both channels.
    let mut delivered = false;
    for _ in 0..100 {
        if !hook.bodies().is_empty() && !mails.lock().unwrap().is_empty() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered,
        "webhook {} mails {}",
        hook.bodies().len(),
        mails.lock().unwrap().len()
    );
    let (headers, body) = hook.bodies()[0].clone();
    let sig = headers[SIGNATURE_HEADER].to_str().unwrap().to_owned();
    assert!(verify_webhook(
        secret.as_bytes(),
        &sig,
        &body,
        app.state.now().timestamp(),
        300
    ));
    let id = alarm["id"].as_str().unwrap().to_owned();
    let acked = app
        .post(
            &w.admin,
            &format!("/api/v1/device-alarms/{id}/ack"),
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(acked.body["state"], "active_ack", "{}", acked.body);
}

#[tokio::test]
async fn the_filling_loop_over_the_embedded_broker() {
    let app = TestApp::spawn_with(|c| c.mqtt_listen = "127.0.0.1:0".into()).await;
    let addr = app.mqtt.expect("the embedded broker");
    filling_loop(&app, &addr.ip().to_string(), addr.port(), true).await;
    leak_over_mqtt(&app, &addr.ip().to_string(), addr.port(), true).await;
}

#[tokio::test]
async fn the_filling_loop_over_mosquitto() {
    // The running Mosquitto (.ci/run starts it) as the external broker.
    let app = TestApp::spawn_with(|c| c.mqtt_url = Some("mqtt://127.0.0.1:1883".into())).await;
    assert!(app.mqtt.is_none());
    filling_loop(&app, "127.0.0.1", 1883, false).await;
    leak_over_mqtt(&app, "127.0.0.1", 1883, false).await;
}

#[tokio::test]
async fn the_embedded_broker_keeps_devices_to_their_own_topics() {
    // H4: devices log in with their secret and publish only on their own topics.
    let app = TestApp::spawn_with(|c| c.mqtt_listen = "127.0.0.1:0".into()).await;
    let addr = app.mqtt.expect("broker");
    let (host, port) = (addr.ip().to_string(), addr.port());
    let w = app.enterprise("acl").await;
    let a = register(&app, &w, "leak_alarm", "报警器A", json!({})).await;
    let b = register(&app, &w, "leak_alarm", "报警器B", json!({})).await;

    assert!(
        MqttDevice::connect(&host, port, a.id, Some((&a.id.to_string(), "wrong")))
            .await
            .is_err()
    );
    assert!(MqttDevice::connect(&host, port, a.id, None).await.is_err());
    let mut dev_b = MqttDevice::connect(&host, port, b.id, Some((&b.id.to_string(), &b.secret)))
        .await
        .expect("b connects");
    // b publishes on a's topic: refused by the broker, counted as bad on b, nothing reaches a.
    let e = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now())});
    dev_b
        .publish_on(&format!("cyltrace/{}/up/event", a.id), &e)
        .await;
    let mut bad = 0;
    for _ in 0..50 {
        bad = app
            .get(&w.admin, &format!("/api/v1/devices/{}", b.id))
            .await
            .expect(200)
            .body["bad_count"]
            .as_i64()
            .unwrap();
        if bad > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bad, 1);
    let got_a = app
        .get(&w.admin, &format!("/api/v1/devices/{}", a.id))
        .await
        .expect(200);
    assert_eq!(got_a.body["up_count"], 0);
    let events = app
        .get(&w.admin, &format!("/api/v1/devices/{}/events", a.id))
        .await
        .expect(200);
    assert!(events.body.as_array().unwrap().is_empty());

    // Its own topic works; a property outside the model is refused on down/ack.
    let own = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now()),
                     "output": {"concentration": 35.0}});
    let ack = dev_b
        .ask("event", &own, "ack", "id", &id_of(&own, "id"))
        .await;
    assert_eq!(ack["new"], true);
    dev_b
        .publish("property", &json!({"values": {"concentration": 180}}))
        .await;
    let ack = dev_b
        .next_any("ack", Duration::from_secs(10))
        .await
        .expect("refusal");
    assert_eq!(ack["error"]["errors"][0]["field"], "values.concentration");
    // A subscription to another device's down topics is refused.
    let sub = dev_b
        .client
        .subscribe(
            format!("cyltrace/{}/down/#", a.id),
            rumqttc::QoS::AtLeastOnce,
        )
        .await;
    assert!(
        sub.is_ok(),
        "the request is sent; the broker answers it with a failure"
    );
}

#[tokio::test]
async fn a_silent_device_goes_offline_and_comes_back() {
    // 8.1.1: status from the last message and the type's offline_after_secs (leak alarm: 600 s).
    let app = TestApp::spawn_with(|c| c.device_sweep_secs = 1).await;
    let w = app.enterprise("sweep").await;
    let d = register(&app, &w, "leak_alarm", "报警器", json!({})).await;
    http_up(&app, &d, "heartbeat", &json!({})).await.expect(200);
    let path = format!("/api/v1/devices/{}", d.id);
    assert_eq!(
        app.get(&w.admin, &path).await.expect(200).body["status"],
        "online"
    );
    app.set_now(app.state.now() + chrono::Duration::seconds(601));
    let mut status = Value::Null;
    for _ in 0..50 {
        let events = app
            .get(&w.admin, &format!("{path}/events"))
            .await
            .expect(200);
        if events
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "offline")
        {
            status = app.get(&w.admin, &path).await.expect(200).body["status"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "offline");
    let offline = app
        .get(&w.admin, "/api/v1/devices?status=offline")
        .await
        .expect(200);
    assert_eq!(offline.body["items"].as_array().unwrap().len(), 1);
    http_up(&app, &d, "heartbeat", &json!({})).await.expect(200);
    assert_eq!(
        app.get(&w.admin, &path).await.expect(200).body["status"],
        "online"
    );
    let events = app
        .get(&w.admin, &format!("{path}/events"))
        .await
        .expect(200);
    let kinds: Vec<&str> = events
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(kinds, ["online", "offline", "online"]);
}

#[tokio::test]
async fn mosquitto_configured_as_documented_keeps_devices_to_their_own_topics() {
    // H4 with an external broker: the README's password file and ACL patterns.
    // The node is pointed at a port where the broker starts once the devices exist (the node's
    // client keeps reconnecting until then).
    let port = free_port();
    let node_password = "node-secret-for-the-test";
    let app = TestApp::spawn_with(|c| {
        c.mqtt_url = Some(format!("mqtt://127.0.0.1:{port}"));
        c.mqtt_username = Some("cyltrace-node".into());
        c.mqtt_password = Some(node_password.to_owned().into());
    })
    .await;
    let w = app.enterprise("ext").await;
    let a = register(&app, &w, "leak_alarm", "报警器A", json!({})).await;
    let b = register(&app, &w, "leak_alarm", "报警器B", json!({})).await;
    let _broker = mosquitto_with(
        port,
        &[
            ("cyltrace-node".into(), node_password.into()),
            (a.id.to_string(), a.secret.clone()),
            (b.id.to_string(), b.secret.clone()),
        ],
    );
    assert!(
        MqttDevice::connect("127.0.0.1", port, a.id, Some((&a.id.to_string(), "wrong")))
            .await
            .is_err()
    );
    let mut dev_b = MqttDevice::connect(
        "127.0.0.1",
        port,
        b.id,
        Some((&b.id.to_string(), &b.secret)),
    )
    .await
    .expect("b connects");
    // On its own topic: answered (which also shows the node's client is subscribed by now).
    let own = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now())});
    let ack = dev_b
        .ask("event", &own, "ack", "id", &id_of(&own, "id"))
        .await;
    assert_eq!(ack["new"], true);
    // On a's topic: Mosquitto drops it (MQTT 3.1.1 has no refusal of a publish), then one more of
    // its own, answered after the foreign one would have been.
    let e = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now())});
    dev_b
        .publish_on(&format!("cyltrace/{}/up/event", a.id), &e)
        .await;
    let own = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now())});
    dev_b
        .ask("event", &own, "ack", "id", &id_of(&own, "id"))
        .await;
    // Messages reach the node in order, but are applied concurrently: give the foreign one time.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let events = app
            .get(&w.admin, &format!("/api/v1/devices/{}/events", a.id))
            .await
            .expect(200);
        assert!(
            events.body.as_array().unwrap().is_empty(),
            "{}",
            events.body
        );
    }
}

#[tokio::test]
async fn the_regulator_counts_leak_alarms_and_offline_station_devices() {
    // C10 and 004 §8.1.1 at the regulator: open leak alarms and silent station equipment.
    let app = TestApp::spawn().await;
    let w = app.enterprise("sup").await;
    let reg = app
        .user_token(&app.admin, w.prefecture, "sup_regulator", &["regulator"])
        .await;
    let figures = |token: String| {
        let app = &app;
        async move {
            app.get(&token, "/api/v1/supervision")
                .await
                .expect(200)
                .body["devices"]
                .clone()
        }
    };
    let s = scale(&app, &w).await;
    let alarm = register(&app, &w, "leak_alarm", "厨房报警器", json!({})).await;
    let d = figures(reg.clone()).await;
    assert_eq!(
        (d["station_devices"].as_i64(), d["station_offline"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(d["leak_alarms_open"], 0);
    http_up(&app, &s, "heartbeat", &json!({})).await.expect(200);
    let leak = json!({"id": Uuid::new_v4(), "event": "leak", "time": rfc3339(app.state.now()),
                      "output": {"concentration": 35.0}});
    http_up(&app, &alarm, "event", &leak).await.expect(200);
    let d = figures(reg.clone()).await;
    assert_eq!(d["station_offline"], 0);
    assert_eq!(d["leak_alarms_open"], 1, "{d}");
    // Another region's regulator sees none of it.
    let other = app.enterprise("sup2").await;
    let far = app
        .user_token(
            &app.admin,
            other.prefecture,
            "sup2_regulator",
            &["regulator"],
        )
        .await;
    let d = figures(far).await;
    assert_eq!(
        (
            d["station_devices"].as_i64(),
            d["leak_alarms_open"].as_i64()
        ),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_flooding_device_is_slowed_without_hurting_the_others() {
    // H4 / "Bad input": rate-limited per device.
    let app = TestApp::spawn_with(|c| {
        c.device_rate_per_second = 1;
        c.device_burst = 3;
    })
    .await;
    let w = app.enterprise("flood").await;
    let a = register(&app, &w, "leak_alarm", "报警器A", json!({})).await;
    let b = register(&app, &w, "leak_alarm", "报警器B", json!({})).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            http_up(&app, &a, "heartbeat", &json!({}))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses[..3], [200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    http_up(&app, &b, "heartbeat", &json!({})).await.expect(200);
}
