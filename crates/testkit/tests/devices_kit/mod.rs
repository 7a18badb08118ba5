//! What the device tests share: an enterprise with a fillable cylinder, registered devices, and an
//! MQTT device (rumqttc) that collects what the node sends down.

#![allow(dead_code)]

pub mod receivers;

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use cyltrace_testkit::{TestApp, World, archive, event, sample_data};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

pub const LPG: &str = "液化石油气";

/// A device as registered: id and secret.
#[derive(Clone, Debug)]
pub struct Registered {
    pub id: Uuid,
    pub secret: String,
}

pub fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An archive every filling rule accepts, and a passed pre-fill check 30 minutes ago (server clock).
pub async fn fillable(app: &TestApp, w: &World, code: &str) {
    let mut a = archive(code, w.org);
    a["next_check_date"] = json!("2028-09-01");
    a["last_check_date"] = json!("2026-06-01");
    app.post_cylinders(&w.admin, vec![a]).await.expect(201);
    let t = rfc3339(app.state.now() - chrono::Duration::minutes(30));
    let check = event(
        "pre_fill_check",
        &[code],
        &t,
        Some(w.station),
        sample_data("pre_fill_check"),
    );
    app.post_events(&w.filler, vec![check]).await.expect(201);
}

/// Registers a device of `kind` for `w`'s enterprise with `extra` fields.
pub async fn register(
    app: &TestApp,
    w: &World,
    kind: &str,
    name: &str,
    extra: Value,
) -> Registered {
    let mut body = json!({"type": kind, "org_id": w.org, "name": name});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = app
        .post(&w.admin, "/api/v1/devices", &body)
        .await
        .expect(201);
    Registered {
        id: r.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("id"),
        secret: r.body["secret"].as_str().expect("secret").to_owned(),
    }
}

/// A scale at `w`'s filling station.
pub async fn scale(app: &TestApp, w: &World) -> Registered {
    register(
        app,
        w,
        "filling_scale",
        "1号充装秤",
        json!({"site_id": w.station, "serial": "CZ-01", "position": 1}),
    )
    .await
}

/// `POST /devices/{id}/up/{kind}` with the device's credentials.
pub async fn http_up(
    app: &TestApp,
    d: &Registered,
    kind: &str,
    body: &Value,
) -> cyltrace_testkit::Resp {
    http_up_as(
        app,
        d.id,
        &format!("Device {}:{}", d.id, d.secret),
        kind,
        body.to_string(),
    )
    .await
}

pub async fn http_up_as(
    app: &TestApp,
    id: Uuid,
    authorization: &str,
    kind: &str,
    body: String,
) -> cyltrace_testkit::Resp {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/devices/{id}/up/{kind}")))
        .header("authorization", authorization)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap_or_default();
    cyltrace_testkit::Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        content_type,
        text,
    }
}

pub fn fill_request(code: &str) -> Value {
    json!({"request_id": Uuid::new_v4().to_string(), "code": code, "medium": LPG})
}

/// A report of a fill that began a minute ago and ended now.
pub fn fill_report(
    app: &TestApp,
    code: &str,
    tare: f64,
    gross: f64,
    decision: Option<&str>,
) -> Value {
    let now = app.state.now();
    let mut r = json!({"id": Uuid::new_v4(), "code": code,
        "begin": rfc3339(now - chrono::Duration::minutes(1)), "end": rfc3339(now),
        "tare_kg": tare, "gross_kg": gross});
    if let Some(d) = decision {
        r["decision_id"] = json!(d);
    }
    r
}

/// The `fill` events of `code`.
pub async fn fills_of(app: &TestApp, w: &World, code: &str) -> usize {
    let r = app
        .get(&w.admin, &format!("/api/v1/fills?code={code}"))
        .await
        .expect(200);
    r.body["items"].as_array().map_or(0, Vec::len)
}

/// A device on an MQTT broker collecting what comes down to it.
pub struct MqttDevice {
    pub id: Uuid,
    pub client: AsyncClient,
    down: mpsc::UnboundedReceiver<(String, Value)>,
}

/// Why a connection ended before it was ready.
#[derive(Debug)]
pub struct Refused(pub String);

