//! A6: bulk archive import from the platform's template (CSV and Excel) and export of archives (also in
//! the Yunnan `GenericBottle` form) and of list views, driven over HTTP. Every row of a file is
//! validated; one bad row and nothing of the file is stored.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use calamine::Reader;
use cyltrace_testkit::{Resp, TestApp, World, archive, event, sample_data};

mod common;
use common::{HEADERS, csv_file, row};
use serde_json::{Value, json};
use uuid::Uuid;

/// An `.xlsx` workbook with one sheet of `rows` under `headers`; numeric-looking cells of number
/// columns are written as numbers and dates as Excel dates, as a person typing into Excel would get.
fn xlsx_file(headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let ws = book.add_worksheet();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    for (r, cells) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, v) in cells.iter().enumerate() {
            let c = c as u16;
            let h = headers[c as usize];
            let numeric = h.contains("(kg)")
                || h.contains("(L)")
                || h.contains("(MPa)")
                || h.contains("(mm)")
                || h.contains("(年)")
                || h == "阀门类型";
            if v.is_empty() {
                continue;
            }
            if numeric && let Ok(n) = v.parse::<f64>() {
                ws.write_number(r, c, n).expect("number");
            } else if h.ends_with("日期")
                && let Ok(d) = ExcelDateTime::parse_from_str(v)
            {
                ws.write_datetime_with_format(r, c, &d, &date)
                    .expect("date");
            } else {
                ws.write_string(r, c, v).expect("string");
            }
        }
    }
    book.save_to_buffer().expect("xlsx bytes")
}

