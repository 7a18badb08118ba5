//! `cyltrace backup` / `cyltrace restore` of the real binary (issue 22; G8): a node is backed up
//! while clients keep writing, restored into another data directory (or PostgreSQL database), and
//! the restore verifies the ledger against the backup's checkpoint; the restored node serves every
//! event acknowledged before the backup began and the uploaded files. A damaged backup or a target
//! that already holds data is refused naming why. SQLite, or PostgreSQL with
//! `CYLTRACE_TEST_DATABASE_URL`.
// Tests stand at real time.
#![allow(clippy::disallowed_methods)]

mod node;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use node::{Api, Node, PgDatabase, check_event, login, setup};

/// The answer to `cyltrace restore` of `backup` into `dir` (and the PostgreSQL database `url`).
fn restore(dir: &Path, url: Option<&str>, backup: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyltrace"));
    cmd.args(["restore", "--from"])
        .arg(backup)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("CYLTRACE_DATABASE_URL")
        .env_remove("CYLTRACE_CONFIG");
    if let Some(u) = url {
        cmd.env("CYLTRACE_DATABASE_URL", u);
    }
    cmd.output().expect("run cyltrace restore")
}

fn said(o: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A copy of the zip `from` at `to` with the entry `name` replaced by `bytes` (the manifest kept).
fn with_entry_replaced(from: &Path, to: &Path, name: &str, bytes: &[u8]) {
    let mut src = zip::ZipArchive::new(std::fs::File::open(from).expect("backup")).expect("zip");
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).expect("copy"));
    for i in 0..src.len() {
        let mut e = src.by_index(i).expect("entry");
        let entry = e.name().expect("entry name").into_owned();
        let mut content = Vec::new();
        e.read_to_end(&mut content).expect("read entry");
        out.start_file(
            entry.as_str(),
            zip::write::SimpleFileOptions::default().large_file(true),
        )
        .expect("start");
        out.write_all(if entry == name { bytes } else { &content })
            .expect("write");
    }
    out.finish().expect("finish");
}

// G8: backup under load → restore elsewhere → verify; the restored node has what was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_backed_up_under_load_restores_and_verifies() {
    let node = Node::new().await;
    let logs = tempfile::tempdir().expect("log dir");
    let mut running = node.start(logs.path().join("serve.log")).await;
    let s = setup(&running.base).await;
    let admin = Api::new(&running.base, &s.admin);
    // A photo: files are part of the backup.
    let photo = b"\x89PNG\r\n\x1a\nbackup-test-photo".to_vec();
    let r = admin
        .client
        .post(format!("{}/api/v1/files", running.base))
        .bearer_auth(&s.admin)
        .body(photo.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 201);
    let hash = r.json::<Value>().await.expect("json")["hash"]
        .as_str()
        .expect("hash")
        .to_owned();

    // Load: one client writes checks in small batches until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let load = {
        let (api, stop, acked) = (
            Api::new(&running.base, &s.filler),
            stop.clone(),
            acked.clone(),
        );
        let (codes, station) = (s.codes.clone(), s.station.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Value> = (0..4)
                    .map(|k| check_event(&codes[(i + k) % codes.len()], &station, k % 2 == 1))
                    .collect();
                i += 4;
                let (status, b) = api
                    .post("/api/v1/events", &json!({"events": batch}))
                    .await
                    .expect("answer");
                assert_eq!(status, 201, "{b}");
                let mut a = acked.lock().expect("lock");
                a.extend(
                    batch
                        .iter()
                        .map(|e| e["id"].as_str().expect("id").to_owned()),
                );
            }
        })
    };
    while acked.lock().expect("lock").len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: BTreeSet<String> = acked.lock().expect("lock").iter().cloned().collect();
    let out = tempfile::tempdir().expect("backup dir");
    let backup = out.path().join("node.cyltrace-backup.zip");
    let done = node
        .command(&["backup", "--to", backup.to_str().expect("utf-8")])
        .output()
        .expect("run cyltrace backup");
    assert!(done.status.success(), "{}", said(&done));
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("备份完成"),
        "{}",
        said(&done)
    );
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load");
    running.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the backup holds keys: owner only");
    }
    // Backing up onto an existing file is refused.
    let again = node
        .command(&["backup", "--to", backup.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(!again.status.success(), "{}", said(&again));

    // Restore elsewhere: a new data directory, and for PostgreSQL a new database.
    let pg = match &node.database_url {
        Some(_) => Some(
            PgDatabase::create(
                &std::env::var("CYLTRACE_TEST_DATABASE_URL").expect("the test database URL"),
            )
            .await,
        ),
        None => None,
    };
    let url = pg.as_ref().map(PgDatabase::url);
    let target = tempfile::tempdir().expect("restore dir");
    let restored = restore(target.path(), url.as_deref(), &backup);
    assert!(restored.status.success(), "{}", said(&restored));
    let text = String::from_utf8_lossy(&restored.stdout);
    assert!(
        text.contains("账本校验通过") && text.contains("恢复完成"),
        "{}",
        said(&restored)
    );

    // A second restore into the same place is refused: it holds data now.
    let twice = restore(target.path(), url.as_deref(), &backup);
    assert!(!twice.status.success(), "{}", said(&twice));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("请恢复到"),
        "{}",
        said(&twice)
    );

    // The restored node serves every event acknowledged before the backup began, and the photo.
    let second = Node {
        dir: target,
        database_url: url.clone(),
        _pg: pg,
    };
    let running = second.start(logs.path().join("restored.log")).await;
    let filler = login(&running.base, "filler", node::PASSWORD).await;
    let api = Api::new(&running.base, &filler);
    let mut stored = BTreeSet::new();
    for code in &s.codes {
        let (status, b) = api.get(&format!("/api/v1/cylinders/{code}/events")).await;
        assert_eq!(status, 200, "{b}");
        for e in b["events"].as_array().expect("events") {
            stored.insert(e["id"].as_str().expect("id").to_owned());
        }
    }
    let missing: Vec<&String> = before.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing after restore, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let admin = login(&running.base, node::ADMIN, node::ADMIN_PASSWORD).await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/files/{hash}", running.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("download");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), photo.as_slice());
    drop(running);

    // A damaged backup (one file changed, the manifest not) is refused naming the entry.
    let damaged = out.path().join("damaged.zip");
    let entry = format!("files/{}/{hash}", &hash[..2]);
    with_entry_replaced(&backup, &damaged, &entry, b"\x89PNG\r\n\x1a\ntampered");
    let pg2 = match &node.database_url {
        Some(_) => Some(
            PgDatabase::create(
                &std::env::var("CYLTRACE_TEST_DATABASE_URL").expect("the test database URL"),
            )
            .await,
        ),
        None => None,
    };
    let elsewhere = tempfile::tempdir().expect("dir");
    let refused = restore(
        elsewhere.path(),
        pg2.as_ref().map(PgDatabase::url).as_deref(),
        &damaged,
    );
    assert!(!refused.status.success(), "{}", said(&refused));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains(&entry) && why.contains("与清单不符"),
        "{}",
        said(&refused)
    );
}