impl MqttDevice {
    /// Connects as `id` (username `user`/`password` when given) and subscribes to its down topics.
    pub async fn connect(
        host: &str,
        port: u16,
        id: Uuid,
        login: Option<(&str, &str)>,
    ) -> Result<MqttDevice, Refused> {
        let mut opts = MqttOptions::new(format!("dev-{}", &id.to_string()[..8]), host, port);
        opts.set_keep_alive(Duration::from_secs(30));
        if let Some((u, p)) = login {
            opts.set_credentials(u, p);
        }
        let (client, mut events) = AsyncClient::new(opts, 100);
        let (tx, down) = mpsc::unbounded_channel();
        let (ready_tx, mut ready) = mpsc::unbounded_channel::<Result<(), String>>();
        let sub = client.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = sub
                            .subscribe(format!("cyltrace/{id}/down/#"), QoS::AtLeastOnce)
                            .await;
                    }
                    Ok(Event::Incoming(Packet::SubAck(a))) => {
                        let ok = a
                            .return_codes
                            .iter()
                            .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure));
                        let _ = ready_tx.send(if ok {
                            Ok(())
                        } else {
                            Err("suback failure".into())
                        });
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let kind = p.topic.rsplit('/').next().unwrap_or_default().to_owned();
                        let v = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        if tx.send((kind, v)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if tx.is_closed() {
                            return;
                        }
                    }
                }
            }
        });
        match tokio::time::timeout(Duration::from_secs(10), ready.recv()).await {
            Ok(Some(Ok(()))) => Ok(MqttDevice { id, client, down }),
            Ok(Some(Err(e))) => {
                let _ = client.disconnect().await;
                Err(Refused(e))
            }
            _ => Err(Refused("no answer".into())),
        }
    }

    pub async fn publish(&self, kind: &str, payload: &Value) {
        self.publish_on(&format!("cyltrace/{}/up/{kind}", self.id), payload)
            .await;
    }

    pub async fn publish_on(&self, topic: &str, payload: &Value) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .await
            .expect("publish");
    }

    /// The next message of `kind` whose `key` is `value` (others are dropped), within `wait`.
    pub async fn next(
        &mut self,
        kind: &str,
        key: &str,
        value: &str,
        wait: Duration,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.down.recv()).await {
                Ok(Some((k, v))) if k == kind && v[key].as_str() == Some(value) => return Some(v),
                Ok(Some(_)) => {}
                _ => return None,
            }
        }
    }

    /// Publishes until the answer comes (a device resends until answered): the node's own client
    /// may not have subscribed yet when the test begins.
    pub async fn ask(
        &mut self,
        kind: &str,
        payload: &Value,
        answer: &str,
        key: &str,
        value: &str,
    ) -> Value {
        for _ in 0..20 {
            self.publish(kind, payload).await;
            if let Some(v) = self.next(answer, key, value, Duration::from_secs(1)).await {
                return v;
            }
        }
        panic!("no {answer} for {kind} {value}");
    }

    /// The next message of `kind` whatever it says.
    pub async fn next_any(&mut self, kind: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.down.recv()).await {
                Ok(Some((k, v))) if k == kind => return Some(v),
                Ok(Some(_)) => {}
                _ => return None,
            }
        }
    }
}

/// A Mosquitto of the test's own, configured as the README says (password file, ACL patterns), on
/// a free port; stopped when dropped.
pub struct OwnMosquitto {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for OwnMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn mosquitto_with(port: u16, logins: &[(String, String)]) -> OwnMosquitto {
    let dir = tempfile::tempdir().expect("dir");
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "").unwrap();
    for (u, p) in logins {
        let ok = std::process::Command::new("mosquitto_passwd")
            .args(["-b", passwd.to_str().unwrap(), u, p])
            .status()
            .expect("mosquitto_passwd (Debian package mosquitto)");
        assert!(ok.success());
    }
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "user cyltrace-node\ntopic readwrite cyltrace/#\n\npattern write cyltrace/%u/up/#\npattern read cyltrace/%u/down/#\n",
    )
    .unwrap();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwd.display(),
            acl.display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("mosquitto")
        .args(["-c", conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto (Debian package mosquitto)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    OwnMosquitto { child, _dir: dir }
}
