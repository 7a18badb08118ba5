//! Uploaded files are scoped (issue 22, G1, G5): a file belongs to the organisations that uploaded
//! it and to those whose records reference it; a login of another enterprise or region that knows
//! the hash gets 403, and cannot make the file its own by referencing it in a record.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, archive};
use serde_json::json;
use uuid::Uuid;

async fn upload(app: &TestApp, token: &str, salt: &str) -> String {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(salt.as_bytes());
    let r = app
        .post_raw(token, "/api/v1/files", bytes)
        .await
        .expect(201);
    r.body["hash"].as_str().expect("hash").to_owned()
}

async fn status(app: &TestApp, token: &str, hash: &str) -> u16 {
    app.get_bytes(token, &format!("/api/v1/files/{hash}"))
        .await
        .0
}

// G1, G5: a file is read inside the uploader's scope only; the same bytes uploaded by another
// enterprise become that enterprise's file too.
#[tokio::test]
async fn a_file_is_read_by_its_owners_and_their_regulators_only() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("fa").await;
    let b = app.enterprise("fb").await;
    let sibling = app.enterprise_under("fc", a.province, a.prefecture).await;
    let reg_a = app
        .user_token(&app.admin, a.prefecture, "fa_reg", &["regulator"])
        .await;
    let reg_b = app
        .user_token(&app.admin, b.province, "fb_reg", &["regulator"])
        .await;

    let hash = upload(&app, &a.filler, "a private photo").await;
    assert_eq!(status(&app, &a.filler, &hash).await, 200);
    assert_eq!(status(&app, &a.admin, &hash).await, 200, "same enterprise");
    assert_eq!(status(&app, &reg_a, &hash).await, 200, "its regulator");
    assert_eq!(status(&app, &app.admin, &hash).await, 200, "the node admin");
    // Another enterprise, even under the same regulator, and another region's regulator: 403.
    for token in [&b.admin, &b.filler, &sibling.admin, &reg_b] {
        let r = app.get(token, &format!("/api/v1/files/{hash}")).await;
        problem(r, 403, None);
    }
    // A hash nobody uploaded is still 404.
    let missing = "0".repeat(64);
    assert_eq!(status(&app, &b.admin, &missing).await, 404);

    // The same bytes uploaded by B are B's as well; A keeps its own.
    let again = upload(&app, &b.admin, "a private photo").await;
    assert_eq!(again, hash);
    assert_eq!(status(&app, &b.admin, &hash).await, 200);
    assert_eq!(status(&app, &a.admin, &hash).await, 200);
    assert_eq!(status(&app, &sibling.admin, &hash).await, 403);
}

// G1, G5: knowing a hash does not let a record reference it (that would hand the file over), and
// a record's organisation may read the files the record references.
#[tokio::test]
async fn a_record_references_only_files_its_writer_may_read() {
    let app = TestApp::spawn().await;
    let a = app.enterprise("ra").await;
    let b = app.enterprise("rb").await;
    let hash = upload(&app, &a.admin, "a licence scan").await;

    // B cannot reference A's file: refused as if it did not exist, nothing stored, still 403.
    let doc = json!({"kind": "道路危险货物运输经营许可证", "number": "云交运 001", "file": hash});
    let r = app
        .post(&b.admin, &format!("/api/v1/orgs/{}/documents", b.org), &doc)
        .await;
    problem(r, 422, Some("file"));
    app.post_cylinders(&b.admin, vec![archive("1103009901", b.org)])
        .await
        .expect(201);
    let cert =
        json!({"kind": "产品合格证", "file": hash, "number": "HG-1", "codes": ["1103009901"]});
    let r = app
        .post(&b.admin, "/api/v1/cylinder-documents", &cert)
        .await;
    problem(r, 422, Some("file"));
    assert_eq!(status(&app, &b.admin, &hash).await, 403);

    // A references its own file: fine.
    app.post(&a.admin, &format!("/api/v1/orgs/{}/documents", a.org), &doc)
        .await
        .expect(201);
}

// D4, G1: a scrapping's photos are files its recorder may use: another enterprise's photo or a made-up
// hash is refused naming the photo, and nothing is stored.
#[tokio::test]
async fn a_scrapping_names_only_photos_its_recorder_may_use() {
    const CODE: &str = "1103009921";
    let app = TestApp::spawn().await;
    let a = app.enterprise("sa").await;
    let b = app.enterprise("sb").await;
    app.post_cylinders(&b.admin, vec![archive(CODE, b.org)])
        .await
        .expect(201);
    let foreign = upload(&app, &a.admin, "a's destruction photo").await;
    let own = upload(&app, &b.admin, "b's destruction photo").await;
    let scrap = |photos: Vec<&str>| {
        cyltrace_testkit::event(
            "scrap",
            &[CODE],
            &ago(5),
            None,
            json!({"reason": "腐蚀严重", "destruction_method": "压扁", "photos": photos}),
        )
    };
    for bad in [foreign.as_str(), &"ab".repeat(32)] {
        let r = app
            .post_events(&b.admin, vec![scrap(vec![&own, bad])])
            .await;
        problem(r, 422, Some("events[0].data.photos[1]"));
    }
    let r = app
        .get(&b.admin, &format!("/api/v1/cylinders/{CODE}/events"))
        .await;
    let scraps = r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "scrap")
        .count();
    assert_eq!(scraps, 0, "{}", r.text);
    app.post_events(&b.admin, vec![scrap(vec![&own])])
        .await
        .expect(201);
}

// D3, G1: the inspection report a station issues is read by the cylinder's enterprise too (the
// station is not inside the enterprise's scope), and by no other enterprise.
#[tokio::test]
async fn an_inspection_report_is_read_by_the_station_and_the_cylinders_enterprise() {
    const CODE: &str = "1103009911";
    let app = TestApp::spawn().await;
    let w = app.enterprise("ia").await;
    let other = app.enterprise_under("ib", w.province, w.prefecture).await;
    let mut a = archive(CODE, w.org);
    a["last_check_date"] = json!("2026-06-01");
    a["next_check_date"] = json!("2030-06-01");
    app.post_cylinders(&w.admin, vec![a]).await.expect(201);
    let station = inspection_station(&app, w.prefecture).await;
    let inspector = app
        .user_token(&app.admin, station, "ia_inspector", &["inspector"])
        .await;
    app.post(
        &w.admin,
        "/api/v1/inspection-applications",
        &json!({"id": Uuid::new_v4(), "station_org_id": station, "codes": [CODE], "time": ago(60)}),
    )
    .await
    .expect(201);
    let r = app
        .post(
            &inspector,
            "/api/v1/inspection/results",
            &json!({"id": Uuid::new_v4(), "code": CODE, "conclusion": "pass",
                    "check_date": "2026-11-20", "next_check_date": "2030-11-20",
                    "report_no": "JY-1", "inspector": "李检验"}),
        )
        .await
        .expect(201);
    let hash = r.body["report_file"].as_str().expect("report").to_owned();
    assert_eq!(status(&app, &inspector, &hash).await, 200);
    assert_eq!(status(&app, &w.admin, &hash).await, 200);
    assert_eq!(status(&app, &other.admin, &hash).await, 403);
}
