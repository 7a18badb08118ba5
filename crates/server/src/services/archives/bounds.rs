//! Bounds on what an import file may make the node read (issue 22): an `.xlsx` is a zip whose parts
//! can inflate a thousandfold, and a CSV line can hold millions of empty cells. Each bound is
//! checked before the rows are read, and the reason names the limit in Chinese.
//!
//! Pure (no IO, no `crate::` paths): `fuzz/` compiles this very file into its import targets.

use std::io::Read;

/// The most any part of a workbook other than a worksheet (shared strings, styles, …) may inflate
/// to: these parts are read whole into memory by the xlsx reader.
pub const MAX_XLSX_PART: u64 = 64 * 1024 * 1024;
/// The most a worksheet, and the whole workbook, may inflate to (a sheet is read as a stream).
pub const MAX_XLSX_INFLATED: u64 = 256 * 1024 * 1024;
/// The most parts a workbook may hold.
pub const MAX_XLSX_ENTRIES: usize = 1_000;
/// The most columns a row may have (the template has about thirty).
pub const MAX_COLUMNS: usize = 256;

const MIB: u64 = 1024 * 1024;

fn is_sheet(name: &str) -> bool {
    name.starts_with("xl/worksheets/")
}

/// The limit of one part, and how the refusal names it.
fn limit_of(name: &str) -> (u64, String) {
    if is_sheet(name) {
        (MAX_XLSX_INFLATED, format!("工作表（{name}）"))
    } else {
        (MAX_XLSX_PART, format!("工作簿中的“{name}”"))
    }
}

fn too_big(what: &str, limit: u64) -> String {
    format!(
        "{what}解压后超过 {} MiB 上限，请删去多余内容或拆分后分批导入",
        limit / MIB
    )
}

/// Checks a workbook before it is opened: the zip directory's declared sizes first, then every part
/// inflated into nothing while its bytes are counted (a declared size can lie), stopping at the
/// first byte past a limit. Memory stays at one buffer whatever the file claims.
///
/// A zip, or a part of one, that cannot be opened at all is left to the xlsx reader (which uses the
/// same zip library, so it inflates nothing of it either) to report as it always has.
pub fn check_xlsx(bytes: &[u8]) -> Result<(), String> {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return Ok(());
    };
    if zip.len() > MAX_XLSX_ENTRIES {
        return Err(format!(
            "Excel 工作簿包含 {} 个部件，超过 {MAX_XLSX_ENTRIES} 个上限",
            zip.len()
        ));
    }
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let Ok(f) = zip.by_index_raw(i) else { continue };
        let Ok(name) = f.name() else { continue };
        let (limit, what) = limit_of(&name);
        if f.size() > limit {
            return Err(too_big(&what, limit));
        }
        declared = declared.saturating_add(f.size());
        if declared > MAX_XLSX_INFLATED {
            return Err(too_big("工作簿", MAX_XLSX_INFLATED));
        }
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let Ok(mut f) = zip.by_index(i) else { continue };
        let Ok(name) = f.name().map(std::borrow::Cow::into_owned) else {
            continue;
        };
        let (limit, what) = limit_of(&name);
        let mut inflated = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| format!("Excel 工作簿（.xlsx）已损坏：{what}无法解压（{e}）"))?;
            if n == 0 {
                break;
            }
            inflated += n as u64;
            total += n as u64;
            if inflated > limit {
                return Err(too_big(&what, limit));
            }
            if total > MAX_XLSX_INFLATED {
                return Err(too_big("工作簿", MAX_XLSX_INFLATED));
            }
        }
    }
    Ok(())
}

/// Checks that no line of a CSV has more than [`MAX_COLUMNS`] cells (counting separators per
/// physical line, which can only overcount), so a row of millions of empty cells is refused before
/// the CSV reader holds it.
pub fn check_csv(text: &[u8]) -> Result<(), String> {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        let cells = line.iter().filter(|b| **b == b',').count() + 1;
        if cells > MAX_COLUMNS {
            return Err(format!(
                "第 {} 行有 {cells} 列，超过 {MAX_COLUMNS} 列上限",
                i + 1
            ));
        }
    }
    Ok(())
}

/// A zip "bomb" for tests: a workbook-looking zip whose one part inflates to `size` bytes of
/// spaces while its directory claims `declared`.
#[cfg(test)]
pub(crate) fn bomb(name: &str, size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).expect("start");
    let chunk = vec![b' '; 1024 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        w.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
    w.finish().expect("finish").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_workbooks_and_csv_pass() {
        let ok = bomb("xl/sharedStrings.xml", 1024);
        assert_eq!(check_xlsx(&ok), Ok(()));
        // Not a zip at all: left to the xlsx reader to say so.
        assert_eq!(check_xlsx(b"PK\x03\x04garbage"), Ok(()));
        assert_eq!(check_csv("a,b,c\r\n1,2,3\r\n".as_bytes()), Ok(()));
    }

    // G5, A6: a part past its limit is refused naming the limit.
    #[test]
    fn a_part_that_inflates_past_its_limit_is_refused() {
        let b = bomb("xl/sharedStrings.xml", (MAX_XLSX_PART + 1) as usize);
        assert!(b.len() < 1024 * 1024, "a small file: {}", b.len());
        let e = check_xlsx(&b).unwrap_err();
        assert!(
            e.contains("64 MiB 上限") && e.contains("sharedStrings"),
            "{e}"
        );
    }

    /// Sets every declared uncompressed size (local headers and directory) to `size`.
    fn lie(zip: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 30 <= zip.len() {
            match &zip[i..i + 4] {
                b"PK\x03\x04" => zip[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
                b"PK\x01\x02" => zip[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
                _ => {}
            }
            i += 1;
        }
    }

    // G5, A6: a directory that claims a small part is not believed: inflating it stops at the
    // first byte past the claim, and the file is refused.
    #[test]
    fn a_lying_declared_size_is_caught_while_inflating() {
        let mut b = bomb("xl/sharedStrings.xml", (MAX_XLSX_PART + 1) as usize);
        lie(&mut b, 1000);
        let e = check_xlsx(&b).unwrap_err();
        assert!(e.contains("已损坏") && e.contains("sharedStrings"), "{e}");
    }

    #[test]
    fn a_wide_csv_line_is_refused() {
        let line = ",".repeat(MAX_COLUMNS);
        let e = check_csv(format!("a\n{line}\n").as_bytes()).unwrap_err();
        assert!(e.contains("第 2 行") && e.contains("256 列上限"), "{e}");
    }
}
