//! The 1+16+N federation (E1, E2, B6, G3): three real nodes on loopback ports — an enterprise
//! platform uploading to a prefecture platform uploading to the province — each with its own
//! database, ledger and uplink worker, talking `/PS` over HTTP.
//!
//! Archives flow down (`GenericBottle/List`), trace records flow up through the outbox; an outage of
//! the prefecture delays records but loses and duplicates none; an enterprise that rewrites a past
//! event and rebuilds its log to match is caught by the prefecture, which holds its earlier
//! checkpoints (witness).
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Duration;

use cyltrace_domain::CreditCode;
use cyltrace_ledger::{Hash, TileData, append_tiles};
use cyltrace_server::{AppState, Config, Server};
use cyltrace_store::LedgerParams;
use cyltrace_testkit::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestDb, archive, event, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

const CODES: [&str; 3] = ["1105000001", "1105000002", "1105000003"];

/// One node: its database outlives restarts of its server.
struct Node {
    db: TestDb,
    config: Config,
    state: AppState,
    addr: SocketAddr,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    admin: String,
}

impl Node {
    async fn start(upstream: Option<(&Node, &str)>) -> Node {
        let params = LedgerParams {
            outbox: upstream.is_some(),
            ..Default::default()
        };
        let db = TestDb::with_params(&params).await;
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: db.dir.path().to_path_buf(),
            bootstrap_admin: Some(format!("{ADMIN}:{ADMIN_PASSWORD}").into()),
            uplink_interval_ms: 100,
            uplink_pull_secs: 1,
            // No MQTT: 1883 is Mosquitto's here, and three nodes run side by side.
            mqtt_listen: String::new(),
            ..Config::default()
        };
        if let Some((up, account)) = upstream {
            config.upstream_url = Some(format!("http://{}", up.addr));
            config.upstream_account = Some(account.to_owned());
            config.upstream_password = Some(PASSWORD.into());
        }
        let state =
            cyltrace_server::state_with_store(config.clone(), db.store.clone()).expect("state");
        cyltrace_server::prepare(&state).await.expect("bootstrap");
        let mut node = Node {
            db,
            config,
            state,
            addr: "127.0.0.1:0".parse().expect("addr"),
            client: reqwest::Client::new(),
            stop: None,
            task: None,
            admin: String::new(),
        };
        node.serve().await;
        node.admin = node.login(ADMIN).await;
        node
    }

    /// Serves on the node's address (the first time: a free port, kept for restarts).
    async fn serve(&mut self) {
        self.config.listen = self.addr;
        self.state = cyltrace_server::state_with_store(self.config.clone(), self.db.store.clone())
            .expect("state");
        let server = Server::bind(self.state.clone()).await.expect("bind");
        self.addr = server.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let stop = async {
                rx.await.unwrap_or(());
            };
            if let Err(e) = server.serve(stop).await {
                eprintln!("node stopped: {e}");
            }
        }));
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
    }

    async fn login(&self, user: &str) -> String {
        let password = if user == ADMIN {
            ADMIN_PASSWORD
        } else {
            PASSWORD
        };
        let r = self
            .post(
                "",
                "/api/v1/auth/token",
                &json!({"username": user, "password": password}),
            )
            .await;
        r["token"].as_str().expect("token").to_owned()
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> Value {
        let r = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn org(&self, body: Value) -> Uuid {
        self.post(&self.admin, "/api/v1/orgs", &body).await["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("org id")
    }

    async fn user(&self, org: Uuid, username: &str, roles: &[&str]) -> String {
        self.post(
            &self.admin,
            "/api/v1/users",
            &json!({"username": username, "password": PASSWORD, "name": username, "org_id": org, "roles": roles}),
        )
        .await;
        self.login(username).await
    }

    /// The kinds of a cylinder's events as this node has them.
    async fn kinds(&self, token: &str, code: &str) -> Vec<String> {
        let (status, v) = self
            .get(token, &format!("/api/v1/cylinders/{code}/events"))
            .await;
        if status != 200 {
            return vec![];
        }
        v["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Polls `check` until it holds (the workers run on their own); fails after 30 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn credit() -> String {
    CreditCode::with_check("91530100MA6K0000X")
        .expect("credit code")
        .as_str()
        .to_owned()
}

fn enterprise(parent: Uuid) -> Value {
    json!({"kind": "filling_enterprise", "name": "昆明燃气有限公司", "region_code": "530102", "parent_id": parent,
        "credit_code": credit(),
        "licences": [{"kind": "filling", "number": "TS4253001-2028", "valid_until": "2030-12-31"},
                     {"kind": "gas_business", "number": "云燃经字第001号", "valid_until": "2030-12-31"}]})
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| k.as_str() == kind).count()
}

/// A round of pre-fill check, fill and post-fill check on every cylinder, `minutes_ago` back.
fn filling_round(site: Uuid, minutes_ago: i64) -> Vec<Value> {
    let t = |m: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(m))
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("cst"))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    let mut out = Vec::new();
    for code in CODES {
        out.push(event(
            "pre_fill_check",
            &[code],
            &t(minutes_ago),
            None,
            sample_data("pre_fill_check"),
        ));
        let mut fill = sample_data("fill");
        fill["begin"] = json!(t(minutes_ago - 1));
        fill["end"] = json!(t(minutes_ago - 2));
        out.push(event(
            "fill",
            &[code],
            &t(minutes_ago - 2),
            Some(site),
            fill,
        ));
        out.push(event(
            "post_fill_check",
            &[code],
            &t(minutes_ago - 3),
            None,
            sample_data("post_fill_check"),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enterprise_to_prefecture_to_province() {
    // --- the province: registration of record; the prefecture platform has an account there.
    let province = Node::start(None).await;
    let p_root = province
        .org(json!({"kind": "regulator", "name": "云南省市场监督管理局", "region_code": "530000"}))
        .await;
    let p_km = province
        .org(json!({"kind": "regulator", "name": "昆明市市场监督管理局", "region_code": "530100", "parent_id": p_root}))
        .await;
    province.user(p_km, "km_platform", &["platform"]).await;
    let p_reg = province.user(p_root, "yn_regulator", &["regulator"]).await;
    let p_ent = province.org(enterprise(p_km)).await;
    let archives: Vec<Value> = CODES.iter().map(|c| archive(c, p_ent)).collect();
    province
        .post(
            &province.admin,
            "/api/v1/cylinders",
            &json!({"cylinders": archives}),
        )
        .await;

    // --- the prefecture: uploads to the province; the enterprise platform has an account here.
    let mut prefecture = Node::start(Some((&province, "km_platform"))).await;
    let k_root = prefecture
        .org(json!({"kind": "regulator", "name": "昆明市市场监督管理局", "region_code": "530100"}))
        .await;
    let k_ent = prefecture.org(enterprise(k_root)).await;
    let k_up_token = prefecture
        .user(k_ent, "kmgas_platform", &["platform"])
        .await;
    let k_reg = prefecture
        .user(k_root, "km_regulator", &["regulator"])
        .await;

    // Archives come down from the province (owner mapped by the credit code).
    eventually("the prefecture pulls the province's archives", || async {
        prefecture
            .get(&k_reg, &format!("/api/v1/cylinders/{}", CODES[2]))
            .await
            .0
            == 200
    })
    .await;

    // --- the enterprise platform: uploads to the prefecture.
    let mut ent = Node::start(Some((&prefecture, "kmgas_platform"))).await;
    let n_root = ent
        .org(json!({"kind": "regulator", "name": "昆明市市场监督管理局", "region_code": "530100"}))
        .await;
    let n_ent = ent.org(enterprise(n_root)).await;
    let station: Uuid = ent
        .post(
            &ent.admin,
            "/api/v1/sites",
            &json!({"org_id": n_ent, "kind": "filling_station", "name": "一号充装站"}),
        )
        .await["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("site");
    let filler = ent.user(n_ent, "kmgas_filler", &["filler"]).await;
    eventually("the enterprise pulls its archives", || async {
        ent.get(&filler, &format!("/api/v1/cylinders/{}", CODES[2]))
            .await
            .0
            == 200
    })
    .await;
    let (_, c) = ent
        .get(&filler, &format!("/api/v1/cylinders/{}", CODES[0]))
        .await;
    assert_eq!(
        c["owner_org_id"],
        json!(n_ent),
        "owner mapped by credit code: {c}"
    );
    assert!(
        c["registration"]["number"].is_string(),
        "registration comes down: {c}"
    );

    // --- 1. a filling workflow at the enterprise reaches the prefecture and the province.
    ent.post(
        &filler,
        "/api/v1/events",
        &json!({"events": filling_round(station, 60)}),
    )
    .await;
    for code in CODES {
        eventually("records reach the prefecture", || async {
            prefecture.kinds(&k_reg, code).await.len() >= 3
        })
        .await;
        eventually("records reach the province", || async {
            province.kinds(&p_reg, code).await.len() >= 3
        })
        .await;
    }
    let k = prefecture.kinds(&k_reg, CODES[0]).await;
    assert_eq!(
        (
            count(&k, "pre_fill_check"),
            count(&k, "fill"),
            count(&k, "post_fill_check")
        ),
        (1, 1, 1),
        "{k:?}"
    );

    // --- 2. the prefecture is down for a while; the enterprise keeps filling.
    prefecture.shutdown().await;
    ent.post(
        &filler,
        "/api/v1/events",
        &json!({"events": filling_round(station, 30)}),
    )
    .await;
    eventually("the enterprise's outbox holds the new records", || async {
        let (_, s) = ent.get(&ent.admin, "/api/v1/uplink/status").await;
        s["pending"].as_i64() == Some(9)
    })
    .await;
    // Failed attempts are counted while the upstream is unreachable.
    eventually(
        "delivery attempts fail while the prefecture is down",
        || async {
            let rows = ent.state.store.outbox_pending(100).await.expect("outbox");
            rows.iter().any(|r| r.attempts > 0)
        },
    )
    .await;
    prefecture.serve().await;
    for code in CODES {
        eventually("everything arrives after the outage", || async {
            province.kinds(&p_reg, code).await.len() >= 6
        })
        .await;
    }
    let (_, s) = ent.get(&ent.admin, "/api/v1/uplink/status").await;
    assert_eq!(
        (s["pending"].as_i64(), s["sent"].as_i64()),
        (Some(0), Some(18)),
        "{s}"
    );
    // Exactly once at every level.
    for code in CODES {
        for (node, token) in [(&prefecture, &k_reg), (&province, &p_reg)] {
            let k = node.kinds(token, code).await;
            assert_eq!(
                (
                    count(&k, "pre_fill_check"),
                    count(&k, "fill"),
                    count(&k, "post_fill_check"),
                    k.len()
                ),
                (2, 2, 2, 6),
                "{code}: {k:?}"
            );
        }
    }

    // The prefecture witnessed the enterprise's log, the province the prefecture's.
    let k_up: Uuid = {
        let (_, me) = prefecture.get(&k_up_token, "/api/v1/me").await;
        me["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("user id")
    };
    let ent_size = ent.state.store.ledger_size().await.expect("size");
    eventually(
        "the prefecture holds the enterprise's checkpoint",
        || async {
            prefecture
                .state
                .store
                .latest_witness(k_up)
                .await
                .expect("witness")
                .is_some_and(|w| w.size == ent_size)
        },
    )
    .await;
    let (_, alarms) = prefecture.get(&k_reg, "/api/v1/regulator/alarms").await;
    assert_eq!(alarms["items"], json!([]), "no alarm for an honest node");

    // --- 3. a dishonest enterprise rewrites a past fill and rebuilds its log to match.
    ent.shutdown().await;
    let first_fill: i64 = ent
        .state
        .store
        .events_from(0, 1000)
        .await
        .expect("events")
        .iter()
        .find(|e| e.event.kind().as_str() == "fill")
        .map(|e| e.ledger_index)
        .expect("a fill");
    ent.db
        .as_db_admin(&format!(
            "update events set data = replace(data, '30.8', '29.9') where ledger_index = {first_fill};
             delete from ledger_latest; delete from ledger_checkpoints;"
        ))
        .await;
    let info = ent.state.store.ledger().clone();
    let events = ent.state.store.events_from(0, 1000).await.expect("events");
    assert!(
        events[first_fill as usize].event.data.data_json()["gross_kg"] == json!(29.9),
        "the fill was rewritten"
    );
    let leaves: Vec<Hash> = events
        .iter()
        .map(|e| cyltrace_store::leaf::leaf_hash(info.hash, &info.origin, e))
        .collect();
    let tiles: Vec<TileData> = append_tiles(info.hash, 0, &[], &leaves).expect("tiles");
    let mut sql = String::new();
    for t in &tiles {
        let hex: String = t
            .hashes
            .iter()
            .flat_map(|h| h.0)
            .map(|b| format!("{b:02x}"))
            .collect();
        let blob = if ent.db.schema.is_some() {
            format!("'\\x{hex}'::bytea")
        } else {
            format!("x'{hex}'")
        };
        sql.push_str(&format!(
            "update ledger_tiles set hashes = {blob} where level = {} and idx = {};",
            t.tile.level, t.tile.index
        ));
    }
    ent.db.as_db_admin(&sql).await;
    // Locally the rebuilt log is self-consistent: only the checkpoints held upstream can tell.
    ent.serve().await;
    ent.post(
        &filler,
        "/api/v1/events",
        &json!({"events": [event("pre_fill_check", &[CODES[0]], &chrono::Utc::now().to_rfc3339(), None, sample_data("pre_fill_check"))]}),
    )
    .await;
    eventually("the prefecture raises a tamper alarm", || async {
        let (_, a) = prefecture
            .get(&k_reg, "/api/v1/regulator/alarms?kind=ledger_tamper")
            .await;
        a["items"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let (_, a) = prefecture
        .get(&k_reg, "/api/v1/regulator/alarms?kind=ledger_tamper")
        .await;
    let msg = a["items"][0]["message"].as_str().expect("message");
    assert!(msg.contains("不一致") && msg.contains("改写"), "{msg}");
    assert_eq!(
        a["items"][0]["org_id"],
        json!(k_ent),
        "the alarm names the enterprise"
    );
    // The forged checkpoint was not accepted: the witness still holds the honest one.
    let w = prefecture
        .state
        .store
        .latest_witness(k_up)
        .await
        .expect("witness")
        .expect("held");
    assert_eq!(w.size, ent_size);

    ent.shutdown().await;
    prefecture.shutdown().await;
    let mut province = province;
    province.shutdown().await;
}
