//! Test support: [`TestApp::spawn`] starts the real server on port 0 with a fresh database — SQLite in
//! a temporary directory, or, when `CYLTRACE_TEST_DATABASE_URL` names a PostgreSQL database, a schema
//! of its own in it — and a node admin. Tests then read like a client: `app.post_events(token, batch)`.

use std::net::SocketAddr;
use std::sync::Arc;

use cyltrace_server::{AppState, Config, Server};
use cyltrace_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

pub use reqwest;

pub mod routes;

pub const ADMIN: &str = "root";
pub const ADMIN_PASSWORD: &str = "Bootstrap2026";
pub const PASSWORD: &str = "Passw0rd2026";

/// A fresh database: a temporary SQLite file, or a new schema in the PostgreSQL database named by
/// `CYLTRACE_TEST_DATABASE_URL`.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL schema, when the database is PostgreSQL.
    pub schema: Option<String>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        Self::with_params(&Default::default()).await
    }

    /// A fresh database opened with `params` (e.g. with the uplink outbox on).
    pub async fn with_params(params: &cyltrace_store::LedgerParams) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("CYLTRACE_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!("t_{}", Uuid::new_v4().simple());
                let store = cyltrace_store::SqlStore::connect_postgres(&url, Some(&schema), params)
                    .await
                    .expect("PostgreSQL test schema");
                TestDb {
                    store: Arc::new(store),
                    dir,
                    schema: Some(schema),
                }
            }
            _ => {
                let store =
                    cyltrace_store::SqlStore::open_sqlite(&dir.path().join("cyltrace.db"), params)
                        .await
                        .expect("SQLite test database");
                TestDb {
                    store: Arc::new(store),
                    dir,
                    schema: None,
                }
            }
        }
    }
}

impl TestDb {
    /// Runs `sql` (one or more statements) as a database administrator who first drops the
    /// append-only triggers: the attacker that tamper-evidence must catch.
    pub async fn as_db_admin(&self, sql: &str) {
        use sqlx::Connection;
        match &self.schema {
            Some(schema) => {
                let url = std::env::var("CYLTRACE_TEST_DATABASE_URL").expect("PostgreSQL URL");
                let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
                let setup = format!(
                    "set search_path to \"{schema}\";
                     drop trigger if exists events_append_only on events;
                     drop trigger if exists event_codes_append_only on event_codes;
                     drop trigger if exists ledger_checkpoints_append_only on ledger_checkpoints;"
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
                    .execute(&mut c)
                    .await
                    .expect("drop triggers");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .expect("tamper");
            }
            None => sqlite_as_db_admin(&self.dir.path().join("cyltrace.db"), sql).await,
        }
    }
}

/// [`TestDb::as_db_admin`] on the SQLite database file at `path`.
pub async fn sqlite_as_db_admin(path: &std::path::Path, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let setup = "pragma foreign_keys = off; drop trigger if exists events_no_update; drop trigger if exists events_no_delete;
         drop trigger if exists event_codes_no_update; drop trigger if exists event_codes_no_delete;
         drop trigger if exists ledger_checkpoints_no_update; drop trigger if exists ledger_checkpoints_no_delete;";
    sqlx::raw_sql(setup)
        .execute(&mut c)
        .await
        .expect("drop triggers");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .expect("tamper");
}

/// A running server and an HTTP client.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    /// The bootstrap node admin's token.
    pub admin: String,
    /// The database under the server (tamper tests reach it directly).
    pub db: TestDb,
    /// The embedded MQTT broker's address, when the test turned it on (`mqtt_listen`).
    pub mqtt: Option<SocketAddr>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// An answer: status, body as JSON (Null when empty or not JSON) and content type.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub text: String,
}

