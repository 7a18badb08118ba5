//! Labels (A4, A5, A7, A8): number blocks and issuance, the QR code decodes back to the signed URL,
//! the printable SVG label, forged and missing signatures detected by the public lookup, the
//! handheld's check and fill-control, and a scrapped cylinder's label void everywhere.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, World, archive, event, sample_data};
use serde_json::{Value, json};

const CODE: &str = "1103007831";
const CODE2: &str = "1103007832";

async fn world(app: &TestApp) -> World {
    let w = app.enterprise("lb").await;
    let mut a = archive(CODE, w.org);
    a["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    let mut b = archive(CODE2, w.org);
    b["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    b["last_check_date"] = json!("2026-06-01");
    app.post_cylinders(&w.admin, vec![a, b]).await.expect(201);
    w
}

/// Decodes the QR code in a PNG (greyscale or RGB) back to its text.
fn decode_qr(png_bytes: &[u8]) -> String {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[(y * w + x) * channels]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodes").1
}

// A4: the QR code carries the 16-digit region+code URL with its signature, and decodes back to it.
#[tokio::test]
async fn the_qr_code_decodes_back_to_the_signed_label_url() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let l = app
        .get(&w.admin, &format!("/api/v1/labels/{CODE}"))
        .await
        .expect(200);
    let url = l.body["url"].as_str().expect("url").to_owned();
    // The archive's region (530100) + the 10 digits, then the signature.
    assert!(
        url.starts_with(&format!("http://127.0.0.1:8080/Q?id=530100{CODE}&s=")),
        "{url}"
    );
    let sig = url.rsplit("s=").next().unwrap();
    assert_eq!(sig.len(), 16, "{url}");
    let (status, ct, png) = app
        .get_bytes(&w.admin, &format!("/api/v1/labels/{CODE}/png?scale=6"))
        .await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(decode_qr(&png), url);
    // Each cylinder has its own signature.
    let l2 = app
        .get(&w.admin, &format!("/api/v1/labels/{CODE2}"))
        .await
        .expect(200);
    assert_ne!(
        l2.body["url"].as_str().unwrap().rsplit("s=").next(),
        Some(sig)
    );
}

// A4: the printable label: QR, Code128 bars, the enterprise name and medium in Chinese, the digits.
#[tokio::test]
async fn the_label_svg_has_qr_barcode_and_chinese_text() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let (status, ct, bytes) = app
        .get_bytes(&w.admin, &format!("/api/v1/labels/{CODE}/svg"))
        .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("image/svg+xml"), "{ct}");
    let svg = String::from_utf8(bytes).expect("UTF-8");
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert_eq!(
        svg.matches("<?xml").count(),
        1,
        "nested documents keep no XML declaration"
    );
    for text in ["lb燃气", "液化石油气", CODE, "充装介质", "<rect", "<path"] {
        assert!(svg.contains(text), "the label lacks {text}: {svg}");
    }
    // Another enterprise's cylinder: outside the scope.
    let other = app.enterprise_under("lc", w.province, w.prefecture).await;
    app.get(&other.admin, &format!("/api/v1/labels/{CODE}/svg"))
        .await
        .expect(403);
}

fn verdict(v: &Value) -> &str {
    v["verdict"].as_str().unwrap_or("")
}

