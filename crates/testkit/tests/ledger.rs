//! The ledger over HTTP and in the database (G3, contract § Ledger, DESIGN §3): every event is a
//! leaf, checkpoints are signed (and verify with OpenSSL's SM2), proofs verify against them, the
//! public JSON says whether a trace is covered, and tampering with the stored events or tiles —
//! as a database administrator who drops the append-only triggers — is found by `verify`, which
//! names the record. Runs on SQLite, and on PostgreSQL when `CYLTRACE_TEST_DATABASE_URL` is set.

use std::time::Duration;

use cyltrace_ledger::{
    Checkpoint, Hash, HashAlg, LogHash, TileData, append_tiles, verify_checkpoint,
    verify_consistency, verify_inclusion,
};
use cyltrace_server::services::ledger;
use cyltrace_testkit::{TestApp, World, archive, event};
use serde_json::{Value, json};

const CODES: [&str; 3] = ["1104000001", "1104000002", "1104000003"];

/// An enterprise with three cylinders and `n` warehouse events on them (after the setup's own).
async fn setup(n: usize) -> (TestApp, World) {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ledger").await;
    app.post_cylinders(&w.admin, CODES.iter().map(|c| archive(c, w.org)).collect())
        .await
        .expect(201);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let t = format!("2026-11-20T{:02}:{:02}:00+08:00", 8 + i / 60, i % 60);
            event(
                "store_in",
                &[CODES[i % 3]],
                &t,
                Some(w.warehouse),
                json!({"full": true}),
            )
        })
        .collect();
    app.post_events(&w.admin, events).await.expect(201);
    (app, w)
}

