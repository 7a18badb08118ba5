//! Factory documents attached to archives (A2) and vehicle cylinder archives with their three labels
//! and the Yunnan `CarBottle/List` (A9).

mod common;

use common::*;
use cyltrace_testkit::{PASSWORD, TestApp, archive};
use serde_json::{Value, json};

const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";
const CAR: &str = "1105000001";

// A2: a batch certificate attached to two cylinders, retrievable from each; bad input named.
#[tokio::test]
async fn factory_documents_are_attached_to_a_batch_of_cylinders() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("fd").await;
    app.post_cylinders(&w.admin, vec![archive(CODE, w.org), archive(CODE2, w.org)])
        .await
        .expect(201);
    let other = app.enterprise_under("fe", w.province, w.prefecture).await;
    app.post_cylinders(&other.admin, vec![archive("1103007839", other.org)])
        .await
        .expect(201);
    let up = app
        .post_raw(
            &w.admin,
            "/api/v1/files",
            b"%PDF-1.4\n% certificate\n".to_vec(),
        )
        .await
        .expect(201);
    let file = up.body["hash"].as_str().unwrap().to_owned();
    let body = json!({"kind": "产品合格证", "file": file, "number": "HG-2022-0918",
                      "codes": [CODE, CODE2]});
    let r = app
        .post(&w.admin, "/api/v1/cylinder-documents", &body)
        .await
        .expect(201);
    assert_eq!(r.body["attached"], 2);
    // Attached once, however often it is sent.
    let r = app
        .post(&w.admin, "/api/v1/cylinder-documents", &body)
        .await
        .expect(201);
    assert_eq!(r.body["attached"], 0);
    for code in [CODE, CODE2] {
        let d = app
            .get(&w.admin, &format!("/api/v1/cylinders/{code}/documents"))
            .await
            .expect(200);
        let items = d.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", d.text);
        assert_eq!(items[0]["kind"], "产品合格证");
        assert_eq!(items[0]["number"], "HG-2022-0918");
        let (status, _, bytes) = app
            .get_bytes(&w.admin, &format!("/api/v1/files/{file}"))
            .await;
        assert_eq!(status, 200);
        assert!(bytes.starts_with(b"%PDF"));
    }
    let mut bad = body.clone();
    bad["kind"] = json!("说明书");
    problem(
        app.post(&w.admin, "/api/v1/cylinder-documents", &bad).await,
        422,
        Some("kind"),
    );
    let mut bad = body.clone();
    bad["file"] = json!("0".repeat(64));
    problem(
        app.post(&w.admin, "/api/v1/cylinder-documents", &bad).await,
        422,
        Some("file"),
    );
    let mut bad = body.clone();
    bad["codes"] = json!([CODE, "1103007839"]);
    problem(
        app.post(&w.admin, "/api/v1/cylinder-documents", &bad).await,
        422,
        Some("codes[1]"),
    );
}

fn car_bottle() -> Value {
    json!({
        "code": CAR, "register_no": "云A车瓶2026-0001", "register_date": "2026-03-02",
        "office": "昆明市市场监督管理局", "cylinder_type": "CNG-1 钢质", "volume_l": 80.0,
        "medium": "压缩天然气", "car_no": "云A12345", "car_type": 11, "car_vin": "LSVAU2180N2183294",
        "product_date": "2025-12-01", "check_date": "2026-03-01", "next_check_date": "2029-03-01",
        "product_no": "CNG80-25-1201", "nominal_pressure_mpa": 20.0, "company": "昆明出租汽车公司",
        "identity_no": "91530100MA6K0000X1", "factory": "石家庄安瑞科气体机械有限公司",
        "install": "昆明改装厂"
    })
}

