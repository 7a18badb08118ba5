//! Imports are bounded (issue 22, A6, G5): an `.xlsx` whose parts inflate past their limits — a
//! "zip bomb" of a few hundred KiB — and a CSV line of thousands of cells are refused at once (422
//! naming `file` and the limit), before any row is read and whatever the zip directory claims.

mod common;

use std::io::{Read, Write};

use common::{HEADERS, csv_file, problem, row};
use cyltrace_testkit::{Resp, TestApp};

/// The most a workbook part other than a sheet may inflate to (the server's `MAX_XLSX_PART`).
const PART_LIMIT: usize = 64 * 1024 * 1024;

/// A valid template workbook with one archive.
fn workbook(owner: uuid::Uuid) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("气瓶档案").expect("name");
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    for (c, v) in row("1500000001", owner).iter().enumerate() {
        ws.write_string(1, c as u16, v).expect("cell");
    }
    book.save_to_buffer().expect("xlsx")
}

/// `xlsx` with its shared strings replaced by one string of `spaces` spaces (a few hundred KiB
/// once deflated); with `claim`, every part's declared size is overwritten with it.
fn bomb(xlsx: &[u8], spaces: usize, claim: Option<u32>) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut f = src.by_index(i).expect("entry");
        let name = f.name().expect("name").into_owned();
        out.start_file(name.as_str(), opts).expect("start");
        if name == "xl/sharedStrings.xml" {
            out.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#).expect("head");
            let chunk = vec![b' '; 1024 * 1024];
            let mut left = spaces;
            while left > 0 {
                let n = left.min(chunk.len());
                out.write_all(&chunk[..n]).expect("spaces");
                left -= n;
            }
            out.write_all(b"</t></si></sst>").expect("tail");
        } else {
            let mut b = Vec::new();
            f.read_to_end(&mut b).expect("read");
            out.write_all(&b).expect("copy");
        }
    }
    let mut z = out.finish().expect("finish").into_inner();
    if let Some(size) = claim {
        let mut i = 0;
        while i + 30 <= z.len() {
            match &z[i..i + 4] {
                b"PK\x03\x04" => z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
                b"PK\x01\x02" => z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
                _ => {}
            }
            i += 1;
        }
    }
    z
}

async fn import(app: &TestApp, token: &str, query: &str, bytes: Vec<u8>) -> Resp {
    app.post_raw(token, &format!("/api/v1/cylinders/import{query}"), bytes)
        .await
}

// A6, G5: a zip bomb is refused at once with the limit named, the workbook under it imports.
#[tokio::test]
async fn an_xlsx_that_inflates_past_its_limits_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("zb").await;
    let good = workbook(w.org);

    // Past the limit by a byte: refused before any row is read, naming the part and the limit.
    let b = bomb(&good, PART_LIMIT + 1, None);
    assert!(b.len() < 1024 * 1024, "a small file: {} bytes", b.len());
    let r = problem(
        import(&app, &w.admin, "?format=xlsx", b).await,
        422,
        Some("file"),
    );
    assert!(
        r.text.contains("sharedStrings") && r.text.contains("64 MiB 上限"),
        "{}",
        r.text
    );
    // The directory claims small parts: inflating stops past the claim, and the file is refused.
    let b = bomb(&good, PART_LIMIT + 1, Some(2048));
    let r = problem(
        import(&app, &w.admin, "?format=xlsx", b).await,
        422,
        Some("file"),
    );
    assert!(r.text.contains("已损坏"), "{}", r.text);
    // The refused files started no job and stored nothing.
    assert_eq!(
        app.get(&w.admin, "/api/v1/cylinders/1500000001")
            .await
            .status
            .as_u16(),
        404
    );

    // Under the limit the same shape is only judged by its rows.
    import(&app, &w.admin, "?format=xlsx", good)
        .await
        .expect(202);
}

// A6, G5: a CSV line of more cells than any template has is refused before the reader holds it.
#[tokio::test]
async fn a_csv_line_of_thousands_of_cells_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let w = app.enterprise("zc").await;
    let mut bytes = csv_file(HEADERS, &[row("1500000002", w.org)]);
    bytes.extend_from_slice(&vec![b','; 1_000_000]);
    bytes.extend_from_slice(b"\r\n");
    let r = problem(
        import(&app, &w.admin, "?format=csv", bytes).await,
        422,
        Some("file"),
    );
    assert!(
        r.text.contains("第 3 行") && r.text.contains("256 列上限"),
        "{}",
        r.text
    );
}