/// POSTs a file to the import endpoint.
async fn post_file(app: &TestApp, token: &str, query: &str, bytes: Vec<u8>) -> Resp {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/cylinders/import{query}")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("request");
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

/// Starts an import and answers its job id.
async fn start(app: &TestApp, token: &str, query: &str, bytes: Vec<u8>) -> String {
    let r = post_file(app, token, query, bytes).await.expect(202);
    r.body["job_id"].as_str().expect("job_id").to_owned()
}

/// Polls the job until it is done or failed; answers its last view and the states seen.
async fn wait(app: &TestApp, token: &str, job: &str) -> (Value, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut states = Vec::new();
    loop {
        let r = app
            .get(token, &format!("/api/v1/imports/{job}"))
            .await
            .expect(200);
        let state = r.body["state"].as_str().expect("state").to_owned();
        if states.last() != Some(&state) {
            states.push(state.clone());
        }
        if state == "done" || state == "failed" {
            return (r.body, states);
        }
        assert!(
            Instant::now() < deadline,
            "import job did not end: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Imports and waits.
async fn import(app: &TestApp, token: &str, query: &str, bytes: Vec<u8>) -> Value {
    let job = start(app, token, query, bytes).await;
    wait(app, token, &job).await.0
}

/// The (row, column) pairs of a failed job's errors.
fn error_cells(job: &Value) -> Vec<(u64, String)> {
    job["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().expect("row"),
                e["column"].as_str().expect("column").to_owned(),
            )
        })
        .collect()
}

fn messages(job: &Value) -> String {
    job["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| format!("{}:{}:{}", e["row"], e["column"], e["message"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A GET answering bytes (downloads): status, headers and body.
async fn download(app: &TestApp, token: &str, path: &str) -> (u16, String, String, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (status, ct, cd, r.bytes().await.expect("body").to_vec())
}

/// The rows of a CSV (BOM stripped).
fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("CSV starts with a BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text)
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect()
}

/// The rows of an xlsx sheet (the first when `sheet` is None) as text.
fn read_xlsx(bytes: &[u8], sheet: Option<&str>) -> Vec<Vec<String>> {
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    let range = match sheet {
        Some(s) => book.worksheet_range(s).expect("sheet"),
        None => book.worksheet_range_at(0).expect("a sheet").expect("range"),
    };
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

fn codes(range: std::ops::Range<u32>, prefix: &str) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:08}")).collect()
}

// ---------------------------------------------------------------------------------------------

// A6: 100,000 rows import in seconds, with progress, all in one all-or-nothing insert.
#[tokio::test]
async fn a_100000_row_csv_imports_in_seconds() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("big").await;
    let all = codes(0..100_000, "11");
    let rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    let file = csv_file(HEADERS, &rows);
    drop(rows);
    let mb = file.len() as f64 / 1_048_576.0;

    let started = Instant::now();
    let job = start(&app, &w.admin, "?format=csv", file).await;
    let (view, states) = wait(&app, &w.admin, &job).await;
    let took = started.elapsed();
    eprintln!(
        "A6: 100,000-row CSV ({mb:.1} MiB) imported on {} in {:.2} s (job {} ms, of which reading and validating {} ms); states {states:?}",
        app.state.store.backend(),
        took.as_secs_f64(),
        view["duration_ms"],
        view["validated_ms"]
    );
    assert_eq!(view["state"], "done", "{view}");
    assert_eq!(view["total"], 100_000, "{view}");
    assert_eq!(view["validated"], 100_000, "{view}");
    assert_eq!(view["inserted"], 100_000, "{view}");
    assert_eq!(view["error_count"], 0, "{view}");
    assert!(
        view["message"].as_str().unwrap_or("").contains("100000"),
        "{view}"
    );

    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 100_000);
    for code in ["1100000000", "1100054321", "1100099999"] {
        let c = app
            .get(&w.admin, &format!("/api/v1/cylinders/{code}"))
            .await
            .expect(200);
        assert_eq!(c.body["code"], code);
        assert_eq!(c.body["owner_org_id"], json!(w.org));
        assert_eq!(
            c.body["region_code"], "530102",
            "the owner's region by default"
        );
        assert_eq!(c.body["medium"], "液化石油气");
        assert_eq!(c.body["tare_kg"], json!(16.5));
        assert_eq!(c.body["valve"], json!(1));
        assert_eq!(c.body["manufacture_date"], "2022-09");
        assert_eq!(c.body["registration"]["authority"], "昆明市市场监督管理局");
        assert_eq!(c.body["status"]["next_check_date"], "2026-09-01");
    }
    // The job is the caller's enterprise's: another enterprise does not see it.
    let other = app.enterprise("other").await;
    app.get(&other.admin, &format!("/api/v1/imports/{job}"))
        .await
        .expect(403);
}

// A6: an Excel import, numbers as numbers and dates as Excel dates; English keys accepted as headers.
#[tokio::test]
async fn an_xlsx_import_of_1000_rows() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("xl").await;
    let mut headers = HEADERS.to_vec();
    headers[0] = "code";
    headers[5] = "tare_kg";
    let all = codes(0..1_000, "12");
    let rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    let view = import(&app, &w.admin, "?format=xlsx", xlsx_file(&headers, &rows)).await;
    assert_eq!(view["state"], "done", "{}", messages(&view));
    assert_eq!(view["inserted"], 1_000);
    let c = app
        .get(&w.admin, "/api/v1/cylinders/1200000999")
        .await
        .expect(200);
    assert_eq!(
        c.body["last_check_date"], "2022-09-01",
        "an Excel date cell"
    );
    assert_eq!(
        c.body["check_period_years"],
        json!(4),
        "an Excel number cell"
    );
    assert_eq!(c.body["factory_serial"], "F000999");
    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 1_000);
}

// A6: a bad date in row 7 and a bad medium in row 12: the job fails naming both rows and columns, and
// nothing of the file is stored.
#[tokio::test]
async fn bad_rows_are_named_and_nothing_is_imported() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("bad").await;
    let all = codes(0..30, "13");
    let mut rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    // File row n is data row n - 2 (the header is row 1).
    rows[5][16] = "2026-02-30".to_owned();
    rows[10][4] = "氧气".to_owned();
    for (format, file) in [
        ("csv", csv_file(HEADERS, &rows)),
        ("xlsx", xlsx_file(HEADERS, &rows)),
    ] {
        let view = import(&app, &w.admin, &format!("?format={format}"), file).await;
        assert_eq!(view["state"], "failed", "{format}: {view}");
        assert_eq!(
            error_cells(&view),
            [(7, "下次检验日期".to_owned()), (12, "充装介质".to_owned())],
            "{format}: {}",
            messages(&view)
        );
        assert_eq!(view["error_count"], 2);
        assert_eq!(view["inserted"], 0);
        let text = messages(&view);
        assert!(text.contains("2026-02-30"), "{text}");
        assert!(text.contains("氧气"), "{text}");
        assert!(
            view["message"].as_str().unwrap().contains("未导入任何数据"),
            "{view}"
        );
    }
    // No archive of the file exists.
    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 0);
    for code in [&all[0], &all[6], &all[29]] {
        app.get(&w.admin, &format!("/api/v1/cylinders/{code}"))
            .await
            .expect(404);
    }
}

