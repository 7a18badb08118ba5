//! Helpers shared by the HTTP suites (contract, bad_input, scope_and_audit). Each test binary uses a
//! different part of them.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use cyltrace_testkit::{Resp, TestApp, World};
use serde_json::{Value, json};
use uuid::Uuid;

/// China Standard Time.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// `now - minutes`, whole seconds, RFC 3339 in China Standard Time.
pub fn ago(minutes: i64) -> String {
    rfc3339(Utc::now() - Duration::minutes(minutes))
}

/// An instant as RFC 3339 in China Standard Time, whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Parses an RFC 3339 string of a response (panics with the value otherwise).
#[track_caller]
pub fn instant(v: &Value) -> DateTime<Utc> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 string, got {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("not RFC 3339: {s}: {e}"))
        .with_timezone(&Utc)
}

/// Percent-encodes a query value (enough for RFC 3339 instants and paths).
pub fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('+', "%2B")
        .replace(' ', "%20")
        .replace('&', "%26")
        .replace('/', "%2F")
        .replace(':', "%3A")
}

/// The `id` of a `201 {"id"}` answer.
#[track_caller]
pub fn id_of(r: &Resp) -> Uuid {
    r.body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {}", r.text))
}

/// Asserts an RFC 9457 problem answer of `/api/v1`: the status, the content type
/// `application/problem+json`, `type`/`title`/`status`/`detail`, and (when given) that `errors[].field`
/// names `field`.
#[track_caller]
pub fn problem(r: Resp, status: u16, field: Option<&str>) -> Resp {
    let r = r.expect(status);
    assert!(
        r.content_type.starts_with("application/problem+json"),
        "content type {:?} for {}",
        r.content_type,
        r.text
    );
    for key in ["type", "title", "detail"] {
        assert!(
            r.body[key].is_string(),
            "problem body lacks string {key:?}: {}",
            r.text
        );
    }
    assert_eq!(
        r.body["status"],
        json!(status),
        "problem status: {}",
        r.text
    );
    if let Some(f) = field {
        assert!(
            r.fields().iter().any(|x| x == f),
            "expected errors[].field {f:?}, got {:?}; body {}",
            r.fields(),
            r.text
        );
    }
    r
}

/// See [`TestApp::enterprise_under`].
pub async fn enterprise_under(app: &TestApp, tag: &str, province: Uuid, prefecture: Uuid) -> World {
    app.enterprise_under(tag, province, prefecture).await
}

/// An inspection station under `parent` (created by the node admin).
pub async fn inspection_station(app: &TestApp, parent: Uuid) -> Uuid {
    app.create_org(
        &app.admin,
        json!({"kind": "inspection_station", "name": "昆明市特种设备检验所", "region_code": "530102",
               "parent_id": parent}),
    )
    .await
}

/// The caller's own user id (`GET /api/v1/me`).
pub async fn me(app: &TestApp, token: &str) -> Uuid {
    let r = app.get(token, "/api/v1/me").await.expect(200);
    id_of(&r)
}

/// The events of a cylinder as stored (`GET /cylinders/{code}/events`).
pub async fn events_of(app: &TestApp, token: &str, code: &str) -> Vec<Value> {
    let r = app
        .get(token, &format!("/api/v1/cylinders/{code}/events"))
        .await
        .expect(200);
    r.body["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events list: {}", r.text))
        .clone()
}

/// The ledger indexes of a `201 {"accepted": [...]}` answer, in batch order.
#[track_caller]
pub fn indexes(r: &Resp) -> Vec<i64> {
    r.body["accepted"]
        .as_array()
        .unwrap_or_else(|| panic!("no accepted list: {}", r.text))
        .iter()
        .map(|a| a["ledger_index"].as_i64().expect("ledger_index"))
        .collect()
}

/// Valid `data` of an inspection result of `station`.
pub fn inspection_result_data(station: Uuid) -> Value {
    json!({"conclusion": "pass", "check_date": "2026-11-20", "next_check_date": "2030-11-20",
           "report_no": "JY2026-00123", "station_org_id": station, "inspector": "李检验"})
}

/// The ids of the items of a list answer (`{"items": [{"id"…}]}`).
#[track_caller]
pub fn item_ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", r.text))
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect()
}

/// The text of a PDF, by `pdftotext` (poppler-utils, installed by `.ci/run`), keeping the layout.
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", path.to_str().expect("UTF-8 path"), "-"])
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

// ---------------------------------------------------------------------------------------------
// Archive files for imports (A6)

/// The template's columns used by the generated files (Chinese headers, in template order).
pub const HEADERS: &[&str] = &[
    "气瓶编码",
    "出厂编号",
    "规格型号",
    "阀门类型",
    "充装介质",
    "皮重(kg)",
    "允许充装量(kg)",
    "公称容积(L)",
    "公称工作压力(MPa)",
    "水压试验压力(MPa)",
    "设计壁厚(mm)",
    "设计使用年限(年)",
    "检验周期(年)",
    "制造单位",
    "制造年月",
    "检验日期",
    "下次检验日期",
    "报废日期",
    "产权单位ID",
    "使用登记证编号",
    "登记日期",
    "登记机构",
    "档案状态",
];

/// A valid row for `code` (as the cells of [`HEADERS`]).
pub fn row(code: &str, owner: Uuid) -> Vec<String> {
    let n = &code[code.len() - 6..];
    [
        code,
        &format!("F{n}"),
        "YSP35.5",
        "1",
        "液化石油气",
        "16.5",
        "14.5",
        "35.5",
        "2.1",
        "3.2",
        "2.5",
        "8",
        "4",
        "江苏特种设备生产有限公司",
        "2022-09",
        "2022-09-01",
        "2026-09-01",
        "2030-09-01",
        &owner.to_string(),
        &format!("5530{n}"),
        "2022-10-01",
        "昆明市市场监督管理局",
        "正常",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// A CSV file (UTF-8 with BOM, as Excel writes "CSV UTF-8") of `rows` under `headers`.
pub fn csv_file(headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(headers).expect("header");
    for r in rows {
        w.write_record(r).expect("row");
    }
    w.into_inner().expect("csv bytes")
}
