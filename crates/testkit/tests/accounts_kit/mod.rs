//! What the account tests share (`accounts.rs`, `totp.rs`): a browser that keeps cookies and may
//! claim a client address through the trusted proxy, requests the testkit has no helper for, and
//! TOTP codes at the node's clock.
#![allow(dead_code)]

use chrono::Duration;
use cyltrace_testkit::{PASSWORD, Resp, TestApp, reqwest};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::id_of;

/// A browser: follows no redirects, keeps its cookies, may claim a client address through the
/// trusted proxy (`X-Forwarded-For`).
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub cookies: std::collections::BTreeMap<String, String>,
    pub forwarded_for: Option<String>,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: String,
    pub retry_after: Option<String>,
    pub text: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookies: Default::default(),
            forwarded_for: None,
        }
    }

    pub async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Page {
        let cookies = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req = req.header("cookie", cookies);
        if let Some(ip) = &self.forwarded_for {
            req = req.header("x-forwarded-for", ip);
        }
        let r = req.send().await.expect("request");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, location, retry_after) = (
            r.status().as_u16(),
            header("location").unwrap_or_default(),
            header("retry-after"),
        );
        for c in r.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let text = r.text().await.expect("body");
        Page {
            status,
            location,
            retry_after,
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = hidden(&form.text, "_csrf");
        self.post_form(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("_csrf", &csrf),
                ("next", ""),
            ],
        )
        .await
    }

    /// The session's CSRF token, as the pages carry it.
    pub async fn csrf(&mut self) -> String {
        let r = self.get("/api/v1/session").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v: Value = serde_json::from_str(&r.text).expect("json");
        v["csrf"].as_str().expect("csrf").to_owned()
    }
}

pub fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let i = html.find(&pat).expect("hidden field") + pat.len();
    html[i..].split('"').next().unwrap_or("").to_owned()
}

pub async fn patch(app: &TestApp, token: &str, path: &str, body: &Value) -> Resp {
    send(
        app,
        app.client
            .patch(app.url(path))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

pub async fn delete(app: &TestApp, token: &str, path: &str) -> Resp {
    send(app, app.client.delete(app.url(path)).bearer_auth(token)).await
}

pub async fn send(_app: &TestApp, req: reqwest::RequestBuilder) -> Resp {
    into_resp(req.send().await.expect("request")).await
}

/// A login from client address `ip` (through the trusted proxy), with the `Retry-After` header.
pub async fn login_from(app: &TestApp, ip: &str, body: Value) -> (Resp, Option<String>) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .expect("request");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (into_resp(r).await, retry)
}

pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.expect("body");
    Resp {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        content_type,
        text,
    }
}

/// Creates a user of `org` with [`PASSWORD`]; answers its id.
pub async fn user(app: &TestApp, token: &str, org: Uuid, username: &str, roles: &[&str]) -> Uuid {
    let r = app
        .post(
            token,
            "/api/v1/users",
            &json!({"username": username, "password": PASSWORD, "name": username, "org_id": org, "roles": roles}),
        )
        .await
        .expect(201);
    id_of(&r)
}

/// The TOTP code of `secret` (base32) at the node's clock, `offset_secs` from now.
pub fn code(app: &TestApp, secret: &str, offset_secs: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("TOTP parameters");
    let t = (app.state.now() + Duration::seconds(offset_secs)).timestamp();
    totp.generate(u64::try_from(t).expect("after 1970"))
        .to_string()
}

/// Moves the node's clock `secs` ahead (a new TOTP step after 30).
pub fn advance(app: &TestApp, secs: i64) {
    app.set_now(app.state.now() + Duration::seconds(secs));
}

/// Enrols a second factor for the holder of `token`: answers the secret and the recovery codes.
pub async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let e = app
        .post(token, "/api/v1/auth/totp", &json!({}))
        .await
        .expect(200);
    let secret = e.body["secret"].as_str().expect("secret").to_owned();
    let r = app
        .post(
            token,
            "/api/v1/auth/totp/confirm",
            &json!({"code": code(app, &secret, 0)}),
        )
        .await
        .expect(200);
    let codes = r.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

pub async fn audit_details(app: &TestApp, path: &str) -> Vec<String> {
    let r = app
        .get(&app.admin, &format!("/api/v1/audit?path={path}&limit=500"))
        .await
        .expect(200);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["detail"].as_str().map(str::to_owned))
        .collect()
}
