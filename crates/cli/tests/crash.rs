//! A crash test of the real binary (issue 15; G3): `cyltrace serve` under load from several clients
//! is killed with SIGKILL at a random moment, restarted on the same data, and must have stored every
//! event and every filling-control decision it answered (B1: "every decision is recorded"), no event
//! twice, and a ledger that `cyltrace verify` accepts. SQLite in a temporary data directory, or, when
//! `CYLTRACE_TEST_DATABASE_URL` is set, a fresh PostgreSQL database created for the test and dropped
//! after it.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "Bootstrap2026";
const PASSWORD: &str = "Passw0rd2026";
const LPG: &str = "液化石油气";
const TRIALS: usize = 20;
const CLIENTS: usize = 4;
const CYLINDERS: u64 = 8;
/// How long the load runs before the kill: a random time in this range (ms).
const LOAD_MS: std::ops::Range<u64> = 50..400;

// ---------------------------------------------------------------------------------------------
// The node: its data directory and database, the binary started and stopped on them

/// A PostgreSQL database created for this test, dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!("cyltrace_crash_{}", Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to CYLTRACE_TEST_DATABASE_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
            .execute(&mut c)
            .await
            .expect("create the test database");
        PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// The URL of this database: the admin URL with its database name replaced.
    fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A runtime of its own: the test's runtime may be shutting down.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    use sqlx::Connection;
                    let mut c = sqlx::PgConnection::connect(&url).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "drop database if exists \"{name}\" with (force)"
                    )))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// `postgres://u@h:p/old?x=y` → `postgres://u@h:p/name?x=y`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

struct Node {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    _pg: Option<PgDatabase>,
}

