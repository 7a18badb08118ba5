//! Periodic inspection (D1–D3), scrap (D4) and printed documents: an application sends cylinders to
//! a station, the station's worklist, results per table D.1 with the Chinese report PDF (its text
//! extracted with `pdftotext`), a result for a cylinder not on the worklist refused, a scrapped
//! cylinder refused by fill-control, and the A4 label sheet.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, World, archive};
use serde_json::{Value, json};
use uuid::Uuid;

const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";
const CODE3: &str = "1103007833";

struct Setup {
    app: TestApp,
    w: World,
    inspector: String,
    station: Uuid,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let w = app.enterprise("jy").await;
    let archives = [CODE, CODE2, CODE3]
        .iter()
        .map(|c| {
            let mut a = archive(c, w.org);
            a["next_check_date"] = json!("2030-09-01");
            // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
            a["last_check_date"] = json!("2026-06-01");
            a
        })
        .collect();
    app.post_cylinders(&w.admin, archives).await.expect(201);
    let station = inspection_station(&app, w.prefecture).await;
    let inspector = app
        .user_token(&app.admin, station, "jy_inspector", &["inspector"])
        .await;
    Setup {
        app,
        w,
        inspector,
        station,
    }
}

fn result_body(code: &str, conclusion: &str) -> Value {
    let mut b = json!({"id": Uuid::new_v4(), "code": code, "conclusion": conclusion,
        "check_date": "2026-11-20", "report_no": format!("JY2026-{code}"), "inspector": "李检验"});
    if conclusion == "pass" {
        b["next_check_date"] = json!("2030-11-20");
        b["valve_replaced"] = json!(true);
        b["valve_maker"] = json!("宁波减压阀厂");
    }
    b
}

// D1, D2, D3: apply → worklist → result → report PDF in Chinese; check dates updated.
#[tokio::test]
async fn an_inspection_goes_from_application_to_a_chinese_report() {
    let s = setup().await;
    let (app, w) = (&s.app, &s.w);
    let app_id = Uuid::new_v4();
    let body = json!({"id": app_id, "station_org_id": s.station, "codes": [CODE, CODE3],
                      "time": ago(60)});
    let a = app
        .post(&w.admin, "/api/v1/inspection-applications", &body)
        .await
        .expect(201);
    // A retry answers the same application and sends nothing twice.
    let again = app
        .post(&w.admin, "/api/v1/inspection-applications", &body)
        .await
        .expect(201);
    assert_eq!(a.body["id"], again.body["id"]);
    let sends = events_of(app, &w.admin, CODE)
        .await
        .iter()
        .filter(|e| e["kind"] == "inspection_send")
        .count();
    assert_eq!(sends, 1);

    let list = app
        .get(&s.inspector, "/api/v1/inspection/worklist")
        .await
        .expect(200);
    let codes: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![CODE, CODE3]);
    assert_eq!(list.body["items"][0]["owner"], "jy燃气");

    // D2: a cylinder not sent to this station is not on its worklist: refused, nothing stored.
    let r = app
        .post(
            &s.inspector,
            "/api/v1/inspection/results",
            &result_body(CODE2, "pass"),
        )
        .await;
    problem(r, 422, Some("code"));
    assert!(events_of(app, &w.admin, CODE2).await.is_empty());
    // Only an inspector records results.
    app.post(
        &w.admin,
        "/api/v1/inspection/results",
        &result_body(CODE, "pass"),
    )
    .await
    .expect(403);

    let body = result_body(CODE, "pass");
    let r = app
        .post(&s.inspector, "/api/v1/inspection/results", &body)
        .await
        .expect(201);
    let hash = r.body["report_file"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64);
    // A retry of the same result answers the same report.
    let r2 = app
        .post(&s.inspector, "/api/v1/inspection/results", &body)
        .await
        .expect(201);
    assert_eq!(r2.body["report_file"], hash.as_str());
    assert_eq!(r2.body["ledger_index"], r.body["ledger_index"]);

    // D3: the report, in Chinese, from the cylinder's page.
    let (status, ct, pdf) = app
        .get_bytes(
            &w.admin,
            &format!("/api/v1/cylinders/{CODE}/inspection-report"),
        )
        .await;
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        pdf.len() < 200_000,
        "the font is subset: {} bytes",
        pdf.len()
    );
    let text = pdf_text(&pdf);
    for want in [
        "液化石油气钢瓶定期检验报告",
        CODE,
        "JY2026-1103007831",
        "合格",
        "2030-11-20",
        "宁波减压阀厂",
        "昆明市特种设备检验所",
        "jy燃气",
        "李检验",
    ] {
        assert!(text.contains(want), "the report lacks {want}:\n{text}");
    }
    // The stored event names the report; the archive's dates moved on.
    let ev = events_of(app, &w.admin, CODE).await;
    let last = ev.last().unwrap();
    assert_eq!(last["kind"], "inspection_result");
    assert_eq!(last["data"]["report_file"], hash.as_str());
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["next_check_date"], "2030-11-20");
    // Off the worklist now; a second result is refused.
    let list = app
        .get(&s.inspector, "/api/v1/inspection/worklist")
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    problem(
        app.post(
            &s.inspector,
            "/api/v1/inspection/results",
            &result_body(CODE, "pass"),
        )
        .await,
        422,
        Some("code"),
    );
    // Bad input names the field: a pass without a next date; a valve replaced without its maker.
    let mut bad = result_body(CODE3, "pass");
    bad.as_object_mut().unwrap().remove("next_check_date");
    problem(
        app.post(&s.inspector, "/api/v1/inspection/results", &bad)
            .await,
        422,
        Some("next_check_date"),
    );
    let mut bad = result_body(CODE3, "pass");
    bad.as_object_mut().unwrap().remove("valve_maker");
    problem(
        app.post(&s.inspector, "/api/v1/inspection/results", &bad)
            .await,
        422,
        Some("valve_maker"),
    );
}

