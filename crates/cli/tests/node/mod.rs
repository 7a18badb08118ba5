//! The harness of the tests that run the real binary: a node (its data directory and, with
//! `CYLTRACE_TEST_DATABASE_URL`, a PostgreSQL database of its own), `cyltrace serve` started and
//! stopped on it, an API client, and a small enterprise to load it with.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "Bootstrap2026";
pub const PASSWORD: &str = "Passw0rd2026";
pub const CYLINDERS: u64 = 8;

// ---------------------------------------------------------------------------------------------
// The node: its data directory and database, the binary started and stopped on them

/// A PostgreSQL database created for this test, dropped when the test ends.
pub struct PgDatabase {
    pub admin_url: String,
    pub name: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> PgDatabase {
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
    pub fn url(&self) -> String {
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
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

pub struct Node {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub _pg: Option<PgDatabase>,
}

impl Node {
    pub async fn new() -> Node {
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

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `cyltrace <args> --data-dir DIR`, with this node's database and nothing from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
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
    pub async fn start(&self, log: PathBuf) -> Running {
        self.start_with(log, &[]).await
    }

    /// [`Node::start`] with more environment (settings) for the server.
    pub async fn start_with(&self, log: PathBuf, env: &[(&str, &Path)]) -> Running {
        let out = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .env(
                "CYLTRACE_BOOTSTRAP_ADMIN",
                format!("{ADMIN}:{ADMIN_PASSWORD}"),
            )
            .env("CYLTRACE_LOG", "info")
            // 1883 is Mosquitto's on this machine: the embedded broker takes a free port.
            .env("CYLTRACE_MQTT_LISTEN", "127.0.0.1:0")
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
            if let Some(url) = text
                .split_whitespace()
                .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            {
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

    pub fn verify(&self) -> Output {
        self.command(&["verify"])
            .output()
            .expect("run cyltrace verify")
    }
}

/// A running `cyltrace serve`; killed when dropped.
pub struct Running {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Running {
    /// The last lines of the server's output.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        )
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reaps the process.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, and waits (bounded) for a clean exit.
    pub async fn stop(&mut self) {
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
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Api {
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
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
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

    pub async fn get(&self, path: &str) -> (u16, Value) {
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
    pub async fn create(&self, path: &str, body: Value) -> String {
        let (status, b) = self.post(path, &body).await.expect("answer");
        assert_eq!(status, 201, "POST {path}: {b}");
        b["id"].as_str().expect("id").to_owned()
    }
}

pub async fn login(base: &str, username: &str, password: &str) -> String {
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
pub struct Setup {
    pub admin: String,
    pub filler: String,
    pub station: String,
    pub codes: Vec<String>,
}

pub async fn setup(base: &str) -> Setup {
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

/// A check that is always accepted (no guard refuses it): a passed pre-fill or in-fill check.
pub fn check_event(code: &str, station: &str, in_fill: bool) -> Value {
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
