//! Archive import and export (A6).
//!
//! **Import.** A CSV (UTF-8) or Excel (`.xlsx`) file laid out like the platform's template is read
//! row by row; every row is validated by `cyltrace_domain::import` with the rules of
//! `POST /api/v1/cylinders`; owners are checked against the caller's scope and codes against the store;
//! then every archive is inserted in **one** `insert_cylinders` call, so that a file is imported
//! whole or not at all. [`import_archives`] does this for the API (a background job recorded as a
//! business record of kind [`IMPORT_JOB`]) and for `cyltrace import` alike, reporting progress
//! through a callback.
//!
//! **Export.** Archives in scope (template columns plus status columns), the Yunnan `GenericBottle`
//! form (JSON or `.xlsx`), fill records and stock, as CSV (UTF-8 with BOM, formulas neutralised) or
//! `.xlsx`.
//!
//! One module per part: `read` (the rows of a CSV or xlsx as text, pure: `fuzz/` compiles it, with
//! `bounds`), `import` (validating the rows of a file, inserting it whole), `jobs` (the
//! API's background import jobs and their typed record), `table` (the CSV / xlsx writer and
//! downloads), `template` (the import template), `export` (archives, fill records, stock).

use cyltrace_domain::OrgKind;
use cyltrace_store::{OrgRecord, Scope, Store};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use bytes::Bytes;

use crate::error::ApiError;

// The parts below reach these through `super::` (their code moved here unchanged).
use super::{circulation, filling};

mod bounds;
mod export;
mod import;
mod jobs;
mod read;
mod table;
mod template;

pub use bounds::{MAX_COLUMNS, MAX_XLSX_INFLATED, MAX_XLSX_PART};
pub use export::{
    ExportFormat, GENERIC_BOTTLE_FIELDS, MAX_LIST_EXPORT, export_archives, export_fills,
    export_for, export_stock,
};
pub use import::{
    ImportFailure, ImportRequest, JobState, Progress, ProgressFn, import_archives, read_file,
};
pub use jobs::{
    ImportJob, JobDoc, JobRowError, fail_interrupted_imports, get_import, recent_jobs, start_import,
};
pub use read::SHEET;
use read::number_text;
pub use table::{Cell, Download, TableWriter, content_type, csv_safe};
pub use template::{template, template_download};

/// The business-record kind of an import job.
pub const IMPORT_JOB: &str = "import_job";
/// The largest file `POST /cylinders/import` accepts.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;
/// The most data rows of one file (memory: every archive of a file is held until it is inserted).
pub const MAX_IMPORT_ROWS: usize = 200_000;
/// Progress is reported every this many rows.
pub const PROGRESS_EVERY: usize = 5_000;
/// The most row errors a job keeps (`error_count` tells how many there were).
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// Archives read per store page when exporting.
const EXPORT_PAGE: i64 = 2_000;

// ---------------------------------------------------------------------------------------------
// Formats

/// The two file formats of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    /// The `format` parameter (`csv` or `xlsx`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(FileFormat::Csv),
            "xlsx" => Ok(FileFormat::Xlsx),
            other => Err(format!("文件格式应为 csv 或 xlsx，收到“{other}”")),
        }
    }

    /// The format of a file name's extension (`.csv`, `.xlsx`).
    pub fn from_path(path: &std::path::Path) -> Result<Self, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(FileFormat::Csv),
            "xlsx" => Ok(FileFormat::Xlsx),
            "xls" => Err("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx".to_owned()),
            _ => Err(format!(
                "无法从文件名 {} 判断格式：应为 .csv 或 .xlsx",
                path.display()
            )),
        }
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0];

/// Checks that the bytes are what `format` says (an `.xlsx` is a zip; a CSV is UTF-8 text); without a
/// format, tells it from the bytes. The message names what is wrong and what to do.
pub fn check_file(format: Option<FileFormat>, bytes: &[u8]) -> Result<FileFormat, String> {
    if bytes.is_empty() {
        return Err("文件为空".to_owned());
    }
    let zip = bytes.starts_with(ZIP_MAGIC);
    let ole = bytes.starts_with(OLE_MAGIC);
    match format {
        None if zip => Ok(FileFormat::Xlsx),
        Some(FileFormat::Xlsx) if zip => Ok(FileFormat::Xlsx),
        None | Some(FileFormat::Xlsx) if ole => {
            Err("不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 后再导入".to_owned())
        }
        Some(FileFormat::Xlsx) => Err(format!(
            "文件不是 Excel 工作簿（.xlsx）：{}",
            describe(bytes)
        )),
        Some(FileFormat::Csv) if zip || ole => Err(
            "文件是 Excel 工作簿而不是 CSV 文本，请使用 format=xlsx 导入，或在 Excel 中另存为“CSV UTF-8（逗号分隔）”"
                .to_owned(),
        ),
        None | Some(FileFormat::Csv) => {
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            if text.contains(&0) {
                return Err(format!("文件不是 CSV 文本：{}", describe(bytes)));
            }
            if let Err(e) = std::str::from_utf8(text) {
                return Err(format!(
                    "CSV 文件应为 UTF-8 编码（第 {} 个字节起不是 UTF-8）。请在 Excel 中另存为“CSV UTF-8（逗号分隔）”",
                    e.valid_up_to() + 1
                ));
            }
            Ok(FileFormat::Csv)
        }
    }
}