// A6: duplicate codes within a file name both rows; a code already archived names its row; an owner
// outside the caller's scope names its row.
#[tokio::test]
async fn duplicates_in_the_file_and_in_the_store_are_named_by_row() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("dup").await;
    let all = codes(0..10, "14");
    let mut rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    rows[3][0] = all[1].clone(); // file rows 3 and 5 share a code
    let view = import(&app, &w.admin, "?format=csv", csv_file(HEADERS, &rows)).await;
    assert_eq!(view["state"], "failed");
    assert_eq!(
        error_cells(&view),
        [(3, "气瓶编码".to_owned()), (5, "气瓶编码".to_owned())],
        "{}",
        messages(&view)
    );
    let text = messages(&view);
    assert!(
        text.contains("第 5 行") && text.contains("与第 3 行重复"),
        "{text}"
    );

    // A code archived before (through the API) is refused at its row; nothing else is stored.
    app.post_cylinders(&w.admin, vec![archive(&all[2], w.org)])
        .await
        .expect(201);
    let rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    let view = import(&app, &w.admin, "?format=csv", csv_file(HEADERS, &rows)).await;
    assert_eq!(view["state"], "failed");
    assert_eq!(
        error_cells(&view),
        [(4, "气瓶编码".to_owned())],
        "{}",
        messages(&view)
    );
    assert!(messages(&view).contains("已存在"), "{}", messages(&view));
    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 1);

    // A row naming another enterprise as owner.
    let other = app.enterprise("dup2").await;
    let mut rows: Vec<Vec<String>> = codes(20..23, "14").iter().map(|c| row(c, w.org)).collect();
    rows[1][18] = other.org.to_string();
    let view = import(&app, &w.admin, "?format=csv", csv_file(HEADERS, &rows)).await;
    assert_eq!(view["state"], "failed");
    assert_eq!(
        error_cells(&view),
        [(3, "产权单位ID".to_owned())],
        "{}",
        messages(&view)
    );
    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 1);
}

// A6: an Excel file without the code column, unknown columns, wrong file types and formats are refused
// with errors that name what is wrong.
#[tokio::test]
async fn missing_columns_and_wrong_file_types_are_clear_errors() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("typ").await;
    let rows: Vec<Vec<String>> = codes(0..3, "15")
        .iter()
        .map(|c| row(c, w.org)[1..].to_vec())
        .collect();
    let view = import(
        &app,
        &w.admin,
        "?format=xlsx",
        xlsx_file(&HEADERS[1..], &rows),
    )
    .await;
    assert_eq!(view["state"], "failed");
    assert_eq!(
        error_cells(&view),
        [(1, "气瓶编码".to_owned())],
        "{}",
        messages(&view)
    );
    assert!(
        messages(&view).contains("缺少必填列“气瓶编码”"),
        "{}",
        messages(&view)
    );

    let mut headers = HEADERS.to_vec();
    headers[2] = "颜色";
    let rows: Vec<Vec<String>> = codes(0..3, "15").iter().map(|c| row(c, w.org)).collect();
    let view = import(&app, &w.admin, "?format=csv", csv_file(&headers, &rows)).await;
    assert_eq!(
        error_cells(&view),
        [(1, "颜色".to_owned())],
        "{}",
        messages(&view)
    );

    // Wrong file types are answered at once (422) naming the file.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let r = post_file(&app, &w.admin, "?format=xlsx", png.clone())
        .await
        .expect(422);
    assert_eq!(r.fields(), ["file"], "{}", r.text);
    assert!(
        r.text.contains("不是 Excel 工作簿") && r.text.contains("PNG"),
        "{}",
        r.text
    );
    let r = post_file(&app, &w.admin, "?format=csv", png)
        .await
        .expect(422);
    assert!(r.text.contains("CSV"), "{}", r.text);
    let gbk = b"\xc6\xf8\xc6\xbf\xb1\xe0\xc2\xeb\r\n1500000001\r\n".to_vec(); // 气瓶编码 in GBK
    let r = post_file(&app, &w.admin, "?format=csv", gbk)
        .await
        .expect(422);
    assert!(r.text.contains("UTF-8"), "{}", r.text);
    let xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
    let r = post_file(&app, &w.admin, "?format=xlsx", xls)
        .await
        .expect(422);
    assert!(r.text.contains(".xls"), "{}", r.text);
    let r = post_file(&app, &w.admin, "?format=pdf", b"a".to_vec())
        .await
        .expect(422);
    assert_eq!(r.fields(), ["format"], "{}", r.text);
    post_file(&app, &w.admin, "?format=csv", Vec::new())
        .await
        .expect(422);
    // A zip that is no workbook passes the first look and fails in the job, saying so.
    let view = import(
        &app,
        &w.admin,
        "?format=xlsx",
        b"PK\x03\x04garbage".to_vec(),
    )
    .await;
    assert_eq!(view["state"], "failed");
    assert!(
        messages(&view).contains("无法读取 Excel 工作簿"),
        "{}",
        messages(&view)
    );
    // Only roles that write archives import; a node admin must name the owner.
    post_file(&app, &w.filler, "?format=csv", b"a".to_vec())
        .await
        .expect(403);
    let r = post_file(&app, &app.admin, "?format=csv", b"a".to_vec())
        .await
        .expect(422);
    assert_eq!(r.fields(), ["org_id"], "{}", r.text);
    assert_eq!(app.state.store.count_cylinders().await.unwrap(), 0);
}

