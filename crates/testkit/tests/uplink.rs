//! The uplink outbox, driven one pass at a time (B6, E2, G4): records wait while the upstream is
//! down, arrive once it is back — in log order, never duplicated even when an acknowledgement is
//! lost — a record the upstream refuses is kept with its reason and an alarm, anything older than
//! 24 h raises an alarm, and `data` travels SM4-encrypted for an account with a key.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use chrono::Duration;
use cyltrace_server::Config;
use cyltrace_server::workers::uplink::{self, Uplink};
use cyltrace_store::{LedgerParams, RegAlarmFilter, Scope};
use cyltrace_testkit::{PASSWORD, TestApp, World, archive, event, sample_data};
use serde_json::json;

const A: &str = "1106000001";
const B: &str = "1106000002";
/// Known to the lower node only: the upstream refuses records of it.
const C: &str = "1106000003";
const KEY: &str = "0123456789abcdeffedcba9876543210";

struct Pair {
    up: TestApp,
    up_world: World,
    low: TestApp,
    low_world: World,
}

async fn pair() -> Pair {
    let up = TestApp::spawn().await;
    let up_world = up.enterprise("upper").await;
    up.user_token(&up.admin, up_world.org, "upper_platform", &["platform"])
        .await;
    up.post_cylinders(
        &up.admin,
        vec![archive(A, up_world.org), archive(B, up_world.org)],
    )
    .await
    .expect(201);
    let params = LedgerParams {
        outbox: true,
        ..Default::default()
    };
    // The worker loop is not started (no upstream in the node's configuration): the test drives
    // each pass itself.
    let low = TestApp::spawn_with_params(&params, |_| {}).await;
    let low_world = low.enterprise("lower").await;
    low.post_cylinders(
        &low.admin,
        [A, B, C]
            .iter()
            .map(|c| archive(c, low_world.org))
            .collect(),
    )
    .await
    .expect(201);
    Pair {
        up,
        up_world,
        low,
        low_world,
    }
}

fn uplink_to(url: &str, key: Option<&str>) -> Uplink {
    let c = Config {
        upstream_url: Some(url.to_owned()),
        upstream_account: Some("upper_platform".to_owned()),
        upstream_password: Some(PASSWORD.into()),
        upstream_sm4_key: key.map(Into::into),
        ..Config::default()
    };
    Uplink::from_config(&c)
        .expect("config")
        .expect("configured")
}

/// A fill that ended at `at(minute)` (the upload carries the fill's own times).
fn fill_at(minute: u32) -> serde_json::Value {
    let mut f = sample_data("fill");
    f["begin"] = json!(at(minute - 2));
    f["end"] = json!(at(minute));
    f
}