// D4, A7: judged scrap at inspection → scrapped, label void, refused by fill-control.
#[tokio::test]
async fn a_cylinder_judged_scrap_is_refused_everywhere() {
    let s = setup().await;
    let (app, w) = (&s.app, &s.w);
    app.post(
        &w.admin,
        "/api/v1/inspection-applications",
        &json!({"id": Uuid::new_v4(), "station_org_id": s.station, "codes": [CODE2], "time": ago(60)}),
    )
    .await
    .expect(201);
    let r = app
        .post(
            &s.inspector,
            "/api/v1/inspection/results",
            &result_body(CODE2, "scrap"),
        )
        .await
        .expect(201);
    assert!(r.body["report_file"].is_string());
    let text = pdf_text(
        &app.get_bytes(
            &w.admin,
            &format!("/api/v1/cylinders/{CODE2}/inspection-report"),
        )
        .await
        .2,
    );
    assert!(text.contains("判废"), "{text}");
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE2}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["state"], "scrapped");
    assert_eq!(c.body["status"]["label"], "void");
    let d = app
        .post(
            &w.filler,
            "/api/v1/fill-control",
            &json!({"code": CODE2, "site_id": w.station, "medium": "液化石油气"}),
        )
        .await
        .expect(200);
    assert_eq!(d.body["allow"], false);
    let rules: Vec<&str> = d.body["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"A8") && rules.contains(&"B1.6"),
        "{rules:?}"
    );
    // Not delivered, not dispatched.
    let r = app
        .post(
            &w.admin,
            "/api/v1/scan/dispatch",
            &json!({"site_id": w.warehouse,
                    "scans": [{"id": Uuid::new_v4(), "code": CODE2, "time": ago(1)}]}),
        )
        .await;
    problem(r, 422, Some("scans[0].code"));
    // Its label is not printed again.
    app.get(&w.admin, &format!("/api/v1/labels/sheet?codes={CODE2}"))
        .await
        .expect(422);
}

// A4: the printable A4 sheet of labels carries each code, the enterprise and the medium.
#[tokio::test]
async fn the_label_sheet_is_a_printable_pdf() {
    let s = setup().await;
    let (app, w) = (&s.app, &s.w);
    let (status, ct, pdf) = app
        .get_bytes(
            &w.admin,
            &format!("/api/v1/labels/sheet?codes={CODE},{CODE2},{CODE3}"),
        )
        .await;
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    let text = pdf_text(&pdf);
    for want in [CODE, CODE2, CODE3, "jy燃气", "充装介质：液化石油气"] {
        assert!(text.contains(want), "the sheet lacks {want}:\n{text}");
    }
    problem(
        app.get(&w.admin, "/api/v1/labels/sheet?codes=1103009999")
            .await,
        404,
        None,
    );
}
