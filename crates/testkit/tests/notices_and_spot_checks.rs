//! What regulators write to enterprises and enterprises answer from their console (issue 17 item 3;
//! E6, D5): one message to several enterprises and their staff, each signed off on its own; a spot
//! check answered with a text and photos (refused photos keep nothing), seen by the regulator and by
//! no other enterprise.

mod accounts_kit;
mod common;
mod public_kit;

use cyltrace_testkit::{PASSWORD, TestApp};
use public_kit::*;
use serde_json::json;

// E6: one message to two enterprises and to the fillers of each: both admins see it and sign it off
// on their own; a filler sees it, a checker does not; refused forms name the field and send nothing.
#[tokio::test]
async fn a_message_goes_to_several_enterprises_and_their_staff() {
    let app = TestApp::spawn().await;
    let (a, b, reg) = two_enterprises(&app).await;
    let far = app.enterprise("mz").await;
    app.user_token(&app.admin, a.org, "pa_checker", &["checker"])
        .await;
    let mut rb = signed_in(&app, &reg).await;
    let page = rb.get("/supervision/messages").await;
    assert_eq!(page.status, 200, "{}", page.text);
    for org in [a.org, b.org] {
        assert!(
            page.text.contains(&format!(
                "type=\"checkbox\" name=\"org_id\" value=\"{org}\""
            )),
            "{}",
            page.text
        );
    }
    let csrf = rb.csrf().await;
    let (ao, bo) = (a.org.to_string(), b.org.to_string());
    // No enterprise chosen: named, nothing sent.
    let r = rb
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("title", "节前安全检查"),
                ("content", "请开展自查"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("请至少选择一家接收企业"), "{}", r.text);
    // Roles asked for but none chosen: named; the checked enterprises stay checked.
    let r = rb
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("org_id", &ao),
                ("org_id", &bo),
                ("staff", "roles"),
                ("title", "节前安全检查"),
                ("content", "请开展自查"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("请选择要通知的岗位"), "{}", r.text);
    assert!(
        r.text
            .contains(&format!("name=\"org_id\" value=\"{ao}\" checked")),
        "{}",
        r.text
    );
    // An enterprise of another region: refused.
    let r = rb
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("org_id", &ao),
                ("org_id", &far.org.to_string()),
                ("title", "节前安全检查"),
                ("content", "请开展自查"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(biz(&app, "message").await.is_empty());

    let r = rb
        .post_form(
            "/supervision/messages",
            &[
                ("_csrf", &csrf),
                ("org_id", &ao),
                ("org_id", &bo),
                ("staff", "roles"),
                ("staff_roles", "filler"),
                ("title", "节前安全检查"),
                ("content", "请于本周五前完成充装站自查并上报。"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let sent = biz(&app, "message").await;
    assert_eq!(sent.len(), 2);
    let list = rb.get("/supervision/messages").await;
    assert!(list.text.contains("企业及充装工"), "{}", list.text);

    for (admin, other) in [("pa_admin", "pb燃气"), ("pb_admin", "pa燃气")] {
        let mut x = signed_in(&app, admin).await;
        let inbox = x.get("/console/messages").await;
        assert!(
            inbox.text.contains("节前安全检查"),
            "{admin}: {}",
            inbox.text
        );
        assert!(!inbox.text.contains(other));
        let action = inbox
            .text
            .split("action=\"")
            .find(|s| s.starts_with("/console/messages/"))
            .and_then(|s| s.split('"').next())
            .expect("sign-off button")
            .to_owned();
        let csrf = x.csrf().await;
        assert_eq!(x.post_form(&action, &[("_csrf", &csrf)]).await.status, 303);
    }
    let list = rb.get("/supervision/messages").await;
    assert_eq!(list.text.matches("已签收").count(), 2, "{}", list.text);

    // A's filler sees it; A's checker and B's admin's other staff do not.
    let mut filler = signed_in(&app, "pa_filler").await;
    let m = filler.get("/messages").await;
    assert_eq!(m.status, 200, "{}", m.text);
    assert!(
        m.text.contains("请于本周五前完成充装站自查并上报"),
        "{}",
        m.text
    );
    let mut checker = signed_in(&app, "pa_checker").await;
    let m = checker.get("/messages").await;
    assert!(!m.text.contains("节前安全检查"), "{}", m.text);
}

// D5: an enterprise answers a spot check from its console with a text and photos (refused photos
// keep nothing); the regulator sees the answer and the photos; another enterprise sees neither.
#[tokio::test]
async fn a_spot_check_is_answered_from_the_console_with_photos() {
    let app = TestApp::spawn().await;
    let (a, _b, reg) = two_enterprises(&app).await;
    let reg_token = app.login(&reg, PASSWORD).await;
    let r = app
        .post(
            &reg_token,
            "/api/v1/ps/spot-checks",
            &json!({"org_id": a.org, "comment": "核对钢印号和检验标记", "codes": [CYL_A]}),
        )
        .await
        .expect(201);
    let id = r.body["id"].as_i64().expect("id");

    let mut ax = signed_in(&app, "pa_admin").await;
    let list = ax.get("/console/spot-checks").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("核对钢印号和检验标记") && list.text.contains(CYL_A));
    let page = ax.get(&format!("/console/spot-checks/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("enctype=\"multipart/form-data\""));
    let csrf = ax.csrf().await;
    let path = format!("/console/spot-checks/{id}");
    let files_before = stored_files(&app);

    // Four photos, or one that is no image: refused next to the photo field, nothing kept.
    let four: Vec<(&str, &str, &[u8])> = (0..4).map(|_| ("photos", "a.png", PNG)).collect();
    let text = ("answer", "已逐瓶核对，钢印号与档案一致。");
    let r = post_multipart(&mut ax, &path, &[("_csrf", &csrf), text], &four).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_of(&r.text, "photos").contains("最多上传 3 张"),
        "{}",
        r.text
    );
    let r = post_multipart(
        &mut ax,
        &path,
        &[("_csrf", &csrf), text],
        &[("photos", "钢印.gif", GIF)],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        error_of(&r.text, "photos").contains("钢印.gif"),
        "{}",
        r.text
    );
    // No text: named.
    let r = post_multipart(
        &mut ax,
        &path,
        &[("_csrf", &csrf), ("answer", " ")],
        &[("photos", "a.png", PNG)],
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(!error_of(&r.text, "answer").is_empty(), "{}", r.text);
    // Without the session's token: refused.
    let r = post_multipart(&mut ax, &path, &[text], &[("photos", "a.png", PNG)]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(stored_files(&app), files_before, "no photo kept");
    let r = app
        .get(&reg_token, "/api/v1/ps/spot-checks")
        .await
        .expect(200);
    assert_eq!(r.body["items"][0]["state"], "open", "{}", r.text);

    // Another enterprise sees none of it.
    let mut bx = signed_in(&app, "pb_admin").await;
    assert!(
        !bx.get("/console/spot-checks")
            .await
            .text
            .contains("核对钢印号")
    );
    assert_eq!(bx.get(&path).await.status, 403);

    // Answered with one photo (the other inputs left empty).
    let r = post_multipart(
        &mut ax,
        &path,
        &[("_csrf", &csrf), text],
        &[
            ("photos", "钢印.png", PNG),
            ("photos", "", b""),
            ("photos", "", b""),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let again = post_multipart(&mut ax, &path, &[("_csrf", &csrf), text], &[]).await;
    assert_eq!(again.status, 409, "answered once: {}", again.text);

    let mut rb = signed_in(&app, &reg).await;
    let page = rb.get("/supervision/spot-checks").await;
    assert!(
        page.text.contains("已逐瓶核对，钢印号与档案一致。"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains(&format!("/supervision/spot-checks/{id}/photos/0"))
    );
    let photo_path = format!("/supervision/spot-checks/{id}/photos/0");
    let r = rb.get(&photo_path).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        bx.get(&format!("/console/spot-checks/{id}/photos/0"))
            .await
            .status,
        403
    );
    let r = app
        .get(&reg_token, "/api/v1/ps/spot-checks")
        .await
        .expect(200);
    assert_eq!(r.body["items"][0]["state"], "answered", "{}", r.text);
}