fn at(minute: u32) -> String {
    let t = chrono::Utc::now() - Duration::hours(2) + Duration::minutes(i64::from(minute));
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn kinds(app: &TestApp, token: &str, code: &str) -> Vec<String> {
    let r = app
        .get(token, &format!("/api/v1/cylinders/{code}/events"))
        .await;
    r.body["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn alarms(app: &TestApp, kind: &str) -> Vec<String> {
    app.state
        .store
        .list_reg_alarms(&RegAlarmFilter {
            scope: Some(Scope::all()),
            kind: Some(kind.to_owned()),
            limit: 100,
            offset: 0,
        })
        .await
        .expect("alarms")
        .into_iter()
        .map(|a| a.message)
        .collect()
}

#[tokio::test]
async fn records_wait_for_the_upstream_and_arrive_once_in_order() {
    // B6
    let p = pair().await;
    let w = &p.low_world;
    p.low
        .post_events(
            &w.admin,
            vec![
                event(
                    "pre_fill_check",
                    &[A],
                    &at(0),
                    None,
                    sample_data("pre_fill_check"),
                ),
                event("fill", &[A], &at(5), Some(w.station), fill_at(5)),
                event(
                    "store_in",
                    &[A],
                    &at(6),
                    Some(w.warehouse),
                    json!({"full": true}),
                ),
                event(
                    "post_fill_check",
                    &[A],
                    &at(7),
                    None,
                    sample_data("post_fill_check"),
                ),
                event(
                    "pre_fill_check",
                    &[B],
                    &at(8),
                    None,
                    sample_data("pre_fill_check"),
                ),
            ],
        )
        .await
        .expect(201);
    let stats = p.low.state.store.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 4, "store_in is not uploaded");

    // The upstream is down: nothing is lost, attempts are counted.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = uplink_to(&dead, None);
    assert!(uplink::deliver(&p.low.state, &down).await.is_err());
    assert!(uplink::deliver(&p.low.state, &down).await.is_err());
    let rows = p.low.state.store.outbox_pending(10).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].attempts, 2);

    // B6: more than 24 h behind raises an alarm, at most once an hour.
    assert!(!uplink::stale_alarm(&p.low.state).await.unwrap());
    p.low.set_now(chrono::Utc::now() + Duration::hours(25));
    assert!(uplink::stale_alarm(&p.low.state).await.unwrap());
    assert!(!uplink::stale_alarm(&p.low.state).await.unwrap());
    let stale = alarms(&p.low, "uplink_stale").await;
    assert_eq!(stale.len(), 1);
    assert!(stale[0].contains("4 条记录未送达"), "{stale:?}");
    p.low.set_now(chrono::Utc::now());

    // Back up: everything arrives, in the order it was recorded.
    let up = uplink_to(&p.up.base, None);
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 4);
    assert_eq!(p.low.state.store.outbox_stats().await.unwrap().pending, 0);
    let t = &p.up_world.admin;
    assert_eq!(
        kinds(&p.up, t, A).await,
        ["pre_fill_check", "fill", "post_fill_check"]
    );
    assert_eq!(kinds(&p.up, t, B).await, ["pre_fill_check"]);
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 0);

    // An acknowledgement lost on the way back: the rows are sent again and stored once.
    p.low
        .db
        .as_db_admin("update outbox set state = 'pending', sent_at = null")
        .await;
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 4);
    assert_eq!(kinds(&p.up, t, A).await.len(), 3, "stored once");
    assert_eq!(kinds(&p.up, t, B).await.len(), 1, "stored once");

    // The fill upstream carries what was weighed, and the operator's name.
    let r = p.up.get(t, &format!("/api/v1/cylinders/{A}/events")).await;
    let fill = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "fill")
        .cloned()
        .unwrap();
    assert_eq!(fill["data"]["tare_kg"], json!(16.5));
    assert_eq!(fill["data"]["gross_kg"], json!(30.8));

    // The upstream's witness got the leaves; the checkpoint goes up with its proofs.
    cyltrace_server::services::ledger::sign_if_due(&p.low.state, &mut None)
        .await
        .unwrap();
    uplink::witness(&p.low.state, &up).await.unwrap();
    let user =
        p.up.state
            .store
            .user_by_username("upper_platform")
            .await
            .unwrap()
            .unwrap();
    let held =
        p.up.state
            .store
            .latest_witness(user.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(held.size, p.low.state.store.ledger_size().await.unwrap());
    assert!(
        p.up.state
            .store
            .ps_leaves_unaudited(user.id, held.size, 100)
            .await
            .unwrap()
            .is_empty(),
        "every uploaded leaf was proven included"
    );
    assert!(alarms(&p.up, "ledger_tamper").await.is_empty());
}

#[tokio::test]
async fn a_record_the_upstream_refuses_is_kept_and_the_rest_goes_on() {
    let p = pair().await;
    let w = &p.low_world;
    p.low
        .post_events(
            &w.admin,
            vec![
                event(
                    "pre_fill_check",
                    &[A],
                    &at(0),
                    None,
                    sample_data("pre_fill_check"),
                ),
                event(
                    "pre_fill_check",
                    &[C],
                    &at(1),
                    None,
                    sample_data("pre_fill_check"),
                ),
                event(
                    "pre_fill_check",
                    &[B],
                    &at(2),
                    None,
                    sample_data("pre_fill_check"),
                ),
            ],
        )
        .await
        .expect(201);
    let up = uplink_to(&p.up.base, None);
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 2);
    let s = p.low.state.store.outbox_stats().await.unwrap();
    assert_eq!((s.pending, s.sent, s.refused), (0, 2, 1));
    let refused = alarms(&p.low, "uplink_refused").await;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains(C) && refused[0].contains("Items[0].Barcode"),
        "{refused:?}"
    );
    let t = &p.up_world.admin;
    assert_eq!(kinds(&p.up, t, A).await.len(), 1);
    assert_eq!(kinds(&p.up, t, B).await.len(), 1);
    // A refused record is not retried by itself.
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 0);
}

