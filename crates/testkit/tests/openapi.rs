//! The OpenAPI document against the routers that serve it: every route of `/api/v1`, `/PS` and the
//! operations endpoints is in `/api/openapi.json` with its method, every operation of the document
//! is served, and the document says what a client needs (summary, tag, path parameters, security,
//! resolvable references).

// Issue 15: every route appears in /api/openapi.json

use std::collections::{BTreeMap, BTreeSet};

use cyltrace_testkit::TestApp;
use cyltrace_testkit::reqwest::{Method, StatusCode};
use cyltrace_testkit::routes::{METHODS, Route, routed};
use serde_json::Value;

/// The (method, path) operations of a document.
fn operations(doc: &Value) -> BTreeMap<Route, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()), op.clone());
            }
        }
    }
    out
}

/// `path` with each `{parameter}` filled with a value no resource has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "probe-0"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_every_operation_is_served() {
    let app = TestApp::spawn().await;
    let served = app.get_anon("/api/openapi.json").await.expect(200).body;
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        served["openapi"]
    );

    // The document served is the one the router construction produced.
    let (router, doc) = cyltrace_server::web::documented(&app.state).split_for_parts();
    assert_eq!(
        served,
        serde_json::to_value(&doc).expect("the document as JSON"),
        "/api/openapi.json is the document of web::documented"
    );

    // Walk the router against the document, both ways.
    let routes = routed(&format!("{router:?}"));
    let ops = operations(&served);
    for known in [
        ("GET", "/healthz"),
        ("POST", "/api/v1/events"),
        ("GET", "/api/v1/cylinders/{code}"),
        ("POST", "/PS/Auth/Login"),
    ] {
        let known = (known.0.to_owned(), known.1.to_owned());
        assert!(routes.contains(&known), "the route walk missed {known:?}");
    }
    let undocumented: Vec<_> = routes.iter().filter(|r| !ops.contains_key(*r)).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an entry in /api/openapi.json (register them with routes! and a \
         #[utoipa::path]): {undocumented:#?}"
    );
    let unrouted: Vec<_> = ops.keys().filter(|o| !routes.contains(*o)).collect();
    assert!(
        unrouted.is_empty(),
        "operations of the document that the router does not route: {unrouted:#?}"
    );

    // Nothing outside the documented routers serves /api or /PS (the pages are plain axum).
    let whole = routed(&format!(
        "{:?}",
        cyltrace_server::web::router(app.state.clone())
    ));
    let stray: Vec<_> = whole
        .iter()
        .filter(|(_, p)| p.starts_with("/api/") || p.starts_with("/PS/"))
        .filter(|r| !routes.contains(*r))
        .collect();
    assert!(
        stray.is_empty(),
        "/api or /PS routes outside web::documented: {stray:#?}"
    );

    // Every operation is served on the running server: a request with its method is answered by
    // its handler, not by the fallback (404 接口不存在) nor as 405; and it needs a token exactly
    // when the document says so.
    for ((method, path), op) in &ops {
        let url = app.url(&concrete(path));
        let m = Method::from_bytes(method.as_bytes()).expect("a method");
        let anon = app
            .client
            .request(m.clone(), &url)
            .send()
            .await
            .expect("request");
        let anon_status = anon.status();
        let authed = app
            .client
            .request(m, &url)
            .bearer_auth(&app.admin)
            .send()
            .await
            .expect("request");
        let status = authed.status();
        let text = authed.text().await.expect("body");
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: 405"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && text.contains("接口不存在")),
            "{method} {path}: answered by the fallback: {text}"
        );
        let schemes: Vec<&str> = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|req| req.as_object())
            .flat_map(|req| req.keys().map(String::as_str))
            .collect();
        if path.starts_with("/api/v1/") {
            // An account's token (`bearer`) or a device's credentials (`device`).
            assert_eq!(
                anon_status == StatusCode::UNAUTHORIZED,
                schemes.contains(&"bearer") || schemes.contains(&"device"),
                "{method} {path}: anonymous answer {anon_status}, security {schemes:?}"
            );
        } else if path.starts_with("/PS/") {
            assert_eq!(
                anon_status == StatusCode::UNAUTHORIZED,
                schemes.contains(&"ps_ticket"),
                "{method} {path}: anonymous answer {anon_status}, security {schemes:?}"
            );
        } else {
            assert!(schemes.is_empty(), "{method} {path}: {schemes:?}");
        }
    }

    // What a client reads: a one-line summary, a declared tag, its path parameters, answers, and
    // operation ids and references that resolve.
    let tags: BTreeSet<&str> = served["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for ((method, path), op) in &ops {
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.trim().is_empty() && !summary.contains('\n'),
            "{method} {path}: summary {summary:?}"
        );
        let op_tags = op["tags"].as_array().cloned().unwrap_or_default();
        assert!(
            !op_tags.is_empty()
                && op_tags
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| tags.contains(t))),
            "{method} {path}: tags {op_tags:?} (declared: {tags:?})"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(
            ids.insert(id.clone()),
            "{method} {path}: operationId {id:?} twice"
        );
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(declared, in_path, "{method} {path}: path parameters");
    }
    let mut all_refs = Vec::new();
    refs(&served, &mut all_refs);
    for r in all_refs {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        assert!(
            served.pointer(pointer).is_some(),
            "{r} does not resolve in the document"
        );
    }
}