// A9: a vehicle cylinder is an archive with its registration, three labels, and the CarBottle record
// upward with the Yunnan names.
#[tokio::test]
async fn vehicle_cylinders_have_archives_three_labels_and_go_upward() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("cb").await;
    let r = app
        .post(&w.admin, "/api/v1/vehicle-cylinders", &car_bottle())
        .await
        .expect(201);
    assert_eq!(r.body["code"], CAR);
    // The same code again: a conflict, named.
    problem(
        app.post(&w.admin, "/api/v1/vehicle-cylinders", &car_bottle())
            .await,
        409,
        Some("code"),
    );
    let mut bad = car_bottle();
    bad["code"] = json!("1105000002");
    bad["car_vin"] = json!("LSVAU2180N21832O4");
    problem(
        app.post(&w.admin, "/api/v1/vehicle-cylinders", &bad).await,
        422,
        Some("car_vin"),
    );

    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CAR}"))
        .await
        .expect(200);
    assert_eq!(c.body["registration"]["number"], "云A车瓶2026-0001");
    assert_eq!(c.body["medium"], "压缩天然气");
    let v = app
        .get(&w.admin, &format!("/api/v1/vehicle-cylinders/{CAR}"))
        .await
        .expect(200);
    assert_eq!(v.body["car_no"], "云A12345");
    assert_eq!(v.body["identity_no"], "9153**********00X1", "{}", v.text);
    assert_eq!(v.body["state"], "normal");

    let (status, _, pdf) = app
        .get_bytes(&w.admin, &format!("/api/v1/vehicle-cylinders/{CAR}/labels"))
        .await;
    assert_eq!(status, 200);
    let text = pdf_text(&pdf);
    assert_eq!(text.matches(CAR).count(), 3, "three labels:\n{text}");

    // Upward: /PS CarBottle/List with the Yunnan names; nothing newer than now.
    app.post(
        &app.admin,
        "/api/v1/users",
        &json!({"username": "cb_platform", "password": PASSWORD, "name": "下级平台",
                "org_id": w.org, "roles": ["platform"]}),
    )
    .await
    .expect(201);
    let login = app
        .client
        .post(app.url("/PS/Auth/Login"))
        .json(&json!({"Account": "cb_platform", "Password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let ticket = login["Value"].as_str().expect("a ticket").to_owned();
    let list: Value = app
        .client
        .get(app.url(&format!("/PS/CarBottle/List?ticket={ticket}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list.as_array().expect("a JSON array");
    assert_eq!(items.len(), 1, "{list}");
    let cb = &items[0];
    for (k, want) in [
        ("RegisterNo", json!("云A车瓶2026-0001")),
        ("CarNo", json!("云A12345")),
        ("CarVin", json!("LSVAU2180N2183294")),
        ("Volumn", json!(80.0)),
        ("NextDate", json!("2029-03-01")),
        ("State", json!(0)),
        ("IdentityNo", json!("9153**********00X1")),
        ("Office", json!("昆明市市场监督管理局")),
    ] {
        assert_eq!(cb[k], want, "{k}: {cb}");
    }
    assert!(cb["Id"].as_i64().is_some_and(|i| i > 0), "{cb}");
    let later: Value = app
        .client
        .get(app.url(&format!(
            "/PS/CarBottle/List?ticket={ticket}&lasttime=20991231000000"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(later, json!([]));
}

// A3: an enterprise on this node applies for usage registration through /api/v1 (the Yunnan ApplyNew
// body, photos as uploaded files); the regulator approves; numbers are 12 digits starting with the
// configured variety; the archive carries the certificate and a `register` event is recorded.
#[tokio::test]
async fn usage_registration_through_the_v1_api() {
    let app = TestApp::spawn_with(|c| c.registration_variety = 7).await;
    let w = app.enterprise("rg").await;
    let regulator = app
        .user_token(&app.admin, w.prefecture, "rg_regulator", &["regulator"])
        .await;
    let mut images = Vec::new();
    for n in 0..3u8 {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[n; 16]);
        let r = app
            .post_raw(&w.admin, "/api/v1/files", png)
            .await
            .expect(201);
        images.push(r.body["reference"].as_str().unwrap().to_owned());
    }
    let body = json!({"ThirdId": 501,
        "Overview": {"Style": "YSP35.5", "Medium": "液化石油气", "Factory": 12, "CreateDate": "20250101",
            "DiscardDate": "20330101", "CheckDate": "20250101", "NextDate": "20290101", "IdleWeight": 16.5,
            "Remark": "新购", "Valve": 1, "PayImage": images[0], "BatchImage": images[1],
            "DeviceImage": images[2]},
        "Items": [{"Barcode": "1103007850", "Printno": "1260601", "InnerNo": "XY9"}]});
    let mut bad = body.clone();
    bad["Overview"]["PayImage"] = json!(format!("files/{}", "0".repeat(64)));
    problem(
        app.post(&w.admin, "/api/v1/registrations?kind=new", &bad)
            .await,
        422,
        Some("Overview.PayImage"),
    );
    problem(
        app.post(&w.admin, "/api/v1/registrations?kind=other", &body)
            .await,
        422,
        Some("kind"),
    );
    let r = app
        .post(&w.admin, "/api/v1/registrations?kind=new", &body)
        .await
        .expect(201);
    let id = r.body["id"].as_i64().expect("id");
    let r = app
        .post(
            &regulator,
            &format!("/api/v1/ps/applications/{id}/approve"),
            &json!({}),
        )
        .await
        .expect(200);
    let no = r.body["numbers"][0]["RegisterNo"]
        .as_str()
        .expect("a number")
        .to_owned();
    assert!(no.len() == 12 && no.starts_with('7'), "{no}");
    let c = app
        .get(&w.admin, "/api/v1/cylinders/1103007850")
        .await
        .expect(200);
    assert_eq!(c.body["registration"]["number"], no.as_str(), "{}", c.text);
    let kinds: Vec<String> = events_of(&app, &w.admin, "1103007850")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"register".to_owned()), "{kinds:?}");
}
