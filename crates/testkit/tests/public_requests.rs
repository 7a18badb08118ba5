//! What the public writes from the page behind a label, and what the regulator answers (issue 17
//! item 5; F3, E5): gas ordered from the page lands with the cylinder's enterprise only; complaints
//! carry up to three photos and a code with which the person reads the answer. Forms without their
//! double-submit token, with a bad phone, too many photos or a file that is no image are refused
//! naming the field, and store nothing; public submissions are throttled per client address.

mod accounts_kit;
mod common;
mod public_kit;

use accounts_kit::{Browser, hidden};
use common::id_of;
use cyltrace_testkit::{TestApp, id_number};
use public_kit::*;
use serde_json::json;

// F3: 预约订气 from the label page lands with the cylinder's enterprise only, with the contact to
// call back; a form without its token, or with a bad phone, stores nothing.
#[tokio::test]
async fn gas_ordered_from_the_label_page_reaches_its_enterprise_only() {
    let app = TestApp::spawn().await;
    let (a, _b, _) = two_enterprises(&app).await;
    let path = format!("/q/{CYL_A}/order");
    let date = today(&app);
    let good = |csrf: &str| {
        vec![
            ("_csrf".to_owned(), csrf.to_owned()),
            ("name".to_owned(), "李四".to_owned()),
            ("phone".to_owned(), "13987654321".to_owned()),
            (
                "address".to_owned(),
                "昆明市五华区青年路 88 号 3 栋 502".to_owned(),
            ),
            ("date".to_owned(), date.clone()),
            ("slot".to_owned(), "afternoon".to_owned()),
            ("quantity".to_owned(), "2".to_owned()),
        ]
    };

    // The label page offers it, and the call button is a real tel: link when the owner has a phone.
    app.patch(
        &a.admin,
        &format!("/api/v1/orgs/{}", a.org),
        &json!({"phone": "0871-68881234"}),
    )
    .await
    .expect(200);
    let label = app.get_anon(&format!("/q/{CYL_A}")).await.expect(200);
    assert!(
        label.text.contains("href=\"tel:0871-68881234\""),
        "{}",
        label.text
    );
    assert!(
        label.text.contains(&format!("href=\"{path}\"")),
        "{}",
        label.text
    );

    let mut visitor = Browser::new(&app);
    let form = visitor.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.text);
    let csrf = hidden(&form.text, "_csrf");

    // Without the cookie that goes with the token: refused, nothing stored.
    let stranger = Browser::new(&app)
        .post_form(&path, &pairs(&good(&csrf)))
        .await;
    assert_eq!(stranger.status, 422, "{}", stranger.text);
    assert!(stranger.text.contains("页面已过期"), "{}", stranger.text);
    // Without any token either.
    let no_token: Vec<(String, String)> = good(&csrf).into_iter().skip(1).collect();
    let r = visitor.post_form(&path, &pairs(&no_token)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(biz(&app, "order_request").await.is_empty());

    // A phone that is no Chinese phone number: the field is named, the form comes back filled in.
    let form = visitor.get(&path).await;
    let csrf = hidden(&form.text, "_csrf");
    let mut bad = good(&csrf);
    bad[2].1 = "12345".to_owned();
    bad[3].1 = String::new();
    let r = visitor.post_form(&path, &pairs(&bad)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_of(&r.text, "phone").contains("电话号码格式不正确"),
        "{}",
        r.text
    );
    assert!(
        error_of(&r.text, "address").contains("不能为空"),
        "{}",
        r.text
    );
    assert!(error_of(&r.text, "name").is_empty());
    assert!(r.text.contains("value=\"李四\""), "filled in: {}", r.text);
    assert!(biz(&app, "order_request").await.is_empty());

    // Accepted: the visitor is told what happens next.
    let csrf = hidden(&r.text, "_csrf");
    let r = visitor.post_form(&path, &pairs(&good(&csrf))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.text.contains("预约已提交") && r.text.contains("pa燃气"),
        "{}",
        r.text
    );
    let stored = biz(&app, "order_request").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].org_id, a.org);
    let id = stored[0].id;
    // The phone stays out of the audit notes.
    let audit = app
        .get(&app.admin, "/api/v1/audit?limit=500&offset=0")
        .await
        .expect(200);
    assert!(!audit.text.contains("13987654321"), "{}", audit.text);

    // A's console lists it with the contact, as coming from the label page.
    let mut ax = signed_in(&app, "pa_admin").await;
    let orders = ax.get("/console/orders").await;
    assert_eq!(orders.status, 200);
    for s in [
        "扫码订气",
        "李四",
        "13987654321",
        "tel:13987654321",
        "待回电",
    ] {
        assert!(orders.text.contains(s), "{s}: {}", orders.text);
    }
    // B never sees it, not even by its id.
    let mut bx = signed_in(&app, "pb_admin").await;
    let orders = bx.get("/console/orders").await;
    assert!(!orders.text.contains("李四"), "{}", orders.text);
    let r = bx.get(&format!("/console/order-requests/{id}")).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let csrf = bx.csrf().await;
    let r = bx
        .post_form(
            &format!("/console/order-requests/{id}/dismissed"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // A turns it into an order for its customer (matched by the phone).
    let customer = id_of(
        &app.post(
            &a.admin,
            "/api/v1/customers",
            &json!({"kind": "residential", "name": "李四", "id_number": id_number("53010219800101001"),
                    "phone": "13987654321", "addresses": [{"address": "昆明市五华区青年路 88 号"}]}),
        )
        .await
        .expect(201),
    );
    let page = ax.get(&format!("/console/order-requests/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text
            .contains(&format!("<option value=\"{customer}\" selected>")),
        "the customer with that phone is chosen: {}",
        page.text
    );
    let csrf = ax.csrf().await;
    // A bad quantity is named and changes nothing.
    let r = ax
        .post_form(
            &format!("/console/order-requests/{id}/convert"),
            &[
                ("_csrf", &csrf),
                ("customer_id", &customer.to_string()),
                ("quantity", "0"),
                ("medium", "液化石油气"),
                ("spec", "YSP35.5"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(!error_of(&r.text, "quantity").is_empty(), "{}", r.text);
    let r = ax
        .post_form(
            &format!("/console/order-requests/{id}/convert"),
            &[
                ("_csrf", &csrf),
                ("customer_id", &customer.to_string()),
                ("quantity", "2"),
                ("medium", "液化石油气"),
                ("spec", "YSP35.5"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let orders = app.get(&a.admin, "/api/v1/orders").await.expect(200);
    let items = orders.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", orders.text);
    assert_eq!(items[0]["customer_id"], json!(customer));
    assert!(
        items[0]["remark"]
            .as_str()
            .unwrap_or("")
            .contains("扫码订气"),
        "{}",
        orders.text
    );
    let stored = biz(&app, "order_request").await;
    assert_eq!(stored[0].state, "converted");
    // Handled once: dismissing it afterwards is a conflict.
    let r = ax
        .post_form(
            &format!("/console/order-requests/{id}/dismissed"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
}

// G5, F3: public submissions are throttled per client address: 429 with Retry-After and a Chinese
// 请稍后再试 page; another address still gets through.
#[tokio::test]
async fn public_submissions_are_throttled_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = "127.0.0.1, ::1".to_owned();
        c.login_rate_per_minute = 1;
        c.login_burst = 3;
    })
    .await;
    two_enterprises(&app).await;
    let path = format!("/q/{CYL_A}/order");
    let mut visitor = Browser::new(&app);
    visitor.forwarded_for = Some("198.51.100.23".to_owned());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let form = visitor.get(&path).await;
        let csrf = hidden(&form.text, "_csrf");
        let r = visitor
            .post_form(
                &path,
                &[
                    ("_csrf", csrf.as_str()),
                    ("name", "王五"),
                    ("phone", "0871-65551234"),
                    ("address", "昆明市盘龙区北京路 1 号"),
                    ("date", &today(&app)),
                    ("slot", "morning"),
                ],
            )
            .await;
        statuses.push(r.status);
        if r.status == 429 {
            assert!(r.retry_after.is_some());
            assert!(r.text.contains("请稍后再试"), "{}", r.text);
        }
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
    assert_eq!(biz(&app, "order_request").await.len(), 3);
    // The complaint form shares the bucket of the address.
    let r = post_multipart(
        &mut visitor,
        &format!("/q/{CYL_A}/complaint"),
        &[("content", "送气工未做安检就离开了")],
        &[],
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.text);
    // Another address is not slowed down.
    let mut other = Browser::new(&app);
    other.forwarded_for = Some("198.51.100.99".to_owned());
    let form = other.get(&path).await;
    assert_eq!(form.status, 200);
}

// E5, F3: a complaint with photos; refused photos and forms without their token store nothing; the
// regulator of the region (only) sees it and its photos and answers; the person reads the answer
// with the code, which is stored only as a keyed hash; a wrong code finds nothing.
#[tokio::test]
async fn complaints_carry_photos_and_a_code_to_read_the_answer() {
    let app = TestApp::spawn().await;
    let (_, _, reg) = two_enterprises(&app).await;
    // A regulator of another prefecture.
    let far = app.enterprise("pz").await;
    app.user_token(&app.admin, far.prefecture, "pz_reg", &["regulator"])
        .await;
    let path = format!("/q/{CYL_A}/complaint");
    let mut visitor = Browser::new(&app);
    let form = visitor.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains("enctype=\"multipart/form-data\""));
    let csrf = hidden(&form.text, "_csrf");
    let files_before = stored_files(&app);
    let content = ("content", "气瓶阀门漏气，配送员未做安检");

    // Four photos: refused, named next to the photo field, nothing kept.
    let four: Vec<(&str, &str, &[u8])> = (0..4).map(|_| ("photos", "a.png", PNG)).collect();
    let r = post_multipart(&mut visitor, &path, &[("_csrf", &csrf), content], &four).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_of(&r.text, "photos").contains("最多上传 3 张"),
        "{}",
        r.text
    );
    assert!(r.text.contains("配送员未做安检"), "filled in again");
    // A file that is no JPEG/PNG/WebP (by its bytes, whatever its name): named, nothing kept.
    let csrf = hidden(&r.text, "_csrf");
    let r = post_multipart(
        &mut visitor,
        &path,
        &[("_csrf", &csrf), content],
        &[("photos", "ok.png", PNG), ("photos", "现场.png", GIF)],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_of(&r.text, "photos").contains("“现场.png”不是 JPEG、PNG 或 WebP 图片"),
        "{}",
        r.text
    );
    // Without the token's cookie (another browser): refused, nothing kept.
    let r = post_multipart(
        &mut Browser::new(&app),
        &path,
        &[("_csrf", &csrf), content],
        &[("photos", "a.png", PNG)],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(biz(&app, "complaint").await.is_empty());
    assert_eq!(stored_files(&app), files_before, "no photo kept");

    // Accepted: the code is shown big, once.
    let form = visitor.get(&path).await;
    let csrf = hidden(&form.text, "_csrf");
    let r = post_multipart(
        &mut visitor,
        &path,
        &[("_csrf", &csrf), content, ("phone", "13912345678")],
        &[("photos", "现场.png", PNG), ("photos", "", b"")],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let code = r
        .text
        .split("id=\"big\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the code")
        .to_owned();
    assert_eq!(code.len(), 9, "ABCD-EFGH: {code}");
    let stored = biz(&app, "complaint").await;
    assert_eq!(stored.len(), 1);
    let bare = code.replace('-', "");
    let raw = format!("{:?}", stored[0]);
    assert!(
        !raw.contains(&bare),
        "the code is not stored in clear: {raw}"
    );
    assert_eq!(stored[0].body["photos"].as_array().map(Vec::len), Some(1));

    // The visitor reads it: not yet answered. A wrong code finds nothing (404), and so does one of
    // the right length from the alphabet.
    let r = visitor
        .post_form("/complaint", &[("code", &code.to_lowercase())])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("待处理") && r.text.contains("尚未答复"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("13912345678"));
    let wrong = if bare.starts_with('2') { "3" } else { "2" }.to_owned() + &bare[1..];
    for w in [wrong.as_str(), "ZZZZ-ZZZZ", "nonsense", ""] {
        let r = visitor.post_form("/complaint", &[("code", w)]).await;
        assert_eq!(r.status, 404, "{w}: {}", r.text);
        assert!(r.text.contains("没有这个投诉编号"), "{}", r.text);
        assert!(!r.text.contains("配送员未做安检"));
    }
    let r = visitor.get(&format!("/complaint/{wrong}")).await;
    assert_eq!(r.status, 404);

    // The regulator of the region sees it with its photo; one of another region sees nothing.
    let id = stored[0].id;
    let mut far_reg = signed_in(&app, "pz_reg").await;
    let list = far_reg.get("/supervision/complaints").await;
    assert!(!list.text.contains("配送员未做安检"), "{}", list.text);
    assert_eq!(
        far_reg
            .get(&format!("/supervision/complaints/{id}"))
            .await
            .status,
        403
    );
    assert_eq!(
        far_reg
            .get(&format!("/supervision/complaints/{id}/photos/0"))
            .await
            .status,
        403
    );
    // Nobody signed in gets the photo.
    let r = Browser::new(&app)
        .get(&format!("/supervision/complaints/{id}/photos/0"))
        .await;
    assert_ne!(r.status, 200);

    let mut rb = signed_in(&app, &reg).await;
    let list = rb.get("/supervision/complaints").await;
    assert!(
        list.text.contains("配送员未做安检") && list.text.contains("139****5678"),
        "{}",
        list.text
    );
    assert!(!list.text.contains("13912345678"));
    let detail = rb.get(&format!("/supervision/complaints/{id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert!(
        detail
            .text
            .contains(&format!("/supervision/complaints/{id}/photos/0"))
    );
    let photo = rb
        .client
        .get(format!("{}/supervision/complaints/{id}/photos/0", rb.base))
        .header(
            "cookie",
            rb.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .send()
        .await
        .expect("photo");
    assert_eq!(photo.status().as_u16(), 200);
    assert_eq!(
        photo
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(photo.bytes().await.expect("bytes").as_ref(), PNG);

    // The answer: a verdict is required; then upheld with the answer text.
    let csrf = rb.csrf().await;
    let r = rb
        .post_form(
            &format!("/supervision/complaints/{id}"),
            &[("_csrf", &csrf), ("verdict", "maybe"), ("answer", "已核实")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(!error_of(&r.text, "verdict").is_empty(), "{}", r.text);
    let answer = "经现场核查，投诉属实，已责令企业对配送员重新培训并处罚。";
    let r = rb
        .post_form(
            &format!("/supervision/complaints/{id}"),
            &[("_csrf", &csrf), ("verdict", "upheld"), ("answer", answer)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    // Decided once.
    let r = rb
        .post_form(
            &format!("/supervision/complaints/{id}"),
            &[
                ("_csrf", &csrf),
                ("verdict", "rejected"),
                ("answer", "改判"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);

    // The visitor reads the answer with the code (typed with spaces, any case).
    let spaced = format!("{} {}", &bare[..4], bare[4..].to_lowercase());
    let r = visitor.post_form("/complaint", &[("code", &spaced)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains(answer) && r.text.contains("属实"),
        "{}",
        r.text
    );
    let r = visitor.get(&format!("/complaint/{code}")).await;
    assert!(r.text.contains(answer), "{}", r.text);
}

// F3: the size limit is per photo: one past 5 MB is refused by name (not cut off with a bare 413),
// while two large photos that are each within it pass although together they exceed the node's
// ordinary body limit.
#[tokio::test]
async fn photo_size_is_judged_per_photo() {
    let app = TestApp::spawn().await;
    two_enterprises(&app).await;
    let path = format!("/q/{CYL_A}/complaint");
    let mut visitor = Browser::new(&app);
    let csrf = hidden(&visitor.get(&path).await.text, "_csrf");
    let sized = |n: usize| {
        let mut v = PNG.to_vec();
        v.resize(n, 0);
        v
    };
    let (big, fair) = (sized(5 * 1024 * 1024 + 1), sized(9 * 512 * 1024));
    let content = ("content", "气瓶外观严重锈蚀，仍在配送使用");
    let r = post_multipart(
        &mut visitor,
        &path,
        &[("_csrf", &csrf), content],
        &[("photos", "大图.png", &big)],
    )
    .await;
    assert_eq!(r.status, 422, "{}", &r.text[..r.text.len().min(2000)]);
    assert!(
        error_of(&r.text, "photos").contains("“大图.png”超过 5 MB"),
        "{}",
        r.text
    );
    assert!(biz(&app, "complaint").await.is_empty());
    let csrf = hidden(&r.text, "_csrf");
    let r = post_multipart(
        &mut visitor,
        &path,
        &[("_csrf", &csrf), content],
        &[("photos", "1.png", &fair), ("photos", "2.png", &fair)],
    )
    .await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(2000)]);
    let stored = biz(&app, "complaint").await;
    assert_eq!(stored[0].body["photos"].as_array().map(Vec::len), Some(2));
}
