//! The phone page behind every label (F1–F3): one small Chinese page with a clear verdict for a
//! usable, an overdue and a scrapped cylinder, and "label not genuine" for a forged or unknown label,
//! with personal data and markup escaped.

mod common;

use common::*;
use cyltrace_testkit::{TestApp, archive, event, sample_data};
use serde_json::json;

const OK: &str = "1103007831";
const OVERDUE: &str = "1103007832";
const SCRAPPED: &str = "1103007833";

async fn page(app: &TestApp, path: &str) -> String {
    let r = app.get_anon(path).await.expect(200);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    // One request, small: no external scripts, styles or images.
    assert!(r.text.len() < 20_000, "{} bytes", r.text.len());
    for external in ["<script", "src=\"http", "href=\"http", "<link"] {
        assert!(!r.text.contains(external), "{external} in {path}");
    }
    r.text
}

// F1, F2: the verdicts, reached through the signed QR URL.
#[tokio::test]
async fn the_label_page_shows_a_clear_verdict() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("pq").await;
    let mut ok = archive(OK, w.org);
    ok["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    ok["last_check_date"] = json!("2026-06-01");
    ok["style"] = json!("YSP35.5");
    let overdue = archive(OVERDUE, w.org); // next check 2026-09-01: past
    let mut scrapped = archive(SCRAPPED, w.org);
    scrapped["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    scrapped["last_check_date"] = json!("2026-06-01");
    app.post_cylinders(&w.admin, vec![ok, overdue, scrapped])
        .await
        .expect(201);
    app.post_events(
        &w.admin,
        vec![
            event("tag_bind", &[OK], &ago(30), None, sample_data("tag_bind")),
            event("scrap", &[SCRAPPED], &ago(5), None, sample_data("scrap")),
        ],
    )
    .await
    .expect(201);
    let url_of = |body: &serde_json::Value| {
        let url = body["url"].as_str().expect("url").to_owned();
        url.trim_start_matches("http://127.0.0.1:8080").to_owned()
    };

    let ok_url = url_of(
        &app.get(&w.admin, &format!("/api/v1/labels/{OK}"))
            .await
            .expect(200)
            .body,
    );
    let html = page(&app, &ok_url).await;
    for want in [
        "可以使用",
        "pq燃气",
        "液化石油气",
        "YSP35.5",
        "2030-09-01",
        "标签绑定",
        "安全用气须知",
    ] {
        assert!(html.contains(want), "the page lacks {want}");
    }
    assert!(html.contains("class=\"verdict ok\""));

    let overdue_url = url_of(
        &app.get(&w.admin, &format!("/api/v1/labels/{OVERDUE}"))
            .await
            .expect(200)
            .body,
    );
    let html = page(&app, &overdue_url).await;
    assert!(html.contains("已超期未检") && html.contains("2026-09-01"));

    // A scrapped cylinder's label was void before it could be printed; the typed code says so.
    let html = page(&app, &format!("/q/{SCRAPPED}")).await;
    assert!(html.contains("已报废"), "{html}");

    // F3 / A8: a forged signature, a missing one, an unknown code: not genuine, nothing else shown.
    let forged = ok_url.replace("&s=", "&s=0");
    for path in [
        forged.chars().take(forged.len() - 1).collect::<String>(),
        format!("/Q?id=530100{OK}"),
        "/q/1103009999".to_owned(),
        "/Q".to_owned(),
    ] {
        let html = page(&app, &path).await;
        assert!(html.contains("标签非正品"), "{path}: {html}");
        assert!(!html.contains("pq燃气"), "{path} shows the owner");
    }
}

// The page escapes what enterprises typed (a name with markup).
#[tokio::test]
async fn the_label_page_escapes_names() {
    let app = TestApp::spawn().await;
    let w = app
        .enterprise_from(
            "esc",
            uuid::Uuid::nil(),
            cyltrace_testkit::enterprise_body("<b>燃气</b>", {
                let p = app.enterprise("escp").await;
                p.prefecture
            }),
        )
        .await;
    let mut a = archive(OK, w.org);
    a["next_check_date"] = json!("2030-09-01");
    // Checked recently: a next check 2030-09-01 lies within the check period (issue 22).
    a["last_check_date"] = json!("2026-06-01");
    app.post_cylinders(&w.admin, vec![a]).await.expect(201);
    let html = page(&app, &format!("/q/{OK}")).await;
    assert!(
        html.contains("&lt;b&gt;燃气&lt;/b&gt;") || html.contains("&#60;b&#62;"),
        "{html}"
    );
    assert!(!html.contains("<b>燃气</b>"));
}