impl Node {
    async fn new() -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("CYLTRACE_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let pg = PgDatabase::create(&url).await;
                Node {
                    dir,
                    database_url: Some(pg.url()),
                    _pg: Some(pg),
                }
            }
            _ => Node {
                dir,
                database_url: None,
                _pg: None,
            },
        }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `cyltrace <args> --data-dir DIR`, with this node's database and nothing from the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyltrace"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .env_remove("CYLTRACE_DATABASE_URL")
            .env_remove("CYLTRACE_CONFIG")
            .env("RUST_BACKTRACE", "0");
        if let Some(url) = &self.database_url {
            cmd.env("CYLTRACE_DATABASE_URL", url);
        }
        cmd
    }

    /// Starts `cyltrace serve` on a free port, its output to `log`, and waits until it listens.
    async fn start(&self, log: PathBuf) -> Running {
        let out = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env(
                "CYLTRACE_BOOTSTRAP_ADMIN",
                format!("{ADMIN}:{ADMIN_PASSWORD}"),
            )
            .env("CYLTRACE_LOG", "info")
            .stdout(Stdio::from(out.try_clone().expect("log file")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start cyltrace serve");
        let mut running = Running {
            child,
            base: String::new(),
            log,
        };
        // Bounded polling for start-up: the first line printed names the URL.
        for _ in 0..3000 {
            let text = std::fs::read_to_string(&running.log).unwrap_or_default();
            if let Some(url) = text.split_whitespace().find(|w| w.starts_with("http://")) {
                running.base = url.to_owned();
                return running;
            }
            if let Some(status) = running.child.try_wait().expect("try_wait") {
                panic!("cyltrace serve exited ({status}):\n{}", running.tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("cyltrace serve did not start:\n{}", running.tail());
    }

    fn verify(&self) -> Output {
        self.command(&["verify"])
            .output()
            .expect("run cyltrace verify")
    }
}

/// A running `cyltrace serve`; killed when dropped.
struct Running {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Running {
    /// The last lines of the server's output.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        )
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reaps the process.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, and waits (bounded) for a clean exit.
    async fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {pid}");
        for _ in 0..1500 {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(
                    status.success(),
                    "exit {status} after SIGTERM:\n{}",
                    self.tail()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no exit within 30 s of SIGTERM:\n{}", self.tail());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A client

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: &str, token: &str) -> Api {
        Api {
            // A fresh client per server: no pooled connection to a killed process.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Status and JSON body; `Err` when no answer came (the server died under the request).
    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A `201 {"id"}` answer's id.
    async fn create(&self, path: &str, body: Value) -> String {
        let (status, b) = self.post(path, &body).await.expect("answer");
        assert_eq!(status, 201, "POST {path}: {b}");
        b["id"].as_str().expect("id").to_owned()
    }
}

async fn login(base: &str, username: &str, password: &str) -> String {
    let (status, b) = Api::new(base, "")
        .post(
            "/api/v1/auth/token",
            &json!({"username": username, "password": password}),
        )
        .await
        .expect("answer");
    assert_eq!(status, 200, "login {username}: {b}");
    b["token"].as_str().expect("token").to_owned()
}

/// What was set up once: the node admin's and the filler's tokens, the filling station and the
/// cylinders.
struct Setup {
    admin: String,
    filler: String,
    station: String,
    codes: Vec<String>,
}

async fn setup(base: &str) -> Setup {
    let admin = login(base, ADMIN, ADMIN_PASSWORD).await;
    let api = Api::new(base, &admin);
    let province = api
        .create(
            "/api/v1/orgs",
            json!({"kind": "regulator", "name": "云南省市场监督管理局", "region_code": "530000"}),
        )
        .await;
    let prefecture = api
        .create(
            "/api/v1/orgs",
            json!({"kind": "regulator", "name": "昆明市市场监督管理局", "region_code": "530100",
                   "parent_id": province}),
        )
        .await;
    let org = api
        .create(
            "/api/v1/orgs",
            cyltrace_testkit::enterprise_body("昆明燃气", prefecture.parse().expect("uuid")),
        )
        .await;
    let station = api
        .create(
            "/api/v1/sites",
            json!({"org_id": org, "kind": "filling_station", "name": "充装站"}),
        )
        .await;
    api.create(
        "/api/v1/users",
        json!({"username": "filler", "password": PASSWORD, "name": "充装工", "org_id": org,
               "roles": ["filler"]}),
    )
    .await;
    let codes: Vec<String> = (0..CYLINDERS)
        .map(|i| (1_107_000_000 + i).to_string())
        .collect();
    let archives: Vec<Value> = codes
        .iter()
        .map(|c| {
            let mut a = cyltrace_testkit::archive(c, org.parse().expect("uuid"));
            a["next_check_date"] = json!("2030-06-01");
            // Checked recently: a next check in 2030 lies within the check period (issue 22).
            a["last_check_date"] = json!("2026-06-01");
            a
        })
        .collect();
    let (status, b) = api
        .post("/api/v1/cylinders", &json!({"cylinders": archives}))
        .await
        .expect("answer");
    assert_eq!(status, 201, "{b}");
    Setup {
        admin,
        filler: login(base, "filler", PASSWORD).await,
        station,
        codes,
    }
}

// ---------------------------------------------------------------------------------------------
// Load

/// What one client saw: the answered events (id → ledger index) and decisions, the batch in flight
/// when the server died (with the token that sent it: a retry comes from the same user), and any
/// answer other than success.
#[derive(Default)]
struct Seen {
    events: BTreeMap<String, i64>,
    decisions: Vec<String>,
    unanswered: Vec<(String, Vec<Value>)>,
    unexpected: Vec<String>,
}

/// A check that is always accepted (no guard refuses it): a passed pre-fill or in-fill check.
fn check_event(code: &str, station: &str, in_fill: bool) -> Value {
    let time =
        (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let (kind, data) = if in_fill {
        (
            "in_fill_check",
            json!({"no_abnormal_sound": true, "no_seal_leak": true, "wall_temperature_normal": true,
                   "no_other_abnormality": true}),
        )
    } else {
        (
            "pre_fill_check",
            cyltrace_testkit::sample_data("pre_fill_check"),
        )
    };
    json!({"id": Uuid::new_v4(), "kind": kind, "codes": [code], "time": time, "site_id": station,
           "data": data})
}

/// Records the answered events of `batch` in `seen`, or the answer when it is not the expected 201.
fn note_events(seen: &mut Seen, batch: &[Value], status: u16, body: &Value) {
    let accepted = body["accepted"].as_array();
    let sent: Vec<&Value> = batch.iter().map(|e| &e["id"]).collect();
    let got: Vec<&Value> = accepted
        .iter()
        .flat_map(|a| a.iter().map(|x| &x["id"]))
        .collect();
    if status != 201 || sent != got {
        seen.unexpected
            .push(format!("POST /events answered {status}: {body}"));
        return;
    }
    for a in accepted.expect("checked") {
        let index = a["ledger_index"].as_i64().expect("ledger_index");
        seen.events
            .insert(a["id"].as_str().expect("id").to_owned(), index);
    }
}

/// One client: event batches and filling-control questions, one after another, until the server
/// stops answering.
async fn client(api: Api, setup: Arc<(String, Vec<String>)>, seed: u64) -> Seen {
    let (station, codes) = &*setup;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = Seen::default();
    loop {
        let code = &codes[rng.random_range(0..codes.len())];
        if rng.random_bool(0.5) {
            let n = rng.random_range(1..=3);
            let batch: Vec<Value> = (0..n)
                .map(|_| check_event(code, station, rng.random_bool(0.3)))
                .collect();
            match api.post("/api/v1/events", &json!({"events": batch})).await {
                Ok((status, body)) => {
                    note_events(&mut seen, &batch, status, &body);
                }
                Err(_) => {
                    seen.unanswered.push((api.token.clone(), batch));
                    return seen;
                }
            }
        } else {
            let ask = json!({"code": code, "site_id": station, "medium": LPG});
            match api.post("/api/v1/fill-control", &ask).await {
                Ok((200, body)) if body["decision_id"].is_string() => seen
                    .decisions
                    .push(body["decision_id"].as_str().expect("id").to_owned()),
                Ok((status, body)) => seen
                    .unexpected
                    .push(format!("POST /fill-control answered {status}: {body}")),
                Err(_) => return seen,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the restarted server holds

/// Every stored event of the cylinders (id → ledger index); duplicates are reported in `problems`.
async fn stored_events(
    api: &Api,
    codes: &[String],
    problems: &mut Vec<String>,
) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for code in codes {
        let (status, b) = api.get(&format!("/api/v1/cylinders/{code}/events")).await;
        assert_eq!(status, 200, "{b}");
        for e in b["events"].as_array().expect("events") {
            let id = e["id"].as_str().expect("id").to_owned();
            let index = e["ledger_index"].as_i64().expect("ledger_index");
            if let Some(before) = all.insert(id.clone(), index) {
                problems.push(format!(
                    "event {id} is listed twice (ledger indexes {before} and {index})"
                ));
            }
        }
    }
    all
}

/// Every recorded decision id (the node admin sees all), page by page.
async fn stored_decisions(api: &Api, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut offset = 0;
    loop {
        let (status, b) = api
            .get(&format!(
                "/api/v1/fill-control/decisions?limit=500&offset={offset}"
            ))
            .await;
        assert_eq!(status, 200, "{b}");
        let items = b["items"].as_array().expect("items");
        for d in items {
            let id = d["decision_id"].as_str().expect("decision_id").to_owned();
            if !ids.insert(id.clone()) {
                problems.push(format!("decision {id} is listed twice"));
            }
        }
        offset += items.len();
        if items.is_empty() || offset as i64 >= b["total"].as_i64().expect("total") {
            return ids;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test

// Issue 15 (3): every answered filling-control decision is committed before its answer; events are
// committed before their 2xx (G3); a retried batch is not stored twice; the ledger verifies after a
// crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_event_and_decision_survives_kill_9() {
    let node = Node::new().await;
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let log =
        |trial: usize, what: &str| node.data_dir().join(format!("serve-{trial:02}-{what}.log"));

    let mut first = node.start(log(0, "setup")).await;
    let s = setup(&first.base).await;
    first.stop().await;
    drop(first);
    let shared = Arc::new((s.station.clone(), s.codes.clone()));

    let mut answered_events: BTreeMap<String, i64> = BTreeMap::new();
    let mut answered_decisions: BTreeSet<String> = BTreeSet::new();
    // Per trial: (decisions answered, decisions lost), and every other problem.
    let mut decision_losses: Vec<(usize, usize, usize)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for trial in 1..=TRIALS {
        let mut problems = Vec::new();
        // Load from several clients, then SIGKILL after a random delay.
        let mut server = node.start(log(trial, "load")).await;
        let load_ms = rng.random_range(LOAD_MS);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let token = if rng.random_bool(0.5) {
                    &s.filler
                } else {
                    &s.admin
                };
                tokio::spawn(client(
                    Api::new(&server.base, token),
                    shared.clone(),
                    rng.random(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            panic!(
                "trial {trial}: the server died by itself ({status}):\n{}",
                server.tail()
            );
        }
        server.kill9();
        let load_tail = server.tail();
        let mut unanswered = Vec::new();
        let (mut events_now, mut decisions_now) = (0, 0);
        for c in clients {
            let seen = c.await.expect("client task");
            events_now += seen.events.len();
            decisions_now += seen.decisions.len();
            answered_events.extend(seen.events);
            answered_decisions.extend(seen.decisions.iter().cloned());
            unanswered.extend(seen.unanswered);
            problems.extend(seen.unexpected);
        }

        // Restarted on the same data.
        let mut server = node.start(log(trial, "restart")).await;
        let api = Api::new(&server.base, &s.admin);
        // A client retries what got no answer (same ids, same user): accepted, and stored once.
        let mut retried = Seen::default();
        for (token, batch) in &unanswered {
            let (status, body) = Api::new(&server.base, token)
                .post("/api/v1/events", &json!({"events": batch}))
                .await
                .expect("the restarted server answers");
            note_events(&mut retried, batch, status, &body);
        }
        answered_events.extend(retried.events);
        problems.extend(retried.unexpected);

        let stored = stored_events(&api, &s.codes, &mut problems).await;
        let lost_events: Vec<&String> = answered_events
            .keys()
            .filter(|id| !stored.contains_key(*id))
            .collect();
        if !lost_events.is_empty() {
            problems.push(format!(
                "{} answered events are not stored, e.g. {:?}",
                lost_events.len(),
                &lost_events[..lost_events.len().min(3)]
            ));
        }
        for (id, index) in &answered_events {
            if let Some(i) = stored.get(id)
                && i != index
            {
                problems.push(format!(
                    "event {id} was answered with ledger index {index}, stored at {i}"
                ));
            }
        }
        // The ledger holds each stored event once: indexes 0..n, nothing at n.
        let indexes: BTreeSet<i64> = stored.values().copied().collect();
        let n = stored.len() as i64;
        if indexes != (0..n).collect() {
            problems.push(format!(
                "{n} stored events with {} distinct ledger indexes from {:?} to {:?}",
                indexes.len(),
                indexes.first(),
                indexes.last()
            ));
        }
        let (status, b) = api.get(&format!("/api/v1/ledger/entries/{n}")).await;
        if status != 404 {
            problems.push(format!(
                "the ledger has an entry at {n} beyond the {n} stored events: {b}"
            ));
        }

        let decisions = stored_decisions(&api, &mut problems).await;
        let lost = answered_decisions.difference(&decisions).count();
        decision_losses.push((trial, decisions_now, lost));
        if lost > 0 {
            problems.push(format!(
                "{lost} answered decisions are not recorded ({decisions_now} answered in this trial)"
            ));
            // Counted once: the next trials check what they answer themselves.
            answered_decisions.retain(|d| decisions.contains(d));
        }

        server.stop().await;
        let restart_tail = server.tail();
        drop(server);
        let v = node.verify();
        if !v.status.success() {
            problems.push(format!(
                "cyltrace verify exited {}: {}{}",
                v.status,
                String::from_utf8_lossy(&v.stdout),
                String::from_utf8_lossy(&v.stderr)
            ));
        }
        eprintln!(
            "trial {trial}: {load_ms} ms of load, {events_now} events and {decisions_now} decisions answered, {} batches retried, {} stored events, {} problems",
            unanswered.len(),
            stored.len(),
            problems.len()
        );
        if !problems.is_empty() {
            // The servers' output of the first failed trial only.
            let tails = if failures.is_empty() {
                format!("\n{load_tail}\n{restart_tail}")
            } else {
                String::new()
            };
            failures.push(format!(
                "trial {trial} ({load_ms} ms of load):\n  {}{tails}",
                problems.join("\n  ")
            ));
        }
    }
    let lossy: Vec<String> = decision_losses
        .iter()
        .filter(|(_, _, lost)| *lost > 0)
        .map(|(t, answered, lost)| format!("trial {t}: {lost} of {answered}"))
        .collect();
    assert!(
        failures.is_empty(),
        "seed {seed} (CRASH_SEED to repeat): {} of {TRIALS} trials failed; decisions lost: [{}]\n{}",
        failures.len(),
        lossy.join(", "),
        failures.join("\n")
    );
}