// Issue 22 (defect 7): the served document keeps the rules of OpenAPI 3.x that a generated client
// or a schema-driven tester relies on — a query parameter declared `in: path` (or a `{name}` with
// no parameter) makes the whole document invalid.
#[tokio::test]
async fn the_served_document_keeps_the_openapi_3_rules() {
    let app = TestApp::spawn().await;
    let doc = app.get_anon("/api/openapi.json").await.expect(200).body;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi {}",
        doc["openapi"]
    );
    for key in ["title", "version"] {
        assert!(doc["info"][key].is_string(), "info.{key}");
    }
    let locations = ["query", "header", "path", "cookie"];
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(path.starts_with('/'), "{path}: a path starts with /");
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, op) in item.as_object().expect("a path item") {
            if method == "parameters" || method == "summary" || method == "description" {
                continue;
            }
            assert!(METHODS.contains(&method.as_str()), "{path}: key {method}");
            let at = format!("{} {path}", method.to_uppercase());
            let params: Vec<&Value> = shared
                .iter()
                .chain(op["parameters"].as_array().into_iter().flatten())
                .collect();
            let mut seen = BTreeSet::new();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                let loc = p["in"].as_str().unwrap_or_default();
                if name.is_empty() || !locations.contains(&loc) {
                    problems.push(format!("{at}: parameter {p}"));
                }
                if !seen.insert((name, loc)) {
                    problems.push(format!("{at}: parameter {name} in {loc} twice"));
                }
                if p.get("schema").is_none() && p.get("content").is_none() {
                    problems.push(format!("{at}: parameter {name} has no schema"));
                }
                if loc == "path" {
                    if !templated.contains(name) {
                        problems.push(format!("{at}: {name} is `in: path` but not {{{name}}}"));
                    }
                    if p["required"] != true {
                        problems.push(format!("{at}: path parameter {name} is not required"));
                    }
                    in_path.insert(name);
                }
            }
            for name in &templated {
                if !in_path.contains(name) {
                    problems.push(format!("{at}: {{{name}}} has no path parameter"));
                }
            }
            match op["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    if !ids.insert(id.to_owned()) {
                        problems.push(format!("{at}: operationId {id} twice"));
                    }
                }
                _ => problems.push(format!("{at}: no operationId")),
            }
            let responses = op["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{at}: no responses"));
            }
            for code in responses.into_iter().flat_map(|r| r.keys()) {
                let ok = code == "default"
                    || (code.len() == 3
                        && (b'1'..=b'5').contains(&code.as_bytes()[0])
                        && code[1..].bytes().all(|b| b.is_ascii_digit() || b == b'X'));
                if !ok {
                    problems.push(format!("{at}: response code {code}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    // Every route the router serves under /api/v1 is in the document, the regulator's supervision
    // and the session among them.
    let (router, _) = cyltrace_server::web::documented(&app.state).split_for_parts();
    let served = routed(&format!("{router:?}"));
    let ops = operations(&doc);
    for route in served.iter().filter(|(_, p)| p.starts_with("/api/v1")) {
        assert!(ops.contains_key(route), "{route:?} is not in the document");
    }
    for path in [
        "/api/v1/supervision",
        "/api/v1/supervision/statistics",
        "/api/v1/session",
    ] {
        assert!(
            ops.contains_key(&("GET".to_owned(), path.to_owned())),
            "GET {path} is not in the document"
        );
    }
}