impl Resp {
    /// The field paths of a problem+json answer.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with a configuration adjusted by `tune`.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with_params(&Default::default(), tune).await
    }

    /// Spawns over a database opened with `params` (e.g. the uplink outbox on).
    pub async fn spawn_with_params(
        params: &cyltrace_store::LedgerParams,
        tune: impl FnOnce(&mut Config),
    ) -> TestApp {
        let db = TestDb::with_params(params).await;
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: db.dir.path().to_path_buf(),
            ..Config::default()
        };
        config.bootstrap_admin = Some(format!("{ADMIN}:{ADMIN_PASSWORD}").into());
        // The suites written before the age limit (issue 22) post events at fixed instants of
        // November 2026, which grow older every day; they run without the limit. Tests of the limit
        // set `max_event_age_days` themselves (tests/plausible.rs).
        config.max_event_age_days = 0;
        // No MQTT unless a test asks for it (`mqtt_listen = "127.0.0.1:0"`, or `mqtt_url`).
        config.mqtt_listen = String::new();
        tune(&mut config);
        let state = cyltrace_server::state_with_store(config, db.store.clone()).expect("state");
        cyltrace_server::prepare(&state).await.expect("bootstrap");
        let server = Server::bind(state.clone()).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let mqtt = server.mqtt_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                // A dropped sender stops the server just as a sent signal does.
                rx.await.unwrap_or(());
            };
            if let Err(e) = server.serve(stop).await {
                eprintln!("test server stopped: {e}");
            }
        });
        let client = reqwest::Client::new();
        let mut app = TestApp {
            addr,
            base: format!("http://{addr}"),
            client,
            state,
            admin: String::new(),
            db,
            mqtt,
            shutdown: Some(tx),
        };
        app.admin = app.login(ADMIN, ADMIN_PASSWORD).await;
        app
    }

    /// Moves the server's clock to `t` (time keeps running from there).
    pub fn set_now(&self, t: chrono::DateTime<chrono::Utc>) {
        self.state.clock.shift_to(t);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request");
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            content_type,
            text,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(token))
            .await
    }

    /// A binary answer (images, PDF, spreadsheets): status, content type and the bytes.
    pub async fn get_bytes(&self, token: &str, path: &str) -> (u16, String, Vec<u8>) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, ct, r.bytes().await.expect("body").to_vec())
    }

    pub async fn get_anon(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn post_raw(&self, token: &str, path: &str, body: impl Into<reqwest::Body>) -> Resp {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Resp {
        self.send(
            self.client
                .post(self.url("/api/v1/auth/token"))
                .json(&json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.try_login(username, password).await.expect(200);
        r.body["token"].as_str().expect("token").to_owned()
    }

    pub async fn post_events(&self, token: &str, events: Vec<Value>) -> Resp {
        self.post(token, "/api/v1/events", &json!({"events": events}))
            .await
    }

    pub async fn post_cylinders(&self, token: &str, archives: Vec<Value>) -> Resp {
        self.post(token, "/api/v1/cylinders", &json!({"cylinders": archives}))
            .await
    }

    /// Creates an organisation and answers its id.
    pub async fn create_org(&self, token: &str, body: Value) -> Uuid {
        let r = self.post(token, "/api/v1/orgs", &body).await.expect(201);
        r.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("org id")
    }

    pub async fn create_site(&self, token: &str, org_id: Uuid, kind: &str, name: &str) -> Uuid {
        let r = self
            .post(
                token,
                "/api/v1/sites",
                &json!({"org_id": org_id, "kind": kind, "name": name}),
            )
            .await
            .expect(201);
        r.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("site id")
    }

    /// Creates a user with [`PASSWORD`] and answers a token for them.
    pub async fn user_token(
        &self,
        token: &str,
        org_id: Uuid,
        username: &str,
        roles: &[&str],
    ) -> String {
        self.post(token, "/api/v1/users", &json!({"username": username, "password": PASSWORD, "name": username, "org_id": org_id, "roles": roles}))
            .await
            .expect(201);
        self.login(username, PASSWORD).await
    }

    /// A province and a prefecture regulator and one filling enterprise with a filling station and a
    /// warehouse, its admin and filler.
    pub async fn enterprise(&self, tag: &str) -> World {
        let province = self
            .create_org(
                &self.admin,
                json!({"kind": "regulator", "name": format!("{tag}省局"), "region_code": "530000"}),
            )
            .await;
        let prefecture =
            self.create_org(&self.admin, json!({"kind": "regulator", "name": format!("{tag}市局"), "region_code": "530100", "parent_id": province})).await;
        self.enterprise_under(tag, province, prefecture).await
    }

    /// A filling enterprise with a filling station and a warehouse, its admin and filler, under an
    /// existing prefecture regulator (so that one regulator sees several enterprises).
    pub async fn enterprise_under(&self, tag: &str, province: Uuid, prefecture: Uuid) -> World {
        let body = enterprise_body(&format!("{tag}燃气"), prefecture);
        self.enterprise_from(tag, province, body).await
    }

    /// Like [`TestApp::enterprise_under`], the enterprise created from `body` (e.g. other licences).
    pub async fn enterprise_from(&self, tag: &str, province: Uuid, body: Value) -> World {
        let prefecture = body["parent_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("body names its parent_id");
        let org = self.create_org(&self.admin, body).await;
        let station = self
            .create_site(&self.admin, org, "filling_station", "充装站")
            .await;
        let warehouse = self
            .create_site(&self.admin, org, "warehouse", "仓库")
            .await;
        let admin = self
            .user_token(
                &self.admin,
                org,
                &format!("{tag}_admin"),
                &["enterprise_admin"],
            )
            .await;
        let filler = self
            .user_token(&self.admin, org, &format!("{tag}_filler"), &["filler"])
            .await;
        World {
            province,
            prefecture,
            org,
            station,
            warehouse,
            admin,
            filler,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// Registers the vehicle `plate` (permit valid until 2030) with a driver and an escort
    /// (certificates valid until 2030) for `w`'s enterprise, and the waybill `number` from its
    /// warehouse to its filling station: what `load` / `unload` with that waybill need (C2).
    /// Answers the waybill's id.
    pub async fn transport(&self, w: &World, plate: &str, number: &str) -> Uuid {
        let id = |r: Resp| -> Uuid {
            r.body["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an id")
        };
        let vehicle = id(self
            .post(
                &w.admin,
                "/api/v1/vehicles",
                &json!({"plate": plate, "vehicle_type": "危险品运输车", "permit_no": format!("云交运危 {plate}"),
                        "permit_valid_until": "2030-12-31"}),
            )
            .await
            .expect(201));
        let mut staff = Vec::new();
        for (i, role) in ["driver", "escort"].into_iter().enumerate() {
            let seed = format!(
                "5301021985061{}{:03}",
                5 + i,
                plate.len() * 7 + number.len()
            );
            staff.push(id(self
                .post(
                    &w.admin,
                    "/api/v1/transport-staff",
                    &json!({"role": role, "name": format!("{role}{number}"), "id_number": id_number(&seed),
                            "phone": "13800001111", "certificate_no": format!("CY{number}{i}"),
                            "certificate_valid_until": "2030-12-31"}),
                )
                .await
                .expect(201)));
        }
        id(self
            .post(
                &w.admin,
                "/api/v1/waybills",
                &json!({"number": number, "origin_site_id": w.warehouse, "destination_site_id": w.station,
                        "vehicle_id": vehicle, "driver_id": staff[0], "escort_id": staff[1],
                        "depart_at": self.state.now().to_rfc3339()}),
            )
            .await
            .expect(201))
    }
}

/// A valid resident ID number (GB 11643 check character) from its first 17 digits.
pub fn id_number(first17: &str) -> String {
    cyltrace_domain::circulation::IdNumber::with_check(first17)
        .expect("17 digits with a real birth date")
        .as_str()
        .to_owned()
}

/// What [`TestApp::enterprise`] made.
pub struct World {
    pub province: Uuid,
    pub prefecture: Uuid,
    pub org: Uuid,
    pub station: Uuid,
    pub warehouse: Uuid,
    pub admin: String,
    pub filler: String,
}

/// A filling enterprise with valid filling and gas business licences, under `parent`.
pub fn enterprise_body(name: &str, parent: Uuid) -> Value {
    json!({"kind": "filling_enterprise", "name": name, "region_code": "530102", "parent_id": parent,
           "licences": [{"kind": "filling", "number": "TS4253001-2028", "valid_until": "2030-12-31"},
                        {"kind": "gas_business", "number": "云燃经字第001号", "valid_until": "2030-12-31"}]})
}

/// A full, valid archive for `code` owned by `owner`.
pub fn archive(code: &str, owner: Uuid) -> Value {
    json!({
        "code": code, "region_code": "530100", "factory_serial": "1260419", "inner_no": "XY60235", "style": "YSP35.5", "valve": 1,
        "medium": "液化石油气", "tare_kg": 16.5, "fill_limit_kg": 14.5, "volume_l": 35.5, "working_pressure_mpa": 2.1,
        "test_pressure_mpa": 3.2, "wall_thickness_mm": 2.5, "life_years": 8, "check_period_years": 4,
        "manufacturer": "江苏特种设备生产有限公司", "manufacture_date": "2022-09", "product_standard": "GB 5842-2006",
        "manufacture_licence": "TS2210100-2027", "last_check_date": "2022-09-01", "next_check_date": "2026-09-01",
        "discard_date": "2030-09-01", "owner_org_id": owner,
        "registration": {"number": "553001000001", "date": "2022-10-01", "authority": "昆明市市场监督管理局"}, "state": "normal"
    })
}

/// An event of the wire form with a fresh id, at `time`.
pub fn event(kind: &str, codes: &[&str], time: &str, site: Option<Uuid>, data: Value) -> Value {
    let mut v =
        json!({"id": Uuid::new_v4(), "kind": kind, "codes": codes, "time": time, "data": data});
    if let Some(s) = site {
        v["site_id"] = json!(s);
    }
    v
}

/// Valid `data` for each kind (checks all passed).
pub fn sample_data(kind: &str) -> Value {
    match kind {
        "tag_bind" => json!({"tag_uid": "E2000017221101441890"}),
        "register" => {
            json!({"number": "553001000009", "date": "2024-01-01", "authority": "昆明市市场监督管理局"})
        }
        "pre_fill_check" => {
            json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true,
            "no_deformation": true, "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true})
        }
        "fill" => {
            json!({"scale_no": "CZ-01", "begin": "2026-11-20T08:00:00+08:00", "end": "2026-11-20T08:03:00+08:00",
            "tare_kg": 16.5, "gross_kg": 30.8, "medium": "液化石油气"})
        }
        "in_fill_check" => {
            json!({"no_abnormal_sound": true, "no_seal_leak": true, "wall_temperature_normal": true, "no_other_abnormality": true})
        }
        "post_fill_check" => {
            json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true,
            "no_bulge_or_defect": true, "no_temperature_rise": true})
        }
        "store_in" | "store_out" => json!({"full": true}),
        "load" | "unload" => json!({"vehicle": "云A12345", "waybill": "YD0001"}),
        // To a dealer (no customer): a named customer must be registered first (C6).
        "deliver" => json!({}),
        "recycle" => json!({}),
        "scrap" => json!({"reason": "腐蚀严重"}),
        other => panic!("no sample data for {other}"),
    }
}