// A6: the template downloads as CSV and xlsx; its headers (and example row) import as they are.
#[tokio::test]
async fn the_template_round_trips_into_an_import() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("tpl").await;

    let (status, ct, cd, xlsx) = download(
        &app,
        &w.admin,
        "/api/v1/cylinders/import-template?format=xlsx",
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    assert!(cd.contains("attachment") && cd.contains(".xlsx"), "{cd}");
    let sheet = read_xlsx(&xlsx, Some("气瓶档案"));
    assert_eq!(sheet.len(), 2, "a header and an example row");
    assert_eq!(sheet[0][0], "气瓶编码");
    for h in [
        "出厂编号",
        "充装介质",
        "皮重(kg)",
        "下次检验日期",
        "登记机构",
    ] {
        assert!(sheet[0].iter().any(|c| c == h), "{h} in {:?}", sheet[0]);
    }
    let notes = read_xlsx(&xlsx, Some("说明"));
    assert_eq!(
        notes.len() - 3,
        sheet[0].len(),
        "one line per column, and a note"
    );
    assert_eq!(notes[1][0], "气瓶编码");
    assert_eq!(notes[1][2], "必填");

    let (status, ct, _, csv_bytes) = download(
        &app,
        &w.admin,
        "/api/v1/cylinders/import-template?format=csv",
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let rows = read_csv(&csv_bytes);
    assert_eq!(rows[0], sheet[0], "the same columns in both templates");

    // The xlsx template imports as it is; the CSV one with another code.
    let view = import(&app, &w.admin, "?format=xlsx", xlsx).await;
    assert_eq!(view["state"], "done", "{}", messages(&view));
    let mut rows = rows;
    rows[1][0] = "1103007832".to_owned();
    let headers: Vec<&str> = rows[0].iter().map(String::as_str).collect();
    let view = import(&app, &w.admin, "", csv_file(&headers, &rows[1..])).await;
    assert_eq!(view["state"], "done", "{}", messages(&view));
    assert_eq!(view["format"], "csv", "told from the bytes");
    let c = app
        .get(&w.admin, "/api/v1/cylinders/1103007832")
        .await
        .expect(200);
    assert_eq!(c.body["style"], "YSP35.5");
    assert_eq!(c.body["state"], "normal");

    // The endpoints are described in the OpenAPI document.
    let doc = app.get_anon("/api/openapi.json").await.expect(200);
    for path in [
        "/api/v1/cylinders/import-template",
        "/api/v1/cylinders/import",
        "/api/v1/imports/{id}",
        "/api/v1/cylinders/export",
        "/api/v1/fills/export",
        "/api/v1/stock/export",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "OpenAPI lacks {path}"
        );
    }
}

/// Imports `n` cylinders for `w` through a CSV and answers their codes.
async fn seed(app: &TestApp, w: &World, prefix: &str, n: u32) -> Vec<String> {
    let all = codes(0..n, prefix);
    let rows: Vec<Vec<String>> = all.iter().map(|c| row(c, w.org)).collect();
    let view = import(app, &w.admin, "?format=csv", csv_file(HEADERS, &rows)).await;
    assert_eq!(view["state"], "done", "{}", messages(&view));
    all
}

