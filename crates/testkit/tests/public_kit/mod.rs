//! What the tests of the public requests and of the regulator's notices share
//! (`public_requests.rs`, `notices_and_spot_checks.rs`): a tiny PNG, multipart forms, the records
//! and files the node keeps, signing in, reading a field's error, and two enterprises under one
//! prefecture with a regulator.
#![allow(dead_code)]

use cyltrace_domain::time::china_date;
use cyltrace_store::BizFilter;
use cyltrace_testkit::{PASSWORD, TestApp, World, archive};

use crate::accounts_kit::{Browser, Page};

/// A 1×1 PNG.
pub const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0d\x49\x44\x41\x54\x78\xda\x63\x64\x60\xf8\x5f\x0f\x00\x02\x87\x01\x80\xeb\x47\xba\x92\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";
pub const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";

pub const CYL_A: &str = "5300000101";
pub const CYL_B: &str = "5300000201";

/// A `multipart/form-data` body: its content type and bytes.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----cyltrace-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn post_multipart(
    b: &mut Browser,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> Page {
    let (ct, body) = multipart(fields, files);
    let req = b
        .client
        .post(format!("{}{path}", b.base))
        .header("content-type", ct)
        .body(body);
    b.send(req).await
}

pub async fn biz(app: &TestApp, kind: &str) -> Vec<cyltrace_store::BizRecord> {
    app.state
        .store
        .list_biz(&BizFilter {
            kind: kind.to_owned(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("list")
}

/// A form's fields as `post_form` takes them.
pub fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// How many files the node keeps.
pub fn stored_files(app: &TestApp) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { count(&p) } else { 1 }
                })
                .sum()
        })
    }
    count(&app.state.config.data_dir.join("files"))
}

pub async fn signed_in(app: &TestApp, user: &str) -> Browser {
    let mut b = Browser::new(app);
    let r = b.login(user, PASSWORD).await;
    assert_eq!(r.status, 303, "login {user}: {}", r.text);
    b
}

/// The text of the `.field-error` next to the field `name` (the first one after it).
pub fn error_of(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &html[at..];
    let end = rest.find("</label>").unwrap_or(rest.len());
    let label = &rest[..end];
    label
        .split("class=\"field-error\" role=\"alert\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or("")
        .to_owned()
}

/// Two enterprises under one prefecture (with its regulator), each with a cylinder.
pub async fn two_enterprises(app: &TestApp) -> (World, World, String) {
    let a = app.enterprise("pa").await;
    let b = app.enterprise_under("pb", a.province, a.prefecture).await;
    app.post_cylinders(&a.admin, vec![archive(CYL_A, a.org)])
        .await
        .expect(201);
    app.post_cylinders(&b.admin, vec![archive(CYL_B, b.org)])
        .await
        .expect(201);
    app.user_token(&app.admin, a.prefecture, "pa_reg", &["regulator"])
        .await;
    (a, b, "pa_reg".to_owned())
}

pub fn today(app: &TestApp) -> String {
    china_date(app.state.now()).to_string()
}
