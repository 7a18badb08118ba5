//! Answers against the OpenAPI document, as Schemathesis (`.ci/schemathesis`) found them wanting:
//! each test names the mismatch it found and fails if it comes back. The schema-driven run itself is
//! the CI step; these pin its findings in the ordinary test suite, on both databases.

// Issue 22 item 7: no 5xx, every answer matching the document (G4: one refusal for bad input).

mod common;

use common::*;
use cyltrace_testkit::{TestApp, archive};
use serde_json::{Value, json};

const CODE: &str = "1103007832";

async fn document(app: &TestApp) -> Value {
    app.get_anon("/api/openapi.json").await.expect(200).body
}

/// The operations of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// An id in the path that does not parse was answered by axum's extractor as `400 text/plain`
/// (`Cannot parse "9223372036854775808" to a i64`), and a query the regulator figures could not
/// read the same way; every `/api/v1` error is problem+json, and an id that does not parse names
/// nothing (404).
#[tokio::test]
async fn unparsable_ids_and_queries_are_problems() {
    let app = TestApp::spawn().await;
    let admin = app.admin.clone();
    for path in [
        "/api/v1/ps/applications/9223372036854775808/reject",
        "/api/v1/ps/applications/x/approve",
    ] {
        problem(
            app.post(&admin, path, &json!({"reason": "r"})).await,
            404,
            None,
        );
    }
    problem(
        app.put(
            &admin,
            "/api/v1/ps/accounts/not-a-uuid/sm4-key",
            &json!({"key": null}),
        )
        .await,
        404,
        None,
    );
    problem(
        app.get(&admin, "/api/v1/supervision/statistics?n=many")
            .await,
        422,
        Some("query"),
    );
    problem(
        app.get(
            &admin,
            "/api/v1/supervision?from=2026-01-01&from=2026-02-01",
        )
        .await,
        422,
        Some("query"),
    );
}

/// A cylinder's answer carries `archive_id`, `qr_id` and `status` besides the archive's fields; the
/// document described it as `allOf: [Archive, {…}]` where Archive (a request body refusing unknown
/// fields) says `additionalProperties: false`, so no answer could match. No composition of the
/// document may include a closed schema.
#[tokio::test]
async fn cylinder_answers_match_the_document() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("schema").await;
    app.post_cylinders(&w.admin, vec![archive(CODE, w.org)])
        .await
        .expect(201);
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];

    for (name, schema) in schemas.as_object().expect("schemas") {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            if let Some(r) = part["$ref"].as_str() {
                let target = &schemas[r.rsplit('/').next().expect("a ref's name")];
                assert_ne!(
                    target["additionalProperties"],
                    json!(false),
                    "{name} is allOf a closed schema {r}: nothing can match both"
                );
            }
        }
    }

    let view = &schemas["CylinderView"];
    let props = view["properties"]
        .as_object()
        .expect("CylinderView lists its properties");
    let one = app
        .get(&w.admin, &format!("/api/v1/cylinders/{CODE}"))
        .await
        .expect(200)
        .body;
    let listed = app
        .get(&w.admin, "/api/v1/cylinders")
        .await
        .expect(200)
        .body;
    let first = &listed["items"][0];
    for answer in [&one, first] {
        let fields = answer.as_object().expect("a cylinder is an object");
        for key in fields.keys() {
            assert!(
                props.contains_key(key) || view["additionalProperties"] != json!(false),
                "the answer's {key:?} is not in CylinderView"
            );
        }
        for key in view["required"].as_array().expect("required") {
            let key = key.as_str().expect("a name");
            assert!(
                fields.contains_key(key),
                "the answer lacks required {key:?}"
            );
        }
    }
    assert!(one["archive_id"].is_i64() && one["status"].is_object());
}

/// A URI no text can hold (NUL in a query parameter) is refused by the shared layers before any
/// handler — `/api/v1` with 422 problem+json, `/PS` with 400 and the envelope — for every operation,
/// so every operation of the document lists that answer (Schemathesis found `/PS` operations that
/// listed only 200 and 401, and `/api/v1/cylinders/{code}/events` without 422).
#[tokio::test]
async fn answers_of_the_shared_layers_are_documented() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let want = if path.starts_with("/api/v1/") {
            "422"
        } else if path.starts_with("/PS/") {
            "400"
        } else {
            continue;
        };
        assert!(
            op["responses"][want].is_object(),
            "{} {path} does not list {want}",
            method.to_uppercase()
        );
    }

    problem(
        app.get(&app.admin, "/api/v1/me?x=%00").await,
        422,
        Some("x"),
    );
    let ps = app
        .get_anon(&format!(
            "/PS/Ledger/Checkpoint?ticket={}&x=a%00b",
            app.admin
        ))
        .await
        .expect(400);
    assert_eq!(ps.body["State"], json!(1), "{}", ps.text);
}

/// A `/PS` archive list refused (a `lasttime` that is not yyyyMMddHHmmss) answers 200 with the
/// envelope, as YUNNAN-API.md has it; the document said 200 was always an array.
#[tokio::test]
async fn ps_list_refusals_are_in_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for path in [
        "/PS/GenericBottle/List",
        "/PS/CarBottle/List",
        "/PS/BottleCheck/UnresponseList",
    ] {
        for method in ["get", "post"] {
            let schema = &doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
                ["schema"];
            let alternatives = schema["oneOf"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: 200 is not oneOf: {schema}"));
            assert!(
                alternatives.iter().any(|a| a["type"] == json!("array"))
                    && alternatives
                        .iter()
                        .any(|a| a["$ref"] == json!("#/components/schemas/PsEnvelope")),
                "{method} {path}: 200 is not the array or the envelope: {schema}"
            );
        }
    }
    let r = app
        .get_anon(&format!(
            "/PS/GenericBottle/List?ticket={}&lasttime=yesterday",
            app.admin
        ))
        .await
        .expect(200);
    assert_eq!(r.body["State"], json!(1), "{}", r.text);
}
