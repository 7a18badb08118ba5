//! The enterprise office's forms (issue 17) and what they added below the pages: a batch's fills and
//! their counts (B5, `GET /api/v1/batches/{id}/fills`), the inspection application made from the due
//! list at a station of the enterprise's jurisdiction (D1), a household check recorded from the office
//! with its files and the list's filters (C9), and forms refused field by field, storing nothing.
//! Run on SQLite, and on PostgreSQL with `CYLTRACE_TEST_DATABASE_URL`.

mod accounts_kit;
mod common;

use accounts_kit::{Browser, Page};
use chrono::Duration;
use common::{id_of, inspection_station, rfc3339};
use cyltrace_testkit::{PASSWORD, TestApp, World, archive, event, id_number};
use serde_json::{Value, json};
use uuid::Uuid;

const LPG: &str = "液化石油气";

async fn batch(app: &TestApp, token: &str, number: &str) -> Uuid {
    let r = app
        .post(token, "/api/v1/batches", &json!({"number": number}))
        .await
        .expect(201);
    id_of(&r)
}

/// A fill at `site` naming `batch`, at `time`.
fn fill(code: &str, site: Uuid, batch: &str, tare: f64, gross: f64, time: &str) -> Value {
    event(
        "fill",
        &[code],
        time,
        Some(site),
        json!({"scale_no": "CZ-02", "begin": time, "end": time, "tare_kg": tare, "gross_kg": gross,
               "medium": LPG, "batch": batch}),
    )
}

async fn signed_in(app: &TestApp, tag: &str) -> Browser {
    let mut b = Browser::new(app);
    let r = b.login(&format!("{tag}_admin"), PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.text);
    b
}