// A6: what was imported exports as CSV, xlsx and the Yunnan GenericBottle form, in the caller's scope,
// and parses back with the same codes; an export imports again (its status columns are ignored).
#[tokio::test]
async fn exports_parse_back_with_the_same_codes() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("exp").await;
    let all = seed(&app, &w, "16", 120).await;
    let other = app.enterprise("exp2").await;
    seed(&app, &other, "17", 5).await;

    // CSV: BOM, template columns then status columns, codes in order, formula cells neutralised.
    let (status, ct, cd, bytes) =
        download(&app, &w.admin, "/api/v1/cylinders/export?format=csv").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        cd.contains("filename=\"cylinders-") && cd.ends_with(".csv\""),
        "{cd}"
    );
    let rows = read_csv(&bytes);
    assert_eq!(rows[0][0], "气瓶编码");
    assert!(rows[0].iter().any(|h| h == "当前位置"), "{:?}", rows[0]);
    let got: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(got, all.iter().map(String::as_str).collect::<Vec<_>>());
    let medium = rows[0].iter().position(|h| h == "充装介质").unwrap();
    assert_eq!(rows[1][medium], "液化石油气");

    // xlsx: the same codes, read with calamine.
    let (status, ct, cd, bytes) =
        download(&app, &w.admin, "/api/v1/cylinders/export?format=xlsx").await;
    assert_eq!(status, 200);
    assert!(
        ct.contains("spreadsheetml") && cd.contains(".xlsx"),
        "{ct} {cd}"
    );
    let sheet = read_xlsx(&bytes, Some("气瓶档案"));
    assert_eq!(sheet[0], rows[0]);
    let got: Vec<&str> = sheet[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(got, all.iter().map(String::as_str).collect::<Vec<_>>());

    // GenericBottle (Yunnan field names), JSON and xlsx.
    let (status, ct, _, bytes) = download(
        &app,
        &w.admin,
        "/api/v1/cylinders/export?format=generic_bottle_json",
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let list: Vec<Value> = serde_json::from_slice(&bytes).expect("JSON array");
    assert_eq!(list.len(), 120);
    let g = &list[0];
    assert_eq!(g["Barcode"], all[0].as_str());
    for (k, v) in [
        ("Printno", json!("F000000")),
        ("Style", json!("YSP35.5")),
        ("Valve", json!(1)),
        ("ProductDate", json!("20220901")),
        ("CheckDate", json!("20220901")),
        ("NextDate", json!("20260901")),
        ("DiscardDate", json!("20300901")),
        ("State", json!(0)),
        ("IdleWeight", json!(16.5)),
        ("FillWeight", json!(14.5)),
        ("Medium", json!("液化石油气")),
        ("NominalPressure", json!(2.1)),
        ("Volumn", json!(35.5)),
        ("Thickness", json!(2.5)),
        ("WaterPressure", json!(3.2)),
        ("CheckPeriod", json!(4)),
        ("LifePeriod", json!(8)),
        ("RegisterDate", json!("20221001000000")),
    ] {
        assert_eq!(g[k], v, "{k} in {g}");
    }
    assert!(g["Id"].is_i64(), "{g}");
    let (_, _, _, bytes) = download(
        &app,
        &w.admin,
        "/api/v1/cylinders/export?format=generic_bottle_xlsx",
    )
    .await;
    let sheet = read_xlsx(&bytes, None);
    assert_eq!(&sheet[0][..3], ["Barcode", "Printno", "InnerNo"]);
    assert!(sheet[0].iter().any(|h| h == "Volumn"), "{:?}", sheet[0]);
    assert_eq!(sheet.len(), 121);
    assert_eq!(sheet[1][0], all[0]);

    // A node admin exports everything; a bad format is named.
    let (_, _, _, bytes) = download(&app, &app.admin, "/api/v1/cylinders/export?format=csv").await;
    assert_eq!(read_csv(&bytes).len(), 1 + 125);
    let r = app
        .get(&w.admin, "/api/v1/cylinders/export?format=pdf")
        .await
        .expect(422);
    assert_eq!(r.fields(), ["format"]);

    // The export imports again elsewhere as it is: its columns are the template's plus ignored status
    // columns, so the only errors are the codes already archived.
    let (_, _, _, bytes) = download(&app, &w.admin, "/api/v1/cylinders/export?format=xlsx").await;
    let view = import(&app, &w.admin, "?format=xlsx", bytes).await;
    assert_eq!(view["state"], "failed");
    assert_eq!(view["error_count"], 120, "{}", messages(&view));
    assert!(
        error_cells(&view).iter().all(|(_, c)| c == "气瓶编码"),
        "{}",
        messages(&view)
    );
}

// A6: list views export too: fill records (table C.1) and stock, as CSV and xlsx.
#[tokio::test]
async fn fill_records_and_stock_export_as_csv_and_xlsx() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("lst").await;
    let all = seed(&app, &w, "18", 2).await;
    let code = all[0].as_str();
    let ago = |m: i64| {
        (chrono::Utc::now() - chrono::Duration::minutes(m))
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    for (i, (kind, site)) in [
        ("pre_fill_check", w.station),
        ("fill", w.station),
        ("post_fill_check", w.station),
        ("store_in", w.warehouse),
    ]
    .into_iter()
    .enumerate()
    {
        let e = event(
            kind,
            &[code],
            &ago(100 - i as i64 * 10),
            Some(site),
            sample_data(kind),
        );
        app.post_events(&w.admin, vec![e]).await.expect(201);
    }

    let (status, ct, cd, bytes) = download(&app, &w.admin, "/api/v1/fills/export?format=csv").await;
    assert_eq!(status, 200);
    assert!(
        ct.starts_with("text/csv") && cd.contains("fills-"),
        "{ct} {cd}"
    );
    let rows = read_csv(&bytes);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][..4],
        ["气瓶编码", "充装单位", "充装许可证编号", "充装设备编号"]
    );
    assert_eq!(rows[1][0], code);
    assert_eq!(rows[1][1], "lst燃气");
    assert_eq!(rows[1][3], "CZ-01");
    // The filters of GET /fills apply: another cylinder has no fills.
    let (_, _, _, bytes) = download(
        &app,
        &w.admin,
        &format!("/api/v1/fills/export?format=xlsx&code={}", all[1]),
    )
    .await;
    assert_eq!(read_xlsx(&bytes, None).len(), 1, "the header only");
    let (status, ..) = download(
        &app,
        &w.admin,
        "/api/v1/fills/export?format=xlsx&colour=red",
    )
    .await;
    assert_eq!(status, 422);

    let (status, ct, _, bytes) = download(&app, &w.admin, "/api/v1/stock/export?format=xlsx").await;
    assert_eq!(status, 200);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    let sheet = read_xlsx(&bytes, None);
    assert_eq!(sheet.len(), 2, "{sheet:?}");
    assert_eq!(sheet[1][0], "仓库");
    assert_eq!(sheet[1][4], "1", "one full cylinder");
    let (_, _, _, bytes) = download(&app, &w.admin, "/api/v1/stock/export?format=csv").await;
    let rows = read_csv(&bytes);
    assert_eq!(rows[1][2], w.warehouse.to_string());
}

