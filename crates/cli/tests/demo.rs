//! Starts the real binary with `serve --demo` (SQLite in a temp dir, or a fresh PostgreSQL schema when
//! `CYLTRACE_TEST_DATABASE_URL` is set), reads `/healthz` and demo cylinders, and stops it with SIGTERM.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_binary_serves_health_and_demo_cylinders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyltrace"));
    cmd.args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path());
    cmd.env_remove("CYLTRACE_DATABASE_URL")
        .env("CYLTRACE_LOG", "warn");
    let _db; // keeps a PostgreSQL schema's store open while the binary runs
    let mut database_url = None;
    if let Ok(url) = std::env::var("CYLTRACE_TEST_DATABASE_URL") {
        let db = cyltrace_testkit::TestDb::new().await;
        let schema = db
            .schema
            .clone()
            .expect("a PostgreSQL test database has a schema");
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}options=-csearch_path%3D{schema}");
        cmd.env("CYLTRACE_DATABASE_URL", &url);
        database_url = Some(url);
        _db = Some(db);
    } else {
        _db = None;
    }
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cyltrace"),
    );
    let stdout = child.0.stdout.take().unwrap();
    // The first line names the URL; the following lines list the demo logins.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("the binary prints its URL");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("URL in first line")
        .to_owned();
    let mut printed = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        printed.push(line);
    }
    assert!(
        printed.iter().any(|l| l.contains("ax_admin")),
        "demo logins are printed: {printed:?}"
    );

    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let token: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"username": "ax_admin", "password": cyltrace_server::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"]
        .as_str()
        .expect("demo login works")
        .to_owned();
    let get = |code: &str| {
        let req = client
            .get(format!("{base}/api/v1/cylinders/{code}"))
            .bearer_auth(&token);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // A cylinder with weeks of history.
    let c = get("1110000002").await;
    assert_eq!(c["medium"], "液化石油气");
    assert!(c["status"]["event_count"].as_u64().unwrap() > 10, "{c}");
    assert_eq!(c["status"]["label"], "active");
    // The scrapped one.
    let s = get("1110000008").await;
    assert_eq!(s["status"]["state"], "scrapped");
    assert_eq!(s["status"]["label"], "void");
    // Some are overdue for inspection.
    let o = get("1110000010").await;
    let today = cyltrace_domain::time::china_date(chrono::Utc::now())
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        o["next_check_date"].as_str().unwrap() < today.as_str(),
        "{o}"
    );

    // C1–C6: the demo carries stock, customers with cylinders held, waybills that were used.
    let list = |path: &'static str| {
        let req = client
            .get(format!("{base}/api/v1{path}"))
            .bearer_auth(&token);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }
    };
    let stock = list("/stock").await;
    assert!(
        stock.iter().any(|s| s["empty"].as_i64() > Some(0)),
        "{stock:?}"
    );
    let customers = list("/customers").await;
    assert_eq!(customers.len(), 24, "{customers:?}");
    let waybills = list("/waybills").await;
    assert!(
        waybills
            .iter()
            .any(|w| w["loaded"].as_array().is_some_and(|l| !l.is_empty())),
        "{waybills:?}"
    );
    assert!(!list("/vehicles/positions").await.is_empty());
    assert_eq!(list("/rectifications?state=open").await.len(), 1);
    let progress = list("/customers/progress").await;
    assert_eq!(progress[0]["registered"], 24, "{progress:?}");
    // B8, C4: lab tests, repairs and open recycling orders, so those pages show work.
    assert_eq!(list("/lab-tests").await.len(), 2);
    assert_eq!(list("/repairs").await.len(), 2);
    assert_eq!(list("/recycling-orders?state=open").await.len(), 2);

    // The history runs up to the moment the demo started: this month has fills in the regulator's
    // overview whatever the date.
    let regulator: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"username": "km_regulator", "password": cyltrace_server::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let overview: Value = client
        .get(format!("{base}/api/v1/supervision"))
        .bearer_auth(regulator["token"].as_str().expect("regulator login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fills: u64 = overview["enterprises"]
        .as_array()
        .expect("enterprises")
        .iter()
        .filter_map(|e| e["fills"].as_u64())
        .sum();
    assert!(fills > 0, "no fills this month: {overview}");

    // G3: the demo history is in the ledger; a verifier saves the signed checkpoint.
    let mut checkpoint = Value::Null;
    for _ in 0..100 {
        let r = client
            .get(format!("{base}/api/v1/ledger/checkpoint"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            checkpoint = r.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checkpoint["size"].as_u64().unwrap() > 1000, "{checkpoint}");
    let saved = dir.path().join("checkpoint.json");
    std::fs::write(&saved, checkpoint.to_string()).unwrap();

    // Graceful shutdown on SIGTERM.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.expect("exits after SIGTERM").success());

    // `cyltrace verify`: the whole log, and that it extends the saved checkpoint.
    let verify = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyltrace"));
        cmd.args(["verify", "--data-dir"])
            .arg(dir.path())
            .arg("--checkpoint")
            .arg(&saved)
            .env_remove("CYLTRACE_DATABASE_URL");
        if let Some(url) = &database_url {
            cmd.env("CYLTRACE_DATABASE_URL", url);
        }
        cmd.output().expect("run cyltrace verify")
    };
    let ok = verify();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains("账本校验通过") && out.contains("含给定的检查点"),
        "{out}"
    );

    // One changed byte of a stored event (the first whose data holds `true`): non-zero exit
    // naming an event.
    let tamper = "update events set data = replace(data, 'true', 'false')
                  where ledger_index = (select min(ledger_index) from events where data like '%true%')";
    match &_db {
        Some(db) => db.as_db_admin(tamper).await,
        None => cyltrace_testkit::sqlite_as_db_admin(&dir.path().join("cyltrace.db"), tamper).await,
    }
    let bad = verify();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains("账本校验失败") && err.contains("的事件"),
        "{err}"
    );
}