/// The text of the `.field-error` next to field `name` on a page.
fn field_error(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("field {name} on the page"));
    let rest = &html[at..];
    let end = rest.find("</label>").unwrap_or(rest.len());
    let pat = "<span class=\"field-error\" role=\"alert\">";
    rest[..end]
        .find(pat)
        .map(|i| {
            rest[i + pat.len()..]
                .split('<')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn b5_a_batch_page_counts_its_fills_and_no_other_enterprise_sees_it() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("bf").await;
    let other = app.enterprise_under("bg", w.province, w.prefecture).await;
    let codes = ["2201000001", "2201000002", "2201000003"];
    app.post_cylinders(&w.admin, codes.iter().map(|c| archive(c, w.org)).collect())
        .await
        .expect(201);
    app.post_cylinders(&other.admin, vec![archive("2201000009", other.org)])
        .await
        .expect(201);
    let b1 = batch(&app, &w.admin, "B1").await;
    let b2 = batch(&app, &w.admin, "B2").await;
    let empty = batch(&app, &w.admin, "B3").await;
    // The same number in another enterprise is another batch.
    let theirs = batch(&app, &other.admin, "B1").await;

    // The second cylinder was refused at filling control (wrong medium, B1.11) before its fill.
    let r = app
        .post(
            &w.filler,
            "/api/v1/fill-control",
            &json!({"code": codes[1], "site_id": w.station, "medium": "二甲醚"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["allow"], json!(false), "{}", r.text);
    let t = |s: i64| rfc3339(app.state.now() + Duration::seconds(s));
    app.post_events(
        &w.filler,
        vec![
            fill(codes[0], w.station, "B1", 16.5, 30.8, &t(2)),
            fill(codes[1], w.station, "B1", 16.0, 30.5, &t(3)),
            fill(codes[2], w.station, "B2", 16.2, 30.2, &t(4)),
        ],
    )
    .await
    .expect(201);
    app.post_events(
        &other.filler,
        vec![fill("2201000009", other.station, "B1", 16.0, 31.0, &t(5))],
    )
    .await
    .expect(201);

    let r = app
        .get(&w.admin, &format!("/api/v1/batches/{b1}/fills"))
        .await
        .expect(200);
    assert_eq!(r.body["batch"]["number"], json!("B1"));
    assert_eq!(r.body["counts"]["fills"], json!(2), "{}", r.text);
    assert_eq!(r.body["counts"]["net_kg"], json!(28.8), "{}", r.text);
    assert_eq!(r.body["counts"]["refused"], json!(1), "{}", r.text);
    let items = r.body["items"].as_array().expect("items");
    let shown: Vec<(&str, bool, f64)> = items
        .iter()
        .map(|i| {
            (
                i["code"].as_str().unwrap_or(""),
                i["refused"].as_bool().unwrap_or(false),
                i["net_kg"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    // Newest first; the other enterprise's fill naming the same number is not this batch's.
    assert_eq!(
        shown,
        vec![(codes[1], true, 14.5), (codes[0], false, 14.3)],
        "{}",
        r.text
    );

    // A page of one: the counts are still the whole batch's.
    let r = app
        .get(
            &w.admin,
            &format!("/api/v1/batches/{b1}/fills?limit=1&offset=1"),
        )
        .await
        .expect(200);
    assert_eq!(r.body["items"][0]["code"], json!(codes[0]), "{}", r.text);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["counts"]["fills"], json!(2));

    let r = app
        .get(&w.filler, &format!("/api/v1/batches/{b2}/fills"))
        .await
        .expect(200);
    assert_eq!(
        r.body["counts"],
        json!({"fills": 1, "net_kg": 14.0, "refused": 0}),
        "{}",
        r.text
    );
    let r = app
        .get(&w.admin, &format!("/api/v1/batches/{empty}/fills"))
        .await
        .expect(200);
    assert_eq!(
        r.body["counts"],
        json!({"fills": 0, "net_kg": 0.0, "refused": 0})
    );
    assert_eq!(r.body["items"], json!([]));
    let r = app
        .get(&other.admin, &format!("/api/v1/batches/{theirs}/fills"))
        .await
        .expect(200);
    assert_eq!(r.body["counts"]["fills"], json!(1), "{}", r.text);

    // Scope: another enterprise's batch is 403, an unknown one 404 — on the API and the page.
    app.get(&other.admin, &format!("/api/v1/batches/{b1}/fills"))
        .await
        .expect(403);
    app.get(
        &w.admin,
        &format!("/api/v1/batches/{}/fills", Uuid::new_v4()),
    )
    .await
    .expect(404);
    app.get(&w.admin, "/api/v1/batches/not-a-batch/fills")
        .await
        .expect(404);
    app.get(&w.admin, &format!("/api/v1/batches/{b1}/fills?limit=0"))
        .await
        .expect(422);
    let mut page = signed_in(&app, "bf").await;
    let p = page.get(&format!("/console/batches/{b1}")).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.text.contains("拒充后仍充装"), "{}", p.text);
    assert!(p.text.contains(codes[1]) && !p.text.contains("2201000009"));
    let mut theirs_page = signed_in(&app, "bg").await;
    assert_eq!(
        theirs_page
            .get(&format!("/console/batches/{b1}"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn b5_the_batch_form_refuses_a_number_taken_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("bn").await;
    batch(&app, &w.admin, "B-2026-01").await;
    let mut b = signed_in(&app, "bn").await;
    let csrf = b.csrf().await;
    let p = b
        .post_form(
            "/console/batches",
            &[("_csrf", &csrf), ("number", "B-2026-01"), ("medium", LPG)],
        )
        .await;
    assert_eq!(p.status, 409, "{}", p.text);
    assert!(
        field_error(&p.text, "number").contains("已存在"),
        "{}",
        p.text
    );
    let p = b
        .post_form(
            "/console/batches",
            &[
                ("_csrf", &csrf),
                ("number", "B-2026-02"),
                ("medium", "汽油"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "medium").contains("不支持"),
        "{}",
        p.text
    );
    let r = app.get(&w.admin, "/api/v1/batches").await.expect(200);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let p = b
        .post_form(
            "/console/batches",
            &[("_csrf", &csrf), ("number", "B-2026-02"), ("medium", LPG)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.text);
    assert!(
        p.location.starts_with("/console/batches/"),
        "{}",
        p.location
    );
    // Without the session's token nothing is written.
    let p = b
        .post_form("/console/batches", &[("number", "B-2026-03")])
        .await;
    assert_eq!(p.status, 403, "{}", p.text);
    let r = app.get(&w.admin, "/api/v1/batches").await.expect(200);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
}

/// An archive due for its periodic inspection in `days`.
fn due_in(app: &TestApp, code: &str, owner: Uuid, days: i64) -> Value {
    let mut a = archive(code, owner);
    let d = (app.state.now() + Duration::days(days)).date_naive();
    a["next_check_date"] = json!(d.format("%Y-%m-%d").to_string());
    // Checked one period (four years) before it is due, as a plausible archive is.
    let last = d
        .checked_sub_months(chrono::Months::new(48))
        .expect("a date four years earlier");
    a["last_check_date"] = json!(last.format("%Y-%m-%d").to_string());
    a
}

async fn applications(app: &TestApp, w: &World) -> Vec<Value> {
    app.get(&w.admin, "/api/v1/inspection-applications")
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn d1_cylinders_ticked_in_the_due_list_are_applied_for_at_a_station_of_the_jurisdiction() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ia").await;
    let station = inspection_station(&app, w.prefecture).await;
    // A station of another prefecture is not this enterprise's to choose.
    let elsewhere = app
        .create_org(
            &app.admin,
            json!({"kind": "regulator", "name": "曲靖市局", "region_code": "530300", "parent_id": w.province}),
        )
        .await;
    let far = app
        .create_org(
            &app.admin,
            json!({"kind": "inspection_station", "name": "曲靖市特种设备检验所", "region_code": "530302",
                   "parent_id": elsewhere}),
        )
        .await;
    let due = ["2301000001", "2301000002", "2301000003"];
    app.post_cylinders(
        &w.admin,
        vec![
            due_in(&app, due[0], w.org, 10),
            due_in(&app, due[1], w.org, -3),
            due_in(&app, due[2], w.org, 20),
            due_in(&app, "2301000009", w.org, 400),
        ],
    )
    .await
    .expect(201);
    let mut b = signed_in(&app, "ia").await;
    let p = b.get("/console/inspections").await;
    assert_eq!(p.status, 200, "{}", p.text);
    for code in due {
        assert!(
            p.text.contains(&format!(
                "name=\"codes\" value=\"{code}\" form=\"/console/inspections/apply\""
            )),
            "{code} can be ticked: {}",
            p.text
        );
    }
    assert!(!p.text.contains("2301000009"), "not due yet");
    assert!(p.text.contains(&station.to_string()));
    assert!(
        !p.text.contains(&far.to_string()),
        "another jurisdiction's station"
    );
    let id = accounts_kit::hidden(&p.text, "id");
    let csrf = b.csrf().await;

    // Nothing ticked: said above the form, nothing stored.
    let p: Page = b
        .post_form(
            "/console/inspections/apply",
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("station_org_id", &station.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(p.text.contains("请先在下表勾选要送检的气瓶"), "{}", p.text);
    assert!(applications(&app, &w).await.is_empty());

    let st = station.to_string();
    let p = b
        .post_form(
            "/console/inspections/apply",
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("codes", due[0]),
                ("codes", due[1]),
                ("station_org_id", &st),
                ("remark", "到期送检"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/console/inspections"),
        "{}",
        p.text
    );
    // The same form again (a double click) is the same application.
    let again = b
        .post_form(
            "/console/inspections/apply",
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("codes", due[0]),
                ("codes", due[1]),
                ("station_org_id", &st),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.text);
    let apps = applications(&app, &w).await;
    assert_eq!(apps.len(), 1, "{apps:?}");
    let mut sent: Vec<&str> = apps[0]["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, vec![due[0], due[1]]);
    assert_eq!(apps[0]["station_org_id"], json!(st));
    let p = b.get("/console/inspections").await;
    assert!(p.text.contains("已送检，待检验"), "{}", p.text);
    assert!(p.text.contains("昆明市特种设备检验所"), "{}", p.text);
    assert!(
        !p.text.contains(&format!("value=\"{}\" form", due[0])),
        "sent: out of the due list"
    );
    assert!(p.text.contains(&format!("value=\"{}\" form", due[2])));
    // The station's worklist has them.
    let inspector = app
        .user_token(&app.admin, station, "ia_inspector", &["inspector"])
        .await;
    let r = app
        .get(&inspector, "/api/v1/inspection/worklist")
        .await
        .expect(200);
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
}

/// A `multipart/form-data` body of text fields and files `(field, file name, bytes)`.
fn multipart(text: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "cyltrace-test-boundary-7d1f";
    let mut body = Vec::new();
    for (k, v) in text {
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (k, name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\ncontent-type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_owned(b: &mut Browser, path: &str, form: &[(&str, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post_form(path, &pairs).await
}

async fn post_multipart(b: &mut Browser, path: &str, ct: String, body: Vec<u8>) -> Page {
    let req = b
        .client
        .post(format!("{}{path}", b.base))
        .header("content-type", ct)
        .body(body);
    b.send(req).await
}

async fn household_checks(app: &TestApp, w: &World) -> Vec<Value> {
    app.get(&w.admin, "/api/v1/household-checks")
        .await
        .expect(200)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn c9_a_household_check_from_the_office_with_its_sheet_and_the_list_filters() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("hc").await;
    let mut ids = Vec::new();
    for (name, seed, phone) in [
        ("周一鸣", "53010219900101123", "13911110001"),
        ("吴二妹", "53010219910202234", "13911110002"),
    ] {
        let r = app
            .post(
                &w.admin,
                "/api/v1/customers",
                &json!({"kind": "residential", "name": name, "id_number": id_number(seed), "phone": phone,
                        "addresses": [{"address": "昆明市盘龙区北京路 1 号"}]}),
            )
            .await
            .expect(201);
        ids.push(id_of(&r).to_string());
    }
    let mut b = signed_in(&app, "hc").await;
    let csrf = b.csrf().await;
    let sheet = b"\x89PNG\r\n\x1a\nsigned sheet".to_vec();
    let time = (app.state.now() - Duration::hours(1))
        .with_timezone(&common::cst())
        .format("%Y-%m-%dT%H:%M")
        .to_string();

    // No signed sheet: refused next to the field, nothing stored.
    let (ct, body) = multipart(
        &[
            ("_csrf", &csrf),
            ("customer_id", &ids[0]),
            ("time", &time),
            ("failed", "hose"),
        ],
        &[],
    );
    let p = post_multipart(&mut b, "/console/household-checks", ct, body).await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert_eq!(field_error(&p.text, "signature"), "请上传用户签字的安检单");
    assert!(
        p.text.contains("name=\"failed\" value=\"hose\" form=\"/console/household-checks\" aria-label=\"连接软管未老化、无龟裂，长度不超过 2 米且未穿墙 不合格\" checked"),
        "the tick comes back: {}",
        p.text
    );
    // A file that is no image or PDF: refused next to its field.
    let (ct, body) = multipart(
        &[("_csrf", &csrf), ("customer_id", &ids[0]), ("time", &time)],
        &[("signature", "sheet.txt", b"just text")],
    );
    let p = post_multipart(&mut b, "/console/household-checks", ct, body).await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "signature").contains("文件类型不支持"),
        "{}",
        p.text
    );
    assert!(household_checks(&app, &w).await.is_empty());

    // The first customer's hose failed; the second passed.
    for (customer, failed) in [(&ids[0], Some("hose")), (&ids[1], None)] {
        let mut text = vec![
            ("_csrf", csrf.as_str()),
            ("customer_id", customer.as_str()),
            ("time", &time),
        ];
        if let Some(f) = failed {
            text.push(("failed", f));
        }
        let (ct, body) = multipart(&text, &[("signature", "sheet.png", &sheet)]);
        let p = post_multipart(&mut b, "/console/household-checks", ct, body).await;
        assert_eq!(
            (p.status, p.location.as_str()),
            (303, "/console/household-checks"),
            "{}",
            p.text
        );
    }
    let all = household_checks(&app, &w).await;
    assert_eq!(all.len(), 2);
    let first = all
        .iter()
        .find(|c| c["customer_id"] == json!(ids[0]))
        .expect("the first check");
    assert_eq!(first["result"], json!("failed"));
    assert_eq!(first["photos"], json!([]));
    assert!(first["signature"].as_str().is_some_and(|s| s.len() == 64));
    let tasks = app
        .get(&w.admin, "/api/v1/rectifications")
        .await
        .expect(200);
    assert_eq!(
        tasks.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        tasks.text
    );

    // The filters: result, customer, the day it was recorded.
    let rows = |html: &str| html.matches("<tr><td").count();
    let today = (app.state.now())
        .with_timezone(&common::cst())
        .format("%Y-%m-%d")
        .to_string();
    let yesterday = (app.state.now() - Duration::days(1))
        .with_timezone(&common::cst())
        .format("%Y-%m-%d")
        .to_string();
    for (query, names) in [
        ("result=failed".to_owned(), vec!["周一鸣"]),
        ("result=passed".to_owned(), vec!["吴二妹"]),
        (format!("customer_id={}", ids[1]), vec!["吴二妹"]),
        (format!("date={today}"), vec!["周一鸣", "吴二妹"]),
        (format!("date={yesterday}"), vec![]),
    ] {
        let p = b.get(&format!("/console/household-checks?{query}")).await;
        assert_eq!(p.status, 200, "{query}: {}", p.text);
        let table = p
            .text
            .split("id=\"household_checks\"")
            .nth(1)
            .map(|t| t.split("</table>").next().unwrap_or(""))
            .unwrap_or("");
        assert_eq!(rows(table), names.len(), "{query}: {table}");
        for n in names {
            assert!(table.contains(n), "{query}: {n}");
        }
    }
    let p = b.get("/console/household-checks?result=maybe").await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(p.text.contains("安检结果应为"), "{}", p.text);
}

#[tokio::test]
async fn forms_refuse_field_by_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ff").await;
    let mut b = signed_in(&app, "ff").await;
    let csrf = b.csrf().await;

    // A plate that is no plate.
    let p = b
        .post_form(
            "/console/vehicles",
            &[
                ("_csrf", &csrf),
                ("plate", "ABC123"),
                ("vehicle_type", "危险品运输车"),
                ("permit_no", "云交运危 001"),
                ("permit_valid_until", "2030-12-31"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(field_error(&p.text, "plate").contains("车牌号格式不正确"));
    assert!(p.text.contains("value=\"云交运危 001\""), "filled in again");
    let r = app.get(&w.admin, "/api/v1/vehicles").await.expect(200);
    assert_eq!(r.body["items"], json!([]));

    // A customer without an address, then with a phone that is none.
    let id = id_number("53010219870707345");
    let customer_form =
        |phone: &'static str, address: &'static str| -> Vec<(&'static str, String)> {
            vec![
                ("_csrf", csrf.clone()),
                ("kind", "residential".to_owned()),
                ("name", "郑三".to_owned()),
                ("id_number", id.clone()),
                ("phone", phone.to_owned()),
                ("address", address.to_owned()),
            ]
        };
    let p = post_owned(
        &mut b,
        "/console/customers",
        &customer_form("13911112222", ""),
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "address").contains("至少需要一个地址"),
        "{}",
        p.text
    );
    let p = post_owned(
        &mut b,
        "/console/customers",
        &customer_form("1391111", "昆明市官渡区 9 号"),
    )
    .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(field_error(&p.text, "phone").contains("电话号码格式不正确"));
    let r = app.get(&w.admin, "/api/v1/customers").await.expect(200);
    assert_eq!(r.body["items"], json!([]));

    // A deposit refund beyond the deposits paid.
    let p = post_owned(
        &mut b,
        "/console/customers",
        &customer_form("13911112222", "昆明市官渡区 9 号"),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.text);
    let customer = p.location.clone();
    let p = b
        .post_form(
            &format!("{customer}/deposits"),
            &[
                ("_csrf", &csrf),
                ("count", "-1"),
                ("amount_yuan", "100"),
                ("receipt_no", "R1"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "count").contains("退押数量超过"),
        "{}",
        p.text
    );

    // A waybill whose driver's certificate has expired.
    let vehicle = id_of(
        &app.post(
            &w.admin,
            "/api/v1/vehicles",
            &json!({"plate": "云A12345", "vehicle_type": "危险品运输车", "permit_no": "云交运危 002",
                    "permit_valid_until": "2030-12-31"}),
        )
        .await
        .expect(201),
    );
    let driver = id_of(
        &app.post(
            &w.admin,
            "/api/v1/transport-staff",
            &json!({"role": "driver", "name": "冯师傅", "id_number": id_number("53010219750101456"),
                    "phone": "13800001111", "certificate_no": "CY-OLD", "certificate_valid_until": "2020-01-01"}),
        )
        .await
        .expect(201),
    );
    let p = b
        .post_form(
            "/console/waybills",
            &[
                ("_csrf", &csrf),
                ("origin_site_id", &w.warehouse.to_string()),
                ("destination_site_id", &w.station.to_string()),
                ("vehicle_id", &vehicle.to_string()),
                ("driver_id", &driver.to_string()),
                ("depart_at", "2026-12-01T08:30"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "driver_id").contains("从业资格证"),
        "{}",
        p.text
    );
    let r = app.get(&w.admin, "/api/v1/waybills").await.expect(200);
    assert_eq!(r.body["items"], json!([]));

    // A block prefix that is not five digits; a site without a name.
    let p = b
        .post_form(
            "/console/label-blocks",
            &[("_csrf", &csrf), ("prefix", "12a45"), ("medium", LPG)],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(field_error(&p.text, "prefix").contains("5 位数字"));
    let p = b
        .post_form(
            "/console/sites",
            &[
                ("_csrf", &csrf),
                ("kind", "store"),
                ("name", ""),
                ("lat", "99"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    let p = b
        .post_form(
            "/console/sites",
            &[
                ("_csrf", &csrf),
                ("kind", "store"),
                ("name", "城东供应站"),
                ("lat", "24.9"),
                ("lon", "102.7"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.text);
    let r = app.get(&w.admin, "/api/v1/sites").await.expect(200);
    assert!(r.text.contains("城东供应站"), "{}", r.text);
}

#[tokio::test]
async fn c2_loads_the_floor_did_not_scan_are_entered_on_the_waybill_page() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("wl").await;
    let waybill = app.transport(&w, "云A12345", "YD-WL-01").await;
    let codes = ["2401000001", "2401000002"];
    app.post_cylinders(&w.admin, codes.iter().map(|c| archive(c, w.org)).collect())
        .await
        .expect(201);
    let mut b = signed_in(&app, "wl").await;
    let path = format!("/console/waybills/{waybill}");
    let p = b.get(&path).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert!(p.text.contains("还没有装车"), "{}", p.text);
    let id = accounts_kit::hidden(&p.text, "id");
    let csrf = b.csrf().await;
    let moves = format!("{path}/moves");

    // A code that names no cylinder: said next to the list, with the code; nothing loaded.
    let p = b
        .post_form(
            &moves,
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("kind", "load"),
                ("codes", "2401000001\n9999999999"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.text);
    assert!(
        field_error(&p.text, "codes").contains("9999999999"),
        "{}",
        p.text
    );
    let r = app
        .get(&w.admin, &format!("/api/v1/waybills/{waybill}"))
        .await
        .expect(200);
    assert_eq!(r.body["loaded"], json!([]), "{}", r.text);

    let p = b
        .post_form(
            &moves,
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("kind", "load"),
                ("codes", "2401000001，2401000002"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, path.as_str()),
        "{}",
        p.text
    );
    let r = app
        .get(&w.admin, &format!("/api/v1/waybills/{waybill}"))
        .await
        .expect(200);
    assert_eq!(r.body["loaded"], json!(codes), "{}", r.text);
    assert_eq!(r.body["state"], json!("in_transit"));
    // The cylinders' trace has the load under this waybill.
    let trace = common::events_of(&app, &w.admin, codes[0]).await;
    let load = trace.last().expect("an event");
    assert_eq!(load["kind"], json!("load"));
    assert_eq!(load["data"]["waybill"], json!("YD-WL-01"));

    let p = b
        .post_form(
            &moves,
            &[
                ("_csrf", &csrf),
                ("id", &Uuid::new_v4().to_string()),
                ("kind", "unload"),
                ("codes", "2401000001 2401000002"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.text);
    let p = b.get(&path).await;
    assert!(p.text.contains("已完成"), "{}", p.text);
    assert!(
        !p.text.contains(&format!("action=\"{moves}\"")),
        "a done waybill takes no more moves"
    );
}