// A6: an import cut off by a stop of the server does not stay "validating" for ever: at the next
// start it is marked failed with what to check.
#[tokio::test]
async fn imports_cut_off_by_a_restart_are_marked_failed() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("ir").await;
    let now = app.state.now();
    let mut ids = Vec::new();
    for state in ["validating", "importing", "done"] {
        let job = cyltrace_store::BizRecord {
            id: Uuid::new_v4(),
            kind: "import_job".to_owned(),
            org_id: w.org,
            org_path: String::new(),
            key: None,
            ref_id: None,
            state: state.to_owned(),
            due: None,
            body: json!({"format": "csv", "total": 10, "validated": 0, "inserted": 0}),
            created_at: now,
            updated_at: now,
        };
        app.state.store.insert_biz(&job).await.expect("stored");
        ids.push(job.id);
    }
    // What the server does when it starts.
    cyltrace_server::prepare(&app.state)
        .await
        .expect("prepared");
    let state = |r: &Resp| r.body["state"].as_str().unwrap_or_default().to_owned();
    let v = app
        .get(&w.admin, &format!("/api/v1/imports/{}", ids[0]))
        .await
        .expect(200);
    assert_eq!(state(&v), "failed", "{}", v.text);
    assert!(v.text.contains("未导入任何数据"), "{}", v.text);
    let i = app
        .get(&w.admin, &format!("/api/v1/imports/{}", ids[1]))
        .await
        .expect(200);
    assert_eq!(state(&i), "failed");
    assert!(i.text.contains("请查询档案确认"), "{}", i.text);
    let d = app
        .get(&w.admin, &format!("/api/v1/imports/{}", ids[2]))
        .await
        .expect(200);
    assert_eq!(state(&d), "done");
}
