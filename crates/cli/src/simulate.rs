//! `cyltrace simulate`: devices that talk to a node over MQTT, for demos and load (issue 18).
//! Scales ask to fill one of their cylinders and report the fill when allowed; label readers and
//! leak alarms send heartbeats and readings, and a leak alarm sometimes raises `leak`. Each device
//! is its own MQTT client with its own login. At the end it prints what it sent and how long the
//! scales waited for their answers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use cyltrace_server::demo::devices::DemoDevice;
use rand::Rng;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use uuid::Uuid;

/// How the run went.
#[derive(Default)]
struct Tally {
    sent: u64,
    allowed: u64,
    refused: u64,
    reported: u64,
    leaks: u64,
    errors: u64,
    /// Round trips of `fill_request` → `fill_answer`, in microseconds.
    waits: Vec<u64>,
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// Runs `devices` (from `file`) against the broker at `host:port` for `secs` seconds; each sends a
/// message every `every` (with jitter).
pub async fn run(
    file: &Path,
    host: &str,
    port: u16,
    secs: u64,
    every: Duration,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "读取设备清单 {} 失败（先运行 serve --demo）",
            file.display()
        )
    })?;
    let devices: Vec<DemoDevice> = serde_json::from_str(&text).context("设备清单格式错误")?;
    anyhow::ensure!(!devices.is_empty(), "设备清单为空");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for d in devices {
        let (tally, host) = (tally.clone(), host.to_owned());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = device(d, &host, port, stop, every, tally.clone()).await {
                eprintln!("{e:#}");
                tally.lock().map(|mut t| t.errors += 1).ok();
            }
        }));
    }
    for t in tasks {
        t.await.ok();
    }
    let mut t = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    t.waits.sort_unstable();
    let pct = |p: f64| {
        t.waits
            .get(((t.waits.len() as f64 * p) as usize).min(t.waits.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    println!(
        "已发送 {} 条消息：允许充装 {}，拒绝 {}，充装上报 {}，泄漏报警 {}，错误 {}",
        t.sent, t.allowed, t.refused, t.reported, t.leaks, t.errors
    );
    if !t.waits.is_empty() {
        println!(
            "fill_request → fill_answer：{} 次，p50 {:.2} ms，p99 {:.2} ms",
            t.waits.len(),
            pct(0.5),
            pct(0.99)
        );
    }
    Ok(())
}

// A simulated device keeps its own clock, as a real one does.
#[allow(clippy::disallowed_methods)]
async fn device(
    d: DemoDevice,
    host: &str,
    port: u16,
    stop: Instant,
    every: Duration,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(format!("sim-{}", d.id), host, port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_credentials(d.id.to_string(), d.secret.clone());
    let (client, mut events) = AsyncClient::new(opts, 100);
    let waiting: Waiting = Arc::default();
    let (ready_tx, ready) = oneshot::channel();
    let w = waiting.clone();
    let sub = client.clone();
    let topic = format!("cyltrace/{}/down/#", d.id);
    let name = d.name.clone();
    let poller = tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    sub.subscribe(topic.clone(), QoS::AtLeastOnce).await.ok();
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = ready_tx.take() {
                        tx.send(()).ok();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: Value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                    let key = v["request_id"]
                        .as_str()
                        .or(v["id"].as_str())
                        .map(str::to_owned);
                    if let Some(k) = key
                        && let Some(tx) = w.lock().ok().and_then(|mut m| m.remove(&k))
                    {
                        tx.send(v).ok();
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("{name}: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .map_err(|_| anyhow::anyhow!("{}: 未能连接或订阅", d.name))??;
    let up = |kind: &str| format!("cyltrace/{}/up/{kind}", d.id);
    let ask = |kind: &'static str, key: String, payload: Value| {
        let (client, waiting, topic) = (client.clone(), waiting.clone(), up(kind));
        async move {
            let (tx, rx) = oneshot::channel();
            waiting.lock().map(|mut m| m.insert(key, tx)).ok();
            client
                .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
                .await?;
            let v = tokio::time::timeout(Duration::from_secs(10), rx).await??;
            anyhow::Ok(v)
        }
    };
    while Instant::now() < stop {
        let jitter = rand::rng().random_range(0.5..1.5);
        tokio::time::sleep(every.mul_f64(jitter)).await;
        let count = |f: &dyn Fn(&mut Tally)| {
            if let Ok(mut t) = tally.lock() {
                t.sent += 1;
                f(&mut t);
            }
        };
        match d.type_id.as_str() {
            "filling_scale" if !d.codes.is_empty() => {
                let code = &d.codes[rand::rng().random_range(0..d.codes.len())];
                let rid = Uuid::new_v4().to_string();
                let began = Instant::now();
                let a = ask(
                    "fill_request",
                    rid.clone(),
                    json!({"request_id": rid, "code": code, "medium": "液化石油气"}),
                )
                .await?;
                let waited = began.elapsed().as_micros() as u64;
                let allow = a["allow"] == true;
                count(&|t| {
                    t.waits.push(waited);
                    if allow {
                        t.allowed += 1
                    } else {
                        t.refused += 1
                    }
                });
                if let (true, Some(target), Some(limit)) = (
                    allow,
                    a["target_gross_kg"].as_f64(),
                    a["fill_limit_kg"].as_f64(),
                ) {
                    let now = chrono::Utc::now();
                    let id = Uuid::new_v4();
                    let report = json!({"id": id, "code": code, "decision_id": a["decision_id"],
                        "begin": (now - chrono::Duration::seconds(90)).to_rfc3339(), "end": now.to_rfc3339(),
                        "tare_kg": target - limit, "gross_kg": target - 0.1});
                    let ack = ask("fill_report", id.to_string(), report).await?;
                    count(&|t| {
                        if ack.get("error").is_none() {
                            t.reported += 1
                        } else {
                            t.errors += 1
                        }
                    });
                }
            }
            "leak_alarm" => {
                let c: f64 = rand::rng().random_range(0.0..8.0);
                let leak = rand::rng().random_bool(0.02);
                let v = json!({"values": {"concentration": if leak { 35.0 } else { c }, "battery": 88}});
                client
                    .publish(up("property"), QoS::AtLeastOnce, false, v.to_string())
                    .await?;
                count(&|_| {});
                if leak {
                    let id = Uuid::new_v4();
                    let e = json!({"id": id, "event": "leak", "time": chrono::Utc::now().to_rfc3339(),
                                   "output": {"concentration": 35.0}});
                    ask("event", id.to_string(), e).await?;
                    count(&|t| t.leaks += 1);
                }
            }
            _ => {
                client
                    .publish(up("heartbeat"), QoS::AtLeastOnce, false, "{}")
                    .await?;
                count(&|_| {});
            }
        }
    }
    client.disconnect().await.ok();
    poller.abort();
    Ok(())
}
