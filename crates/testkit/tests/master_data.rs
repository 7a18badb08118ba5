//! Master data that can change (issue 16), black-box: a renewed licence, a closed site, a corrected
//! or locked archive and a regulator's permission for entrusted filling each take effect at the very
//! next decision; bad changes are refused naming the field and change nothing.

mod common;

use chrono::Duration;
use common::*;
use cyltrace_testkit::{PASSWORD, TestApp, World, archive, enterprise_body, event, sample_data};
use serde_json::{Value, json};
use uuid::Uuid;

const LPG: &str = "液化石油气";

/// An archive every rule passes once a pre-fill check is recorded.
fn valid_archive(code: &str, owner: Uuid) -> Value {
    let mut a = archive(code, owner);
    a["next_check_date"] = json!("2030-06-01");
    // Checked recently: a next check 2030-06-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    a
}

/// Records a passing pre-fill check of `code` at `w`'s station, just now.
async fn pre_fill_check(app: &TestApp, w: &World, code: &str) {
    app.post_events(
        &w.admin,
        vec![event(
            "pre_fill_check",
            &[code],
            &ago(1),
            Some(w.station),
            sample_data("pre_fill_check"),
        )],
    )
    .await
    .expect(201);
}

async fn fill_control(app: &TestApp, w: &World, code: &str) -> Value {
    app.post(
        &w.filler,
        "/api/v1/fill-control",
        &json!({"code": code, "site_id": w.station, "medium": LPG}),
    )
    .await
    .expect(200)
    .body
}

fn rules(decision: &Value) -> Vec<String> {
    decision["refusals"]
        .as_array()
        .expect("refusals")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule").to_owned())
        .collect()
}

/// Today on the China calendar, as the server sees it, moved by `days`.
fn day(app: &TestApp, days: i64) -> String {
    (app.state.now() + Duration::days(days))
        .with_timezone(&cst())
        .format("%Y-%m-%d")
        .to_string()
}

// B1.1: an expired filling licence refuses every fill; the renewal recorded by PATCH lets the very
// next decision allow (no restart, no waiting for a cache). Every change is audited old → new.
#[tokio::test]
async fn a_renewed_licence_takes_effect_at_the_next_decision() {
    let app = TestApp::spawn().await;
    let base = app.enterprise("lic").await;
    let mut body = enterprise_body("过期燃气", base.prefecture);
    body["licences"][0]["valid_until"] = json!(day(&app, -1));
    let w = app.enterprise_from("exp", base.province, body).await;
    const CODE: &str = "1106001001";
    app.post_cylinders(&w.admin, vec![valid_archive(CODE, w.org)])
        .await
        .expect(201);
    pre_fill_check(&app, &w, CODE).await;
    let d = fill_control(&app, &w, CODE).await;
    assert_eq!(rules(&d), vec!["B1.1"], "{d}");

    // A licence with a date that does not exist changes nothing.
    let path = format!("/api/v1/orgs/{}", w.org);
    let bad = json!({"licences": [{"kind": "filling", "number": "TS4253001-2031", "valid_until": "2031-02-30"}]});
    problem(
        app.patch(&w.admin, &path, &bad).await,
        422,
        Some("licences[0].valid_until"),
    );
    problem(
        app.patch(&w.admin, &path, &json!({"region_code": "530000"}))
            .await,
        422,
        Some("region_code"),
    );
    assert_eq!(rules(&fill_control(&app, &w, CODE).await), vec!["B1.1"]);

    let renewal = json!({"phone": "0871-65550000", "licences": [
        {"kind": "filling", "number": "TS4253001-2031", "valid_until": "2031-12-31"}]});
    let r = app.patch(&w.admin, &path, &renewal).await.expect(200);
    assert_eq!(r.body["phone"], "0871-65550000");
    let licences = r.body["licences"].as_array().unwrap();
    assert_eq!(
        licences.len(),
        2,
        "the gas business licence stays: {}",
        r.text
    );
    assert!(licences.iter().any(|l| l["valid_until"] == "2031-12-31"));
    let d = fill_control(&app, &w, CODE).await;
    assert_eq!(d["allow"], json!(true), "{d}");

    // The public page offers the owner's phone.
    let public = app
        .get_anon(&format!("/api/v1/public/cylinders/{CODE}"))
        .await
        .expect(200);
    assert_eq!(public.body["phone"], "0871-65550000");

    // G2: the audit row names the old and the new expiry.
    let audit = app
        .get(&app.admin, "/api/v1/audit?method=PATCH&limit=50")
        .await
        .expect(200);
    let detail = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["detail"].as_str())
        .find(|d| d.contains(&w.org.to_string()))
        .unwrap_or_else(|| panic!("no audit row for the change: {}", audit.text))
        .to_owned();
    assert!(
        detail.contains(&day(&app, -1)) && detail.contains("2031-12-31"),
        "{detail}"
    );

    // Another enterprise's admin cannot change it.
    problem(app.patch(&base.admin, &path, &renewal).await, 403, None);
}