/// Checks what reading the file would cost before any row is read (issue 22): an xlsx's parts
/// within their inflated limits (counted while inflating), a CSV's lines within [`MAX_COLUMNS`].
/// Blocking: an xlsx is inflated once into nothing.
pub fn check_bounds(format: FileFormat, bytes: &[u8]) -> Result<(), String> {
    match format {
        FileFormat::Xlsx => bounds::check_xlsx(bytes),
        FileFormat::Csv => bounds::check_csv(bytes),
    }
}

/// What a refused file looks like, for the message.
fn describe(bytes: &[u8]) -> String {
    if bytes.starts_with(b"\x89PNG") {
        "这是一张 PNG 图片".to_owned()
    } else if bytes.starts_with(b"%PDF") {
        "这是一个 PDF 文件".to_owned()
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "这是一张 JPEG 图片".to_owned()
    } else {
        "无法识别的文件内容".to_owned()
    }
}

fn internal(e: String) -> ApiError {
    ApiError::Internal(e)
}

// ---------------------------------------------------------------------------------------------
// The command line's choice of owner

/// The organisation `cyltrace import` imports for: `--org`, or the only filling enterprise.
pub async fn cli_owner(store: &dyn Store, org: Option<&str>) -> Result<OrgRecord, String> {
    if let Some(s) = org {
        let id = Uuid::parse_str(s.trim())
            .map_err(|_| format!("--org 应为机构 ID（UUID），收到“{s}”"))?;
        return store
            .get_org(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("机构 {id} 不存在"));
    }
    let mut enterprises = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list_orgs(&Scope::all(), cyltrace_store::Page { limit: 500, offset })
            .await
            .map_err(|e| e.to_string())?;
        let n = page.len() as i64;
        enterprises.extend(
            page.into_iter()
                .filter(|o| o.kind == OrgKind::FillingEnterprise),
        );
        if n < 500 {
            break;
        }
        offset += n;
    }
    match enterprises.len() {
        1 => Ok(enterprises.remove(0)),
        0 => Err("平台中还没有充装单位，请先建立机构，或用 --org 指定产权单位".to_owned()),
        n => Err(format!(
            "平台中有 {n} 个充装单位，请用 --org 指定产权单位的机构 ID：\n{}",
            enterprises
                .iter()
                .map(|o| format!("  {}  {}", o.id, o.name))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_are_told_apart() {
        assert_eq!(check_file(None, b"a,b\r\n"), Ok(FileFormat::Csv));
        assert_eq!(check_file(None, b"PK\x03\x04rest"), Ok(FileFormat::Xlsx));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(
            check_file(Some(FileFormat::Xlsx), png)
                .unwrap_err()
                .contains("PNG")
        );
        assert!(
            check_file(Some(FileFormat::Csv), png)
                .unwrap_err()
                .contains("CSV")
        );
        assert!(
            check_file(Some(FileFormat::Csv), b"\xff\xfe\xb2\xe2")
                .unwrap_err()
                .contains("UTF-8")
        );
        assert!(
            check_file(Some(FileFormat::Csv), b"PK\x03\x04")
                .unwrap_err()
                .contains("xlsx")
        );
        assert!(check_file(None, b"").is_err());
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(csv_safe("=1+1"), "'=1+1");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("-2"), "'-2");
        assert_eq!(csv_safe("+86"), "'+86");
        assert_eq!(csv_safe("液化石油气"), "液化石油气");
    }

    #[test]
    fn templates_read_back_as_their_example() {
        for format in [FileFormat::Csv, FileFormat::Xlsx] {
            let bytes = template(format).unwrap();
            let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
            let rows = read_file(format, &bytes, today, &|_| {}).unwrap();
            assert_eq!(rows.len(), 1, "{format:?}");
            assert_eq!(rows[0].0, 2);
            assert_eq!(rows[0].1.code.as_str(), "1103007831");
        }
    }
}