#[tokio::test]
async fn data_travel_sm4_encrypted_for_an_account_with_a_key() {
    // G4
    let p = pair().await;
    let user =
        p.up.state
            .store
            .user_by_username("upper_platform")
            .await
            .unwrap()
            .unwrap();
    p.up.put(
        &p.up.admin,
        &format!("/api/v1/ps/accounts/{}/sm4-key", user.id),
        &json!({"key": KEY}),
    )
    .await
    .expect(204);
    let w = &p.low_world;
    p.low
        .post_events(
            &w.admin,
            vec![event(
                "fill",
                &[A],
                &at(0),
                Some(w.station),
                sample_data("fill"),
            )],
        )
        .await
        .expect(201);
    // Without the key the upstream refuses the plain data.
    let plain = uplink_to(&p.up.base, None);
    assert_eq!(uplink::deliver(&p.low.state, &plain).await.unwrap(), 0);
    assert_eq!(p.low.state.store.outbox_stats().await.unwrap().refused, 1);
    let reason: Vec<String> = alarms(&p.low, "uplink_refused").await;
    assert!(reason[0].contains("SM4"), "{reason:?}");

    p.low
        .post_events(
            &w.admin,
            vec![event(
                "fill",
                &[B],
                &at(1),
                Some(w.station),
                sample_data("fill"),
            )],
        )
        .await
        .expect(201);
    let sealed = uplink_to(&p.up.base, Some(KEY));
    assert_eq!(uplink::deliver(&p.low.state, &sealed).await.unwrap(), 1);
    assert_eq!(kinds(&p.up, &p.up_world.admin, B).await, ["fill"]);
}

#[tokio::test]
async fn month_counts_go_up_once_the_month_is_over() {
    // E3: the counts of the previous China-calendar month, once nothing of it is pending; the
    // upstream compares them with what it received.
    let p = pair().await;
    let w = &p.low_world;
    let today = cyltrace_domain::time::china_date(chrono::Utc::now());
    let first = chrono::Datelike::with_day(&today, 1).unwrap();
    // Noon, about the 10th of the previous month, China time.
    let prev_mid = (first - chrono::Days::new(20))
        .and_hms_opt(4, 0, 0)
        .unwrap()
        .and_utc();
    p.low.set_now(prev_mid);
    p.up.set_now(prev_mid);
    let t = |m: i64| {
        (prev_mid + Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut fill = sample_data("fill");
    fill["begin"] = json!(t(0));
    fill["end"] = json!(t(2));
    p.low
        .post_events(
            &w.admin,
            vec![
                event("fill", &[A], &t(2), Some(w.station), fill.clone()),
                event("fill", &[B], &t(2), Some(w.station), fill),
            ],
        )
        .await
        .expect(201);
    let up = uplink_to(&p.up.base, None);
    assert_eq!(uplink::deliver(&p.low.state, &up).await.unwrap(), 2);
    p.low.set_now(chrono::Utc::now());
    p.up.set_now(chrono::Utc::now());
    assert_eq!(
        uplink::business_counts(&p.low.state, &up).await.unwrap(),
        4,
        "all four types, inspections as the extension"
    );
    assert_eq!(
        uplink::business_counts(&p.low.state, &up).await.unwrap(),
        0,
        "once a month"
    );
    let r =
        p.up.get(&p.up.admin, "/api/v1/ps/business-counts")
            .await
            .expect(200);
    let fills = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["body"]["Type"] == 2)
        .cloned()
        .unwrap();
    assert_eq!(fills["body"]["Reported"], json!(2), "{fills}");
    assert_eq!(fills["body"]["Received"], json!(2), "{fills}");
    assert_eq!(fills["state"], "match", "{fills}");
    assert!(alarms(&p.up, "business_count_mismatch").await.is_empty());
}
