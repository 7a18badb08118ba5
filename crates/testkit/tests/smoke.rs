//! The shortest path through the contract: a token, an archive, an event, the status.

use cyltrace_testkit::{TestApp, archive, event, sample_data};

#[tokio::test]
async fn archive_event_status_round_trip() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("smoke").await;
    app.post_cylinders(&w.admin, vec![archive("1103007831", w.org)])
        .await
        .expect(201);
    let fill = event(
        "fill",
        &["1103007831"],
        "2026-11-20T08:03:00+08:00",
        Some(w.station),
        sample_data("fill"),
    );
    let r = app.post_events(&w.filler, vec![fill]).await.expect(201);
    assert_eq!(r.body["accepted"][0]["ledger_index"], 0);
    let c = app
        .get(&w.filler, "/api/v1/cylinders/1103007831")
        .await
        .expect(200);
    assert_eq!(c.body["status"]["location_kind"], "full_store");
    assert_eq!(
        c.body["status"]["last_fill_at"],
        "2026-11-20T08:03:00+08:00"
    );
    assert_eq!(c.body["status"]["label"], "active");
}