// Issue 16: a closed site is refused naming `site_id` by fill-control and events; its history
// stays; opened again it works.
#[tokio::test]
async fn a_closed_site_takes_no_new_records() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("site").await;
    const CODE: &str = "1106002001";
    app.post_cylinders(&w.admin, vec![valid_archive(CODE, w.org)])
        .await
        .expect(201);
    pre_fill_check(&app, &w, CODE).await;
    let path = format!("/api/v1/sites/{}", w.station);
    let r = app
        .patch(
            &w.admin,
            &path,
            &json!({"active": false, "name": "一号充装站"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["active"], json!(false));
    assert_eq!(
        app.get(&w.admin, &path).await.expect(200).body["active"],
        json!(false)
    );
    problem(
        app.post(
            &w.filler,
            "/api/v1/fill-control",
            &json!({"code": CODE, "site_id": w.station, "medium": LPG}),
        )
        .await,
        422,
        Some("site_id"),
    );
    let check = event(
        "pre_fill_check",
        &[CODE],
        &ago(0),
        Some(w.station),
        sample_data("pre_fill_check"),
    );
    problem(
        app.post_events(&w.admin, vec![check.clone()]).await,
        422,
        Some("events[0].site_id"),
    );
    let scan = json!({"site_id": w.station,
                      "scans": [{"id": Uuid::new_v4(), "code": CODE, "time": ago(0)}]});
    problem(
        app.post(&w.admin, "/api/v1/scan/receive_empty", &scan)
            .await,
        422,
        Some("site_id"),
    );
    // History stays.
    assert_eq!(events_of(&app, &w.admin, CODE).await.len(), 1);
    problem(
        app.patch(&w.admin, &path, &json!({"lat": 25.0})).await,
        422,
        None,
    );
    app.patch(&w.admin, &path, &json!({"active": true}))
        .await
        .expect(200);
    app.post_events(&w.admin, vec![check]).await.expect(201);
    assert_eq!(fill_control(&app, &w, CODE).await["allow"], json!(true));
}

// A1/A10: a correction is an `archive_change` event with from/to in the ledger; a lock refuses
// fill-control under A10 (first), every circulation guard and the public verdict; unlocking
// allows again; a scrapped cylinder never changes state; `code` cannot change.
#[tokio::test]
async fn archive_corrections_and_locks_are_events_in_the_ledger() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("arc").await;
    const CODE: &str = "1106003001";
    const SCRAPPED: &str = "1106003002";
    app.post_cylinders(
        &w.admin,
        vec![valid_archive(CODE, w.org), valid_archive(SCRAPPED, w.org)],
    )
    .await
    .expect(201);
    pre_fill_check(&app, &w, CODE).await;
    let path = format!("/api/v1/cylinders/{CODE}");

    let r = app
        .patch(
            &w.admin,
            &path,
            &json!({"changes": {"tare_kg": 15.8, "inner_no": "XY60236"}, "reason": "复称皮重"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["tare_kg"], json!(15.8), "{}", r.text);
    let events = events_of(&app, &w.admin, CODE).await;
    let change = events.last().expect("the change is an event");
    assert_eq!(change["kind"], "archive_change");
    assert_eq!(change["data"]["changes"]["tare_kg"]["from"], json!(16.5));
    assert_eq!(change["data"]["changes"]["tare_kg"]["to"], json!(15.8));
    assert_eq!(change["data"]["reason"], "复称皮重");
    let index = change["ledger_index"].as_i64().expect("ledger index");
    let entry = app
        .get(&w.admin, &format!("/api/v1/ledger/entries/{index}"))
        .await
        .expect(200);
    assert_eq!(entry.body["event_id"], change["id"]);
    // B4: the cut-off weight follows the corrected tare.
    let d = fill_control(&app, &w, CODE).await;
    assert_eq!(d["target_gross_kg"], json!(30.3), "{d}");

    // Bad changes: named, nothing stored.
    let before = events_of(&app, &w.admin, CODE).await.len();
    for (body, field) in [
        (
            json!({"changes": {"code": "1106003009"}, "reason": "x"}),
            "changes.code",
        ),
        (
            json!({"changes": {"tare_kg": -1}, "reason": "x"}),
            "changes.tare_kg",
        ),
        (
            json!({"changes": {"next_check_date": "2027-02-30"}, "reason": "x"}),
            "changes.next_check_date",
        ),
        (
            json!({"changes": {"tare_kg": 15.8}, "reason": "x"}),
            "changes",
        ),
        (
            json!({"changes": {"tare_kg": 15.0}, "reason": ""}),
            "reason",
        ),
    ] {
        problem(app.patch(&w.admin, &path, &body).await, 422, Some(field));
    }
    assert_eq!(events_of(&app, &w.admin, CODE).await.len(), before);
    // archive_change only through PATCH.
    let forged = event(
        "archive_change",
        &[CODE],
        &ago(0),
        None,
        json!({"changes": {"state": {"from": "normal", "to": "normal"}}, "reason": "x"}),
    );
    problem(
        app.post_events(&w.admin, vec![forged]).await,
        422,
        Some("events[0].kind"),
    );

    // A regulator of the region locks it (and may change nothing else).
    let regulator = app
        .user_token(&app.admin, w.prefecture, "arc_reg", &["regulator"])
        .await;
    problem(
        app.patch(
            &regulator,
            &path,
            &json!({"changes": {"tare_kg": 15.0}, "reason": "x"}),
        )
        .await,
        403,
        None,
    );
    app.patch(
        &regulator,
        &path,
        &json!({"changes": {"state": "locked"}, "reason": "阀门损坏，停用"}),
    )
    .await
    .expect(200);
    let d = fill_control(&app, &w, CODE).await;
    assert_eq!(d["allow"], json!(false));
    assert_eq!(rules(&d)[0], "A10", "{d}");
    let out = event(
        "store_out",
        &[CODE],
        &ago(0),
        Some(w.warehouse),
        json!({"full": false}),
    );
    problem(
        app.post_events(&w.admin, vec![out.clone()]).await,
        422,
        Some("events[0].codes[0]"),
    );
    // The handheld's scans too, whichever way the cylinder would move.
    for action in ["receive_empty", "dispatch"] {
        let scan = json!({"site_id": w.warehouse,
                          "scans": [{"id": Uuid::new_v4(), "code": CODE, "time": ago(0)}]});
        problem(
            app.post(&w.admin, &format!("/api/v1/scan/{action}"), &scan)
                .await,
            422,
            Some("scans[0].code"),
        );
    }
    let public = app
        .get_anon(&format!("/api/v1/public/cylinders/{CODE}"))
        .await
        .expect(200);
    assert_eq!(public.body["verdict"], "locked");
    let page = app.get_anon(&format!("/q/{CODE}")).await.expect(200);
    assert!(page.text.contains("已停用"), "{}", page.text);

    app.patch(
        &w.admin,
        &path,
        &json!({"changes": {"state": "normal"}, "reason": "更换阀门后恢复使用"}),
    )
    .await
    .expect(200);
    assert_eq!(fill_control(&app, &w, CODE).await["allow"], json!(true));
    app.post_events(&w.admin, vec![out]).await.expect(201);

    // Scrapped is final.
    app.post_events(
        &w.admin,
        vec![event(
            "scrap",
            &[SCRAPPED],
            &ago(0),
            None,
            json!({"reason": "腐蚀严重"}),
        )],
    )
    .await
    .expect(201);
    problem(
        app.patch(
            &w.admin,
            &format!("/api/v1/cylinders/{SCRAPPED}"),
            &json!({"changes": {"state": "normal"}, "reason": "误报废"}),
        )
        .await,
        422,
        Some("changes.state"),
    );
}

// B9 / B1.7: a regulator of the owner's region permits entrusted filling until a date; B1.7
// passes within it, refuses after it and after revocation; a vehicle cylinder is never refused
// under B1.7.
#[tokio::test]
async fn entrusted_filling_passes_b1_7_until_its_last_day() {
    let app = TestApp::spawn().await;
    let filler = app.enterprise("ent").await;
    let owner = enterprise_under(&app, "own", filler.province, filler.prefecture).await;
    const CODE: &str = "1106004001";
    app.post_cylinders(&owner.admin, vec![valid_archive(CODE, owner.org)])
        .await
        .expect(201);
    // Without a permission the station may not even record its checks of the cylinder.
    let check = event(
        "pre_fill_check",
        &[CODE],
        &ago(1),
        Some(filler.station),
        sample_data("pre_fill_check"),
    );
    problem(app.post_events(&filler.admin, vec![check]).await, 403, None);
    assert_eq!(
        rules(&fill_control(&app, &filler, CODE).await),
        vec!["B1.7", "B1.10"]
    );

    let regulator = app
        .user_token(&app.admin, filler.prefecture, "ent_reg", &["regulator"])
        .await;
    let grant = |until: &str| json!({"owner_org_id": owner.org, "filler_org_id": filler.org, "valid_until": until});
    // Bad input: a date that does not exist, a past date, an enterprise admin, a regulator of
    // another region.
    problem(
        app.post(
            &regulator,
            "/api/v1/filling-permissions",
            &grant("2027-02-30"),
        )
        .await,
        422,
        Some("valid_until"),
    );
    problem(
        app.post(
            &regulator,
            "/api/v1/filling-permissions",
            &grant(&day(&app, -1)),
        )
        .await,
        422,
        Some("valid_until"),
    );
    problem(
        app.post(
            &filler.admin,
            "/api/v1/filling-permissions",
            &grant(&day(&app, 1)),
        )
        .await,
        403,
        None,
    );
    let other = app.enterprise("far").await;
    let far_regulator = app
        .user_token(&app.admin, other.prefecture, "far_reg", &["regulator"])
        .await;
    problem(
        app.post(
            &far_regulator,
            "/api/v1/filling-permissions",
            &grant(&day(&app, 1)),
        )
        .await,
        403,
        None,
    );

    let r = app
        .post(
            &regulator,
            "/api/v1/filling-permissions",
            &grant(&day(&app, 0)),
        )
        .await
        .expect(201);
    let id = id_of(&r);
    pre_fill_check(&app, &filler, CODE).await;
    let d = fill_control(&app, &filler, CODE).await;
    assert_eq!(d["allow"], json!(true), "the last day still counts: {d}");
    let list = app
        .get(&filler.admin, "/api/v1/filling-permissions")
        .await
        .expect(200);
    assert_eq!(list.body["items"][0]["state"], "active", "{}", list.text);
    assert_eq!(list.body["items"][0]["owner_name"], "own燃气");

    // The day after its last day it refuses again (tokens expire meanwhile: log in again).
    let decide_as = |token: String| {
        let app = &app;
        let body = json!({"code": CODE, "site_id": filler.station, "medium": LPG});
        async move {
            let r = app.post(&token, "/api/v1/fill-control", &body).await;
            rules(&r.expect(200).body)
        }
    };
    app.set_now(app.state.now() + Duration::days(1));
    let token = app.login("ent_filler", PASSWORD).await;
    assert!(decide_as(token).await.contains(&"B1.7".to_owned()));
    app.set_now(app.state.now() - Duration::days(1));
    let token = app.login("ent_filler", PASSWORD).await;
    assert!(!decide_as(token).await.contains(&"B1.7".to_owned()));

    // Revoked: refused at once.
    app.post(
        &regulator,
        &format!("/api/v1/filling-permissions/{id}/revoke"),
        &json!({}),
    )
    .await
    .expect(200);
    assert_eq!(
        rules(&fill_control(&app, &filler, CODE).await),
        vec!["B1.7"]
    );
    problem(
        app.post(
            &regulator,
            &format!("/api/v1/filling-permissions/{id}/revoke"),
            &json!({}),
        )
        .await,
        409,
        None,
    );

    // A9: a vehicle cylinder of another owner is never refused under B1.7.
    const CAR: &str = "1106004009";
    let car = json!({
        "code": CAR, "register_no": "云A车瓶2026-0009", "register_date": "2026-03-02",
        "office": "昆明市市场监督管理局", "cylinder_type": "CNG-1 钢质", "volume_l": 80.0,
        "medium": "压缩天然气", "car_no": "云A12345", "car_type": 11, "car_vin": "LSVAU2180N2183294",
        "product_date": "2025-12-01", "check_date": "2026-03-01", "next_check_date": "2029-03-01",
        "product_no": "CNG80-25-1201", "nominal_pressure_mpa": 20.0, "company": "昆明出租汽车公司",
        "factory": "石家庄安瑞科气体机械有限公司"
    });
    app.post(&owner.admin, "/api/v1/vehicle-cylinders", &car)
        .await
        .expect(201);
    let d = fill_control(&app, &filler, CAR).await;
    assert!(
        !rules(&d).contains(&"B1.7".to_owned()),
        "a vehicle cylinder is not refused under B1.7: {d}"
    );
}