/// Waits for the signer to cover `size` entries, and returns the checkpoint JSON.
async fn checkpoint_covering(app: &TestApp, token: &str, size: u64) -> Value {
    for _ in 0..100 {
        let r = app.get(token, "/api/v1/ledger/checkpoint").await;
        if r.status == 200 && r.body["size"].as_u64() >= Some(size) {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covering {size} entries");
}

fn hash(v: &Value) -> Hash {
    Hash::from_hex(v.as_str().expect("hex")).expect("hash")
}

fn proof(v: &Value) -> Vec<Hash> {
    v["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(hash)
        .collect()
}

async fn verify(app: &TestApp) -> Result<ledger::VerifyReport, ledger::Mismatch> {
    let key = app.state.ledger_key.public_key_sec1();
    ledger::verify(app.state.store.as_ref(), Some(&key), None)
        .await
        .expect("verification runs")
}

#[tokio::test]
async fn every_event_is_a_leaf_under_a_signed_checkpoint_and_proofs_verify() {
    // G3: events → leaves → signed checkpoint → inclusion and consistency proofs.
    let (app, w) = setup(12).await;
    let cp = checkpoint_covering(&app, &w.admin, 12).await;
    assert_eq!(cp["size"], 12);
    assert_eq!(cp["hash"], "sm3");
    let text = cp["text"].as_str().unwrap();
    let parsed = Checkpoint::parse(text).expect("C2SP checkpoint text");
    assert_eq!(parsed.size, 12);
    assert_eq!(parsed.root, hash(&cp["root"]));
    assert_eq!(parsed.origin, app.state.store.ledger().origin);
    assert!(
        parsed.extensions[0].starts_with("time 2026-")
            || parsed.extensions[0].starts_with("time 20")
    );
    let sig = hex::decode(cp["signature"].as_str().unwrap()).unwrap();
    let key = hex::decode(cp["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(key, app.state.ledger_key.public_key_sec1());
    verify_checkpoint(&key, text, &sig).expect("SM2 signature verifies");
    let root = parsed.root;

    // Each event of a cylinder carries its ledger index; its entry hashes to the proven leaf.
    let evs = app
        .get(&w.admin, &format!("/api/v1/cylinders/{}/events", CODES[1]))
        .await
        .expect(200);
    let e = &evs.body["events"][0];
    let index = e["ledger_index"].as_u64().expect("ledger_index");
    let entry = app
        .get(&w.admin, &format!("/api/v1/ledger/entries/{index}"))
        .await
        .expect(200);
    assert_eq!(entry.body["event_id"], e["id"]);
    let leaf = hex::decode(entry.body["leaf"].as_str().unwrap()).unwrap();
    assert_eq!(leaf[0], 1, "leaf encoding version");
    let leaf_hash = HashAlg::Sm3.leaf(&leaf);
    assert_eq!(leaf_hash, hash(&entry.body["leaf_hash"]));
    let p = app
        .get(
            &w.admin,
            &format!("/api/v1/ledger/proof/inclusion?index={index}&size=12"),
        )
        .await
        .expect(200);
    verify_inclusion(HashAlg::Sm3, &leaf_hash, index, 12, &proof(&p.body), &root)
        .expect("inclusion");
    // A flipped leaf does not verify.
    let mut bad = leaf_hash;
    bad.0[0] ^= 1;
    assert!(verify_inclusion(HashAlg::Sm3, &bad, index, 12, &proof(&p.body), &root).is_err());

    // More events, a newer checkpoint, consistent with the first.
    let more: Vec<Value> = (0..5)
        .map(|i| {
            event(
                "store_out",
                &[CODES[i % 3]],
                "2026-11-21T09:00:00+08:00",
                Some(w.warehouse),
                json!({"full": false}),
            )
        })
        .collect();
    app.post_events(&w.admin, more).await.expect(201);
    let cp2 = checkpoint_covering(&app, &w.admin, 17).await;
    let c = app
        .get(&w.admin, "/api/v1/ledger/proof/consistency?old=12&new=17")
        .await
        .expect(200);
    verify_consistency(
        HashAlg::Sm3,
        12,
        17,
        &root,
        &hash(&cp2["root"]),
        &proof(&c.body),
    )
    .expect("consistency");

    // Bad requests name the field.
    let r = app
        .get(&w.admin, "/api/v1/ledger/proof/inclusion?index=17&size=17")
        .await
        .expect(422);
    assert_eq!(r.fields(), ["index"]);
    let r = app
        .get(&w.admin, "/api/v1/ledger/proof/consistency?old=5&new=99")
        .await
        .expect(422);
    assert_eq!(r.fields(), ["new"]);
    app.get(&w.admin, "/api/v1/ledger/entries/99")
        .await
        .expect(404);
    app.get_anon("/api/v1/ledger/checkpoint").await.expect(401);

    // Another enterprise does not read this one's entries.
    let other = app.enterprise("other").await;
    app.get(&other.admin, &format!("/api/v1/ledger/entries/{index}"))
        .await
        .expect(403);

    assert!(verify(&app).await.is_ok());
}

#[tokio::test]
async fn the_public_json_says_whether_the_trace_is_covered() {
    // G3 / F1: the public page's ledger mark.
    let (app, w) = setup(3).await;
    checkpoint_covering(&app, &w.admin, 3).await;
    let r = app
        .get_anon(&format!("/api/v1/public/cylinders/{}", CODES[0]))
        .await
        .expect(200);
    assert_eq!(r.body["ledger"]["covered"], true, "{}", r.body);
    assert_eq!(r.body["trace"][0]["what"], "入库");
    let unknown = app
        .get_anon("/api/v1/public/cylinders/1999999999")
        .await
        .expect(200);
    assert_eq!(unknown.body["verdict"], "invalid_label");
    assert!(unknown.body.get("ledger").is_none());
}

#[tokio::test]
async fn served_checkpoints_verify_with_openssl_sm2() {
    // G3: the signature is interoperable, not only self-consistent.
    let (app, w) = setup(4).await;
    let cp = checkpoint_covering(&app, &w.admin, 4).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pub.pem"),
        app.state.ledger_key.public_key_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("cp.txt"), cp["text"].as_str().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("cp.sig"),
        hex::decode(cp["signature"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let run = |text: &str| {
        std::process::Command::new("openssl")
            .args([
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                "pub.pem",
                "-in",
                text,
                "-sigfile",
                "cp.sig",
                "-rawin",
                "-digest",
                "sm3",
                "-pkeyopt",
                "distid:1234567812345678",
            ])
            .current_dir(dir.path())
            .output()
            .expect("openssl must be installed (CI installs it)")
    };
    let ok = run("cp.txt");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // A changed size does not verify.
    let forged = cp["text"].as_str().unwrap().replacen("\n4\n", "\n5\n", 1);
    std::fs::write(dir.path().join("forged.txt"), forged).unwrap();
    assert!(!run("forged.txt").status.success());
}

/// SQL that writes `bytes` as a blob literal on this backend.
fn blob(app: &TestApp, bytes: &[u8]) -> String {
    if app.db.schema.is_some() {
        format!("'\\x{}'::bytea", hex::encode(bytes))
    } else {
        format!("X'{}'", hex::encode(bytes))
    }
}

async fn event_id_at(app: &TestApp, index: i64) -> String {
    app.state.store.events_from(index, 1).await.unwrap()[0]
        .event
        .id
        .to_string()
}

#[tokio::test]
async fn tamper_one_byte_of_event_data_is_named() {
    // G3: change one byte of a stored event's data.
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    assert!(verify(&app).await.is_ok());
    let id = event_id_at(&app, 7).await;
    app.db
        .as_db_admin(
            "update events set data = replace(data, 'true', 'false') where ledger_index = 7",
        )
        .await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("序号 7") && m.contains(&id), "{m}");
}

#[tokio::test]
async fn tamper_deleted_event_is_named() {
    // G3: delete an event.
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    app.db.as_db_admin("delete from event_codes where ledger_index = 4; delete from events where ledger_index = 4").await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("序号 4 的事件缺失"), "{m}");
    // Deleting the last event is found too (the checkpoint and the tiles still count it).
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    app.db.as_db_admin("delete from event_codes where ledger_index = 19; delete from events where ledger_index = 19").await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("序号 19"), "{m}");
}

#[tokio::test]
async fn tamper_reordered_events_are_named() {
    // G3: reorder two events.
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    let id3 = event_id_at(&app, 3).await;
    let sql = if app.db.schema.is_some() {
        "set session_replication_role = replica;"
    } else {
        ""
    };
    app.db
        .as_db_admin(&format!(
            "{sql}
             update event_codes set ledger_index = -1 where ledger_index = 2;
             update events set ledger_index = -1 where ledger_index = 2;
             update event_codes set ledger_index = 2 where ledger_index = 3;
             update events set ledger_index = 2 where ledger_index = 3;
             update event_codes set ledger_index = 3 where ledger_index = -1;
             update events set ledger_index = 3 where ledger_index = -1;"
        ))
        .await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("序号 2") && m.contains(&id3), "{m}");
}

#[tokio::test]
async fn tamper_edited_tile_is_named() {
    // G3: edit a tile.
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    let tile = app
        .state
        .store
        .get_tiles(&cyltrace_ledger::partial_tiles(20))
        .await
        .unwrap();
    let mut bytes: Vec<u8> = tile[0].hashes.iter().flat_map(|h| h.0).collect();
    bytes[5 * 32] ^= 0x01;
    app.db
        .as_db_admin(&format!(
            "update ledger_tiles set hashes = {} where level = 0 and idx = 0",
            blob(&app, &bytes)
        ))
        .await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("序号 5") && m.contains("tile/0/000"), "{m}");
}

#[tokio::test]
async fn a_rewritten_and_rebuilt_log_contradicts_its_signed_checkpoint() {
    // G3: an attacker who changes an event and rebuilds the whole tree to match is caught by the
    // checkpoint signed before.
    let (app, w) = setup(20).await;
    checkpoint_covering(&app, &w.admin, 20).await;
    app.db
        .as_db_admin(
            "update events set data = replace(data, 'true', 'false') where ledger_index = 9",
        )
        .await;
    let info = app.state.store.ledger().clone();
    let events = app.state.store.events_from(0, 100).await.unwrap();
    let leaves: Vec<Hash> = events
        .iter()
        .map(|e| cyltrace_store::leaf::leaf_hash(info.hash, &info.origin, e))
        .collect();
    let tiles: Vec<TileData> = append_tiles(info.hash, 0, &[], &leaves).unwrap();
    let mut sql = String::new();
    for t in &tiles {
        let bytes: Vec<u8> = t.hashes.iter().flat_map(|h| h.0).collect();
        sql.push_str(&format!(
            "update ledger_tiles set hashes = {} where level = {} and idx = {};",
            blob(&app, &bytes),
            t.tile.level,
            t.tile.index
        ));
    }
    app.db.as_db_admin(&sql).await;
    let m = verify(&app).await.expect_err("tampering is found").0;
    assert!(m.contains("检查点") && m.contains("签名后被改写"), "{m}");
}