// A8: a copied code with a forged or missing signature is "label not genuine"; the real one is fine.
#[tokio::test]
async fn forged_and_missing_signatures_are_not_genuine() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let url = app
        .get(&w.admin, &format!("/api/v1/labels/{CODE}"))
        .await
        .expect(200)
        .body["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let sig = url.rsplit("s=").next().unwrap().to_owned();
    let id = format!("530100{CODE}");

    let ok = app
        .get_anon(&format!("/api/v1/public/labels?id={id}&s={sig}"))
        .await
        .expect(200);
    assert_eq!(verdict(&ok.body), "ok", "{}", ok.text);
    assert_eq!(ok.body["label"]["genuine"], true);
    assert_eq!(ok.body["owner"], "lb燃气");

    let mut forged = sig.clone().into_bytes();
    forged[0] = if forged[0] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    for path in [
        format!("/api/v1/public/labels?id={id}&s={forged}"),
        format!("/api/v1/public/labels?id={id}"),
        // The signature of this code copied onto the other code.
        format!("/api/v1/public/labels?id=530100{CODE2}&s={sig}"),
    ] {
        let r = app.get_anon(&path).await.expect(200);
        assert_eq!(verdict(&r.body), "invalid_label", "{path}: {}", r.text);
        assert_eq!(r.body["verdict_zh"], "标签非正品");
        assert_eq!(r.body["label"]["genuine"], false);
        assert!(
            r.body["label"]["reason"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        // Nothing about the cylinder is shown for a label that is not genuine.
        assert!(r.body.get("owner").is_none(), "{}", r.text);
    }

    // The handheld checks the whole scanned URL.
    let r = app
        .post(&w.filler, "/api/v1/labels/verify", &json!({"label": url}))
        .await
        .expect(200);
    assert_eq!(r.body["label"]["genuine"], true, "{}", r.text);
    let r = app
        .post(
            &w.filler,
            "/api/v1/labels/verify",
            &json!({"label": url.replace(&sig, &forged)}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["label"]["genuine"], false);
    assert_eq!(verdict(&r.body), "invalid_label");
}

async fn decide(app: &TestApp, w: &World, label: Option<&str>) -> Value {
    let mut body = json!({"code": CODE, "site_id": w.station, "medium": "液化石油气"});
    if let Some(l) = label {
        body["label"] = json!(l);
    }
    app.post(&w.filler, "/api/v1/fill-control", &body)
        .await
        .expect(200)
        .body
}

fn rules(d: &Value) -> Vec<String> {
    d["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap().to_owned())
        .collect()
}

// A8, A7, D4: fill-control refuses a forged label as illegal; a scrapped cylinder's label is void,
// is not printed again, and every door is shut.
#[tokio::test]
async fn fill_control_refuses_forged_labels_and_scrapped_cylinders() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let url = app
        .get(&w.admin, &format!("/api/v1/labels/{CODE}"))
        .await
        .expect(200)
        .body["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = format!("http://fake.example/Q?id=530100{CODE}&s=0000000000000000");
    let d = decide(&app, &w, Some(&forged)).await;
    assert_eq!(d["allow"], false);
    assert_eq!(rules(&d)[0], "A8", "{d}");
    assert!(
        d["refusals"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("签名"),
        "{d}"
    );
    // A genuine label is no illegal-label refusal.
    let d = decide(&app, &w, Some(&url)).await;
    assert!(!rules(&d).contains(&"A8".to_owned()), "{d}");
    // The forged attempt is counted among the illegal-label attempts.
    let r = app
        .get(
            &w.admin,
            "/api/v1/fill-control/decisions?illegal_label=true",
        )
        .await
        .expect(200);
    assert_eq!(
        r.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );

    // Scrapped: the label is void and stays void.
    app.post_events(
        &w.admin,
        vec![event("scrap", &[CODE], &ago(5), None, sample_data("scrap"))],
    )
    .await
    .expect(201);
    let d = decide(&app, &w, Some(&url)).await;
    assert_eq!(d["allow"], false);
    let r = rules(&d);
    assert!(
        r.contains(&"A8".to_owned()) && r.contains(&"B1.6".to_owned()),
        "{d}"
    );
    app.get(&w.admin, &format!("/api/v1/labels/{CODE}/svg"))
        .await
        .expect(422);
    let sig = url.rsplit("s=").next().unwrap();
    let p = app
        .get_anon(&format!("/api/v1/public/labels?id=530100{CODE}&s={sig}"))
        .await
        .expect(200);
    assert_eq!(verdict(&p.body), "scrapped", "{}", p.text);
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
    // A later binding does not bring the label back.
    app.post_events(
        &w.admin,
        vec![event(
            "tag_bind",
            &[CODE],
            &ago(1),
            None,
            sample_data("tag_bind"),
        )],
    )
    .await
    .expect(201);
    let c = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}"))
        .await
        .expect(200);
    assert_eq!(c.body["status"]["label"], "void");
}

// A4, A5: label numbers come in medium blocks; issuance is recorded and counted.
#[tokio::test]
async fn label_numbers_are_issued_from_medium_blocks() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let b = app
        .post(
            &w.admin,
            "/api/v1/label-blocks",
            &json!({"medium": "氧气", "prefix": "01101"}),
        )
        .await
        .expect(201);
    let block = b.body["id"].as_str().unwrap().to_owned();
    problem(
        app.post(
            &w.admin,
            "/api/v1/label-blocks",
            &json!({"medium": "氮气", "prefix": "01101"}),
        )
        .await,
        409,
        Some("prefix"),
    );
    problem(
        app.post(
            &w.admin,
            "/api/v1/label-blocks",
            &json!({"medium": "氮气", "prefix": "0110"}),
        )
        .await,
        422,
        Some("prefix"),
    );
    let path = format!("/api/v1/label-blocks/{block}/issue");
    let i = app
        .post(&w.admin, &path, &json!({"count": 3}))
        .await
        .expect(201);
    assert_eq!(
        i.body["codes"],
        json!(["0110100001", "0110100002", "0110100003"])
    );
    let i = app
        .post(&w.admin, &path, &json!({"count": 2}))
        .await
        .expect(201);
    assert_eq!(i.body["from"], "0110100004");
    assert_eq!(i.body["to"], "0110100005");
    problem(
        app.post(&w.admin, &path, &json!({"count": 100_000})).await,
        422,
        Some("count"),
    );
    let issues = app.get(&w.admin, "/api/v1/label-issues").await.expect(200);
    assert_eq!(issues.body["items"].as_array().map(Vec::len), Some(2));

    // One of the two archived cylinders has its label bound: a rate of one half.
    app.post_events(
        &w.admin,
        vec![event(
            "tag_bind",
            &[CODE],
            &ago(1),
            None,
            sample_data("tag_bind"),
        )],
    )
    .await
    .expect(201);
    let r = app
        .get(&w.admin, "/api/v1/labels/issuance")
        .await
        .expect(200);
    let row = &r.body["items"][0];
    assert_eq!(row["issued"], 5, "{}", r.text);
    assert_eq!(row["archived"], 2);
    assert_eq!(row["bound"], 1);
    assert_eq!(row["rate"], 0.5);
}
